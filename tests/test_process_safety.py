"""Process identity and lifetime on the local farm: every signal the farm sends proves its
target (a recycled pid is never hit), every process an item started ends with the item,
job environments never reach a command line, time limits and out-of-memory kills.

The recycled-pid tests need root: they write /proc/sys/kernel/ns_last_pid so that an
unrelated process gets a dead worker's pid (they skip elsewhere)."""
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from dccfutures.farms.local import LocalFarm
from tests import workloads
from tests.conftest import ROOT, wait_until
from tests.test_maya import maya_session  # noqa: F401  (a fixture)

NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"


@pytest.fixture(autouse=True)
def end_sleepers(tmp_path):
    """Whatever a test leaves of the processes its items started (it failed) ends with it."""
    yield
    path = tmp_path / "pids"
    if path.exists():
        for line in path.read_text().splitlines():
            pid, ticks = (int(word) for word in line.split())
            if _alive(pid, ticks):
                os.kill(pid, signal.SIGKILL)


def _alive(pid, ticks):
    """Whether process ``pid`` runs and is the one that started at ``ticks``."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[19]) == ticks


def _gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def _read_processes(path):
    """``[(pid, ticks)]`` written by workloads.start_sleepers: the worker first."""
    wait_until(lambda: os.path.exists(path), timeout=30, what=path)
    with open(path) as handle:
        return [tuple(int(word) for word in line.split()) for line in handle if line.strip()]


def _spawn_with_pid(pid):
    """An unrelated ``sleep`` in a session of its own that gets ``pid`` (a recycled pid), or
    a skip where that cannot be arranged."""
    if os.geteuid() != 0:
        pytest.skip("needs root to choose the next pid (%s)" % NS_LAST_PID)
    for _ in range(50):  # other processes may take the pid first: try again
        try:
            with open(NS_LAST_PID, "w") as handle:
                handle.write(str(pid - 1))
        except OSError as error:
            pytest.skip("cannot write %s: %s" % (NS_LAST_PID, error))
        child = subprocess.Popen(["sleep", "600"], start_new_session=True)
        if child.pid == pid:
            return child
        child.kill()
        child.wait()
    pytest.skip("could not get pid %d for an unrelated process" % pid)


def _submit_and_leave(code_lines):
    """Submit from a client that exits at once (no poller restarts the supervisor); returns
    what it printed."""
    code = "import sys; sys.path.insert(0, %r); import dccfutures; from tests import workloads\n" \
        % ROOT + "\n".join(code_lines)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _kill_supervisor_and_workers_die(farm, worker):
    supervisor = farm.supervisor_pid()
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: _gone(worker), what="worker %d to die with its supervisor" % worker)
    wait_until(lambda: farm.supervisor_pid() is None, what="the lock released")


# -- 1. a recycled pid is never signalled ---------------------------------------------------

@pytest.mark.parametrize("how", ["cli", "cancel"])
def test_kill_after_the_supervisor_died_spares_a_recycled_pid(farm_home, farm_config, tmp_path,
                                                             how):
    farm_config(workers=1)
    pid_file = str(tmp_path / "pids")
    job_id = int(_submit_and_leave([
        "print(dccfutures.Executor().submit(workloads.start_sleepers, %r, None, False).job_id)"
        % pid_file]))
    (worker, _), (sleeper, sleeper_ticks) = _read_processes(pid_file)
    farm = LocalFarm()
    _kill_supervisor_and_workers_die(farm, worker)
    unrelated = _spawn_with_pid(worker)
    try:
        unrelated_ticks = workloads.start_ticks(unrelated.pid)
        if how == "cli":
            result = subprocess.run([sys.executable, "-m", "dccfutures", "kill", str(job_id)],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        else:
            future, = Executor().attach(job_id)
            assert future.cancel()
        time.sleep(0.3)
        assert unrelated.poll() is None and _alive(unrelated.pid, unrelated_ticks), \
            "an unrelated process that got a dead worker's pid was killed"
        # What the item started still ends (now, or when the next supervisor recovers).
        farm.ensure_running(force=True)
        wait_until(lambda: not _alive(sleeper, sleeper_ticks), timeout=20,
                   what="the item's sleep to end")
        assert unrelated.poll() is None
        assert farm.job(job_id).work[0].status == "killed"
    finally:
        unrelated.kill()
        unrelated.wait()
        farm.close()


def test_a_recovering_supervisor_spares_a_recycled_pid(farm_home, farm_config, tmp_path):
    farm_config(workers=1)
    pid_file = str(tmp_path / "pids")
    marker = str(tmp_path / "ran")
    job_id = int(_submit_and_leave([
        "print(dccfutures.Executor().submit(workloads.start_sleepers, %r, %r, False).job_id)"
        % (pid_file, marker)]))
    (worker, _), (sleeper, sleeper_ticks) = _read_processes(pid_file)
    farm = LocalFarm()
    _kill_supervisor_and_workers_die(farm, worker)
    # The worker died (PR_SET_PDEATHSIG); what its item started in a session of its own lives.
    assert _alive(sleeper, sleeper_ticks)
    unrelated = _spawn_with_pid(worker)
    try:
        unrelated_ticks = workloads.start_ticks(unrelated.pid)
        farm.ensure_running(force=True)  # the next supervisor recovers the dead worker's item
        wait_until(lambda: not _alive(sleeper, sleeper_ticks), timeout=20,
                   what="the orphaned sleep to end")
        wait_until(lambda: farm.job(job_id).status == "complete", timeout=30, what="the retry")
        assert unrelated.poll() is None and _alive(unrelated.pid, unrelated_ticks)
    finally:
        unrelated.kill()
        unrelated.wait()
        farm.close()


# -- 4. what an item started ends with it ---------------------------------------------------

def test_processes_of_an_item_end_when_its_worker_is_killed(local_executor, tmp_path):
    pid_file = str(tmp_path / "pids")
    future = local_executor.submit(workloads.start_sleepers, pid_file, str(tmp_path / "ran"))
    (worker, _), *sleepers = _read_processes(pid_file)
    os.kill(worker, signal.SIGKILL)
    # The one in the worker's process group and the one in a session of its own both end.
    for pid, ticks in sleepers:
        wait_until(lambda: not _alive(pid, ticks), timeout=10, what="sleep %d to end" % pid)
    assert future.result(60) == "retried"


def test_processes_of_an_item_end_when_the_supervisor_is_killed(local_executor, tmp_path):
    pid_file = str(tmp_path / "pids")
    future = local_executor.submit(workloads.start_sleepers, pid_file, str(tmp_path / "ran"))
    (worker, _), *sleepers = _read_processes(pid_file)
    os.kill(local_executor.farm.supervisor_pid(), signal.SIGKILL)
    # The waiting client's poller starts a new supervisor, whose recovery ends them.
    for pid, ticks in sleepers:
        wait_until(lambda: not _alive(pid, ticks), timeout=20, what="sleep %d to end" % pid)
    assert future.result(60) == "retried"
    assert _gone(worker)


def test_cancel_ends_processes_in_a_session_of_their_own(local_executor, tmp_path):
    pid_file = str(tmp_path / "pids")
    future = local_executor.submit(workloads.start_sleepers, pid_file)
    (worker, _), *sleepers = _read_processes(pid_file)
    assert future.cancel()
    for pid, ticks in sleepers:
        wait_until(lambda: not _alive(pid, ticks), timeout=10, what="sleep %d to end" % pid)


def test_timelimit_fails_the_item_and_ends_its_processes(local_executor, tmp_path):
    pid_file = str(tmp_path / "pids")
    started = time.monotonic()
    future = local_executor.submit_ext(workloads.start_sleepers, args=(pid_file,), timelimit=1)
    (worker, _), *sleepers = _read_processes(pid_file)
    with pytest.raises(dccfutures.TimeLimitError) as info:
        future.result(30)
    assert time.monotonic() - started < 10
    assert info.value.timelimit == 1
    assert "timelimit of 1 s" in str(info.value)
    for pid, ticks in sleepers:
        wait_until(lambda: not _alive(pid, ticks), timeout=10, what="sleep %d to end" % pid)
    work = local_executor.farm.job(future.job_id).work[0]
    assert work.status == "failed" and work.attempts == 1  # not retried
    # Items within their limit run as usual.
    assert local_executor.submit_ext(workloads.add, args=(1, 2), timelimit=30).result(30) == 3


def test_a_timelimit_that_is_not_a_number_is_refused(local_executor):
    with pytest.raises(TypeError, match="timelimit"):
        local_executor.submit_ext(workloads.add, args=(1,), timelimit="soon")


def test_a_sigkill_the_farm_did_not_send_is_reported_as_such(farm_home, farm_config, tmp_path):
    farm_config(max_attempts=1)
    pid_file = str(tmp_path / "pids")
    future = Executor().submit(workloads.start_sleepers, pid_file)
    (worker, _), *_ = _read_processes(pid_file)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(dccfutures.WorkerLostError) as info:
        future.result(30)
    assert "killed by signal 9 (SIGKILL) (not by dccfutures: possibly the kernel's " \
           "out-of-memory killer)" in str(info.value)


def _memory_cgroup():
    """A fresh memory cgroup limited to 64 MB (cgroup v1 or v2), or a skip."""
    name = "dccfutures-test-%s" % secrets.token_hex(4)
    for root, limit in (("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
                        ("/sys/fs/cgroup", "memory.max")):
        if not os.path.exists(os.path.join(root, limit)) and \
                not os.path.exists(os.path.join(root, "cgroup.controllers")):
            continue
        path = os.path.join(root, name)
        try:
            os.mkdir(path)
            with open(os.path.join(path, limit), "w") as handle:
                handle.write(str(64 << 20))
            return path
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
    pytest.skip("no memory cgroup to create here")


def test_an_out_of_memory_kill_is_reported_as_such(farm_home, farm_config):
    farm_config(max_attempts=1)
    cgroup = _memory_cgroup()
    try:
        future = Executor().submit(workloads.exhaust_memory_in, cgroup, 512)
        with pytest.raises(dccfutures.WorkerLostError) as info:
            future.result(60)
        assert "not by dccfutures: most likely the kernel's out-of-memory killer" \
            in str(info.value)
    finally:
        wait_until(lambda: not open(os.path.join(cgroup, "cgroup.procs")).read().strip(),
                   what="the cgroup emptied")
        os.rmdir(cgroup)


# -- 3. job environments never reach a command line -----------------------------------------

def _command_lines_holding(text):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    if text.encode() in handle.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def test_a_cloned_environment_never_reaches_a_command_line(maya_session, monkeypatch,  # noqa: F811
                                                          tmp_path):
    secret = "hunter2-%s" % secrets.token_hex(8)
    monkeypatch.setenv("STUDIO_API_TOKEN", secret)
    from dccfutures.maya import Executor as MayaExecutor
    ex = MayaExecutor(clone_environ=True)
    gate = str(tmp_path / "gate")
    future = ex.submit(workloads.wait_for_file, gate)
    wait_until(lambda: future.status() == "running", timeout=30, what="the Maya item running")
    exposed = _command_lines_holding(secret)
    open(gate, "w").close()
    future.result(60)
    assert exposed == [], "the job's environment is on the command line of %s" % exposed
    assert ex.submit(workloads.get_env, "STUDIO_API_TOKEN").result(60) == secret
    ex.shutdown()


def test_a_large_cloned_environment_works(maya_session, monkeypatch):  # noqa: F811
    for i in range(140):  # 140 KB: one argument may hold at most 128 KB
        monkeypatch.setenv("STUDIO_BIG_%03d" % i, "x" * 1000)
    from dccfutures.maya import Executor as MayaExecutor
    ex = MayaExecutor(clone_environ=True)
    assert ex.submit(workloads.get_env, "STUDIO_BIG_139").result(60) == "x" * 1000
    ex.shutdown()


# -- the store ------------------------------------------------------------------------------

def test_a_version_3_database_learns_who_its_workers_are(tmp_path):
    from dccfutures.farms.local.store import Store
    path = str(tmp_path / "farm.db")
    store = Store(path)
    store.db.execute("ALTER TABLE workers DROP COLUMN ticks")
    store.db.execute("ALTER TABLE workers DROP COLUMN token")
    store.db.execute("UPDATE meta SET value = 3 WHERE key = 'schema'")
    store.db.execute("INSERT INTO workers(pid, pool, supervisor, started, heartbeat, log_path)"
                     " VALUES (4242, 'p', 1, 0, 0, 'log')")
    store.close()
    store = Store(path)
    assert store.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (4,)
    # A worker recorded without its start time is never signalled: its pid proves nothing.
    assert store.workers()[0][0] == 4242 and store.workers()[0][8:] == (None, None)
    store.register_worker(4343, "p", 1, "log", 123, "token")
    assert (4343, 123, "token") in [(row[0], row[8], row[9]) for row in store.workers()]
    store.close()


def test_a_worker_under_a_launcher_ends_its_items_processes_when_the_supervisor_dies(
        maya_session, farm_config, monkeypatch, tmp_path):  # noqa: F811
    """``maya -batch`` is a launcher script: PR_SET_PDEATHSIG arms the Maya under it, whose
    parent (the launcher) outlives the supervisor. The worker notices, ends what its item
    started and its process group, before any new supervisor runs."""
    from tests.test_maya import FAKES, MAYAPY
    launcher = tmp_path / "maya"
    script = open(os.path.join(FAKES, "bin", "maya")).read()
    assert "\nexec " in script
    launcher.write_text(script.replace("\nexec ", "\n"))  # Maya as its child, as the real one
    launcher.chmod(0o755)
    monkeypatch.setenv("DCCFUTURES_FAKES", FAKES)  # where the launcher finds the fake Maya
    farm_config(workers=1, extra='dcc:\n  maya:\n    "2025": {mayapy: %s, maya: %s}\n'
                % (MAYAPY, launcher))
    fake, scene, _ = maya_session
    pid_file = str(tmp_path / "pids")
    _submit_and_leave([
        "sys.path.insert(0, %r)" % FAKES,
        "import maya._fake as fake, maya.cmds as cmds",
        "fake.reset('interactive'); cmds.file(%r, open=True, force=True)" % scene,
        "from dccfutures.maya import Executor",
        "ex = Executor(clone_environ=True, prototype='dccfutures_maya')",
        "print(ex.submit(workloads.start_sleepers, %r).job_id)" % pid_file])
    (worker, _), *sleepers = _read_processes(pid_file)
    farm = LocalFarm()
    try:
        os.kill(farm.supervisor_pid(), signal.SIGKILL)
        for pid, ticks in sleepers:
            wait_until(lambda: not _alive(pid, ticks), timeout=10, what="sleep %d to end" % pid)
        wait_until(lambda: _gone(worker), timeout=10, what="the worker to leave")
        assert farm.supervisor_pid() is None  # the worker did it, not a new supervisor
    finally:
        farm.close()
