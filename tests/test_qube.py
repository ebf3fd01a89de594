"""The Qube backend against the fake qb (tests/fakes/qb), whose supervisor runs our jobtypes'
execute.py in real subjob processes: the code under test is what a Qube worker would run.
The farm-agnostic contract tests run on Qube too (test_executor.py, test_bad_input.py)."""
import concurrent.futures
import os
import sys

import pytest

import dccfutures
from dccfutures import Executor
from tests import workloads
from tests.conftest import JOBTYPES, wait_until


@pytest.fixture
def qb(qube_root):
    import qb
    qb.reset_counters()
    return qb


@pytest.fixture
def ex(qube_root):
    executor = Executor(farm="qube")
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


def test_one_job_per_call_with_readable_package_and_agenda(ex, qb):
    future = ex.submit_ext(workloads.add, [1, 2], cpus=2, groups="farm", priority=50)
    assert future.result(60) == 3
    job, = qb.jobinfo(id=[future.job_id], agenda=True)
    assert job["prototype"] == "dccfutures" and job["cpus"] == 2 and job["groups"] == "farm"
    assert job["package"]["callable"] == "tests.workloads.add"
    assert job["package"]["python"] == sys.executable
    assert job["env"]["QBLVL"] == "1" and job["env"]["DCCFUTURES_RECURSION_LIMIT"] == "4"
    assert job["agenda"][0]["package"]["index"] == 0
    results = list(ex.map(workloads.add, range(10), range(10), chunksize=3))
    assert results == [2 * i for i in range(10)]
    job, = qb.jobinfo(id=[max(j["id"] for j in qb.jobinfo())], agenda=True)
    assert len(job["agenda"]) == 4  # one qb.Work per chunk


def test_batch_work_fields_reach_the_qb_work(ex, qb):
    with ex.batch(name="shots") as batch:
        batch.submit_ext(workloads.add, [1, 1], name="sh010", retry=2)
        batch.submit_ext(workloads.add, [2, 2], name="sh020")
    assert [f.result(60) for f in batch.futures] == [2, 4]
    job, = qb.jobinfo(id=[batch.futures[0].job_id], agenda=True)
    assert [w["name"] for w in job["agenda"]] == ["sh010", "sh020"]
    assert job["agenda"][0]["retry"] == 2 and job["name"] == "shots"


def test_one_jobinfo_per_poll_cycle_with_1000_outstanding_futures(ex, qb):
    # 1,000 futures over 10 jobs, held back so they all stay outstanding.
    maps = [ex.map(workloads.add, range(100), range(100), status="blocked") for _ in range(10)]
    assert len(ex._outstanding) == 1000
    farm = ex.farm
    real_poll = farm.poll
    cycles = []

    def counting_poll(job_ids):
        before = qb.calls["jobinfo"]
        states = real_poll(job_ids)
        cycles.append((len(list(job_ids)), qb.calls["jobinfo"] - before))
        return states
    farm.poll = counting_poll
    try:
        wait_until(lambda: len(cycles) >= 6, what="six poll cycles")
        steady = cycles[1:6]
        assert all(ids == 10 and calls == 1 for ids, calls in steady), cycles  # ids deduplicated
        farm.unblock(min(f.job_id for f in ex._outstanding))
        assert list(maps[0]) == [2 * i for i in range(100)]
    finally:
        farm.poll = real_poll
    assert max(calls for _, calls in cycles) == 2  # + one agenda fetch for the changed job


def test_killed_work_raises_cancelled(ex, qb, tmp_path):
    future = ex.submit(workloads.wait_for_file, str(tmp_path / "never"))
    wait_until(lambda: future.status() == "running", what="running on a subjob")
    qb.killwork("%d:0" % future.job_id)  # killed from outside (a wrangler, the monitor)
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(60)


def test_cancel_kills_the_work_item_on_qube(ex, qb, tmp_path):
    future = ex.submit(workloads.wait_for_file, str(tmp_path / "never"))
    wait_until(lambda: future.status() == "running", what="running")
    qb.reset_counters()
    assert future.cancel() is True
    assert qb.calls["killwork"] == 1
    work, = qb.jobinfo(id=[future.job_id], agenda=True)[0]["agenda"]
    assert work["status"] == "killed"


