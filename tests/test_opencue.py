"""OpenCue: the frame runtime run as RQD runs it, and the backend end to end.

The runtime tests start ``python -m dccfutures.runtime.opencue`` the way RQD does (the
layer's command line, a minimal environment) over a spool folder written by the backend,
with no Cuebot. The end-to-end tests go through the real pycue to the fake Cuebot
(tests/fakes/cuebot/) whose frames the real RQD runs.
"""
import os
import subprocess
import sys
import time
import uuid

import pytest

from dccfutures import config as config_module
from dccfutures import payload
from dccfutures.farms import opencue as cue
from dccfutures.farms.base import JobSpec, WorkSpec
from dccfutures.runtime import opencue as runtime
from tests import workloads
from tests.conftest import FAKES, ROOT, write_config


# -- the frame runtime, as RQD starts it -----------------------------------------------------

@pytest.fixture
def spool(tmp_path, monkeypatch):
    """A spool folder and a config naming it (the render host's and the artist's)."""
    folder = str(tmp_path / "spool")
    path = write_config(str(tmp_path / "cue.yaml"),
                        "opencue: {show: testing, spool_dir: %s}\n" % folder)
    monkeypatch.setenv("DCCFUTURES_CONFIG", path)
    return folder


def _spec(calls, **package):
    work = [WorkSpec(payload.encode_calls([call], 10 ** 8)) for call in calls]
    facts = {"python": sys.executable, "sys_path": [ROOT]}
    facts.update(package)
    return JobSpec(name="t", prototype="dccfutures", work=work, package=facts)


def _write(spec, chunk=1, spool_dir=None):
    farm = cue.OpenCueFarm(config_module.load())
    token = runtime.new_token()
    job = cue.SpecJob(spec, cue.job_name("testing", "default", "u", "t", token), token, chunk)
    return token, farm._write_spool(job, spool_dir or farm.spool_dir, {})


def _frame(token, first, last, job_id="00000000-0000-4000-8000-00000000000a", **env):
    """Run a frame as RQD does: the layer's command through /bin/sh, a minimal environment."""
    xml = cue.spec_xml([cue.SpecJob(_spec([(workloads.add, (0,), {})]), "x", token, 1)],
                       "testing", "default", "u")
    command = xml.split("<cmd>", 1)[1].split("</cmd>", 1)[0].replace("&amp;", "&")
    command = command.replace("#FRAME_START#", str(first)).replace("#FRAME_END#", str(last))
    frame_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT, "CUE_JOB_ID": job_id,
                 "DCCFUTURES_CONFIG": os.environ["DCCFUTURES_CONFIG"]}
    frame_env.update(env)
    return subprocess.run(["/bin/sh", "-c", command], env=frame_env, capture_output=True,
                          text=True, timeout=60, cwd="/tmp")


def _outcome(folder, index):
    status, blob = runtime.read_result(folder, index)
    return status, payload.unpack(payload.decode_outcomes(blob)[0])


def test_a_frame_runs_its_items_and_writes_each_result(spool):
    token, folder = _write(_spec([(workloads.add, (i, 10), {}) for i in range(3)]))
    ran = _frame(token, 0, 2)
    assert ran.returncode == 0, ran.stderr
    assert [_outcome(folder, i) for i in range(3)] == \
        [("complete", (True, 10)), ("complete", (True, 11)), ("complete", (True, 12))]
    assert "--- dccfutures work 00000000-0000-4000-8000-00000000000a:1 begin ---" in ran.stdout


def test_an_exception_fails_its_item_not_the_frame(spool):
    token, folder = _write(_spec([(workloads.fail, ("boom",), {}), (workloads.add, (1,), {})]))
    ran = _frame(token, 0, 1)
    assert ran.returncode == 0, ran.stderr  # the item failed; the frame ran
    status, (ok, error) = _outcome(folder, 0)
    assert (status, ok, type(error).__name__, str(error)) == ("failed", False, "ValueError",
                                                              "boom")
    assert "workloads.py" in error.__cause__.tb and "raise ValueError" in error.__cause__.tb
    assert _outcome(folder, 1) == ("complete", (True, 1))


