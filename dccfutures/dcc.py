"""What every DCC executor shares: the artist's environment, a temp copy of the scene, and a
bootstrap spec telling the farm which DCC executable opens which scene.

``dccfutures.maya.Executor`` and ``dccfutures.houdini.Executor`` fill in the DCC's own part
(how to ask the session for its scene and version, how to save a copy without renaming the
session); everything about the copy's lifetime and the job package lives here once.
"""
import os
import threading
from typing import Any, Dict, Optional, Tuple

from . import environ as environ_module
from . import executor, scene_copies
from .farms.base import JobId


class DccExecutor(executor.Executor):
    """An Executor whose work runs in a bootstrapped DCC with a copy of the artist's scene."""

    dcc = ""                               # config key under dcc: and the environment deny-list
    title = ""                             # the name users read in messages
    root_variable = ""                     # the install root, stripped from cloned PATH-likes
    # prototype -> (bootstrap kind, executable key under dcc.<dcc>.<version> in the config)
    bootstraps: Dict[str, Tuple[str, str]] = {}
    copy_beside_scene = False              # the copy in the scene's own folder, not .dccfutures/

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 filename: Optional[str] = None, version: Optional[str] = None,
                 prototype: Optional[str] = None, **kwargs: Any):
        prototype = prototype or next(iter(self.bootstraps))
        if prototype not in self.bootstraps:
            raise ValueError("%s: unknown prototype %r; use %s" % (
                self._qualname(), prototype, " or ".join(repr(p) for p in self.bootstraps)))
        super().__init__(**kwargs)
        self.prototype = prototype
        self.filename = filename
        self.original: Optional[str] = None
        self.version = None if version is None else str(version)
        self.environ: Optional[Dict[str, str]] = None
        self._copy_users: Dict[str, int] = {}  # scene copy -> futures (and submits) using it
        self._copy_lock = threading.RLock()  # a reservation may take a fresh copy under it
        self._reserved: Optional[str] = None  # the copy held for the job being submitted
        self._copies_scene = False  # create_tempfile() ran: each new job gets a fresh copy
        self._callbacks_on_main_thread()
        if clone_environ:
            self.clone_environ()
        if create_tempfile:
            self.create_tempfile()

    # -- what each DCC provides ----------------------------------------------------------

    def _callbacks_on_main_thread(self) -> None:
        """Inside the interactive DCC, send done-callbacks to its main thread."""

    def _session_scene(self) -> Optional[str]:
        raise NotImplementedError

    def _session_version(self) -> str:
        raise NotImplementedError

    def _session_clone(self) -> None:
        """Anything else the DCC takes from the session (Maya: the workspace)."""

    def _save_copy(self, path: str) -> None:
        """Write the session's scene to ``path`` without renaming it or marking it saved."""
        raise NotImplementedError

    def _bootstrap_options(self) -> Dict[str, Any]:
        return {}

    # -- the shared part -----------------------------------------------------------------

    def clone_environ(self) -> None:
        """Take the scene and the version from this session, and the artist's environment
        minus what belongs to this login session or this DCC process."""
        self.filename = self.filename or self._session_scene() or None
        self.version = self.version or self._session_version()
        self._session_clone()
        self.environ = environ_module.from_config(
            self.config, dcc=self.dcc, dcc_root=os.environ.get(self.root_variable))

    def create_tempfile(self) -> str:
        """Save a copy of the current scene next to it (under ``.dccfutures/``, or beside it
        with ``copy_beside_scene``) for the farm to open, without renaming the artist's scene
        or touching its unsaved-changes flag."""
        current = self._session_scene()
        copy = self._copy_path(current)
        self._save_copy(copy)
        scene_copies.register(copy)
        self.original, self.filename = current, copy
        self._copies_scene = True
        self._copy_users.setdefault(copy, 0)  # no job holds it yet
        return copy

    def _copy_path(self, scene: Optional[str]) -> str:
        """Where the copy of ``scene`` goes (``None``: the scene was never saved)."""
        if not scene:
            raise RuntimeError("save the scene once before sending a copy of it to the farm")
        return scene_copies.copy_path(scene, beside=self.copy_beside_scene)

    def _package(self, func: Any) -> Dict[str, Any]:
        package = super()._package(func)
        if not self.version:
            raise ValueError("%s needs a %s version: pass version= or call clone_environ() "
                             "inside %s" % (self._qualname(), self.title, self.title))
        kind, key = self.bootstraps[self.prototype]
        executable = (self.config.dcc_executable(self.dcc, self.version, key)
                      or self._session_executable())
        spec: Dict[str, Any] = {"kind": kind, "version": self.version, "file": self.filename,
                                "original": self.original, "executable": executable}
        spec.update(self._bootstrap_options())
        if not executable:
            spec["missing"] = ("no %s for %s %s: set dcc.%s.\"%s\".%s in the dccfutures config "
                               "(%s)" % (key, self.title, self.version, self.dcc, self.version,
                                         key, self.config.path or "not found"))
        package["python"] = executable or key
        # A Qube package holds strings, numbers, lists and dicts: no None, no booleans.
        package["bootstrap"] = {name: value for name, value in spec.items() if value is not None}
        if self.environ is not None:
            package["env_cloned"] = "yes"  # workers boot with the job's env
        return package

    def _session_executable(self) -> Optional[str]:
        """The executable for this prototype when the config names none: None here (Maya and
        Houdini farms need theirs configured); Blender uses the Blender running the session."""
        return None

    def _job(self, fields, work, func, function=None, kind="submit"):
        if self.environ is not None:
            env = dict(self.environ)
            env.update(fields.get("env") or {})
            fields = dict(fields, env=env)
        self._reserve_copy()
        try:
            return super()._job(fields, work, func, function=function, kind=kind)
        except BaseException:  # e.g. the recursion limit: nothing was submitted
            self._unreserve()
            raise

    def _submit(self, job) -> JobId:
        try:
            return super()._submit(job)
        except BaseException:  # the farm refused it: the copy is not held by this job
            self._unreserve()
            raise

    def _reserve_copy(self) -> None:
        """Hold the scene copy for a job about to be submitted. A copy that went with the
        futures of earlier jobs is not reused: a fresh copy of the scene as it is now is."""
        if not self._copies_scene:
            return
        with self._copy_lock:
            if self.filename not in self._copy_users:
                self.create_tempfile()
            self._copy_users[self.filename] += 1
            self._reserved = self.filename

    def _unreserve(self) -> None:
        copy, self._reserved = self._reserved, None
        if copy:
            self._release(copy)

    def _track(self, futures) -> None:
        copy, self._reserved = self._reserved, None
        if copy:
            # The copy goes once every future that uses it is done: the job's reservation
            # becomes one hold per future. (Futures of attach() hold nothing.)
            with self._copy_lock:
                self._copy_users[copy] += len(futures) - 1
            for future in futures:
                future._internal_callbacks.append(lambda f, copy=copy: self._release(copy))
            if not futures:
                self._release(copy, 0)
        super()._track(futures)

    def _release(self, copy: str, count: int = 1) -> None:
        with self._copy_lock:  # held while deleting: a submit never reserves a dying copy
            left = self._copy_users.get(copy, count) - count
            self._copy_users[copy] = left
            if left > 0:
                return
            self._copy_users.pop(copy, None)
            scene_copies.remove(copy)

    def _qualname(self) -> str:
        return "%s.%s" % (type(self).__module__, type(self).__name__)
