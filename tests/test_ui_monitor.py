"""The farm monitor (dccfutures.ui.monitor) on real Qt (PySide6, offscreen), watching real jobs
on the local farm and on the fake Qube; screenshots go to .test-artifacts/screenshots/."""
import concurrent.futures
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import pytest  # noqa: E402
from qtpy import QtCore, QtWidgets  # noqa: E402

from dccfutures.errors import FarmError  # noqa: E402
from dccfutures.farms.local import LocalFarm  # noqa: E402
from dccfutures.ui import monitor as monitor_module  # noqa: E402
from dccfutures.ui.monitor import FarmMonitor  # noqa: E402
from dccfutures.ui import qt  # noqa: E402
from tests.conftest import FAKES  # noqa: E402
from tests.uihelpers import chatty_then_wait, screenshot, without_dcc  # noqa: E402

no_dcc = pytest.fixture(without_dcc, name="no_dcc")

LEFT = QtCore.Qt.MouseButton.LeftButton
WAIT_MS = 8000


def make(qtbot, farm=None, interval=0.1):
    monitor = FarmMonitor(farm, interval=interval)
    qtbot.addWidget(monitor)
    monitor.confirm_kill = False
    monitor.show()
    qtbot.waitExposed(monitor)
    return monitor


def row(model, key):
    try:
        return model.rows[model.keys.index(key)]
    except ValueError:
        return None


def job_status(monitor, job_id):
    found = row(monitor.jobs_model, job_id)
    return found and found[2]


def work_status(monitor, work_id):
    found = row(monitor.work_model, work_id)
    return found and found[2]


def wait_status(qtbot, monitor, job_id, status, timeout=WAIT_MS):
    qtbot.waitUntil(lambda: job_status(monitor, job_id) == status, timeout=timeout)


def test_the_monitor_follows_a_running_job_and_its_log(qtbot, local_executor, tmp_path):
    flag = str(tmp_path / "go")
    future = local_executor.submit_ext(chatty_then_wait, [flag], name="monitor me")
    monitor = make(qtbot)
    assert monitor.farm_name == "local"
    wait_status(qtbot, monitor, future.job_id, "running")
    assert row(monitor.jobs_model, future.job_id)[1] == "monitor me"

    assert monitor.select_job(future.job_id)
    qtbot.waitUntil(lambda: work_status(monitor, 0) == "running", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: row(monitor.work_model, 0)[3] == "50%", timeout=WAIT_MS)
    assert monitor.select_work(0)
    qtbot.waitUntil(lambda: "rendering frame 3" in monitor.log_text(), timeout=WAIT_MS)
    assert "to stderr too" in monitor.log_text()
    assert "%d:0" % future.job_id in monitor.log_label.text()
    screenshot(monitor, "monitor.png")

    open(flag, "w").close()
    wait_status(qtbot, monitor, future.job_id, "complete")
    assert future.result(timeout=10) == "done"
    qtbot.waitUntil(lambda: monitor.log_text().rstrip().endswith("done"), timeout=WAIT_MS)
    assert row(monitor.jobs_model, future.job_id)[4] == "1/1"
    assert "local farm" in monitor.status_text()


def test_kill_from_the_monitor_ends_the_job(qtbot, local_executor, tmp_path):
    future = local_executor.submit(chatty_then_wait, str(tmp_path / "never"))
    monitor = make(qtbot)
    wait_status(qtbot, monitor, future.job_id, "running")
    monitor.select_job(future.job_id)
    qtbot.mouseClick(monitor.buttons["kill"], LEFT)
    wait_status(qtbot, monitor, future.job_id, "killed")
    concurrent.futures.wait([future], timeout=10)
    assert future.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=0)
    assert "killed 1 work item of job %d" % future.job_id in monitor.status_text()


def test_a_kill_needs_confirming(qtbot, local_executor, tmp_path, monkeypatch):
    future = local_executor.submit(chatty_then_wait, str(tmp_path / "go"))
    monitor = make(qtbot)
    monitor.confirm_kill = True
    wait_status(qtbot, monitor, future.job_id, "running")
    monitor.select_job(future.job_id)
    asked = []

    def answer(parent, title, text, *args):
        asked.append(text)
        return QtWidgets.QMessageBox.StandardButton.No
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", answer)
    assert monitor.act("kill") is False
    assert asked == ["Kill job %d on the local farm? Running work stops now." % future.job_id]
    open(str(tmp_path / "go"), "w").close()
    assert future.result(timeout=10) == "done"


