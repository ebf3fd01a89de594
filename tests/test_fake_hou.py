"""The fake Houdini (tests/fakes/hou.py, hdefereval.py, hou_fake.py) and its hython executable:
hip files on disk, Save As versus ``mwrite -n``, strict signatures, modes, the hdefereval queue,
interruptable operations, renders recorded across processes."""
import importlib
import json
import os
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes")
BIN = os.path.join(FAKES, "bin")
HIP_VARS = ("HIP", "HIPNAME", "HIPFILE", "JOB")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """The fake ``hou`` in a fresh graphical session (``hou_fake``); the environment variables
    it exports ($HIP & co.) are restored afterwards."""
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DCCFUTURES_FAKE_HOU_MODE", raising=False)
    monkeypatch.delenv("DCCFUTURES_FAKE_HOU_RENDER_LOG", raising=False)
    saved = dict((name, os.environ.get(name)) for name in HIP_VARS)
    import hou_fake
    hou_fake.reset("ui")
    yield hou_fake
    hou_fake.reset("ui")
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def hou(fake):
    import hou
    return hou


def fake_env(**extra):
    env = dict(os.environ, DCCFUTURES_FAKE_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    env.pop("DCCFUTURES_FAKE_HOU_MODE", None)
    env.update(extra)
    return env


SHOT = {"/obj/geo1": "geo", "/obj/geo1/box1": "box",
        "/out/mantra1": {"type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 3, "f3": 1,
                                                  "vm_picture": "$HIP/render/$HIPNAME.$F4.exr"}},
        "/out/broken": {"type": "geometry", "parms": {"f1": 1, "f2": 5, "fail_on_frame": 3}}}


def test_hip_file_round_trip(hou, fake, tmp_path):
    assert hou.hipFile.path() == str(tmp_path / "untitled.hip")
    assert hou.hipFile.basename() == "untitled.hip" and hou.hipFile.isNewFile()
    shot = fake.write_hip(tmp_path / "shot.hip", SHOT, selected=["/out/mantra1"], frame=12)
    hou.hipFile.load(shot, suppress_save_prompt=True, ignore_load_warnings=True)
    assert hou.hipFile.path() == shot and not hou.hipFile.isNewFile()
    assert hou.hipFile.name() == "shot.hip" and hou.frame() == 12.0
    assert hou.getenv("HIP") == str(tmp_path) and os.environ["HIPNAME"] == "shot"
    assert hou.getenv("HIPFILE") == shot and hou.getenv("NOPE", "x") == "x"
    assert not hou.hipFile.hasUnsavedChanges()
    rop = hou.node("/out/mantra1")
    assert isinstance(rop, hou.RopNode) and rop.name() == "mantra1"
    assert rop.type().name() == "ifd" and rop.type().category().name() == "Driver"
    assert hou.node("/obj/geo1").type().category().name() == "Object"
    assert hou.node("/obj/geo1/box1").type().category().name() == "Sop"
    assert hou.node("/obj/ghost") is None and rop.parm("nope") is None
    assert hou.selectedNodes() == (rop,) and rop.isSelected()
    assert rop.parmTuple("f").eval() == (1, 3, 1)
    assert rop.parm("vm_picture").eval() == str(tmp_path / "render" / "shot.0012.exr")
    assert rop.parm("vm_picture").unexpandedString() == "$HIP/render/$HIPNAME.$F4.exr"
    rop.parm("f2").set(50)
    assert hou.hipFile.hasUnsavedChanges() and fake.is_modified()
    saved = str(tmp_path / "v2" / "shot_v2.hip")
    hou.hipFile.save(saved)                       # Save As, creates the folder
    assert hou.hipFile.path() == saved and hou.getenv("HIPNAME") == "shot_v2"
    assert not hou.hipFile.hasUnsavedChanges()
    assert fake.read_hip(saved)["nodes"]["/out/mantra1"]["parms"]["f2"] == 50
    assert fake.read_hip(shot)["nodes"]["/out/mantra1"]["parms"]["f2"] == 3
    hou.hipFile.setName(str(tmp_path / "renamed.hip"))
    assert hou.expandString("$HIPNAME:$JOB") == "renamed:%s" % tmp_path
    hou.hipFile.clear(suppress_save_prompt=True)
    assert hou.hipFile.basename() == "untitled.hip" and hou.node("/out/mantra1") is None
    with pytest.raises(hou.ObjectWasDeleted):
        rop.path()


