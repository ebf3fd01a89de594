"""The public contract on the local farm: submit, submit_ext, map, batch, futures, shutdown."""
import concurrent.futures
import os
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from tests.conftest import wait_until
from tests import workloads


def test_submit_returns_result_with_ids(executor):
    future = executor.submit(pow, 2, 10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=30) == 1024
    # The farm's own id: an int on the local farm and Qube, a UUID string on OpenCue.
    assert isinstance(future.job_id, str if executor.farm.name == "opencue" else int)
    assert future.work_id == 0
    assert future.status() == "complete"
    assert future.progress == 1.0


def test_lambda_and_closure_and_main_function(executor):
    offset = 7
    assert executor.submit(lambda x: x + offset, 1).result(30) == 8

    def local(a, b=2):
        return a * b
    assert executor.submit(local, 3, b=5).result(30) == 15


def test_string_reference_and_eval(executor):
    assert executor.submit("os.path:join", "a", "b").result(30) == os.path.join("a", "b")
    assert executor.submit(eval, "a + b", dict(a=1, b=2)).result(30) == 3


def test_function_from_submitters_module_runs(executor):
    # tests/workloads.py is importable because the worker sees the submitter's sys.path.
    assert executor.submit(workloads.where_am_i).result(30)["module"] == "tests.workloads"


def test_submit_ext_passes_job_fields(executor):
    future = executor.submit_ext(workloads.add, args=[1], kwargs={"b": 41}, name="answer",
                                 cpus=1, priority=10, groups=["farm", "gpu"])
    assert future.result(30) == 42
    job = executor.farm.job(future.job_id)
    assert job.name == "answer" and job.cpus == 1 and job.priority == 10
    assert job.fields["groups"] == "farm,gpu"


def test_constructor_defaults_and_config_defaults(farm_home, farm_config):
    farm_config(extra="defaults: {priority: 500, groups: config}\n")
    ex = Executor(groups="ctor")
    future = ex.submit_ext(workloads.add, [1, 2], name="x")
    assert future.result(30) == 3
    job = ex.farm.job(future.job_id)
    assert job.priority == 500                      # from the config
    assert job.fields["groups"] == "ctor"          # the constructor beats the config
    override = ex.submit_ext(workloads.add, [1, 2], groups="call")
    override.result(30)
    assert ex.farm.job(override.job_id).fields["groups"] == "call"


def test_unknown_job_field_is_named_with_a_hint(executor):
    with pytest.raises(TypeError, match="unknown job field 'cpu'.*did you mean 'cpus'"):
        executor.submit_ext(workloads.add, [1, 2], cpu=4)
    with pytest.raises(TypeError, match="'cpus' must be an integer"):
        Executor(cpus="four")


def test_remote_exception_keeps_type_and_traceback(executor):
    future = executor.submit(workloads.fail, "frame 13 has no camera")
    with pytest.raises(ValueError, match="frame 13 has no camera") as info:
        future.result(30)
    cause = info.value.__cause__
    assert isinstance(cause, dccfutures.RemoteTraceback)
    assert "workloads.py" in cause.tb and "in fail" in cause.tb
    assert future.status() == "failed"


def test_unpicklable_exception_arrives_as_remote_error(executor):
    future = executor.submit(workloads.raise_unpicklable)
    with pytest.raises(dccfutures.RemoteError) as info:
        future.result(30)
    assert info.value.type_name.endswith("Unpicklable")
    assert "needs two arguments" in info.value.message
    assert "raise_unpicklable" in info.value.traceback


def test_unpicklable_result_fails_only_its_future(executor):
    bad = executor.submit(workloads.return_lock)
    good = executor.submit(pow, 3, 3)
    with pytest.raises(TypeError, match="cannot be sent back"):
        bad.result(30)
    assert good.result(30) == 27


def test_log_holds_exactly_the_items_output(executor):
    futures = [executor.submit(workloads.chatty, i) for i in range(4)]
    for i, future in enumerate(futures):
        assert future.result(30) == i
        assert future.log() == "out %d\nerr %d\n" % (i, i)


def test_progress_is_visible_while_running(executor, tmp_path):
    flag = str(tmp_path / "go")
    future = executor.submit(workloads.progress_then_wait, flag)
    wait_until(lambda: future.progress == 0.5, what="progress 0.5")
    assert future.progress_message == "half way"
    assert future.status() == "running" and future.running()
    open(flag, "w").close()
    assert future.result(30) == "done"
    assert future.progress == 1.0


def test_map_in_order_with_chunks(executor):
    results = list(executor.map(workloads.add, range(10), range(10), chunksize=3))
    assert results == [2 * i for i in range(10)]


