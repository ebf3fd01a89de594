"""The artist's side of Blender: done-callbacks on Blender's main thread, progress() with Esc,
the default executable, the Farm Monitor panel and job-end messages.

The bpy module is always in background, so the UI is tested in the real one: Debian's Blender
3.4 under Xvfb runs tests/blender_session_ui.py ONCE for this file (a module-scoped fixture),
which submits to a local farm, lets Blender's event loop run and writes what it saw to a JSON
file; each test asserts one part of it. Background behaviour is tested with the bpy module.
"""
import json
import os
import sys
import threading

import pytest

from tests import real_blender
from tests.conftest import stop_farm, wait_until, write_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "blender_session_ui.py")
LOCAL = ("local:\n  workers: 2\n  idle_timeout: 60\n  max_attempts: 3\n  heartbeat: 0.2\n"
         "  lease_timeout: 10\n")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """One run of the real Blender UI (see tests/blender_session_ui.py): its JSON report."""
    real_blender.require(ui=True)
    folder = tmp_path_factory.mktemp("blender_ui")
    home = str(folder / "home")
    # Plain work from Blender runs in this test's Python (Blender's own is the system's,
    # without our dependencies); no dcc: section, so the Blender executor uses its defaults.
    config = write_config(str(folder / "config.yaml"), LOCAL + "python: %s\n" % sys.executable)
    out = str(folder / "report.json")
    # An empty user config folder: Blender's factory settings, with the scripts folder
    # (--factory-startup would ignore that too).
    env = {"DCCFUTURES_HOME": home, "DCCFUTURES_CONFIG": config,
           "BLENDER_USER_CONFIG": str(folder / "blender_config"),
           "DCCFUTURES_TEST_ADDONS": os.path.join(ROOT, "blender_plugin")}
    for name in ("QBLVL", "DCCFUTURES_RECURSION_LIMIT", "DCCFUTURES_JOB_ID",
                 "DCCFUTURES_WORK_ID"):
        env[name] = ""
    scripts = real_blender.scripts_folder(str(folder / "scripts"))
    try:
        process = real_blender.run(["--enable-event-simulate",
                                    "--python", SCRIPT, "--", out], scripts, env=env,
                                   timeout=120, ui=True)
    finally:
        stop_farm(home)
    if not os.path.isfile(out):
        pytest.fail("Blender wrote no report (exit status %s):\n%s\n%s"
                    % (process.returncode, process.stdout[-4000:], process.stderr[-4000:]))
    with open(out) as handle:
        report = json.load(handle)
    report["output"] = process.stdout + process.stderr
    assert not report["errors"], "\n".join(report["errors"]) + report["output"][-3000:]
    return report


def callback(ui, name):
    found = [c for c in ui["callbacks"] if c["name"] == name]
    assert found, "callback %r never ran; ran: %s" % (name, [c["name"] for c in ui["callbacks"]])
    return found[0]


# -- done-callbacks -------------------------------------------------------------------------

def test_done_callbacks_run_on_blenders_main_thread(ui):
    for name in ("where", "after ValueError", "after SystemExit", "after the load"):
        assert callback(ui, name)["main"], callback(ui, name)
    assert callback(ui, "after ValueError")["result"] == 3


def test_a_callback_that_raises_stops_neither_the_timer_nor_the_others(ui):
    assert ui["system_exit_raised"]
    assert callback(ui, "after SystemExit")["result"] == 7        # a later future's callback
    assert "a done-callback that raises SystemExit" in ui["output"]   # logged, not lost


def test_callbacks_still_reach_the_main_thread_after_a_file_loads(ui):
    assert ui["timers_after_load"] == {"callbacks": True, "monitor": True}
    late = callback(ui, "after the load")
    assert late["loads"] >= 1 and late["main"] and late["result"] == 11


# -- progress -------------------------------------------------------------------------------

def test_progress_returns_at_once_and_shows_how_many_are_done(ui):
    shown = ui["progress"]
    assert shown["is_the_futures"] and shown["returned_in"] < 0.5   # it cannot block the UI
    assert any(text.startswith("Rendering: 1/3") for text in shown["texts"]), shown["texts"]


def test_esc_cancels_what_is_left(ui):
    # A real Esc key event, put in the window's queue by Window.event_simulate.
    shown = ui["progress"]
    assert shown["cancelled"]
    assert shown["futures"] == [[False, "complete"], [True, "killed"], [True, "killed"]]
    assert shown["final_text"] == "Rendering: 1/3  33%, 2 killed"
    assert "Rendering: 1/3  33%, 2 killed (Esc cancelled 2)" in ui["info"]


