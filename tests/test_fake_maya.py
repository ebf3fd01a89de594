"""The fake Maya (tests/fakes/maya) and its executables (tests/fakes/bin/mayapy, maya):
scene files on disk, strict flags, UI idempotence, the deferred queue, standalone, modes."""
import os
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes")
BIN = os.path.join(FAKES, "bin")


@pytest.fixture
def maya(monkeypatch):
    """The fake ``maya`` package in a fresh interactive session (``maya._fake``)."""
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.delenv("DCCFUTURES_FAKE_MAYA_MODE", raising=False)
    import maya._fake as fake
    fake.reset("interactive")
    yield fake
    fake.reset("interactive")


@pytest.fixture
def cmds(maya):
    import maya.cmds
    return maya.cmds


def fake_env(**extra):
    env = dict(os.environ, DCCFUTURES_FAKE_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def test_scene_round_trip(cmds, maya, tmp_path):
    original = maya.write_scene(tmp_path / "shot.ma", {"pCube1": "transform"}, ["pCube1"])
    assert cmds.file(q=True, sn=True) == ""
    assert cmds.file(original, open=True, force=True) == str(original)
    assert cmds.file(query=True, sceneName=True) == str(original)
    assert cmds.ls(sl=True) == ["pCube1"] and cmds.nodeType("pCube1") == "transform"
    assert cmds.file(q=True, modified=True) is False
    cmds.createNode("mesh", name="body")
    assert cmds.file(q=True, modified=True) is True
    with pytest.raises(RuntimeError):
        cmds.file(original, open=True)            # unsaved changes without force
    saved = str(tmp_path / "v2.ma")
    assert cmds.file(rename=saved) == saved
    assert cmds.file(q=True, modified=True) is True   # rename does not save
    assert cmds.file(save=True, type="mayaAscii") == saved
    assert cmds.file(q=True, modified=True) is False
    assert maya.read_scene(saved)["nodes"] == {"pCube1": "transform", "body": "mesh"}
    assert maya.read_scene(original)["nodes"] == {"pCube1": "transform"}
    cmds.file(modified=True)
    assert maya.is_modified()
    cmds.file(original, open=True, force=True)
    assert cmds.ls() == ["pCube1"] and not maya.is_modified()
    with pytest.raises(RuntimeError):
        cmds.file(save=True, type="nonsense")


def test_copy_aside_without_renaming(cmds, maya, tmp_path):
    scene = maya.write_scene(tmp_path / "shot.ma", {"a": "transform"})
    cmds.file(scene, open=True, force=True)
    cmds.createNode("transform", name="b")
    copy = str(tmp_path / "copy.ma")
    assert cmds.file(copy, exportAll=True, preserveReferences=True, type="mayaAscii",
                     force=True) == copy
    assert cmds.file(q=True, sn=True) == scene and cmds.file(q=True, mf=True) is True
    assert sorted(maya.read_scene(copy)["nodes"]) == ["a", "b"]
    with pytest.raises(RuntimeError):
        cmds.file(copy, exportAll=True, type="mayaAscii")     # exists, no force
    # the rename/save/rename-back idiom
    was = cmds.file(q=True, modified=True)
    other = str(tmp_path / "other.ma")
    cmds.file(rename=other)
    cmds.file(save=True)
    cmds.file(rename=scene)
    cmds.file(modified=was)
    assert maya.scene_path() == scene and maya.is_modified()
    assert os.path.isfile(other) and maya.read_scene(scene)["nodes"] == {"a": "transform"}
    with pytest.raises(RuntimeError):
        cmds.file(str(tmp_path / "missing.ma"), open=True, force=True)


def test_unknown_flags_and_commands_fail(cmds):
    with pytest.raises(TypeError, match="Invalid flag 'sceneNme'"):
        cmds.file(q=True, sceneNme=True)
    with pytest.raises(TypeError, match="Invalid flag 'deleteMenuItems'"):
        cmds.menu("x", e=True, deleteMenuItems=True)
    with pytest.raises(TypeError, match="Invalid flag 'lowestPriorty'"):
        cmds.evalDeferred(lambda: None, lowestPriorty=True)
    with pytest.raises(AttributeError):
        cmds.polyCube()
    with pytest.raises(ValueError, match="No object matches name: ghost"):
        cmds.select("ghost")


def test_workspace_about_selection(cmds, maya, tmp_path):
    cmds.workspace(str(tmp_path), openWorkspace=True)
    assert cmds.workspace(q=True, rd=True) == str(tmp_path) + "/"
    with pytest.raises(RuntimeError):
        cmds.workspace(str(tmp_path / "nope"), openWorkspace=True)
    assert cmds.about(batch=True) is False and cmds.about(v=True) == "2025"
    a = cmds.createNode("transform")
    b = cmds.createNode("mesh", skipSelect=True)
    assert (a, b) == ("transform1", "mesh1") and cmds.ls(selection=True) == [a]
    cmds.select(b, add=True)
    assert cmds.ls(sl=True, type="mesh") == [b]
    cmds.select(clear=True)
    assert cmds.ls(sl=True) == []


def test_a_new_scene_is_newFile_short_new(cmds, maya, tmp_path):  # noqa: N802
    """Maya's flag is ``newFile``, short name ``new`` (Autodesk's ``file`` reference);
    ``n`` is no flag of ``file``'s."""
    cmds.file(maya.write_scene(tmp_path / "shot.ma", {"a": "transform"}), open=True,
              force=True)
    cmds.createNode("mesh")
    with pytest.raises(RuntimeError, match="Unsaved changes"):
        cmds.file(newFile=True)
    assert cmds.file(newFile=True, force=True) == "" and cmds.ls() == []
    cmds.createNode("mesh")
    assert cmds.file(new=True, force=True) == "" and cmds.ls() == []
    with pytest.raises(TypeError, match="Invalid flag 'n'"):
        cmds.file(n=True, force=True)


@pytest.mark.parametrize("command, args, flags", [
    ("file", ("a.ma", "b.ma"), {"open": True, "force": True}),
    ("workspace", ("a", "b"), {"openWorkspace": True}),
    ("menu", ("dccMenu", "other"), {"parent": "MayaWindow"}),
    ("menuItem", ("item", "other"), {"exists": True}),
    ("shelfLayout", ("Farm", "other"), {"parent": "ShelfLayout"}),
    ("shelfButton", ("button", "other"), {"exists": True}),
    ("evalDeferred", ("pass", "pass"), {}),
    ("pluginInfo", ("AbcExport", "other"), {"query": True, "loaded": True}),
    ("progressBar", ("MainProgressBar", "other"), {"query": True, "progress": True}),
])
def test_commands_take_at_most_one_positional_argument(cmds, command, args, flags):
    """As in Maya (and its stubs): one object name, folder or script; a second is an error,
    never silently ignored."""
    with pytest.raises(TypeError, match="positional argument"):
        getattr(cmds, command)(*args, **flags)


def build_menu(cmds):
    if cmds.menu("dccfuturesMenu", exists=True):
        cmds.deleteUI("dccfuturesMenu")
    menu = cmds.menu("dccfuturesMenu", parent="MayaWindow", tearOff=True, label="Farm")
    cmds.menuItem(label="Submit", command=lambda *_: None)
    cmds.menuItem(divider=True)
    cmds.menuItem(label="Status", command="import maya._fake; maya._fake.calls['clicked'] += 1",
                  parent=menu)
    return menu


def test_menu_idempotence(cmds, maya):
    from maya import mel
    assert mel.eval("$tmp = $gMainWindow") == "MayaWindow"
    assert build_menu(cmds) == "MayaWindow|dccfuturesMenu"
    build_menu(cmds)
    assert [n for n, r in maya.ui().items() if r["kind"] == "menu"] == ["dccfuturesMenu"]
    assert maya.menu_items("dccfuturesMenu") == ["Submit", "---", "Status"]
    assert cmds.menu("dccfuturesMenu", q=True, label=True) == "Farm"
    with pytest.raises(RuntimeError, match="not unique"):
        cmds.menu("dccfuturesMenu", parent="MayaWindow")
    maya.click(cmds.menu("dccfuturesMenu", q=True, itemArray=True)[-1])
    assert maya.calls["clicked"] == 1
    cmds.menu("dccfuturesMenu", e=True, dai=True)
    assert maya.menu_items("dccfuturesMenu") == []
    cmds.deleteUI("MayaWindow|dccfuturesMenu", menu=True)
    assert not cmds.menu("dccfuturesMenu", exists=True)
    with pytest.raises(RuntimeError, match="not found"):
        cmds.deleteUI("dccfuturesMenu")
    shelf = cmds.shelfLayout("Farm", parent="ShelfLayout")
    cmds.shelfButton(label="Submit", command="pass", sourceType="python", parent=shelf)
    assert len(cmds.shelfLayout("Farm", q=True, childArray=True)) == 1
    cmds.deleteUI("Farm", layout=True)
    assert not cmds.shelfLayout("Farm", exists=True)


def test_ui_unavailable_in_batch(cmds, maya):
    from maya import mel
    from maya.api.OpenMaya import MGlobal
    from maya.OpenMayaUI import MQtUtil
    assert MQtUtil.mainWindow() is not None
    maya.reset("batch")
    assert cmds.about(batch=True) is True
    assert MQtUtil.mainWindow() is None
    # Only the GUI start-up declares the UI globals: reading one in batch is a MEL error.
    with pytest.raises(RuntimeError, match='"\\$gMainProgressBar" is an undeclared variable'):
        mel.eval("$tmp = $gMainProgressBar")
    assert mel.eval("global string $gMainWindow; $tmp = $gMainWindow") == ""
    assert MGlobal.mayaState() == MGlobal.kBatch
    with pytest.raises(RuntimeError, match="batch"):
        cmds.menu("m", exists=True)


def test_deferred_queue_order(cmds, maya):
    from maya import utils
    order = []
    cmds.evalDeferred(lambda: order.append("lowest"), lowestPriority=True)
    utils.executeDeferred(order.append, "first")
    cmds.evalDeferred(lambda: order.append("second"))
    cmds.evalDeferred("import maya._fake; maya._fake.calls['text'] += 1")
    cmds.evalDeferred(lambda: order.append("next"), evaluateNext=True)

    def chained():
        order.append("chained")
        utils.executeDeferred(order.append, "queued meanwhile")
    utils.executeDeferred(chained)
    assert order == [] and maya.pending() == 6
    thread = threading.Thread(target=utils.executeDeferred, args=(order.append, "thread"))
    thread.start()
    thread.join()
    assert maya.process_idle_events() == 8
    assert order == ["next", "first", "second", "chained", "thread", "queued meanwhile",
                     "lowest"]
    assert maya.calls["text"] == 1 and maya.pending() == 0


def test_cmds_off_main_thread_fails(cmds, maya):
    errors = []

    def worker():
        try:
            cmds.file(q=True, sn=True)
        except RuntimeError as error:
            errors.append(error)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])


