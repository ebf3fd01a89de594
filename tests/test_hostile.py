"""A hostile or odd call never kills the machinery: results and exceptions whose (un)pickling
raises SystemExit or KeyboardInterrupt, items that take sys.stdout away or change process
state, and tracebacks of functions sent by value. Real local farm, real worker processes."""
import linecache
import os
import sys

import pytest

from dccfutures import Executor, payload
from dccfutures.errors import RemoteError
from tests import hostile, workloads
from tests.conftest import wait_until

BASE_EXCEPTIONS = ["SystemExit", "KeyboardInterrupt", "GeneratorExit"]


# -- the client: results and exceptions that raise while they load -------------------------

@pytest.mark.parametrize("kind", BASE_EXCEPTIONS)
def test_result_raising_on_load_fails_its_future_and_the_poller_lives(local_executor, tmp_path,
                                                                       kind):
    gate = str(tmp_path / "gate")
    waiting = local_executor.submit(workloads.wait_for_file, gate)  # outstanding throughout
    hostile_future = local_executor.submit(hostile.return_raising_on_load, kind)
    error = hostile_future.exception(30)
    assert isinstance(error, RemoteError)
    assert "the result could not be loaded here" in str(error) and kind in str(error)
    open(gate, "w").close()
    # The poller that delivered the hostile result is the one that delivers this one.
    assert waiting.result(30) > 0


def test_exception_raising_on_load_fails_with_its_type_and_message(local_executor):
    future = local_executor.submit(hostile.raise_error_exiting_outside_the_farm, "shot 10 broke")
    error = future.exception(30)
    assert isinstance(error, RemoteError)
    assert error.type_name.endswith("ErrorExitingOutsideTheFarm")
    assert error.message == "shot 10 broke"
    assert "raise ErrorExitingOutsideTheFarm(message)" in error.traceback
    assert local_executor.submit(workloads.add, 1, 2).result(30) == 3


def test_attach_to_a_hostile_result_fails_that_future_only(local_executor):
    first = local_executor.submit(hostile.return_raising_on_load, "SystemExit")
    first.exception(30)
    other = Executor()  # a new session would do the same
    try:
        attached, = other.attach(first.job_id)  # the job ended: delivered inside attach()
        assert isinstance(attached.exception(5), RemoteError)
        assert other.submit(workloads.add, 2, 2).result(30) == 4
    finally:
        other.shutdown(wait=False)


def test_a_done_callback_raising_system_exit_does_not_stop_the_poller(local_executor, tmp_path):
    gate, first_gate = str(tmp_path / "gate"), str(tmp_path / "first")
    waiting = local_executor.submit(workloads.wait_for_file, gate)
    first = local_executor.submit(workloads.wait_for_file, first_gate)
    first.add_done_callback(lambda f: hostile.raise_base("SystemExit"))  # before it can end
    open(first_gate, "w").close()
    assert first.result(30) > 0
    open(gate, "w").close()
    assert waiting.result(30) > 0


def test_a_done_callback_raising_on_a_kill_from_elsewhere_does_not_stop_the_poller(
        local_executor, tmp_path):
    gate = str(tmp_path / "gate")
    waiting = local_executor.submit(workloads.wait_for_file, gate)
    killed = local_executor.submit(workloads.wait_for_file, str(tmp_path / "never"))
    killed.add_done_callback(lambda f: hostile.raise_base("SystemExit"))
    wait_until(lambda: killed.status() == "running", what="the item to run")
    local_executor.farm.kill(killed.job_id)  # as `dccfutures kill` does: the poller sees it
    wait_until(killed.done, what="the killed future")
    assert killed.cancelled()
    open(gate, "w").close()
    assert waiting.result(30) > 0


# -- the worker: arguments, results and exceptions that raise while they (un)pickle ---------

def test_system_exit_while_arguments_load_is_the_same_error_as_sys_exit(local_executor):
    exited = local_executor.submit(sys.exit, 3).exception(30)
    loading = local_executor.submit(hostile.identity, hostile.RaisesOnLoad("SystemExit"))
    error = loading.exception(30)
    assert type(error) is type(exited) is RuntimeError
    assert "sys.exit(3)" in str(error) and "sys.exit(3)" in str(exited)
    assert "arguments were unpickled" in str(error)


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt"])
def test_result_raising_while_it_pickles_fails_the_item_once(local_executor, tmp_path, kind):
    runs = str(tmp_path / "runs")
    future = local_executor.submit(hostile.return_raising_on_pickle, kind, runs)
    error = future.exception(60)
    assert isinstance(error, TypeError), error
    assert "cannot be sent back" in str(error) and kind in str(error)
    assert open(runs).read().count("ran") == 1


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt"])
def test_exception_raising_while_it_pickles_fails_the_item_once(local_executor, tmp_path, kind):
    runs = str(tmp_path / "runs")
    future = local_executor.submit(hostile.raise_error_raising_on_pickle, "frame 7", kind, runs)
    error = future.exception(60)
    assert isinstance(error, RemoteError), error
    assert error.type_name.endswith("ErrorRaisingOnPickle") and error.message == "frame 7"
    assert open(runs).read().count("ran") == 1


# -- warm workers: what one item or job changes ---------------------------------------------

