"""The Qube backend against the fake qb (tests/fakes/qb), whose supervisor runs our jobtypes'
execute.py in real subjob processes: the code under test is what a Qube worker would run.
The farm-agnostic contract tests run on Qube too (test_executor.py, test_bad_input.py)."""
import concurrent.futures
import os
import signal
import subprocess
import sys
import time

import pytest

import dccfutures
from dccfutures import Executor
from tests import workloads
from tests.conftest import FAKES, JOBTYPES, ROOT, wait_until


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
    assert names == ["dccfutures", "dccfutures_blender", "dccfutures_bpy", "dccfutures_houdini",
                     "dccfutures_maya", "dccfutures_mayapy"]
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


# -- DCC work: one child per subjob, fed over a pipe; it never imports qb ---------------------

MAYAPY = os.path.join(FAKES, "bin", "mayapy")
MAYA = os.path.join(FAKES, "bin", "maya")
HYTHON = os.path.join(FAKES, "bin", "hython")
BOOTS = {"mayapy": "Maya 2025 bootstrapped in mayapy", "maya": "Maya 2025 bootstrapped in "
         "maya_batch", "hython": "Houdini 20.5 bootstrapped in hython"}


def _dcc_config(spool, mayapy=MAYAPY, maya=MAYA, hython=HYTHON):
    return ('farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n'
            'dcc:\n  maya:\n    "2025": {mayapy: %s, maya: %s}\n'
            '  houdini:\n    "20.5": {hython: %s}\n' % (spool, mayapy, maya, hython))


def _studio_python(folder):
    """A studio's ``python`` wrapper: another interpreter than the jobtype's."""
    path = os.path.join(str(folder), "studio-python")
    with open(path, "w") as handle:
        handle.write('#!/bin/sh\nexec %s "$@"\n' % sys.executable)
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def dcc(qube_root, farm_config, tmp_path):
    """A function making an executor for one of the fake DCCs, or for plain work in another
    Python (``python``), on the fake Qube."""
    farm_config(extra=_dcc_config(tmp_path / "spool") + "python: %s\n" % _studio_python(tmp_path))
    made = []

    def make(kind, **fields):
        fields.setdefault("env", {"DCCFUTURES_FAKE_PYTHON": sys.executable})
        if kind == "python":
            executor = Executor(**fields)
        elif kind == "hython":
            from dccfutures.houdini import Executor as HoudiniExecutor
            executor = HoudiniExecutor(version="20.5", **fields)
        else:
            from dccfutures.maya import Executor as MayaExecutor
            executor = MayaExecutor(version="2025", prototype="dccfutures_maya" if kind == "maya"
                                    else "dccfutures_mayapy", **fields)
        made.append(executor)
        return executor
    yield make
    for executor in made:
        executor.shutdown(wait=False, cancel_futures=True)
    from dccfutures import future as future_module
    future_module.set_callback_dispatcher(None)  # a DCC executor made here may have set one


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _parent_of(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().split(")")[-1].split()[1])


def _stdout(qb, job_id):
    return "".join(record["data"] for record in qb.stdout(job_id))


def pid_and_parent(_=None):
    """This process, its parent, and the parent's command line."""
    with open("/proc/%d/cmdline" % os.getppid(), "rb") as handle:
        command = handle.read().replace(b"\0", b" ").decode()
    return os.getpid(), os.getppid(), command


@pytest.mark.parametrize("kind", ["mayapy", "maya", "hython", "python"])
def test_one_dcc_per_subjob_serves_every_item_it_takes(dcc, qb, kind):
    ex = dcc(kind, cpus=1)
    results = list(ex.map(pid_and_parent, range(4)))
    assert len(set(results)) == 1  # one DCC process ran the four items
    (child, subjob, command), = set(results)
    job_id = max(j["id"] for j in qb.jobinfo())
    out = _stdout(qb, job_id)
    if kind in BOOTS:
        assert out.count(BOOTS[kind]) == 1  # and it booted once
    assert child != subjob and command.endswith("/jobtypes/%s/execute.py " % ex.prototype)
    # a child of the subjob, the jobtype's back-end: not a process that replaced it ...
    wait_until(lambda: qb.jobinfo(id=[job_id], subjobs=True)[0]["subjobs"][0]["status"] ==
               "complete", what="the subjob to end")
    assert not _pid_alive(child)  # ... gone before the subjob ended


