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
import os
import threading
from typing import Any, Dict, Iterable, List, Optional

from . import environ as environ_module
from . import executor, scene_copies
from .future import set_callback_dispatcher

PROTOTYPE = "dccfutures_mayapy"
# prototype -> (bootstrap kind, executable key under dcc.maya.<version> in the config)
BOOTSTRAP_OF = {
    "dccfutures_mayapy": ("mayapy", "mayapy"),
    "dccfutures_maya": ("maya_batch", "maya"),
}


class Executor(executor.Executor):
    """``dccfutures.Executor`` for Maya work (the qbfutures ``maya.Executor`` arguments)."""

    prototype = PROTOTYPE

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 filename: Optional[str] = None, workspace: Optional[str] = None,
                 version: Optional[str] = None, prototype: str = PROTOTYPE, **kwargs: Any):
        if prototype not in BOOTSTRAP_OF:
            raise ValueError("dccfutures.maya.Executor: unknown prototype %r; use %s"
                             % (prototype, " or ".join(repr(p) for p in BOOTSTRAP_OF)))
        super().__init__(**kwargs)
        self.prototype = prototype
        _callbacks_on_main_thread()
        self.filename = filename
        self.original: Optional[str] = None
        self.workspace = workspace
        self.version = None if version is None else str(version)
        self.environ: Optional[Dict[str, str]] = None
        self._copy_users: Dict[str, int] = {}  # scene copy -> futures (and submits) using it
        self._copy_lock = threading.Lock()
        if clone_environ:
            self.clone_environ()
        if create_tempfile:
            self.create_tempfile()

    def clone_environ(self) -> None:
        """Take the scene, workspace and Maya version from this session, and the artist's
        environment minus what belongs to this session or this Maya process."""
        import maya.cmds as cmds
        self.filename = self.filename or cmds.file(query=True, sceneName=True) or None
        self.workspace = self.workspace or cmds.workspace(query=True, rootDirectory=True)
        self.version = self.version or str(cmds.about(version=True))
        self.environ = environ_module.from_config(self.config, dcc="maya",
                                                  dcc_root=os.environ.get("MAYA_LOCATION"))

    def create_tempfile(self) -> str:
        """Save a copy of the current scene next to it (under ``.dccfutures/``) for the farm
        to open, without renaming the artist's scene or touching its modified flag."""
        import maya.cmds as cmds
        current = cmds.file(query=True, sceneName=True)
        if not current:
            raise RuntimeError("save the scene once before sending a copy of it to the farm")
        copy = scene_copies.copy_path(current)
        kind = "mayaBinary" if copy.lower().endswith(".mb") else "mayaAscii"
        cmds.file(copy, exportAll=True, preserveReferences=True, type=kind, force=True)
        scene_copies.register(copy)
        self.original, self.filename = current, copy
        return copy

    # -- how the work is described -------------------------------------------------------

    def _package(self, func: Any) -> Dict[str, Any]:
        package = super()._package(func)
        if not self.version:
            raise ValueError("dccfutures.maya.Executor needs a Maya version: pass version= or "
                             "call clone_environ() inside Maya")
        kind, key = BOOTSTRAP_OF[self.prototype]
        executable = self.config.dcc_executable("maya", self.version, key)
        spec: Dict[str, Any] = {"kind": kind, "version": self.version,
                                "file": self.filename, "original": self.original,
                                "workspace": self.workspace, "executable": executable}
        if not executable:
            spec["missing"] = ("no %s for Maya %s: set dcc.maya.\"%s\".%s in the dccfutures "
                               "config (%s)" % (key, self.version, self.version, key,
                                               self.config.path or "not found"))
        package["python"] = executable or key
        package["bootstrap"] = spec
        package["env_cloned"] = self.environ is not None  # workers boot with the job's env
        return package

    def _job(self, fields, work, func, function=None, kind="submit"):
        if self.environ is not None:
            env = dict(self.environ)
            env.update(fields.get("env") or {})
            fields = dict(fields, env=env)
        self._reserve_copy()
        try:
            return super()._job(fields, work, func, function=function, kind=kind)
        except BaseException:  # e.g. the recursion limit: nothing was submitted
            if self.original:
                self._release(self.filename)
            raise

    def _reserve_copy(self) -> None:
        """Hold the scene copy for a job about to be submitted: if the futures of earlier jobs
        all ended and it went with them, take a fresh copy of the scene as it is now."""
        if not self.original:
            return
        with self._copy_lock:
            if self.filename not in self._copy_users and not os.path.exists(self.filename):
                self.create_tempfile()
            self._copy_users[self.filename] = self._copy_users.get(self.filename, 0) + 1

    def _track(self, futures) -> None:
        if self.original and self.filename:
            # The copy goes once every future that uses it is done; the job's reservation
            # becomes one hold per future.
            copy = self.filename
            with self._copy_lock:
                self._copy_users[copy] = self._copy_users.get(copy, 1) - 1 + len(futures)
            for future in futures:
                future._internal_callbacks.append(lambda f, copy=copy: self._release(copy))
            if not futures:
                self._release(copy, 0)
        super()._track(futures)

    def _release(self, copy: str, count: int = 1) -> None:
        with self._copy_lock:
            left = self._copy_users.get(copy, count) - count
            self._copy_users[copy] = left
            if left > 0:
                return
            self._copy_users.pop(copy, None)
        scene_copies.remove(copy)


def progress(futures: Iterable[Any], status: str = "Waiting for the farm",
             interval: float = 0.1) -> List[Any]:
    """Wait for ``futures`` while Maya's main progress bar shows how many are done; Esc
    cancels (kills) the ones still running or pending. Returns the futures.

    Outside interactive Maya (mayapy, ``maya -batch``) it just waits.
    """
    import maya.cmds as cmds
    import maya.mel as mel
    futures = list(futures)
    bar = mel.eval("$tmp = $gMainProgressBar")
    if not bar:
        concurrent.futures.wait(futures)
        return futures
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


def _callbacks_on_main_thread() -> None:
    """Inside interactive Maya, done-callbacks run on Maya's main thread (through
    ``maya.utils.executeDeferred``), never on the poller thread: touching ``maya.cmds`` from
    another thread can crash Maya."""
    try:
        import maya.utils
        from maya.api import OpenMaya
    except ImportError:
        return
    if OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive:
        set_callback_dispatcher(maya.utils.executeDeferred)