def test_a_frame_that_crashes_is_run_again_and_skips_what_finished(spool, tmp_path):
    marker = str(tmp_path / "crashed")
    token, folder = _write(_spec([(workloads.add, (1,), {}),
                                  (workloads.crash_once, (marker,), {}),
                                  (workloads.add, (3,), {})]), chunk=3)
    first = _frame(token, 0, 2)
    assert first.returncode != 0  # Cuebot retries it
    assert _outcome(folder, 0) == ("complete", (True, 1))
    assert runtime.read_result(folder, 1) is None and runtime.read_result(folder, 2) is None
    runtime.write_file(folder, runtime.result_file(0), runtime.pack_result(
        "complete", payload.encode_outcomes([payload.ok("kept", None)])))
    second = _frame(token, 0, 2)
    assert second.returncode == 0, second.stderr
    assert _outcome(folder, 0) == ("complete", (True, "kept"))  # not run again
    assert _outcome(folder, 1) == ("complete", (True, "second attempt"))
    assert _outcome(folder, 2) == ("complete", (True, 3))


def test_a_frame_trusts_only_the_spool_folder_of_its_own_config(spool, tmp_path, monkeypatch):
    elsewhere = str(tmp_path / "elsewhere")
    token, folder = _write(_spec([(workloads.add, (1,), {})]), spool_dir=elsewhere)
    ran = _frame(token, 0, 0)
    assert ran.returncode == 1
    assert "this frame cannot start" in ran.stderr and "spool folder of this job is gone" \
        in ran.stderr
    assert runtime.read_result(folder, 0) is None
    write_config(os.environ["DCCFUTURES_CONFIG"], "opencue: {show: testing}\n")
    ran = _frame(token, 0, 0)
    assert ran.returncode == 1 and "sets no opencue.spool_dir" in ran.stderr


def test_a_job_folder_that_is_a_link_elsewhere_is_refused(spool, tmp_path):
    os.makedirs(spool)
    token = runtime.new_token()
    target = tmp_path / "outside"
    target.mkdir()
    os.symlink(str(target), os.path.join(spool, "dccfutures-" + token))
    with pytest.raises(runtime.SpoolError, match="not a dccfutures job folder"):
        runtime.job_folder(spool, token)
    with pytest.raises(runtime.SpoolError, match="not a dccfutures job token"):
        runtime.job_folder(spool, "../../etc")


def test_dependencies_read_results_from_the_other_jobs_folder(spool):
    token_a, folder_a = _write(_spec([(workloads.fail, ("upstream broke",), {})]))
    assert _frame(token_a, 0, 0, job_id="a").returncode == 0
    other = "b" * 8
    spec = _spec([(workloads.add, (5,), {})])
    spec.work[0].depends_on = [("a", 0)]
    farm = cue.OpenCueFarm(config_module.load())
    token_b = runtime.new_token()
    record = cue._Job("a", "x", token_a, {"items": 1})
    folder_b = farm._write_spool(cue.SpecJob(spec, "n", token_b, 1), farm.spool_dir,
                                 {"a": (record, True)})
    ran = _frame(token_b, 0, 0, job_id=other)
    assert ran.returncode == 0, ran.stderr
    status, (ok, error) = _outcome(folder_b, 0)
    assert status == "failed" and type(error).__name__ == "DependencyError"
    assert "work a:0" in str(error) and "upstream broke" in str(error)


# -- end to end: the real pycue, the fake Cuebot, the real RQD --------------------------------

USER = "artist"  # Cuebot refuses jobs from root, which runs these tests