def test_standalone_and_modes(maya):
    from maya import cmds, standalone
    from maya.api.OpenMaya import MGlobal
    assert MGlobal.mayaState() == MGlobal.kInteractive
    with pytest.raises(RuntimeError):
        standalone.initialize(name="python")   # GUI Maya is already running
    maya.reset("library")
    assert MGlobal.mayaState() == MGlobal.kLibraryApp
    with pytest.raises(RuntimeError, match="not initialized"):
        cmds.about(batch=True)
    standalone.initialize(name="python")
    assert cmds.about(batch=True) is True
    with pytest.raises(RuntimeError, match="already initialized"):
        standalone.initialize(name="python")
    standalone.uninitialize()
    standalone.uninitialize()
    assert maya.calls["standalone.initialize"] == 2
    assert maya.calls["standalone.uninitialize"] == 2
    with pytest.raises(RuntimeError):
        cmds.about(batch=True)
    with pytest.raises(RuntimeError, match="re-initialize"):
        standalone.initialize()


PLUGIN = '''
import maya.api.OpenMaya as om
import maya.cmds as cmds

def maya_useNewAPI():
    pass

class Hello(om.MPxCommand):
    def doIt(self, args):
        return "hello %d" % len(args)

def initializePlugin(obj):
    om.MFnPlugin(obj, "dccfutures", "1.0").registerCommand("dccHello", Hello)
    if om.MGlobal.mayaState() == om.MGlobal.kInteractive:
        if cmds.menu("dccMenu", exists=True):
            cmds.deleteUI("dccMenu")
        cmds.menu("dccMenu", parent="MayaWindow", label="Farm")

def uninitializePlugin(obj):
    om.MFnPlugin(obj).deregisterCommand("dccHello")
    if om.MGlobal.mayaState() == om.MGlobal.kInteractive and cmds.menu("dccMenu", exists=True):
        cmds.deleteUI("dccMenu")
'''