def test_item_actions_act_on_the_selected_items(qtbot, local_executor, tmp_path):
    flag = str(tmp_path / "go")
    results = local_executor.map(chatty_then_wait, [flag, flag], name="two items")
    monitor = make(qtbot)
    job_id = local_executor.farm.jobs(limit=1)[0].id
    wait_status(qtbot, monitor, job_id, "running")
    monitor.select_job(job_id)
    qtbot.waitUntil(lambda: work_status(monitor, 1) == "running", timeout=WAIT_MS)
    monitor.select_work(1)
    assert monitor.targets() == {job_id: [1]}
    qtbot.mouseClick(monitor.buttons["kill"], LEFT)
    qtbot.waitUntil(lambda: work_status(monitor, 1) == "killed", timeout=WAIT_MS)
    assert work_status(monitor, 0) == "running" and job_status(monitor, job_id) == "running"

    monitor.select_work(1)
    qtbot.mouseClick(monitor.buttons["retry"], LEFT)
    qtbot.waitUntil(lambda: work_status(monitor, 1) in ("pending", "running"), timeout=WAIT_MS)
    open(flag, "w").close()
    wait_status(qtbot, monitor, job_id, "complete")
    qtbot.waitUntil(lambda: work_status(monitor, 1) == "complete", timeout=WAIT_MS)
    with pytest.raises(concurrent.futures.CancelledError):
        list(results)                                  # the killed item's future was cancelled


def test_unblock_and_block_from_the_monitor(qtbot, local_executor):
    from tests.uihelpers import item_index
    future = local_executor.submit_ext(item_index, status="blocked")
    monitor = make(qtbot)
    wait_status(qtbot, monitor, future.job_id, "blocked")
    monitor.select_job(future.job_id)
    menu = monitor.context_menu("jobs")
    labels = [action.text() for action in menu.actions() if action.text()]
    assert labels == ["Kill selected jobs", "Retry selected jobs", "Block selected jobs",
                      "Unblock selected jobs", "Refresh"]
    next(a for a in menu.actions() if a.text() == "Unblock selected jobs").trigger()
    wait_status(qtbot, monitor, future.job_id, "complete")
    assert future.result(timeout=10) == 0
    monitor.act("block")
    qtbot.waitUntil(lambda: "nothing was pending" in monitor.status_text(), timeout=WAIT_MS)


def test_failed_items_say_why_and_every_status_has_its_colour(qtbot, local_executor, tmp_path):
    from tests import workloads
    flag, never = str(tmp_path / "go"), str(tmp_path / "never")
    with local_executor.batch(name="every status", cpus=1) as batch:  # one item at a time
        futures = [batch.submit(workloads.fail_on, 1, 2), batch.submit(workloads.fail_on, 2, 2),
                   batch.submit(chatty_then_wait, flag), batch.submit(workloads.wait_for_file, never),
                   batch.submit_ext(workloads.add, [1, 2], status="blocked")]
    job_id = futures[0].job_id
    with pytest.raises(ValueError):
        futures[1].result(30)
    qtbot.waitUntil(lambda: futures[2].progress == 0.5, timeout=WAIT_MS)
    assert futures[3].cancel()                   # killed before it ran
    monitor = make(qtbot)
    wait_status(qtbot, monitor, job_id, "running")
    monitor.select_job(job_id)
    expected = ["complete", "failed", "running", "killed", "blocked"]
    qtbot.waitUntil(lambda: [work_status(monitor, i) for i in range(5)] == expected,
                    timeout=WAIT_MS)
    model, headers = monitor.work_model, monitor.work_model.headers
    reason, elapsed = headers.index("Reason"), headers.index("Elapsed")
    assert row(model, 1)[reason] == "ValueError: 2 is unlucky"
    assert [row(model, i)[reason] for i in (0, 2, 3, 4)] == ["", "", "", ""]
    assert row(model, 2)[elapsed].count(":") == 1 and row(model, 4)[elapsed] == "-"
    colours = [model.data(model.index(i, 2), QtCore.Qt.ItemDataRole.ForegroundRole).color().name()
               for i in range(5)]
    assert colours == [monitor_module.STATUS_COLOURS[s] for s in expected]
    assert len(set(colours)) == 5
    assert row(monitor.jobs_model, job_id)[3:5] == ("30%", "1/5, 1 failed, 1 killed")

    monitor.select_work(1)                   # the log: the item's output, then its traceback
    qtbot.waitUntil(lambda: "Traceback" in monitor.log_text(), timeout=WAIT_MS)
    assert "--- %d:1 failed: ValueError: 2 is unlucky ---" % job_id in monitor.log_text()
    assert monitor.log_text().rstrip().endswith("ValueError: 2 is unlucky")
    view = monitor.work_view
    for column in range(len(headers) - 1):   # nothing cut (the last column stretches)
        assert view.columnWidth(column) >= view.sizeHintForColumn(column), headers[column]
    screenshot(monitor, "monitor_failures.png")
    open(flag, "w").close()
    assert futures[2].result(30) == "done"