def test_the_fake_dccs_refuse_the_workers_qb(tmp_path):
    code = "import qb"
    env = dict(os.environ, DCCFUTURES_FAKE_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([FAKES, os.environ.get("PYTHONPATH", "")]))
    for launcher in (MAYAPY, HYTHON):
        done = subprocess.run([launcher, "-c", code], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 1 and "ImportError: " in done.stderr
        assert "undefined symbol" in done.stderr
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 0


@pytest.fixture
def pip_installed_worker(tmp_path, monkeypatch, farm_config, farm_home):
    """A fake Qube whose workers have dccfutures pip-installed in their own site-packages,
    next to a module a DCC must not see, and fake DCCs whose own modules live in a folder
    that is not the one holding qb. Returns (site-packages, boot note, temp folder)."""
    site = tmp_path / "worker" / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    os.symlink(os.path.join(ROOT, "dccfutures"), str(site / "dccfutures"))
    (site / "worker_only_module.py").write_text("WHERE = 'the worker'\n")
    dcc_fakes = tmp_path / "dcc-fakes"
    dcc_fakes.mkdir()
    for name in ("maya", "hou.py", "hou_fake.py", "hdefereval.py"):
        os.symlink(os.path.join(FAKES, name), str(dcc_fakes / name))
    # The studio's userSetup.py: it runs while mayapy boots, before any item.
    note = tmp_path / "boot-sys-path.json"
    (dcc_fakes / "userSetup.py").write_text(
        "import json, sys\nopen(%r, 'w').write(json.dumps(sys.path))\n" % str(note))
    temp = tmp_path / "worker-tmp"
    temp.mkdir()
    monkeypatch.setenv("QB_FAKE_ROOT", str(tmp_path / "qube"))
    monkeypatch.setenv("PYTHONPATH", str(site))  # the subjobs import dccfutures from there
    monkeypatch.setenv("DCCFUTURES_FAKES", str(dcc_fakes))
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.syspath_prepend(FAKES)
    farm_config(extra=_dcc_config(tmp_path / "spool"))
    sys.modules.pop("qb", None)
    from qb.supervisor import start_supervisor
    handle = start_supervisor(str(tmp_path / "qube"), [JOBTYPES])
    yield str(site), note, temp
    handle.stop()
    sys.modules.pop("qb", None)


def what_the_dcc_sees(_=None):
    import importlib
    seen = {"pythonpath": os.environ.get("PYTHONPATH", "").split(os.pathsep),
            "dccfutures": dccfutures.__file__}
    for name in ("qb", "worker_only_module"):
        try:
            importlib.import_module(name)
            seen[name] = "imported"
        except ImportError as error:
            seen[name] = str(error)
    return seen


def test_the_dcc_sees_neither_the_workers_qb_nor_its_site_packages(pip_installed_worker):
    import json
    site, note, temp = pip_installed_worker
    from dccfutures.maya import Executor as MayaExecutor
    ex = MayaExecutor(version="2025", cpus=1)
    try:
        seen = ex.submit(what_the_dcc_sees).result(60)
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
        from dccfutures import future as future_module
        future_module.set_callback_dispatcher(None)
    real = {os.path.realpath(p) for p in (site, FAKES)}
    boot_path = json.loads(note.read_text())  # mayapy's sys.path while it booted
    assert not real & {os.path.realpath(p) for p in boot_path if p}, boot_path
    assert not real & {os.path.realpath(p) for p in seen["pythonpath"] if p}, seen
    assert "No module named 'worker_only_module'" in seen["worker_only_module"]
    assert "undefined symbol" in seen["qb"]  # the job's own path has it: the DCC refuses it
    # dccfutures came through a private folder holding only it, gone with the subjob
    assert seen["dccfutures"].startswith(str(temp)) and "site-packages" not in seen["dccfutures"]
    wait_until(lambda: os.listdir(str(temp)) == [], what="the private folder to go")


def test_a_dcc_without_cloudpickle_fails_its_work_naming_the_install(dcc, tmp_path):
    bare = tmp_path / "python-without-site-packages"
    # (started from / : this checkout, the tests' working folder, is no Qube working folder)
    bare.write_text('#!/bin/sh\ncd / && exec %s -S "$@"\n' % sys.executable)
    bare.chmod(0o755)
    ex = dcc("mayapy", cpus=1, env={"DCCFUTURES_FAKE_PYTHON": str(bare)})
    futures = [ex.submit(pid_and_parent) for _ in range(2)]
    for future in futures:
        with pytest.raises(RuntimeError, match="cannot import cloudpickle.*`dccfutures maya "
                                               "install --mayapy %s`" % MAYAPY):
            future.result(60)


def test_an_interpreter_that_cannot_start_fails_the_work_at_once(qube_root, farm_config,
                                                                   tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    farm_config(extra="farm: qube\npython: %s\nqube: {spool_dir: %s, poll_min: 0.02, "
                      "poll_max: 0.2}\n" % (broken, tmp_path / "spool"))
    with pytest.raises(RuntimeError, match="cannot start %s on this worker: .*No such file"
                                           % broken):
        Executor(farm="qube").submit(workloads.add, 1, 1).result(60)


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_dcc_that_dies_mid_item_keeps_its_output_and_the_item_is_retried(dcc, qb, how):
    ex = dcc("mayapy", cpus=1)
    if how == "exit":
        future = ex.submit(workloads.print_then_exit, "last words in maya", 3)
    else:
        future = ex.submit(workloads.print_then_segfault, "last words in maya")
    with pytest.raises(dccfutures.DccFuturesError, match="without a result"):
        future.result(60)
    assert qb.jobinfo(id=[future.job_id], agenda=True)[0]["agenda"][0]["count"] == 2  # retried
    log = future.log()
    assert "out: last words in maya\n" in log and "err: last words in maya\n" in log
    died = "exited with status 3" if how == "exit" else "was killed by SIGSEGV"
    assert "%s while it ran work %d:0" % (died, future.job_id) in log


def test_a_dcc_crash_once_is_retried_in_a_fresh_dcc(dcc, tmp_path):
    ex = dcc("hython", cpus=1)
    assert ex.submit(workloads.crash_once, str(tmp_path / "crashed")).result(60) == \
        "second attempt"


def crash_at_exit(_=None):
    """Return at once; make this process die in its exit, as DCCs sometimes do."""
    import atexit
    atexit.register(os._exit, 3)
    return "returned"


def test_a_dcc_crashing_in_its_exit_after_its_work_changes_nothing(dcc, qb):
    ex = dcc("mayapy", cpus=1)
    assert ex.submit(crash_at_exit).result(60) == "returned"
    job_id = max(j["id"] for j in qb.jobinfo())
    wait_until(lambda: qb.jobinfo(id=[job_id], subjobs=True)[0]["subjobs"][0]["status"] ==
               "complete", what="the subjob to end complete")
    assert qb.jobinfo(id=[job_id])[0]["status"] == "complete"
    assert "exited with status 3 after its work" in "".join(r["data"] for r in qb.stderr(job_id))


def _launcher_without_exec(folder):
    """A DCC launcher script that runs the DCC as its child (no ``exec``): the DCC's
    parent is the script, not the subjob."""
    path = os.path.join(str(folder), "mayapy-launcher")
    with open(path, "w") as handle:
        handle.write('#!/bin/sh\n%s "$@"\n' % MAYAPY)
    os.chmod(path, 0o755)
    return path


def pids_then_wait(pid_file, gate):
    with open(pid_file + ".tmp", "w") as handle:
        handle.write("%d %d" % (os.getpid(), os.getppid()))
    os.replace(pid_file + ".tmp", pid_file)
    workloads.wait_for_file(gate)
    return os.getpid()


@pytest.mark.parametrize("how", ["killwork", "kill the subjob", "kill the subjob behind a "
                                                                 "launcher"])
def test_a_killed_subjob_leaves_no_dcc_behind(dcc, qb, farm_config, tmp_path, how):
    if how.endswith("launcher"):
        farm_config(extra=_dcc_config(tmp_path / "spool", mayapy=_launcher_without_exec(tmp_path)))
    ex = dcc("mayapy", cpus=1)
    pid_file = str(tmp_path / "pids")
    future = ex.submit(pids_then_wait, pid_file, str(tmp_path / "never"))
    child, parent = map(int, wait_until(lambda: os.path.exists(pid_file) and
                                        open(pid_file).read(), what="the item").split())
    if how == "killwork":
        qb.killwork("%d:0" % future.job_id)
    else:
        subjob = _parent_of(parent) if how.endswith("launcher") else parent
        os.kill(subjob, signal.SIGKILL)  # Qube ends the subjob; nothing tells the DCC
    wait_until(lambda: not _pid_alive(child), timeout=10, what="the DCC to end with its subjob")
    future.cancel()


def wait_then_note_teardown(gate, note):
    """Wait for ``gate``; when this process exits, note whether Maya was shut down first."""
    import atexit

    def after():
        import maya.cmds
        try:
            maya.cmds.ls()
            state = "Maya still up"
        except RuntimeError:
            state = "Maya uninitialized"
        with open(note, "w") as handle:
            handle.write(state)
    atexit.register(after)
    workloads.wait_for_file(gate)
    return os.getpid()


def test_preempt_stops_the_dcc_cleanly_and_the_subjob_comes_back(dcc, qb, tmp_path):
    gate, note = str(tmp_path / "gate"), str(tmp_path / "teardown")
    ex = dcc("mayapy", cpus=1)
    with ex.batch() as batch:
        first = batch.submit(wait_then_note_teardown, gate, note)
        second = batch.submit(pid_and_parent)
    wait_until(lambda: first.status() == "running", what="the first item")
    assert qb.preempt(first.job_id) == ["%d.0" % first.job_id]
    open(gate, "w").close()
    first_dcc = first.result(60)
    second_dcc = second.result(60)[0]
    assert second_dcc != first_dcc  # the preempted subjob stopped after its item ...
    assert open(note).read() == "Maya uninitialized"  # ... its Maya shut down cleanly ...
    assert not _pid_alive(first_dcc)
    [subjob] = qb.jobinfo(id=[first.job_id], subjobs=True)[0]["subjobs"]
    assert subjob["count"] == 2  # ... and Qube started it again for the rest
    assert _stdout(qb, first.job_id).count(BOOTS["mayapy"]) == 2


# -- packages hold strings, numbers, lists and dicts only ---------------------------------------

def half_then_done(_=None):
    dccfutures.report_progress(0.5)  # no message: nothing empty may reach the resultpackage
    time.sleep(0.6)  # a progress report is sent at most every 0.5 s
    dccfutures.report_progress(0.75, "three quarters")
    return "done"


def _none_or_bool(value, where="package"):
    """Where ``value`` holds a None or a bool."""
    if value is None or isinstance(value, bool):
        return [where]
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    return [found for key, item in items for found in _none_or_bool(item, "%s[%r]" % (where, key))]


def test_no_none_and_no_boolean_in_any_package(dcc, qb, mocker):
    """Neither a Maya job without scene or workspace, nor a dependency within its own job,
    nor progress without a message puts None or a bool in a package (the fake refuses them,
    as Qube's conversion may)."""
    submits = mocker.spy(qb, "submit")
    ex = dcc("mayapy", cpus=1)
    with ex.batch() as batch:
        first = batch.submit(half_then_done)
        second = batch.submit_ext(half_then_done, depends_on=[first])
    assert [first.result(60), second.result(60)] == ["done", "done"]
    [job], = submits.call_args[0]
    assert "original" not in job["package"]["bootstrap"] and "env_cloned" not in job["package"]
    assert job["agenda"][1]["package"]["depends_on"] == [[0]]  # [index]: an item of this job
    job, = qb.jobinfo(id=[first.job_id], agenda=True)
    assert _none_or_bool(job["package"]) == []
    assert _none_or_bool([[w["package"], w["resultpackage"]] for w in job["agenda"]]) == []
