"""The published stubs as judges (README: "Published stubs as judges").

1. Our fakes of Maya and Houdini (tests/fakes/maya, tests/fakes/hou.py) may do less than the
   real API, never more: every function, class, method, attribute, keyword and Maya flag they
   implement must be in maya-stubs/types-houdini, and no call the stub's signature rejects may
   pass the fake. Short Maya flags go through the one table tests/fakes/maya_flags.py; every
   exception is in tests/fakes/stub_allowlist.py.
2. `make lint` type-checks our DCC-facing code against the same stubs with mypy (mypy.ini):
   these tests prove it judges by the stubs, not by our fakes, and covers every module that
   talks to Maya or Houdini.
"""
import ast
import configparser
import fnmatch
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests import stubcheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, stubcheck.FAKES)
try:
    import stub_allowlist
    from maya_flags import SHORT_FLAGS
finally:
    sys.path.remove(stubcheck.FAKES)


@pytest.fixture(scope="module")
def stubs():
    for package in ("maya-stubs", "hou-stubs"):
        if not any(os.path.isdir(os.path.join(site, package)) for site in stubcheck.site_dirs()):
            pytest.fail("%s is not installed: pip install -e '.[test]'" % package)
    return stubcheck.Stubs()


def findings_for(fakes_dir, stubs):
    items = stubcheck.fake_items(fakes_dir, stubs)
    return items, stubcheck.judge(items, stubs, SHORT_FLAGS)


def report(findings):
    return "\n".join("  %r" % f for f in findings)


def test_fakes_do_nothing_the_stubs_do_not_allow(stubs):
    items, findings = findings_for(stubcheck.FAKES, stubs)
    # Not trivially passed: the collector really saw the fakes' API.
    functions = [i for i in items if i["kind"] == "function"]
    flags = sum(len(i.get("flags") or ()) for i in items)
    modules = set(i["name"] for i in items if i["kind"] == "module")
    assert {"maya.cmds", "maya.mel", "maya.utils", "maya.standalone", "maya.OpenMayaUI",
            "maya.api.OpenMaya", "hou"} <= modules
    assert len(functions) >= 90, [i["name"] for i in functions]      # 124 when written
    assert flags >= 60                                                # 83 when written
    assert any(i["name"] == "maya.cmds.file" and "sceneName" in (i["flags"] or {})
               for i in items)
    assert any(i["name"] == "hou.ui.displayMessage" for i in items)   # via hou.__getattr__
    unexplained = [f for f in findings if f.key not in stub_allowlist.ALLOWED]
    assert not unexplained, (
        "the fakes accept what Maya/Houdini (per their stubs) do not; make the fake stricter, "
        "or, if the stub is wrong or the fake needs it, add a commented entry to "
        "tests/fakes/stub_allowlist.py:\n" + report(unexplained))
    stale = sorted(set(stub_allowlist.ALLOWED) - set(f.key for f in findings))
    assert not stale, ("tests/fakes/stub_allowlist.py has entries no finding matches any more "
                       "(fixed? then delete them): %s" % stale)


def test_flag_table_agrees_with_the_stubs(stubs):
    findings = stubcheck.judge_flag_table(SHORT_FLAGS, stubs)
    assert not findings, "tests/fakes/maya_flags.py:\n" + report(findings)
    assert sum(len(flags) for flags in SHORT_FLAGS.values()) >= 80


def test_flag_table_catches_a_wrong_entry(stubs):
    wrong = {"sn": "sceneNam",      # no such flag
             "rn": "force",         # a second short name for force
             "list": "sceneName"}   # 'list' is the long name of another flag of file
    table = dict(SHORT_FLAGS, file=dict(SHORT_FLAGS["file"], **wrong))
    keys = set(f.key for f in stubcheck.judge_flag_table(table, stubs))
    assert keys == {"maya_flags:file.sn", "maya_flags:file.force", "maya_flags:file.list"}


INJECTED_MAYA = '''

def about(**kwargs):  # injected by test_stub_conformance: an invented flag
    return _flags(kwargs, {"batch": "b", "inventedFlag": "ivf"})


def inventedCommand(*args):  # injected: a command Maya does not have
    return None


def workspace(*args, **kwargs):  # injected: any number of positional arguments again
    return _flags(kwargs, {"query": "q", "rootDirectory": "rd", "openWorkspace": "o"})


# injected: file's old wrong flag, "new" short "n" (Maya's is newFile, short "new")
_FILE = dict([(k, v) for k, v in _FILE.items() if k != "newFile"] + [("new", "n")])
'''

INJECTED_HOU = '''

def getenv(name, default_value=None, invented_keyword=None):  # injected
    return default_value


def putenv(name, value, extra):  # injected: more positional arguments than hou's
    return None


def hscript(command=""):  # injected: hou.hscript requires its command
    return "", ""


class Parm(Parm):  # injected: a method hou.Parm does not have
    def inventedMethod(self):
        return None
'''