def test_removed_job_is_an_error_not_a_hang(ex, qb, tmp_path):
    future = ex.submit_ext(workloads.add, [1, 1], status="blocked")
    qb.remove(future.job_id)
    with pytest.raises(dccfutures.JobRemovedError, match="removed"):
        future.result(60)


def test_supervisor_down_for_a_while_then_futures_complete(ex, qb, tmp_path):
    gate = str(tmp_path / "gate")
    future = ex.submit(workloads.wait_for_file, gate)
    wait_until(lambda: future.status() == "running", what="running")
    qb.fake_down()  # every client call fails now
    try:
        open(gate, "w").close()
        import time
        time.sleep(1.0)  # the poller keeps failing and backing off, never dying
        assert not future.done()
    finally:
        qb.fake_up()
    assert isinstance(future.result(60), int)


def test_large_result_travels_through_the_spool(ex, qb, tmp_path):
    spool = str(tmp_path / "spool")
    future = ex.submit(os.urandom, 50 * 1000 * 1000)
    assert len(future.result(120)) == 50 * 1000 * 1000
    work, = qb.jobinfo(id=[future.job_id], agenda=True)[0]["agenda"]
    assert "spool" in work["resultpackage"]["outcomes"]      # a path, not 50 MB of base64
    # Kept after it was read (work depending on it reads it too), until the job is removed
    # or `dccfutures clean` finds it older than the retention time.
    assert len(os.listdir(spool)) == 1
    from dccfutures.cli import main
    assert main(["clean", "--older-than", "0"]) == 0
    assert os.listdir(spool) == []


def test_large_payload_without_spool_dir_is_refused(qube_root, farm_config, tmp_path):
    farm_config(extra="qube: {poll_min: 0.02, poll_max: 0.2}\n")  # no spool_dir
    with pytest.raises(dccfutures.PayloadTooLargeError, match="qube.spool_dir"):
        Executor(farm="qube").submit(len, b"x" * 3_000_000)


def test_recursion_travels_in_the_job_env(ex, qb):
    assert ex.submit(workloads.nested, 2).result(120) == ["1", "2"]
    nested_job = max(j["id"] for j in qb.jobinfo())
    assert qb.jobinfo(id=[nested_job])[0]["env"]["QBLVL"] == "2"


def test_install_jobtypes_copies_every_jobtype(tmp_path):
    from configparser import ConfigParser
    from dccfutures.cli import main
    assert main(["qube", "install-jobtypes", str(tmp_path / "types")]) == 0
    names = sorted(os.listdir(tmp_path / "types"))
    assert names == ["dccfutures", "dccfutures_houdini", "dccfutures_maya", "dccfutures_mayapy"]
    for name in names:
        conf = ConfigParser()
        conf.read(str(tmp_path / "types" / name / "job.conf"))
        assert conf["execute module"]["execute_binding"] == "Python"
        assert conf["execute module"]["execute_library"] == "execute.py"
        assert conf["description"]["short_detail"]
        assert os.path.isfile(tmp_path / "types" / name / "execute.py")
    assert sorted(os.listdir(JOBTYPES)) == names


def test_job_removed_after_it_was_seen_ends_its_future(ex, qb, monkeypatch):
    from dccfutures.farms import qube as qube_farm
    monkeypatch.setattr(qube_farm, "FULL_EVERY", 0.5)  # the full look that notices removals
    future = ex.submit_ext(workloads.add, [1, 1], status="blocked")
    wait_until(lambda: future.status() == "blocked", what="seen blocked")
    qb.remove(future.job_id)
    with pytest.raises(dccfutures.JobRemovedError):
        future.result(30)


def test_a_failed_agenda_fetch_does_not_lose_the_change(ex, qb, mocker):
    real = qb.jobinfo
    failures = []

    def flaky(*args, **kwargs):  # one network blip, on the agenda fetch that sees completion
        if kwargs.get("agenda") and not failures:
            failures.append(1)
            raise RuntimeError("qb: cannot connect to supervisor")
        return real(*args, **kwargs)
    mocker.patch.object(qb, "jobinfo", side_effect=flaky)
    assert ex.submit(workloads.add, 2, 3).result(60) == 5
    assert failures == [1]


