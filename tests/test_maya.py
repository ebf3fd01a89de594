"""dccfutures.maya end to end: the fake Maya in this process (the artist's session), the fake
mayapy executable launched by the local farm's supervisor, a real scene copy on disk."""
import glob
import os
import sys

import pytest

from tests.conftest import FAKES, wait_until

MAYAPY = os.path.join(FAKES, "bin", "mayapy")
MAYA = os.path.join(FAKES, "bin", "maya")
BOTH = 'dcc:\n  maya:\n    "2025": {mayapy: %s, maya: %s}\n' % (MAYAPY, MAYA)


@pytest.fixture
def maya_session(farm_home, farm_config, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    monkeypatch.delenv("DCCFUTURES_FAKE_MAYA_MODE", raising=False)
    farm_config(workers=2, extra=BOTH)
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
        boots += open(log).read().count("Maya 2025 bootstrapped in mayapy")
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
    """The dccfutures_mayapy jobtype starts the configured mayapy as its child, which boots
    Maya once for every item of the subjob."""
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
    assert out.count("Maya 2025 bootstrapped in mayapy") == 1  # one subjob, one boot, 3 items


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


def test_progress_outside_the_gui_just_waits(maya_session):
    """mayapy and `maya -batch` have no main progress bar ($gMainProgressBar is declared by
    the GUI start-up only, and reading it there is a MEL error): progress() just waits."""
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor, progress
    ex = Executor(clone_environ=True)
    futures = [ex.submit(pow, 2, i) for i in range(3)]
    fake.set_mode("batch")                                # maya -batch
    assert [f.result() for f in progress(futures)] == [1, 2, 4]
    fake.reset("library")                                 # mayapy
    from maya import standalone
    standalone.initialize(name="python")
    assert [f.result() for f in progress(futures)] == [1, 2, 4]


def test_a_workspace_missing_on_the_farm_is_created(maya_session, tmp_path):
    """The artist's project folder may not exist on the farm machine: the bootstrap creates
    it before opening it (as deadline-cloud-for-maya does), and the work runs in it."""
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    farm_only = str(tmp_path / "not_on_the_farm_yet" / "project")
    ex = Executor(clone_environ=True, workspace=farm_only)
    assert ex.submit(scene_report).result(60)["workspace"].rstrip("/") == farm_only
    assert os.path.isdir(farm_only)


def batch_report():
    """Where this item runs: which Maya executable started it, and what userSetup left."""
    import maya.cmds as cmds
    return {"scene": cmds.file(query=True, sceneName=True),
            "executable": os.environ.get("DCCFUTURES_FAKE_MAYA_MODE"),
            "user_setup": os.environ.get("STUDIO_USERSETUP_RAN"),
            "batch": cmds.about(batch=True)}


@pytest.fixture
def studio_user_setup(tmp_path, monkeypatch):
    """A studio userSetup.py on PYTHONPATH, as the artist's environment has it."""
    folder = tmp_path / "studio_scripts"
    folder.mkdir()
    (folder / "userSetup.py").write_text("import os\nos.environ['STUDIO_USERSETUP_RAN'] = 'yes'\n")
    monkeypatch.setenv("PYTHONPATH", str(folder))


def test_maya_batch_prototype_runs_in_maya_batch_with_user_setup(maya_session, studio_user_setup,
                                                                  farm_home):
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, create_tempfile=True, prototype="dccfutures_maya")
    with ex.batch("batch report") as batch:
        for _ in range(6):
            batch.submit(batch_report)
    reports = [f.result(60) for f in batch.futures]
    assert reports[0] == {"scene": scene, "executable": "batch", "user_setup": "yes",
                          "batch": True}
    assert all(r == reports[0] for r in reports)
    logs = "".join(open(p).read() for p in glob.glob(os.path.join(farm_home, "logs", "*.log")))
    assert 1 <= logs.count("Maya 2025 bootstrapped in maya_batch") <= 2  # per worker, not item
    ex.shutdown()


