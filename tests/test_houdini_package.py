"""The Houdini package (houdini_plugin/): its JSON, the Farm menu XML and the shelf, parsed as
Houdini reads them; `dccfutures houdini install` / `uninstall`; the menu's Python run in the
fake Houdini."""
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import FAKES, ROOT

PACKAGE = os.path.join(ROOT, "houdini_plugin")


def expand(value, variables):
    for name, text in sorted(variables.items(), key=lambda item: -len(item[0])):
        value = value.replace("$" + name, text)
    return value


def package_env(json_path):
    """What Houdini makes of a package file: its variables and hpath, with
    $HOUDINI_PACKAGE_PATH the file's own folder."""
    spec = json.load(open(json_path))
    variables = {"HOUDINI_PACKAGE_PATH": os.path.dirname(json_path)}
    pythonpath = []
    for entry in spec["env"]:
        (name, value), = entry.items()
        if isinstance(value, dict):
            assert value["method"] in ("prepend", "append")
            pythonpath.append(expand(value["value"], variables))
        else:
            variables[name] = expand(value, variables)
    return spec, variables, pythonpath, expand(spec["hpath"], variables)


def enabled(expression, keywords):
    """Houdini's package expression (SideFX, "Houdini packages": Houdini keywords, quoted
    strings, comparison operators, and/or, parentheses) for the given keyword values.
    houdini_version is compared as a version; other keywords only with == and != (as strings,
    'python3.10' < 'python3.9': an ordering of them would be a bug)."""
    tokens = re.findall(r"'[^']*'|\w+|[<>=!]=|[<>()]", expression)
    assert "".join(tokens) == re.sub(r"\s+", "", expression), expression

    def version(text):
        return tuple(int(part) for part in text.split("."))

    def compare(left, op, right):
        if op in ("==", "!="):
            return (keywords[left] == right) == (op == "==")
        assert left == "houdini_version", "%s ordered as a string" % left
        a, b = version(keywords[left]), version(right)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def term(at):
        if tokens[at] == "(":
            value, at = either(at + 1)
            assert tokens[at] == ")"
            return value, at + 1
        left, op, right = tokens[at:at + 3]
        return compare(left, op, right.strip("'")), at + 3

    def both(at):
        value, at = term(at)
        while at < len(tokens) and tokens[at] == "and":
            other, at = term(at + 1)
            value = value and other
        return value, at

    def either(at):
        value, at = both(at)
        while at < len(tokens) and tokens[at] == "or":
            other, at = both(at + 1)
            value = value or other
        return value, at
    value, at = either(0)
    assert at == len(tokens), expression
    return value


@pytest.mark.parametrize("houdini, python, wanted", [
    ("19.0.720", "python3.9", False),     # older than 19.5
    ("19.5.805", "python3.7", False),     # 19.5's Python 3.7 build cannot import dccfutures
    ("19.5.805", "python3.9", True),
    ("20.0.751", "python3.10", True),
    ("20.5.684", "python3.11", True),
    ("21.0.512", "python3.11", True),
])
def test_package_is_enabled_only_in_houdinis_that_can_import_it(houdini, python, wanted):
    spec = json.load(open(os.path.join(PACKAGE, "dccfutures.json")))
    assert enabled(spec["enable"], {"houdini_version": houdini,
                                    "houdini_python": python}) is wanted


def test_package_json_points_houdini_at_the_package():
    spec, variables, pythonpath, hpath = package_env(os.path.join(PACKAGE, "dccfutures.json"))
    assert hpath == PACKAGE
    assert pythonpath == [os.path.join(PACKAGE, "python")]
    for sub in ("MainMenuCommon.xml", "toolbar/dccfutures.shelf", "config/Icons"):
        assert os.path.exists(os.path.join(hpath, sub))