@pytest.fixture(scope="module")
def cue_config(cue_farm, cue_spool, tmp_path_factory):
    """The artist's config: the session's Cuebot and the spool folder its render host trusts
    (``cue_spool``: RQD passes the host's own config on to frames)."""
    folder = tmp_path_factory.mktemp("opencue")
    return write_config(str(folder / "config.yaml"),
                        "farm: opencue\nopencue: {hosts: [\"%s\"], show: testing, spool_dir: %s, "
                        "poll_min: 0.02, poll_max: 0.2, chunk: 3}\n"
                        'dcc:\n  maya:\n    "2025": {mayapy: %s, maya: %s}\n'
                        % (cue_farm.address, cue_spool, os.path.join(FAKES, "bin", "mayapy"),
                           os.path.join(FAKES, "bin", "maya")))


@pytest.fixture
def cue_executor(cue, cue_config, monkeypatch):
    from dccfutures import Executor, farms
    monkeypatch.setenv("DCCFUTURES_CONFIG", cue_config)
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    for name in ("QBLVL", "DCCFUTURES_RECURSION_LIMIT", "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID"):
        monkeypatch.delenv(name, raising=False)
    farms.forget()
    ex = Executor(farm="opencue")
    yield ex
    ex.shutdown(wait=False, cancel_futures=True)
    farms.forget()


def _job_of(cue_farm, job_id):
    with cue_farm.engine.lock:
        return cue_farm.engine.jobs[job_id]


def test_submit_returns_the_result_and_the_job_id_is_opencues(cue_executor, cue):
    future = cue_executor.submit(workloads.add, 2, 3)
    assert future.result(timeout=60) == 5
    assert isinstance(future.job_id, str) and uuid.UUID(future.job_id)
    assert future.work_id == 0 and future.status() == "complete"
    job = _job_of(cue, future.job_id)
    assert job.name.startswith("testing-default-%s_submit_tests.workloads" % USER)


def test_map_runs_one_item_per_frame_in_one_job(cue_executor, cue):
    futures = [cue_executor.submit(workloads.add, 0)]  # warm nothing: just a second job
    results = list(cue_executor.map(workloads.add, range(6), [10] * 6, timeout=90))
    assert results == [10, 11, 12, 13, 14, 15]
    assert futures[0].result(timeout=60) == 0


def test_batch_is_one_job_and_an_exception_carries_the_remote_traceback(cue_executor):
    with cue_executor.batch(name="two things") as batch:
        good = batch.submit(workloads.add, 1, 1)
        bad = batch.submit(workloads.fail, "no luck")
    assert good.job_id == bad.job_id and (good.work_id, bad.work_id) == (0, 1)
    assert good.result(timeout=60) == 2
    error = bad.exception(timeout=60)
    assert type(error) is ValueError and str(error) == "no luck"
    assert "raise ValueError(message)" in error.__cause__.tb
    assert bad.status() == "failed"


def test_progress_and_log_come_back(cue_executor, tmp_path):
    flag = str(tmp_path / "go")
    future = cue_executor.submit(workloads.progress_then_wait, flag)
    from tests.conftest import wait_until
    wait_until(lambda: future.progress == 0.5, timeout=60, what="progress 0.5")
    assert future.progress_message == "half way" and future.status() == "running"
    open(flag, "w").close()
    assert future.result(timeout=60) == "done"
    chatty = cue_executor.submit(workloads.chatty, 7)
    assert chatty.result(timeout=60) == 7
    # Exactly the item's output, in order, its last line included (RQD's own log often
    # lacks a fast frame's last lines: log() reads the frame's copy in the spool).
    assert chatty.log() == "out 7\nerr 7\n"


def test_cancel_kills_the_running_frame(cue_executor, cue, tmp_path):
    import concurrent.futures
    from tests.conftest import wait_until
    pid_file = str(tmp_path / "pid")
    future = cue_executor.submit(workloads.pid_then_sleep, pid_file, 120)
    wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read(), timeout=60,
               what="the frame to start")
    pid = int(open(pid_file).read())
    assert future.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=30)
    wait_until(lambda: not _alive(pid), timeout=30, what="the frame's process to end")


