"""Fault tests on the real local farm: killed workers and supervisors, cancels, concurrent
clients. Real processes, real signals, real SQLite."""
import concurrent.futures
import os
import signal
import subprocess
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from dccfutures.farms.local import LocalFarm
from tests import workloads
from tests.conftest import ROOT, wait_until



@pytest.fixture
def executor(local_executor):
    """These tests are about the local farm itself."""
    return local_executor

def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _read_pid(path):
    wait_until(lambda: os.path.exists(path) and open(path).read().strip(), what=path)
    return int(open(path).read())


def test_worker_killed_mid_item_is_retried(executor, tmp_path):
    marker = str(tmp_path / "crashed-once")
    future = executor.submit(workloads.crash_once, marker)
    assert future.result(60) == "second attempt"
    assert os.path.exists(marker)


def test_worker_sigkilled_mid_item_then_retried(executor, tmp_path):
    pid_file = str(tmp_path / "pid")
    future = executor.submit(workloads.pid_then_sleep, pid_file, 1.5)
    worker = _read_pid(pid_file)
    os.remove(pid_file)
    os.kill(worker, signal.SIGKILL)
    # The supervisor notices, gives the item back, and a new worker runs it to the end.
    assert future.result(60) == "survived"
    assert _read_pid(pid_file) != worker


def test_worker_lost_on_every_attempt_fails_with_log_tail(farm_home, farm_config):
    farm_config(max_attempts=2)
    ex = Executor()
    future = ex.submit(workloads.always_crash)
    with pytest.raises(dccfutures.WorkerLostError) as info:
        future.result(60)
    assert info.value.attempts == 2
    assert "killed by signal 9" in str(info.value)
    assert "segfault-like death" in info.value.log_tail
    assert future.status() == "failed"


def test_supervisor_sigkilled_recovers_in_flight_work(executor, tmp_path):
    done = [executor.submit(workloads.add, i, 1) for i in range(5)]
    assert [f.result(30) for f in done] == [i + 1 for i in range(5)]
    pid_file = str(tmp_path / "pid")
    running = executor.submit(workloads.pid_then_sleep, pid_file, 1.0)
    worker = _read_pid(pid_file)
    farm = executor.farm
    supervisor = farm.supervisor_pid()
    os.kill(supervisor, signal.SIGKILL)
    # Its workers die with it (PR_SET_PDEATHSIG) ...
    wait_until(lambda: not _alive(worker), what="worker to die with its supervisor")
    # ... and the waiting client's poller restarts it; the item runs again.
    assert running.result(60) == "survived"
    new_supervisor = farm.supervisor_pid()
    assert new_supervisor and new_supervisor != supervisor
    # Nothing that completed before was lost or run again.
    for i, future in enumerate(done):
        info = farm.job(future.job_id)
        assert info.status == "complete" and info.work[0].attempts == 1


def test_cancel_running_item_kills_its_process_group(executor, tmp_path):
    pid_file = str(tmp_path / "grandchild")
    future = executor.submit(workloads.spawn_child_and_sleep, pid_file, 60)
    grandchild = _read_pid(pid_file)
    wait_until(lambda: future.status() == "running", what="running")
    started = time.monotonic()
    assert future.cancel() is True
    assert future.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(0)
    assert future.status() == "killed"
    wait_until(lambda: not _alive(grandchild), timeout=10, what="grandchild killed")
    assert time.monotonic() - started < 10
    info = executor.farm.job(future.job_id)
    assert info.status == "killed" and info.work[0].status == "killed"
    # The pool recovers: the next call runs on a fresh worker.
    assert executor.submit(workloads.add, 1, 2).result(30) == 3


