"""Maya actions: a function over frame chunks of the scene, a function over the selection."""
import os
from typing import Any, List, Optional

from .. import frames as frames_module
from .. import payload
from . import executor_options


def submit_scene_frames(function: str = "dccfutures.actions.maya:export_alembic_chunk",
                        frames: Optional[str] = None, chunk_size: int = 10,
                        name: Optional[str] = None, farm: Optional[str] = None,
                        cpus: Optional[int] = None, groups: Any = None,
                        priority: Optional[int] = None, clone_environ: bool = True,
                        create_tempfile: bool = True, **_: Any) -> List[Any]:
    """One farm job running ``function(chunk)`` for each chunk of ``chunk_size`` frames of
    this scene (``frames`` defaults to the playback range), in mayapy with a copy of the
    scene. ``function`` is ``"package.module:function"`` taking a frame range string.
    Returns the futures at once."""
    import maya.cmds as cmds
    from ..maya import Executor
    payload.check_callable(function)  # a bad reference fails here, not on the farm
    # maya-stubs types a query as the union of every flag's type; minTime/maxTime are floats.
    frames = frames or "%d-%d" % (  # type: ignore[str-format]
        cmds.playbackOptions(query=True, minTime=True),
        cmds.playbackOptions(query=True, maxTime=True))
    chunks = frames_module.chunk(int(chunk_size), frames)
    ex = Executor(**executor_options(farm, cpus, groups, priority, clone_environ,
                                     create_tempfile))
    scene = os.path.basename(ex.original or ex.filename or "untitled")
    with ex.batch(name or "%s %s" % (scene, function.rpartition(":")[2])) as batch:
        for chunk in chunks:
            batch.submit(function, chunk)
    print("dccfutures: job %s runs %s over %d chunk%s of frames %s"
          % (batch.futures[0].job_id, function, len(chunks), "" if len(chunks) == 1 else "s",
             frames))
    return batch.futures


def run_on_selection(function: str = "maya.cmds:nodeType", name: Optional[str] = None,
                     farm: Optional[str] = None, cpus: Optional[int] = None, groups: Any = None,
                     priority: Optional[int] = None, clone_environ: bool = True,
                     create_tempfile: bool = True, **_: Any) -> List[Any]:
    """One farm job, one work item per selected node: ``function(node)`` in mayapy with a copy
    of the scene (the reference's ``nodeType`` example). Each result is printed to the Script
    Editor as it arrives, on Maya's main thread. Returns the futures at once."""
    import maya.cmds as cmds
    from ..maya import Executor
    payload.check_callable(function)
    nodes = cmds.ls(selection=True)
    if not nodes:
        raise ValueError("select the nodes to run %s on" % function)
    ex = Executor(**executor_options(farm, cpus, groups, priority, clone_environ,
                                     create_tempfile))
    with ex.batch(name or "%s on %d nodes" % (function.rpartition(":")[2], len(nodes))) as batch:
        for node in nodes:
            future = batch.submit(function, node)
            future.add_done_callback(  # mypy cannot type a lambda with a default argument
                lambda f, node=node: _print_result(node, f))  # type: ignore[misc]
    return batch.futures


def export_alembic_chunk(chunk: str, folder: Optional[str] = None) -> List[str]:
    """On the farm: export the whole scene to Alembic, one file per run of ``chunk``'s frames,
    in the workspace's ``cache/alembic`` folder (or ``folder``), named after the ARTIST's
    scene (the bootstrap renamed the copy back). Returns the files written."""
    import maya.cmds as cmds
    cmds.loadPlugin("AbcExport", quiet=True)
    # maya-stubs types a query as the union of every flag's type; these two answer a str.
    scene = os.path.splitext(os.path.basename(  # type: ignore[type-var]
        cmds.file(query=True, sceneName=True)))[0]
    folder = folder or os.path.join(
        cmds.workspace(query=True, rootDirectory=True),  # type: ignore[arg-type]
        "cache", "alembic")
    os.makedirs(folder, exist_ok=True)
    written = []
    for start, end, step in frames_module.runs(chunk):
        path = os.path.join(folder, "%s.%04d-%04d.abc" % (scene, start, end))
        # A plug-in's command (loaded above): the stubs know Maya's built-in commands only.
        cmds.AbcExport(  # type: ignore[attr-defined]
            jobArg="-frameRange %d %d -step %d -worldSpace -file %s"
                   % (start, end, step, _job_string(path.replace("\\", "/"))))
        written.append(path)
    return written


def _job_string(value: str) -> str:
    """A value quoted for an AbcExport job string, which is split on spaces outside quotes
    (a path with a space would otherwise be cut there)."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def _print_result(node: str, future: Any) -> None:
    if future.cancelled():
        print("dccfutures: %s: cancelled" % node)
    elif future.exception() is not None:
        print("dccfutures: %s: failed: %s" % (node, future.exception()))
    else:
        print("dccfutures: %s: %r" % (node, future.result()))