def test_killing_a_job_ends_its_pending_items(ex, qb, tmp_path):
    gate = str(tmp_path / "never")
    futures = [ex.submit_ext(workloads.wait_for_file, [gate], cpus=1)]
    with ex.batch(cpus=1) as batch:
        for _ in range(3):
            batch.submit(workloads.wait_for_file, gate)
    wait_until(lambda: batch.futures[0].status() == "running", what="first item running")
    qb.kill(batch.futures[0].job_id)  # from outside: items 1 and 2 are still pending
    for future in batch.futures:
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(30)
    futures[0].cancel()


def test_subjobs_that_cannot_start_fail_the_work_with_their_output(qube_root, farm_config,
                                                                     tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'licence check failed' >&2\nexit 1\n")
    broken.chmod(0o755)
    farm_config(extra="farm: qube\npython: %s\nqube: {spool_dir: %s, poll_min: 0.02, "
                      "poll_max: 0.2}\n" % (broken, tmp_path / "spool"))
    future = Executor(farm="qube").submit(workloads.add, 1, 1)
    with pytest.raises(dccfutures.FarmError, match="(?s)without a result.*licence check failed"):
        future.result(120)
    error = future.farm.job(future.job_id).work[0].error   # what `dccfutures show` says
    assert error.type == "dccfutures.errors.FarmError"
    assert "without a result" in error.message and "licence check failed" in error.message


def test_retry_after_failure_still_has_its_payload(ex, qb, tmp_path):
    from dccfutures import payload
    from dccfutures.runtime.qube import unpack_blob
    future = ex.submit(workloads.fail, "x" * 100_000)  # over 64 KB: the payload is spooled
    with pytest.raises(ValueError):
        future.result(60)
    job, = qb.jobinfo(id=[future.job_id], agenda=True)
    assert "spool" in job["agenda"][0]["package"]["calls"]
    assert ex.farm.retry(future.job_id) == 1  # a wrangler retries the job after a fix
    wait_until(lambda: qb.jobinfo(id=[future.job_id], agenda=True)[0]["agenda"][0]["count"] >= 2
               and qb.jobinfo(id=[future.job_id])[0]["status"] == "failed",
               what="the retried item to run again")
    work = qb.jobinfo(id=[future.job_id], agenda=True)[0]["agenda"][0]
    outcome = payload.decode_outcomes(unpack_blob(work["resultpackage"]["outcomes"],
                                                  spool_dir=str(tmp_path / "spool")))[0]
    ok, error = payload.unpack(outcome)
    assert isinstance(error, ValueError)  # it ran again: not "cannot read the payload"


def test_qube_items_say_why_they_failed_and_blocked_reads_blocked(ex, qb, capsys):
    from dccfutures.cli import main
    with ex.batch(name="one unlucky") as batch:
        futures = [batch.submit(workloads.fail_on, value, 2) for value in (1, 2)]
    with pytest.raises(ValueError):
        futures[1].result(60)
    job_id = futures[0].job_id
    info = ex.farm.job(job_id)
    assert info.work[0].error is None and info.progress == 0.5
    error = info.work[1].error
    assert (error.type, error.message) == ("ValueError", "2 is unlucky")
    assert "in fail_on" in error.traceback
    assert info.work[1].started and info.work[1].finished >= info.work[1].started
    assert main(["show", str(job_id)]) == 0
    out = capsys.readouterr().out
    assert "%d:1  ValueError: 2 is unlucky" % job_id in out and "1/2  50%, 1 failed" in out

    held = ex.submit_ext(workloads.add, [1, 2], status="blocked")
    info = ex.farm.job(held.job_id)
    assert info.work[0].status == "blocked" and info.tally.get("blocked") == 1
    assert not info.tally.get("pending")
    assert Executor(farm="qube").attach(held.job_id)[0].status() == "blocked"
    ex.farm.unblock(held.job_id)
    assert held.result(60) == 3
