"""The submit dialog (dccfutures.ui.dialog) on real Qt (PySide6, offscreen) and the real local
farm; screenshots go to .test-artifacts/screenshots/."""
import os
import stat
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import pytest  # noqa: E402
from qtpy import QtCore, QtWidgets  # noqa: E402

from dccfutures import frames  # noqa: E402
from dccfutures.ui import dialog as dialog_module  # noqa: E402
from dccfutures.ui import qt  # noqa: E402
from dccfutures.ui.dialog import SubmitDialog, ask, job_fields  # noqa: E402
from tests.conftest import FAKES  # noqa: E402
from tests.uihelpers import Action, screenshot, without_dcc  # noqa: E402

no_dcc = pytest.fixture(without_dcc, name="no_dcc")

OPTIONS = {"export_uvs": True, "samples": 4, "scale": 1.5, "suffix": "abc",
           "format": ["alembic", "usd"]}


@pytest.fixture(autouse=True)
def ui_state(tmp_path, monkeypatch, farm_config, no_dcc):
    """A private file of remembered values, a private config (farm: local), and no DCC
    modules left over by other tests (inside a DCC the dialog's defaults differ)."""
    path = str(tmp_path / "state" / "dialog.json")
    monkeypatch.setenv(dialog_module.STATE_VAR, path)
    return path


