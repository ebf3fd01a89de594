"""Job hooks and telling the artist: on_done runs on the farm when a job ends (the local
farm's supervisor; Qube's done-job-self callback), and a DCC session that watches the farm
tells the artist when their jobs end, also those of sessions long gone."""
import json
import os
import threading

import pytest

from tests import workloads
from tests.conftest import FAKES, wait_until


def hook_calls(path):
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def test_on_done_runs_on_the_farm_when_the_job_ends(executor, tmp_path):
    log = str(tmp_path / "hook.jsonl")
    future = executor.submit_ext(pow, [2, 8], name=log,
                                 on_done="tests.workloads:record_job_end")
    assert future.result(60) == 256
    calls = wait_until(lambda: hook_calls(log), timeout=30, what="the on_done hook")
    assert calls[0]["id"] == future.job_id and calls[0]["status"] == "complete"
    failing = executor.submit_ext(workloads.fail, ["no"], name=log,
                                  on_done="tests.workloads:record_job_end")
    with pytest.raises(ValueError):
        failing.result(60)
    wait_until(lambda: len(hook_calls(log)) == 2, timeout=30, what="the second hook")
    assert hook_calls(log)[1]["status"] == "failed"
    assert len(hook_calls(log)) == 2  # once per ending, not once per look


def test_on_done_from_a_package_installed_in_the_submitters_python(executor, tmp_path,
                                                                     monkeypatch):
    """A studio's hooks installed with pip into the artist's Python (its site-packages) are
    found by the hook as the work finds them: after the farm Python's own paths."""
    site = tmp_path / "artist-python" / "lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "studio_publish_hooks.py").write_text(
        "import json\n"
        "def job_ended(info):\n"
        "    with open(info['name'], 'a') as handle:\n"
        "        handle.write(json.dumps({'status': info['status'], 'from': __file__}) + '\\n')\n")
    monkeypatch.syspath_prepend(str(site))
    log = str(tmp_path / "hook.jsonl")
    future = executor.submit_ext(pow, [2, 3], name=log,
                                 on_done="studio_publish_hooks:job_ended")
    assert future.result(60) == 8
    calls = wait_until(lambda: hook_calls(log), timeout=30, what="the on_done hook")
    assert calls[0]["status"] == "complete" and calls[0]["from"].startswith(str(site))


def test_on_done_must_name_a_function(executor):
    with pytest.raises(TypeError, match="on_done.*package.module:function"):
        executor.submit_ext(pow, [2, 2], on_done=lambda info: None)
    with pytest.raises(TypeError, match="on_done"):
        executor.batch("x", on_done="not a reference")


def test_a_watching_session_is_told_when_jobs_end(local_executor, tmp_path):
    from dccfutures.notify import Watcher
    told = []
    earlier = local_executor.submit(pow, 2, 2)
    earlier.result(60)
    watcher = Watcher(local_executor.farm, interval=0.1,
                      tell_fn=lambda *message: told.append(message))
    assert watcher.check() == 0  # what ended before the session watched is old news
    flag = str(tmp_path / "go")
    later = local_executor.submit_ext(workloads.wait_for_file, [flag], name="the render")
    assert watcher.check() == 0
    open(flag, "w").close()
    later.result(60)
    wait_until(lambda: watcher.check() or told, what="the ending told")
    title, message, level = told[0]
    assert title == "dccfutures job %s complete" % later.job_id
    assert "the render" in message and level == "info"
    assert watcher.check() == 0  # told once


def test_maya_sessions_are_told_on_the_main_thread(farm_home, monkeypatch, capsys):
    monkeypatch.syspath_prepend(FAKES)
    import maya._fake as fake
    fake.reset("interactive")
    fake.set_main_thread(threading.current_thread())
    from dccfutures import notify
    try:
        thread = threading.Thread(target=notify.tell, args=("dccfutures job 3 failed", "x",
                                                            "error"))
        thread.start()
        thread.join()
        assert fake.pending()             # queued for Maya's main thread ...
        assert "dccfutures job 3" not in capsys.readouterr().out
        fake.process_idle_events()        # ... and shown there, as an error line
        assert "# Error: dccfutures job 3 failed: x" in capsys.readouterr().out
    finally:
        fake.reset("interactive")


def test_a_detached_job_still_runs_its_hook(farm_home, tmp_path):
    """The client exits right after submitting; the supervisor runs on_done anyway."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    log = str(tmp_path / "hook.jsonl")
    code = ("import sys; sys.path.insert(0, %r)\nfrom dccfutures import Executor\n"
            "from tests import workloads\nEx = Executor()\n"
            "Ex.submit_ext(workloads.sleep_then, [0.5, 1], name=%r, "
            "on_done='tests.workloads:record_job_end')\n" % (ROOT, log))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    calls = wait_until(lambda: hook_calls(log), timeout=30, what="the hook of a detached job")
    assert calls[0]["status"] == "complete"


def test_an_ending_is_told_with_the_farms_own_job_id():
    """OpenCue's job ids are UUIDs: the watcher tells the id as the farm gave it."""
    import time
    from dccfutures.farms.base import JobInfo
    from dccfutures.notify import ending
    uuid = "9f3c2a4e-1b2c-4d5e-8f90-0123456789ab"
    job = JobInfo(uuid, "the render", "killed", "dccfutures", 100, 4, "ana", time.time(),
                  {"complete": 2, "killed": 1})
    assert ending(job) == ("dccfutures job %s killed" % uuid,
                           "the render (2/3 work items complete)", "warning")