def test_cancelling_a_frame_cuebot_just_started_waits_for_rqd_to_fork_it(cue_executor, cue):
    """RQD 1.37 kills its own process group (itself) when a kill reaches a frame it has not
    forked yet: a cancel right after Cuebot started the frame waits until RQD must have,
    and the render host's RQD survives."""
    import time
    from dccfutures.farms.opencue import RQD_FORK_GRACE
    from tests.conftest import wait_until
    rqd = cue.rqd.process
    future = cue_executor.submit(time.sleep, 120)
    engine = cue.engine

    def started():
        with engine.lock:
            return [proc.frame.start_time for proc in engine.procs.values() if proc.frame]
    [start] = wait_until(started, timeout=60, what="Cuebot to start the frame")
    assert future.cancel()  # reads the job's frames afresh (GetFrames), then kills
    assert time.time() >= start + RQD_FORK_GRACE - 1  # Cuebot's start time is in seconds
    assert rqd.poll() is None and cue.rqd.process is rqd


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().split()[2] != "Z"


def test_a_frame_that_crashes_is_retried_by_cuebot(cue_executor, tmp_path):
    future = cue_executor.submit(workloads.crash_once, str(tmp_path / "marker"))
    assert future.result(timeout=90) == "second attempt"


def test_retry_runs_a_failed_item_again(cue_executor, tmp_path):
    path = str(tmp_path / "present")
    future = cue_executor.submit(workloads.fail_unless_file, path, "ok")
    assert isinstance(future.exception(timeout=60), Exception)
    open(path, "w").close()
    assert cue_executor.farm.retry(future.job_id, [0]) == 1
    again = cue_executor.attach(future.job_id)
    assert again[0].result(timeout=60)[0] == "ok"


def test_a_dependency_across_two_jobs_is_carried_by_cuebot(cue_executor, cue, tmp_path):
    gate = str(tmp_path / "gate")
    first = cue_executor.submit(workloads.wait_for_file, gate)  # returns its pid
    second = cue_executor.submit(workloads.add, first, 10)  # waits for `first` on the farm
    from tests.conftest import wait_until
    wait_until(lambda: second.status() == "blocked", timeout=30, what="the second job to wait")
    with cue.engine.lock:
        depends = list(cue.engine.depends.values())
    assert any(d.er.job.id == second.job_id and d.on.job.id == first.job_id
               for d in depends if hasattr(d.er, "job") and hasattr(d.on, "job"))
    open(gate, "w").close()
    assert second.result(timeout=60) == first.result(timeout=0) + 10


def test_attach_from_another_session_collects_results(cue_executor):
    futures = list(cue_executor.map(workloads.add, range(3), [1] * 3))  # run to the end
    from dccfutures import Executor, farms
    job_id = cue_executor.submit(workloads.add, 5, 5).job_id
    farms.forget()  # a new session: nothing of the old one known
    other = Executor(farm="opencue")
    attached = other.attach(job_id)
    assert [f.result(timeout=60) for f in attached] == [10]
    assert futures == [1, 2, 3]


def test_a_session_checks_a_job_folder_once_and_refuses_one_made_a_link(cue_executor, cue_farm,
                                                                         tmp_path, mocker):
    """Polls and results read the job's spool folder: it is checked (a real folder directly
    inside our spool folder, not a link) once per job, not per item. A session that meets
    the folder swapped for a link elsewhere, a result forged there, reads none of it."""
    with cue_executor.batch() as batch:
        futures = [batch.submit(workloads.add, index, 1) for index in range(12)]
    assert [future.result(timeout=90) for future in futures] == list(range(1, 13))
    job_id = futures[0].job_id
    from opencue_proto.job_pb2 import FINISHED
    from tests.conftest import wait_until
    wait_until(lambda: _job_of(cue_farm, job_id).state == FINISHED, timeout=30,
               what="Cuebot to finish the job")   # results come before its frames end
    farm = cue.OpenCueFarm(config_module.load())   # another session: nothing checked yet
    spy = mocker.spy(os.path, "realpath")
    out = farm.results([(job_id, index) for index in range(12)])
    assert [out[(job_id, index)][0] for index in range(12)] == ["complete"] * 12
    assert spy.call_count <= 4   # the folder and the spool: for the job's facts, its results

    folder = runtime.job_folder(farm.spool_dir, farm._jobs[job_id].token)
    moved = str(tmp_path / "elsewhere")
    os.rename(folder, moved)
    os.symlink(moved, folder)
    runtime.write_file(moved, runtime.result_file(0), runtime.pack_result(
        "complete", payload.encode_outcomes([("ok", b"forged")])))
    status, blob = cue.OpenCueFarm(config_module.load()).results([(job_id, 0)])[(job_id, 0)]
    assert status == "failed" and b"forged" not in blob
    assert b"not a dccfutures job folder" in blob