def test_plugin_load_unload_reload(cmds, maya, tmp_path, monkeypatch):
    (tmp_path / "dcc_plugin.py").write_text(PLUGIN)
    monkeypatch.setenv("MAYA_PLUG_IN_PATH", str(tmp_path))
    assert cmds.pluginInfo("dcc_plugin", q=True, loaded=True) is False
    # Without an extension Maya looks for dcc_plugin.so (.mll, .bundle): a Python plug-in is
    # named with its .py, and quiet (which only hushes "already loaded") does not hide that.
    for quiet in (False, True):
        with pytest.raises(RuntimeError, match='"dcc_plugin", was not found'):
            cmds.loadPlugin("dcc_plugin", quiet=quiet)
    assert cmds.loadPlugin("dcc_plugin.py") == ["dcc_plugin"]
    assert cmds.loadPlugin("dcc_plugin.py", quiet=True) == []
    assert cmds.pluginInfo("dcc_plugin", q=True, loaded=True)   # the registered name
    assert cmds.dccHello(1, 2) == "hello 2" and cmds.menu("dccMenu", exists=True)
    cmds.unloadPlugin("dcc_plugin")
    assert not cmds.menu("dccMenu", exists=True) and not hasattr(cmds, "dccHello")
    cmds.loadPlugin(str(tmp_path / "dcc_plugin.py"))
    assert cmds.pluginInfo("dcc_plugin", q=True, l=True)
    with pytest.raises(RuntimeError):
        cmds.loadPlugin("missing_plugin")


