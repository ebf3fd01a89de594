"""Storage faults of the local farm: a full disk, a read-only or corrupt database.

Each is a clear ``FarmError`` (in the API, one line from the real ``python -m dccfutures``)
that names the file and what to do; the supervisor and its workers ride a full disk out and
carry on when space returns; a broken farm can still be stopped, and ``farm repair`` starts a
new database whose job ids continue after the old ones. The full disk is a real 4 MB tmpfs,
the read-only mount a real read-only bind mount, the read-only file a real `chattr +i` or a
real ordinary user: those tests need root (they skip elsewhere).
"""
import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported (the monitor)

import pytest  # noqa: E402

from dccfutures import Executor, farms  # noqa: E402
from dccfutures.errors import FarmError  # noqa: E402
from dccfutures.farms.local import LocalFarm  # noqa: E402
from tests import workloads  # noqa: E402
from tests.conftest import ROOT, stop_farm, wait_until  # noqa: E402

NOBODY = 65534


def program(*argv, timeout=60):
    """The real ``python -m dccfutures``, with this test's farm home and config."""
    return subprocess.run([sys.executable, "-m", "dccfutures"] + [str(a) for a in argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ))


def assert_one_line_error(result, *words):
    """A command that failed as a user should see it: exit 1, one line, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def corrupt(path):
    with open(path, "r+b") as handle:
        handle.write(b"this is not a database, it is garbage " * 200)


def supervisor_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def fill(folder):
    """Fill the filesystem of ``folder`` with one big file; returns its path."""
    path = os.path.join(folder, "big")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    return path


def _mount_tmpfs(path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    os.makedirs(path, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", path],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())


@pytest.fixture
def small_disk(farm_home):
    """The farm home is a 4 MB tmpfs of its own."""
    _mount_tmpfs(farm_home)
    yield farm_home
    for path in glob.glob(os.path.join(farm_home, "big")):
        os.unlink(path)
    stop_farm(farm_home)  # before unmounting: its processes hold files there
    farms.forget()
    if subprocess.run(["umount", farm_home], capture_output=True).returncode:
        subprocess.run(["umount", "-l", farm_home], capture_output=True)


@pytest.fixture
def broken_home(farm_home):
    """A farm home whose database the test breaks; put aside afterwards, so the farm can be
    stopped as usual."""
    yield farm_home
    for path in glob.glob(os.path.join(farm_home, "farm.db*")):
        subprocess.run(["chattr", "-i", path], capture_output=True)
        os.chmod(path, 0o600)
    db = os.path.join(farm_home, "farm.db")
    try:
        with open(db, "rb") as handle:
            sound = handle.read(6) == b"SQLite"
    except OSError:
        sound = True
    if not sound:
        for path in glob.glob(db + "*"):
            os.rename(path, path.replace("farm.db", "test-broken.db"))


def worker_logs(home):
    return set(glob.glob(os.path.join(home, "logs", "worker-*.log")))


# -- a full disk ---------------------------------------------------------------------------

def test_a_full_disk_fails_the_submit_clearly_and_the_farm_carries_on(small_disk, farm_config):
    farm_config(workers=2, lease_timeout=1)  # missed heartbeats on a full disk are no hang
    executor = Executor()
    before = executor.submit(pow, 2, 10)
    assert before.result(timeout=30) == 1024
    slow = [executor.submit(workloads.sleep_then, 1.5, value) for value in ("a", "b")]
    wait_until(lambda: all(f.running() for f in slow), what="both items running")
    supervisor = executor.farm.supervisor_pid()
    workers = worker_logs(small_disk)

    big = fill(small_disk)
    with pytest.raises(FarmError) as error:
        executor.submit(len, b"x" * 1500000)  # more than the database has room for
    message = str(error.value)
    assert "full" in message and small_disk in message and "free" in message, message
    assert "\n" not in message

    time.sleep(3)  # the running items end, report, and the workers beat, all on a full disk
    assert executor.farm.supervisor_pid() == supervisor
    assert supervisor_alive(supervisor)
    assert worker_logs(small_disk) == workers, "workers were restarted on a full disk"
    # What was committed before is still there, for this session and for a new one.
    assert before.result() == 1024
    assert LocalFarm(home=small_disk).job(before.job_id).status == "complete"
    shown = program("show", before.job_id)
    assert shown.returncode == 0 and "complete" in shown.stdout, shown.stderr

    os.unlink(big)
    assert [f.result(timeout=30) for f in slow] == ["a", "b"]
    job = executor.farm.job(slow[0].job_id)
    assert job.work[0].attempts == 1  # it was neither lost nor run again
    assert executor.submit(pow, 3, 3).result(timeout=30) == 27
    assert executor.farm.supervisor_pid() == supervisor  # nothing was restarted
    for path in worker_logs(small_disk) | {os.path.join(small_disk, "logs", "supervisor.log")}:
        with open(path) as handle:
            log = handle.read()
        assert "Traceback" not in log, log
        assert log.count("is full") <= 2, log  # said once (and once it is over), not per cycle


def test_a_worker_that_dies_while_the_disk_is_full_is_recorded_once_there_is_room(small_disk):
    executor = Executor()
    future = executor.submit(workloads.sleep_then, 60, "done")
    wait_until(future.running, what="the item running")
    supervisor = executor.farm.supervisor_pid()
    [worker] = wait_until(lambda: [row[0] for row in executor.farm.store.workers()
                                   if row[4] == future.job_id], what="its worker")
    big = fill(small_disk)
    os.killpg(worker, signal.SIGKILL)
    time.sleep(2)  # the supervisor cannot record it: it waits, it does not crash
    assert supervisor_alive(supervisor) and executor.farm.supervisor_pid() == supervisor
    assert executor.farm.job(future.job_id).work[0].status == "running"  # not recorded yet
    os.unlink(big)
    wait_until(lambda: executor.farm.job(future.job_id).work[0].attempts == 2,
               what="the item to run again")
    executor.farm.kill(future.job_id)
    assert executor.farm.supervisor_pid() == supervisor
    with open(os.path.join(small_disk, "logs", "supervisor.log")) as handle:
        log = handle.read()
    assert "worker %d was killed by signal 9 (SIGKILL)" % worker in log, log
    assert "Traceback" not in log


def test_a_database_locked_too_long_is_a_clear_error_and_the_next_write_works(tmp_path):
    from dccfutures.farms.local.store import Store
    path = str(tmp_path / "farm.db")
    store = Store(path, timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    with pytest.raises(FarmError) as error:
        store.set_supervisor(True)
    assert path in str(error.value) and "locked" in str(error.value), str(error.value)
    blocker.execute("ROLLBACK")
    assert store.set_supervisor(True)
    store.close()
    blocker.close()


# -- read-only -----------------------------------------------------------------------------

@pytest.fixture
def read_only_view(farm_home, tmp_path):
    """A read-only bind mount of the farm home (its own path stays writable, as it is for
    the supervisor that runs there)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting needs root")
    view = str(tmp_path / "read-only")
    os.makedirs(farm_home, exist_ok=True)
    os.makedirs(view, mode=0o700)
    if subprocess.run(["mount", "--bind", farm_home, view], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", view], check=True, capture_output=True)
        yield view
    finally:
        if subprocess.run(["umount", view], capture_output=True).returncode:
            subprocess.run(["umount", "-l", view], capture_output=True)


def test_a_read_only_mount_is_a_clear_error_and_the_farm_can_still_be_stopped(
        farm_home, read_only_view, monkeypatch):
    executor = Executor()
    assert executor.submit(pow, 2, 3).result(timeout=30) == 8
    supervisor = executor.farm.supervisor_pid()
    monkeypatch.setenv("DCCFUTURES_HOME", read_only_view)
    db = os.path.join(read_only_view, "farm.db")
    with pytest.raises(FarmError) as error:
        Executor()
    message = str(error.value)
    assert db in message and "read-only" in message, message
    for argv in (["jobs"], ["show", "1"], ["log", "1:0"], ["kill", "1"], ["farm", "status"],
                 ["farm", "start"]):
        assert_one_line_error(program(*argv), db, "read-only")
    stopped = program("farm", "stop")  # a farm that cannot be written can still be stopped
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    wait_until(lambda: not supervisor_alive(supervisor), what="the supervisor to stop")


def test_an_immutable_database_is_a_clear_error_until_it_is_writable_again(broken_home):
    executor = Executor()
    assert executor.submit(pow, 2, 3).result(timeout=30) == 8
    db = os.path.join(broken_home, "farm.db")
    if subprocess.run(["chattr", "+i", db], capture_output=True).returncode:
        pytest.skip("chattr +i does not work here")
    farms.forget()
    with pytest.raises(FarmError) as error:
        Executor()
    assert db in str(error.value) and "read-only" in str(error.value), str(error.value)
    assert_one_line_error(program("jobs"), db, "read-only")
    subprocess.run(["chattr", "-i", db], check=True)
    farms.forget()
    assert Executor().submit(pow, 2, 4).result(timeout=30) == 16


SUBMIT = """
import sys
from dccfutures import Executor
from dccfutures.errors import FarmError
try:
    print(Executor().submit(pow, 2, 5).result(timeout=30))
except FarmError as error:
    print(error, file=sys.stderr)
    sys.exit(3)
"""


@pytest.fixture
def nobodys_farm(farm_home):
    """A farm home of an ordinary user (nobody) and how to run commands as them: with the
    system's Python (ours lives under /root), given our packages on PYTHONPATH."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    python = "/usr/bin/python%d.%d" % sys.version_info[:2]
    site = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    if not os.access(python, os.X_OK) or not site:
        pytest.skip("no system %s to run as another user" % os.path.basename(python))
    base = tempfile.mkdtemp(prefix="dccfutures-nobody-", dir="/tmp")
    os.chown(base, NOBODY, NOBODY)
    config = os.path.join(base, "config.yaml")
    with open(config, "w") as handle:
        handle.write("python: %s\nlocal:\n  workers: 1\n  idle_timeout: 60\n" % python)
    os.chown(config, NOBODY, NOBODY)
    env = dict(os.environ, DCCFUTURES_HOME=os.path.join(base, "home"), DCCFUTURES_CONFIG=config,
               HOME=base, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([ROOT] + site))
    env.pop("XDG_DATA_HOME", None)

    def run(*argv):
        return subprocess.run([python] + list(argv), capture_output=True, text=True,
                              timeout=60, cwd=base, env=env, user=NOBODY, group=NOBODY,
                              extra_groups=[])
    probe = run("-c", "import cloudpickle, yaml, dccfutures")
    if probe.returncode:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("the system Python cannot import our packages: %s" % probe.stderr)
    try:
        yield run, env["DCCFUTURES_HOME"]
    finally:
        try:
            run("-m", "dccfutures", "farm", "stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)


def test_a_read_only_database_of_an_ordinary_user_works_again_once_writable(nobodys_farm):
    run, home = nobodys_farm
    first = run("-c", SUBMIT)
    assert first.stdout.strip() == "32", first.stderr
    assert run("-m", "dccfutures", "farm", "stop").returncode == 0
    db = os.path.join(home, "farm.db")
    os.chmod(db, 0o400)
    refused = run("-c", SUBMIT)
    assert refused.returncode == 3, refused.stderr
    assert db in refused.stderr and "read-only" in refused.stderr, refused.stderr
    assert_one_line_error(run("-m", "dccfutures", "jobs"), db, "read-only")
    os.chmod(db, 0o600)  # the cause is fixed: nothing it left behind keeps the farm broken
    again = run("-c", SUBMIT)
    assert again.stdout.strip() == "32", again.stderr
    for path in glob.glob(db + "-*"):
        assert os.stat(path).st_mode & 0o777 == 0o600, path


# -- a corrupt or empty database -----------------------------------------------------------

def test_a_corrupt_database_is_a_clear_error_everywhere_and_repair_starts_afresh(broken_home):
    executor = Executor()
    job_ids = [executor.submit(pow, 2, n).job_id for n in range(3)]
    executor.submit(pow, 2, 9).result(timeout=30)
    assert program("farm", "stop").returncode == 0
    db = os.path.join(broken_home, "farm.db")
    corrupt(db)
    farms.forget()
    with pytest.raises(FarmError) as error:
        Executor()
    message = str(error.value)
    assert db in message and "farm repair" in message, message
    for argv in (["jobs"], ["show", "1"], ["log", "1:0"], ["kill", "1"], ["retry", "1"],
                 ["block", "1"], ["wait", "1"], ["clean"], ["farm"], ["farm", "status"],
                 ["farm", "start"]):
        assert_one_line_error(program(*argv), db, "farm repair")
    stopped = program("farm", "stop")  # a broken farm can always be stopped
    assert stopped.returncode == 0 and "not running" in stopped.stdout, stopped.stderr

    repaired = program("farm", "repair")
    assert repaired.returncode == 0, repaired.stderr
    aside = glob.glob(db + ".broken-*")
    assert aside and aside[0] in repaired.stdout, repaired.stdout
    with open(aside[0], "rb") as handle:
        assert handle.read(7) == b"this is"  # kept as it was, for sqlite3's .recover
    farms.forget()
    new = Executor().submit(pow, 3, 2)
    assert new.result(timeout=30) == 9
    assert new.job_id > max(job_ids) + 1  # no id of the old database is used again
    healthy = program("farm", "repair")
    assert healthy.returncode == 0 and "nothing to repair" in healthy.stdout, healthy.stdout

    # The new database breaks too: its ids are not handed out a second time either.
    assert program("farm", "stop").returncode == 0
    farms.forget()
    corrupt(db)
    assert program("farm", "repair").returncode == 0
    again = Executor().submit(pow, 3, 3)
    assert again.result(timeout=30) == 27
    assert again.job_id > new.job_id


def test_a_supervisor_whose_database_breaks_under_it_stays_up_and_stops(broken_home):
    executor = Executor()
    assert executor.submit(pow, 2, 2).result(timeout=30) == 4
    supervisor = executor.farm.supervisor_pid()
    corrupt(os.path.join(broken_home, "farm.db"))
    for path in glob.glob(os.path.join(broken_home, "farm.db-*")):
        os.unlink(path)  # its cache of the database goes with them
    time.sleep(2)
    assert supervisor_alive(supervisor)
    stopped = program("farm", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    wait_until(lambda: not supervisor_alive(supervisor), what="the supervisor to stop")
    with open(os.path.join(broken_home, "logs", "supervisor.log")) as handle:
        log = handle.read()
    assert "Traceback" not in log
    assert log.count("started (") == 1  # it was never restarted


def test_an_empty_database_next_to_logs_is_refused_not_taken_for_a_new_farm(broken_home):
    executor = Executor()
    old = executor.submit(pow, 2, 2)
    assert old.result(timeout=30) == 4
    assert program("farm", "stop").returncode == 0
    farms.forget()
    db = os.path.join(broken_home, "farm.db")
    for path in glob.glob(db + "-*"):
        os.unlink(path)
    open(db, "wb").close()
    with pytest.raises(FarmError) as error:
        Executor()
    message = str(error.value)
    assert db in message and "empty" in message and "farm repair" in message, message
    assert_one_line_error(program("jobs"), db, "empty")
    assert os.path.getsize(db) == 0  # nothing was made of it meanwhile
    assert program("farm", "repair").returncode == 0
    farms.forget()
    new = Executor().submit(pow, 2, 3)
    assert new.result(timeout=30) == 8
    assert new.job_id > old.job_id


def test_a_deleted_database_next_to_logs_continues_the_job_ids(farm_home):
    executor = Executor()
    old = executor.submit(pow, 2, 2)
    assert old.result(timeout=30) == 4
    assert program("farm", "stop").returncode == 0
    farms.forget()
    for path in glob.glob(os.path.join(farm_home, "farm.db*")):
        os.unlink(path)
    new = Executor().submit(pow, 2, 3)
    assert new.result(timeout=30) == 8
    assert new.job_id > old.job_id


# -- the monitor ---------------------------------------------------------------------------

def test_the_monitor_shows_a_broken_database_and_recovers_once_it_is_repaired(broken_home,
                                                                             qtbot):
    from dccfutures.ui.monitor import FarmMonitor
    executor = Executor()
    assert executor.submit(pow, 2, 2).result(timeout=30) == 4
    assert program("farm", "stop").returncode == 0
    db = os.path.join(broken_home, "farm.db")
    corrupt(db)
    farms.forget()
    monitor = FarmMonitor(None, interval=0.1)
    qtbot.addWidget(monitor)
    monitor.show()
    qtbot.waitUntil(lambda: db in monitor.status_text(), timeout=8000)
    assert "farm repair" in monitor.status_text()
    assert "Traceback" not in monitor.status_text()
    assert program("farm", "repair").returncode == 0
    qtbot.waitUntil(lambda: db not in monitor.status_text()
                    and monitor.status_text().startswith("local farm"), timeout=8000)
    monitor.stop()