def test_map_chunk_futures_share_a_work_item(executor):
    ex = executor
    list(ex.map(workloads.add, range(7), range(7), chunksize=3))
    job = ex.farm.jobs(limit=1)[0]
    assert sum(job.tally.values()) == 3  # ceil(7 / 3) work items in ONE job


def test_map_one_failure_fails_only_its_call(executor):
    iterator = executor.map(workloads.fail_on, [1, 2, 3, 4], [3] * 4, chunksize=2)
    assert next(iterator) == 1
    assert next(iterator) == 2
    with pytest.raises(ValueError, match="3 is unlucky"):
        next(iterator)


def test_map_timeout_cancels_what_is_left(executor):
    iterator = executor.map(workloads.sleep_then, [0, 60, 60], ["first", 1, 2], timeout=3)
    assert next(iterator) == "first"
    with pytest.raises(concurrent.futures.TimeoutError):
        next(iterator)
    job = executor.farm.jobs(limit=1)[0]
    wait_until(lambda: executor.farm.job(job.id).status == "killed", what="job killed")


def test_map_of_nothing_submits_nothing(executor):
    assert list(executor.map(workloads.add, [], [])) == []
    assert executor.farm.jobs() == []


def test_batch_is_one_job_and_work_fields_reach_items(executor):
    with executor.batch(name="a set of functions", cpus=2) as batch:
        first = batch.submit(workloads.add, 1, 2)
        named = batch.submit_ext(workloads.add, [2, 3], name="work name")
        mapped = batch.map(workloads.add, range(3), range(3))
    assert first.result(30) == 3 and named.result(30) == 5
    assert list(mapped) == [0, 2, 4]
    assert len(batch.futures) == 5
    assert {f.job_id for f in batch.futures} == {first.job_id}
    assert [f.work_id for f in batch.futures] == [0, 1, 2, 3, 4]
    job = executor.farm.job(first.job_id)
    assert job.name == "a set of functions" and job.cpus == 2
    # Qube's callback triggers name work items by name: blanks and ()&|, become "_" there.
    assert job.work[1].name == ("work_name" if executor.farm.name == "qube" else "work name")


def test_batch_futures_before_commit(executor):
    batch = executor.batch()
    future = batch.submit(workloads.add, 1, 1)
    assert future.job_id is None
    with pytest.raises(RuntimeError, match="not committed"):
        future.result(0)
    mapped = batch.map(workloads.add, [1], [1])
    with pytest.raises(RuntimeError, match="after the batch is committed"):
        iter(mapped)
    batch.commit()
    assert future.result(30) == 2 and list(mapped) == [2]
    with pytest.raises(RuntimeError, match="already committed"):
        batch.submit(workloads.add, 1, 1)


def test_batch_that_raises_submits_nothing(executor):
    with pytest.raises(KeyError):
        with executor.batch() as batch:
            future = batch.submit(workloads.add, 1, 1)
            raise KeyError("oops")
    assert future.cancelled()
    assert executor.farm.jobs() == []


def test_a_cancelled_futures_error_is_a_dccfutures_error(executor):
    future = executor.submit_ext(workloads.add, [1, 1], status="blocked")
    assert future.cancel()
    for read in (future.result, future.exception):
        with pytest.raises(dccfutures.CancelledError) as caught:
            read(0)
        assert isinstance(caught.value, dccfutures.DccFuturesError)
        assert isinstance(caught.value, concurrent.futures.CancelledError)
        assert "%s:0" % future.job_id in str(caught.value)
    done, not_done = concurrent.futures.wait([future], timeout=0)
    assert done == {future} and not not_done
    assert list(concurrent.futures.as_completed([future], timeout=0)) == [future]


def test_a_call_raising_cancelled_error_itself_is_not_a_cancelled_future(executor):
    future = executor.submit(workloads.raise_cancelled)
    with pytest.raises(concurrent.futures.CancelledError) as caught:
        future.result(30)
    assert not future.cancelled() and not isinstance(caught.value, dccfutures.CancelledError)


def test_error_classes_are_exported_and_catchable_as_documented():
    for name in ("CancelledError", "DependencyInputError", "DependencyError", "FrameRangeError"):
        assert name in dccfutures.__all__ and issubclass(getattr(dccfutures, name),
                                                          dccfutures.DccFuturesError)
    assert issubclass(dccfutures.DependencyInputError, ValueError)
    assert dccfutures.DependencyInputError is dccfutures.payload.DependencyInputError


def test_as_completed_and_wait_work(executor):
    futures = [executor.submit(workloads.sleep_then, 0.2 * (3 - i), i) for i in range(3)]
    order = [f.result() for f in concurrent.futures.as_completed(futures, timeout=30)]
    assert sorted(order) == [0, 1, 2]
    done, not_done = concurrent.futures.wait(futures, timeout=30)
    assert len(done) == 3 and not not_done