def test_menu_and_shelf_name_icons_that_exist():
    shelf = ET.parse(os.path.join(PACKAGE, "toolbar", "dccfutures.shelf")).getroot()
    icons = [tool.get("icon") for tool in shelf.iter("tool")]
    assert icons and all(os.path.isfile(os.path.join(PACKAGE, "config", "Icons", icon))
                         for icon in icons)
    menu = ET.parse(os.path.join(PACKAGE, "MainMenuCommon.xml")).getroot()
    labels = [item.findtext("label") for item in menu.iter("scriptItem")]
    assert labels == ["Cook Selected ROPs", "Farm Monitor", "Start Local Farm"]


def test_menu_item_runs_its_action_in_houdini(farm_home, monkeypatch):
    """The Farm menu's script code is what Houdini runs: here, Start Local Farm."""
    monkeypatch.syspath_prepend(FAKES)
    import hou_fake
    hou_fake.reset("ui")
    menu = ET.parse(os.path.join(PACKAGE, "MainMenuCommon.xml")).getroot()
    item = next(i for i in menu.iter("scriptItem") if i.findtext("label") == "Start Local Farm")
    from dccfutures import config
    from dccfutures.farms.local import LocalFarm
    farm = LocalFarm(config.load())
    assert farm.supervisor_pid() is None
    exec(compile(item.findtext("scriptCode"), "MainMenuCommon.xml", "exec"), {})
    assert farm.supervisor_pid()


def test_houdini_install_and_uninstall_for_the_user(tmp_path, monkeypatch, capsys):
    from dccfutures.cli import main
    prefs = tmp_path / "houdini20.5"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HOUDINI_USER_PREF_DIR", raising=False)
    assert main(["houdini", "install"]) == 2           # no Houdini prefs folder yet
    assert "--prefs" in capsys.readouterr().err
    prefs.mkdir()
    (tmp_path / "houdini19.0").mkdir()                  # too old: left alone
    assert main(["houdini", "install"]) == 0
    packages = prefs / "packages"
    spec, variables, pythonpath, hpath = package_env(str(packages / "dccfutures.json"))
    assert hpath == str(packages / "dccfutures")
    assert os.path.isfile(os.path.join(pythonpath[0], "dccfutures", "houdini.py"))
    assert os.path.isfile(os.path.join(pythonpath[0], "dccfutures", "_assets", "shelves",
                                       "dccfutures.yaml"))
    assert os.path.isfile(os.path.join(hpath, "MainMenuCommon.xml"))
    assert not (tmp_path / "houdini19.0" / "packages").exists()
    assert main(["houdini", "install"]) == 0           # again: an upgrade in place
    assert main(["houdini", "uninstall"]) == 0
    assert not packages.joinpath("dccfutures.json").exists()
    assert not packages.joinpath("dccfutures").exists()


@pytest.mark.parametrize("folder", ["houdini_plugin", "maya_plugin"])
def test_installed_copies_load_the_actions(tmp_path, folder, monkeypatch):
    """The library copied into a module or package finds the shelves' YAML it reads."""
    import subprocess
    import sys
    from dccfutures import assets
    if folder == "maya_plugin":
        target = assets.install_maya_module(str(tmp_path))
    else:
        target = assets.install_houdini_package(str(tmp_path))
    code = ("import dccfutures, dccfutures.shelves as s; "
            "assert dccfutures.__file__.startswith(%r), dccfutures.__file__; "
            "print(len(s.load_actions(config=%r)))" % (target, os.devnull))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.path.join(target, "python")),
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 7


def test_houdini_user_pref_dir_with_hver_names_every_version(tmp_path, monkeypatch):
    from dccfutures import assets
    for name in ("prefs20.5", "prefs21.0", "prefs19.0", "prefsX"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOUDINI_USER_PREF_DIR", str(tmp_path / "prefs__HVER__"))
    assert assets.houdini_pref_dirs() == [str(tmp_path / "prefs20.5"), str(tmp_path / "prefs21.0")]
    monkeypatch.setenv("HOUDINI_USER_PREF_DIR", str(tmp_path / "fixed"))
    assert assets.houdini_pref_dirs() == [str(tmp_path / "fixed")]
