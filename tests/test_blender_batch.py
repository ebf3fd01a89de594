"""The ``blender -b`` bootstrap (prototype ``dccfutures_blender``) on the local farm, with
Debian's real Blender 3.4 as every worker, and the artist's add-ons on the farm (both
prototypes). The shot is made by that Blender itself (3.4 cannot be trusted to open a 4.2
file), once for the module; the farm is the module's too, so its warm workers serve every test
(Blender boots are few: two workers for the shot)."""
import glob
import json
import os
import subprocess
import sys

import cloudpickle
import pytest

from tests import blender_scenes, real_blender
from tests.blender_scenes import (addons_enabled, fresh_stdlib_module, render_frames,
                                  save_a_copy_then_fail, shot_report)
from tests.conftest import ROOT, stop_farm, write_config

from dccfutures import farms

# The work travels by value, as a TD's script-editor function does: importing this checkout's
# ``tests`` package would import pytest, which Blender's Python does not have.
cloudpickle.register_pickle_by_value(blender_scenes)

BOOTED = "Blender 3.4 bootstrapped in blender_batch (blend file %s)"
PREFS = r"""
import addon_utils, bpy
addon_utils.enable("dcc_probe_addon", default_set=True)
bpy.ops.wm.save_userpref()
"""


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """The farm user's Blender scripts folder: dccfutures for Blender's Python (modules/), a
    studio startup script, the add-on its preferences enable and the one the session will."""
    folder = real_blender.scripts_folder(str(tmp_path_factory.mktemp("farm-scripts")))
    os.makedirs(os.path.join(folder, "startup"))
    with open(os.path.join(folder, "startup", "studio_startup.py"), "w") as handle:
        handle.write(blender_scenes.STARTUP)
    for name in ("dcc_probe_addon", "dcc_session_addon"):
        blender_scenes.write_addon(os.path.join(folder, "addons"), name)
    return folder


@pytest.fixture(scope="module")
def prefs(tmp_path_factory):
    """The farm user's Blender config folder (BLENDER_USER_CONFIG)."""
    return str(tmp_path_factory.mktemp("farm-config"))


