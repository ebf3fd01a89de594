"""Local farm behaviours beyond the executor contract: supervisor lifecycle, leases, home."""
import os
import signal
import threading
import time

import pytest

import dccfutures
from dccfutures import Executor
from dccfutures.errors import FarmError
from dccfutures.farms.local import LocalFarm
from dccfutures.farms.local.home import Home, filesystem_type, parse_mountinfo_line
from tests import workloads
from tests.conftest import wait_until


def test_supervisor_leaves_after_idle_timeout(farm_home, farm_config):
    farm_config(idle_timeout=1)
    ex = Executor()
    assert ex.submit(workloads.add, 1, 1).result(30) == 2
    farm = ex.farm
    pid = farm.supervisor_pid()
    assert pid
    wait_until(lambda: farm.supervisor_pid() is None, timeout=15, what="idle supervisor to leave")
    # Its workers left with it, and the next submit starts a new one.
    assert farm.store.workers() == []
    assert ex.submit(workloads.add, 2, 2).result(30) == 4


def test_only_one_supervisor_when_many_clients_start_it(farm_home):
    farms = [LocalFarm() for _ in range(4)]
    threads = [threading.Thread(target=f.start_supervisor) for f in farms]
    [t.start() for t in threads]
    [t.join() for t in threads]
    wait_until(lambda: farms[0].supervisor_pid(), what="a supervisor")
    time.sleep(1.5)  # the losers give up within a second
    assert len(_supervisors(farm_home)) == 1
    for farm in farms:
        farm.close()


def _supervisors(home):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    words = handle.read().split(b"\0")
                with open("/proc/%s/stat" % name) as handle:
                    state = handle.read().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if b"dccfutures.farms.local.supervisor" in words and home.encode() in words \
                    and state != "Z":
                found.append(int(name))
    return found