# -- the default executable -----------------------------------------------------------------

def test_inside_blender_work_runs_in_blender_b_of_this_blender(ui):
    default = ui["default"]
    assert default["prototype"] == "dccfutures_blender"
    assert default["version"] == ".".join(default["session_version"].split(".")[:2])
    assert ui["where"] == {"binary": default["binary_path"], "background": True,
                           "version": default["session_version"]}


# -- the Farm Monitor panel and job-end messages --------------------------------------------

def test_the_panel_draws_what_its_thread_read_and_never_calls_the_farm(ui):
    assert ui["panel_draws"] and set(ui["panel_draws"]) == {"MainThread"}
    assert not [call for call in ui["farm_calls"] if call[2]]       # none inside draw()
    readers = {call[0] for call in ui["farm_calls"] if call[1] == "jobs"}
    # One reader for the panel and the job-end messages: the farm is read once per interval.
    assert readers == {"dccfutures-blender-monitor"}, readers
    rows = {row[1]: row for row in ui["rows"]}
    assert rows[ui["where_job"]][3] == "complete"
    assert rows[ui["where_job"]][5].startswith("1/1 100%")
    assert rows[ui["progress"]["job_ids"][1]][3] == "killed"


def test_kill_and_retry_from_the_panel(ui):
    job = ui["long_job"]
    assert ui["after_kill"][3] == "killed" and ui["after_kill"][7]           # can retry
    assert ui["after_retry"][3] in ("pending", "running") and ui["after_retry"][6]
    kills = [call for call in ui["farm_calls"] if call[1] in ("kill", "retry")
             and call[0] == "dccfutures-blender-monitor"]
    assert [call[1] for call in kills][:2] == ["kill", "retry"]
    assert "killed 1 work item of job %s" % job in ui["info"]


def test_job_end_messages_appear_in_the_info_editor(ui):
    # The jobs of progress(), which ended after the file load (a load empties the editor).
    complete, killed = ui["progress"]["job_ids"][:2]
    assert "dccfutures job %s complete: submit(nap) (1/1 work items complete)" % complete \
        in ui["info"], ui["info"]
    assert "dccfutures job %s killed" % killed in ui["info"]


def test_reports_keep_their_order(ui):
    job = ui["long_job"]
    lines = [line for line in ui["info"].splitlines() if "of job %s" % job in line]
    assert lines == ["dccfutures: killed 1 work item of job %s" % job,
                     "dccfutures: retrying 1 work item of job %s" % job,
                     "dccfutures: killed 1 work item of job %s" % job]


def test_unregister_stops_the_thread_and_the_timer_and_removes_every_class(ui):
    after = ui["after_unregister"]
    assert "dccfutures-blender-monitor" not in after["threads"]
    assert "dccfutures-watch" not in after["threads"]
    assert not after["monitor_timer"] and not after["progress_operator"]
    assert after["classes"] == []


# -- background: the bpy module -------------------------------------------------------------

@pytest.fixture
def bpy_module():
    try:
        import bpy
    except ImportError:  # bpy 4.2 wheels exist for CPython 3.11 only
        pytest.skip("needs PyPI's bpy 4.2 (Python 3.11 only): pip install 'bpy==4.2.*' "
                    "(make test installs it)")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy


def bpy_where():
    import bpy
    return sys.executable, bpy.app.version_string


def test_in_the_bpy_module_work_runs_in_this_python_without_config(bpy_module, farm_home):
    from dccfutures.blender import Executor
    ex = Executor()                              # no dcc: section in the config
    assert (ex.prototype, ex.version) == ("dccfutures_bpy", "4.2")
    assert ex.submit(bpy_where).result(60) == (sys.executable, bpy_module.app.version_string)
    ex.shutdown()


def test_in_background_callbacks_run_directly_and_progress_waits(bpy_module, farm_home):
    from dccfutures.blender import Executor, progress
    ex = Executor()
    ran_on = []
    futures = [ex.submit(bpy_where) for _ in range(2)]
    futures[0].add_done_callback(lambda f: ran_on.append(threading.current_thread().name))
    shown = progress(futures)
    assert shown == futures and all(f.done() for f in futures)
    assert shown.finished and shown.text == "Waiting for the farm: 2/2 100%"
    wait_until(lambda: ran_on, what="the done-callback")
    assert ran_on[0] != "MainThread"                # no timer fires in background
    ex.shutdown()
