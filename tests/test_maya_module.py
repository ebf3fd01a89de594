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


def test_mod_file_is_one_entry_for_every_maya_and_has_no_pitfalls():
    """No MAYAVERSION: Autodesk's module docs make the condition optional, and an entry
    without one is taken by every Maya (2027 and later included; userSetup.py says why
    nothing loads in a Maya older than 2023). No MAYA_SHELF_PATH: the plug-in owns the
    shelf."""
    text = open(os.path.join(MODULE, "dccfutures.mod")).read()
    assert mod_problems(text) == []
    assert text == "+ dccfutures 0.1.0 .\nPYTHONPATH +:= python\n"


def test_the_lint_catches_the_blank_line_pitfall():
    bad = "+ MAYAVERSION:2025 dccfutures 1.0 .\nPYTHONPATH +:= python\n\nMAYA_SHELF_PATH +:= x\n"
    assert mod_problems(bad) and "blank or comment" in mod_problems(bad)[0]


def test_plugin_adds_the_farm_menu_deferred_and_removes_it(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU
    cmds.loadPlugin("dccfutures_maya.py")
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
        cmds.loadPlugin("dccfutures_maya.py")
        maya.process_idle_events()
        cmds.unloadPlugin("dccfutures_maya")
        assert SHELF not in maya.ui() and MENU not in maya.ui()  # unload removes both
        cmds.loadPlugin("dccfutures_maya.py")
        maya.process_idle_events()
    assert [name for name in maya.ui() if name == MENU] == [MENU]
    assert [name for name in maya.ui() if name == SHELF] == [SHELF]
    assert maya.menu_items(MENU) == MENU_ITEMS       # from shelves/dccfutures.yaml, once
    assert shelf_buttons(maya) == SHELF_BUTTONS


def test_a_shelf_maya_saved_before_is_replaced_by_ours(maya):
    """A copy of our shelf that Maya saved in the user's prefs (dccfutures 0.1.0 let it) is
    loaded at start-up: the plug-in replaces it with the current buttons, once."""
    import maya.cmds as cmds
    from dccfutures.maya_menu import SHELF
    cmds.shelfLayout(SHELF, parent="ShelfLayout")
    cmds.shelfButton(label="Old Button", command="print('stale')", sourceType="python",
                     parent=SHELF)
    cmds.loadPlugin("dccfutures_maya.py")
    maya.process_idle_events()
    assert shelf_buttons(maya) == SHELF_BUTTONS
    button = next(record for record in maya.ui().values()
                  if record["kind"] == "shelfButton" and record["label"] == "Farm Monitor")
    assert button["sourceType"] == "python"
    assert button["command"] == ('import dccfutures.shelves; '
                                 'dccfutures.shelves.run("maya.farm_monitor")')


def test_the_studios_actions_are_on_the_shelf_and_the_menu(maya, tmp_path, farm_config):
    studio = tmp_path / "studio.yaml"
    studio.write_text('actions:\n  - id: maya.publish\n    label: Publish\n    dcc: [maya]\n'
                      '    callable: "tests.shelf_actions:record"\n')
    farm_config(extra="shelves: {extra: [%s]}\n" % studio)
    import maya.cmds as cmds
    cmds.loadPlugin("dccfutures_maya.py")
    maya.process_idle_events()
    assert shelf_buttons(maya) == SHELF_BUTTONS + ["Publish"]
    assert maya.menu_items("dccfuturesFarmMenu") == MENU_ITEMS + ["Publish"]


@pytest.fixture
def maya_app(tmp_path, monkeypatch, maya):
    """The artist's $MAYA_APP_DIR, with the module installed by `dccfutures maya install` in
    its modules folder (which Maya always reads)."""
    from dccfutures import assets
    app = tmp_path / "maya_app"
    monkeypatch.setenv("MAYA_APP_DIR", str(app))
    for name in ("MAYA_PLUG_IN_PATH", "MAYA_MODULE_PATH", "MAYA_SHELF_PATH"):
        monkeypatch.delenv(name, raising=False)
    module = assets.install_maya_module(str(app / "modules"))
    return app, module


def snapshot(folder):
    return {os.path.relpath(os.path.join(root, name), folder):
            open(os.path.join(root, name), "rb").read()
            for root, _, names in os.walk(folder) if "__pycache__" not in root
            for name in names}


@pytest.mark.parametrize("version", ["2023", "2025", "2027", "2031"])
def test_the_installed_module_loads_in_every_maya_from_2023(maya_app, maya, monkeypatch,
                                                            version):
    monkeypatch.setenv("DCCFUTURES_FAKE_MAYA_VERSION", version)
    maya.reset("interactive")
    assert "dccfutures" in maya.start()       # modules, shelves, userSetup.py
    maya.process_idle_events()                # userSetup's deferred load, then the menu
    import maya.cmds as cmds
    assert cmds.pluginInfo("dccfutures_maya", query=True, loaded=True)
    assert maya.menu_items("dccfuturesFarmMenu") == MENU_ITEMS
    assert shelf_buttons(maya) == SHELF_BUTTONS


def test_maya_never_saves_our_shelf(maya_app, maya):
    """Maya writes every shelf in its shelf bar to a file when it quits. Ours is the
    plug-in's, built each session from the YAML and taken out before Maya saves: nothing is
    written into the module (which may be read-only, and `shelves build --check` reads it)
    nor into the user's prefs (where a copy would hide later buttons and outlive an
    uninstall), and every session shows the current buttons once."""
    app, module = maya_app
    before = snapshot(module)
    for _ in range(2):
        maya.reset("interactive")
        maya.start()
        maya.process_idle_events()
        assert shelf_buttons(maya) == SHELF_BUTTONS
        maya.quit()
    assert snapshot(module) == before
    prefs = app / "2025" / "prefs" / "shelves"
    assert not prefs.exists() or os.listdir(prefs) == []


def test_unloading_leaves_no_exit_callback(maya):
    import maya.cmds as cmds
    cmds.loadPlugin("dccfutures_maya.py")
    maya.process_idle_events()
    assert maya.callbacks()                   # the shelf goes before Maya saves shelves
    cmds.unloadPlugin("dccfutures_maya")
    assert maya.callbacks() == {}             # Maya requires a plug-in to remove its own


def test_user_setup_explains_a_maya_too_old_for_dccfutures(maya, monkeypatch, capsys):
    """The module loads in every Maya; before 2023 (Python 3.7) dccfutures cannot run, and
    userSetup.py says so in one line instead of a plug-in traceback at every start-up."""
    import sys
    import maya.cmds as cmds
    setup = os.path.join(MODULE, "scripts", "userSetup.py")
    with monkeypatch.context() as patch:
        patch.setattr(sys, "version_info", (3, 7, 7, "final", 0))
        runpy.run_path(setup)
    maya.process_idle_events()
    assert not cmds.pluginInfo("dccfutures_maya", query=True, loaded=True)
    assert "dccfutures: needs Maya 2023 or later (Python 3.9+)" in capsys.readouterr().out


def test_no_menu_in_batch_or_mayapy(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU
    for mode in ("batch", "library"):
        maya.reset(mode)
        if mode == "library":
            from maya import standalone
            standalone.initialize(name="python")
        cmds.loadPlugin("dccfutures_maya.py")   # no UI command is even tried
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
    cmds.loadPlugin("dccfutures_maya.py")
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
    assert "+ dccfutures 0.1.0 %s\n" % target in mod
    assert (modules / "dccfutures" / "python" / "dccfutures" / "maya.py").is_file()
    assert (modules / "dccfutures" / "plug-ins" / "dccfutures_maya.py").is_file()
    # What Maya does with the module: its plug-ins folder on MAYA_PLUG_IN_PATH; load it.
    monkeypatch.setenv("MAYA_PLUG_IN_PATH", str(modules / "dccfutures" / "plug-ins"))
    import maya.cmds as cmds
    cmds.loadPlugin("dccfutures_maya.py")
    maya.process_idle_events()
    assert cmds.menu("dccfuturesFarmMenu", exists=True)
    cmds.unloadPlugin("dccfutures_maya")
    assert main(["maya", "install"]) == 0  # again: an upgrade in place
    assert main(["maya", "uninstall"]) == 0
    assert not modules.joinpath("dccfutures.mod").exists()
    assert not modules.joinpath("dccfutures").exists()
