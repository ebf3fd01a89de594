"""Maya: an Executor whose work runs in a bootstrapped Maya, with the artist's scene.

    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, create_tempfile=True, cpus=4)
    with ex.batch("Get node types") as batch:
        for node in cmds.ls(sl=True):
            batch.submit(cmds.nodeType, node)

Imports ``maya`` only inside its methods, so it loads (and its work is described) anywhere.
The work runs on the farm in mayapy (``dcc.maya.<version>.mayapy`` in the config) or, with
``prototype="dccfutures_maya"``, in ``maya -batch`` (``dcc.maya.<version>.maya``: the user's
userSetup and auto-loaded plug-ins come with it). Each farm worker bootstraps Maya once (open
the scene copy, set the workspace) and then runs many items.
"""
import concurrent.futures
from typing import Any, Dict, Iterable, List, Optional

from . import executor
from .dcc import DccExecutor
from .future import set_callback_dispatcher

PROTOTYPE = "dccfutures_mayapy"


class Executor(DccExecutor):
    """``dccfutures.Executor`` for Maya work (the qbfutures ``maya.Executor`` arguments).

    ``prototype`` picks the bootstrap: ``"dccfutures_mayapy"`` (the default) or
    ``"dccfutures_maya"`` for ``maya -batch``.
    """

    dcc, title, root_variable = "maya", "Maya", "MAYA_LOCATION"
    bootstraps = {
        "dccfutures_mayapy": ("mayapy", "mayapy"),
        "dccfutures_maya": ("maya_batch", "maya"),
    }

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 filename: Optional[str] = None, workspace: Optional[str] = None,
                 version: Optional[str] = None, prototype: str = PROTOTYPE, **kwargs: Any):
        self.workspace = workspace
        super().__init__(clone_environ=clone_environ, create_tempfile=create_tempfile,
                         filename=filename, version=version, prototype=prototype, **kwargs)

    def _session_scene(self) -> Optional[str]:
        import maya.cmds as cmds
        # maya-stubs types a query as the union of every flag's type; sceneName's is a str.
        return cmds.file(query=True, sceneName=True) or None  # type: ignore[return-value]

    def _session_version(self) -> str:
        import maya.cmds as cmds
        return str(cmds.about(version=True))

    def _session_clone(self) -> None:
        import maya.cmds as cmds
        # maya-stubs types a query as the union of every flag's type; rootDirectory's is a str.
        self.workspace = (self.workspace  # type: ignore[assignment]
                          or cmds.workspace(query=True, rootDirectory=True))

    def _save_copy(self, path: str) -> None:
        # Export all, not Save As: the session keeps its name and its modified flag.
        import maya.cmds as cmds
        kind = "mayaBinary" if path.lower().endswith(".mb") else "mayaAscii"
        cmds.file(path, exportAll=True, preserveReferences=True, type=kind, force=True)

    def _bootstrap_options(self) -> Dict[str, Any]:
        return {"workspace": self.workspace}

    def _callbacks_on_main_thread(self) -> None:
        """Inside interactive Maya, done-callbacks run on Maya's main thread (through
        ``maya.utils.executeDeferred``), never on the poller thread: touching ``maya.cmds``
        from another thread can crash Maya."""
        try:
            import maya.utils
            from maya.api import OpenMaya
        except ImportError:
            return
        if OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive:
            set_callback_dispatcher(maya.utils.executeDeferred)


def progress(futures: Iterable[Any], status: str = "Waiting for the farm",
             interval: float = 0.1) -> List[Any]:
    """Wait for ``futures`` while Maya's main progress bar shows how many are done; Esc
    cancels (kills) the ones still running or pending. Returns the futures.

    Outside interactive Maya (mayapy, ``maya -batch``) it just waits: there is no progress
    bar there, and ``$gMainProgressBar`` is not even declared (reading it is a MEL error).
    """
    import maya.cmds as cmds
    import maya.mel as mel
    futures = list(futures)
    if cmds.about(batch=True):
        concurrent.futures.wait(futures)
        return futures
    bar = mel.eval("$tmp = $gMainProgressBar")
    cmds.progressBar(bar, edit=True, beginProgress=True, isInterruptable=True, status=status,
                     maxValue=max(1, len(futures)))
    try:
        while True:
            waiting = [f for f in futures if not f.done()]
            cmds.progressBar(bar, edit=True, progress=len(futures) - len(waiting))
            if not waiting:
                break
            if cmds.progressBar(bar, query=True, isCancelled=True):
                executor.cancel_all(waiting)
                break
            concurrent.futures.wait(waiting, timeout=interval,
                                    return_when=concurrent.futures.FIRST_COMPLETED)
    finally:
        cmds.progressBar(bar, edit=True, endProgress=True)
    return futures

