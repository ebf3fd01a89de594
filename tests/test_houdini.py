"""dccfutures.houdini end to end: the fake Houdini (with UI) in this process as the artist's
session, the fake hython executable launched by the local farm (and by the Qube jobtype),
a real hip file copy on disk."""
import glob
import os
import sys
import threading

import pytest

from tests.conftest import FAKES, wait_until

HYTHON = os.path.join(FAKES, "bin", "hython")
CONFIG = 'dcc:\n  houdini:\n    "20.5": {hython: %s}\n' % HYTHON


@pytest.fixture
def houdini_session(farm_home, farm_config, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    monkeypatch.delenv("DCCFUTURES_FAKE_HOU_MODE", raising=False)
    render_log = str(tmp_path / "renders.jsonl")
    monkeypatch.setenv("DCCFUTURES_FAKE_HOU_RENDER_LOG", render_log)
    farm_config(workers=2, extra=CONFIG)
    import hou
    import hou_fake
    hou_fake.reset("ui")
    (tmp_path / "shots").mkdir()
    (tmp_path / "render").mkdir()
    hip = hou_fake.write_hip(str(tmp_path / "shots" / "shot010.hip"), {
        "/obj/geo1": "geo",
        "/out/mantra1": {"type": "ifd", "parms": {
            "trange": 1, "f1": 1, "f2": 25, "f3": 1,
            "vm_picture": str(tmp_path / "render" / "$HIPNAME.$F4.exr")}},
    })
    hou.hipFile.load(hip)
    hou.node("/out/mantra1").parm("f3").set(1)  # the artist's unsaved edit
    yield hou_fake, hip, render_log
    hou_fake.reset("ui")
    from dccfutures import future as future_module
    future_module.set_callback_dispatcher(None)  # an Executor made in "Houdini" installed one


def session_report():
    import hou
    return {"hip": hou.hipFile.path(), "hipname": hou.expandString("$HIPNAME"),
            "hip_dir": hou.expandString("$HIP"),
            "f3": hou.node("/out/mantra1").parm("f3").eval()}


def test_work_runs_in_hython_with_a_copy_of_the_hip_file(houdini_session):
    fake, hip, _ = houdini_session
    import hou
    from dccfutures.houdini import Executor
    hou.node("/out/mantra1").parm("f3").set(5)                 # unsaved: only in the session
    ex = Executor(clone_environ=True, create_tempfile=True)
    assert hou.hipFile.path() == hip and fake.is_modified()    # the session is untouched
    copy = ex.hipfile
    assert os.path.dirname(copy) == os.path.dirname(hip)        # beside it: the same $HIP
    assert os.path.basename(copy).startswith(".shot010.dccfutures-")   # hidden, and ours
    report = ex.submit(session_report).result(60)
    assert report["hip"] == hip                                 # named back: $HIPNAME resolves
    assert report["hipname"] == "shot010"
    assert report["hip_dir"] == os.path.dirname(hip)
    assert report["f3"] == 5                                    # the copy holds the unsaved edit
    wait_until(lambda: not os.path.exists(copy), what="the hip copy removed")
    ex.shutdown()


def test_hython_boots_once_per_worker(houdini_session, farm_home):
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    with ex.batch("twenty") as batch:
        for _ in range(20):
            batch.submit(session_report)
    assert all(f.result(60)["hipname"] == "shot010" for f in batch.futures)
    boots = sum(open(p).read().count("Houdini 20.5 bootstrapped in hython")
                for p in glob.glob(os.path.join(farm_home, "logs", "worker-*.log")))
    assert 1 <= boots <= 2
    ex.shutdown()


def test_missing_hython_fails_naming_version_and_key(houdini_session):
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True, version="19.5")
    with pytest.raises(RuntimeError, match='Houdini 19.5.*dcc.houdini."19.5".hython'):
        ex.submit(session_report).result(60)


def test_cloned_environment_leaves_the_session_behind(houdini_session, monkeypatch):
    monkeypatch.setenv("SHOW", "bigfilm")
    monkeypatch.setenv("HFS", "/opt/hfs20.5")
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True)
    assert ex.environ["SHOW"] == "bigfilm"
    for name in ("HIP", "HIPNAME", "HIPFILE", "HFS"):
        assert name not in ex.environ
    assert ex.version == "20.5"


def test_done_callbacks_run_on_houdinis_main_thread(houdini_session):
    fake, hip, _ = houdini_session
    from dccfutures.houdini import Executor
    fake.set_main_thread(threading.current_thread())
    ex = Executor(clone_environ=True)
    ran = []
    future = ex.submit(pow, 3, 3)
    future.add_done_callback(lambda f: ran.append(threading.current_thread()))
    assert future.result(60) == 27
    wait_until(lambda: fake.pending(), what="the callback queued through hdefereval")
    assert ran == []
    fake.process_deferred()
    assert ran == [threading.current_thread()]