def make(qtbot, action, **kwargs):
    dialog = SubmitDialog(action, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_an_invalid_frame_range_disables_ok_and_shows_the_frames_error(qtbot):
    dialog = make(qtbot, Action("test.export", "Export Alembic", "One Alembic per chunk",
                                OPTIONS))
    assert dialog.ok_button.isEnabled()
    dialog.frames_edit.clear()
    qtbot.keyClicks(dialog.frames_edit, "1-10x")
    with pytest.raises(frames.FrameRangeError) as caught:
        frames.split("1-10x")
    assert dialog.frames_error.text() == str(caught.value)
    assert "1-10x" in dialog.frames_error.text()
    assert not dialog.ok_button.isEnabled()
    dialog.accept()                       # Enter in a field must not get past it either
    assert dialog.result() != QtWidgets.QDialog.DialogCode.Accepted
    assert dialog.isVisible()
    screenshot(dialog, "dialog_invalid.png")

    for bad in ("", "1,,2", "a-b", "10-1x0"):
        dialog.frames_edit.setText(bad)
        assert not dialog.ok_button.isEnabled(), bad
        assert dialog.frames_error.text(), bad

    dialog.frames_edit.setText("")
    qtbot.keyClicks(dialog.frames_edit, "1-100x2, 200")
    assert dialog.ok_button.isEnabled()
    dialog.chunk_spin.setValue(10)
    assert dialog.frames_error.text() == "51 frames in 6 work items"


def test_values_round_trip_with_a_widget_per_option_type(qtbot):
    dialog = make(qtbot, Action("test.export", "Export Alembic", "One Alembic per chunk",
                                OPTIONS))
    widgets = dialog.option_widgets
    assert isinstance(widgets["export_uvs"], QtWidgets.QCheckBox)
    assert isinstance(widgets["samples"], QtWidgets.QSpinBox)
    assert isinstance(widgets["scale"], QtWidgets.QDoubleSpinBox)
    assert isinstance(widgets["suffix"], QtWidgets.QLineEdit)
    assert isinstance(widgets["format"], QtWidgets.QComboBox)

    defaults = dialog.values()
    assert defaults == {
        "farm": "local", "name": "", "frames": "1-100", "chunk_size": 1, "cpus": 0,
        "groups": "", "priority": 9999, "clone_environ": False, "create_tempfile": False,
        "export_uvs": True, "samples": 4, "scale": 1.5, "suffix": "abc", "format": "alembic"}

    wanted = {"farm": "qube", "name": "shot010 caches", "frames": "1001-1100",
              "chunk_size": 25, "cpus": 8, "groups": "farm,gpu", "priority": 50,
              "clone_environ": True, "create_tempfile": True, "export_uvs": False,
              "samples": 16, "scale": 0.25, "suffix": "v002", "format": "usd"}
    dialog.set_values(wanted)
    assert dialog.values() == wanted
    assert dialog.chunks() == ["1001-1025", "1026-1050", "1051-1075", "1076-1100"]
    screenshot(dialog, "dialog.png")
    dialog.groups_edit.setText(" farm , gpu ,, ")
    assert dialog.values()["groups"] == "farm,gpu"
    assert job_fields(dialog.values()) == {"name": "shot010 caches", "cpus": 8,
                                           "groups": "farm,gpu", "priority": 50}


def test_the_configs_farm_and_defaults_are_preselected(qtbot, farm_config):
    farm_config(extra="farm: qube\ndefaults: {cpus: 4, groups: farm, priority: 10}\n")
    dialog = make(qtbot, Action("test.defaults", options={"frames": "1-24", "chunk_size": 6}))
    values = dialog.values()
    assert (values["farm"], values["cpus"], values["groups"], values["priority"]) == (
        "qube", 4, "farm", 10)
    assert (values["frames"], values["chunk_size"]) == ("1-24", 6)   # options set the fields
    assert "frames" not in dialog.option_widgets


def test_last_values_are_remembered_per_action(qtbot, ui_state):
    first = make(qtbot, Action("test.one", options={"samples": 4}))
    first.set_values({"frames": "1-48", "chunk_size": 12, "name": "remember me",
                      "groups": "gpu", "samples": 32, "farm": "qube"})
    first.accept()
    assert first.result() == QtWidgets.QDialog.DialogCode.Accepted
    assert stat.S_IMODE(os.stat(ui_state).st_mode) == 0o600

    again = make(qtbot, Action("test.one", options={"samples": 4}))
    values = again.values()
    assert (values["frames"], values["chunk_size"], values["name"], values["groups"],
            values["samples"], values["farm"]) == ("1-48", 12, "remember me", "gpu", 32, "qube")

    other = make(qtbot, Action("test.two", options={"samples": 4}))
    assert other.values()["frames"] == "1-100"
    assert other.values()["samples"] == 4
    assert other.values()["name"] == ""

    cancelled = make(qtbot, Action("test.one", options={"samples": 4}))
    cancelled.frames_edit.setText("5-6")
    cancelled.reject()          # only a submission is remembered
    assert make(qtbot, Action("test.one", options={"samples": 4})).values()["frames"] == "1-48"

    # An option that changed type since it was remembered keeps the action's default.
    changed = make(qtbot, Action("test.one", options={"samples": True}))
    assert changed.values()["samples"] is True


def test_a_broken_state_file_counts_as_empty(qtbot, ui_state):
    os.makedirs(os.path.dirname(ui_state), exist_ok=True)
    with open(ui_state, "w") as handle:
        handle.write("{not json")
    dialog = make(qtbot, Action("test.one"))
    assert dialog.values()["frames"] == "1-100"
    dialog.accept()
    assert dialog_module.load_state()["test.one"]["frames"] == "1-100"


def _answer_modal(qtbot, answer):
    """When the modal dialog shows up, let ``answer(dialog)`` close it."""
    def poll():
        widget = QtWidgets.QApplication.activeModalWidget()
        if isinstance(widget, SubmitDialog):
            answer(widget)
        else:
            QtCore.QTimer.singleShot(10, poll)
    QtCore.QTimer.singleShot(0, poll)


def test_ask_returns_the_values_or_none_when_cancelled(qtbot):
    action = Action("test.ask", "Ask me", options={"overwrite": False})

    def fill(dialog):
        dialog.frames_edit.setText("1-10")
        dialog.option_widgets["overwrite"].setChecked(True)
        qtbot.mouseClick(dialog.ok_button, QtCore.Qt.MouseButton.LeftButton)
    _answer_modal(qtbot, fill)
    values = ask(action)
    assert values["frames"] == "1-10" and values["overwrite"] is True

    _answer_modal(qtbot, lambda dialog: dialog.reject())
    assert ask(action) is None


def test_a_real_submission_through_the_local_farm(qtbot, local_executor):
    dialog = make(qtbot, Action("test.submit", "Scale frames", options={"scale": 10}))
    dialog.frames_edit.setText("")
    qtbot.keyClicks(dialog.frames_edit, "1-7")
    dialog.chunk_spin.setValue(3)
    dialog.name_edit.setText("dialog submission")
    dialog.priority_spin.setValue(42)
    dialog.groups_edit.setText("farm")
    qtbot.mouseClick(dialog.ok_button, QtCore.Qt.MouseButton.LeftButton)
    assert dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    values = dialog.values()
    assert values["farm"] == "local"

    from tests.uihelpers import scaled_frames
    chunks = frames.chunk(values["chunk_size"], values["frames"])
    assert chunks == ["1-3", "4-6", "7"]
    results = local_executor.map(scaled_frames, chunks, [values["scale"]] * len(chunks),
                                 timeout=30, **job_fields(values))
    assert list(results) == [[10, 20, 30], [40, 50, 60], [70]]
    job = local_executor.farm.jobs(limit=1)[0]
    assert (job.name, job.priority, job.status) == ("dialog submission", 42, "complete")
    assert sum(job.tally.values()) == 3


def test_in_a_dcc_the_scene_gives_the_defaults(qtbot, monkeypatch):
    monkeypatch.syspath_prepend(FAKES)
    import maya.cmds
    maya.cmds.playbackOptions(edit=True, minTime=1001, maxTime=1048)
    values = make(qtbot, Action("test.scene")).values()
    assert (values["frames"], values["clone_environ"], values["create_tempfile"]) == (
        "1001-1048", True, True)
    for name in list(sys.modules):
        if name == "maya" or name.startswith("maya."):
            del sys.modules[name]
    import hou
    assert make(qtbot, Action("test.scene")).values()["frames"] == "%d-%d" % tuple(
        int(frame) for frame in hou.playbar.frameRange())


# -- parenting -----------------------------------------------------------------------------

def test_main_window_is_none_outside_a_dcc(qtbot):
    assert qt.main_window() is None


def test_main_window_in_maya_and_houdini(qtbot, monkeypatch):
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    monkeypatch.syspath_prepend(FAKES)
    import maya.OpenMayaUI
    # The fake's handle is no widget of ours: it must be refused, not wrapped (a crash).
    assert maya.OpenMayaUI.MQtUtil.mainWindow() is not None
    assert qt.main_window() is None
    # A handle that is a real top-level widget is Maya's main window.
    monkeypatch.setattr(maya.OpenMayaUI.MQtUtil, "mainWindow",
                        staticmethod(lambda: qt.pointer_of(window)))
    assert qt.main_window() is window

    for name in list(sys.modules):   # Maya leaves (no_dcc puts back what was there before)
        if name == "maya" or name.startswith("maya."):
            del sys.modules[name]
    import hou        # the fake Houdini, graphical: its main window is a real QMainWindow
    import hou_fake
    houdini = hou.qt.mainWindow()
    qtbot.addWidget(houdini)
    assert isinstance(houdini, QtWidgets.QMainWindow)
    assert qt.main_window() is houdini

    def parented(dialog):
        assert dialog.parent() is houdini
        dialog.reject()
    _answer_modal(qtbot, parented)
    assert ask(Action("test.parent")) is None

    hou_fake.reset("hython")                     # no UI: hou.qt.mainWindow() is None
    assert hou.qt.mainWindow() is None
    assert qt.main_window() is None
