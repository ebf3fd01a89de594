"""Blender actions: render the scene's frames on the farm, and the Farm Monitor.

``render_frames`` runs in the artist's Blender (the add-on's Render Frames dialog calls it
through ``dccfutures.shelves.run``); ``render_chunk`` is its work function, run on the farm
in a bootstrapped Blender that opened a copy of the scene, so it lives here, importable
there. ``bpy`` is imported only inside the functions.
"""
import os
import sys
from typing import Any, Dict, List, Optional

from .. import frames as frames_module
from . import executor_options


def render_frames(frames: Optional[str] = None, chunk_size: int = 10,
                  name: Optional[str] = None, farm: Optional[str] = None,
                  cpus: Optional[int] = None, groups: Any = None,
                  priority: Optional[int] = None, clone_environ: bool = True,
                  create_tempfile: bool = True, scene: Optional[str] = None,
                  **_: Any) -> List[Any]:
    """One farm job rendering ``frames`` (default: the scene's frame range) of ``scene``
    (default: the active one) with its own render settings, one work item per chunk of
    ``chunk_size`` frames. Each item returns the files it wrote, where the scene's output
    path says. Everything is checked before anything is submitted (a bad range, chunk size
    or farm, no camera, a relative output path in a never-saved file): ``ValueError`` with
    what is wrong. Returns the futures at once."""
    import bpy
    from ..blender import Executor
    target = _scene(bpy, scene)
    frames = frames or scene_frame_range(target)
    chunks = frames_module.chunk(_at_least(chunk_size, 1, "the chunk size"), frames)
    _check_farm(farm)
    _at_least(cpus or 0, 0, "cpus")
    if priority is not None and priority != "":
        _at_least(priority, 0, "the priority")
    _check_renderable(bpy, target, create_tempfile)
    ex = Executor(**executor_options(farm, cpus, groups, priority, clone_environ,
                                     create_tempfile))
    blend = os.path.basename(bpy.data.filepath) or "untitled"
    with ex.batch(name or "%s %s frames %s" % (blend, target.name, frames)) as batch:
        for chunk in chunks:
            batch.submit(render_chunk, chunk, target.name)
    print("dccfutures: job %s renders frames %s of %s in %d work item%s"
          % (batch.futures[0].job_id, frames, target.name, len(chunks),
             "" if len(chunks) == 1 else "s"))
    return batch.futures


def scene_frame_range(scene: Any) -> str:
    """The scene's frame range as a range string (``1-250``, ``1-249x2`` with a frame step,
    ``7`` for one frame)."""
    step = max(1, scene.frame_step)
    last = scene.frame_start + max(0, scene.frame_end - scene.frame_start) // step * step
    if last == scene.frame_start:
        return str(last)
    return "%d-%d%s" % (scene.frame_start, last, "x%d" % step if step > 1 else "")


def render_chunk(chunk: str, scene: Optional[str] = None) -> List[str]:
    """On the farm: render ``chunk``'s frames of ``scene`` (default: the open file's active
    scene) with the scene's own settings, one animation render per run of frames (so a
    movie output gets one file per run); returns the files written, as the scene's output
    path names them. The scene's frame range is restored afterwards: the worker keeps the
    file open for its next item. Progress is reported after each frame written."""
    import bpy
    from ..runtime.context import report_progress
    target = _scene(bpy, scene)
    total = frames_module.count(chunk)
    written: Dict[str, None] = {}
    done = [0]

    def frame_written(rendered: Any, *_: Any) -> None:
        done[0] += 1
        report_progress(min(1.0, done[0] / total), "rendered frame %d" % rendered.frame_current)

    kept = target.frame_start, target.frame_end, target.frame_step
    bpy.app.handlers.render_write.append(frame_written)
    try:
        for start, end, step in frames_module.runs(chunk):
            # Start first: Blender pushes the end up to a start set past it, never down.
            target.frame_start, target.frame_end, target.frame_step = start, end, step
            bpy.ops.render.render(animation=True, scene=target.name)
            for frame in range(start, end + 1, step):
                written[target.render.frame_path(frame=frame)] = None
    finally:
        bpy.app.handlers.render_write.remove(frame_written)
        target.frame_start, target.frame_end, target.frame_step = kept
    missing = [path for path in written if not os.path.isfile(path)]
    if missing:
        raise RuntimeError("Blender rendered frames %s of %s but wrote no %s (check the "
                           "scene's output settings)" % (chunk, target.name, missing[0]))
    return list(written)