def test_load_errors_and_warnings(hou, fake, tmp_path):
    with pytest.raises(hou.OperationFailed, match="missing.hip"):
        hou.hipFile.load(str(tmp_path / "missing.hip"))
    (tmp_path / "junk.hip").write_text("not json")
    with pytest.raises(hou.OperationFailed):
        hou.hipFile.load(str(tmp_path / "junk.hip"))
    warned = fake.write_hip(tmp_path / "warned.hip", {"/obj/geo1": "geo"},
                            warnings=["Bad parameter reference"])
    with pytest.raises(hou.LoadWarning) as caught:
        hou.hipFile.load(warned, suppress_save_prompt=True)
    assert isinstance(caught.value, hou.Error)
    assert caught.value.instanceMessage() == "Bad parameter reference"
    assert caught.value.exceptionTypeName() == "LoadWarning"
    assert hou.hipFile.path() == warned and hou.node("/obj/geo1")   # loaded all the same
    hou.hipFile.load(warned, ignore_load_warnings=True, suppress_save_prompt=True)
    for cls in (hou.OperationFailed, hou.OperationInterrupted, hou.ObjectWasDeleted,
                hou.NotAvailable, hou.InvalidInput):
        assert issubclass(cls, hou.Error)
    # without suppress_save_prompt, graphical Houdini asks to save unsaved changes
    fake.write_hip(tmp_path / "other.hip", {"/obj/a": {"type": "geo", "parms": {"tx": 0}}})
    hou.hipFile.load(str(tmp_path / "other.hip"))
    hou.node("/obj/a").parm("tx").set(1.5)
    hou.hipFile.load(warned, ignore_load_warnings=True)
    assert [m["kind"] for m in fake.messages()] == ["save_prompt"]


def test_mwrite_copy_keeps_session(hou, fake, tmp_path):
    shot = fake.write_hip(tmp_path / "shot.hip", SHOT)
    hou.hipFile.load(shot, suppress_save_prompt=True, ignore_load_warnings=True)
    hou.node("/out/mantra1").parm("f2").set(10)
    copy = tmp_path / "copies" / "my copy.hip"
    copy.parent.mkdir()
    assert hou.hscript('mwrite -n "%s"' % copy) == ("", "")
    assert hou.hipFile.path() == shot and fake.is_modified()
    assert hou.getenv("HIPFILE") == shot
    assert fake.read_hip(copy)["nodes"]["/out/mantra1"]["parms"]["f2"] == 10
    out, err = hou.hscript("mwrite -n %s" % (tmp_path / "nofolder" / "x.hip"))
    assert out == "" and "Unable to save" in err
    renamed = str(tmp_path / "saved_as.hip")
    assert hou.hscript("mwrite %s" % renamed) == ("", "")
    assert hou.hipFile.path() == renamed and not fake.is_modified()
    out, err = hou.hscript("opfrobnicate /obj")
    assert out == "" and err.startswith("Unknown command: opfrobnicate")