def test_a_job_removed_from_cuebot_ends_its_futures(cue_executor, cue):
    from dccfutures.errors import JobRemovedError
    future = cue_executor.submit_ext(workloads.add, [1], status="blocked")  # paused: never runs
    from tests.conftest import wait_until
    wait_until(lambda: future.status() == "blocked", timeout=30, what="the paused job")
    cue.engine.remove_job(_job_of(cue, future.job_id))
    with pytest.raises(JobRemovedError):
        future.result(timeout=30)


def pid_and_boots(_=None):
    """This process and the Maya it runs in (the fake mayapy's bootstrap sets it up)."""
    import maya.cmds  # noqa: F401  (the fake's, booted once per process)
    return os.getpid()


@pytest.mark.parametrize("prototype", ["dccfutures_mayapy", "dccfutures_maya"])
def test_dcc_work_boots_once_per_chunk_of_frames(cue, cue_config, monkeypatch, prototype):
    """Six items, chunks of three: two frames, two DCC processes, each booted once."""
    from dccfutures import farms
    from dccfutures.maya import Executor as MayaExecutor
    monkeypatch.setenv("DCCFUTURES_CONFIG", cue_config)
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    farms.forget()
    ex = MayaExecutor(farm="opencue", version="2025", prototype=prototype,
                      env={"DCCFUTURES_FAKE_PYTHON": sys.executable})
    try:
        futures = [ex.submit(pid_and_boots, i) for i in range(1)]
        mapped = list(ex.map(pid_and_boots, range(6), timeout=120))
        assert futures[0].result(timeout=60)
        assert len(set(mapped[:3])) == 1 and len(set(mapped[3:])) == 1
        assert mapped[0] != mapped[3]  # one DCC process per frame (chunk)
        assert os.getpid() not in mapped
        [record] = [r for r in ex.farm._jobs.values() if r.items == 6]
        assert len(_job_of(cue, record.id).frames()) == 2
        text = ex.farm._frame_log(ex.farm._load(record.id), 0)
        kind = "maya_batch" if prototype == "dccfutures_maya" else "mayapy"
        assert text.count("Maya 2025 bootstrapped in %s" % kind) == 1, text[-3000:]
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
        farms.forget()


def _client_calls(entries):
    """The calls pycue made (RQD's reports to Cuebot are in the log too)."""
    return [method for interface, method in entries if "Report" not in interface]


def test_a_quiet_poll_cycle_is_one_getjobs_for_all_outstanding_jobs(cue_executor, cue, tmp_path):
    """Five outstanding jobs (four paused, one running): once each was looked at, a cycle is
    ONE GetJobs; frames are asked for only for the job that changed, with GetUpdatedFrames."""
    from tests.conftest import wait_until
    gate = str(tmp_path / "gate")
    held = [cue_executor.submit_ext(workloads.add, [i], status="blocked") for i in range(4)]
    running = cue_executor.submit(workloads.wait_for_file, gate)
    farm = cue_executor.farm
    wait_until(lambda: running.status() == "running" and all(
        f.job_id in farm._jobs and farm._jobs[f.job_id].seen for f in held + [running]),
        timeout=60, what="the poller to have looked at every job")
    time.sleep(0.3)  # the looks that followed the first sight are over
    log = cue.engine.rpc_log
    start = len(log)
    time.sleep(1.0)
    quiet = _client_calls(log[start:])
    assert quiet and set(quiet) == {"GetJobs"}, quiet
    assert len(quiet) <= 1.0 / 0.2 + 2  # backed off to poll_max
    start = len(log)
    open(gate, "w").close()
    assert running.result(timeout=60) > 0
    woke = _client_calls(log[start:])
    assert woke.count("GetUpdatedFrames") <= woke.count("GetJobs")
    assert "GetFrames" not in woke  # the running job's frames were known: only what changed


