"""``Executor(farm="openjd")`` beyond the shared contract suite: the local farm's store and
supervisor, its workers running each item as a task of a real openjd-sessions session over
the job's bundle (a DCC booted once per worker and job, not per item)."""
import glob
import os
import re
import stat

import pytest

pytest.importorskip("openjd.sessions", reason="pip install 'dccfutures[openjd]' "
                    "(openjd-model and openjd-sessions 0.13)")

from dccfutures import farms  # noqa: E402
from tests import workloads  # noqa: E402
from tests.test_maya import BOTH, maya_session, scene_report  # noqa: E402,F401


def _boots(home, line):
    return sum(open(path).read().count(line)
               for path in glob.glob(os.path.join(home, "openjd", "*", "output", "sessions",
                                                  "*.log")))


@pytest.fixture
def maya_on_openjd(maya_session, farm_config, farm_home):
    farm_config(workers=2, extra="farm: openjd\n" + BOTH)
    farms.forget()
    return maya_session


def test_maya_boots_once_per_worker_not_per_item(maya_on_openjd, farm_home):
    fake, scene, workspace = maya_on_openjd
    from dccfutures.maya import Executor
    ex = Executor(farm="openjd", clone_environ=True, create_tempfile=True)
    with ex.batch("node types") as batch:
        for _ in range(12):
            batch.submit(scene_report)
    assert all(f.result(60)["scene"] == scene for f in batch.futures)
    assert 1 <= _boots(farm_home, "Maya 2025 bootstrapped in mayapy") <= 2  # 2 workers
    ex.shutdown()


def pid_unless_one(value):
    if value == 1:
        raise ValueError("item %d raised" % value)
    return os.getpid()


def test_a_raising_item_keeps_the_session_and_its_interpreter(openjd_farm, farm_config):
    """The task of an item whose callable raised succeeds (the exception is its result), so
    the session goes on: the items after it run in the same booted interpreter."""
    farm_config(workers=1, extra="farm: openjd\n")
    farms.forget()
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    with ex.batch("one raises") as batch:
        futures = [batch.submit(pid_unless_one, i) for i in range(4)]
    with pytest.raises(ValueError, match="item 1 raised"):
        futures[1].result(60)
    pids = {futures[i].result(60) for i in (0, 2, 3)}
    assert len(pids) == 1 and os.getpid() not in pids
    ex.shutdown()


def test_a_crashed_item_is_run_again_in_a_fresh_session(openjd_farm, tmp_path):
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    marker = str(tmp_path / "crashed-once")
    assert ex.submit(workloads.crash_once, marker).result(60) == "second attempt"
    assert os.path.exists(marker)
    ex.shutdown()


def test_each_job_is_a_private_bundle_in_the_farm_home(openjd_farm):
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    future = ex.submit(workloads.add, 2, 3)
    assert future.result(60) == 5
    folder = os.path.join(openjd_farm, "openjd", str(future.job_id))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert os.path.exists(os.path.join(folder, "template.yaml"))
    ex.shutdown()


def test_removing_a_job_removes_its_bundle(openjd_farm):
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    future = ex.submit(workloads.add, 1, 1)
    assert future.result(60) == 2
    folder = os.path.join(openjd_farm, "openjd", str(future.job_id))
    assert os.path.isdir(folder)
    assert ex.farm.remove([future.job_id]) == 1
    assert not os.path.exists(folder)
    ex.shutdown()


def test_retention_removes_a_finished_jobs_bundle_with_the_job(openjd_farm, capsys):
    """``dccfutures clean`` (and the supervisor's hourly clean) removes expired jobs: their
    bundles go with them, not left in the home forever."""
    from dccfutures import Executor, cli
    ex = Executor(farm="openjd")
    future = ex.submit(workloads.add, 1, 2)
    assert future.result(60) == 3
    ex.shutdown()
    folder = os.path.join(openjd_farm, "openjd", str(future.job_id))
    assert os.path.isdir(folder)
    assert cli.main(["clean", "--older-than", "0"]) == 0
    assert "removed 1 finished job" in capsys.readouterr().out
    assert not os.path.exists(folder)


def test_without_the_openjd_runtime_a_submit_says_what_to_install(openjd_farm, monkeypatch):
    import importlib.util
    from dccfutures import Executor
    from dccfutures.errors import FarmError
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openjd.sessions" else real(name, *a))
    ex = Executor(farm="openjd")
    with pytest.raises(FarmError, match=r"pip install 'dccfutures\[openjd\]'"):
        ex.submit(workloads.add, 1, 1).result(10)
    ex.shutdown()


def test_a_job_whose_bundle_is_unreadable_fails_its_items_saying_so(openjd_farm):
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    future = ex.submit_ext(workloads.add, [1, 1], status="blocked")
    folder = os.path.join(openjd_farm, "openjd", str(future.job_id))
    with open(os.path.join(folder, "template.yaml"), "w") as handle:
        handle.write("specificationVersion: no-such-version\n")
    ex.farm.unblock(future.job_id)
    with pytest.raises(Exception, match="bundle .* cannot be read"):
        future.result(60)
    ex.shutdown()


def test_an_out_of_range_reservation_is_an_error_at_submit_and_stores_nothing(openjd_farm):
    from dccfutures import Executor
    ex = Executor(farm="openjd")
    with pytest.raises(ValueError, match="host.processors must be a whole number"):
        ex.submit_ext(workloads.add, [1, 1], reservations="host.processors=0")
    assert ex.farm.jobs() == []
    assert not glob.glob(os.path.join(openjd_farm, "openjd", "*"))
    future = ex.submit_ext(workloads.add, [1, 2], reservations="host.processors=2")
    assert future.result(60) == 3  # this machine runs it: no scheduler reads them here
    ex.shutdown()


def test_a_dcc_that_cannot_boot_fails_the_job_after_three_boots_in_a_row(
        maya_session, farm_config, farm_home, tmp_path):
    """As on the local farm: a boot that fails does not fail the item (it is booted again);
    three in a row, whichever workers tried, fail the job's items with the DCC's output,
    without booting it once per item. A retry tries again. (The two workers' first boots
    run at once: the second may end after the third, a fourth failure.)"""
    boots = tmp_path / "boots"
    broken = tmp_path / "mayapy"
    broken.write_text("#!/bin/sh\necho boot >> %s\necho 'mayapy: no licence available'\n"
                      "exit 1\n" % boots)
    broken.chmod(0o755)
    farm_config(workers=2, extra='farm: openjd\ndcc:\n  maya:\n    "2025": {mayapy: %s}\n'
                % broken)
    farms.forget()
    from dccfutures.maya import Executor
    ex = Executor(farm="openjd", clone_environ=True, create_tempfile=True)
    with ex.batch("no licence") as batch:
        for _ in range(6):
            batch.submit(scene_report)
    for future in batch.futures:
        with pytest.raises(RuntimeError, match=r"(?s)set-up of this work \(%s \(mayapy\)\) "
                           r"failed [34] times in a row; its last output:\nmayapy: no licence"
                           % re.escape(str(broken))):
            future.result(60)
    first = boots.read_text().count("boot")
    assert first in (3, 4)  # not one per item
    assert ex.farm.retry(batch.futures[0].job_id) == 6
    for future in ex.attach(batch.futures[0].job_id):
        with pytest.raises(RuntimeError, match="failed [34] times in a row"):
            future.result(60)
    assert boots.read_text().count("boot") - first in (3, 4)  # tried again
    ex.shutdown()
