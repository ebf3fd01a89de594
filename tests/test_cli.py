"""The ``dccfutures`` command against a real local farm, and the demo ``make demo`` runs.

The CLI runs in-process through ``main([...])`` (exit codes returned), and as the real program
(``python -m dccfutures``) where exit codes and the absence of tracebacks matter.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from dccfutures.cli import format_job, format_jobs, main, parse_job, parse_target
from dccfutures.farms.base import JobInfo, WorkError, WorkInfo
from dccfutures.farms.local import LocalFarm
from tests import workloads
from tests.conftest import ROOT, wait_until



@pytest.fixture
def executor(local_executor):
    """These tests are about the local farm itself."""
    return local_executor

def fail_first_time(marker):
    """Fails on the first run, succeeds once retried."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("first attempt fails")
    return "second attempt"


def run(capsys, *argv):
    """``main(argv)`` -> (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def program(*argv, timeout=60):
    """The real ``python -m dccfutures`` with this test's farm home and config."""
    return subprocess.run([sys.executable, "-m", "dccfutures"] + [str(a) for a in argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ))


def item_status(farm, job_id, work_id=0):
    return farm.job(job_id).work[work_id].status


# -- ids and errors (no farm needed to reject them) -----------------------------------------

def test_parse_target_accepts_items_lists_and_ranges():
    assert parse_target("12") == (12, None)
    assert parse_target("12:3") == (12, [3])
    assert parse_target("12:4,0-2,4") == (12, [0, 1, 2, 4])


UUID = "9f3c2a4e-1b2c-4d5e-8f90-0123456789ab"          # an OpenCue job id
DEADLINE_ID = "job-0123456789abcdef0123456789abcdef"  # a Deadline Cloud job id


def test_a_farms_string_ids_stay_strings_and_numbers_stay_ints():
    assert parse_target(UUID + ":3") == (UUID, [3])
    assert parse_target(UUID + ":0-2,5") == (UUID, [0, 1, 2, 5])
    assert parse_target(DEADLINE_ID) == (DEADLINE_ID, None)
    assert parse_job(UUID) == UUID and parse_job(DEADLINE_ID) == DEADLINE_ID
    job, works = parse_target("12:3")
    assert (job, works) == (12, [3]) and type(job) is int
    assert parse_job("12") == 12 and type(parse_job("12")) is int


