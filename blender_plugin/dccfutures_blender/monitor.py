"""The Farm Monitor panel: the artist's farm jobs, with status, progress, Kill and Retry, in
the sidebar of the 3D view (the "Farm" tab); and the messages when a job ends.

Blender's main thread never calls the farm. One background thread reads it (the same jobs,
words and numbers as ``dccfutures monitor``, from ``dccfutures.status``) and runs Kill and
Retry; a persistent timer on the main thread takes what it read and redraws the 3D views
when that changed; the panel's ``draw()`` only shows the last reading. A slow or
unreachable farm never freezes Blender: its error shows in the panel.

The same thread, from the same reading (one read of the farm per interval), tells
"dccfutures job N complete/failed/killed" in the status bar and the Info editor when one of
the artist's jobs ends (a ``dccfutures.notify.Watcher`` fed by it); ``register()`` also sends
done-callbacks to the main thread. ``unregister()`` stops the thread and the timer, and
removes every class. The standalone Qt monitor is
``dccfutures monitor``. ``dccfutures`` is imported only when registering: without it the
panel says why.
"""
import getpass
import queue
import threading
import time
from typing import Any, List, NamedTuple, Optional, Tuple

import bpy

INTERVAL = 2.0            # seconds between reads of the farm (and the watcher's looks)
REDRAW_INTERVAL = 0.25    # seconds between the main thread's looks at the last reading
JOB_LIMIT = 100           # the farm's newest jobs read; the artist's among them are listed
ROWS = 30                 # jobs listed
LIVE_PROGRESS_JOBS = 20   # running jobs whose items' own progress is read for the bar
NAME_WIDTH = 60           # characters of a job's name shown
NOTICE_SECONDS = 15.0     # how long what Kill or Retry did stays in the panel
THREAD_NAME = "dccfutures-blender-monitor"

STATUS_ICONS = {"pending": "TIME", "blocked": "PAUSE", "running": "PLAY",
                "complete": "CHECKMARK", "failed": "ERROR", "killed": "CANCEL",
                "removed": "TRASH"}


class Row(NamedTuple):
    """One job as the panel shows it."""
    key: str             # the job id as text: an int on some farms, a string on others
    job_id: Any
    name: str
    status: str
    fraction: float      # done, counting the running items' own progress
    progress: str        # "8/10  80%, 2 failed"
    can_kill: bool       # something pending, blocked or running
    can_retry: bool      # something failed or killed


class Reading(NamedTuple):
    farm: str
    rows: Tuple[Row, ...]
    error: str
    notice: str


NOTHING_READ = Reading("", (), "", "")


def read_rows(farm: Any, user: str, newest: List[Any]) -> Tuple[Row, ...]:
    """The rows of ``user``'s jobs among ``newest`` (the farm's newest jobs; all of them when
    ``user`` is empty)."""
    from dccfutures import status
    jobs = [job for job in newest if not user or not job.user or job.user == user][:ROWS]
    if any(job.status in ("pending", "running") for job in jobs):
        farm.ensure_running()  # as the CLI and dccfutures monitor do: a dead supervisor restarts
    rows = []
    live = 0
    for job in jobs:
        fraction = job.progress
        if job.tally.get("running") and live < LIVE_PROGRESS_JOBS:
            live += 1
            try:
                fraction = status.live_fraction(farm.job(job.id))
            except KeyError:  # removed meanwhile
                pass
        tally = job.tally
        rows.append(Row(str(job.id), job.id, status.clip(job.name, NAME_WIDTH), job.status,
                        fraction, status.progress_text(tally, fraction),
                        any(tally.get(s) for s in ("pending", "blocked", "running")),
                        any(tally.get(s) for s in ("failed", "killed"))))
    return tuple(rows)


