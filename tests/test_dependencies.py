"""Farm-side dependencies: futures passed as arguments or in depends_on wait ON THE FARM (the
local farm's store, Qube's own fields and callbacks), never in a client thread; results arrive
in place of the futures; failures pass down the chain; detached chains finish; attach()."""
import os
import re
import subprocess
import sys

import pytest

import dccfutures
from dccfutures.payload import DependencyInputError
from tests import workloads
from tests.conftest import FAKES, ROOT, wait_until


def test_a_future_as_an_argument_gets_its_result(executor, tmp_path):
    flag = str(tmp_path / "go")
    first = executor.submit(workloads.wait_for_file, flag)
    second = executor.submit(workloads.total, {"a": [first, 1], "b": (first,)})
    wait_until(lambda: second.status() == "blocked", what="the dependent blocked on the farm")
    open(flag, "w").close()
    pid = first.result(60)
    assert second.result(60) == 2 * pid + 1


def test_depends_on_orders_work_without_passing_values(executor):
    first = executor.submit(workloads.timed, "a", 0.3)
    second = executor.submit_ext(workloads.timed, ["b"], depends_on=[first])
    (_, _, first_end), (_, second_start, _) = first.result(60), second.result(60)
    assert second_start >= first_end


def test_a_diamond_of_twenty_items_across_two_jobs(executor):
    """Job A: 10 items. Job B: 10 items, each on two of A's, the last on all of B's others."""
    with executor.batch("A") as a:
        tops = [a.submit(workloads.add, i, 100) for i in range(10)]
    with executor.batch("B") as b:
        middles = [b.submit(workloads.add, tops[i], tops[(i + 1) % 10]) for i in range(9)]
        bottom = b.submit(workloads.total, middles)
    assert [f.result(60) for f in tops] == [i + 100 for i in range(10)]
    expected = [(i + 100) + ((i + 1) % 10 + 100) for i in range(9)]
    assert [f.result(60) for f in middles] == expected
    assert bottom.result(60) == sum(expected)
    assert len({f.job_id for f in tops}) == 1 and len({f.job_id for f in middles}) == 1


def test_map_over_futures(executor):
    squares = [executor.submit(pow, i, 2) for i in range(4)]
    assert list(executor.map(workloads.add, squares, range(4), chunksize=3)) == [0, 2, 6, 12]


def test_a_failure_fails_the_chain_naming_the_dependency(executor):
    bad = executor.submit(workloads.fail, "boom")
    second = executor.submit(workloads.add, bad, 1)
    third = executor.submit_ext(workloads.add, [second, 1])
    with pytest.raises(ValueError, match="boom"):
        bad.result(60)
    with pytest.raises(dccfutures.DependencyError,
                       match=r"%s:0.*failed" % re.escape(str(bad.job_id))) as info:
        second.result(60)
    assert (info.value.job_id, info.value.work_id) == (bad.job_id, 0)
    assert re.fullmatch(r"work %s:0 \(.+\), which this item depends on, ended failed: "
                        r"ValueError: boom" % re.escape(str(bad.job_id)), str(info.value)), \
        str(info.value)
    with pytest.raises(dccfutures.DependencyError,
                       match=r"%s:0" % re.escape(str(second.job_id))) as info:
        third.result(60)
    assert str(info.value).endswith("ended failed: ValueError: boom")  # the root cause, too


def test_a_killed_dependency_fails_its_dependents(executor, tmp_path):
    slow = executor.submit(workloads.wait_for_file, str(tmp_path / "never"))
    after = executor.submit(workloads.add, slow, 1)
    wait_until(lambda: slow.status() == "running", what="the dependency running")
    assert slow.cancel()
    with pytest.raises(dccfutures.DependencyError, match="killed"):
        after.result(60)


def test_a_dependency_that_already_failed_fails_the_new_work_at_once(executor):
    bad = executor.submit(workloads.fail, "early")
    with pytest.raises(ValueError):
        bad.result(60)
    late = executor.submit(workloads.add, bad, 1)
    with pytest.raises(dccfutures.DependencyError, match="ended failed: ValueError: early$"):
        late.result(60)


def test_bad_dependencies_are_refused_at_submit(executor):
    with executor.batch("open") as batch:
        pending = batch.submit(pow, 2, 2)
        with pytest.raises(DependencyInputError, match="not committed"):
            executor.submit(workloads.add, pending, 1)
    cancelled = executor.submit_ext(pow, [2, 2], status="blocked")
    cancelled.cancel()
    with pytest.raises(DependencyInputError, match="cancelled"):
        executor.submit(workloads.add, cancelled, 1)
    with pytest.raises(TypeError, match="depends_on takes"):
        executor.submit_ext(pow, [2, 2], depends_on=["job 12"])
    assert pending.result(60) == 4  # what was submitted is not lost


