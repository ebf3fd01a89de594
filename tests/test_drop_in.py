"""dccfutures as a drop-in for ``concurrent.futures.ProcessPoolExecutor``: its constructor's
arguments (``max_workers``, ``initializer``, ``initargs``), its errors, and a ``Future`` that
behaves exactly like CPython's where it is used on its own."""
import collections
import concurrent.futures
import re
import threading

import pytest

import dccfutures
from dccfutures import Executor, Future
from tests import workloads
from tests.test_maya import maya_session  # noqa: F401 (a fixture)


def test_max_workers_is_cpus(farm_home):
    for ex in (Executor(max_workers=1), Executor(1)):  # ProcessPoolExecutor(1) reads the same
        assert ex.farm.job(ex.submit(workloads.add, 1).job_id).cpus == 1
    with pytest.raises(TypeError, match="cpus or max_workers, not both"):
        Executor(max_workers=2, cpus=2)


def test_out_of_range_numbers_are_value_errors(farm_home):
    for number in (0, -1):  # CPython's own message
        with pytest.raises(ValueError, match="max_workers must be greater than 0"):
            Executor(max_workers=number)
    with pytest.raises(ValueError, match="'cpus' must be an integer >= 0, got -1"):
        Executor(cpus=-1)
    ex = Executor()
    with pytest.raises(ValueError, match="'priority' must be an integer >= 0, got -5"):
        ex.submit_ext(workloads.add, [1], priority=-5)
    with pytest.raises(ValueError, match="'max_attempts' must be an integer >= 1"):
        ex.map(workloads.add, [1], max_attempts=0)
    # A wrong type stays a TypeError, as in CPython.
    for bad in ("four", 2.0, True):
        with pytest.raises(TypeError, match="'cpus' must be an integer"):
            Executor(cpus=bad)
        with pytest.raises(TypeError, match="max_workers must be an integer"):
            Executor(max_workers=bad)
    assert ex.farm.jobs() == []


def test_initializer_runs_once_per_worker_process_per_job(farm_name, tmp_path):
    runs = str(tmp_path / "initializer-runs")
    ex = Executor(farm=farm_name, initializer=workloads.initialize, initargs=(runs, "ready"))
    mapped = list(ex.map(workloads.initialized, range(12), timeout=60))
    single = ex.submit(workloads.initialized).result(60)
    with open(runs) as handle:
        lines = [(int(pid), job) for pid, job in (line.split() for line in handle)]
    once = collections.Counter(lines)
    assert max(once.values()) == 1, "the initializer ran twice in one process for one job"
    job_ids = {job for _, job in lines}
    assert len(job_ids) == 2  # each job's workers ran it before its items
    assert all(value == "ready" for value, _ in mapped + [single])
    assert {pid for _, pid in mapped + [single]} <= {pid for pid, _ in lines}


def test_failing_initializer_fails_the_items_and_breaks_the_executor(farm_name, caplog):
    ex = Executor(farm=farm_name, initializer=workloads.fail, initargs=("no licence",))
    with ex.batch() as batch:  # one job, so that all of it is submitted before it fails
        single = batch.submit(workloads.add, 1)
        mapped = batch.map(workloads.add, [1, 2])
    with pytest.raises(dccfutures.InitializerError) as info:
        single.result(60)
    with pytest.raises(dccfutures.InitializerError):
        list(mapped)
    error = info.value
    assert isinstance(error, concurrent.futures.BrokenExecutor)
    assert isinstance(error, dccfutures.DccFuturesError)
    assert "initializer tests.workloads.fail() raised ValueError: no licence" in str(error)
    assert "raise ValueError(message)" in error.__cause__.tb  # where it raised, on the farm
    assert "ValueError: no licence" in single.log()
    # Like ProcessPoolExecutor: the executor is broken, says so, and takes no more work.
    with pytest.raises(dccfutures.InitializerError, match="broken.*no licence"):
        ex.submit(workloads.add, 2)
    assert any(r.name == "concurrent.futures" and r.levelname == "CRITICAL"
               and "ValueError: no licence" in r.getMessage() for r in caplog.records)


def test_initializer_is_checked_when_the_executor_is_made(farm_home):
    with pytest.raises(TypeError, match="initializer must be a callable"):
        Executor(initializer=42)
    with pytest.raises(TypeError, match=r"argument 2 of .*initialize.*lock"):
        Executor(initializer=workloads.initialize, initargs=("path", threading.Lock()))


def test_a_future_on_its_own_is_a_concurrent_futures_future():
    future = Future()
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=pending>", repr(future))
    assert future.set_running_or_notify_cancel() is True
    assert future.running() and not future.done()
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=running>", repr(future))
    assert future.cancel() is False  # a running future cannot be cancelled
    future.set_result(42)
    assert future.result(0) == 42 and not future.running()
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=finished returned int>", repr(future))

    failed = Future()
    failed.set_exception(OSError("disk"))
    assert isinstance(failed.exception(0), OSError)
    with pytest.raises(concurrent.futures.InvalidStateError, match="state=finished raised OSError"):
        failed.set_result(1)

    cancelled, seen = Future(), []
    cancelled.add_done_callback(seen.append)
    assert cancelled.cancel() is True and seen == [cancelled]
    assert cancelled._state == "CANCELLED"  # notified only when an executor picks it up
    assert cancelled.set_running_or_notify_cancel() is False
    with pytest.raises(concurrent.futures.TimeoutError):
        Future().result(timeout=0)


def test_farm_futures_keep_what_they_add(executor):
    future = executor.submit(workloads.add, 20, 22)
    assert future.result(30) == 42
    assert repr(future) == "<dccfutures.Future %s:0 complete>" % future.job_id
    assert future.status() == "complete" and not future.running()


def test_initializer_runs_in_the_dcc_once_the_scene_is_open(maya_session):
    fake, scene, workspace = maya_session
    from dccfutures.maya import Executor as MayaExecutor
    ex = MayaExecutor(clone_environ=True, create_tempfile=True,
                      initializer=workloads.initialize_with_scene)
    assert ex.submit(workloads.initialized).result(60)[0] == scene
    ex.shutdown()
