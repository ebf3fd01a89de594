"""The Maya module (maya_plugin/): the .mod file, the plug-in's lifecycle and userSetup.py,
loaded by the fake Maya exactly as Maya loads them."""
import os
import re
import runpy

import pytest

from tests.conftest import FAKES, ROOT

MODULE = os.path.join(ROOT, "maya_plugin")


@pytest.fixture
def maya(monkeypatch):
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.setenv("MAYA_PLUG_IN_PATH", os.path.join(MODULE, "plug-ins"))
    import maya._fake as fake
    fake.reset("interactive")
    yield fake
    fake.reset("interactive")


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


def test_reloading_never_duplicates_the_menu(maya):
    import maya.cmds as cmds
    from dccfutures.maya_menu import MENU
    for _ in range(3):
        cmds.loadPlugin("dccfutures_maya")
        maya.process_idle_events()
        cmds.unloadPlugin("dccfutures_maya")
        cmds.loadPlugin("dccfutures_maya")
        maya.process_idle_events()
    menus = [name for name in maya.ui() if name == MENU]
    assert len(menus) == 1
    assert maya.menu_items(MENU) == ["Farm Jobs", "---", "Start Local Farm"]  # not 3 times


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


def test_farm_jobs_menu_item_prints_the_job_table(maya, farm_home, capsys):
    import maya.cmds as cmds
    from dccfutures import Executor
    Executor().submit(pow, 2, 3).result(30)
    cmds.loadPlugin("dccfutures_maya")
    maya.process_idle_events()
    item = next(name for name, record in maya.ui().items()
                if record["kind"] == "menuItem" and record.get("label") == "Farm Jobs")
    maya.click(item)
    assert "submit(pow)" in capsys.readouterr().out


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
