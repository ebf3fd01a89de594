"""The farm monitor: jobs, their work items and a live log tail, with kill / retry / block /
unblock, on any farm (local or Qube), standalone, docked in Maya or floating in Houdini.

    dccfutures monitor [--farm NAME] [--interval S]      # standalone
    dccfutures.ui.monitor.dock_in_maya()                  # a Maya workspace control
    dccfutures.ui.monitor.show_in_houdini()               # a window over Houdini's

The UI thread never calls the farm. One worker object on its own QThread makes every farm call
(reads and actions, in order) and hands back plain data through signals; the UI asks for the
next refresh only when the last one came back, so a slow or unreachable farm never freezes the
UI nor piles up requests, and its errors show in the status line.
"""
import argparse
import atexit
import contextlib
import os
import signal
import sys
import time
import weakref
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from .. import config as config_module
from .. import farms as farms_module
from .. import status as status_text
from ..farms.base import (BLOCKED, COMPLETE, FAILED, KILLED, PENDING, REMOVED, RUNNING, STATUSES,
                          Farm, JobId, JobInfo, WorkRef)
from .qt import QtCore, QtGui, QtWidgets, Signal, Slot, application, exec_, main_window

__all__ = ["FarmMonitor", "main", "show", "dock_in_maya", "show_in_houdini", "ACTIONS",
           "LOG_LINES", "WORKSPACE_CONTROL"]

ACTIONS = ("kill", "retry", "block", "unblock")
LOG_LINES = 200            # the log tail keeps the last lines of the item's output
JOB_LIMIT = 100            # jobs listed, newest first
LIVE_PROGRESS_JOBS = 20    # running jobs whose items' own progress is read for the bar
WORKSPACE_CONTROL = "dccfuturesFarmMonitorWorkspaceControl"
OBJECT_NAME = "dccfuturesFarmMonitor"
PROGRESS_WIDTH = 120       # pixels of the progress bar column
NOTICE_SECONDS = 15.0      # how long what an action did stays in the status line
INTERRUPT_CHECK_MS = 200   # how often the standalone monitor lets Python see a Ctrl-C
INTERRUPTED = 130          # its exit code after Ctrl-C, as a shell reports SIGINT

STATUS_COLOURS = {
    PENDING: "#8a8f98", BLOCKED: "#d68910", RUNNING: "#2e86de", COMPLETE: "#27ae60",
    FAILED: "#e74c3c", KILLED: "#7f6a93", REMOVED: "#8a8f98",
}
PROGRESS_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2   # the row's status, whatever the column
REASON_WIDTH = 360         # pixels the reason column may grow to (its tooltip has it all)
USER = QtCore.Qt.ItemDataRole.UserRole


def _tail(text: str, lines: int = LOG_LINES) -> str:
    kept = text.splitlines(True)[-lines:]
    return "".join(kept)


# -- the worker: every farm call happens here, off the UI thread ----------------------------

class _FarmWorker(QtCore.QObject):
    """Lives on the monitor's QThread; slots run there, results go back as plain data."""

    refreshed = Signal(object)       # a dict: farm, jobs, fractions, job, log, request
    failed = Signal(object, str)     # (request or None, message)
    acted = Signal(str, str)         # (farm name, message)

    def __init__(self, farms: Dict[str, Farm], config: Optional[config_module.Config]):
        super().__init__()
        self._farms = dict(farms)    # farms given as instances, by name
        self._config = config
        self.farm: Optional[Farm] = None
        self.name = ""
        self._farm_error = ""

    def _get(self, name: str) -> Farm:
        farm = self._farms.get(name)
        if farm is None:
            if self._config is None:
                self._config = config_module.load()
            farm = self._farms[name] = farms_module.get_farm(name, self._config)
        return farm

    @Slot(str)
    def set_farm(self, name: str) -> None:
        self.name = name
        self.farm = None
        try:
            self.farm = self._get(name)
        except Exception as error:
            self._farm_error = "cannot open the %s farm: %s" % (name, _error_text(error))
            return
        self._farm_error = ""

    @Slot(object)
    def refresh(self, request: Dict[str, Any]) -> None:
        if self.farm is None and request.get("farm") == self.name:
            self.set_farm(self.name)  # it failed to open (a broken database): maybe fixed now
        farm = self.farm
        if farm is None or request.get("farm") != self.name:
            self.failed.emit(request, self._farm_error
                             or "the %s farm is not available" % request.get("farm"))
            return
        try:
            jobs = farm.jobs(request.get("limit", JOB_LIMIT))
            if any(job.status in (PENDING, RUNNING) for job in jobs):
                farm.ensure_running()  # as the CLI does: a dead local supervisor is restarted
            fractions = {}
            running = [job for job in jobs if job.tally.get(RUNNING)][:LIVE_PROGRESS_JOBS]
            details: Dict[JobId, JobInfo] = {}
            for job in running:
                try:
                    details[job.id] = farm.job(job.id)
                    fractions[job.id] = status_text.live_fraction(details[job.id])
                except KeyError:
                    pass
            job_info = None
            log = None
            job_id, work_id = request.get("job"), request.get("work")
            if job_id is not None:
                try:
                    job_info = details.get(job_id) or farm.job(job_id)
                except KeyError:
                    job_info = None
                if job_info is not None and work_id is not None:
                    log = _with_failure(_tail(farm.log(job_id, work_id)), job_info, work_id)
        except Exception as error:
            self.failed.emit(request, "%s farm: %s" % (self.name, _error_text(error)))
            return
        self.refreshed.emit({"farm": self.name, "jobs": jobs, "fractions": fractions,
                             "job": job_info, "log": log, "request": request,
                             "time": time.time()})

    @Slot(object)
    def act(self, request: Dict[str, Any]) -> None:
        """``{"farm", "action", "targets": {job_id: work_ids or None}}``: one farm call each."""
        farm, command = self.farm, request["action"]
        if farm is None or request.get("farm") != self.name:
            self.failed.emit(None, self._farm_error
                             or "the %s farm is not available" % request.get("farm"))
            return
        reports = []
        try:
            targets = request["targets"]
            if command == "kill" and len(targets) > 1:
                count = farm.kill_many(targets)
                reports.append("killed %d work item%s of %d jobs"
                               % (count, "" if count == 1 else "s", len(targets)))
            else:
                for job_id, works in targets.items():
                    count = getattr(farm, command)(job_id, works)
                    reports.append(status_text.action_report(command, job_id, works, count or 0))
        except Exception as error:
            reports.append("%s failed: %s" % (command, _error_text(error)))
            self.failed.emit(None, "; ".join(reports))
            return
        self.acted.emit(self.name, "; ".join(reports))