@pytest.mark.parametrize("how", ["replace", "close"])
def test_an_item_taking_stdout_away_does_not_empty_the_next_items_log(farm_home, farm_config,
                                                                      how):
    farm_config(workers=1)  # one warm worker runs both items
    ex = Executor()
    try:
        assert ex.submit(hostile.swap_stdio, how).result(30) == how
        chatty = ex.submit(workloads.chatty, 7)
        assert chatty.result(30) == 7
        assert "out 7" in chatty.log() and "err 7" in chatty.log()
        again = ex.map(workloads.chatty, [8, 9])  # and in the same job
        assert list(again) == [8, 9]
    finally:
        ex.shutdown(wait=False)


def test_an_item_taking_stdout_away_on_qube_does_not_empty_the_next_items_log(qube_root):
    ex = Executor()
    try:
        with ex.batch(cpus=1) as batch:  # one subjob runs both items, one after the other
            batch.submit(hostile.swap_stdio, "replace")
            chatty = batch.submit(workloads.chatty, 7)
        assert chatty.result(60) == 7
        assert "out 7" in chatty.log() and "err 7" in chatty.log()
    finally:
        ex.shutdown(wait=False)


def test_process_state_stays_within_its_job(farm_home, farm_config, tmp_path):
    farm_config(workers=1)  # one warm worker runs every item
    ex = Executor()
    try:
        fresh = ex.submit(hostile.read_process_state).result(30)
        folder = str(tmp_path / "elsewhere")
        os.mkdir(folder)
        changed = ex.submit(hostile.change_process_state, folder).result(30)
        assert changed["umask"] == "0o77" and changed["cwd"] == folder
        assert changed["signals"] == {"SIGUSR1": "_handler", "SIGTERM": "1", "SIGINT": "_handler"}
        # The next job on that worker finds the worker as it was.
        assert ex.submit(hostile.read_process_state).result(30) == fresh
        # Within one job what an item changed may stay (what an initializer is for): the
        # umask and the signal handlers do.
        first, second = ex.map(hostile.state_after, [folder, None])
        assert second["umask"] == "0o77"
        assert second["signals"] == first["signals"] != fresh["signals"]
        assert ex.submit(hostile.read_process_state).result(30) == fresh
    finally:
        ex.shutdown(wait=False)


def test_module_globals_stay_within_their_job(farm_home, farm_config, tmp_path, monkeypatch):
    farm_config(workers=1)
    (tmp_path / "jobtool.py").write_text(
        "STATE = ['as imported']\n\n"
        "def change(value):\n    global STATE\n    STATE = STATE + [value]\n    return STATE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ex = Executor()
    try:
        assert ex.submit("jobtool:change", "job 1").result(30) == ["as imported", "job 1"]
        assert ex.submit("jobtool:change", "job 2").result(30) == ["as imported", "job 2"]
        # Items of one job share it.
        assert list(ex.map("jobtool:change", ["a", "b"])) == [
            ["as imported", "a"], ["as imported", "a", "b"]]
    finally:
        ex.shutdown(wait=False)


# -- tracebacks of functions sent by value ----------------------------------------------------

def test_traceback_of_a_lambda_shows_its_source_line(local_executor):
    future = local_executor.submit(lambda x: x / 0, 5)
    error = future.exception(30)
    assert isinstance(error, ZeroDivisionError)
    text = error.__cause__.tb
    assert 'test_hostile.py", line' in text and "lambda x: x / 0" in text, text


SCRIPT = """\
import os

def export(asset):
    frames = len(asset)
    raise ValueError("cannot export %s (%d)" % (asset, frames))
"""


def test_traceback_of_a_script_editor_function_shows_its_source(local_executor):
    """A function typed into a DCC's script editor: module __main__, source only in memory."""
    name = "<script editor: tab 3>"
    linecache.cache[name] = (len(SCRIPT), None, SCRIPT.splitlines(True), name)
    try:
        scope = {"__name__": "__main__"}
        exec(compile(SCRIPT, name, "exec"), scope)
        error = local_executor.submit(scope["export"], "chr_hero").exception(30)
    finally:
        linecache.cache.pop(name, None)
    assert isinstance(error, ValueError)
    text = error.__cause__.tb
    assert 'File "<script editor: tab 3>", line 5, in export' in text, text
    assert 'raise ValueError("cannot export %s (%d)" % (asset, frames))' in text


def test_traceback_of_a_function_from_a_deleted_file_shows_its_source(local_executor, tmp_path):
    """A module pickled by value whose file is gone by the time the work runs (a temp file)."""
    import importlib.util
    import cloudpickle
    path = str(tmp_path / "scratch_tool_for_hostile.py")
    with open(path, "w") as handle:
        handle.write("def outer(n):\n    def inner():\n        return [1][n]\n    return inner\n")
    spec = importlib.util.spec_from_file_location("scratch_tool_for_hostile", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        cloudpickle.register_pickle_by_value(module)
        linecache.getlines(path)  # the artist's session has read it (it ran it)
        os.remove(path)
        error = local_executor.submit(module.outer(3)).exception(30)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules[spec.name]
        linecache.cache.pop(path, None)
    assert isinstance(error, IndexError)
    text = error.__cause__.tb
    assert 'scratch_tool_for_hostile.py", line 3, in inner' in text, text
    assert "return [1][n]" in text


def test_functions_by_reference_carry_no_source():
    by_reference = payload.dumps(workloads.add)
    assert len(by_reference) < 100 and b"def add" not in by_reference


def test_source_lines_travel_only_for_the_function_sent():
    def local_function(x):
        return x + 1
    blob = payload.dumps(local_function)
    assert b"return x + 1" in blob
    assert b"test_functions_by_reference_carry_no_source" not in blob  # not the whole file
    assert payload.loads(blob)(1) == 2