@pytest.mark.parametrize("argv, message", [
    (["kill", "abc def"], "'abc def' is not a job id (expected JOB or JOB:WORK, e.g. 12 or 12:3)"
                          ": JOB is a number, or the farm's own string id"),
    (["show", "job-xyz"], "'job-xyz' is not a job id (expected JOB, e.g. 12): JOB is a number"),
    (["show", UUID + ":3"], "is not a job id (expected JOB, e.g. 12)"),
    (["log", UUID + ":x"], "%r has a bad work id 'x'" % (UUID + ":x")),
    (["kill", UUID[:-1] + ":0"], "is not a job id (expected JOB or JOB:WORK"),
])
def test_a_malformed_string_id_exits_2_naming_it(farm_home, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("dccfutures: ") and message in err and err.count("\n") == 1


def test_a_string_id_on_the_local_farm_is_no_such_job(farm_home, capsys):
    """The local farm's ids are ints: a farm's string id reaches it as typed, and it says it
    has no such job (exit 1), as for a number it never handed out."""
    for argv in (["show", UUID], ["log", UUID + ":3"], ["kill", DEADLINE_ID],
                 ["wait", DEADLINE_ID], ["retry", UUID + ":0-2"], ["show", UUID, "--json"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == ""
        assert err == "dccfutures: no job %s on the local farm\n" % argv[1].partition(":")[0]


def test_a_string_id_on_qube_is_no_such_job(qube_root, capsys):
    """Qube's ids are ints too: an OpenCue id typed on Qube is one line, not a traceback."""
    for argv in (["show", UUID], ["log", UUID + ":3"], ["kill", DEADLINE_ID]):
        code, out, err = run(capsys, "--farm", "qube", *argv)
        assert code == 1 and out == ""
        assert err == "dccfutures: no job %s on the qube farm\n" % argv[1].partition(":")[0]


def test_tables_and_failures_show_a_string_id_as_the_farm_gave_it():
    failed = WorkInfo(UUID, 1, "frame 13", "failed", 0.0, None, 1,
                      error=WorkError("ValueError", "frame 13 has no camera", "Traceback ..."))
    done = WorkInfo(UUID, 0, "frame 12", "complete", 1.0, None, 1)
    job = JobInfo(UUID, "render", "failed", "dccfutures", 100, 4, "ana", time.time(),
                  {"complete": 1, "failed": 1}, work=[done, failed])
    table = format_jobs([job]).splitlines()
    assert table[1].split()[:3] == [UUID, "render", "failed"]
    shown = format_job(job)
    assert shown.splitlines()[0] == "job %s: render" % UUID
    assert "  %s:1  ValueError: frame 13 has no camera" % UUID in shown
    assert "traceback: dccfutures log %s:1" % UUID in shown


@pytest.mark.parametrize("argv, message", [
    (["kill", "abc"], "'abc' is not a job id (expected JOB or JOB:WORK, e.g. 12 or 12:3)"),
    (["log", "12:x"], "'12:x' has a bad work id 'x'"),
    (["retry", "12:"], "'12:' has a bad work id ''"),
    (["block", "0"], "'0' is not a job id"),
    (["show", "12:3"], "'12:3' is not a job id (expected JOB, e.g. 12)"),
    (["wait", "-1"], "'-1' is not a job id"),
])
def test_bad_ids_exit_2_naming_what_was_wrong(farm_home, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("dccfutures: ") and message in err


def test_config_error_is_one_line_exit_1(farm_config, capsys, tmp_path):
    path = farm_config(extra="farm: lcoal\n")
    code, _, err = run(capsys, "jobs")
    assert code == 1 and path in err and "'farm' must be one of" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_local_only_commands_refuse_another_farm(farm_home, capsys):
    code, _, err = run(capsys, "clean", "--farm", "qube")
    assert code == 2 and "--farm qube is not for it" in err
    code, _, err = run(capsys, "farm", "start", "--farm", "qube")
    assert code == 2 and "manages the local farm only" in err
    code, _, err = run(capsys, "--farm", "nowhere", "jobs")
    assert code == 2 and "unknown farm 'nowhere'" in err


# -- looking at work -------------------------------------------------------------------------

def test_jobs_table_json_show_and_log(executor, capsys, tmp_path):
    chatty = executor.submit_ext(workloads.chatty, [7], name="chatty job", priority=10, cpus=2)
    mapped = list(executor.map(workloads.chatty, range(3), chunksize=2, name="chatty map"))
    assert chatty.result(30) == 7 and mapped == [0, 1, 2]
    flag = str(tmp_path / "go")
    running = executor.submit_ext(workloads.progress_then_wait, [flag], name="half way job")
    wait_until(lambda: running.progress == 0.5, what="progress 0.5")
    job_id, map_id, running_id = chatty.job_id, chatty.job_id + 1, running.job_id

    code, out, _ = run(capsys, "jobs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "PROGRESS", "PRIO", "CPUS", "USER",
                                "SUBMITTED"]
    assert [line.split()[0] for line in lines[1:]] == [str(running_id), str(map_id), str(job_id)]
    row = lines[3]
    assert "chatty job" in row and "complete" in row and "1/1 100%" in row
    assert row.split()[-5:-3] == ["10", "2"]  # PRIO, CPUS (then USER, date, time)
    assert time.strftime("%Y-%m-%d", time.localtime(chatty.farm.job(job_id).submitted)) in row
    assert "0/1  50%" in lines[1] and "running" in lines[1]   # live progress of running work

    code, out, _ = run(capsys, "jobs", "--limit", "2", "--json")
    listed = json.loads(out)
    assert code == 0 and [j["id"] for j in listed] == [running_id, map_id]
    assert listed[1]["tally"]["complete"] == 2 and listed[1]["name"] == "chatty map"
    assert {"prototype", "priority", "cpus", "user", "submitted", "fields"} <= set(listed[1])

    code, out, _ = run(capsys, "show", running_id)
    assert code == 0 and "half way job" in out and "status     running" in out
    item = out.splitlines()[-1].split()
    assert item[:4] == ["0", "0", "running", "50%"] and "half way" in out

    code, out, _ = run(capsys, "show", map_id, "--json")
    shown = json.loads(out)
    assert [w["status"] for w in shown["work"]] == ["complete", "complete"]

    code, out, _ = run(capsys, "log", "%d:0" % job_id)
    assert code == 0 and out == "out 7\nerr 7\n"  # exactly the item's output
    code, out, _ = run(capsys, "log", map_id)
    assert out == ("--- %d:0 (complete) ---\nout 0\nerr 0\nout 1\nerr 1\n"
                   "--- %d:1 (complete) ---\nout 2\nerr 2\n" % (map_id, map_id))

    open(flag, "w").close()
    assert running.result(30) == "done"


def test_unknown_job_or_item_exit_1(farm_home, capsys):
    for argv in (["show", 42], ["log", 42], ["kill", "42:0"], ["wait", 42], ["retry", 42]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == ""
        assert err == "dccfutures: no job 42 on the local farm\n"
    future = Executor().submit(workloads.add, 1, 2)
    assert future.result(30) == 3
    code, _, err = run(capsys, "log", "%d:5" % future.job_id)
    assert code == 1 and "no work item %d:5 on the local farm" % future.job_id in err


# -- every failure says why -----------------------------------------------------------------

class LoudError(Exception):
    """An exception that writes the pid of every process that loads it into ``path``: the
    CLI must say why an item failed without loading what the user's code raised."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path = path

    def __reduce__(self):
        return _load_loud_error, (self.path, str(self))


def _load_loud_error(path, message):
    with open(path, "a") as handle:
        handle.write("%d\n" % os.getpid())
    return LoudError(path, message)


def raise_loud(path, message):
    raise LoudError(path, message)


def test_show_and_log_say_why_each_item_failed(executor, capsys, tmp_path):
    with executor.batch(name="one unlucky") as batch:
        futures = [batch.submit(workloads.fail_on, value, 2) for value in (1, 2, 3)]
    with pytest.raises(ValueError):
        futures[1].result(30)
    assert futures[0].result(30) == 1 and futures[2].result(30) == 3
    job_id = futures[0].job_id

    code, out, _ = run(capsys, "show", job_id)
    assert code == 0
    assert "status     failed, 2/3  67%, 1 failed" in out
    assert "%d:1  ValueError: 2 is unlucky" % job_id in out
    assert "traceback: dccfutures log %d:1" % job_id in out

    code, out, _ = run(capsys, "show", job_id, "--json")
    work = json.loads(out)["work"]
    assert work[0]["error"] is None
    error = work[1]["error"]
    assert (error["type"], error["message"]) == ("ValueError", "2 is unlucky")
    assert error["traceback"].startswith("Traceback (most recent call last)")
    assert "in fail_on" in error["traceback"]

    code, out, _ = run(capsys, "log", "%d:1" % job_id)      # the output, then the traceback
    assert code == 0
    head, _, trace = out.partition("--- %d:1 failed: ValueError: 2 is unlucky ---\n" % job_id)
    assert trace.startswith("Traceback (most recent call last)")
    assert trace.endswith("ValueError: 2 is unlucky\n") and "in fail_on" in trace
    code, out, _ = run(capsys, "log", "%d:0" % job_id)
    assert "---" not in out                                   # a complete item: its output only


def test_the_cli_never_loads_what_the_user_raised(executor, tmp_path):
    loads = tmp_path / "loaded-by"
    future = executor.submit(raise_loud, str(loads), "the render node exploded")
    with pytest.raises(LoudError):
        future.result(30)
    for argv in (["show", future.job_id], ["show", future.job_id, "--json"],
                 ["log", "%d:0" % future.job_id], ["jobs"]):
        child = subprocess.Popen([sys.executable, "-m", "dccfutures"] + [str(a) for a in argv],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=ROOT, env=dict(os.environ))
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert str(child.pid) not in loads.read_text().split()
        if argv[0] != "jobs":
            assert "LoudError" in out and "the render node exploded" in out


def test_show_a_lost_worker_with_its_signal_and_last_lines(executor, capsys):
    future = executor.submit_ext(workloads.always_crash, max_attempts=1)
    with pytest.raises(dccfutures.WorkerLostError):
        future.result(60)
    code, out, _ = run(capsys, "show", future.job_id)
    failure = out.split("%d:0  " % future.job_id, 1)[1]
    assert failure.startswith("dccfutures.errors.WorkerLostError: the worker process (pid ")
    assert "killed by signal 9 (SIGKILL)" in failure.splitlines()[0]
    assert "| segfault-like death" in failure                 # the last lines of its output
    assert "output: dccfutures log %d:0" % future.job_id in failure


def test_progress_counts_completed_items_only(executor, capsys, tmp_path):
    flag = str(tmp_path / "never")
    doomed = executor.submit_ext(workloads.progress_then_wait, [flag], name="half way")
    wait_until(lambda: doomed.progress == 0.5, what="progress 0.5")
    assert doomed.cancel()
    code, out, _ = run(capsys, "jobs")
    row = out.splitlines()[1]
    assert row.split()[:5] == [str(doomed.job_id), "half", "way", "killed", "0/1"]
    assert "0/1   0%, 1 killed" in row and "100%" not in row
    code, out, _ = run(capsys, "show", doomed.job_id)
    assert "status     killed, 0/1   0%, 1 killed" in out


def test_wait_moves_with_the_progress_of_running_items(executor, capsys, tmp_path):
    flag = str(tmp_path / "go")
    future = executor.submit(workloads.progress_then_wait, flag)
    wait_until(lambda: future.progress == 0.5, what="progress 0.5")
    code, _, err = run(capsys, "wait", future.job_id, "--timeout", 0.5)
    assert code == 2 and "0/1   50%" in err
    open(flag, "w").close()
    assert future.result(30) == "done"


def test_an_item_blocked_at_submit_reads_blocked_everywhere(executor, capsys):
    future = executor.submit_ext(workloads.add, [1, 2], status="blocked")
    code, out, _ = run(capsys, "show", future.job_id)
    assert "status     blocked" in out and "items      1 blocked" in out
    assert out.splitlines()[-1].split()[2] == "blocked"
    code, out, _ = run(capsys, "jobs", "--json")
    assert json.loads(out)[0]["tally"]["blocked"] == 1
    code, out, _ = run(capsys, "farm", "status")
    assert "work:       0 pending, 0 running, 1 blocked" in out
    assert Executor().attach(future.job_id)[0].status() == "blocked"
    executor.farm.unblock(future.job_id)
    assert future.result(30) == 3


# -- steering work ---------------------------------------------------------------------------

def test_kill_a_running_item(executor, capsys):
    future = executor.submit(workloads.sleep_then, 30)
    wait_until(lambda: item_status(executor.farm, future.job_id) == "running", what="running")
    code, out, _ = run(capsys, "kill", "%d:0" % future.job_id)
    assert code == 0 and out == "killed 1 work item of job %d\n" % future.job_id
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(10)
    code, out, _ = run(capsys, "show", future.job_id)
    assert "status     killed" in out and out.splitlines()[-1].split()[2] == "killed"
    code, out, _ = run(capsys, "kill", future.job_id)
    assert code == 0 and "killed 0 work items" in out and "nothing was pending" in out


def test_retry_a_failed_item_and_wait_exit_codes(executor, capsys, tmp_path):
    future = executor.submit(fail_first_time, str(tmp_path / "marker"))
    with pytest.raises(ValueError, match="first attempt fails"):
        future.result(30)
    code, out, err = run(capsys, "wait", future.job_id, "--timeout", 30)
    assert code == 1 and out == "job %d failed (1 failed)\n" % future.job_id
    assert "0/1    0%" in err and "failed" in err  # the progress bar, on stderr: completed only

    code, out, _ = run(capsys, "retry", "%d:0" % future.job_id)
    assert code == 0 and out == "retrying 1 work item of job %d\n" % future.job_id
    code, out, _ = run(capsys, "wait", future.job_id, "--timeout", 30)
    assert code == 0 and out == "job %d complete (1 complete)\n" % future.job_id
    assert executor.farm.job(future.job_id).work[0].attempts == 1

    slow = executor.submit(workloads.sleep_then, 30)
    started = time.monotonic()
    code, out, err = run(capsys, "wait", slow.job_id, "--timeout", 0.5)
    assert code == 2 and out == "" and time.monotonic() - started < 5
    assert "timed out after 0.5s waiting for job %d" % slow.job_id in err
    assert slow.cancel()


def test_block_and_unblock_before_work_runs(executor, capsys):
    future = executor.submit_ext(workloads.add, [1, 2], status="blocked")
    code, out, _ = run(capsys, "show", future.job_id)
    assert "status     blocked" in out
    time.sleep(0.5)
    assert not future.done() and item_status(executor.farm, future.job_id) == "blocked"
    code, out, _ = run(capsys, "unblock", future.job_id)
    assert code == 0 and out == "unblocked 1 work item of job %d\n" % future.job_id
    assert future.result(30) == 3

    with executor.batch(name="two steps", status="blocked") as batch:
        first = batch.submit(workloads.add, 1)
        second = batch.submit(workloads.add, 2)
    job_id = first.job_id
    code, out, _ = run(capsys, "block", "%d:1" % job_id)
    assert out == "blocked 1 work item of job %d\n" % job_id
    code, out, _ = run(capsys, "unblock", job_id)
    assert first.result(30) == 1
    assert item_status(executor.farm, job_id, 1) == "blocked" and not second.done()
    code, out, _ = run(capsys, "unblock", "%d:1" % job_id)
    assert out == "unblocked 1 work item of job %d\n" % job_id
    assert second.result(30) == 2
    code, out, _ = run(capsys, "block", job_id)
    assert code == 0 and out == "blocked 0 work items of job %d (nothing was pending)\n" % job_id


def test_clean_removes_finished_jobs(executor, capsys):
    done = executor.submit(workloads.add, 1, 1)
    assert done.result(30) == 2
    code, out, _ = run(capsys, "clean", "--older-than", 0)
    assert code == 0 and out.startswith("removed 1 finished job older than 0 days")
    code, _, err = run(capsys, "show", done.job_id)
    assert code == 1 and "no job %d" % done.job_id in err
    code, out, _ = run(capsys, "clean")   # the config's retention (7 days): nothing that old
    assert out.startswith("removed 0 finished jobs older than 7 days")
    code, _, err = run(capsys, "clean", "--older-than", -1)
    assert code == 2 and "--older-than must be a number of days >= 0" in err


# -- the farm itself -------------------------------------------------------------------------

def test_farm_status_start_stop(farm_home, capsys):
    farm = LocalFarm(home=farm_home)
    try:
        code, out, _ = run(capsys, "farm", "status")
        assert code == 0 and "local farm: not running" in out and farm_home in out
        code, out, _ = run(capsys, "farm", "start")
        pid = farm.supervisor_pid()
        assert code == 0 and pid and "supervisor pid %d" % pid in out
        code, out, _ = run(capsys, "farm", "start")
        assert "already running" in out and farm.supervisor_pid() == pid

        future = Executor().submit(workloads.add, 2, 3)
        assert future.result(30) == 5
        code, out, _ = run(capsys, "farm")   # status is the default action
        assert "local farm: running, supervisor pid %d" % pid in out
        assert "home:       %s" % farm_home in out
        workers = int(out.split("workers:")[1].split()[0])
        assert workers >= 1 and "idle" in out
        assert "work:       0 pending, 0 running" in out

        code, out, _ = run(capsys, "farm", "stop")
        assert code == 0 and "stopped" in out and farm.supervisor_pid() is None
        code, out, _ = run(capsys, "farm", "stop")
        assert "not running" in out
    finally:
        farm.close()


def test_the_real_program(executor):
    future = executor.submit(workloads.fail, "frame 13 has no camera")
    with pytest.raises(ValueError):
        future.result(30)
    result = program("jobs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[:3] == [
        str(future.job_id), "submit(tests.workloads.fail)", "failed"]
    result = program("wait", future.job_id)        # the exit code survives `python -m`
    assert result.returncode == 1 and "failed" in result.stdout
    result = program("show", "abc")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'abc' is not a job id" in result.stderr


@pytest.mark.parametrize("argv", [
    ["jobs"], ["jobs", "--json"], ["show", "1"], ["log", "1:0"], ["kill", "1"], ["retry", "1:0"],
    ["block", "1"], ["unblock", "1"], ["wait", "1"], ["clean"], ["farm", "start"],
    ["farm", "stop"], ["farm", "status"], ["shelves", "list"], ["monitor"],
])
def test_a_missing_config_file_is_one_line_in_every_command(farm_home, monkeypatch, tmp_path,
                                                            capsys, argv):
    missing = str(tmp_path / "missing.yaml")
    monkeypatch.setenv("DCCFUTURES_CONFIG", missing)
    if argv == ["monitor"]:  # a window, were the config not checked first: a process of its own
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
        result = program(*argv, timeout=30)
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        code, out, err = run(capsys, *argv)
    assert (code, out, err) == (1, "", "dccfutures: %s: config file not found (named by "
                                       "$DCCFUTURES_CONFIG)\n" % missing)
    assert not os.path.exists(farm_home)  # and nothing was started


def test_the_demo_with_a_missing_config_file_says_so_in_one_line(farm_home, monkeypatch,
                                                                 tmp_path):
    missing = str(tmp_path / "missing.yaml")
    monkeypatch.setenv("DCCFUTURES_CONFIG", missing)
    result = subprocess.run([sys.executable, "-m", "dccfutures.demo"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, env=dict(os.environ))
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "dccfutures demo: %s: config file not found (named by $DCCFUTURES_CONFIG)\n"
        % missing)


def test_demo_runs_and_leaves_nothing_running(farm_home):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "dccfutures.demo"], capture_output=True,
                            text=True, timeout=120, cwd=ROOT, env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 45
    out = result.stdout
    assert "shot12.txt   120 words" in out and "total: 780 words" in out      # the chunked map
    assert "12/12  100%" in result.stderr                                   # the progress bar
    assert "-> 'frame.0012.exr'" in out and "-> 144" in out                 # the batch
    assert "ValueError: frame 13 has no camera" in out
    assert "Traceback (most recent call last)" in out and "in render_frame" in out
    assert "ID  NAME" in out and "demo batch" in out and "failed" in out   # the job table
    assert "| rendering frame 12\n   | wrote frame.0012.exr" in out        # Future.log()
    farm = LocalFarm(home=farm_home)
    try:
        assert farm.supervisor_pid() is None
    finally:
        farm.close()