def test_maya_batch_through_the_qube_jobtype(maya_session, studio_user_setup, qube_root,
                                             farm_config, tmp_path):
    farm_config(extra='farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n%s'
                      % (tmp_path / "spool", BOTH))
    fake, scene, workspace = maya_session
    import qb
    from dccfutures.maya import Executor
    ex = Executor(farm="qube", clone_environ=True, create_tempfile=True, cpus=1,
                  prototype="dccfutures_maya")
    assert ex.submit(batch_report).result(60) == {"scene": scene, "executable": "batch",
                                                  "user_setup": "yes", "batch": True}
    job, = qb.jobinfo(id=[max(j["id"] for j in qb.jobinfo())])
    assert job["prototype"] == "dccfutures_maya"


def test_missing_maya_executable_names_the_batch_key(maya_session, farm_config):
    farm_config(extra='dcc:\n  maya:\n    "2025": {mayapy: %s}\n' % MAYAPY)
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, prototype="dccfutures_maya")
    with pytest.raises(RuntimeError, match='Maya 2025.*dcc.maya."2025".maya '):
        ex.submit(batch_report).result(60)


def test_unknown_prototype_is_refused_before_anything_is_submitted(maya_session):
    from dccfutures.maya import Executor
    with pytest.raises(ValueError, match="'dccfutures_mya'.*'dccfutures_mayapy' or "
                                         "'dccfutures_maya'"):
        Executor(clone_environ=True, prototype="dccfutures_mya")


def nested_maya_until_error():
    """Inside a farm Maya: submit Maya work one level deeper until the limit refuses."""
    import dccfutures
    from dccfutures.maya import Executor
    import maya.cmds as cmds
    try:
        ex = Executor(version=cmds.about(version=True), filename=cmds.file(q=True, sn=True))
        return ex.submit(nested_maya_until_error).result(120)
    except dccfutures.RecursionLimitError as error:
        return {"level": os.environ.get("QBLVL"), "error": str(error),
                "scene": cmds.file(q=True, sn=True)}


def test_recursion_limit_across_maya_jobs(maya_session, monkeypatch, farm_config):
    """Maya work that submits Maya work stops at the QBLVL limit with a clear error, and every
    level really ran inside a bootstrapped Maya with the scene."""
    farm_config(workers=1, extra=BOTH)
    monkeypatch.setenv("DCCFUTURES_RECURSION_LIMIT", "3")
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True)
    outcome = ex.submit(nested_maya_until_error).result(120)
    assert outcome["level"] == "3" and "recursion limit" in outcome["error"].lower()
    assert outcome["scene"] == scene


# -- scene copies: who removes them ----------------------------------------------------------

def _copies(scene):
    folder = os.path.join(os.path.dirname(scene), ".dccfutures")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_an_executor_keeps_working_after_its_copy_went(maya_session):
    """The copy goes with its last future; a later submit takes a fresh copy of the scene."""
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor
    import maya.cmds as cmds
    ex = Executor(clone_environ=True, create_tempfile=True)
    first = ex.filename
    assert "unsaved_change" in ex.submit(scene_report).result(60)["nodes"]
    wait_until(lambda: not os.path.exists(first), what="the first copy removed")
    cmds.createNode("transform", name="later_change")
    report = ex.submit(scene_report).result(60)
    assert "later_change" in report["nodes"] and report["scene"] == scene
    assert ex.filename != first
    wait_until(lambda: _copies(scene) == [], what="the second copy removed")


SUBMIT_AND_LEAVE = """
import sys
sys.path[:0] = [{fakes!r}, {root!r}]
import maya._fake, maya.cmds as cmds
maya._fake.reset("interactive")
cmds.file({scene!r}, open=True, force=True)
from dccfutures.maya import Executor
from tests import workloads
ex = Executor(clone_environ=True, create_tempfile=True)
ex.submit(workloads.wait_for_file, {flag!r})
print(ex.filename)
"""


