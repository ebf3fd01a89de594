"""dccfutures.maya end to end: the fake Maya in this process (the artist's session), the fake
mayapy executable launched by the local farm's supervisor, a real scene copy on disk."""
import glob
import os
import sys

import pytest

from tests.conftest import FAKES, wait_until

MAYAPY = os.path.join(FAKES, "bin", "mayapy")


@pytest.fixture
def maya_session(farm_home, farm_config, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    monkeypatch.delenv("DCCFUTURES_FAKE_MAYA_MODE", raising=False)
    farm_config(workers=2, extra='dcc:\n  maya:\n    "2025": {mayapy: %s}\n' % MAYAPY)
    import maya._fake as fake
    fake.reset("interactive")
    import maya.cmds as cmds
    scene = fake.write_scene(_scene_path(tmp_path), {"pCube1": "transform", "pCubeShape1": "mesh"})
    cmds.file(scene, open=True, force=True)
    cmds.createNode("transform", name="unsaved_change")  # the artist's unsaved edit
    workspace = tmp_path / "project"
    workspace.mkdir()
    cmds.workspace(str(workspace), openWorkspace=True)
    yield fake, scene, str(workspace)
    fake.reset("interactive")
    from dccfutures import future as future_module
    future_module.set_callback_dispatcher(None)  # an Executor made in "Maya" installed one


def _scene_path(tmp_path):
    (tmp_path / "shots").mkdir()
    return str(tmp_path / "shots" / "sh010.ma")


def scene_report():
    import maya.cmds as cmds
    return {"scene": cmds.file(query=True, sceneName=True), "nodes": sorted(cmds.ls()),
            "workspace": cmds.workspace(query=True, rootDirectory=True)}


def test_work_runs_in_mayapy_with_a_copy_of_the_scene(maya_session):
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    import maya.cmds as cmds
    ex = Executor(clone_environ=True, create_tempfile=True)
    # The artist's session is untouched: same name, still modified.
    assert cmds.file(query=True, sceneName=True) == scene
    assert cmds.file(query=True, modified=True) is True
    copy = ex.filename
    assert os.path.dirname(copy) == os.path.join(os.path.dirname(scene), ".dccfutures")
    report = ex.submit(scene_report).result(60)
    assert report["scene"] == scene                  # renamed back: <Scene> tokens resolve
    assert "unsaved_change" in report["nodes"]       # the copy holds the unsaved edit
    assert report["workspace"].rstrip("/") == workspace
    wait_until(lambda: not os.path.exists(copy), what="the scene copy removed")
    ex.shutdown()


def test_maya_boots_once_per_worker(maya_session, farm_home):
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    with ex.batch("node types") as batch:
        for _ in range(20):
            batch.submit(scene_report)
    assert all(f.result(60)["scene"] == scene for f in batch.futures)
    boots = 0
    for log in glob.glob(os.path.join(farm_home, "logs", "worker-*.log")):
        boots += open(log).read().count("Maya 2025 bootstrapped")
    assert 1 <= boots <= 2  # 2 workers at most, each booting Maya once for 20 items
    ex.shutdown()


def test_missing_mayapy_fails_the_work_naming_version_and_key(maya_session):
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, version="2024")
    future = ex.submit(scene_report)
    with pytest.raises(RuntimeError, match='Maya 2024.*dcc.maya."2024".mayapy'):
        future.result(60)


def test_cloned_environment_leaves_session_variables_behind(maya_session, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("SHOW", "bigfilm")
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True)
    assert "DISPLAY" not in ex.environ and ex.environ["SHOW"] == "bigfilm"
    env = ex.submit(eval, "dict(__import__('os').environ)").result(60)  # read on the farm
    assert env["SHOW"] == "bigfilm" and env["QBLVL"] == "1" and "DISPLAY" not in env


def test_maya_work_through_the_qube_jobtype(maya_session, qube_root, farm_config, tmp_path):
    """The dccfutures_mayapy jobtype execs the configured mayapy, which boots Maya once."""
    farm_config(extra='farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n'
                      'dcc:\n  maya:\n    "2025": {mayapy: %s}\n' % (tmp_path / "spool", MAYAPY))
    fake, scene, workspace = maya_session
    import qb
    from dccfutures.maya import Executor
    ex = Executor(farm="qube", clone_environ=True, create_tempfile=True, cpus=1)
    results = list(ex.map(eval, ["__import__('maya.cmds').cmds.file(q=True, sn=True)"] * 3))
    assert results == [scene] * 3
    job, = qb.jobinfo(id=[max(j["id"] for j in qb.jobinfo())])
    assert job["prototype"] == "dccfutures_mayapy"
    out = "".join(r["data"] for r in qb.stdout(job["id"]))
    assert out.count("Maya 2025 bootstrapped") == 1  # one subjob, one boot, three items


def test_done_callbacks_run_on_mayas_main_thread(maya_session):
    fake, scene, workspace = maya_session
    import threading
    import maya.cmds as cmds
    from dccfutures import future as future_module
    from dccfutures.maya import Executor
    fake.set_main_thread(threading.current_thread())
    fake.set_strict_threads(True)  # maya.cmds from another thread raises, as it may crash Maya
    try:
        ex = Executor(clone_environ=True)
        done = ex.submit(pow, 2, 5)
        ran = []
        done.add_done_callback(lambda f: ran.append(cmds.createNode("transform",
                                                                    name="from_callback")))
        assert done.result(60) == 32
        assert ran == []                       # not on the poller thread ...
        wait_until(lambda: fake.pending(), what="the callback queued for the main thread")
        fake.process_idle_events()             # ... but on Maya's idle loop
        assert ran and "from_callback" in cmds.ls()
    finally:
        fake.set_strict_threads(False)
        future_module.set_callback_dispatcher(None)


def test_progress_bar_while_waiting_and_esc_cancels(maya_session, tmp_path):
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor, progress
    from tests import workloads
    ex = Executor(clone_environ=True)
    quick = [ex.submit(pow, 2, i) for i in range(3)]
    assert [f.result() for f in progress(quick)] == [1, 2, 4]
    assert fake.progress_state()["value"] == 3 and fake.progress_state()["max"] == 3
    slow = [ex.submit(workloads.wait_for_file, str(tmp_path / "never")) for _ in range(2)]
    fake.press_escape_after(3)  # the artist presses Esc while they run
    progress(slow)
    assert all(f.cancelled() for f in slow)
    assert fake.progress_state()["active"] is False  # the bar was ended