def test_done_callback_runs_once_result_arrives(executor):
    seen = []
    future = executor.submit(workloads.add, 2, 2)
    future.add_done_callback(lambda f: seen.append(f.result()))
    future.result(30)
    wait_until(lambda: seen == [4], what="callback")
    late = []
    future.add_done_callback(lambda f: late.append(f.result()))
    assert late == [4]


def test_higher_priority_runs_first(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    ex = Executor()
    gate = str(tmp_path / "gate")
    blocker = ex.submit(workloads.wait_for_file, gate)
    wait_until(lambda: blocker.status() == "running", what="blocker running")
    order_file = str(tmp_path / "order")
    low = ex.submit_ext(workloads.append_line, [order_file, "low"], priority=9000)
    high = ex.submit_ext(workloads.append_line, [order_file, "high"], priority=10)
    open(gate, "w").close()
    high.result(30), low.result(30)
    assert open(order_file).read().split() == ["high", "low"]


def test_cpus_caps_a_jobs_concurrency(farm_name, tmp_path):
    """``cpus`` (``max_workers``) is how many of a job's items run at once on every farm
    (the local farm and the render host here could run two)."""
    ex = Executor(farm=farm_name)
    results = list(ex.map(workloads.concurrency_probe, [str(tmp_path)] * 4, cpus=1,
                          timeout=120))
    assert max(results) == 1  # never two of this job's items at once


def test_shutdown_refuses_new_work(executor):
    executor.submit(workloads.add, 1, 1).result(30)
    executor.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(workloads.add, 1, 1)


def test_context_manager_waits(farm_home):
    with Executor() as ex:
        future = ex.submit(workloads.sleep_then, 0.3, "slept")
    assert future.done() and future.result() == "slept"


def test_status_values_cover_pending_and_blocked(executor):
    future = executor.submit_ext(workloads.add, [1, 1], status="blocked")
    time.sleep(0.3)
    assert future.status() == "blocked" and not future.done()
    executor.farm.unblock(future.job_id)
    assert future.result(30) == 2


def test_worker_environment_is_restored_between_items(executor):
    first = executor.submit_ext(workloads.set_env, ["DCCF_TEST_LEAK", "1"])
    assert first.result(30) is None
    assert executor.submit(workloads.get_env, "DCCF_TEST_LEAK").result(30) is None
    assert executor.submit(workloads.get_env, "QBLVL").result(30) == "1"


def test_workers_cap_concurrency_across_jobs(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    ex = Executor()
    futures = [ex.submit(workloads.concurrency_probe, str(tmp_path)) for _ in range(3)]
    assert [f.result(30) for f in futures] == [1, 1, 1]  # one worker: one item at a time


def test_edited_module_is_picked_up_by_the_next_job(executor, tmp_path, monkeypatch):
    # Warm workers keep a job's modules only for that job: a fixed tool runs fixed next time.
    module = tmp_path / "shottool.py"
    module.write_text("def version():\n    return 'v1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert executor.submit("shottool:version").result(60) == "v1"
    module.write_text("def version():\n    return 'v2 fixed'\n")
    assert executor.submit("shottool:version").result(60) == "v2 fixed"


def test_two_projects_with_the_same_module_name(executor, tmp_path, monkeypatch):
    for project, answer in (("a", "project a"), ("b", "project b")):
        (tmp_path / project).mkdir()
        (tmp_path / project / "tools.py").write_text("NAME = %r\n" % answer)
    original = list(sys.path)
    results = []
    for project in ("a", "b", "a"):
        monkeypatch.setattr(sys, "path", [str(tmp_path / project)] + original)
        results.append(executor.submit(eval, "__import__('tools').NAME").result(60))
    assert results == ["project a", "project b", "project a"]


@pytest.mark.parametrize("job_id", ["9f3c2a4e-1b2c-4d5e-8f90-0123456789ab",   # OpenCue's
                                    "job-0123456789abcdef0123456789abcdef"])  # Deadline's
def test_attach_hands_a_string_id_to_the_farm_as_it_is(executor, job_id):
    """Ids are the farm's own: attach() passes a string id on untouched, and the local farm
    and Qube, whose ids are ints, say plainly that they have no such job."""
    with pytest.raises(ValueError) as caught:
        executor.attach(job_id)
    assert str(caught.value).startswith("there is no job %s on the %s farm"
                                        % (job_id, executor.farm.name))
    future = executor.submit(workloads.add, 1, 2)
    again, = executor.attach(future.job_id)
    assert again.result(30) == 3 and again.job_id == future.job_id
