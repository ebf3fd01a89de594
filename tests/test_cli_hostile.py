"""Hostile input to the ``dccfutures`` command: huge numbers, huge ranges, folders it cannot
write, names that are not text, names full of terminal escapes, names of 100 KB, and a farm
whose supervisor was SIGKILLed. Each is a one-line error or a safely escaped, clipped display,
never a traceback and never a memory blow-up. They run the real ``python -m dccfutures``:
what matters is what the user sees.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from dccfutures import report_progress
from dccfutures.farms.local import LocalFarm
from tests import workloads
from tests.conftest import ROOT, wait_until

HOSTILE = "evil\x1b[31mRED\x1b[0m\rOVER\x07\x9b2J\u202egnp.exe"
SHOWN = "evil\\x1b[31mRED\\x1b[0m OVER\\x07\\x9b2J\\u202egnp.exe"   # as the CLI prints it
RAW = ("\x1b", "\r", "\x07", "\x9b", "\u202e")
MAX_ITEMS = 100000   # work items one JOB:WORK may name (the README says so)


def program(*argv, timeout=60, memory=None):
    """The real ``python -m dccfutures`` -> CompletedProcess (text, both streams captured).
    ``memory``: a cap on its address space in bytes, so a blow-up fails instead of swapping."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return subprocess.run([sys.executable, "-m", "dccfutures"] + [str(a) for a in argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ), preexec_fn=cap if memory else None)