def test_progress_and_interrupt_cancels_what_is_left(houdini_session, tmp_path):
    fake, hip, _ = houdini_session
    from dccfutures.houdini import Executor, progress
    from tests import workloads
    ex = Executor(clone_environ=True)
    quick = [ex.submit(pow, 2, i) for i in range(3)]
    assert [f.result() for f in progress(quick)] == [1, 2, 4]
    assert any(event[2] == 1.0 for event in fake.progress())  # reached 100%
    slow = [ex.submit(workloads.wait_for_file, str(tmp_path / "never")) for _ in range(2)]
    fake.interrupt_after(3)  # the artist presses Esc while they run
    progress(slow)
    assert all(f.cancelled() for f in slow)


def test_cook_selected_rops_renders_frame_chunks_on_the_farm(houdini_session):
    fake, hip, render_log = houdini_session
    from dccfutures.actions.houdini import cook_selected_rops
    fake.select(["/out/mantra1"])
    futures = cook_selected_rops(chunk_size=10)
    assert [f.result(60) for f in futures] == ["1-10", "11-20", "21-25"]
    renders = fake.read_render_log(render_log)
    assert sorted(r["frame_range"] for r in renders) == [[1, 10, 1], [11, 20, 1], [21, 25, 1]]
    assert {r["hip"] for r in renders} == {hip}       # rendered as the artist's hip file
    assert {r["pid"] for r in renders} - {os.getpid()}  # ... in hython, not here
    assert len({f.job_id for f in futures}) == 1
    frames = sorted(os.listdir(os.path.join(os.path.dirname(os.path.dirname(hip)), "render")))
    assert frames[0] == "shot010.0001.exr" and len(frames) == 25


def test_cook_selected_rops_with_a_range_and_a_failing_frame(houdini_session, tmp_path):
    fake, hip, render_log = houdini_session
    import hou
    from dccfutures.actions.houdini import cook_selected_rops
    broken = fake.write_hip(str(tmp_path / "shots" / "broken.hip"), {
        "/out/geo_rop": {"type": "geometry", "parms": {"f1": 1, "f2": 9, "f3": 1,
                                                        "fail_on_frame": 7}}})
    hou.hipFile.load(broken, suppress_save_prompt=True)
    fake.select(["/out/geo_rop"])
    futures = cook_selected_rops(frames="1-9x2", chunk_size=2)   # 1,3 | 5,7 | 9
    assert futures[0].result(60) == "1,3" and futures[2].result(60) == "9"
    with pytest.raises(Exception, match="failed on frame 7"):
        futures[1].result(60)


def test_cook_selected_rops_needs_a_rop(houdini_session):
    fake, hip, _ = houdini_session
    from dccfutures.actions.houdini import cook_selected_rops
    fake.select(["/obj/geo1"])
    with pytest.raises(ValueError, match="select one or more ROP nodes"):
        cook_selected_rops()


def test_rendering_a_node_that_is_no_rop_names_the_node_and_its_type(houdini_session):
    """An OBJ or SOP node has no render(): the farm says which node it is, not
    "AttributeError: 'Node' object has no attribute 'render'"."""
    from dccfutures.actions.houdini import render_chunk
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    future = ex.submit(render_chunk, "/obj/geo1", "1-3")
    with pytest.raises(ValueError, match=r"^/obj/geo1 is not a ROP \(its type is Object/geo\): "
                                         r"only ROP nodes, in /out or a ROP network, render"):
        future.result(60)
    ex.shutdown()


def test_houdini_work_through_the_qube_jobtype(houdini_session, qube_root, farm_config,
                                               tmp_path):
    farm_config(extra='farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n%s'
                      % (tmp_path / "spool", CONFIG))
    fake, hip, _ = houdini_session
    import qb
    from dccfutures.houdini import Executor
    ex = Executor(farm="qube", clone_environ=True, create_tempfile=True, cpus=1)
    results = list(ex.map(eval, ["__import__('hou').hipFile.path()"] * 3))
    assert results == [hip] * 3
    job, = qb.jobinfo(id=[max(j["id"] for j in qb.jobinfo())])
    assert job["prototype"] == "dccfutures_houdini"
    out = "".join(r["data"] for r in qb.stdout(job["id"]))
    assert out.count("Houdini 20.5 bootstrapped in hython") == 1


def test_the_copy_of_a_hip_file_with_dollars_in_its_path(houdini_session, tmp_path):
    """HScript expands $VARIABLES inside double quotes: the copy must land where we said."""
    fake, hip, _ = houdini_session
    import hou
    folder = tmp_path / "shots" / "$JOB"
    folder.mkdir()
    odd = fake.write_hip(str(folder / "shot020.hip"), {"/obj/geo1": "geo"})
    hou.hipFile.load(odd, suppress_save_prompt=True)
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    assert os.path.dirname(ex.hipfile) == str(folder)
    assert os.path.isfile(ex.hipfile)


