"""CPython's own generic tests for ``concurrent.futures``, run against dccfutures.

The tests are CPython 3.11's, as Debian's ``libpython3.11-testsuite`` ships them; the file is
loaded where it is installed, at run time, never copied here. Its generic executor tests run
with ``dccfutures.Executor`` on one private local farm (shared by the whole module, stopped at
the end), and its ``FutureTests`` with ``dccfutures.Future`` in place of CPython's ``Future``.

Every CPython test we fail on purpose is in ``DEVIATIONS`` with its reason; the README's
"Differences from concurrent.futures" lists the same. They run as strict expected failures,
so one that starts passing fails the suite until it is taken off the list.
"""
import functools
import importlib.util
import logging
import os
import sys

import pytest

import dccfutures
from dccfutures import farms

from .conftest import ARTIFACTS, stop_farm, write_config

CPYTHON_TESTS = "/usr/lib/python3.11/test/test_concurrent_futures.py"
MODULE = "test_concurrent_futures"
# The file is reached through a folder holding only a link to it, so that it imports as the
# top-level module MODULE, on the client and on the farm's workers (they get the submitter's
# sys.path), without putting the rest of CPython's test folder (its `support` package, …)
# on anyone's path.
LINK_FOLDER = os.path.join(ARTIFACTS, "cpython-tests")


def _load_cpython_tests():
    if sys.version_info[:2] != (3, 11):
        pytest.skip("CPython's concurrent.futures tests are loaded from Debian's "
                    "libpython3.11-testsuite, which is for Python 3.11; this is Python %d.%d"
                    % sys.version_info[:2], allow_module_level=True)
    if not os.path.isfile(CPYTHON_TESTS):
        pytest.skip("CPython's concurrent.futures tests are not installed (%s is missing): "
                    "apt-get install libpython3.11-testsuite" % CPYTHON_TESTS,
                    allow_module_level=True)
    try:
        import test.support  # noqa: F401 (the tests' helpers, from this Python's own library)
    except ImportError:
        pytest.skip("this Python has no test.support, which CPython's tests need",
                    allow_module_level=True)
    os.makedirs(LINK_FOLDER, exist_ok=True)
    link = os.path.join(LINK_FOLDER, MODULE + ".py")
    if not os.path.islink(link) or os.readlink(link) != CPYTHON_TESTS:
        staging = "%s.%d" % (link, os.getpid())
        os.symlink(CPYTHON_TESTS, staging)
        os.replace(staging, link)  # atomic: another test run may be reading it
    spec = importlib.util.spec_from_file_location(MODULE, link)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module  # its functions pickle by reference, as MODULE
    spec.loader.exec_module(module)
    return module


cf = _load_cpython_tests()


# -- the tests we fail on purpose ----------------------------------------------------------

EXIT_NEVER_WAITS = (
    "interpreter exit never waits for farm work (closing Maya leaves its jobs running), and "
    "the work's output goes to its log on the farm, not to the submitting process's stdout")
CANCEL_KILLS = "cancel() kills running work on the farm; CPython's cannot cancel a running call"

# "Class.test": (mark, reason). xfail: it runs and fails for that reason; skip: it cannot run.
DEVIATIONS = {
    "ExecutorShutdownTest.test_cancel_futures": (
        "xfail", CANCEL_KILLS + ": shutdown(cancel_futures=True) kills the calls already "
                 "running too, so none is left to finish"),
    "ExecutorShutdownTest.test_interpreter_shutdown": ("xfail", EXIT_NEVER_WAITS),
    "ExecutorShutdownTest.test_hang_gh83386": ("xfail", EXIT_NEVER_WAITS),
    "ExecutorShutdownTest.test_submit_after_interpreter_shutdown": (
        "xfail", "a submit while the interpreter exits (an atexit hook) is accepted: the job "
                 "is committed to the farm and runs there; no thread of the exiting process "
                 "has to run it"),
}


def _apply_deviations(cls, mixin):
    for key, (kind, reason) in DEVIATIONS.items():
        owner, name = key.split(".")
        if owner != mixin.__name__:
            continue
        original = getattr(cls, name)

        @functools.wraps(original)
        def test(self, _original=original):
            return _original(self)
        if kind == "xfail":  # strict: a test that passes again must leave the list
            mark = pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)
        else:
            mark = pytest.mark.skip(reason=reason)
        setattr(cls, name, mark(test))
    return cls