def test_the_cli_lists_shows_logs_kills_and_retries_opencue_jobs(cue_executor, cue, tmp_path,
                                                                 capsys):
    from dccfutures import cli
    from tests.conftest import wait_until
    done = cue_executor.submit(workloads.chatty, 3)
    assert done.result(timeout=60) == 3
    path = str(tmp_path / "fixed")
    broken = cue_executor.submit(workloads.fail_unless_file, path, "ok")
    assert isinstance(broken.exception(timeout=60), ValueError)
    capsys.readouterr()
    assert cli.main(["jobs", "--farm", "opencue"]) == 0
    listed = capsys.readouterr().out
    assert done.job_id in listed and broken.job_id in listed
    assert cli.main(["show", "--farm", "opencue", broken.job_id]) == 0
    shown = capsys.readouterr().out
    assert "failed" in shown and "not fixed yet" in shown
    wait_until(lambda: "out 3" in done.log(), timeout=30, what="the frame's log")
    assert cli.main(["log", "--farm", "opencue", "%s:0" % done.job_id]) == 0
    assert "out 3" in capsys.readouterr().out
    open(path, "w").close()
    assert cli.main(["retry", "--farm", "opencue", "%s:0" % broken.job_id]) == 0
    assert cli.main(["wait", "--farm", "opencue", broken.job_id]) == 0
    gate = str(tmp_path / "gate")
    slow = cue_executor.submit(workloads.wait_for_file, gate)
    wait_until(lambda: slow.status() == "running", timeout=60, what="the slow item to run")
    assert cli.main(["kill", "--farm", "opencue", slow.job_id]) == 0
    import concurrent.futures
    with pytest.raises(concurrent.futures.CancelledError):
        slow.result(timeout=30)


def test_work_depending_on_a_killed_item_fails_naming_it(cue_executor, tmp_path):
    """Cuebot releases a depend only when its frame SUCCEEDED: without help the second item
    would wait in DEPEND for ever once the first is killed."""
    from dccfutures.errors import DependencyError
    from tests.conftest import wait_until
    gate = str(tmp_path / "never")
    with cue_executor.batch() as batch:
        first = batch.submit(workloads.wait_for_file, gate)
        second = batch.submit(workloads.add, first, 1)
    wait_until(lambda: first.status() == "running", timeout=60, what="the first item to run")
    assert second.status() == "blocked"
    assert first.cancel()
    error = second.exception(timeout=30)
    assert isinstance(error, DependencyError), error
    assert "%s:0" % first.job_id in str(error) and "killed" in str(error)


def test_dependent_work_runs_after_the_submitting_session_is_gone(cue_executor, tmp_path):
    """A session submits two jobs, the second taking the first's result, and exits; Cuebot
    carries the chain; a later session collects the result."""
    gate = str(tmp_path / "gate")
    script = ("import sys\nsys.path.insert(0, %r)\nfrom dccfutures import Executor\n"
              "from tests import workloads\nex = Executor(farm='opencue')\n"
              "first = ex.submit(workloads.wait_for_file, %r)\n"
              "second = ex.submit(workloads.add, first, 10)\n"
              "print(first.job_id, second.job_id)\n" % (ROOT, gate))
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ))
    assert ran.returncode == 0, ran.stderr
    first_id, second_id = ran.stdout.split()
    open(gate, "w").close()
    [second] = cue_executor.attach(second_id)
    [first] = cue_executor.attach(first_id)
    assert second.result(timeout=60) == first.result(timeout=60) + 10