@pytest.fixture(scope="module")
def farm(tmp_path_factory, scripts, prefs):
    """A local farm for the module: 2 workers, Blender 3.4 as ``blender`` and this Python
    (PyPI's bpy) as ``python``, and the farm user's Blender folders in the workers'
    environment."""
    base = tmp_path_factory.mktemp("farm")
    home = str(base / "home")
    config = write_config(str(base / "config.yaml"), (
        "local: {workers: 2, idle_timeout: 120, max_attempts: 3, heartbeat: 0.2, "
        "lease_timeout: 10}\ndcc:\n  blender:\n    \"3.4\": {blender: %s}\n"
        "    \"4.2\": {python: %s}\n" % (real_blender.BLENDER or "/usr/bin/blender",
                                        sys.executable)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCCFUTURES_HOME", home)
        patch.setenv("DCCFUTURES_CONFIG", config)
        patch.setenv("BLENDER_USER_SCRIPTS", scripts)
        patch.setenv("BLENDER_USER_CONFIG", prefs)
        for name in ("QBLVL", "DCCFUTURES_RECURSION_LIMIT", "QBFUTURES_RECURSION_LIMIT",
                     "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID"):
            patch.delenv(name, raising=False)
        farms.forget()
        try:
            yield home
        finally:
            stop_farm(home)
            farms.forget()


@pytest.fixture(scope="module")
def shot(tmp_path_factory, scripts, prefs):
    """The shot, saved by Blender 3.4, and the farm user's preferences enabling one add-on."""
    folder = str(tmp_path_factory.mktemp("shots"))
    made = real_blender.run(["-b", "--python-exit-code", "1", "--python-expr",
                             blender_scenes.BUILD + PREFS, "--", folder], scripts,
                            env={"BLENDER_USER_CONFIG": prefs})
    assert made.returncode == 0, made.stdout + made.stderr
    return os.path.join(folder, "shot010.blend")


def batch_executor(blend, **fields):
    from dccfutures.blender import Executor
    return Executor(blendfile=blend, version="3.4", prototype="dccfutures_blender", cpus=4,
                    **fields)


def worker_logs(farm):
    logs = {}
    for path in glob.glob(os.path.join(farm, "logs", "worker-*.log")):
        with open(path, errors="replace") as handle:
            logs[path] = handle.read()
    return logs


def test_blender_b_workers_render_the_frames_where_the_scene_says_booting_once_each(farm,
                                                                                     shot):
    ex = batch_executor(shot)
    with ex.batch("render") as batch:
        renders = [batch.submit(render_frames, [frame]) for frame in (1, 2, 3)]
        reports = [batch.submit(shot_report) for _ in range(3)]
    expected = [os.path.join(os.path.dirname(shot), "render", "f_%04d.png" % f)
                for f in (1, 2, 3)]
    assert [future.result(120)[0] for future in renders] == expected
    assert all(blender_scenes.png_size(path) == (32, 24) for path in expected)
    assert {future.result(60)["binary"] for future in reports} == {real_blender.BLENDER}
    boots = [log.count(BOOTED % shot) for log in worker_logs(farm).values()
             if BOOTED % shot in log]
    assert boots and all(count == 1 for count in boots) and len(boots) <= 2  # once a worker
    ex.shutdown()


def test_the_scene_behaves_as_in_the_artists_blender(farm, shot):
    """Trusted scripts (a registered text block feeding a driver), the user's startup scripts
    and preference-enabled add-ons, and the job's cpus as Cycles' threads."""
    ex = batch_executor(shot)
    report = ex.submit(shot_report).result(120)
    assert report["version"] == (3, 4) and report["file"] == shot
    assert report["lift"] == 30.0                # shot_lift(frame) at frame 3: scripts ran
    assert report["startup"] == ["registered"]   # BLENDER_USER_SCRIPTS/startup
    assert report["probe_addon"] is True         # enabled in the farm user's preferences
    assert report["threads"] == ("FIXED", 2)     # cpus=4 shared by 2 workers
    ex.shutdown()


def test_work_sent_from_another_python_uses_blenders_own_standard_library(farm, shot):
    """The submitter's folders travel with the job so its modules import on the farm, but
    its Python's own installation (standard library, site-packages) must not shadow the
    farm application's: a module the item imports comes from Blender's Python."""
    import sysconfig
    ex = batch_executor(shot)
    module_file, farm_stdlib = ex.submit(fresh_stdlib_module).result(120)
    ex.shutdown()
    assert module_file.startswith(os.path.join(farm_stdlib, "")), module_file
    if os.path.realpath(farm_stdlib) != os.path.realpath(sysconfig.get_paths()["stdlib"]):
        assert not module_file.startswith(sysconfig.get_paths()["stdlib"]), module_file


def test_a_failing_item_shows_blenders_own_output_in_its_log(farm, shot, tmp_path):
    ex = batch_executor(shot)
    copy = str(tmp_path / "probe.blend")
    future = ex.submit(save_a_copy_then_fail, copy)
    with pytest.raises(ValueError, match="failed after Blender saved"):
        future.result(120)
    log = future.log()
    assert 'Info: Saved "probe.blend"' in log, log    # printed by Blender's C code, not ours
    assert BOOTED % shot not in log                   # only this item's output
    ex.shutdown()


def test_the_blender_command_runs_the_farms_dccfutures_with_any_argument(tmp_path):
    """The worker's arguments reach ``sys.argv`` intact; the farm's dccfutures (the first
    ``PYTHONPATH`` entry) wins over an older copy in the user's ``scripts/modules``; and a
    Python error, which Blender answers with status 0 under ``--python-expr`` alone, ends it
    with status 1."""
    from dccfutures.runtime.blender import batch_command
    blender = real_blender.require()
    stale = tmp_path / "scripts" / "modules" / "dccfutures"
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("raise ImportError('a stale dccfutures')\n")
    (tmp_path / "show_argv.py").write_text(
        "import sys, json, dccfutures\nprint('ARGV', json.dumps([dccfutures.__file__] + "
        "sys.argv[1:]))\n")
    (tmp_path / "broken_module.py").write_text("raise ImportError('no such licence')\n")
    odd = ['say "hi"', "back\\slash", "two\nlines", "$HOME `date`", "caf\u00e9", "--", "-b"]
    env = dict(os.environ, BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"),
               PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    env.pop("BLENDER_USER_CONFIG", None)
    run = dict(env=env, capture_output=True, text=True, timeout=120, cwd="/")  # as a farm's
    shown = subprocess.run(batch_command(blender, "show_argv", odd), **run)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.startswith("ARGV "))
    assert json.loads(line[5:]) == [os.path.join(ROOT, "dccfutures", "__init__.py")] + odd
    broken = subprocess.run(batch_command(blender, "broken_module", []), **run)
    assert broken.returncode == 1 and "no such licence" in broken.stdout + broken.stderr


# -- the artist's add-ons on the farm ---------------------------------------------------------

@pytest.fixture
def session_addons(tmp_path, monkeypatch):
    """The artist's session (PyPI's bpy in this process) with two add-ons of its own enabled:
    one the farm has too, and one only this workstation has."""
    try:
        import bpy
        import addon_utils  # on sys.path once bpy is imported
    except ImportError:
        pytest.skip("needs PyPI's bpy 4.2 (Python 3.11 only) for the artist's session: pip "
                    "install 'bpy==4.2.*' (make test installs it)")
    folder = str(tmp_path / "session-addons")
    names = ["dcc_session_addon", "dcc_not_on_the_farm"]
    for name in names:
        blender_scenes.write_addon(folder, name)
    monkeypatch.syspath_prepend(folder)
    for name in names:
        assert addon_utils.enable(name, default_set=True) is not None
    assert set(names) <= set(bpy.context.preferences.addons.keys())
    yield names
    for name in names:
        addon_utils.disable(name, default_set=True)
        sys.modules.pop(name, None)


def not_enabled_lines(farm, name):
    return [line for log in worker_logs(farm).values() for line in log.splitlines()
            if "add-on %r" % name in line]


def test_the_sessions_addons_are_enabled_in_blender_b_workers(farm, shot, session_addons):
    ex = batch_executor(shot)
    enabled = ex.submit(addons_enabled, session_addons + ["dcc_probe_addon"]).result(120)
    assert enabled == {"dcc_session_addon": True, "dcc_not_on_the_farm": False,
                       "dcc_probe_addon": True}   # the work ran without the missing one
    lines = not_enabled_lines(farm, "dcc_not_on_the_farm")
    assert lines and "could not be enabled" in lines[0], lines
    ex.shutdown()


def test_the_sessions_addons_are_enabled_in_bpy_workers(farm, session_addons):
    """PyPI's bpy loads no user preferences: the session's list is how they get there."""
    from dccfutures.blender import Executor
    ex = Executor(version="4.2")
    enabled = ex.submit(addons_enabled, session_addons).result(120)
    assert enabled == {"dcc_session_addon": True, "dcc_not_on_the_farm": False}
    assert len(not_enabled_lines(farm, "dcc_not_on_the_farm")) >= 1
    ex.shutdown()


# -- last: a pool that cannot set up takes the workers' room ---------------------------------

def test_a_scene_blender_cannot_read_fails_the_job_with_its_reason(farm, shot):
    ex = batch_executor(os.path.join(os.path.dirname(shot), "missing.blend"))
    futures = [ex.submit(shot_report) for _ in range(2)]
    for future in futures:
        with pytest.raises(RuntimeError, match=r"(?s)set-up.*3 times in a row.*"
                                               r"Cannot read file.*missing\.blend"):
            future.result(120)
    ex.shutdown()
