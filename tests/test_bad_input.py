"""Bad input fails in the caller, names what was wrong, and sends nothing to the farm."""
import threading

import pytest

import dccfutures
from dccfutures import Executor
from tests import workloads


def _no_jobs(executor):
    return executor.farm.jobs() == []


def test_unpicklable_argument_is_named(executor):
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"argument 1 of .*add.*lock"):
        executor.submit(workloads.add, lock, 1)
    with pytest.raises(TypeError, match=r"argument 2 of .*add.*lock"):
        executor.submit(workloads.add, 1, lock)
    with pytest.raises(TypeError, match=r"keyword argument 'b'"):
        executor.submit(workloads.add, 1, b=lock)
    assert _no_jobs(executor)


def test_unpicklable_in_map_and_batch(executor):
    lock = threading.Lock()
    with pytest.raises(TypeError, match="does not pickle"):
        executor.map(workloads.add, [1, lock])
    with executor.batch() as batch:
        batch.submit(workloads.add, 1, 1)
        with pytest.raises(TypeError, match="argument 1 of"):
            batch.submit(workloads.add, lock)
    # The good call of the batch still went; nothing of the bad one did.
    assert batch.futures[0].result(30) == 2
    assert len(executor.farm.jobs()) == 1


def test_not_callable_and_bad_reference(executor):
    with pytest.raises(TypeError, match="not callable"):
        executor.submit(42)
    with pytest.raises(TypeError, match="package.module:function"):
        executor.submit("os.path.join")
    assert _no_jobs(executor)


def test_reference_that_does_not_resolve_fails_the_future(executor):
    future = executor.submit("os.path:no_such_function")
    with pytest.raises(AttributeError, match="no_such_function"):
        future.result(30)


def test_reference_whose_module_does_not_import_names_it(executor):
    future = executor.submit("nope.mod:fn")
    with pytest.raises(ModuleNotFoundError, match=r"'nope\.mod:fn'.*No module named 'nope'"):
        future.result(30)


def test_payload_too_large(farm_home, farm_config):
    farm_config(extra="max_payload_mb: 1\n")
    ex = Executor()
    with pytest.raises(dccfutures.PayloadTooLargeError, match=r"over the 1\.0 MB limit.*max_payload_mb"):
        ex.submit(len, b"x" * 2_000_000)
    assert ex.submit(len, b"x" * 1000).result(30) == 1000


def test_invalid_config_names_file_line_and_key(farm_home, farm_config):
    path = farm_config(extra="  workerz: 3\n")
    with pytest.raises(dccfutures.ConfigError) as info:
        Executor()
    assert info.value.path == path and info.value.line == 7
    assert "workerz" in str(info.value) and "did you mean 'workers'" in str(info.value)


@pytest.mark.parametrize("field", ["{cpu: 4}", "{cpus: -1}", "{cpus: four}"])
def test_a_bad_job_default_in_the_config_fails_at_once_naming_file_and_line(farm_home,
                                                                           farm_config, field):
    path = farm_config(extra="defaults: %s\n" % field)
    with pytest.raises(dccfutures.ConfigError) as info:
        Executor().submit(workloads.add, 1, 1)
    assert (info.value.path, info.value.line, info.value.key[:9]) == (path, 7, "defaults.")


def test_recursion_limit_from_environment(farm_home, monkeypatch):
    monkeypatch.setenv("QBLVL", "4")
    ex = Executor()
    with pytest.raises(dccfutures.RecursionLimitError) as info:
        ex.submit(workloads.add, 1, 1)
    assert isinstance(info.value, RuntimeError)
    assert _no_jobs(ex)
    monkeypatch.setenv("QBFUTURES_RECURSION_LIMIT", "5")  # the old name is honoured
    assert ex.submit(workloads.get_env, "QBLVL").result(30) == "5"
    monkeypatch.setenv("DCCFUTURES_RECURSION_LIMIT", "4")  # ours wins over the old name
    with pytest.raises(dccfutures.RecursionLimitError):
        ex.submit(workloads.add, 1, 1)


def test_bad_map_arguments(executor):
    with pytest.raises(ValueError, match="chunksize"):
        executor.map(workloads.add, [1], chunksize=0)
    with pytest.raises(TypeError, match="unknown work field"):
        executor.batch().submit_ext(workloads.add, [1], cpus=3)
    assert _no_jobs(executor)


def test_unknown_farm_name(farm_home):
    with pytest.raises(ValueError, match="unknown farm 'lcoal'"):
        Executor(farm="lcoal")