def test_calls_on_a_call_cancelled_before_commit_are_dropped_too(executor):
    with executor.batch("partly cancelled") as batch:
        first = batch.submit(pow, 2, 2)
        second = batch.submit(workloads.add, first, 1)
        kept = batch.submit(pow, 3, 2)
        first.cancel()
    assert second.cancelled() and kept.result(60) == 9


CHAIN = """
import sys
sys.path.insert(0, {root!r})
from dccfutures import Executor
from tests import workloads
ex = Executor()
one = ex.submit(workloads.sleep_then, 0.5, 1)
two = ex.submit(workloads.total, [one])
three = ex.submit(workloads.add, two, 10)
print(three.job_id)
"""

ATTACH = """
import sys
sys.path.insert(0, {root!r})
from dccfutures import Executor
print([f.result(60) for f in Executor().attach({job!r})])
"""


def test_a_client_that_exits_after_submitting_a_chain(executor, tmp_path):
    """The chain is carried by the farm: the client is gone before the first step ends, and
    a new process attaches to the last job to collect its result."""
    env = dict(os.environ)  # the same farm: DCCFUTURES_HOME / DCCFUTURES_CONFIG, QB_FAKE_ROOT
    env["PYTHONPATH"] = os.pathsep.join([FAKES, env.get("PYTHONPATH", "")])  # the fake qb
    out = subprocess.run([sys.executable, "-c", CHAIN.format(root=ROOT)], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    job = out.stdout.split()[-1]
    job = int(job) if job.isdigit() else job  # the farm's own id: OpenCue's is a UUID
    got = subprocess.run([sys.executable, "-c", ATTACH.format(root=ROOT, job=job)],
                         capture_output=True, text=True, timeout=90, env=env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "[11]"


def test_attach_gives_a_future_per_call(executor):
    results = list(executor.map(pow, range(5), [2] * 5, chunksize=2))
    executor.submit(pow, 1, 1).result(60)
    job = executor.farm.jobs(limit=2)[1].id  # newest first: the map's job, 3 items, 5 calls
    futures = executor.attach(job)
    assert [f.result(60) for f in futures] == results
    with pytest.raises(ValueError, match="no job 99999"):
        executor.attach(99999)


def test_on_qube_the_dependency_is_a_callback_of_the_job(qube_root, tmp_path):
    """Qube's supervisor releases the work: the item is submitted blocked with a callback
    whose trigger names the dependency's work item, as Qube's callbacks page does."""
    import qb
    executor = dccfutures.Executor(farm="qube")
    flag = str(tmp_path / "go")
    first = executor.submit(workloads.wait_for_file, flag)
    second = executor.submit(workloads.add, first, 1)
    job, = qb.jobinfo(id=[second.job_id], agenda=True, callbacks=True)
    assert job["agenda"][0]["status"] == "blocked"
    callback, = job["callbacks"]
    assert callback["triggers"] == "done-work-%d-%s" % (
        first.job_id, qb.jobinfo(id=[first.job_id], agenda=True)[0]["agenda"][0]["name"])
    open(flag, "w").close()
    assert second.result(60) == first.result(60) + 1
    executor.shutdown()


def test_a_job_hierarchy_runs_depth_first(executor):
    """cgkit's job queue: a task runs once all its sub-tasks succeeded; siblings side by side."""
    from dccfutures import Task
    leaves = [Task(workloads.timed, (name, 0.2), name="leaf %s" % name) for name in "ab"]
    shared = Task(workloads.timed, ("shared",), name="shared")
    middle = Task(workloads.timed, ("middle",), subtasks=leaves + [shared], name="middle")
    root = Task(workloads.timed, ("root",), subtasks=[middle, shared], name="root")
    future = executor.submit_tree(root)
    assert future is root.future and future.result(60)[0] == "root"
    ends = {t.name: t.future.result(60) for t in leaves + [shared, middle, root]}
    assert ends["middle"][1] >= max(ends["leaf a"][2], ends["leaf b"][2], ends["shared"][2])
    assert ends["root"][1] >= ends["middle"][2]
    assert len({t.future.job_id for t in leaves + [shared, middle, root]}) == 5  # shared once


def test_a_failed_subtask_fails_its_parents(executor):
    from dccfutures import Task
    root = Task(workloads.add, (1, 2), subtasks=[Task(workloads.fail, ("sub",))])
    with pytest.raises(dccfutures.DependencyError):
        executor.submit_tree(root).result(60)


def test_a_cycle_is_refused_before_anything_is_submitted(executor):
    from dccfutures import Task
    a = Task(pow, (2, 2), name="a")
    b = Task(pow, (2, 3), name="b", subtasks=[a])
    a.add(b)
    before = len(executor.farm.jobs())
    with pytest.raises(ValueError, match="dependency cycle: <Task a> -> <Task b> -> <Task a>"):
        executor.submit_tree(a)
    assert len(executor.farm.jobs()) == before and a.future is None


def test_a_retried_item_waits_again_for_its_dependencies(local_executor, tmp_path):
    """Retry runs a failed chain in order again: the dependent waits for its dependency."""
    flag = str(tmp_path / "fixed")
    with local_executor.batch("chain") as batch:
        first = batch.submit(workloads.fail_unless_file, flag, "first")
        second = batch.submit_ext(workloads.timed, ["second"], depends_on=[first])
    with pytest.raises(ValueError):
        first.result(60)
    with pytest.raises(dccfutures.DependencyError):
        second.result(60)
    open(flag, "w").close()
    farm = local_executor.farm
    farm.retry(first.job_id, [0, 1])
    job = farm.job(first.job_id)
    assert job.work[1].status in ("blocked", "pending", "running", "complete")
    again = local_executor.attach(first.job_id)
    first_end = again[0].result(60)[2]
    assert again[1].result(60)[1] >= first_end  # the dependent ran after its dependency


def test_unblocking_a_waiting_item_by_hand_lets_it_run_early(farm_home, farm_config,
                                                               tmp_path):
    farm_config(workers=3)  # two workers busy with the dependencies, one for the dependent
    ex = dccfutures.Executor()
    flags = [str(tmp_path / name) for name in ("a", "b")]
    a = ex.submit(workloads.wait_for_file, flags[0])
    b = ex.submit(workloads.wait_for_file, flags[1])
    c = ex.submit_ext(workloads.timed, ["c"], depends_on=[a, b])
    wait_until(lambda: c.status() == "blocked", what="c waiting")
    ex.farm.unblock(c.job_id, [0])   # the wrangler lets it go
    assert c.result(60)[0] == "c" and not a.done() and not b.done()
    for flag in flags:
        open(flag, "w").close()
    assert a.result(60) and b.result(60)
    ex.shutdown()


def test_an_item_held_by_hand_stays_blocked_when_its_dependency_completes(local_executor):
    first = local_executor.submit(workloads.sleep_then, 0.3, 1)
    with local_executor.batch("held") as batch:
        held = batch.submit_ext(workloads.add, [first, 1], status="blocked")
    assert first.result(60) == 1
    import time
    time.sleep(1.0)                                # the farm has settled what first released
    assert local_executor.farm.job(held.job_id).work[0].status == "blocked"  # held by hand
    local_executor.farm.unblock(held.job_id, [0])
    assert held.result(60) == 2


def test_on_qube_a_retried_item_waits_again_for_its_dependency(qube_root, tmp_path):
    """Retry the dependency, then the dependent: Qube holds the dependent back until its
    dependency has run again (the job's callback releases it)."""
    ex = dccfutures.Executor(farm="qube")
    flag, gate = str(tmp_path / "fixed"), str(tmp_path / "gate")
    first = ex.submit(workloads.fail_unless_file_then_wait, flag, gate, "first")
    second = ex.submit_ext(workloads.timed, ["second"], depends_on=[first])
    with pytest.raises(ValueError):
        first.result(60)
    with pytest.raises(dccfutures.DependencyError):
        second.result(60)
    ex.farm.retry(second.job_id)   # its dependency has failed: it fails again at once
    assert isinstance(ex.attach(second.job_id)[0].exception(60), dccfutures.DependencyError)
    open(flag, "w").close()
    ex.farm.retry(first.job_id)
    again_first = ex.attach(first.job_id)[0]
    wait_until(lambda: again_first.status() == "running", what="the dependency running again")
    ex.farm.retry(second.job_id)   # the dependency will end later: the dependent waits
    again_second = ex.attach(second.job_id)[0]
    wait_until(lambda: ex.farm.job(second.job_id).work[0].status == "blocked",
               what="the dependent held back")
    open(gate, "w").close()
    end_first = again_first.result(60)[2]
    assert again_second.result(60)[1] >= end_first
    ex.shutdown()


def test_a_missing_dependency_names_the_farms_own_job_id():
    """The shared worker loop names a dependency by its farm's id, a string on OpenCue; a
    farm without dependencies (the base WorkSource) has no result for it."""
    from dccfutures import payload
    from dccfutures.runtime.loop import Item, WorkSource, dependency_resolver
    uuid = "9f3c2a4e-1b2c-4d5e-8f90-0123456789ab"
    resolve = dependency_resolver(Item(uuid, 0, b"", {}), WorkSource())
    with pytest.raises(dccfutures.DependencyError) as caught:
        resolve((payload.DEPENDENCY, None, 3, 0))
    assert str(caught.value) == ("work %s:3, which this item depends on, has no result: it is "
                                 "not complete" % uuid)
    assert caught.value.job_id == uuid and caught.value.work_id == 3