def _with_failure(log: str, job: JobInfo, work_id: int) -> str:
    """An item's output, then why it failed and its traceback (as ``dccfutures log``)."""
    for work in job.work:
        trailer = status_text.failure_trailer(job.id, work) if work.work_id == work_id else ""
        if trailer:
            return log + ("\n" if log and not log.endswith("\n") else "") + trailer
    return log


def _error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


# Every worker thread and its worker, from start until the thread has finished. Destroying a
# running QThread aborts the process, and a monitor may go away (closed, its Maya control
# deleted, garbage collected) while its worker is still in a slow farm call: so the threads
# belong to this module, not to the monitors, and are let go only once they have finished.
_threads: Dict[QtCore.QThread, QtCore.QObject] = {}


class _Reaper(QtCore.QObject):
    """Lives on the UI thread: forgets a worker thread once it has finished."""

    @Slot()
    def forget(self) -> None:
        thread = self.sender()
        for known in list(_threads):
            if known is thread or known == thread:
                known.wait()   # 'finished' comes from the thread just before it returns
                del _threads[known]


_reaper: Optional[_Reaper] = None


def _start_thread(thread: QtCore.QThread, worker: QtCore.QObject) -> None:
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
    _threads[thread] = worker
    thread.finished.connect(_reaper.forget)   # queued: the reaper lives on the UI thread
    thread.start()


def _stop_thread(thread: QtCore.QThread, wait_ms: int = 0) -> None:
    """Quit a worker thread, waiting up to ``wait_ms`` for a farm call in progress; a slower
    one ends on its own, and the thread after it."""
    try:
        thread.quit()
        thread.wait(max(0, int(wait_ms)))
    except RuntimeError:   # already deleted by Qt
        pass


@atexit.register
def _stop_all(wait_ms: int = 2000) -> None:
    """At exit, end the threads that are left before Python tears them down."""
    for thread in list(_threads):
        _stop_thread(thread, wait_ms)


# -- table models ----------------------------------------------------------------------------

