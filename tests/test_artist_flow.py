"""What an artist does, end to end: a shelf button in (fake) Maya and a Farm menu entry in
(fake) Houdini open the real submit dialog (Qt offscreen), the artist fills it in and clicks
Submit, the work runs on the local farm in the fake DCC. (The farm monitor's own tests are in test_ui_monitor.py.)"""
import json
import os
import xml.etree.ElementTree as ET

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

import pytest  # noqa: E402
from qtpy import QtCore, QtWidgets  # noqa: E402

from dccfutures.ui import dialog as dialog_module  # noqa: E402
from dccfutures.ui.dialog import SubmitDialog  # noqa: E402
from tests.conftest import ROOT, wait_until  # noqa: E402
from tests.test_houdini import houdini_session  # noqa: E402,F401
from tests.test_maya import maya_session  # noqa: E402,F401
from tests.uihelpers import screenshot  # noqa: E402


@pytest.fixture(autouse=True)
def ui_state(tmp_path, monkeypatch):
    monkeypatch.setenv(dialog_module.STATE_VAR, str(tmp_path / "state" / "dialog.json"))


def when_the_dialog_shows(qtbot, fill):
    """The artist's part: fill in the modal dialog once it is up, then click Submit."""
    def poll():
        widget = QtWidgets.QApplication.activeModalWidget()
        if isinstance(widget, SubmitDialog):
            fill(widget)
            qtbot.mouseClick(widget.ok_button, QtCore.Qt.MouseButton.LeftButton)
        else:
            QtCore.QTimer.singleShot(10, poll)
    QtCore.QTimer.singleShot(0, poll)


def test_maya_shelf_button_to_alembic_files(qtbot, maya_session):  # noqa: F811
    fake, scene, workspace = maya_session
    import maya.cmds as cmds
    cmds.loadPlugin(os.path.join(ROOT, "maya_plugin", "plug-ins", "dccfutures_maya.py"))
    fake.process_idle_events()
    button = next(name for name, record in fake.ui().items()
                  if record["kind"] == "shelfButton" and record["label"] == "Submit Scene Frames")
    cmds.playbackOptions(minTime=1, maxTime=20)

    def fill(dialog):
        assert dialog.frames_edit.text() == "1-20"   # the scene's playback range
        dialog.frames_edit.setText("1-12")
        dialog.chunk_spin.setValue(6)
        dialog.name_edit.setText("sh010 caches")
        screenshot(dialog, "artist_maya_dialog.png")
    when_the_dialog_shows(qtbot, fill)
    fake.click(button)                               # the artist presses the shelf button
    cache = os.path.join(workspace, "cache", "alembic")
    wanted = [os.path.join(cache, "sh010.%s.abc" % part) for part in ("0001-0006", "0007-0012")]
    # Written in place, as AbcExport does: wait until each is whole, not only there.
    wait_until(lambda: all(_whole_json(p) for p in wanted), timeout=60,
               what="the Alembic files written on the farm")
    assert json.load(open(wanted[1]))["frameRange"] == [7, 12]
    from dccfutures import Executor
    job = Executor().farm.jobs(limit=1)[0]
    assert job.name == "sh010 caches"
    cmds.unloadPlugin("dccfutures_maya")


def test_houdini_farm_menu_to_rendered_frames(qtbot, houdini_session, tmp_path):  # noqa: F811
    fake, hip, render_log = houdini_session
    menu = ET.parse(os.path.join(ROOT, "houdini_plugin", "MainMenuCommon.xml")).getroot()
    item = next(i for i in menu.iter("scriptItem") if i.findtext("label") == "Cook Selected ROPs")
    fake.select(["/out/mantra1"])

    def fill(dialog):
        dialog.frames_edit.setText("1-4")
        dialog.chunk_spin.setValue(2)
    when_the_dialog_shows(qtbot, fill)
    exec(compile(item.findtext("scriptCode"), "MainMenuCommon.xml", "exec"), {})
    wait_until(lambda: len(fake.read_render_log(render_log)) == 2, timeout=60,
               what="two chunks rendered on the farm")
    assert sorted(r["frame_range"] for r in fake.read_render_log(render_log)) == \
        [[1, 2, 1], [3, 4, 1]]


def _whole_json(path):
    try:
        with open(path) as handle:
            json.load(handle)
    except (OSError, ValueError):
        return False
    return True