def test_cancel_pending_item(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    ex = Executor()
    gate = str(tmp_path / "gate")
    blocker = ex.submit(workloads.wait_for_file, gate)
    queued = ex.submit(workloads.add, 1, 1)
    assert queued.cancel() is True
    assert ex.farm.job(queued.job_id).work[0].status == "killed"
    open(gate, "w").close()
    blocker.result(30)
    assert queued.cancelled()


def test_cancel_after_completion_returns_false(executor):
    future = executor.submit(workloads.add, 1, 1)
    assert future.result(30) == 2
    assert future.cancel() is False


def test_cancel_in_a_chunk_cancels_the_chunk(executor, tmp_path):
    gate = str(tmp_path / "never")
    iterator = executor.map(workloads.wait_for_file, [gate] * 4, chunksize=2)
    job = executor.farm.jobs(limit=1)[0]
    futures = [f for f in executor._outstanding if f.job_id == job.id]
    first = next(f for f in futures if f.work_id == 0)
    assert first.cancel()
    siblings = [f for f in futures if f.work_id == 0]
    assert len(siblings) == 2 and all(f.cancelled() for f in siblings)
    others = [f for f in futures if f.work_id == 1]
    assert not any(f.done() for f in others)
    iterator.close()  # closing the map iterator cancels what is left
    assert all(f.cancelled() for f in others)
    wait_until(lambda: executor.farm.job(job.id).status == "killed", what="job killed")


def test_shutdown_cancel_futures_kills_pending_and_running(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    ex = Executor()
    gate = str(tmp_path / "never")
    futures = [ex.submit(workloads.wait_for_file, gate) for _ in range(3)]
    wait_until(lambda: futures[0].status() == "running", what="first running")
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in futures)
    for future in futures:
        assert ex.farm.job(future.job_id).status == "killed"


def test_removed_job_ends_its_futures(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    ex = Executor()
    gate = str(tmp_path / "gate")
    blocker = ex.submit(workloads.wait_for_file, gate)
    waiting = ex.submit(workloads.add, 1, 1)
    ex.farm.kill(waiting.job_id)
    ex.farm.remove([waiting.job_id])
    with pytest.raises((dccfutures.JobRemovedError, concurrent.futures.CancelledError)):
        waiting.result(30)
    open(gate, "w").close()
    blocker.result(30)


def test_nested_wait_with_one_worker_does_not_deadlock(farm_home, farm_config):
    farm_config(workers=1)
    ex = Executor()
    assert ex.submit(workloads.nested, 3).result(60) == ["1", "2", "3"]


def test_recursion_limit_raises_before_submitting(farm_home, farm_config, monkeypatch):
    farm_config(workers=1)
    ex = Executor()
    outcome = ex.submit(workloads.nested_until_error).result(120)
    # Levels 1-4 ran; the 5th nested submit raised inside the level-4 job.
    assert outcome["level"] == "4"
    assert "limit of 4" in outcome["error"]
    jobs = ex.farm.jobs()
    assert len(jobs) == 4


def test_two_clients_submit_500_items_each_at_once(farm_home):
    code = ("import sys; sys.path.insert(0, %r); from tests import workloads; "
            "print(workloads.submit_from_two_clients(500, int(sys.argv[1])))" % ROOT)
    clients = [subprocess.Popen([sys.executable, "-c", code, str(tag)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for tag in (1, 1000)]
    outputs = [c.communicate(timeout=120) for c in clients]
    assert [c.returncode for c in clients] == [0, 0], [o[1] for o in outputs]
    totals = [int(o[0].strip()) for o in outputs]
    assert totals == [sum(range(500)) + 500 * 1, sum(range(500)) + 500 * 1000]
    farm = LocalFarm()
    jobs = farm.jobs()
    assert len(jobs) == 2
    assert all(j.tally["complete"] == 500 and j.status == "complete" for j in jobs)
    # Every item ran exactly once.
    attempts = farm.store.db.execute("SELECT MAX(attempts), COUNT(*) FROM work").fetchone()
    assert attempts == (1, 1000)
    farm.close()


def test_farm_home_is_private(farm_home, executor):
    executor.submit(workloads.add, 1, 1).result(30)
    assert oct(os.stat(farm_home).st_mode & 0o777) == "0o700"
    db = os.path.join(farm_home, "farm.db")
    assert os.stat(db).st_mode & 0o077 == 0


def test_supervisor_does_not_hold_the_clients_output(farm_home):
    # A detached supervisor must not keep the submitter's stdout/stderr open, or a CI job
    # that ran the submitter would wait for it forever.
    code = ("import sys; sys.path.insert(0, %r); import dccfutures; "
            "print(dccfutures.Executor().submit(pow, 2, 5).result(30))" % ROOT)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "32", result.stderr
    assert time.monotonic() - started < 30
    assert LocalFarm().supervisor_pid()  # it outlives the client


def test_jobs_outlive_the_session_that_submitted_them(farm_home, tmp_path):
    # "Submit and close Maya": the client exits right after submitting; the work still runs.
    out = str(tmp_path / "written-after-exit")
    code = ("import sys; sys.path.insert(0, %r); import dccfutures; from tests import workloads;"
            "ex = dccfutures.Executor(); ex.submit(workloads.sleep_then, 1.0);"
            "ex.submit(workloads.append_line, %r, 'still ran'); print('submitted')"
            % (ROOT, out))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "submitted", result.stderr
    assert time.monotonic() - started < 15  # exiting never waited for the farm
    wait_until(lambda: os.path.exists(out), timeout=30, what="work of an exited client")
    assert open(out).read() == "still ran\n"
