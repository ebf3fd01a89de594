"""Houdini actions: cook the selected ROPs on the farm, one work item per frame chunk."""
from typing import Any, List, Optional

from .. import frames as frames_module
from . import executor_options


def cook_selected_rops(frames: Optional[str] = None, chunk_size: int = 10,
                       name: Optional[str] = None, farm: Optional[str] = None,
                       cpus: Optional[int] = None, groups: Any = None,
                       priority: Optional[int] = None, clone_environ: bool = True,
                       create_tempfile: bool = True, **_: Any) -> List[Any]:
    """Submit one farm job per selected ROP node, its frame range split into chunks of
    ``chunk_size`` frames (one work item per chunk, each rendering its chunk in hython with a
    copy of this hip file). ``frames`` defaults to each ROP's own frame range. Returns the
    futures at once; a message tells the artist what went where.
    """
    import hou
    from ..houdini import Executor
    rops = [node for node in hou.selectedNodes() if node.type().category().name() == "Driver"]
    if not rops:
        raise ValueError("select one or more ROP nodes (in /out or a ROP network) to cook on "
                         "the farm")
    ex = Executor(**executor_options(farm, cpus, groups, priority, clone_environ,
                                     create_tempfile))
    futures: List[Any] = []
    lines = []
    for rop in rops:
        chunks = frames_module.chunk(int(chunk_size), frames or rop_frame_range(rop))
        with ex.batch(name or "Cook %s" % rop.path()) as batch:
            for chunk in chunks:
                batch.submit(render_chunk, rop.path(), chunk)
        futures.extend(batch.futures)
        lines.append("%s: job %s, %d chunk%s" % (rop.path(), batch.futures[0].job_id, len(chunks),
                                                  "" if len(chunks) == 1 else "s"))
    _tell("Sent to the farm:\n" + "\n".join(lines))
    return futures


def rop_frame_range(rop: Any) -> str:
    """The ROP's own frame range as a range string: its start/end/inc parameters when it
    renders a range, else the current frame."""
    trange = rop.parm("trange")
    if trange is not None and trange.eval() == 0:  # "Render Current Frame"
        import hou
        return str(int(hou.frame()))
    parms = [rop.parm(name) for name in ("f1", "f2", "f3")]
    if any(parm is None for parm in parms):
        raise ValueError("%s has no frame range (f1, f2, f3): give the frames to cook"
                         % rop.path())
    start, end, step = (parm.eval() for parm in parms)
    if any(float(value) != int(value) for value in (start, end, step)):
        raise ValueError("%s renders sub-frames (%s-%s by %s): frame chunks need whole frames"
                         % (rop.path(), start, end, step))
    return "%d-%dx%d" % (start, end, max(1, int(step)))


def render_chunk(rop_path: str, chunk: str) -> str:
    """On the farm: render ``chunk`` (a frame range string) of the ROP at ``rop_path``."""
    import hou
    rop = hou.node(rop_path)
    if rop is None:
        raise ValueError("no node %s in %s" % (rop_path, hou.hipFile.path()))
    if not isinstance(rop, hou.RopNode):
        # hou.node() answers the node's own class; only a ROP (hou.RopNode) has render().
        kind = rop.type()
        raise ValueError("%s is not a ROP (its type is %s/%s): only ROP nodes, in /out or a "
                         "ROP network, render" % (rop_path, kind.category().name(), kind.name()))
    for start, end, step in frames_module.runs(chunk):
        rop.render(frame_range=(start, end, step), verbose=False, output_progress=True)
    return chunk


def _tell(message: str) -> None:
    import hou
    if hou.isUIAvailable():
        hou.ui.setStatusMessage(message.replace("\n", "  "))
    print(message)