def test_broken_interpreter_fails_the_work_instead_of_respawning(farm_home, farm_config,
                                                                  tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'licence server unreachable' >&2\nexit 1\n")
    broken.chmod(0o755)
    ex = Executor()
    ex._python_path = str(broken)  # as if the config named an interpreter that cannot start
    future = ex.submit(workloads.add, 1, 2)
    with pytest.raises(RuntimeError, match="licence server unreachable"):
        future.result(60)
    assert Executor().submit(workloads.add, 2, 2).result(30) == 4  # other pools unaffected


def test_supervisor_that_cannot_start_is_an_error_at_submit(farm_home, farm_config, tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no such module: yaml' >&2\nexit 1\n")
    broken.chmod(0o755)
    farm_config(extra="python: %s\n" % broken)
    with pytest.raises(dccfutures.FarmError, match="(?s)failed to start.*no such module: yaml"):
        Executor().submit(workloads.add, 1, 2)


def _broken_python(tmp_path, home, message):
    """An interpreter that cannot start: it says ``message`` and exits 1, and at that moment
    another process writes a line of its own into the supervisor's log."""
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'a line of another process' >> %s\necho '%s' >&2\n"
                      "exit 1\n" % (os.path.join(home, "logs", "supervisor.log"), message))
    broken.chmod(0o755)
    return str(broken)


@pytest.mark.parametrize("python, said", [
    ("broken", "(exit code 1):\nno module: yaml"),
    ("/bin/false", "(exit code 1), and printed nothing"),
])
def test_a_supervisor_that_cannot_start_shows_only_its_own_output(farm_home, farm_config,
                                                                   tmp_path, python, said):
    if python == "broken":
        python = _broken_python(tmp_path, farm_home, "no module: yaml")
    farm_config(extra="python: %s\n" % python)
    with pytest.raises(dccfutures.FarmError) as caught:
        Executor().submit(workloads.add, 1, 2)
    assert str(caught.value).endswith("failed to start " + said)
    assert not [name for name in os.listdir(os.path.join(farm_home, "logs"))
                if name.startswith("start-")]


def test_a_worker_that_cannot_start_fails_the_work_with_only_its_own_output(farm_home,
                                                                            tmp_path):
    ex = Executor()
    ex._python_path = _broken_python(tmp_path, farm_home, "licence server unreachable")
    future = ex.submit(workloads.add, 1, 2)
    with pytest.raises(RuntimeError) as caught:
        future.result(60)
    assert str(caught.value).endswith("its last output:\nlicence server unreachable")
    assert "another process" in _supervisor_log(ex.farm)  # which the error did not show


def test_hung_worker_is_killed_after_its_lease_and_item_retried(farm_home, farm_config, tmp_path):
    farm_config(workers=1, lease_timeout=1.5)
    ex = Executor()
    pid_file = str(tmp_path / "pid")
    future = ex.submit(workloads.pid_then_sleep, pid_file, 1.0)
    wait_until(lambda: os.path.exists(pid_file) and open(pid_file).read(), what="pid")
    worker = int(open(pid_file).read())
    os.remove(pid_file)
    os.kill(worker, signal.SIGSTOP)  # hung: no heartbeat any more
    try:
        assert future.result(60) == "survived"
    finally:
        try:
            os.kill(worker, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert int(open(pid_file).read()) != worker
    assert ex.farm.job(future.job_id).work[0].attempts == 2


def test_network_filesystem_home_is_refused():
    line = ("36 25 0:32 / /mnt/studio rw,relatime shared:1 - nfs4 server:/export "
            "rw,vers=4.2")
    assert parse_mountinfo_line(line) == ("/mnt/studio", "nfs4")
    mounts = [("/", "ext4"), ("/mnt/studio", "nfs4"), ("/mnt/studio/local", "ext4")]
    assert filesystem_type("/mnt/studio/home/artist", mounts) == "nfs4"
    assert filesystem_type("/mnt/studio/local/x", mounts) == "ext4"
    assert filesystem_type("/mnt/studiox", mounts) == "ext4"


def test_home_on_nfs_error_names_the_variable(tmp_path, monkeypatch):
    from dccfutures.farms.local import home as home_module
    monkeypatch.setattr(home_module, "_linux_mounts", lambda: [("/", "ext4"),
                                                                (str(tmp_path), "nfs")])
    with pytest.raises(FarmError, match="network filesystem \\(nfs\\).*DCCFUTURES_HOME"):
        Home(str(tmp_path / "farm"))


def test_home_permissions_are_tightened(tmp_path):
    path = tmp_path / "loose"
    path.mkdir(mode=0o777)
    os.chmod(path, 0o777)
    Home(str(path))
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_clean_removes_expired_jobs_and_their_futures_end(farm_home, farm_config, tmp_path):
    from dccfutures.farms.local import clean
    ex = Executor()
    done = ex.submit(workloads.add, 1, 1)
    assert done.result(30) == 2
    farm = ex.farm
    assert clean.clean(farm.home, farm.store, retention_days=1) == 0  # too young
    assert clean.clean(farm.home, farm.store, retention_days=0) == 1
    with pytest.raises(KeyError):
        farm.job(done.job_id)


def test_attempts_are_configurable(farm_home, farm_config):
    farm_config(max_attempts=1)
    ex = Executor()
    with pytest.raises(dccfutures.WorkerLostError):
        ex.submit(workloads.always_crash).result(60)
    # ... and per job, as a job field.
    with pytest.raises(dccfutures.WorkerLostError) as info:
        ex.submit_ext(workloads.always_crash, max_attempts=2).result(60)
    assert info.value.attempts == 2


def test_home_under_a_folder_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # like a world-writable scratch folder without the sticky bit
    with pytest.raises(FarmError, match="writable by others.*DCCFUTURES_HOME"):
        Home(str(shared / "dccfutures"))
    os.chmod(shared, 0o1777)  # sticky, like /tmp: others cannot replace our folder
    assert Home(str(shared / "dccfutures")).path.endswith("dccfutures")


def _supervisor_log(farm):
    with open(farm.home.supervisor_log) as handle:
        return handle.read()


def test_the_supervisor_log_says_why_each_worker_died_and_what_it_gave_up(farm_home, tmp_path):
    ex = Executor()
    future = ex.submit_ext(workloads.always_crash, max_attempts=2)
    with pytest.raises(dccfutures.WorkerLostError):
        future.result(60)
    ref = "%d:0" % future.job_id
    # The supervisor writes its log after the store commits: the future may end first.
    wait_until(lambda: "gave up %s after 2 attempts: WorkerLostError" % ref
               in _supervisor_log(ex.farm), what="the supervisor to log what it gave up")
    deaths = [line for line in _supervisor_log(ex.farm).splitlines()
              if "was killed by signal 9 (SIGKILL), running %s" % ref in line]
    assert len(deaths) == 2, _supervisor_log(ex.farm)
    assert "(attempt 1)" in deaths[0] and "(attempt 2)" in deaths[1]

    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'licence server unreachable' >&2\nexit 1\n")
    broken.chmod(0o755)
    ex._python_path = str(broken)
    doomed = ex.submit(workloads.add, 1, 2)
    with pytest.raises(RuntimeError):
        doomed.result(60)
    wait_until(lambda: "gave up 1 pending item of %s: %d:0" % (broken, doomed.job_id)
               in _supervisor_log(ex.farm), what="the supervisor to log the pool it gave up")
    assert "exited with code 1 before it started" in _supervisor_log(ex.farm)


def test_attached_futures_start_with_the_status_the_farm_has(farm_home, tmp_path):
    ex = Executor()
    held = ex.submit_ext(workloads.add, [1, 2], status="blocked")
    flag = str(tmp_path / "go")
    running = ex.submit(workloads.progress_then_wait, flag)
    wait_until(lambda: running.progress == 0.5, what="progress 0.5")
    other = Executor()
    attached, = other.attach(held.job_id)
    assert attached.status() == "blocked"
    attached, = other.attach(running.job_id)
    assert attached.status() == "running" and attached.running()
    assert attached.progress == 0.5 and attached.progress_message == "half way"
    open(flag, "w").close()
    assert attached.result(30) == "done"
    ex.farm.unblock(held.job_id)
    assert held.result(30) == 3


def test_a_submit_after_the_supervisor_left_starts_another_at_once(farm_home):
    """The client learns that the supervisor left from the transaction that inserts its job,
    not from a look at the lock file per submit: a job is never left without a supervisor."""
    ex = Executor()
    assert ex.submit(workloads.add, 1, 2).result(30) == 3
    assert ex.farm.stop_supervisor(timeout=15)
    future = ex.submit(workloads.add, 2, 3)  # the client's own check ran a moment ago
    assert ex.farm.supervisor_pid() is not None
    assert future.result(30) == 5


def test_a_leaving_supervisor_stays_for_work_that_came_in_at_the_last_moment(farm_home):
    from dccfutures.farms.base import JobSpec, WorkSpec
    farm = LocalFarm(home=farm_home)  # its store only: no supervisor is started
    store = farm.store
    job = JobSpec("late", "dccfutures", [WorkSpec(b"")])
    store.insert_jobs([job], ["pool"], None, None, 3, "me")
    assert not store.set_supervisor(False, unless_active=True)  # it must stay
    assert not store.supervisor_left
    store.kill_many({1: None})
    assert store.set_supervisor(False, unless_active=True)  # nothing waits: it may leave
    store.insert_jobs([job], ["pool"], None, None, 3, "me")
    assert store.supervisor_left  # so this client starts one
    store.set_supervisor(True)
    store.insert_jobs([job], ["pool"], None, None, 3, "me")
    assert not store.supervisor_left
    farm.close()


def test_a_submit_right_after_the_supervisor_crashed_starts_another(farm_home):
    """A SIGKILLed supervisor cannot record that it left: the submit still finds out (from
    the lock), so a client that submits and exits never leaves its job unserved."""
    ex = Executor()
    assert ex.submit(workloads.add, 1, 2).result(30) == 3
    pid = ex.farm.supervisor_pid()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: ex.farm.supervisor_pid() is None, what="the supervisor's lock to go")
    ex.farm._checked = time.monotonic()  # as if the periodic check had just run
    future = ex.submit(workloads.add, 2, 3)
    assert ex.farm.supervisor_pid() is not None
    assert future.result(30) == 5