class FarmReader:
    """The monitor's thread: every farm call of the panel happens here."""

    def __init__(self, interval: float = INTERVAL, user: Optional[str] = None,
                 watch: bool = True):
        """``watch``: also tell the artist when their jobs end (``dccfutures.notify``), from
        the same reading: one reader of the farm for the panel and the messages."""
        self.interval = interval
        self.watch = watch
        self.user = _user() if user is None else user
        self.reading = NOTHING_READ
        self.count = 0            # readings published; the main thread compares it
        self._notice = ("", 0.0)  # what the last action did, and when
        self._actions: "queue.SimpleQueue[Tuple[str, str]]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> "FarmReader":
        self._thread.start()
        return self

    def stop(self, wait: float = 2.0) -> None:
        """End the thread, waiting up to ``wait`` seconds for a farm call in progress."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def act(self, action: str, key: str) -> None:
        """``kill`` or ``retry`` the job ``key`` (as the panel shows its id), then read again."""
        self._actions.put((action, key))
        self._wake.set()

    def _run(self) -> None:
        farm, name, watcher = None, "", None
        while not self._stop.is_set():
            try:
                if farm is None:
                    from dccfutures import config, farms, notify
                    settings = config.load()
                    name = settings.farm
                    farm = farms.get_farm(name, settings)
                    if self.watch:
                        watcher = notify.Watcher(farm, self.interval, self.user)
                self._act(farm)
                newest = farm.jobs(JOB_LIMIT)
                rows = read_rows(farm, self.user, newest)
                self._publish(Reading(name, rows, "", self._current_notice()))
                if watcher is not None:
                    try:
                        watcher.see(newest)
                    except Exception as error:  # the panel's reading stands
                        print("dccfutures: watching the farm failed: %s" % _text(error))
            except Exception as error:
                where = "the %s farm" % name if name else "the farm"
                self._publish(self.reading._replace(
                    error="cannot read %s: %s" % (where, _text(error)),
                    notice=self._current_notice()))
            self._wake.wait(self.interval)
            self._wake.clear()

    def _act(self, farm: Any) -> None:
        from dccfutures import blender, status
        ids = {row.key: row.job_id for row in self.reading.rows}
        while True:
            try:
                action, key = self._actions.get_nowait()
            except queue.Empty:
                return
            job_id = ids.get(key, key)
            try:
                count = getattr(farm, action)(job_id, None)
                text, level = status.action_report(action, job_id, None, count or 0), "info"
            except Exception as error:
                text, level = "%s job %s failed: %s" % (action, key, _text(error)), "error"
            self._notice = (text, time.monotonic())
            blender.report("dccfutures: " + text, level)

    def _current_notice(self) -> str:
        text, when = self._notice
        return text if text and time.monotonic() - when < NOTICE_SECONDS else ""

    def _publish(self, reading: Reading) -> None:
        self.reading = reading  # one assignment: the main thread reads a whole reading
        self.count += 1


def _text(error: BaseException) -> str:
    return " ".join((str(error) or type(error).__name__).split())


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


# -- the main thread: the timer, the panel, the operators -----------------------------------

_reader: Optional[FarmReader] = None
_shown = NOTHING_READ
_shown_count = 0
_problem = ""   # why the monitor does not run (dccfutures cannot be imported)


def rows() -> Tuple[Row, ...]:
    """The jobs the panel shows now: the reader's last reading, as the timer took it."""
    return _shown.rows


def _take_reading() -> Optional[float]:
    """The persistent timer: take the reader's newest reading; redraw the 3D views when what
    they show changed. Never calls the farm."""
    global _shown, _shown_count
    reader = _reader
    if reader is None:
        return None  # unregistered
    if reader.count != _shown_count:
        changed = reader.reading != _shown
        _shown, _shown_count = reader.reading, reader.count
        if changed:
            _redraw_views()
    return REDRAW_INTERVAL


def _redraw_views() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == DCCFUTURES_PT_farm_monitor.bl_space_type:
                area.tag_redraw()


