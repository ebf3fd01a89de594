"""Shared fixtures: every test that touches a farm gets a private farm home and config, and
every supervisor a test starts is stopped (with its workers) when the test ends."""
import os
import signal
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dccfutures import farms  # noqa: E402
from dccfutures.farms.local import LocalFarm, processes  # noqa: E402
from tests.opencue_fixtures import cue, cue_farm, cue_spool  # noqa: E402,F401  (fake Cuebot + RQD)



def _serialise_ast_parse():
    """CPython 3.11 keeps the AST constructor's recursion counter in one global, so two threads
    in ``ast.parse`` at once can raise ``SystemError: AST constructor recursion depth mismatch``
    (CPython gh-106905, fixed in 3.12 only). Python 3.11's traceback module calls ``ast.parse``
    to place its carets, and pytest calls it to show a failing test's source: a farm watcher
    thread formatting a traceback while pytest reports a failure turned one failing test into an
    INTERNALERROR that ended the whole run. One lock around ``ast.parse`` in the test process."""
    if sys.version_info[:2] != (3, 11):
        return
    import ast
    import threading
    lock = threading.RLock()
    parse = ast.parse

    def serialised_parse(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)
    serialised_parse.__wrapped__ = parse
    ast.parse = serialised_parse


_serialise_ast_parse()

# The suite runs as CI runs it, whatever the developer's shell exports: CI's environment has no
# PYTHONUNBUFFERED, and a farm process that only behaved because it inherited one (its
# prints kept in order with its stderr) must fail here too, not only there.
for _name in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"):
    os.environ.pop(_name, None)

ARTIFACTS = os.path.join(ROOT, ".test-artifacts")
FAKES = os.path.join(ROOT, "tests", "fakes")
JOBTYPES = os.path.join(ROOT, "jobtypes")
FARMS = ("local", "qube", "opencue", "openjd")
OPENCUE_TAGS = {"farm", "gpu", "config", "ctor", "call"}  # groups the contract tests ask for


def write_config(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    return path


@pytest.fixture
def farm_config(tmp_path, monkeypatch):
    """A private config file; returns a function that (re)writes its local: section."""
    path = str(tmp_path / "config.yaml")
    monkeypatch.setenv("DCCFUTURES_CONFIG", path)

    def configure(workers=2, idle_timeout=60, max_attempts=3, lease_timeout=10, extra=""):
        write_config(path, "local:\n  workers: %d\n  idle_timeout: %s\n  max_attempts: %d\n"
                           "  heartbeat: 0.2\n  lease_timeout: %s\n%s"
                     % (workers, idle_timeout, max_attempts, lease_timeout, extra))
        return path
    configure()
    return configure


@pytest.fixture
def farm_home(tmp_path, monkeypatch, farm_config):
    """A private local farm home for this test; its supervisor is stopped afterwards."""
    home = str(tmp_path / "home")
    monkeypatch.setenv("DCCFUTURES_HOME", home)
    for name in ("QBLVL", "DCCFUTURES_RECURSION_LIMIT", "QBFUTURES_RECURSION_LIMIT",
                 "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID"):
        monkeypatch.delenv(name, raising=False)
    farms.forget()
    yield home
    stop_farm(home)
    farms.forget()


def stop_farm(home):
    """Stop the supervisor of ``home`` and make sure no worker of it survives."""
    if not os.path.isdir(home):
        return
    farm = LocalFarm(home=home)
    try:
        if not farm.stop_supervisor(timeout=15):
            found = farm._supervisor()
            if found and found[0] > 0:
                processes.signal_process(found[0], found[1], signal.SIGKILL)
        # Workers left behind (their supervisor killed by the test) and what their items
        # started, only while still theirs: a dead worker's pid may be another test's now.
        processes.end_workers((row[0], row[8], row[9]) for row in farm.store.workers())
    finally:
        farm.close()


@pytest.fixture
def qube_root(tmp_path, monkeypatch, farm_config, farm_home):
    """A fake Qube (tests/fakes/qb) whose supervisor really runs our jobtypes in subjob
    processes; the client imports the fake as ``qb``. Stopped afterwards."""
    root = str(tmp_path / "qube")
    spool = str(tmp_path / "spool")
    monkeypatch.setenv("QB_FAKE_ROOT", root)
    monkeypatch.syspath_prepend(FAKES)
    # Subjobs import dccfutures (the jobtypes' execute.py) and the tests' workloads.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    farm_config(extra="farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n" % spool)
    sys.modules.pop("qb", None)
    from qb.supervisor import start_supervisor
    handle = start_supervisor(root, [JOBTYPES])
    yield root
    handle.stop()
    sys.modules.pop("qb", None)


@pytest.fixture
def opencue_config(cue, cue_spool, farm_config, farm_home, monkeypatch):
    """OpenCue as the farm: the session's fake Cuebot with its real RQD, and a user of this
    test's own (Cuebot refuses root, and ``jobs()`` lists the user's jobs)."""
    import uuid
    farm_config(extra="farm: opencue\nopencue: {hosts: [\"%s\"], show: testing, spool_dir: %s, "
                      "poll_min: 0.02, poll_max: 0.2, chunk: 3}\n" % (cue.address, cue_spool))
    user = "artist" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("USER", user)
    monkeypatch.setenv("LOGNAME", user)
    with cue.engine.lock:  # the render host carries the groups (tags) the tests ask for
        for host in cue.engine.hosts.values():
            host.tags |= OPENCUE_TAGS
    farms.forget()
    yield cue
    farms.forget()


@pytest.fixture
def openjd_farm(farm_config, farm_home):
    """The openjd farm: the local farm's store and supervisor in this test's home, with
    workers that run each item as a task of a real ``openjd-sessions`` session."""
    farm_config(extra="farm: openjd\n")
    farms.forget()
    return farm_home


@pytest.fixture(params=FARMS)
def farm_name(request):
    """Each farm in turn: the contract tests run on the local farm, on (fake) Qube and on
    OpenCue (a fake Cuebot, the real pycue and the real RQD), and on openjd (the local
    farm's workers running each item in a real openjd-sessions session)."""
    fixture = {"qube": "qube_root", "opencue": "opencue_config",
               "openjd": "openjd_farm"}.get(request.param, "farm_home")
    request.getfixturevalue(fixture)
    return request.param


@pytest.fixture
def executor(farm_name):
    from dccfutures import Executor
    ex = Executor(farm=farm_name)
    yield ex
    ex.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def local_executor(farm_home):
    from dccfutures import Executor
    ex = Executor()
    yield ex
    ex.shutdown(wait=False, cancel_futures=True)


def wait_until(predicate, timeout=20.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