def test_a_frame_killed_on_the_host_is_run_again(cue_executor, tmp_path):
    import signal
    from tests.conftest import wait_until
    pid_file = str(tmp_path / "pid")
    future = cue_executor.submit(workloads.pid_then_sleep, pid_file, 1.5)
    pid = int(wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read(),
                         timeout=60, what="the frame to start"))
    os.kill(pid, signal.SIGKILL)  # as a host's OOM killer or an admin would
    assert future.result(timeout=60) == "survived"
    assert int(open(pid_file).read()) != pid  # Cuebot's retry ran it again


def test_an_rqd_that_dies_mid_frame_has_its_frame_run_again(cue_executor, cue, tmp_path):
    from tests.conftest import wait_until
    pid_file = str(tmp_path / "pid")
    future = cue_executor.submit(workloads.pid_then_sleep, pid_file, 1.5)
    pid = int(wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read(),
                         timeout=60, what="the frame to start"))
    saved = cue.engine.host_down_after
    cue.engine.host_down_after = 1.0
    try:
        cue.rqd.crash()  # RQD and its frames die at once
        assert future.status() in ("running", "pending")
        time.sleep(1.5)  # Cuebot notices the host is down: the frame waits again
        cue.rqd.start()
        assert future.result(timeout=60) == "survived"
    finally:
        cue.engine.host_down_after = saved
    assert int(open(pid_file).read()) != pid


def test_on_done_runs_on_the_farm_once_per_ending(cue_executor, tmp_path):
    import json
    from tests.conftest import wait_until
    log = str(tmp_path / "hook.jsonl")
    calls = lambda: [json.loads(line) for line in open(log)] if os.path.exists(log) else []
    future = cue_executor.submit_ext(pow, [2, 8], name=log,
                                     on_done="tests.workloads:record_job_end")
    assert future.result(timeout=60) == 256
    wait_until(calls, timeout=30, what="the on_done hook")
    assert calls()[0]["id"] == future.job_id and calls()[0]["status"] == "complete"
    assert calls()[0]["farm"] == "opencue" and calls()[0]["tally"] == {"complete": 1}
    path = str(tmp_path / "fixed")
    failing = cue_executor.submit_ext(workloads.fail_unless_file, [path, 1], name=log,
                                      on_done="tests.workloads:record_job_end")
    assert isinstance(failing.exception(timeout=60), ValueError)
    wait_until(lambda: len(calls()) == 2, timeout=30, what="the second hook")
    assert calls()[1]["status"] == "failed"
    open(path, "w").close()
    assert cue_executor.farm.retry(failing.job_id) == 1
    wait_until(lambda: len(calls()) == 3, timeout=60, what="the hook of the retried job")
    assert calls()[2]["status"] == "complete"
    time.sleep(0.5)
    assert len(calls()) == 3  # once per ending


def test_work_depending_on_a_killed_item_of_another_job_fails_naming_it(cue_executor, tmp_path):
    from dccfutures.errors import DependencyError
    from tests.conftest import wait_until
    slow = cue_executor.submit(workloads.wait_for_file, str(tmp_path / "never"))
    wait_until(lambda: slow.status() == "running", timeout=60, what="the dependency running")
    after = cue_executor.submit(workloads.add, slow, 1)
    assert slow.cancel()
    error = after.exception(timeout=30)
    assert isinstance(error, DependencyError) and "killed" in str(error), error


