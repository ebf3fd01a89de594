"""Houdini: an Executor whose work runs in a bootstrapped hython, with the artist's hip file.

    from dccfutures.houdini import Executor, progress
    ex = Executor(clone_environ=True, create_tempfile=True, cpus=4)
    futures = [ex.submit(cook, node.path()) for node in hou.selectedNodes()]
    progress(futures)   # Houdini's interruptable progress; Esc cancels what is left

Imports ``hou`` only inside its methods. The work runs on the farm in the hython of
``dcc.houdini.<version>.hython`` in the config; each farm worker loads the hip file once.
"""
import concurrent.futures
import os
from typing import Any, Iterable, List, Optional

from . import executor
from .dcc import DccExecutor
from .future import set_callback_dispatcher

PROTOTYPE = "dccfutures_houdini"


class Executor(DccExecutor):
    """``dccfutures.Executor`` for Houdini work."""

    dcc, title, root_variable = "houdini", "Houdini", "HFS"
    bootstraps = {PROTOTYPE: ("hython", "hython")}
    # hipFile.load sets $HIP to the folder of the file it loads, and the assets in $HIP/otls
    # and $HIP/hda are found during the load: the copy must sit in the artist's own folder.
    copy_beside_scene = True

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 hipfile: Optional[str] = None, version: Optional[str] = None, **kwargs: Any):
        super().__init__(clone_environ=clone_environ, create_tempfile=create_tempfile,
                         filename=hipfile, version=version, **kwargs)

    @property
    def hipfile(self) -> Optional[str]:
        """The hip file the farm opens (the temp copy once ``create_tempfile()`` ran)."""
        return self.filename

    def _session_scene(self) -> Optional[str]:
        import hou
        if hou.hipFile.isNewFile():
            return None
        return hou.hipFile.path()

    def _session_version(self) -> str:
        import hou
        major, minor = hou.applicationVersion()[:2]
        return "%d.%d" % (major, minor)

    def _save_copy(self, path: str) -> None:
        # hou.hipFile.save(path) is Save As and would rename the session; mwrite -n writes
        # a copy and leaves the session's name and unsaved-changes flag alone.
        import hou
        if "'" in path:
            raise RuntimeError("cannot write a copy of the hip file to %s: HScript cannot quote "
                               "a path with a single quote in it" % path)
        # Single quotes: HScript expands $VARIABLES and `backticks` inside double quotes.
        target = path.replace(os.sep, "/") if os.sep != "/" else path
        out, err = hou.hscript("mwrite -n '%s'" % target)
        if err.strip() or not os.path.isfile(path):
            raise RuntimeError("could not write a copy of the hip file to %s: %s"
                               % (path, err.strip() or "mwrite wrote nothing"))

    def _callbacks_on_main_thread(self) -> None:
        """Inside Houdini with its UI, done-callbacks run on the main thread (through
        ``hdefereval``): ``hou`` is not safe to call from the poller thread."""
        try:
            import hou
        except ImportError:
            return
        if not hou.isUIAvailable():
            return
        import hdefereval
        set_callback_dispatcher(hdefereval.executeDeferred)


def progress(futures: Iterable[Any], status: str = "Waiting for the farm",
             interval: float = 0.1) -> List[Any]:
    """Wait for ``futures`` with Houdini's interruptable progress; interrupting it (Esc)
    cancels (kills) the ones still running or pending. Returns the futures.

    In hython, without a UI, it just waits.
    """
    import hou
    futures = list(futures)
    if not hou.isUIAvailable():
        concurrent.futures.wait(futures)
        return futures
    try:
        with hou.InterruptableOperation(status, open_interrupt_dialog=True) as operation:
            while True:
                waiting = [f for f in futures if not f.done()]
                operation.updateProgress((len(futures) - len(waiting)) / max(1, len(futures)))
                if not waiting:
                    break
                concurrent.futures.wait(waiting, timeout=interval,
                                        return_when=concurrent.futures.FIRST_COMPLETED)
    except hou.OperationInterrupted:
        executor.cancel_all([f for f in futures if not f.done()])
    return futures