def test_attaching_from_houdini_never_takes_the_copy_away(houdini_session, tmp_path):
    """Futures of attach() hold no scene copy: the copy stays while this executor's job runs."""
    from dccfutures.houdini import Executor
    from tests import workloads
    ex = Executor(clone_environ=True, create_tempfile=True)
    old = ex.submit(pow, 2, 2)
    assert old.result(60) == 4
    flag = str(tmp_path / "go")
    running = ex.submit(workloads.wait_for_file, flag)
    copy = ex.hipfile
    assert [f.result(60) for f in ex.attach(old.job_id)] == [4]
    assert os.path.exists(copy)                   # still needed by `running`
    open(flag, "w").close()
    running.result(60)
    wait_until(lambda: not os.path.exists(copy), what="the copy removed with its last future")


def asset_nodes():
    import hou
    return {path: (hou.node(path).type().name() if hou.node(path) else None)
            for path in ("/obj/rock", "/obj/tree")}


def test_the_farm_loads_the_copy_with_the_artists_hip_for_its_assets(houdini_session,
                                                                       tmp_path):
    """Assets in $HIP/otls and $HIP/hda are found while the copy loads ($HIP is the folder
    of the file being loaded): the copy sits beside the hip file, not in a subfolder."""
    fake, hip, _ = houdini_session
    import hou
    shots = os.path.dirname(hip)
    fake.write_hda(os.path.join(shots, "otls", "rock.hda"), ["studio::rock"])
    fake.write_hda(os.path.join(shots, "hda", "tree.hda"), ["studio::tree::2.0"])
    fake.write_hip(hip, {"/obj/rock": "studio::rock", "/obj/tree": "studio::tree::2.0"})
    hou.hipFile.load(hip, suppress_save_prompt=True)
    assert asset_nodes() == {"/obj/rock": "studio::rock", "/obj/tree": "studio::tree::2.0"}
    from dccfutures.houdini import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    assert ex.submit(asset_nodes).result(60) == {"/obj/rock": "studio::rock",
                                                 "/obj/tree": "studio::tree::2.0"}
    ex.shutdown()


def test_clean_removes_hip_copies_and_never_the_artists_files(houdini_session, farm_home,
                                                              capsys):
    """A hip copy sits among the artist's files: `clean` deletes only files named like our
    copies, whatever a record says."""
    fake, hip, _ = houdini_session
    import subprocess
    from dccfutures import scene_copies
    from dccfutures.cli import main
    from tests.conftest import ROOT
    copy = scene_copies.copy_path(hip, beside=True)
    shots = os.path.dirname(hip)
    lookalikes = [os.path.join(shots, name) for name in
                  ("shot010.1a2b3c4d.hip", ".shot010.hip", "shot010.dccfutures-1a2b3c4d.hip")]
    for path in [copy] + lookalikes:
        open(path, "w").close()
    # Recorded by a session that has crashed since (its process is gone).
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); from dccfutures "
                    "import scene_copies; [scene_copies.register(p) for p in %r]"
                    % (ROOT, [copy, hip] + lookalikes)], check=True, timeout=60)
    week_ago = os.path.getmtime(hip) - 8 * 86400
    for path in [copy, hip] + lookalikes:
        os.utime(path, (week_ago, week_ago))
    assert main(["clean"]) == 0
    assert "removed scene copy %s" % copy in capsys.readouterr().out
    assert not os.path.exists(copy)
    assert all(os.path.exists(path) for path in [hip] + lookalikes)


def fake_houdini_install(root):
    """A Houdini install as the farm sees it: $HFS/bin/houdini (the running application),
    $HFS/bin/hython and the plain Python Houdini ships ($HFS/python/bin/python3.X)."""
    hfs = root / "hfs20.5"
    (hfs / "bin").mkdir(parents=True)
    (hfs / "bin" / "houdini").write_text("")
    os.symlink(HYTHON, str(hfs / "bin" / "hython"))
    python = hfs / "python" / "bin" / ("python3.%d" % sys.version_info[1])
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    python.chmod(0o755)
    return hfs


def which_interpreter():
    """"hython" when this work runs in the (fake) hython, else "python"."""
    return "hython" if os.environ.get("DCCFUTURES_FAKE_HOU_MODE") == "hython" else "python"


@pytest.mark.parametrize("configured", [False, True])
def test_plain_work_from_houdini_runs_in_a_plain_python(houdini_session, farm_config,
                                                        monkeypatch, tmp_path, configured):
    """Plain work (a plain Executor) from Houdini runs in the config's `python:`, else in the
    Python Houdini ships: not in hython, which takes a licence per worker."""
    hfs = fake_houdini_install(tmp_path)
    if configured:
        studio_python = tmp_path / "studio-python"
        studio_python.write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
        studio_python.chmod(0o755)
        farm_config(workers=2, extra="python: %s\n%s" % (studio_python, CONFIG))
    monkeypatch.setattr(sys, "executable", str(hfs / "bin" / "houdini"))  # inside Houdini
    from dccfutures import Executor
    ex = Executor()
    assert ex.submit(which_interpreter).result(60) == "python"
    ex.shutdown()