def one_line_error(result, code):
    """The command failed with exit ``code`` and said so in one line on stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.startswith("dccfutures: ") and result.stderr.count("\n") == 1, \
        result.stderr
    assert len(result.stderr) < 400
    return result.stderr


def report_then_fail(message):
    report_progress(0.5, message)
    raise ValueError(message)


# -- numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, code, message", [
    (["show", "99999999999999999999999"], 2, "'99999999999999999999999' is not a job id"),
    (["show", "9" * 5000], 2, "is not a job id"),                     # int()'s digit limit
    (["kill", "99999999999999999999:0"], 2, "is not a job id"),
    (["log", "1:" + "9" * 5000], 2, "has a bad work id"),
    (["jobs", "--limit", "-5"], 2, "--limit must be at least 1, got -5"),
    (["clean", "--older-than", "nan"], 2, "--older-than must be a number of days >= 0"),
    (["clean", "--older-than", "inf"], 2, "--older-than must be a number of days >= 0"),
    (["clean", "--older-than=-1e300"], 2, "--older-than must be a number of days >= 0"),
])
def test_huge_and_impossible_numbers_are_one_line_errors(farm_home, argv, code, message):
    err = one_line_error(program(*argv), code)
    assert message in err


def test_numbers_at_the_edges_against_a_real_job(local_executor):
    future = local_executor.submit(workloads.add, 1, 2)
    assert future.result(30) == 3
    job = future.job_id
    result = program("jobs", "--limit", "99999999999999999999")  # more than there are: all
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines()[1].split()[0] == str(job)
    err = one_line_error(program("log", "%d:9223372036854775807" % job), 1)   # SQLite's largest
    assert "no work item %d:9223372036854775807" % job in err
    err = one_line_error(program("log", "%d:9223372036854775808" % job), 2)   # beyond it
    assert "has a bad work id '9223372036854775808'" in err
    err = one_line_error(program("show", "9223372036854775807"), 1)
    assert "no job 9223372036854775807" in err
    for timeout in ("nan", "-1"):
        err = one_line_error(program("wait", job, "--timeout", timeout), 2)
        assert "--timeout must be a number of seconds >= 0, got %s" % timeout in err
    result = program("wait", job, "--timeout", "inf")             # no limit at all
    assert result.returncode == 0 and "job %d complete" % job in result.stdout
    result = program("clean", "--older-than", "1e300")            # nothing is that old
    assert result.returncode == 0 and "removed 0 finished jobs" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_huge_range_is_refused_before_it_is_expanded(local_executor):
    future = local_executor.submit(workloads.add, 1, 2)
    assert future.result(30) == 3
    started = time.monotonic()
    err = one_line_error(program("kill", "%d:0-50000000" % future.job_id,
                                 memory=1 << 30), 2)   # expanding it takes 5 GB
    assert time.monotonic() - started < 20
    assert "names 50000001 work items; at most %d at once" % MAX_ITEMS in err
    # A list adds up too, and a range within the limit still works as before.
    err = one_line_error(program("kill", "%d:0-%d,0-9" % (future.job_id, MAX_ITEMS - 1)), 2)
    assert "names %d work items" % (MAX_ITEMS + 10) in err
    result = program("kill", "%d:0-0" % future.job_id)
    assert result.returncode == 0 and "killed 0 work items" in result.stdout


# -- folders it cannot write ---------------------------------------------------------------

def _install_argv(kind, folder):
    return {"maya": ["maya", "install", "--modules", folder],
            "houdini": ["houdini", "install", "--prefs", folder],
            "qube": ["qube", "install-jobtypes", folder]}[kind]


@pytest.mark.parametrize("kind", ["maya", "houdini", "qube"])
def test_install_into_a_folder_it_cannot_write_is_one_line(tmp_path, kind):
    # Under a regular file: no one can create a folder there, not even root.
    afile = tmp_path / "a-file"
    afile.write_text("")
    folder = str(afile / "x")
    err = one_line_error(program(*_install_argv(kind, folder)), 1)
    assert folder in err and "Not a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
@pytest.mark.parametrize("kind", ["maya", "houdini", "qube"])
def test_install_into_a_read_only_folder_is_one_line(tmp_path, kind):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = one_line_error(program(*_install_argv(kind, str(locked / "x"))), 1)
    finally:
        locked.chmod(0o700)
    assert "Permission denied" in err and str(locked) in err


def test_a_mayapy_that_does_not_exist_is_one_line(tmp_path):
    missing = str(tmp_path / "no-mayapy")
    err = one_line_error(program("maya", "install", "--modules", str(tmp_path / "modules"),
                                 "--mayapy", missing), 1)
    assert missing in err


# -- names ---------------------------------------------------------------------------------

def test_a_name_that_is_not_text_is_refused_naming_the_field(local_executor):
    name = os.fsdecode(b"shot\xff")   # a lone surrogate: how Python reads a non-UTF-8 file name
    with pytest.raises(ValueError, match=r"job field 'name' .*UTF-8.*'shot\\udcff'"):
        local_executor.submit_ext(workloads.add, [1, 2], name=name)
    with pytest.raises(ValueError, match="job field 'name'"):
        local_executor.batch(name=name)
    with local_executor.batch(name="fine") as batch:
        with pytest.raises(ValueError, match="work field 'name'"):
            batch.submit_ext(workloads.add, [1], name=name)
        batch.submit(workloads.add, 1)
    assert [job.name for job in local_executor.farm.jobs()] == ["fine"]


def test_terminal_escapes_in_names_and_messages_are_shown_escaped(local_executor, tmp_path):
    with local_executor.batch(name=HOSTILE) as batch:
        failing = batch.submit_ext(report_then_fail, [HOSTILE], name="item " + HOSTILE)
    with pytest.raises(ValueError):
        failing.result(30)
    job = failing.job_id
    outputs = {}
    for argv in (["jobs"], ["show", job], ["log", job], ["log", "%d:0" % job],
                 ["farm", "status"]):
        result = program(*argv)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        for raw in RAW:
            assert raw not in result.stdout + result.stderr, (argv, result.stdout)
        outputs[" ".join(map(str, argv))] = result.stdout
    assert "evil\\x1b[31mRED" in outputs["jobs"]                       # clipped to its column
    show = outputs["show %d" % job]
    assert show.splitlines()[0] == "job %d: %s" % (job, SHOWN)
    assert "item " + SHOWN[:20] in show                                # the item's name
    first, rest = SHOWN.split(" ", 1)                 # a CR ends the message's first line
    assert "%d:0  ValueError: %s\n" % (job, first) in show            # why it failed
    assert "| %s\n" % rest in show                                    # and the rest of it
    trailer = "--- %d:0 failed: ValueError: %s ---" % (job, first)
    assert trailer in outputs["log %d" % job] and trailer in outputs["log %d:0" % job]
    # JSON stays exact.
    shown = json.loads(program("show", job, "--json").stdout)
    assert shown["name"] == HOSTILE and shown["work"][0]["name"] == "item " + HOSTILE
    assert json.loads(program("jobs", "--json").stdout)[0]["name"] == HOSTILE


def test_a_100_kb_name_is_clipped(local_executor):
    name = "x" * 100000
    future = local_executor.submit_ext(workloads.add, [1, 2], name=name)
    assert future.result(30) == 3
    jobs = program("jobs").stdout
    assert max(len(line) for line in jobs.splitlines()) < 200
    show = program("show", future.job_id).stdout
    assert len(show) < 2000
    first = show.splitlines()[0]
    assert first.startswith("job %d: xxx" % future.job_id) and first.endswith("...")
    assert json.loads(program("show", future.job_id, "--json").stdout)["name"] == name


# -- a supervisor that was killed ----------------------------------------------------------

SUBMIT_AND_LEAVE = """
import sys, time
sys.path.insert(0, %r)
from dccfutures import Executor
from tests import workloads
future = Executor().submit(workloads.sleep_then, 60)
while future.status() != "running":
    time.sleep(0.02)
print(future.job_id)
""" % ROOT


def test_farm_status_after_the_supervisor_was_killed_tells_the_truth(farm_home):
    # Submitted by a client that has left: no poller of ours restarts the supervisor.
    job = int(subprocess.run([sys.executable, "-c", SUBMIT_AND_LEAVE], capture_output=True,
                             text=True, timeout=60, check=True).stdout)
    farm = LocalFarm(home=farm_home)
    try:
        os.kill(farm.supervisor_pid(), signal.SIGKILL)   # its workers die with it
        wait_until(lambda: farm.supervisor_pid() is None, what="the supervisor gone")
        result = program("farm", "status")
        assert result.returncode == 0 and "Traceback" not in result.stderr
        first = result.stdout.splitlines()[0]
        assert first == ("local farm: not running; 1 item was running when it stopped, it will "
                         "run again when the farm restarts: dccfutures farm start"), first
        assert "work:       0 pending, 1 running, 0 blocked" in result.stdout
        assert farm.supervisor_pid() is None          # looking did not restart it
        assert program("farm", "start").returncode == 0
        wait_until(lambda: farm.job(job).work[0].attempts >= 2 and
                   farm.job(job).work[0].status == "running", what="the item running again")
        assert farm.kill(job) == 1
    finally:
        farm.close()