def test_the_status_column_fits_complete_once_running_work_ends(qtbot, local_executor,
                                                                  tmp_path):
    flag = str(tmp_path / "go")
    future = local_executor.submit(chatty_then_wait, flag)
    monitor = make(qtbot)
    wait_status(qtbot, monitor, future.job_id, "running")
    monitor.select_job(future.job_id)
    qtbot.waitUntil(lambda: work_status(monitor, 0) == "running", timeout=WAIT_MS)
    open(flag, "w").close()                  # the columns were sized for "running"
    qtbot.waitUntil(lambda: work_status(monitor, 0) == "complete", timeout=WAIT_MS)
    for view in (monitor.work_view, monitor.jobs_view):
        assert view.columnWidth(2) >= view.sizeHintForColumn(2)
    screenshot(monitor, "monitor_complete.png")


def test_ctrl_c_ends_the_standalone_monitor(farm_home):
    import signal
    import subprocess
    from tests.conftest import ROOT
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    child = subprocess.Popen([sys.executable, "-m", "dccfutures", "monitor", "--farm", "local",
                              "--interval", "0.2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        database = os.path.join(farm_home, "farm.db")
        deadline = time.monotonic() + 30
        while not os.path.exists(database) and time.monotonic() < deadline:
            time.sleep(0.05)      # its worker thread opened the farm: its window is up
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_the_monitor_and_the_cli_share_their_wording_without_importing_each_other():
    import subprocess
    code = "import sys, dccfutures.ui.monitor; print('dccfutures.cli' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=60)
    assert result.stdout.strip() == "False", result.stderr


class SlowFarm(LocalFarm):
    """A real local farm whose job listing takes long, as a remote farm's may."""

    delay = 1.5

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def jobs(self, limit=50, job_ids=None):
        self.calls.append(time.monotonic())
        time.sleep(self.delay)
        return super().jobs(limit, job_ids)


class BrokenFarm(LocalFarm):
    def jobs(self, limit=50, job_ids=None):
        raise FarmError("the database is on fire")


def test_a_slow_farm_never_freezes_the_ui_nor_piles_up_requests(qtbot, farm_home):
    farm = SlowFarm(home=farm_home)
    try:
        monitor = make(qtbot, farm, interval=0.05)
        ticks = []
        timer = QtCore.QTimer()
        timer.timeout.connect(lambda: ticks.append(time.monotonic()))
        timer.start(20)
        qtbot.waitUntil(lambda: len(farm.calls) == 1, timeout=2000)
        assert monitor.refreshing()
        start = time.monotonic()
        qtbot.wait(2000)
        timer.stop()
        ticks = [t for t in ticks if t >= start]
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        assert len(ticks) >= 40, "the event loop ticked only %d times in 2 s" % len(ticks)
        assert max(gaps) < 0.25, "the UI froze for %.2f s" % max(gaps)
        assert len(farm.calls) <= 3, "requests piled up: %d in 2 s" % len(farm.calls)
        qtbot.waitUntil(lambda: "local farm" in monitor.status_text(), timeout=4000)
        # Closed while the next slow call is on its way: the window goes at once, the worker
        # thread ends when the call returns, and is let go then.
        qtbot.waitUntil(monitor.refreshing, timeout=2000)
        thread = monitor._thread
        began = time.monotonic()
        monitor.stop(wait=0)
        monitor.close()
        assert time.monotonic() - began < 0.5
        assert thread in monitor_module._threads
        qtbot.waitUntil(lambda: thread not in monitor_module._threads, timeout=4000)
    finally:
        farm.close()


def test_farm_errors_show_in_the_status_line(qtbot, farm_home):
    farm = BrokenFarm(home=farm_home)
    try:
        monitor = make(qtbot, farm)
        qtbot.waitUntil(lambda: "on fire" in monitor.status_text(), timeout=WAIT_MS)
        assert monitor.status_text() == "local farm: the database is on fire"
        assert "#e74c3c" in monitor.status_label.styleSheet()
        qtbot.wait(300)                      # it keeps trying, and keeps running
        assert monitor.isVisible() and not monitor.jobs_model.rows
    finally:
        farm.close()


def test_switching_farms_from_the_combo(qtbot, farm_home, tmp_path, monkeypatch):
    monkeypatch.setenv("QB_FAKE_ROOT", str(tmp_path / "no-qube"))
    monkeypatch.setitem(sys.modules, "qb", None)  # no Qube here, whatever ran before
    from dccfutures import farms
    farms.forget()
    monitor = make(qtbot)
    qtbot.waitUntil(lambda: "local farm" in monitor.status_text(), timeout=WAIT_MS)
    monitor.farm_combo.setCurrentText("qube")
    assert monitor.farm_name == "qube"
    qtbot.waitUntil(lambda: "qube" in monitor.status_text()
                    and "connecting" not in monitor.status_text(), timeout=WAIT_MS)
    assert "qb" in monitor.status_text()                 # no Qube here: said, not raised
    assert "#e74c3c" in monitor.status_label.styleSheet()
    monitor.farm_combo.setCurrentText("local")
    qtbot.waitUntil(lambda: monitor.status_text().startswith("local farm:"), timeout=WAIT_MS)


def test_the_monitor_on_the_fake_qube(qtbot, qube_root, tmp_path):
    from dccfutures import Executor
    ex = Executor(farm="qube")
    try:
        flag = str(tmp_path / "go")
        future = ex.submit_ext(chatty_then_wait, [flag], name="on qube")
        monitor = make(qtbot)
        assert monitor.farm_name == "qube"        # the config's farm
        wait_status(qtbot, monitor, future.job_id, "running")
        monitor.select_job(future.job_id)
        qtbot.waitUntil(lambda: work_status(monitor, 0) == "running", timeout=WAIT_MS)
        open(flag, "w").close()
        wait_status(qtbot, monitor, future.job_id, "complete")
        assert future.result(timeout=10) == "done"
        monitor.select_work(0)
        qtbot.waitUntil(lambda: "rendering frame 3" in monitor.log_text(), timeout=WAIT_MS)
        screenshot(monitor, "monitor_qube.png")
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def test_main_runs_the_standalone_monitor(qtbot, farm_home):
    app = QtWidgets.QApplication.instance()
    seen = []

    def quit_when_shown():
        windows = [w for w in app.topLevelWidgets()
                   if isinstance(w, FarmMonitor) and w.isVisible()]
        if windows and windows[0].status_text().startswith("local farm"):
            seen.append(windows[0].interval())
            app.exit(0)   # not quit(): Qt 6 would leave a Quit event for the next test's loop
        else:
            QtCore.QTimer.singleShot(20, quit_when_shown)
    QtCore.QTimer.singleShot(0, quit_when_shown)
    assert monitor_module.main(["--farm", "local", "--interval", "0.3"]) == 0
    assert seen == [0.3]
    with pytest.raises(SystemExit) as exited:
        monitor_module.main(["--interval", "0"])
    assert exited.value.code == 2


def test_the_qt_binding_keeps_its_references_across_queued_signals(qtbot):
    """The monitor's worker talks to the UI through queued signals. PySide6 6.12.0 drops a
    reference on each queued call, which kills Python 3.11 ("bool_dealloc: deallocating True
    or False") after a few thousand refreshes; pyproject.toml keeps it out. This catches a
    binding with that bug before an artist's monitor does."""
    class Echo(QtCore.QObject):
        ping = QtCore.Signal(object)
        count = 0

        @QtCore.Slot(object)
        def pong(self, value):
            self.count += 1
            if self.count < 2000:
                self.ping.emit(None)

    echo = Echo()
    echo.ping.connect(echo.pong, QtCore.Qt.ConnectionType.QueuedConnection)
    before = [sys.getrefcount(value) for value in (None, True, False)]
    echo.ping.emit(None)
    qtbot.waitUntil(lambda: echo.count >= 2000, timeout=5000)
    after = [sys.getrefcount(value) for value in (None, True, False)]
    drift = [b - a for a, b in zip(before, after)]
    assert all(abs(d) < 200 for d in drift), "references lost per queued call: %s" % drift


# -- hosting in a DCC ------------------------------------------------------------------------

def test_show_in_houdini_floats_over_the_main_window_once(qtbot, farm_home, no_dcc,
                                                         monkeypatch):
    monkeypatch.syspath_prepend(FAKES)
    import hou        # the fake Houdini, graphical: its main window is a real QMainWindow
    window = hou.qt.mainWindow()
    qtbot.addWidget(window)
    first = monitor_module.show_in_houdini()
    try:
        assert first.parent() is window and first.isWindow() and first.isVisible()
        assert monitor_module.show_in_houdini() is first          # raised, not duplicated
        qtbot.waitUntil(lambda: first.status_text().startswith("local farm"), timeout=WAIT_MS)
    finally:
        first.close()                                            # deleted on close
    qtbot.waitUntil(lambda: first not in monitor_module._keep, timeout=WAIT_MS)
    second = monitor_module.show_in_houdini()                    # so a new one opens
    try:
        assert second is not first
    finally:
        second.close()


def test_dock_in_maya_reuses_its_workspace_control(qtbot, farm_home, no_dcc, monkeypatch):
    """Maya cannot run here: its workspace control is a plain widget with a layout, behind
    the calls dock_in_maya makes (cmds.workspaceControl, MQtUtil.findControl,
    MQtUtil.addWidgetToMayaLayout), added to the fake maya for this test."""
    from qtpy import shiboken
    monkeypatch.syspath_prepend(FAKES)
    import maya.cmds
    import maya.OpenMayaUI
    controls, created, edited = {}, [], []

    def workspace_control(name, exists=False, edit=False, **flags):
        if exists:
            return name in controls
        if edit:
            edited.append(flags)
            return name
        host = QtWidgets.QWidget()
        host.setObjectName(name)
        QtWidgets.QVBoxLayout(host)
        qtbot.addWidget(host)
        host.show()
        controls[name] = host
        created.append(flags)
        return name

    def add_widget_to_maya_layout(widget, layout):
        host = shiboken.wrapInstance(layout, QtWidgets.QWidget)
        host.layout().addWidget(shiboken.wrapInstance(widget, QtWidgets.QWidget))

    monkeypatch.setattr(maya.cmds, "workspaceControl", workspace_control, raising=False)
    monkeypatch.setattr(maya.OpenMayaUI.MQtUtil, "findControl", staticmethod(
        lambda name: qt.pointer_of(controls[name]) if name in controls else None), raising=False)
    monkeypatch.setattr(maya.OpenMayaUI.MQtUtil, "addWidgetToMayaLayout",
                        staticmethod(add_widget_to_maya_layout), raising=False)

    monitor = monitor_module.dock_in_maya(interval=0.2)
    host = controls[monitor_module.WORKSPACE_CONTROL]
    assert monitor.parent() is host and monitor.interval() == 0.2
    assert len(created) == 1 and "_fill_maya_control" in created[0]["uiScript"]
    assert created[0]["retain"] is False
    assert monitor_module.dock_in_maya() is monitor            # idempotent: the same control
    assert len(created) == 1 and edited == [{"visible": True, "restore": True}]
    qtbot.waitUntil(lambda: monitor.status_text().startswith("local farm"), timeout=WAIT_MS)
    monitor.stop()


def test_the_houdini_python_panel_builds_the_monitor(qtbot, farm_home):
    """houdini_plugin/python_panels/dccfutures.pypanel: what Houdini runs for the pane tab."""
    import xml.etree.ElementTree as ET
    from tests.conftest import ROOT
    path = os.path.join(ROOT, "houdini_plugin", "python_panels", "dccfutures.pypanel")
    interface = ET.parse(path).getroot().find("interface")
    assert interface.get("label") == "dccfutures Farm Monitor"
    scope = {}
    exec(compile(interface.findtext("script"), path, "exec"), scope)
    widget = scope["onCreateInterface"]()
    qtbot.addWidget(widget)
    assert isinstance(widget, FarmMonitor)
    widget.stop()


def test_names_and_failures_show_escaped_as_in_the_cli(qtbot, local_executor):
    from tests.test_cli_hostile import HOSTILE, SHOWN, report_then_fail
    with local_executor.batch(name=HOSTILE) as batch:
        future = batch.submit_ext(report_then_fail, [HOSTILE], name="item " + HOSTILE)
    with pytest.raises(ValueError):
        future.result(30)
    monitor = make(qtbot)
    wait_status(qtbot, monitor, future.job_id, "failed")
    assert row(monitor.jobs_model, future.job_id)[1] == SHOWN          # the CLI's own text
    monitor.select_job(future.job_id)
    qtbot.waitUntil(lambda: work_status(monitor, 0) == "failed", timeout=WAIT_MS)
    cells = row(monitor.work_model, 0)
    assert cells[1] == "item " + SHOWN
    assert cells[monitor.work_model.headers.index("Reason")] == \
        "ValueError: " + SHOWN.split(" ")[0]                           # a CR ends its first line
    monitor.select_work(0)
    qtbot.waitUntil(lambda: "Traceback" in monitor.log_text(), timeout=WAIT_MS)
    shown = [str(cell) for cell in cells] + [monitor.log_text()]
    assert not any(raw in text for raw in ("\x1b", "\r", "\x07", "\x9b", "\u202e")
                   for text in shown)


def test_a_farms_string_ids_show_and_act_as_the_farm_gave_them(qtbot, farm_home, monkeypatch):
    """OpenCue's and Deadline Cloud's job ids are strings: the rows, the selection, what Kill
    and Retry act on, the log's title and the kill question keep them as the farm gave them.
    The snapshot is what the monitor's farm thread hands the window after a refresh."""
    from dccfutures.farms.base import JobInfo, WorkError, WorkInfo
    monitor = make(qtbot, interval=3600)
    qtbot.waitUntil(lambda: "local farm" in monitor.status_text(), timeout=WAIT_MS)
    uuid = "9f3c2a4e-1b2c-4d5e-8f90-0123456789ab"
    failed = WorkInfo(uuid, 3, "frame 4", "failed", 0.0, None, 1,
                      error=WorkError("ValueError", "no camera", "Traceback ..."))
    job = JobInfo(uuid, "render", "failed", "dccfutures", 100, 4, "ana", time.time(),
                  {"failed": 1}, work=[failed])

    def arrive(request, log=None):
        monitor._on_refreshed({"farm": "local", "jobs": [job], "fractions": {}, "job": job,
                               "log": log, "request": request, "time": time.time()})
    arrive({})
    assert row(monitor.jobs_model, uuid)[:3] == (uuid, "render", "failed")
    assert monitor.select_job(uuid) and monitor.targets("jobs") == {uuid: None}
    arrive({"job": uuid, "work": None})
    assert monitor.select_work(3) and monitor.targets("work") == {uuid: [3]}
    log = monitor_module._with_failure("rendering\n", job, 3)
    arrive({"job": uuid, "work": 3}, log)
    assert monitor.log_label.text().startswith("Log of %s:3 " % uuid)
    assert "--- %s:3 failed: ValueError: no camera ---" % uuid in monitor.log_text()

    asked = []

    def answer(parent, title, text, *args):
        asked.append(text)
        return QtWidgets.QMessageBox.StandardButton.No
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", answer)
    monitor.confirm_kill = True
    assert monitor.act("kill", "jobs") is False and monitor.act("kill", "work") is False
    assert asked == ["Kill job %s on the local farm? Running work stops now." % uuid,
                     "Kill 1 work item of job %s on the local farm? Running work stops now."
                     % uuid]