def test_clean_removes_old_spool_job_folders_and_nothing_else(farm_home, farm_config,
                                                                tmp_path, capsys):
    """``dccfutures clean`` removes the OpenCue job folders of the config's spool untouched
    for longer than the retention (by their newest file): not a fresh one, not a link to
    elsewhere, not a folder whose name is only close to ours."""
    from dccfutures import cli
    spool = str(tmp_path / "spool")
    deadline_spool = str(tmp_path / "deadline-spool")
    farm_config(extra="opencue: {show: testing, spool_dir: %s}\n"
                      "deadline: {spool_dir: %s}\n" % (spool, deadline_spool))
    os.makedirs(deadline_spool)
    old_bundle = os.path.join(deadline_spool, "dccfutures-" + runtime.new_token())
    os.mkdir(old_bundle)
    os.makedirs(spool)
    old_time = time.time() - 30 * 86400
    folders = {}
    for name in ("old", "fresh"):
        token = runtime.new_token()
        folder = runtime.job_folder(spool, token, create=True)
        with open(os.path.join(folder, "result-0"), "wb") as handle:
            handle.write(b"x")
        folders[name] = folder
    for path in (folders["old"], os.path.join(folders["old"], "result-0")):
        os.utime(path, (old_time, old_time))
    near_miss = os.path.join(spool, "dccfutures-" + "g" * 32)
    os.mkdir(near_miss)
    os.utime(near_miss, (old_time, old_time))
    elsewhere = os.path.dirname(spool) + "/elsewhere"
    os.mkdir(elsewhere)
    link = os.path.join(spool, "dccfutures-" + runtime.new_token())
    os.symlink(elsewhere, link)
    os.utime(link, (old_time, old_time), follow_symlinks=False)
    os.utime(old_bundle, (old_time, old_time))
    assert cli.main(["clean", "--older-than", "7"]) == 0
    printed = capsys.readouterr().out
    assert "removed 1 OpenCue job folder older than 7 days from %s" % spool in printed
    assert "removed 1 Deadline Cloud job folder older than 7 days from %s" % deadline_spool \
        in printed
    assert not os.path.exists(old_bundle)
    assert not os.path.exists(folders["old"])
    assert all(os.path.lexists(p) for p in (folders["fresh"], near_miss, link, elsewhere))


def test_blender_work_renders_through_rqd_booting_once_per_chunk(cue, cue_config, monkeypatch,
                                                                tmp_path):
    """The real bpy as the artist's session and as the DCC of every frame: the scene copy
    with the session's unsaved edits is rendered where its ``//render/`` path says, each
    frame (a chunk of three items) boots Blender once, and the copy goes when done."""
    bpy = pytest.importorskip("bpy", reason="needs PyPI's bpy 4.2 (Python 3.11 only): pip "
                                            "install 'bpy==4.2.*' (make test installs it)")
    from dccfutures import farms
    from dccfutures.blender import Executor
    from tests.test_blender import build_scene, render_frames
    monkeypatch.setenv("DCCFUTURES_CONFIG", cue_config)
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    farms.forget()
    shots = tmp_path / "shots"
    shots.mkdir()
    build_scene(str(shots))
    bpy.context.scene.render.resolution_x = 24   # an unsaved edit: only the copy has it
    ex = Executor(farm="opencue", create_tempfile=True)
    copy = ex.blendfile
    try:
        written = list(ex.map(render_frames, [[1], [2], [3], [4]], timeout=180))
        expected = [[bpy.context.scene.render.frame_path(frame=f)] for f in (1, 2, 3, 4)]
        assert written == expected
        for [path] in written:
            with open(path, "rb") as handle:
                header = handle.read(24)
            assert header[:8] == b"\x89PNG\r\n\x1a\n"
            assert int.from_bytes(header[16:20], "big") == 24   # the session's edit
        [record] = [r for r in ex.farm._jobs.values() if r.items == 4]
        assert len(_job_of(cue, record.id).frames()) == 2        # chunks of three items
        text = ex.farm._frame_log(ex.farm._load(record.id), 0)
        assert text.count("Blender 4.2 bootstrapped in bpy") == 1, text[-3000:]
        from tests.conftest import wait_until
        wait_until(lambda: not os.path.exists(copy), what="the .blend copy removed")
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
        farms.forget()
