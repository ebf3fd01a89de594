"""Blender: an Executor whose work runs in a bootstrapped Blender, with the artist's .blend.

    from dccfutures.blender import Executor
    ex = Executor(clone_environ=True, create_tempfile=True, cpus=4)
    futures = [ex.submit(render_frame, frame) for frame in range(1, 25)]

Imports ``bpy`` only inside its methods. The work runs on the farm in a Python that can
``import bpy`` (PyPI's ``bpy`` module build): ``dcc.blender.<version>.python`` in the config,
prototype ``dccfutures_bpy``. Each farm worker opens the scene copy once and then runs many
items.

The copy sits beside the artist's .blend, in the same folder: every ``//`` path (textures,
libraries, and the render output, which Blender does not remap when it saves elsewhere)
resolves on the farm as in the session. A never-saved scene is copied to a private scratch
folder under the farm home.
"""
import concurrent.futures
import os
from typing import Any, Dict, Iterable, List, Optional

from . import scene_copies
from .dcc import DccExecutor

PROTOTYPE = "dccfutures_bpy"


class Executor(DccExecutor):
    """``dccfutures.Executor`` for Blender work."""

    dcc, title = "blender", "Blender"
    bootstraps = {PROTOTYPE: ("bpy", "python")}
    # Saving elsewhere does not remap the render output path (``//render/f_####`` would land
    # next to a copy in a subfolder): the copy must sit in the artist's own folder.
    copy_beside_scene = True

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 blendfile: Optional[str] = None, version: Optional[str] = None,
                 prototype: str = PROTOTYPE, **kwargs: Any):
        super().__init__(clone_environ=clone_environ, create_tempfile=create_tempfile,
                         filename=blendfile, version=version, prototype=prototype, **kwargs)

    @property
    def blendfile(self) -> Optional[str]:
        """The .blend the farm opens (the temp copy once ``create_tempfile()`` ran)."""
        return self.filename

    def _session_scene(self) -> Optional[str]:
        import bpy
        return bpy.data.filepath or None

    def _callbacks_on_main_thread(self) -> None:
        """Nothing to install: in background Blender (the ``bpy`` module, ``blender -b``)
        ``bpy.app.timers`` never fire, so done-callbacks run directly on the poller thread.
        Sending them to the interactive application's main thread is not done yet."""

    def _job(self, fields: Dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # A job's cpus caps Cycles' threads in each of its workers (set once, at boot).
        job = super()._job(fields, *args, **kwargs)
        cpus = int(fields.get("cpus") or 0)
        if cpus > 0:
            job.package["bootstrap"]["render_threads"] = cpus
        return job

    def _session_version(self) -> str:
        import bpy
        return "%d.%d" % tuple(bpy.app.version[:2])

    def _copy_path(self, scene: Optional[str]) -> str:
        if scene:
            return super()._copy_path(scene)
        # Never saved: nothing relative to resolve. A private folder (the farm home's own
        # 0700), and a name scene_copies recognises as ours to delete.
        from .farms.local.home import Home
        scratch = os.path.join(Home().path, "scratch")
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        return scene_copies.copy_path(os.path.join(scratch, "untitled.blend"))

    def _save_copy(self, path: str) -> None:
        # copy=True: the session keeps its file name and its unsaved-changes flag.
        import bpy
        bpy.ops.wm.save_as_mainfile(filepath=path, copy=True)
        if not os.path.isfile(path):
            raise RuntimeError("Blender wrote no copy of the scene to %s" % path)


def progress(futures: Iterable[Any]) -> List[Any]:
    """Wait for ``futures``; returns them. In background Blender it just waits (the UI's
    progress bar and Esc to cancel are not done yet)."""
    futures = list(futures)
    concurrent.futures.wait(futures)
    return futures