class DCCFUTURES_PT_farm_monitor(bpy.types.Panel):
    """Your farm jobs: status, progress, Kill and Retry"""

    bl_idname = "DCCFUTURES_PT_farm_monitor"
    bl_label = "Farm Monitor"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Farm"

    def draw(self, context: Any) -> None:
        # Only what the reader read: a farm call here would freeze Blender's UI.
        layout = self.layout
        shown = _shown
        if _problem:
            layout.label(text=_problem, icon="ERROR")
            return
        if shown.error:
            layout.label(text=shown.error, icon="ERROR")
        if shown.notice:
            layout.label(text=shown.notice, icon="INFO")
        if not shown.rows:
            layout.label(text="No jobs of yours on the %s farm" % shown.farm
                         if shown.farm else "Reading the farm...")
        for row in shown.rows:
            self._draw_row(layout.box().column(align=True), row)

    @staticmethod
    def _draw_row(column: Any, row: Row) -> None:
        line = column.row(align=True)
        line.label(text="%s  %s" % (row.key, row.name), icon=STATUS_ICONS.get(row.status, "DOT"))
        if row.can_kill:
            line.operator(DCCFUTURES_OT_kill_job.bl_idname, text="", icon="CANCEL").job = row.key
        if row.can_retry:
            line.operator(DCCFUTURES_OT_retry_job.bl_idname, text="",
                          icon="FILE_REFRESH").job = row.key
        text = "%s  %s" % (row.status, row.progress)
        if hasattr(column, "progress"):  # Blender 4.0+
            column.progress(factor=row.fraction, type="BAR", text=text)
        else:
            column.label(text=text)


class _JobAction:
    """Kill or Retry a job: the reader does it off the main thread, then reads again; what
    it did shows in the panel and as a report."""

    action = ""
    job: bpy.props.StringProperty(name="Job", options={"HIDDEN", "SKIP_SAVE"})  # type: ignore

    def execute(self, context: Any) -> Any:
        if _reader is None:
            self.report({"ERROR"}, "the Farm Monitor is not running: %s"
                        % (_problem or "enable the dccfutures add-on"))
            return {"CANCELLED"}
        _reader.act(self.action, self.job)
        return {"FINISHED"}


class DCCFUTURES_OT_kill_job(_JobAction, bpy.types.Operator):
    """Kill this job's pending and running work on the farm"""

    bl_idname = "dccfutures.kill_job"
    bl_label = "Kill Job"
    bl_options = {"INTERNAL"}
    action = "kill"

    def invoke(self, context: Any, event: Any) -> Any:
        return context.window_manager.invoke_confirm(self, event)


class DCCFUTURES_OT_retry_job(_JobAction, bpy.types.Operator):
    """Run this job's failed and killed work again"""

    bl_idname = "dccfutures.retry_job"
    bl_label = "Retry Job"
    bl_options = {"INTERNAL"}
    action = "retry"


CLASSES = (DCCFUTURES_OT_kill_job, DCCFUTURES_OT_retry_job, DCCFUTURES_PT_farm_monitor)


def register() -> None:
    global _reader, _problem
    unregister()  # idempotent: what an earlier register() started goes first
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    try:
        from dccfutures import blender
    except ImportError as error:
        _problem = "dccfutures cannot be imported: %s" % error
        print("dccfutures: the Farm Monitor does not run: %s" % _problem)
        return
    if bpy.app.background:  # a farm worker (blender -b): nobody to show anything to
        return
    blender.callbacks_on_main_thread()  # done-callbacks and the watcher's reports
    _reader = FarmReader().start()
    bpy.app.timers.register(_take_reading, first_interval=0.0, persistent=True)


def unregister() -> None:
    global _reader, _shown, _shown_count, _problem
    reader, _reader = _reader, None
    if reader is not None:
        reader.stop()
    if bpy.app.timers.is_registered(_take_reading):
        bpy.app.timers.unregister(_take_reading)
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
    _shown, _shown_count, _problem = NOTHING_READ, 0, ""
    try:
        from dccfutures import blender
    except ImportError:
        return
    blender.unregister()