def test_the_farm_removes_the_copy_of_a_session_that_left(maya_session, tmp_path):
    """The artist submits and closes Maya: the copy belongs to the job, and goes when it ends."""
    fake, scene, workspace = maya_session
    import subprocess
    from tests.conftest import ROOT
    flag = str(tmp_path / "go")
    code = SUBMIT_AND_LEAVE.format(fakes=FAKES, root=ROOT, scene=scene, flag=flag)
    copy = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip().splitlines()[-1]
    assert os.path.exists(copy)  # the session is gone; its job still needs the copy
    open(flag, "w").close()
    wait_until(lambda: not os.path.exists(copy), timeout=30, what="the farm removing the copy")


def test_clean_removes_orphan_copies_by_age(maya_session, farm_home, capsys):
    fake, scene, workspace = maya_session
    from dccfutures import scene_copies
    from dccfutures.cli import main
    import subprocess
    from tests.conftest import ROOT
    old, fresh, live = (scene_copies.copy_path(scene) for _ in range(3))
    lookalike = os.path.join(os.path.dirname(old), "notes.txt")  # not ours: never deleted
    for path in (old, fresh, lookalike, live):
        open(path, "w").close()
    # Made by a session that has crashed since (its process is gone) ...
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); from dccfutures "
                    "import scene_copies; [scene_copies.register(p) for p in %r]"
                    % (ROOT, [old, fresh, lookalike])], check=True, timeout=60)
    scene_copies.register(live)  # ... and one by this session, still running
    week_ago = os.path.getmtime(old) - 8 * 86400
    for path in (old, lookalike, live):
        os.utime(path, (week_ago, week_ago))
    assert main(["clean"]) == 0  # retention: 7 days
    assert "removed scene copy %s" % old in capsys.readouterr().out
    assert not os.path.exists(old) and os.path.exists(fresh) and os.path.exists(lookalike)
    assert main(["clean", "--older-than", "0"]) == 0
    assert not os.path.exists(fresh) and os.path.exists(lookalike)
    assert os.path.exists(live)  # its session may still submit with it


def test_maya_batch_command_carries_any_argument(tmp_path):
    """The worker's arguments survive MEL's python("...") quoting, whatever they hold."""
    import subprocess
    from dccfutures.runtime.maya import batch_command
    script = tmp_path / "show_argv.py"
    script.write_text("import sys, json\nprint(json.dumps(sys.argv[1:]))\n")
    odd = ['say "hi"', "back\\slash", "two\nlines", "$HOME `date`", "caf\u00e9", "it's"]
    command = batch_command(MAYA, "show_argv", odd)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), DCCFUTURES_FAKE_PYTHON=sys.executable)
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    import json
    assert json.loads(out.stdout.strip().splitlines()[-1]) == odd


def test_a_scene_that_does_not_open_fails_the_work_with_the_reason(maya_session, farm_home):
    """A bootstrap that raises on every worker (a scene the farm's Maya cannot read) fails the
    work with its traceback after a few tries; it never restarts workers forever."""
    from dccfutures.maya import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    with open(ex.filename, "w") as handle:
        handle.write("not a scene")  # what a half-synced file looks like to the farm's Maya
    futures = [ex.submit(scene_report) for _ in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match=r"(?s)set-up.*3 times in a row.*Error") as info:
            future.result(60)
    assert "is not a (fake) Maya scene" in str(info.value)  # the bootstrap's own error
    logs = glob.glob(os.path.join(farm_home, "logs", "worker-*.log"))
    assert len(logs) <= 4  # three tries (and at most one more that raced the verdict)
    ex.shutdown()


def test_a_scene_that_does_not_open_fails_the_qube_work_with_the_reason(maya_session, qube_root,
                                                                         farm_config, tmp_path):
    """On Qube too, a bootstrap that raises fails the subjob's items with its error."""
    farm_config(extra='farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n'
                      'dcc:\n  maya:\n    "2025": {mayapy: %s}\n' % (tmp_path / "spool", MAYAPY))
    from dccfutures.maya import Executor
    ex = Executor(farm="qube", clone_environ=True, create_tempfile=True, cpus=1)
    with open(ex.filename, "w") as handle:
        handle.write("not a scene")
    future = ex.submit(scene_report)
    with pytest.raises(RuntimeError, match="is not a \\(fake\\) Maya scene"):
        future.result(60)
