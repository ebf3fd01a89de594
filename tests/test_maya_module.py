"""The Maya module (maya_plugin/): the .mod file, the plug-in's lifecycle and userSetup.py,
loaded by the fake Maya exactly as Maya loads them."""
import os
import re
import runpy

import pytest

from tests.conftest import FAKES, ROOT

MODULE = os.path.join(ROOT, "maya_plugin")


@pytest.fixture
def maya(monkeypatch, farm_home):
    monkeypatch.syspath_prepend(FAKES)  # farm_home: the plug-in watches a private farm
    monkeypatch.setenv("MAYA_PLUG_IN_PATH", os.path.join(MODULE, "plug-ins"))
    import maya._fake as fake
    fake.reset("interactive")
    yield fake
    fake.reset("interactive")
    from dccfutures import notify
    notify.unwatch()


def mod_problems(text):
    """The .mod pitfalls: a blank or comment line between variable lines silently drops the
    lines after it; a '+' line needs a space after '+' and a module-relative path."""
    problems = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if line.startswith("+"):
            if not re.match(r"^\+ (\S+:\S+ )*\S+ \S+ \S+$", line):
                problems.append("line %d: bad module line %r" % (number, line))
        elif not line.strip() or line.lstrip().startswith("#"):
            following = lines[number:]
            if following and not following[0].startswith("+"):
                problems.append("line %d: blank or comment line before a variable line" % number)
        elif not re.match(r"^\w+ (\+:=|:=|\+=|=) \S", line):
            problems.append("line %d: bad variable line %r" % (number, line))
    return problems


def test_mod_file_has_every_supported_maya_and_no_pitfalls():
    text = open(os.path.join(MODULE, "dccfutures.mod")).read()
    assert mod_problems(text) == []
    versions = re.findall(r"^\+ MAYAVERSION:(\d+) dccfutures \S+ \.$", text, re.M)
    assert versions == ["2023", "2024", "2025", "2026"]
    assert text.count("PYTHONPATH +:= python") == 4
    assert text.count("MAYA_SHELF_PATH +:= shelves") == 4


def test_the_lint_catches_the_blank_line_pitfall():
    bad = "+ MAYAVERSION:2025 dccfutures 1.0 .\nPYTHONPATH +:= python\n\nMAYA_SHELF_PATH +:= x\n"
    assert mod_problems(bad) and "blank or comment" in mod_problems(bad)[0]


