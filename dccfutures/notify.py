"""Telling the artist that farm work ended: inside their DCC, or on their desktop.

* :func:`tell` shows a message where the artist is: in interactive Maya (the Script Editor line
  and an in-view message, on Maya's main thread), in Houdini with its UI (the status bar, on
  the main thread through ``hdefereval``), in Blender with its UI (a report: the status bar and
  the Info editor, on the main thread), else as a desktop notification, else on stderr.
* :func:`desktop` pops a desktop notification (``notify-send`` on Linux desktops,
  ``osascript`` on macOS) when this session has a desktop; it never raises.
* :func:`watch` starts one thread in a DCC session that watches the farm and tells the artist
  when any of their jobs ends, including jobs submitted by sessions long closed (detached
  work). The Maya plug-in, the Houdini package and the Blender add-on start it.
"""
import os
import shutil
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Set, Tuple

if TYPE_CHECKING:
    from .farms.base import JobId, JobInfo

LEVELS = ("info", "warning", "error")


def tell(title: str, message: str, level: str = "info") -> None:
    """Show ``title``: ``message`` to the artist; safe to call from any thread."""
    if level not in LEVELS:
        raise ValueError("level must be one of %s, not %r" % (", ".join(LEVELS), level))
    text = "%s: %s" % (title, message)
    if _tell_maya(text, level) or _tell_houdini(text, level) or _tell_blender(text, level):
        return
    if not desktop(title, message, level):
        print("dccfutures: " + text, file=sys.stderr, flush=True)


def desktop(title: str, message: str, level: str = "info") -> bool:
    """A desktop notification, when this session has a desktop to show it on."""
    try:
        if sys.platform == "darwin" and shutil.which("osascript"):
            script = 'display notification %s with title %s' % (_quote(message), _quote(title))
            command = ["osascript", "-e", script]
        elif shutil.which("notify-send") and (os.environ.get("DBUS_SESSION_BUS_ADDRESS")
                                              or os.environ.get("DISPLAY")
                                              or os.environ.get("WAYLAND_DISPLAY")):
            urgency = {"info": "normal", "warning": "normal", "error": "critical"}[level]
            command = ["notify-send", "--app-name=dccfutures", "--urgency=" + urgency,
                       title, message]
        else:
            return False
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _quote(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def _tell_maya(text: str, level: str) -> bool:
    if "maya" not in sys.modules and "maya.cmds" not in sys.modules:
        return False
    try:
        import maya.utils
        from maya.api import OpenMaya
    except ImportError:
        return False
    if OpenMaya.MGlobal.mayaState() != OpenMaya.MGlobal.kInteractive:
        return False
    show = {"info": OpenMaya.MGlobal.displayInfo, "warning": OpenMaya.MGlobal.displayWarning,
            "error": OpenMaya.MGlobal.displayError}[level]
    maya.utils.executeDeferred(show, text)  # Maya's UI only on its main thread
    return True


def _tell_houdini(text: str, level: str) -> bool:
    if "hou" not in sys.modules:
        return False
    import hou
    if not hou.isUIAvailable():
        return False
    import hdefereval
    severity = {"info": hou.severityType.Message, "warning": hou.severityType.Warning,
                "error": hou.severityType.Error}[level]
    hdefereval.executeDeferred(lambda: hou.ui.setStatusMessage(text, severity=severity))
    return True


def _tell_blender(text: str, level: str) -> bool:
    if "bpy" not in sys.modules:
        return False
    from . import blender
    return blender.report(text, level)  # a report, on Blender's main thread; False without UI


# -- watching the farm for the artist's jobs ------------------------------------------------

_watchers: Dict[str, "Watcher"] = {}
_watchers_lock = threading.Lock()


class Watcher:
    """Polls the farm's recent jobs and tells the artist when one of theirs ends.

    Jobs already ended when it starts are not news; a job that ends while the session runs
    is told once. ``tell_fn`` is :func:`tell` unless given (tests pass their own).
    """

    def __init__(self, farm: Any, interval: float = 5.0, user: Optional[str] = None,
                 tell_fn: Optional[Callable[[str, str, str], None]] = None):
        self.farm = farm
        self.interval = interval
        self.user = user if user is not None else _user()
        self.tell = tell_fn or tell
        # Job ids as the farm gives them (ints on the local farm and Qube, strings on OpenCue)
        self._told: Set["JobId"] = set()
        self._running: Set["JobId"] = set()  # the artist's jobs not ended yet
        self._primed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dccfutures-watch", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> int:
        """Look once; returns how many endings were told."""
        return self.see(self.farm.jobs(limit=100))

    def see(self, newest: Iterable["JobInfo"]) -> int:
        """Tell the endings among ``newest`` (the farm's newest jobs, read by whoever reads
        the farm already: a monitor panel feeds its reading here rather than reading twice);
        returns how many were told.

        The newest jobs show the artist's new ones; their unfinished jobs are then asked for
        by id, so a long render that many newer jobs pushed out of that window is still told
        when it ends."""
        told = 0
        recent = {job.id: job for job in newest}
        missing = list(self._running - set(recent))
        if missing:
            recent.update((job.id, job) for job in self.farm.jobs(job_ids=missing))
            self._running -= set(missing) - set(recent)  # removed from the farm meanwhile
        for job in recent.values():
            if self.user and job.user and job.user != self.user:
                continue
            if job.status not in ("complete", "failed", "killed"):
                self._running.add(job.id)
                continue
            self._running.discard(job.id)
            if job.id in self._told:
                continue
            self._told.add(job.id)
            if not self._primed:
                continue
            self.tell(*ending(job))
            told += 1
        self._primed = True
        return told

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as error:  # a farm that is down now may be up later
                print("dccfutures: watching the farm failed: %s" % error, file=sys.stderr)
            self._stop.wait(self.interval)


def ending(job: "JobInfo") -> Tuple[str, str, str]:
    """What the artist is told when ``job`` ended: ``(title, message, level)``, the job named
    by the farm's own id."""
    level = {"complete": "info", "failed": "error", "killed": "warning"}[job.status]
    done = job.tally.get("complete", 0)
    total = sum(job.tally.values())
    return ("dccfutures job %s %s" % (job.id, job.status),
            "%s (%d/%d work items complete)" % (job.name, done, total), level)


def watch(farm: Optional[str] = None, interval: float = 5.0) -> Watcher:
    """Start (once per farm and process) the watcher that tells the artist when their jobs
    end. Returns it."""
    from . import config as config_module
    from . import farms
    settings = config_module.load()
    name = farm or settings.farm
    with _watchers_lock:
        watcher = _watchers.get(name)
        if watcher is None or not watcher._thread.is_alive():
            watcher = _watchers[name] = Watcher(farms.get_farm(name, settings),
                                                interval).start()
    return watcher


def _user() -> str:
    try:
        import getpass
        return getpass.getuser()
    except Exception:
        return ""


def unwatch() -> None:
    """Stop the watchers of this process (the Maya plug-in's unload)."""
    with _watchers_lock:
        for watcher in _watchers.values():
            watcher.stop()
        _watchers.clear()