def test_strict_signatures_and_attributes(hou):
    with pytest.raises(TypeError):
        hou.hipFile.load("x.hip", supress_save_prompt=True)
    with pytest.raises(TypeError):
        hou.hipFile.save(filename="x.hip")
    with pytest.raises(AttributeError):
        hou.hipFile.saveAs("x.hip")
    with pytest.raises(AttributeError):
        hou.nodes("/obj")
    with pytest.raises(TypeError):
        hou.InterruptableOperation("x", open_dialog=True)
    with pytest.raises(AttributeError):
        hou.node("/out").render()                 # not a ROP
    rop_spec = {"/out/r": {"type": "ifd", "parms": {"f1": 1, "f2": 2}}}
    import hou_fake
    hou_fake.write_hip("r.hip", rop_spec)
    hou.hipFile.load("r.hip", suppress_save_prompt=True)
    with pytest.raises(TypeError):
        hou.node("/out/r").render(framerange=(1, 2))
    with pytest.raises(TypeError):
        hou.ui.displayMessage("hi", button=("OK",))
    with pytest.raises(AttributeError):
        hou.ui.displayMesage("hi")
    with pytest.raises(TypeError):
        hou.hipFile()


def test_modes_ui_and_hython(hou, fake):
    assert hou.isUIAvailable() and hou.qt.mainWindow() is not None
    assert "Houdini" in hou.qt.mainWindow().windowTitle()
    assert hou.ui.displayMessage("Submitted 3 jobs", buttons=("OK", "Cancel"),
                                 severity=hou.severityType.Warning, default_choice=1) == 1
    hou.ui.setStatusMessage("Farm: 3 running", severity=hou.severityType.ImportantMessage)
    kinds = [(m["kind"], m["text"], m["severity"]) for m in fake.messages()]
    assert kinds == [("dialog", "Submitted 3 jobs", hou.severityType.Warning),
                     ("status", "Farm: 3 running", hou.severityType.ImportantMessage)]
    assert hou.applicationVersion() == (20, 5, 332)
    assert hou.applicationVersionString() == "20.5.332"
    fake.reset("hython")
    assert not hou.isUIAvailable() and hou.qt.mainWindow() is None
    with pytest.raises(AttributeError, match="has no attribute 'ui'"):
        hou.ui.displayMessage("x")
    sys.modules.pop("hdefereval", None)
    with pytest.raises(ImportError, match="only available in a graphical Houdini"):
        importlib.import_module("hdefereval")
    assert hou.hipFile.hasUnsavedChanges()          # hython always says True
    assert hou.hipFile.isNewFile()                  # name is untitled.hip


def test_version_override(fake, monkeypatch):
    monkeypatch.setenv("DCCFUTURES_FAKE_HOUDINI_VERSION", "19.5.805")
    fake.reset("ui")
    import hou
    assert hou.applicationVersion() == (19, 5, 805)


def test_environment_and_expand(hou, fake, tmp_path):
    hou.putenv("SHOT", "sh010")
    assert hou.getenv("SHOT") == "sh010" and os.environ["SHOT"] == "sh010"
    os.environ.pop("SHOT")
    hou.setFrame(7)
    assert hou.frame() == 7.0
    assert hou.expandString("${SHOT}_$F.$F3.${FF}_$UNDEFINED") == "sh010_7.007.7_$UNDEFINED"
    assert hou.playbar.frameRange() == hou.Vector2(1.0, 240.0)


def test_playbar_frame_range_is_a_vector_as_in_houdini(hou):
    """hou.playbar.frameRange() is a hou.Vector2: indexed by int, unpacked, never sliced."""
    frame_range = hou.playbar.frameRange()
    assert isinstance(frame_range, hou.Vector2) and len(frame_range) == 2
    assert (frame_range[0], frame_range[1]) == (frame_range.x(), frame_range.y()) == (1.0, 240.0)
    start, end = frame_range
    assert (start, end) == (1.0, 240.0)
    assert frame_range != (1.0, 240.0)                 # not a tuple
    with pytest.raises(TypeError):
        frame_range[:2]
    with pytest.raises(IndexError):
        frame_range[2]