def test_plugin_adds_the_farm_menu_deferred_and_removes_it(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU
    cmds.loadPlugin("dccfutures_maya")
    assert not cmds.menu(MENU, exists=True)      # built once the main window is up ...
    maya.process_idle_events()
    assert cmds.menu(MENU, exists=True)          # ... which is the next idle moment
    assert cmds.menu(MENU, query=True, label=True) == "Farm"
    cmds.unloadPlugin("dccfutures_maya")
    assert not cmds.menu(MENU, exists=True)


MENU_ITEMS = ["Submit Scene Frames", "Run on Selection", "Farm Monitor", "---",
              "Start Local Farm"]
SHELF_BUTTONS = ["Submit Scene Frames", "Run on Selection", "Farm Monitor"]


def shelf_buttons(maya):
    from dccfutures.maya_menu import SHELF
    return [record["label"] for name, record in maya.ui().items()
            if record["kind"] == "shelfButton" and record["parent"] == SHELF]


def test_reloading_never_duplicates_the_menu_or_the_shelf(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU, SHELF
    for _ in range(3):
        cmds.loadPlugin("dccfutures_maya")
        maya.process_idle_events()
        cmds.unloadPlugin("dccfutures_maya")
        assert SHELF not in maya.ui() and MENU not in maya.ui()  # unload removes both
        cmds.loadPlugin("dccfutures_maya")
        maya.process_idle_events()
    assert [name for name in maya.ui() if name == MENU] == [MENU]
    assert [name for name in maya.ui() if name == SHELF] == [SHELF]
    assert maya.menu_items(MENU) == MENU_ITEMS       # from shelves/dccfutures.yaml, once
    assert shelf_buttons(maya) == SHELF_BUTTONS


def test_a_stale_saved_shelf_is_refilled_from_the_yaml(maya):
    """Maya loads shelf_dccfutures.mel (or the user's saved copy of it) at start-up; the
    plug-in refills that shelf instead of adding a second one."""
    import maya.cmds as cmds
    from dccfutures.maya_menu import SHELF
    cmds.shelfLayout(SHELF, parent="ShelfLayout")
    cmds.shelfButton(label="Old Button", command="print('stale')", sourceType="python",
                     parent=SHELF)
    cmds.loadPlugin("dccfutures_maya")
    maya.process_idle_events()
    assert shelf_buttons(maya) == SHELF_BUTTONS
    button = next(record for record in maya.ui().values()
                  if record["kind"] == "shelfButton" and record["label"] == "Farm Monitor")
    assert button["sourceType"] == "python"
    assert button["command"] == ('import dccfutures.shelves; '
                                 'dccfutures.shelves.run("maya.farm_monitor")')


def test_the_shipped_shelf_file_matches_the_buttons(maya):
    """shelf_dccfutures.mel (what Maya loads from MAYA_SHELF_PATH) has the plug-in's buttons."""
    text = open(os.path.join(MODULE, "shelves", "shelf_dccfutures.mel")).read()
    assert re.findall(r'-label "([^"]+)"', text) == SHELF_BUTTONS
    assert text.count('-sourceType "python"') == len(SHELF_BUTTONS)


def test_no_menu_in_batch_or_mayapy(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU
    for mode in ("batch", "library"):
        maya.reset(mode)
        if mode == "library":
            from maya import standalone
            standalone.initialize(name="python")
        cmds.loadPlugin("dccfutures_maya")   # no UI command is even tried
        maya.process_idle_events()
        assert MENU not in maya.ui()
        cmds.unloadPlugin("dccfutures_maya")


def test_user_setup_loads_the_plugin_only_in_interactive_maya(maya):
    import maya.cmds as cmds
    setup = os.path.join(MODULE, "scripts", "userSetup.py")
    maya.reset("batch")
    runpy.run_path(setup)
    maya.process_idle_events()
    assert not cmds.pluginInfo("dccfutures_maya", query=True, loaded=True)
    maya.reset("interactive")
    runpy.run_path(setup)
    maya.process_idle_events()
    assert cmds.pluginInfo("dccfutures_maya", query=True, loaded=True)
    runpy.run_path(setup)  # a second userSetup run (reloaded module) loads nothing twice
    maya.process_idle_events()


def test_start_local_farm_menu_item_starts_the_farm(maya, farm_home):
    import maya.cmds as cmds
    from dccfutures import config
    from dccfutures.farms.local import LocalFarm
    farm = LocalFarm(config.load())
    cmds.loadPlugin("dccfutures_maya")
    maya.process_idle_events()
    item = next(name for name, record in maya.ui().items()
                if record["kind"] == "menuItem" and record.get("label") == "Start Local Farm")
    assert farm.supervisor_pid() is None
    maya.click(item)
    assert farm.supervisor_pid()


def test_maya_install_and_uninstall_for_the_user(tmp_path, maya, monkeypatch):
    from dccfutures.cli import main
    modules = tmp_path / "maya" / "modules"
    monkeypatch.setenv("MAYA_APP_DIR", str(tmp_path / "maya"))
    assert main(["maya", "install"]) == 0
    mod = (modules / "dccfutures.mod").read_text()
    target = str(modules / "dccfutures")
    assert mod_problems(mod) == []
    assert "+ MAYAVERSION:2025 dccfutures 0.1.0 %s\n" % target in mod
    assert (modules / "dccfutures" / "python" / "dccfutures" / "maya.py").is_file()
    assert (modules / "dccfutures" / "plug-ins" / "dccfutures_maya.py").is_file()
    # What Maya does with the module: its plug-ins folder on MAYA_PLUG_IN_PATH; load it.
    monkeypatch.setenv("MAYA_PLUG_IN_PATH", str(modules / "dccfutures" / "plug-ins"))
    import maya.cmds as cmds
    cmds.loadPlugin("dccfutures_maya")
    maya.process_idle_events()
    assert cmds.menu("dccfuturesFarmMenu", exists=True)
    cmds.unloadPlugin("dccfutures_maya")
    assert main(["maya", "install"]) == 0  # again: an upgrade in place
    assert main(["maya", "uninstall"]) == 0
    assert not modules.joinpath("dccfutures.mod").exists()
    assert not modules.joinpath("dccfutures").exists()