class _RowsModel(QtCore.QAbstractTableModel):
    """Rows of display strings keyed by an id; one column may hold a progress fraction."""

    def __init__(self, headers: Sequence[str], progress_column: int, status_column: int,
                 right: Sequence[int] = (), parent: Optional[QtCore.QObject] = None):
        super().__init__(parent)
        self.headers = list(headers)
        self.progress_column = progress_column
        self.status_column = status_column
        self.right = set(right)
        self.keys: List[Any] = []
        self.rows: List[Tuple[Any, ...]] = []
        self.fractions: List[float] = []

    def rowCount(self, parent=QtCore.QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QtCore.QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section, orientation,  # noqa: N802 - Qt's name
                   role=QtCore.Qt.ItemDataRole.DisplayRole):
        if (orientation == QtCore.Qt.Orientation.Horizontal
                and role == QtCore.Qt.ItemDataRole.DisplayRole):
            return self.headers[section]
        return None

    def data(self, index, role=QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self.rows[row][column]
        if role == PROGRESS_ROLE and column == self.progress_column:
            return self.fractions[row]
        if role == USER:
            return self.keys[row]
        if role == STATUS_ROLE:
            return self.rows[row][self.status_column]
        if role == QtCore.Qt.ItemDataRole.ForegroundRole and column == self.status_column:
            colour = STATUS_COLOURS.get(self.rows[row][column])
            return QtGui.QBrush(QtGui.QColor(colour)) if colour else None
        if role == QtCore.Qt.ItemDataRole.TextAlignmentRole and column in self.right:
            return int(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return str(self.rows[row][column])
        return None

    def set_rows(self, keys: List[Any], rows: List[Tuple[Any, ...]],
                 fractions: List[float]) -> bool:
        """Replace the rows; True when the set or order of rows changed (a reset), False when
        only their values did (selection and scrolling are kept as they are)."""
        if keys == self.keys:
            self.rows, self.fractions = rows, fractions
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, len(self.headers) - 1))
            return False
        self.beginResetModel()
        self.keys, self.rows, self.fractions = keys, rows, fractions
        self.endResetModel()
        return True


class ProgressDelegate(QtWidgets.QStyledItemDelegate):
    """Draws a cell's progress fraction as a bar in its row's status colour, with the cell's
    text as the label inside the bar (drawn here: some styles put a bar's label beside it, or
    leave it out)."""

    def paint(self, painter, option, index):
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            return super().paint(painter, option, index)
        fraction = min(1.0, max(0.0, fraction))
        bar = QtWidgets.QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(round(1000 * fraction))
        bar.textVisible = False
        bar.state = option.state | QtWidgets.QStyle.StateFlag.State_Horizontal
        bar.palette = QtGui.QPalette(option.palette)
        colour = STATUS_COLOURS.get(index.data(STATUS_ROLE))
        if colour:
            bar.palette.setColor(QtGui.QPalette.ColorRole.Highlight, QtGui.QColor(colour))
        if option.state & QtWidgets.QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        style = option.widget.style() if option.widget is not None else application().style()
        style.drawControl(QtWidgets.QStyle.ControlElement.CE_ProgressBar, bar, painter)
        self._label(painter, bar, str(index.data() or ""), fraction)

    @staticmethod
    def _label(painter, bar, text: str, fraction: float) -> None:
        """The label centred in the bar: light over the filled part, dark over the rest."""
        rect = bar.rect
        filled = int(round(rect.width() * fraction))
        centre = QtCore.Qt.AlignmentFlag.AlignCenter
        painter.save()
        for clip, colour in ((QtCore.QRect(rect.left(), rect.top(), filled, rect.height()),
                              QtGui.QColor("white")),
                             (QtCore.QRect(rect.left() + filled, rect.top(),
                                           rect.width() - filled, rect.height()),
                              bar.palette.color(QtGui.QPalette.ColorRole.Text))):
            if clip.width() > 0:
                painter.setClipRect(clip)
                painter.setPen(colour)
                painter.drawText(rect, int(centre), text)
        painter.restore()


# -- the monitor -----------------------------------------------------------------------------