def test_load_finds_assets_in_hip_otls_and_hda(hou, fake, tmp_path):
    """Houdini looks for asset libraries in $HIP/otls and $HIP/hda, $HIP being the folder of
    the file it is loading: a node whose asset type it does not find is not created."""
    shots = tmp_path / "shots"
    fake.write_hda(shots / "otls" / "rock.hda", ["studio::rock"])
    fake.write_hda(shots / "hda" / "tree.otl", ["studio::tree::2.0"])
    nodes = {"/obj/rock": "studio::rock", "/obj/tree": "studio::tree::2.0",
             "/obj/bush": "studio::bush", "/obj/bush/leaf": "box", "/obj/geo1": "geo"}
    hip = fake.write_hip(shots / "shot010.hip", nodes)
    with pytest.raises(hou.LoadWarning, match=r"Bad node type found: studio::bush in /obj/bush"):
        hou.hipFile.load(hip)
    assert hou.expandString("$HIP") == str(shots)
    assert hou.node("/obj/rock").type().name() == "studio::rock"
    assert hou.node("/obj/tree") and hou.node("/obj/geo1")
    assert hou.node("/obj/bush") is None and hou.node("/obj/bush/leaf") is None
    # The same file loaded from another folder: $HIP is that folder, with no assets in it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = fake.write_hip(elsewhere / "shot010.hip", nodes)
    hou.hipFile.load(copy, suppress_save_prompt=True, ignore_load_warnings=True)
    assert hou.node("/obj/rock") is None and hou.node("/obj/geo1")
    # Setting HIP before the load changes nothing: the load sets it from the file's folder.
    hou.putenv("HIP", str(shots))
    hou.hipFile.load(copy, suppress_save_prompt=True, ignore_load_warnings=True)
    assert hou.node("/obj/rock") is None


def test_deferred_queue(hou, fake):
    import hdefereval
    order = []
    hdefereval.executeDeferred(order.append, "first")
    hdefereval.executeDeferred("import hou_fake; hou_fake.STATE.messages.append("
                               "{'kind': 'text'})")
    hdefereval.executeDeferredAfterWaiting(order.append, 2, "late")

    def chained():
        order.append("chained")
        hdefereval.executeDeferred(order.append, "queued meanwhile")
    hdefereval.executeDeferred(chained)
    assert order == [] and fake.pending() == 4
    assert hdefereval.executeInMainThreadWithResult(lambda a, b=0: a + b, 2, b=3) == 5
    results, errors = [], []

    def worker():
        results.append(hdefereval.executeInMainThreadWithResult(lambda: "from main"))
        try:
            hdefereval.executeInMainThreadWithResult(lambda: 1 / 0)
        except ZeroDivisionError as error:
            errors.append(error)
    thread = threading.Thread(target=worker)
    thread.start()
    ran = 0
    while thread.is_alive():                # the event loop, until the worker got its answers
        ran += fake.process_deferred()
        thread.join(0.01)
    ran += fake.process_deferred()
    assert ran == 7
    assert order == ["first", "chained", "queued meanwhile", "late"]
    assert results == ["from main"] and len(errors) == 1
    assert fake.messages() == [{"kind": "text"}] and fake.pending() == 0


def test_interruptable_operation(hou, fake):
    fake.interrupt_after(2)
    done = []
    with pytest.raises(hou.OperationInterrupted):
        with hou.InterruptableOperation("Waiting", long_operation_name="Farm",
                                        open_interrupt_dialog=True) as operation:
            for index in range(5):
                operation.updateLongProgress(index / 5.0, "item %d" % index)
                done.append(index)
    assert done == [0, 1]
    events = [(kind, pct) for _, kind, pct, _ in fake.progress()]
    assert events == [("begin", None), ("long", 0.0), ("long", 0.2), ("long", 0.4),
                      ("end", None)]
    with hou.InterruptableOperation("Again") as operation:
        operation.updateProgress()          # the interrupt was one shot
        operation.updateProgress(1.0)
    with pytest.raises(hou.InvalidInput):
        with hou.InterruptableOperation("Bad") as operation:
            operation.updateProgress(50)
    with pytest.raises(hou.OperationFailed):
        operation.updateProgress(0.5)       # outside its with block


