"""Results are never held back, a finished item is never rewritten, and an item's output
survives its kill or crash. Real workers, real signals, real SQLite (and the fake Qube's real
subjob processes)."""
import concurrent.futures
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from tests import workloads
from tests.conftest import FAKES, ROOT, wait_until


def _warm(ex):
    """200 no-ops: the workers learn that items are fast and claim several at once."""
    assert list(ex.map(workloads.add, range(200))) == list(range(200))


def _cli(*argv):
    """The real ``python -m dccfutures`` with this test's farm home, config and fake qb."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([FAKES, ROOT, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "dccfutures"] + [str(a) for a in argv],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


# -- nothing held back -----------------------------------------------------------------------

def test_a_finished_item_is_not_held_behind_the_slow_one_claimed_with_it(local_executor,
                                                                          tmp_path):
    _warm(local_executor)
    never = str(tmp_path / "never")
    started = time.monotonic()
    # A worker claims items 0 and 1 together; item 1 never ends.
    results = local_executor.map(workloads.wait_for_file_or_value, [None, never, never],
                                 [0.1, 0, 0], timeout=10)
    assert next(results) == "value"
    assert time.monotonic() - started < 3
    results.close()


def test_a_finished_item_is_not_held_behind_one_that_holds_the_gil(local_executor):
    """The worker's own reporter thread cannot run while the next item holds the GIL (most
    DCC commands do): the supervisor, another process, reports what the worker finished."""
    _warm(local_executor)
    started = time.monotonic()
    results = local_executor.map(workloads.fast_or_hold_gil, [0, 4, 4], timeout=20)
    assert next(results) == 0
    assert time.monotonic() - started < 2.5
    results.close()


def test_map_timeout_keeps_the_item_that_finished(local_executor, tmp_path):
    _warm(local_executor)
    never = str(tmp_path / "never")
    results = local_executor.map(workloads.wait_for_file_or_value, [None, never, never],
                                 [0.1, 0, 0], timeout=1.5)
    with pytest.raises(concurrent.futures.TimeoutError):
        list(results)
    job_id = local_executor.farm.jobs(limit=1)[0].id
    assert [w.status for w in local_executor.farm.job(job_id).work] == \
        ["complete", "killed", "killed"]
    first = Executor().attach(job_id)[0]
    assert first.result(10) == "value" and first.status() == "complete"
    shown = _cli("show", job_id)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.split()[:1] == ["0"])
    assert "complete" in row


def _stop_with_item_0_finished_unreported(ex, farm_home, job_id, gate, finished):
    """Items 0 and 1 claimed by one worker; let item 0 finish while the farm's write lock is
    held (so its worker cannot report it), then SIGSTOP the worker. Returns its pid."""
    db = ex.farm.store.db
    wait_until(lambda: db.execute("SELECT COUNT(DISTINCT worker) FROM work WHERE job_id = ? AND"
                                  " idx < 2 AND status = 'running'", (job_id,)).fetchone()[0],
               what="items 0 and 1 claimed")
    worker = db.execute("SELECT worker FROM work WHERE job_id = ? AND idx = 0",
                        (job_id,)).fetchone()[0]
    blocker = sqlite3.connect(os.path.join(farm_home, "farm.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        open(gate, "w").close()
        wait_until(lambda: os.path.exists(finished), what="item 0 to finish")
        record = os.path.join(farm_home, "run", "f-%d" % worker)  # see the README, Faults
        wait_until(lambda: os.path.getsize(record), what="item 0 recorded as finished")
        os.killpg(worker, signal.SIGSTOP)  # now it cannot even try
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    return worker


def test_a_kill_never_turns_a_finished_unreported_item_into_killed(farm_home, farm_config,
                                                                  tmp_path):
    farm_config(workers=1)
    ex = Executor()
    _warm(ex)
    gate, finished, never = (str(tmp_path / n) for n in ("gate", "finished", "never"))
    results = ex.map(workloads.wait_then_mark, [gate, never, never], [finished, None, None])
    job_id = ex.farm.jobs(limit=1)[0].id
    worker = _stop_with_item_0_finished_unreported(ex, farm_home, job_id, gate, finished)
    try:
        assert ex.farm.kill(job_id) == 2  # items 1 and 2; item 0 had finished
        work = ex.farm.job(job_id).work
        assert [w.status for w in work] == ["complete", "killed", "killed"]
    finally:
        try:
            os.killpg(worker, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert Executor().attach(job_id)[0].result(10) == gate
    assert next(results) == gate
    results.close()
    # The worker carries on with the next job, its dropped item never run.
    assert ex.submit(workloads.add, 2, 3).result(30) == 5
    assert ex.farm.job(job_id).work[1].status == "killed"


def test_cancelling_a_finished_unreported_item_gives_its_result(farm_home, farm_config,
                                                                 tmp_path):
    """``shutdown(cancel_futures=True)`` (and a map's timeout) cancel many futures at once:
    one whose item the farm recorded as finished gets its result, not a cancellation."""
    farm_config(workers=1)
    ex = Executor()
    _warm(ex)
    gate, finished, never = (str(tmp_path / n) for n in ("gate", "finished", "never"))
    with ex.batch() as batch:
        for flag, mark in ((gate, finished), (never, None), (never, None)):
            batch.submit(workloads.wait_then_mark, flag, mark)
    job_id = batch.futures[0].job_id
    worker = _stop_with_item_0_finished_unreported(ex, farm_home, job_id, gate, finished)
    try:
        first, second, third = batch.futures
        # The poller would learn of item 0 on its own, but cancelling must not depend on it.
        ex._poller.stop()
        ex._poller._thread.join(10)
        assert not first.done()
        ex.shutdown(wait=False, cancel_futures=True)
        assert first.result(10) == gate and not first.cancelled()
        assert second.cancelled() and third.cancelled()
    finally:
        try:
            os.killpg(worker, signal.SIGCONT)
        except ProcessLookupError:
            pass


# -- output survives kills and crashes -------------------------------------------------------

@pytest.mark.parametrize("how", ["cli", "cancel"])
def test_a_killed_item_keeps_its_output(executor, tmp_path, how):
    gate = str(tmp_path / "never")
    future = executor.submit(workloads.print_then_wait, "before the kill", gate)
    wait_until(lambda: "err: before the kill" in future.log(), what="the item's output")
    if how == "cli":
        killed = _cli("--farm", executor.farm.name, "kill", "%s:0" % future.job_id)
        assert killed.returncode == 0, killed.stderr
    else:
        assert future.cancel()
    wait_until(lambda: executor.farm.job(future.job_id).work[0].status == "killed",
               what="killed")
    log = future.log()
    assert "out: before the kill\n" in log and "err: before the kill\n" in log
    printed = _cli("--farm", executor.farm.name, "log", "%s:0" % future.job_id)
    assert "out: before the kill" in printed.stdout, printed.stderr


def test_a_killed_item_keeps_only_its_own_output(executor, tmp_path):
    """Work that runs after the kill on the same worker (or Qube subjob) is not its."""
    gate = str(tmp_path / "gate")
    results = executor.map(workloads.print_then_wait, ["first", "second"],
                           [str(tmp_path / "never"), gate], cpus=1)

    def first_running():
        jobs = executor.farm.jobs(limit=1)
        return jobs and executor.farm.log(jobs[0].id, 0).count("first") == 2 and jobs[0].id
    job_id = wait_until(first_running, what="item 0 printing")
    executor.farm.kill(job_id, [0])
    open(gate, "w").close()
    wait_until(lambda: executor.farm.job(job_id).work[1].status == "complete",
               what="item 1 complete")
    log = executor.farm.log(job_id, 0)
    assert "out: first" in log and "err: first" in log
    assert "second" not in log
    assert "second" in executor.farm.log(job_id, 1)
    results.close()


@pytest.mark.parametrize("workload", ["exit", "segfault"])
def test_a_crashed_item_keeps_its_output(farm_home, farm_config, workload):
    farm_config(max_attempts=1)
    ex = Executor()
    if workload == "exit":
        future = ex.submit(workloads.print_then_exit, "last words", 1)
    else:
        future = ex.submit(workloads.print_then_segfault, "last words")
    with pytest.raises(dccfutures.WorkerLostError) as info:
        future.result(60)
    assert "last words" in info.value.log_tail
    log = future.log()
    assert "out: last words\n" in log and "err: last words\n" in log
    printed = _cli("log", "%s:0" % future.job_id)
    assert "err: last words" in printed.stdout, printed.stderr


def test_an_item_lost_on_each_attempt_keeps_the_last_attempts_output(farm_home, farm_config):
    farm_config(max_attempts=2)
    ex = Executor()
    future = ex.submit(workloads.print_then_exit, "lost again", 3)
    with pytest.raises(dccfutures.WorkerLostError):
        future.result(60)
    log = future.log()
    assert log.count("out: lost again\n") == 1 and log.count("err: lost again\n") == 1


def test_a_crash_on_qube_keeps_the_items_output(qube_root):
    ex = Executor(farm="qube")
    try:
        future = ex.submit(workloads.print_then_exit, "last words on qube", 1)
        with pytest.raises(dccfutures.DccFuturesError):
            future.result(60)
        log = future.log()
        assert "out: last words on qube\n" in log and "err: last words on qube\n" in log
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


# -- a runaway item cannot fill the disk -----------------------------------------------------

def _disk_bytes(folder):
    return sum(os.stat(os.path.join(folder, name)).st_blocks * 512
               for name in os.listdir(folder))


def test_output_past_the_cap_keeps_head_and_tail(farm_home, farm_config):
    farm_config(extra="  max_log_mb: 1\n")
    ex = Executor()
    future = ex.submit(workloads.flood, 30)
    assert future.result(60) == 300000
    log = future.log()
    assert log.startswith("first line\n00000000 x")
    assert log.endswith("00299999 " + "x" * 90 + "\nlast line\n")
    assert "bytes of output dropped" in log
    assert len(log) < 1.1 * 2 ** 20
    assert _disk_bytes(os.path.join(farm_home, "logs")) < 8 * 2 ** 20
    # The next item on that worker is whole, and its own.
    assert ex.submit(workloads.chatty, 7).result(30) == 7


def test_a_runaway_print_loop_does_not_grow_the_log_on_disk(farm_home, farm_config):
    farm_config(extra="  max_log_mb: 1\n")
    ex = Executor()
    future = ex.submit(workloads.flood, 0, "wait")
    wait_until(lambda: future.status() == "running", what="running")
    logs = os.path.join(farm_home, "logs")
    time.sleep(3)  # gigabytes, unchecked
    assert _disk_bytes(logs) < 40 * 2 ** 20
    log = future.log()
    assert log.startswith("first line\n") and "bytes of output dropped" in log
    assert future.cancel()
    log = future.log()
    assert log.startswith("first line\n") and len(log) < 1.1 * 2 ** 20


def test_output_past_the_cap_on_qube_keeps_head_and_tail(qube_root, farm_config, tmp_path):
    farm_config(extra="farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2,"
                      " max_log_mb: 1}\n" % (tmp_path / "spool"))
    ex = Executor(farm="qube")
    try:
        future = ex.submit(workloads.flood, 30)
        assert future.result(60) == 300000
        log = future.log()
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
    assert log.startswith("first line\n00000000 x")
    assert log.endswith("00299999 " + "x" * 90 + "\nlast line\n")
    assert "bytes of output dropped" in log and len(log) < 1.1 * 2 ** 20
    logs = os.path.join(qube_root, "logs", str(future.job_id))
    assert _disk_bytes(logs) < 8 * 2 ** 20