def test_an_invented_flag_or_method_injected_into_a_copy_is_caught(stubs, tmp_path):
    fakes = str(tmp_path / "fakes")
    shutil.copytree(stubcheck.FAKES, fakes, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(fakes, "maya", "cmds.py"), "a") as handle:
        handle.write(INJECTED_MAYA)
    with open(os.path.join(fakes, "hou.py"), "a") as handle:
        handle.write(INJECTED_HOU)
    _, findings = findings_for(fakes, stubs)
    keys = set(f.key for f in findings)
    expected = {"maya.cmds.about(inventedFlag=)", "maya.cmds.about(ivf=)",
                "maya.cmds.inventedCommand", "maya.cmds.workspace(*)", "maya.cmds.file(new=)",
                "maya.cmds.file(n=)", "hou.getenv(invented_keyword=)", "hou.getenv(*)",
                "hou.putenv(*)", "hou.putenv(extra=)", "hou.hscript(!command)",
                "hou.Parm.inventedMethod"}
    assert expected <= keys, report(findings)
    # The copy differs from the real fakes by the injected lines only.
    _, original = findings_for(stubcheck.FAKES, stubs)
    assert keys - set(f.key for f in original) == expected


def test_every_fake_is_judged_or_explained():
    judged = {"maya", "hou.py"}
    entries = [e for e in os.listdir(stubcheck.FAKES) if e != "__pycache__"]
    entries += ["maya/" + e for e in os.listdir(os.path.join(stubcheck.FAKES, "maya"))
                if e != "__pycache__" and (e.startswith("_") and e != "__init__.py"
                                           or not e.replace(".py", "").isidentifier())]
    unexplained = [e for e in entries if e not in judged and not any(
        fnmatch.fnmatchcase(e, pattern) for pattern in stub_allowlist.NOT_JUDGED)]
    assert not unexplained, ("tests/fakes has fakes the stubs do not judge; say why in "
                             "NOT_JUDGED of tests/fakes/stub_allowlist.py: %s" % unexplained)


def test_houdini_version_notes_name_what_the_stubs_have(stubs):
    unknown = [key for key in stub_allowlist.HOUDINI_NOTES
               if not stubs.lookup("hou", key.split(".")[1:])]
    assert not unknown, "HOUDINI_NOTES in tests/fakes/stub_allowlist.py: %s" % unknown


# -- mypy --------------------------------------------------------------------------------------
def mypy_files():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "mypy.ini"))
    return [f.strip() for f in config["mypy"]["files"].split(",") if f.strip()]


def talks_to_a_dcc(path):
    """Whether the module imports maya, hou or hdefereval (anywhere, also inside functions)."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n.split(".")[0] in ("maya", "hou", "hdefereval") for n in names):
            return True
    return False


def test_every_module_that_talks_to_maya_or_houdini_is_type_checked():
    listed = [os.path.normpath(f) for f in mypy_files()]
    missing = []
    for top in ("dccfutures", "maya_plugin", "houdini_plugin", "jobtypes"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                path = os.path.relpath(os.path.join(folder, name), ROOT)
                if name.endswith(".py") and talks_to_a_dcc(os.path.join(ROOT, path)) and not any(
                        path == f or path.startswith(f + os.sep) for f in listed):
                    missing.append(path)
    assert not missing, "add to `files` in mypy.ini: %s" % missing


PROBE = '''\
import hou
import maya.cmds as cmds
cmds.file(query=True, sceneNam=True)
cmds.file(q=True, sn=True)
cmds.loadPlugin("AbcExport.py", quiet="yes")
hou.hipFile.lod("shot.hip")
hou.hipFile.load(42)
print(cmds.SCENE_TYPES)
print(hou.STATE)
cmds.file(query=True, sceneName=True)
hou.hipFile.load("shot.hip", suppress_save_prompt=True)
'''


def test_mypy_judges_dcc_calls_by_the_stubs_not_the_fakes(tmp_path):
    """The configuration `make lint` uses rejects a misspelt or short flag, a missing method
    and a wrong argument type, and does not know names only our fakes have."""
    probe = tmp_path / "probe_dcc_calls.py"
    probe.write_text(PROBE)
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", os.path.join(ROOT, "mypy.ini"),
         "--cache-dir", os.path.join(ROOT, ".mypy_cache"), "--no-error-summary", str(probe)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    # (mypy may name the probe of an earlier run: its cache knows the module by its content.)
    lines = set(int(n) for n in re.findall(r"probe_dcc_calls\.py:(\d+): error:", result.stdout))
    assert lines == {3, 4, 5, 6, 7, 8, 9}, result.stdout + result.stderr
    assert "maya-stubs" in result.stdout and "tests/fakes" not in result.stdout