def test_renders_recorded_and_failures(hou, fake, tmp_path, monkeypatch):
    log = tmp_path / "renders.jsonl"
    monkeypatch.setenv("DCCFUTURES_FAKE_HOU_RENDER_LOG", str(log))
    shot = fake.write_hip(tmp_path / "shot.hip", SHOT)
    hou.hipFile.load(shot, suppress_save_prompt=True)
    hou.node("/out/mantra1").render()
    hou.node("/out/mantra1").render(frame_range=(10, 14, 2), output_progress=False)
    with pytest.raises(hou.OperationFailed, match="frame 3"):
        hou.node("/out/broken").render()
    renders = fake.renders()
    assert [(r["node"], r["frame_range"], r["frames"]) for r in renders] == [
        ("/out/mantra1", [1, 3, 1], [1, 2, 3]), ("/out/mantra1", [10, 14, 2], [10, 12, 14]),
        ("/out/broken", [1, 5, 1], [1, 2])]
    assert renders[2]["error"] and renders[0]["hip"] == shot
    assert os.path.isfile(str(tmp_path / "render" / "shot.0012.exr"))
    assert fake.read_render_log(log) == json.loads(json.dumps(renders))
    assert hou.frame() == 1.0                # the current frame is restored
    with pytest.raises(hou.InvalidInput):
        hou.node("/out/mantra1").render(frame_range=(5,))


def test_selection(hou, fake, tmp_path):
    fake.write_hip(tmp_path / "s.hip", SHOT)
    hou.hipFile.load(str(tmp_path / "s.hip"), suppress_save_prompt=True)
    fake.select(["/obj/geo1", "/out/mantra1"])
    assert [n.path() for n in hou.selectedNodes()] == ["/obj/geo1", "/out/mantra1"]
    hou.node("/out/broken").setSelected(True, clear_all_selected=True)
    assert [n.path() for n in hou.selectedNodes()] == ["/out/broken"]
    hou.node("/out/broken").setSelected(False)
    assert hou.selectedNodes() == ()


def test_fake_hython_loads_a_hip_file(tmp_path):
    sys.path.insert(0, FAKES)
    try:
        import hou_fake
        shot = hou_fake.write_hip(tmp_path / "shot.hip", SHOT, warnings=["old version"])
    finally:
        sys.path.remove(FAKES)
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, hou\n"
        "hou.hipFile.load(sys.argv[1], suppress_save_prompt=True, ignore_load_warnings=True)\n"
        "hou.node('/out/mantra1').render(frame_range=(1, 2))\n"
        "print(hou.isUIAvailable(), hou.hipFile.basename(), hou.getenv('HIPNAME'))\n"
        "try:\n    import hdefereval\nexcept ImportError as e:\n    print(e)\n"
        "print(hasattr(hou, 'ui'), hou.qt.mainWindow())\n")
    log = tmp_path / "renders.jsonl"
    done = subprocess.run([os.path.join(BIN, "hython"), str(script), shot],
                          env=fake_env(DCCFUTURES_FAKE_HOU_RENDER_LOG=str(log)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "False shot.hip shot", "hdefereval is only available in a graphical Houdini",
        "False None"]
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["node"] == "/out/mantra1" and entry["frames"] == [1, 2]
    assert entry["hip"] == shot and entry["pid"] != os.getpid()
    done = subprocess.run([os.path.join(BIN, "hython"), "-c",
                           "import hou; print(hou.applicationVersionString())"],
                          env=fake_env(DCCFUTURES_FAKE_HOUDINI_VERSION="20.0.506"),
                          stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.stdout.strip() == "20.0.506"
    module = tmp_path / "farmjob.py"
    module.write_text("import hou\nprint('module', hou.hipFile.hasUnsavedChanges())\n")
    done = subprocess.run([os.path.join(BIN, "hython"), "-m", "farmjob"],
                          env=fake_env(PYTHONPATH=str(tmp_path)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module True"