def farm_monitor(**_: Any) -> Any:
    """In Blender's UI, show the add-on's Farm Monitor panel: open the sidebar of the current
    window's 3D views (Blender 4.2+ also switches it to the panel's "Farm" tab; before, the
    tab is a click away). Outside Blender's UI, the standalone monitor (``dccfutures
    monitor``). ``ValueError`` when the UI has no place to show it."""
    if "bpy" in sys.modules:
        import bpy
        if not bpy.app.background:
            panel = _monitor_panel(bpy)
            if panel is None:
                raise ValueError("the Farm Monitor panel is not registered: enable the "
                                 "dccfutures add-on (or run `dccfutures monitor` in a shell)")
            if not _show_panel(bpy, panel):
                raise ValueError("the Farm Monitor is in the sidebar of the 3D view: open a "
                                 "3D view in this window (or run `dccfutures monitor` in a "
                                 "shell)")
            return None
    from .common import farm_monitor as standalone
    return standalone()


# -- helpers -----------------------------------------------------------------------------

def _scene(bpy: Any, name: Optional[str]) -> Any:
    if not name:
        return bpy.context.scene
    found = bpy.data.scenes.get(name)
    if found is None:
        raise ValueError("no scene named %r in %s (scenes: %s)" % (
            name, bpy.data.filepath or "this file",
            ", ".join(scene.name for scene in bpy.data.scenes)))
    return found


def _at_least(value: Any, low: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a whole number, got %r" % (what, value)) from None
    if number < low:
        raise ValueError("%s must be %d or more, got %d" % (what, low, number))
    return number


def _check_farm(farm: Optional[str]) -> None:
    from .. import farms
    if farm and farm not in farms.FARMS:
        raise ValueError("unknown farm %r (expected one of: %s)"
                         % (farm, ", ".join(sorted(farms.FARMS))))


def _check_renderable(bpy: Any, scene: Any, create_tempfile: bool) -> None:
    """What would make every item fail on the farm, said before anything is submitted."""
    if scene.camera is None:
        raise ValueError("scene %r has no active camera: Blender renders nothing without "
                         "one (set Scene > Camera)" % scene.name)
    if not bpy.data.filepath:
        if not create_tempfile:
            raise ValueError("this file was never saved: save it, or send a temp copy of "
                             "the scene")
        if scene.render.filepath.startswith("//"):
            raise ValueError("save the file first: the output path %r is relative to the "
                             ".blend file, which has no folder yet" % scene.render.filepath)


def _show_panel(bpy: Any, panel: Any) -> bool:
    """Open the region (and, where Blender allows it, the tab) of ``panel`` in the current
    window's areas of its kind; False when the window has none."""
    window = getattr(bpy.context, "window", None) or next(
        iter(bpy.context.window_manager.windows), None)
    if window is None:
        return False
    shown = False
    for area in window.screen.areas:
        if area.type != panel.bl_space_type:
            continue
        space = area.spaces.active
        if panel.bl_region_type == "UI" and hasattr(space, "show_region_ui"):
            space.show_region_ui = True
        for region in area.regions:
            if region.type == panel.bl_region_type and getattr(panel, "bl_category", None):
                try:  # Blender 4.2+ (absent before)
                    region.active_panel_category = panel.bl_category
                except (AttributeError, TypeError):
                    pass
        area.tag_redraw()
        shown = True
    return shown


def _monitor_panel(bpy: Any) -> Any:
    """The add-on's registered monitor panel class (``dccfutures_blender.monitor``), or None."""
    for cls in bpy.types.Panel.__subclasses__():
        if (cls.__module__.split(".")[-1] == "monitor"
                and "dccfutures" in cls.__module__ and getattr(cls, "is_registered", False)):
            return cls
    return None