class FarmMonitor(QtWidgets.QWidget):
    """Jobs, a job's work items and an item's log tail, refreshed every ``interval`` seconds.

    ``farm`` is a farm name (``"local"``, ``"qube"``), a :class:`~dccfutures.farms.base.Farm`
    instance, or None for the config's farm. Kill, retry, block and unblock act on the selected
    work items when the items table was used last, else on the selected jobs.
    """

    refresh_requested = Signal(object)
    action_requested = Signal(object)
    farm_requested = Signal(str)
    refreshed = Signal()             # after the UI took in a refresh (tests wait on it)

    def __init__(self, farm: Any = None, interval: float = 1.0,
                 parent: Optional[QtWidgets.QWidget] = None,
                 config: Optional[config_module.Config] = None, limit: int = JOB_LIMIT):
        super().__init__(parent)
        self.setObjectName(OBJECT_NAME)
        self.setWindowTitle("Farm Monitor")
        self.limit = limit
        self.confirm_kill = True
        self._in_flight = False
        self._again = False
        self._scope = "jobs"
        self._restoring = False
        self._stopped = False
        self._log_key: Optional[WorkRef] = None
        self._shown_job: Optional[JobId] = None  # the farm's own id: an int or a string
        self._notice: Optional[Tuple[str, float, bool]] = None
        self._last: Tuple[str, bool] = ("", False)

        given: Dict[str, Farm] = {}
        config_error = None
        if isinstance(farm, Farm):
            given[farm.name] = farm
            name = farm.name
        else:
            name = farm
            if name is None:
                try:
                    config = config or config_module.load()
                    name = config.farm
                except Exception as error:
                    config_error = "config: %s" % _error_text(error)
                    name = "local"
        self._build(sorted(set(farms_module.FARMS) | set(given)), name)

        self._thread = QtCore.QThread()
        self._thread.setObjectName("dccfutures-monitor")
        self._worker = _FarmWorker(given, config)
        self._worker.moveToThread(self._thread)
        self.farm_requested.connect(self._worker.set_farm)
        self.refresh_requested.connect(self._worker.refresh)
        self.action_requested.connect(self._worker.act)
        self._worker.refreshed.connect(self._on_refreshed)
        self._worker.failed.connect(self._on_failed)
        self._worker.acted.connect(self._on_acted)
        _start_thread(self._thread, self._worker)
        thread = self._thread
        self.destroyed.connect(lambda *_: _stop_thread(thread))

        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self.set_interval(interval)
        if config_error:
            self._status(config_error, error=True)
        self._switch_farm(name)
        self._timer.start()

    # -- building ----------------------------------------------------------------------

    def _build(self, farm_names: List[str], current: str) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Farm:"))
        self.farm_combo = QtWidgets.QComboBox()
        self.farm_combo.addItems(farm_names if current in farm_names else farm_names + [current])
        self.farm_combo.setCurrentText(current)
        self.farm_combo.currentTextChanged.connect(self._switch_farm)
        bar.addWidget(self.farm_combo)
        bar.addSpacing(12)
        self.buttons: Dict[str, QtWidgets.QPushButton] = {}
        for action in ACTIONS:
            button = QtWidgets.QPushButton(action.capitalize())
            button.setObjectName("%sButton" % action)
            button.setToolTip("%s the selected work items, or the selected jobs"
                              % action.capitalize())
            button.clicked.connect(lambda _=False, a=action: self.act(a))
            bar.addWidget(button)
            self.buttons[action] = button
        bar.addStretch(1)
        bar.addWidget(QtWidgets.QLabel("Refresh every"))
        self.interval_spin = QtWidgets.QDoubleSpinBox()
        self.interval_spin.setRange(0.1, 3600.0)
        self.interval_spin.setSingleStep(0.5)
        self.interval_spin.setSuffix(" s")
        self.interval_spin.valueChanged.connect(lambda value: self.set_interval(value))
        bar.addWidget(self.interval_spin)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        bar.addWidget(self.refresh_button)
        layout.addLayout(bar)

        self.jobs_model = _RowsModel(("ID", "Name", "Status", "Progress", "Items", "Priority",
                                      "User", "Submitted"), 3, 2, right=(0, 4, 5), parent=self)
        self.jobs_view = self._table(self.jobs_model, "jobsView")
        self.work_model = _RowsModel(("#", "Name", "Status", "Progress", "Elapsed", "Reason",
                                      "Attempts", "Host", "Message"), 3, 2, right=(0, 4, 6),
                                     parent=self)
        self.work_view = self._table(self.work_model, "workView")
        self.jobs_view.selectionModel().selectionChanged.connect(self._on_job_selection)
        self.work_view.selectionModel().selectionChanged.connect(self._on_work_selection)

        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setObjectName("logView")
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setMaximumBlockCount(LOG_LINES * 4)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.log_view.setFont(font)
        self.log_view.setPlaceholderText("Select a work item to follow its output")
        self.log_label = QtWidgets.QLabel("Log")

        lower = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        lower.addWidget(self.work_view)
        log_box = QtWidgets.QWidget()
        log_layout = QtWidgets.QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(self.log_label)
        log_layout.addWidget(self.log_view)
        lower.addWidget(log_box)
        lower.setSizes([580, 320])  # the items table has the most to show
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        splitter.addWidget(self.jobs_view)
        splitter.addWidget(lower)
        splitter.setSizes([300, 300])
        layout.addWidget(splitter, 1)

        self.status_label = QtWidgets.QLabel()
        self.status_label.setObjectName("statusLine")
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        self.resize(960, 640)

    def _table(self, model: _RowsModel, name: str) -> QtWidgets.QTableView:
        view = QtWidgets.QTableView()
        view.setObjectName(name)
        view.setModel(model)
        view.setItemDelegateForColumn(model.progress_column, ProgressDelegate(view))
        view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        view.verticalHeader().setVisible(False)
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setHighlightSections(False)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        scope = "work" if model is getattr(self, "work_model", None) else "jobs"
        view.customContextMenuRequested.connect(
            lambda point, v=view, s=scope: self._context_menu(v, s, point))
        view.installEventFilter(self)
        return view

    def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
        if event.type() == QtCore.QEvent.Type.FocusIn:
            if watched is self.work_view and self.work_view.selectionModel().hasSelection():
                self._scope = "work"
            elif watched is self.jobs_view:
                self._scope = "jobs"
        return super().eventFilter(watched, event)

    # -- public ------------------------------------------------------------------------

    @property
    def farm_name(self) -> str:
        return self.farm_combo.currentText()

    def set_interval(self, seconds: float) -> None:
        """Refresh every ``seconds`` (0.1 at least)."""
        seconds = max(0.1, float(seconds))
        self._timer.setInterval(int(seconds * 1000))
        if abs(self.interval_spin.value() - seconds) > 1e-9:
            self.interval_spin.blockSignals(True)
            self.interval_spin.setValue(seconds)
            self.interval_spin.blockSignals(False)

    def interval(self) -> float:
        return self._timer.interval() / 1000.0

    def refresh(self) -> None:
        """Ask the worker for a fresh view now, unless one is already on its way (then one more
        follows it, so a change of selection is never lost and requests never pile up)."""
        if self._stopped:
            return
        if self._in_flight:
            self._again = True
            return
        self._in_flight = True
        self._again = False
        self.refresh_requested.emit({"farm": self.farm_name, "limit": self.limit,
                                     "job": self.current_job(), "work": self.current_work()})

    def refreshing(self) -> bool:
        """True while a refresh is on its way (at most one ever is)."""
        return self._in_flight

    def selected_jobs(self) -> List[JobId]:
        return self._selected_keys(self.jobs_view)

    def selected_work(self) -> List[int]:
        return self._selected_keys(self.work_view)

    def current_job(self) -> Optional[JobId]:
        """The job whose items are shown: the selected job (the first if several)."""
        jobs = self.selected_jobs()
        return jobs[0] if jobs else None

    def current_work(self) -> Optional[int]:
        """The work item whose log is shown."""
        works = self.selected_work()
        return works[0] if works and self.current_job() is not None else None

    def select_job(self, job_id: JobId) -> bool:
        return self._select_keys(self.jobs_view, [job_id], user=True)

    def select_work(self, work_id: int) -> bool:
        return self._select_keys(self.work_view, [work_id], user=True)

    def targets(self, scope: Optional[str] = None) -> Dict[JobId, Optional[List[int]]]:
        """What an action would act on: ``{job_id: work_ids or None}``."""
        scope = scope or self._scope
        job = self.current_job()
        works = self.selected_work()
        if scope == "work" and job is not None and works:
            return {job: works}
        return {job_id: None for job_id in self.selected_jobs()}

    def act(self, action: str, scope: Optional[str] = None) -> bool:
        """Run ``action`` (kill, retry, block, unblock) on the selection, on the worker thread.
        False when nothing is selected or the artist did not confirm a kill."""
        if action not in ACTIONS:
            raise ValueError("unknown action %r (expected one of: %s)"
                             % (action, ", ".join(ACTIONS)))
        targets = self.targets(scope)
        if not targets:
            self._notify("select jobs or work items to %s" % action)
            return False
        if action == "kill" and self.confirm_kill and not self._confirm_kill(targets):
            return False
        self._notify("%s: sent to the %s farm..." % (action, self.farm_name))
        self.action_requested.emit({"farm": self.farm_name, "action": action,
                                    "targets": targets})
        return True

    def status_text(self) -> str:
        return self.status_label.text()

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    def stop(self, wait: float = 1.0) -> None:
        """Stop refreshing and end the worker thread (waiting up to ``wait`` seconds for a farm
        call in progress; a slower one finishes on its own)."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        _stop_thread(self._thread, int(wait * 1000))

    def closeEvent(self, event):  # noqa: N802 - Qt's name
        self.stop()
        super().closeEvent(event)

    # -- reacting ----------------------------------------------------------------------

    def _switch_farm(self, name: str) -> None:
        if self._stopped:
            return
        self._in_flight = False  # an answer from the farm we leave is dropped on arrival
        self._again = False
        self._restoring = True
        try:
            self.jobs_model.set_rows([], [], [])
            self.work_model.set_rows([], [], [])
        finally:
            self._restoring = False
        self._set_log(None, None)
        self._status("connecting to the %s farm..." % name)
        self.farm_requested.emit(name)
        self.refresh()

    @Slot(object)
    def _on_refreshed(self, snapshot: Dict[str, Any]) -> None:
        if self._stopped or snapshot["farm"] != self.farm_name:
            return
        self._in_flight = False
        self._show_jobs(snapshot["jobs"], snapshot["fractions"])
        request = snapshot["request"]
        if request.get("job") == self.current_job():
            self._show_work(snapshot["job"])
            if request.get("work") == self.current_work():
                key = None if request.get("work") is None else (request["job"], request["work"])
                self._set_log(key, snapshot["log"])
            else:
                self._again = True
        else:
            self._again = True
        jobs = snapshot["jobs"]
        self._status("%s farm: %d job%s, %s - updated %s" % (
            snapshot["farm"], len(jobs), "" if len(jobs) == 1 else "s",
            status_text.tally_text(_sum_tallies(jobs)) or "no work",
            time.strftime("%H:%M:%S", time.localtime(snapshot["time"]))))
        self.refreshed.emit()
        if self._again:
            self.refresh()

    @Slot(object, str)
    def _on_failed(self, request: Optional[Dict[str, Any]], message: str) -> None:
        if self._stopped:
            return
        if request is None:               # an action failed
            self._notify(message, error=True)
            self.refresh()
            return
        if request.get("farm") != self.farm_name:
            return
        self._in_flight = False
        self._status(message, error=True)
        if self._again:
            self.refresh()

    @Slot(str, str)
    def _on_acted(self, farm: str, message: str) -> None:
        if self._stopped:
            return
        self._notify(message)
        self.refresh()

    def _on_job_selection(self, *_: Any) -> None:
        if self._restoring:
            return
        self._scope = "jobs"
        if self.current_job() != self._shown_job:
            self._shown_job = None
            self._restoring = True
            try:
                self.work_model.set_rows([], [], [])
            finally:
                self._restoring = False
            self._set_log(None, None)
        self.refresh()

    def _on_work_selection(self, *_: Any) -> None:
        if self._restoring:
            return
        if self.work_view.selectionModel().hasSelection():
            self._scope = "work"
        key = (self.current_job(), self.current_work())
        if key != self._log_key:
            self._set_log(None, None)
        self.refresh()

    # -- showing -----------------------------------------------------------------------

    def _show_jobs(self, jobs: List[JobInfo], fractions: Dict[JobId, float]) -> None:
        rows, progress = [], []
        for job in jobs:
            total = sum(job.tally.values())
            fraction = fractions.get(job.id, job.progress)
            progress.append(fraction)
            trouble = status_text.problems(job.tally)
            rows.append((str(job.id), status_text.clip(job.name, 80), job.status,
                         "%d%%" % status_text.percent(fraction),
                         "%d/%d" % (status_text.completed(job.tally), total)
                         + (", " + trouble if trouble else ""), str(job.priority),
                         status_text.clip(job.user or "-", 40), status_text.when(job.submitted)))
        self._update(self.jobs_view, self.jobs_model, [job.id for job in jobs], rows, progress)

    def _show_work(self, job: Optional[JobInfo]) -> None:
        self._shown_job = job.id if job is not None else None
        work = job.work if job is not None else []
        now = time.time()
        progress = [1.0 if w.status == COMPLETE else (w.progress or 0.0) for w in work]
        rows = [(str(w.work_id), status_text.clip(w.name or "", 60), w.status,
                 "%d%%" % status_text.percent(fraction), status_text.elapsed(w, now),
                 status_text.clip(status_text.reason(w), 200), str(w.attempts),
                 status_text.clip(w.host or "-", 80),
                 status_text.clip(w.message or "", 120)) for w, fraction in zip(work, progress)]
        self._update(self.work_view, self.work_model, [w.work_id for w in work], rows, progress)

    def _update(self, view: QtWidgets.QTableView, model: _RowsModel, keys: List[Any],
                rows: List[Tuple[Any, ...]], progress: List[float]) -> None:
        selected = self._selected_keys(view)
        first = not model.rows
        self._restoring = True
        try:
            if model.set_rows(keys, rows, progress):
                self._select_keys(view, selected)
        finally:
            self._restoring = False
        if first and rows:
            view.resizeColumnsToContents()
            view.setColumnWidth(model.progress_column,
                                max(PROGRESS_WIDTH, view.columnWidth(model.progress_column)))
            view.horizontalHeader().setStretchLastSection(True)
        if rows:
            self._fit_columns(view, model)
        if selected and not set(selected) & set(keys):  # the selection went away (removed)
            if view is self.jobs_view:
                self._on_job_selection()
            else:
                self._on_work_selection()

    @staticmethod
    def _fit_columns(view: QtWidgets.QTableView, model: _RowsModel) -> None:
        """Keep what changes after the first sizing readable: the status column fits every
        status (``complete`` is wider than the ``running`` it was sized for), elapsed times
        fit an hour's, and a failure's reason widens its column up to ``REASON_WIDTH``."""
        metrics = view.fontMetrics()
        pad = 2 * (view.style().pixelMetric(
            QtWidgets.QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1) + 6
        wanted = {model.status_column: max(metrics.horizontalAdvance(s)
                                           for s in STATUSES + (REMOVED,)) + pad}
        for column, header in enumerate(model.headers):
            if header == "Elapsed":
                wanted[column] = metrics.horizontalAdvance("0:00:00") + pad
            elif header == "Reason":
                wanted[column] = min(REASON_WIDTH, view.sizeHintForColumn(column))
        for column, width in wanted.items():
            if view.columnWidth(column) < width:
                view.setColumnWidth(column, width)

    def _set_log(self, key: Optional[WorkRef], text: Optional[str]) -> None:
        if key is None or text is None:
            if key is None:
                self._log_key = None
                self.log_label.setText("Log")
                self.log_view.clear()
            return
        if key != self._log_key:
            self._log_key = key
            self.log_label.setText("Log of %s:%d (last %d lines)" % (key[0], key[1], LOG_LINES))
            self.log_view.setPlainText(text)
            self._scroll_to_end()
            return
        if text == self.log_view.toPlainText():
            return
        scroll = self.log_view.verticalScrollBar()
        following = scroll.value() >= scroll.maximum() - 2
        position = scroll.value()
        self.log_view.setPlainText(text)
        if following:
            self._scroll_to_end()
        else:
            scroll.setValue(position)

    def _scroll_to_end(self) -> None:
        scroll = self.log_view.verticalScrollBar()
        scroll.setValue(scroll.maximum())

    def _status(self, message: str, error: bool = False) -> None:
        """Show the farm's state (or why it cannot be read), after a fresh action notice."""
        self._last = (message, error)
        text, bad = message, error
        if self._notice is not None:
            notice, when, notice_error = self._notice
            if time.monotonic() - when < NOTICE_SECONDS:
                text, bad = "%s  |  %s" % (notice, message), error or notice_error
            else:
                self._notice = None
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #e74c3c;" if bad else "")

    def _notify(self, message: str, error: bool = False) -> None:
        """Show what an action did (or why not) for a few seconds, before the farm's state."""
        self._notice = (message, time.monotonic(), error)
        self._status(*self._last)

    # -- selection helpers -------------------------------------------------------------

    @staticmethod
    def _selected_keys(view: QtWidgets.QTableView) -> List[Any]:
        model = view.model()
        rows = sorted(index.row() for index in view.selectionModel().selectedRows())
        return [model.keys[row] for row in rows if row < len(model.keys)]

    def _select_keys(self, view: QtWidgets.QTableView, keys: Sequence[Any],
                     user: bool = False) -> bool:
        model = view.model()
        wanted = set(keys)
        selection = QtCore.QItemSelection()
        for row, key in enumerate(model.keys):
            if key in wanted:
                selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
        flags = (QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QtCore.QItemSelectionModel.SelectionFlag.Rows)
        view.selectionModel().select(selection, flags)
        if user and not selection.isEmpty():
            view.setCurrentIndex(selection.indexes()[0])
            view.selectionModel().select(selection, flags)
        return not selection.isEmpty()

    # -- menus and confirmations -------------------------------------------------------

    def _context_menu(self, view: QtWidgets.QTableView, scope: str, point: QtCore.QPoint) -> None:
        self._scope = scope
        menu = self.context_menu(scope)
        exec_menu = getattr(menu, "exec", None) or getattr(menu, "exec_")
        exec_menu(view.viewport().mapToGlobal(point))

    def context_menu(self, scope: str) -> QtWidgets.QMenu:
        """The menu of a table (``"jobs"`` or ``"work"``): its actions act on that table's
        selection."""
        menu = QtWidgets.QMenu(self)
        what = "work items" if scope == "work" else "jobs"
        enabled = bool(self.targets(scope)) if scope == "jobs" else bool(self.selected_work())
        for action in ACTIONS:
            item = menu.addAction("%s selected %s" % (action.capitalize(), what))
            item.setEnabled(enabled)
            item.triggered.connect(lambda _=False, a=action, s=scope: self.act(a, s))
        menu.addSeparator()
        menu.addAction("Refresh", self.refresh)
        return menu

    def _confirm_kill(self, targets: Dict[JobId, Optional[List[int]]]) -> bool:
        if len(targets) == 1:
            job_id, works = next(iter(targets.items()))
            what = ("job %s" % job_id if works is None else "%d work item%s of job %s"
                    % (len(works), "" if len(works) == 1 else "s", job_id))
        else:
            what = "%d jobs" % len(targets)
        answer = QtWidgets.QMessageBox.question(
            self, "Kill",
            "Kill %s on the %s farm? Running work stops now." % (what, self.farm_name),
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes


def _sum_tallies(jobs: Sequence[JobInfo]) -> Dict[str, int]:
    total: Dict[str, int] = {}
    for job in jobs:
        for status, count in job.tally.items():
            total[status] = total.get(status, 0) + count
    return total


# -- hosting: standalone, Maya, Houdini -------------------------------------------------------

_windows: "weakref.WeakValueDictionary[str, FarmMonitor]" = weakref.WeakValueDictionary()


def _alive(widget: Optional[QtWidgets.QWidget]) -> bool:
    if widget is None:
        return False
    try:
        from qtpy import shiboken
        return bool(shiboken.isValid(widget))
    except Exception:
        try:
            widget.objectName()
            return True
        except RuntimeError:
            return False


def show(farm: Any = None, interval: float = 1.0,
         parent: Optional[QtWidgets.QWidget] = None) -> FarmMonitor:
    """A floating monitor window over ``parent`` (default: the DCC's main window); the one
    already open is raised instead of opening a second."""
    application()
    existing = _windows.get("window")
    if existing is not None and _alive(existing) and not existing._stopped:
        existing.show()
        existing.raise_()
        existing.activateWindow()
        return existing
    monitor = FarmMonitor(farm, interval, parent if parent is not None else main_window())
    monitor.setWindowFlags(QtCore.Qt.WindowType.Window)
    monitor.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    _windows["window"] = monitor
    _keep.add(monitor)
    monitor.destroyed.connect(lambda *_: _keep.discard(monitor))
    monitor.show()
    return monitor


_keep: Set[FarmMonitor] = set()  # floating windows whose Python side must outlive this call


def show_in_houdini(farm: Any = None, interval: float = 1.0) -> FarmMonitor:
    """The monitor as a floating window parented to Houdini's main window."""
    import hou
    return show(farm, interval, parent=hou.qt.mainWindow())


def dock_in_maya(farm: Any = None, interval: float = 1.0) -> FarmMonitor:
    """The monitor in a Maya workspace control (dockable, restored with the workspace). Calling
    it again shows the control that exists instead of making another."""
    from maya import cmds
    if cmds.workspaceControl(WORKSPACE_CONTROL, exists=True):
        cmds.workspaceControl(WORKSPACE_CONTROL, edit=True, visible=True, restore=True)
    else:
        cmds.workspaceControl(
            WORKSPACE_CONTROL, label="Farm Monitor", retain=False, floating=True,
            initialWidth=960, initialHeight=640,
            # maya-stubs types uiScript as a callable; Maya documents a script string.
            uiScript="import dccfutures.ui.monitor as m; "  # type: ignore[arg-type]
                     "m._fill_maya_control()")
    return _fill_maya_control(farm, interval)


def _fill_maya_control(farm: Any = None, interval: float = 1.0) -> FarmMonitor:
    """Put a monitor in the workspace control unless one is there (Maya also calls this when
    it restores the control with a saved workspace)."""
    from maya import OpenMayaUI
    from qtpy import shiboken
    existing = _windows.get("maya")
    if existing is not None and _alive(existing) and not existing._stopped:
        return existing
    control = OpenMayaUI.MQtUtil.findControl(WORKSPACE_CONTROL)
    if control is None:
        raise RuntimeError("Maya has no workspace control %r" % WORKSPACE_CONTROL)
    parent = shiboken.wrapInstance(int(control), QtWidgets.QWidget)
    found = parent.findChild(QtWidgets.QWidget, OBJECT_NAME)
    if isinstance(found, FarmMonitor) and not found._stopped:
        _windows["maya"] = found
        return found
    monitor = FarmMonitor(farm, interval, parent)
    OpenMayaUI.MQtUtil.addWidgetToMayaLayout(int(shiboken.getCppPointer(monitor)[0]),
                                             int(control))
    _windows["maya"] = monitor
    return monitor


@contextlib.contextmanager
def _quit_on_interrupt(app: QtWidgets.QApplication) -> Iterator[List[bool]]:
    """Ctrl-C quits the app (exit code 130). Python runs a signal handler only between its
    own bytecodes, and Qt's event loop runs none while idle: a timer lets Python in every
    ``INTERRUPT_CHECK_MS``. Yields a list that is true once interrupted."""
    interrupted: List[bool] = []

    def on_interrupt(*_: Any) -> None:
        interrupted.append(True)
        app.exit(INTERRUPTED)

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: whoever runs us handles Ctrl-C
        yield interrupted
        return
    ticker = QtCore.QTimer()
    # Also quits when Ctrl-C came just before the event loop started (exit() did nothing).
    ticker.timeout.connect(lambda: interrupted and app.exit(INTERRUPTED))
    ticker.start(INTERRUPT_CHECK_MS)
    try:
        yield interrupted
    finally:
        ticker.stop()
        signal.signal(signal.SIGINT, previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``dccfutures monitor [--farm NAME] [--interval S]``: the monitor as a standalone app;
    Ctrl-C in its terminal closes it."""
    parser = argparse.ArgumentParser(prog="dccfutures monitor",
                                     description="Watch and steer farm jobs in a window.")
    parser.add_argument("--farm", choices=sorted(farms_module.FARMS),
                        help="the farm to show (default: the config's)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="seconds between refreshes (default: 1)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be more than 0, got %g" % args.interval)
    app = application()
    with _quit_on_interrupt(app) as interrupted:
        monitor = FarmMonitor(args.farm, args.interval)
        monitor.show()
        code = INTERRUPTED if interrupted else int(exec_(app) or 0)
    monitor.stop(wait=2.0)
    monitor.hide()
    monitor.deleteLater()
    if any(thread.isRunning() for thread in _threads):
        # A farm call that hangs (an unreachable Qube supervisor) must not hold the command,
        # nor abort it as Python tears a running QThread down: leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