def test_progress_bar_escape(cmds, maya):
    from maya import mel
    bar = mel.eval("$tmp = $gMainProgressBar")
    cmds.progressBar(bar, edit=True, beginProgress=True, isInterruptable=True,
                     status="Waiting", maxValue=10)
    cmds.progressBar(bar, edit=True, step=3)
    assert cmds.progressBar(bar, q=True, progress=True) == 3
    maya.press_escape_after(2)
    assert cmds.progressBar(bar, q=True, isCancelled=True) is False
    assert cmds.progressBar(bar, q=True, isCancelled=True) is True
    cmds.progressBar(bar, edit=True, endProgress=True)
    assert not maya.progress_state()["active"] and not maya.press_escape()


def test_fake_mayapy_runs_python(tmp_path):
    code = ("import maya.standalone; maya.standalone.initialize(name='python'); "
            "import maya.cmds as c; print(c.about(batch=True))")
    done = subprocess.run([os.path.join(BIN, "mayapy"), "-c", code], env=fake_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    script = tmp_path / "job.py"
    script.write_text("import sys, maya.cmds as c\ntry:\n    c.about(batch=True)\n"
                      "except RuntimeError:\n    print('needs initialize', sys.argv[1:])\n")
    done = subprocess.run([os.path.join(BIN, "mayapy"), str(script), "x"], env=fake_env(),
                          stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.stdout.strip() == "needs initialize ['x']"


def test_fake_maya_batch_command(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "userSetup.py").write_text("import maya.cmds as c\nprint('userSetup', "
                                          "c.about(batch=True))\n")
    (scripts / "farmjob.py").write_text(
        "import maya.cmds as c\nfrom maya.api.OpenMaya import MGlobal\n"
        "def main(tag):\n    print(tag, MGlobal.mayaState() == MGlobal.kBatch,"
        " c.file(q=True, sn=True))\n")
    scene = tmp_path / "shot.ma"
    scene.write_text('{"fakeMayaScene": 1, "nodes": [], "selection": []}')
    command = 'python("import farmjob; farmjob.main(\\"ran\\")")'
    done = subprocess.run([os.path.join(BIN, "maya"), "-batch", "-file", str(scene),
                           "-command", command],
                          env=fake_env(PYTHONPATH=str(scripts)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["userSetup True", "ran True %s" % scene]
    failed = subprocess.run([os.path.join(BIN, "maya"), "-batch", "-command",
                             'python("raise ValueError(42)")'], env=fake_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    assert failed.returncode == 1 and "ValueError: 42" in failed.stderr


def test_abc_export_splits_its_job_as_abcexport_does(cmds, maya, tmp_path, capsys):
    from maya._fake import write_scene
    split_job = load_plugin_module("AbcExport").split_job
    assert split_job('-fr 1 5 -file "/a b/c \\"d\\".abc" -root |x') == [
        "-fr", "1", "5", "-file", '/a b/c "d".abc', "-root", "|x"]
    assert split_job("-file C:\\out dir\\x.abc") == ["-file", "C:\\out", "dir\\x.abc"]
    cmds.file(write_scene(tmp_path / "s.ma", {"a": "transform"}), open=True, force=True)
    cmds.loadPlugin("AbcExport")       # Maya's own, compiled plug-in: found without extension
    folder = tmp_path / "cache dir"
    folder.mkdir()
    cmds.AbcExport(jobArg='-frameRange 1 5 -file "%s"' % (folder / "x.abc"))
    assert (folder / "x.abc").is_file()
    # Unquoted, the path is cut at the space: AbcExport writes the first piece and only
    # warns about the rest.
    cmds.AbcExport(jobArg="-frameRange 1 5 -file %s" % (folder / "y.abc"))
    assert not (folder / "y.abc").exists() and (tmp_path / "cache").is_file()
    assert "Ignoring unsupported flag: dir/y.abc" in capsys.readouterr().out


def load_plugin_module(name):
    import importlib.util
    from maya.cmds import BUILT_IN_PLUGINS
    spec = importlib.util.spec_from_file_location("_abc", os.path.join(BUILT_IN_PLUGINS,
                                                                       name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app_dir(tmp_path, monkeypatch):
    """$MAYA_APP_DIR for a start-up: the user's modules and prefs live there."""
    folder = tmp_path / "maya_app"
    monkeypatch.setenv("MAYA_APP_DIR", str(folder))
    for name in ("MAYA_MODULE_PATH", "MAYA_SHELF_PATH", "MAYA_PLUG_IN_PATH"):
        monkeypatch.delenv(name, raising=False)
    return folder


def write_module(folder, text, name="tool"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("%s.mod" % name)).write_text(text)
    for sub in ("plug-ins", "scripts", "python"):
        (folder / name / sub).mkdir(parents=True, exist_ok=True)
    return folder / name


def test_start_applies_module_files_as_maya_does(maya, app_dir, tmp_path, monkeypatch):
    from maya import cmds
    module = write_module(app_dir / "modules", (
        "+ MAYAVERSION:2024 tool 1.0 ./elsewhere\n"          # another Maya's entry
        "+ MAYAVERSION:2025 PLATFORM:nowhere tool 1.0 ./elsewhere\n"
        "+ tool 1.0 ./tool\n"                                # no condition: every Maya
        "PYTHONPATH +:= python\n"
        "TOOL_HOME := .\n"
        "\n"
        "DROPPED = yes\n"                                    # after a blank line: dropped
        "+ other 2.0 %s\n" % (tmp_path / "other")))
    (module / "plug-ins" / "tool_plugin.py").write_text(
        "maya_useNewAPI = True\ndef initializePlugin(o):\n    pass\n"
        "def uninitializePlugin(o):\n    pass\n")
    (module / "scripts" / "userSetup.py").write_text(
        "import maya._fake\nmaya._fake.calls['tool userSetup'] += 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored after the test
    assert maya.start() == ["tool", "other"]
    assert cmds.loadPlugin("tool_plugin.py") == ["tool_plugin"]   # plug-ins/ is on the path
    assert maya.calls["tool userSetup"] == 1                      # scripts/ is on sys.path
    import sys
    assert str(module / "python") in sys.path
    from maya._state import STATE
    assert STATE.env["TOOL_HOME"] == str(module) and "DROPPED" not in STATE.env
    assert "DROPPED" not in os.environ and "TOOL_HOME" not in os.environ


def test_quit_saves_every_shelf_in_the_shelf_bar(maya, app_dir, tmp_path, monkeypatch):
    from maya import cmds
    from maya.api import OpenMaya
    studio = tmp_path / "studio_shelves"
    studio.mkdir()
    (studio / "shelf_Studio.mel").write_text(
        'global proc shelf_Studio () {\n    shelfButton\n        -label "Publish" \n'
        '        -command "print(\\"publish\\")" \n        -sourceType "python" \n    ;\n}\n')
    monkeypatch.setenv("MAYA_SHELF_PATH", str(studio))
    maya.start()
    assert [r["label"] for r in maya.ui().values() if r["kind"] == "shelfButton"] == ["Publish"]
    cmds.shelfButton(label="Mine", command="pass", sourceType="python", parent="Studio")
    cmds.shelfLayout("Session", parent="ShelfLayout")
    cmds.shelfLayout("Temporary", parent="ShelfLayout")
    removed = []

    def before_exit(data):   # a plug-in taking its shelf out before Maya saves
        removed.append(data)
        cmds.deleteUI("Temporary", layout=True)
    ident = OpenMaya.MSceneMessage.addCallback(OpenMaya.MSceneMessage.kMayaExiting,
                                               before_exit, "data")
    assert maya.callbacks()[ident][2] == "data"
    prefs = app_dir / "2025" / "prefs" / "shelves"
    assert sorted(maya.quit()) == [str(prefs / "shelf_Session.mel"),
                                   str(studio / "shelf_Studio.mel")]
    assert removed == ["data"]
    saved = (studio / "shelf_Studio.mel").read_text()   # written back where it came from
    assert '-label "Mine"' in saved and '-command "print(\\"publish\\")"' in saved
    OpenMaya.MMessage.removeCallback(ident)
    assert maya.callbacks() == {}
    # The next session loads the saved shelves (the prefs' copy first).
    maya.reset("interactive")
    maya.start()
    assert {n for n, r in maya.ui().items() if r["kind"] == "shelfLayout"} == {"Studio",
                                                                              "Session"}