# -- one private local farm for the whole module ---------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def cpython_farm(tmp_path_factory):
    """The farm every CPython test here submits to: private home and config, workers for the
    tests' five-worker pools, stopped (with its workers) when the module ends."""
    root = tmp_path_factory.mktemp("cpython-farm")
    home = str(root / "home")
    config = write_config(str(root / "config.yaml"),
                          "local:\n  workers: 5\n  idle_timeout: 600\n  heartbeat: 0.2\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCCFUTURES_HOME", home)
        patch.setenv("DCCFUTURES_CONFIG", config)
        for name in ("QBLVL", "DCCFUTURES_RECURSION_LIMIT", "QBFUTURES_RECURSION_LIMIT",
                     "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID"):
            patch.delenv(name, raising=False)
        patch.syspath_prepend(LINK_FOLDER)  # the workers import MODULE from it
        farms.forget()
        try:
            # Start the supervisor, its workers and the poller thread before the first test
            # (CPython's tests count threads before and after each test).
            dccfutures.Executor().submit(pow, 2, 8).result(120)
            yield home
        finally:
            stop_farm(home)
            farms.forget()


class FarmExecutorMixin(cf.ExecutorMixin):
    """CPython's ``ExecutorMixin`` with our executor: ``self.executor`` is
    ``dccfutures.Executor(max_workers=…, **executor_kwargs)`` on the module's farm."""
    executor_type = dccfutures.Executor


def _derive(mixin, name):
    cls = type(name, (mixin, FarmExecutorMixin, cf.BaseTestCase), {"__module__": __name__})
    return _apply_deviations(cls, mixin)


DccFuturesExecutorTest = _derive(cf.ExecutorTest, "DccFuturesExecutorTest")
DccFuturesWaitTest = _derive(cf.WaitTests, "DccFuturesWaitTest")
DccFuturesAsCompletedTest = _derive(cf.AsCompletedTests, "DccFuturesAsCompletedTest")
DccFuturesInitializerTest = _derive(cf.InitializerMixin, "DccFuturesInitializerTest")
DccFuturesFailingInitializerTest = _derive(cf.FailingInitializerMixin,
                                           "DccFuturesFailingInitializerTest")


class DccFuturesExecutorShutdownTest(cf.ExecutorShutdownTest, FarmExecutorMixin,
                                     cf.BaseTestCase):
    """Three of these start a child interpreter that imports the executor by name from
    ``concurrent.futures``; the thin adapter below has it import ours instead (and find
    MODULE), so that they test dccfutures, and fail only where we differ on purpose."""

    def setUp(self):
        super().setUp()
        original = cf.assert_python_ok

        def assert_python_ok(*args, **env):
            args = [arg.replace("from concurrent.futures import Executor",
                                "from dccfutures import Executor")
                    .replace("from test.test_concurrent_futures import",
                             "from %s import" % MODULE) for arg in args]
            env.setdefault("PYTHONPATH", LINK_FOLDER)
            return original(*args, **env)
        cf.assert_python_ok = assert_python_ok
        self.addCleanup(setattr, cf, "assert_python_ok", original)


_apply_deviations(DccFuturesExecutorShutdownTest, cf.ExecutorShutdownTest)


class DccFuturesFutureTest(cf.FutureTests):
    """CPython's ``FutureTests`` with ``dccfutures.Future`` as the module's ``Future`` (and the
    module's ready-made futures rebuilt with it)."""

    PREMADE = ("PENDING_FUTURE", "RUNNING_FUTURE", "CANCELLED_FUTURE",
               "CANCELLED_AND_NOTIFIED_FUTURE", "EXCEPTION_FUTURE", "SUCCESSFUL_FUTURE")

    def setUp(self):
        super().setUp()
        # Two tests read a failing callback's log record on stderr, where logging writes it
        # when nothing is configured; pytest's log capture would take it instead.
        logger = logging.getLogger("concurrent.futures")
        logger.addHandler(logging.lastResort)
        self.addCleanup(logger.removeHandler, logging.lastResort)
        saved = {name: getattr(cf, name) for name in ("Future",) + self.PREMADE}
        self.addCleanup(lambda: [setattr(cf, k, v) for k, v in saved.items()])
        cf.Future = dccfutures.Future
        cf.PENDING_FUTURE = cf.create_future(state=cf.PENDING)
        cf.RUNNING_FUTURE = cf.create_future(state=cf.RUNNING)
        cf.CANCELLED_FUTURE = cf.create_future(state=cf.CANCELLED)
        cf.CANCELLED_AND_NOTIFIED_FUTURE = cf.create_future(state=cf.CANCELLED_AND_NOTIFIED)
        cf.EXCEPTION_FUTURE = cf.create_future(state=cf.FINISHED, exception=OSError())
        cf.SUCCESSFUL_FUTURE = cf.create_future(state=cf.FINISHED, result=42)
        assert type(cf.create_future()) is dccfutures.Future
