"""The OpenJD job bundle and its task runtime, run for real: every bundle is validated by
openjd-model and run by openjd-sessions here, one Session per worker slot, its results read
back from the Output folder as the farms read them."""
import json
import os
import sys
import threading

import pytest
import yaml

pytest.importorskip("openjd.sessions", reason="pip install 'dccfutures[openjd]' "
                    "(openjd-model and openjd-sessions 0.13)")

from dccfutures import payload  # noqa: E402
from dccfutures.farms.base import JobSpec, WorkSpec, work_error  # noqa: E402
from dccfutures.farms.openjd import bundle as bundles  # noqa: E402
from dccfutures.farms.openjd.session import Bundle, WorkerSession  # noqa: E402
from tests import workloads  # noqa: E402
from tests.conftest import FAKES, ROOT, wait_until  # noqa: E402

MAYAPY = os.path.join(FAKES, "bin", "mayapy")


def _job(calls, name="t", function=None, depends=None, **package):
    work = []
    for index, call in enumerate(calls):
        reference = None
        if depends and index in depends:
            target = depends[index]
            reference = (lambda o, target=target: (payload.DEPENDENCY, None, target, 0)
                         if o is DEPENDENCY else None)
        work.append(WorkSpec(payload.encode_calls([call], 10 ** 8, reference=reference),
                             depends_on=[(None, depends[index])] if depends and index in depends
                             else []))
    facts = {"python": sys.executable, "sys_path": [ROOT]}
    facts.update(package)
    return JobSpec(name=name, prototype="dccfutures", work=work, package=facts,
                   function=function)


DEPENDENCY = object()  # pickled as a reference to another item's result


def _outcome(output, work_id):
    status, blob = bundles.read_result(output, work_id)
    ok, value = payload.unpack(payload.decode_outcomes(blob)[0])
    return status, ok, value


@pytest.fixture
def run(tmp_path):
    """``run(job)``: write its bundle, validate it and run every step, one session each
    (``slots`` sessions share a step's items); returns (Bundle, {item: ActionStatus}, logs)."""
    def run(job, slots=1, **options):
        folder = bundles.write_bundle(job, str(tmp_path / "bundle"), **options)
        bundle = Bundle(folder)
        statuses, logs = {}, []
        for step in bundle.job.steps:
            items = bundle.tasks(step)  # work ids, or ranges of them with TASK_CHUNKING
            shares = [items[i::slots] for i in range(slots)]
            threads = [threading.Thread(target=_session, args=(bundle, step, share, statuses,
                                                                logs, str(tmp_path)))
                       for share in shares if share]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        return bundle, statuses, logs
    return run


def _session(bundle, step, items, statuses, logs, root):
    """One worker slot: a session runs its items until one fails or is cancelled (an OpenJD
    session then only exits), and a new session takes the rest, as the worker agent does."""
    items = list(items)
    while items:
        with WorkerSession(bundle, "s%s-%s" % (items[0], step.name), root=root) as session:
            entered = session.enter(step)
            assert entered.state.name == "SUCCESS", session.log
            while items:
                item = items.pop(0)
                statuses[item] = session.run(item)
                if statuses[item].state.name != "SUCCESS":
                    break
            session.exit()
            logs.append("\n".join(session.log))


def test_the_bundle_is_a_valid_2023_09_template_with_one_task_per_item(tmp_path):
    job = _job([(workloads.add, (i, 1), {}) for i in range(5)], name="add {{x}}")
    folder = bundles.write_bundle(job, str(tmp_path / "b"))
    template = yaml.safe_load(open(os.path.join(folder, "template.yaml")))
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    assert template["name"] == "add { {x} }"  # never a format string
    [step] = template["steps"]
    assert step["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Item", "type": "INT", "range": "0-4"}]
    assert [e["name"] for e in step["stepEnvironments"]] == ["dccfutures"]
    bundle = Bundle(folder)  # openjd-model: decode_job_template, create_job
    assert bundle.items(bundle.step()) == [0, 1, 2, 3, 4]
    assert sorted(os.listdir(os.path.join(folder, "payload", "work"))) == [
        "%d.pickle" % i for i in range(5)]
    with pytest.raises(ValueError, match="not empty"):
        bundles.write_bundle(job, folder)


def test_a_submit_runs_in_a_session_and_its_result_comes_back(run):
    bundle, statuses, _ = run(_job([(workloads.add, (2, 3), {})]))
    assert statuses[0].state.name == "SUCCESS" and statuses[0].exit_code == 0
    assert _outcome(bundle.output, 0) == ("complete", True, 5)


def test_a_map_with_a_raising_item_runs_every_task_and_brings_the_traceback_back(run):
    calls = [(None, (i, 2), {}) for i in range(4)]
    job = _job(calls, function=payload.encode_function(workloads.fail_on))
    bundle, statuses, logs = run(job, slots=2)
    assert {i: s.exit_code for i, s in statuses.items()} == {0: 0, 1: 0, 2: 0, 3: 0}
    assert [_outcome(bundle.output, i)[2] for i in (0, 1, 3)] == [0, 1, 3]
    status, ok, error = _outcome(bundle.output, 2)
    assert (status, ok, type(error)) == ("failed", False, ValueError)
    failure = work_error(bundles.read_result(bundle.output, 2)[1])
    assert "2 is unlucky" in failure.message and "fail_on" in failure.traceback
    assert len(os.listdir(os.path.join(bundle.output, "sessions"))) == 2  # one per slot


def test_an_items_output_is_its_log_and_its_tasks_log(run):
    bundle, statuses, logs = run(_job([(workloads.chatty, (i,), {}) for i in range(2)]))
    assert "out 1" in bundles.read_log(bundle.output, 1)
    assert "err 1" in bundles.read_log(bundle.output, 1)
    assert "out 0" not in bundles.read_log(bundle.output, 1)
    assert "out 1" in logs[0]  # streamed into the task's own log (CloudWatch on Deadline)


def test_a_crashing_item_fails_its_task_and_the_next_session_boots_afresh(run):
    calls = [(workloads.print_then_exit, ("bye", 7), {}), (workloads.add, (1, 1), {})]
    bundle, statuses, logs = run(_job(calls))
    assert statuses[0].state.name == "FAILED" and statuses[0].exit_code != 0
    assert bundles.read_result(bundle.output, 0) == ("crashed", None)
    assert "exited with status 7 while it ran work item 0" in bundles.read_message(
        bundle.output, 0)
    assert "out: bye" in bundles.read_log(bundle.output, 0)
    assert "exited with status 7" in logs[0]  # the task's log says why it failed
    assert "nothing to stop" in logs[0]  # onExit still ran
    assert statuses[1].exit_code == 0 and _outcome(bundle.output, 1)[2] == 2


def test_progress_reaches_the_progress_file_and_the_session(run, tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("")
    bundle, statuses, logs = run(_job([(workloads.progress_then_wait, (str(flag),), {})]))
    assert bundles.read_progress(bundle.output, 0) == (0.5, "half way")
    assert "openjd_progress: 50.0" in logs[0]


def test_an_item_that_depends_on_another_runs_in_a_later_step_with_its_result(run):
    calls = [(workloads.add, (20, 1), {}), (workloads.add, (DEPENDENCY, 100), {}),
             (workloads.add, (1, 1), {})]
    bundle, statuses, _ = run(_job(calls, depends={1: 0}))
    assert [s.name for s in bundle.job.steps] == ["work", "work-1"]
    assert bundle.items(bundle.job.steps[1]) == [1]
    assert bundle.job.steps[1].dependencies[0].dependsOn == "work"
    assert _outcome(bundle.output, 1) == ("complete", True, 121)


def test_a_dependency_on_a_missing_item_is_refused(tmp_path):
    job = _job([(workloads.add, (1,), {})])
    job.work[0].depends_on = [(None, 3)]
    with pytest.raises(ValueError, match="depends on item 3, which the job does not have"):
        bundles.write_bundle(job, str(tmp_path / "b"))


def _has_bpy():
    try:
        import importlib.util
        return importlib.util.find_spec("bpy") is not None
    except ValueError:
        return False


BOOTSTRAPS = {  # kind: (executable, version, the line one boot prints)
    "mayapy": (MAYAPY, "2025", "Maya 2025 bootstrapped in mayapy"),
    "maya_batch": (os.path.join(FAKES, "bin", "maya"), "2025",
                   "Maya 2025 bootstrapped in maya_batch"),
    "hython": (os.path.join(FAKES, "bin", "hython"), "20.5",
               "Houdini 20.5 bootstrapped in hython"),
    "bpy": (sys.executable, "4.2", "Blender 4.2 bootstrapped in bpy"),
}


@pytest.mark.parametrize("kind", sorted(BOOTSTRAPS))
def test_the_dcc_boots_once_per_session_not_per_task(run, monkeypatch, kind):
    if kind == "bpy" and not _has_bpy():
        pytest.skip("needs PyPI's bpy 4.2 (Python 3.11 only): pip install 'bpy==4.2.*'")
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    executable, version, line = BOOTSTRAPS[kind]
    spec = {"kind": kind, "executable": executable, "version": version}
    job = _job([(workloads.add, (i, 0), {}) for i in range(3)], bootstrap=spec,
               python=executable)
    bundle, statuses, logs = run(job)
    assert [_outcome(bundle.output, i)[2] for i in range(3)] == [0, 1, 2]
    assert _session_log(bundle.output).count(line) == 1
    assert line in logs[0]  # the boot shows in the environment's onEnter log


def test_a_task_cancelled_mid_item_kills_the_interpreter_and_the_host(tmp_path):
    there = tmp_path / "there"
    there.write_text("")
    job = _job([(workloads.wait_for_file, (str(there),), {}),
                (workloads.print_then_wait, ("item 1 runs", str(tmp_path / "never")), {})])
    bundle = Bundle(bundles.write_bundle(job, str(tmp_path / "bundle")))
    with WorkerSession(bundle, "cancel", root=str(tmp_path)) as session:
        session.enter(bundle.step())
        host = json.load(open(os.path.join(session.working_directory,
                                           "dccfutures-host.json")))["pid"]
        assert session.run(0).exit_code == 0
        child = _outcome(bundle.output, 0)[2]  # the pid of the interpreter that ran it
        statuses = []
        runner = threading.Thread(target=lambda: statuses.append(session.run(1)))
        runner.start()
        wait_until(lambda: "item 1 runs" in _session_log(bundle.output), what="item 1 running")
        session.cancel()
        runner.join(30)
        assert statuses[0].state.name == "CANCELED"
        wait_until(lambda: not _alive(child), what="the interpreter killed")
        wait_until(lambda: not _alive(host), what="the host gone")
        assert bundles.read_result(bundle.output, 1) is None  # no result: it was cancelled
        assert "out: item 1 runs" in bundles.read_log(bundle.output, 1)  # its output is kept
        assert session.exit().state.name == "SUCCESS"


def _session_log(output):
    [log] = os.listdir(os.path.join(output, "sessions"))
    return open(os.path.join(output, "sessions", log)).read()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_an_interpreter_that_cannot_start_fails_the_environment_with_the_reason(tmp_path):
    missing = str(tmp_path / "no-such-mayapy")
    spec = {"kind": "mayapy", "executable": missing, "version": "2025"}
    job = _job([(workloads.add, (1, 1), {})], bootstrap=spec, python=missing)
    bundle = Bundle(bundles.write_bundle(job, str(tmp_path / "bundle")))
    with WorkerSession(bundle, "broken", root=str(tmp_path)) as session:
        entered = session.enter(bundle.step())
        assert entered.state.name == "FAILED" and entered.exit_code == 1
        log = "\n".join(session.log)
        assert "cannot start %s" % missing in log
        assert "Traceback" not in log
        assert session.exit().state.name == "SUCCESS"


def test_a_boot_cancelled_in_the_environments_onenter_leaves_no_process(tmp_path):
    pid_file = tmp_path / "dcc.pid"
    slow = tmp_path / "slow-dcc"  # a DCC that takes its time to boot
    slow.write_text("#!/bin/sh\necho $$ > %s\nexec sleep 60\n" % pid_file)
    slow.chmod(0o755)
    job = _job([(workloads.add, (1, 1), {})], python=str(slow))
    bundle = Bundle(bundles.write_bundle(job, str(tmp_path / "bundle")))
    with WorkerSession(bundle, "slow", root=str(tmp_path)) as session:
        statuses = []
        entering = threading.Thread(target=lambda: statuses.append(
            session.enter(bundle.step())))
        entering.start()
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(),
                   what="the DCC booting")
        dcc = int(pid_file.read_text())
        session.cancel()
        entering.join(30)
        assert statuses[0].state.name == "CANCELED"
        wait_until(lambda: not _alive(dcc), what="the booting DCC ended")
        assert session.exit().state.name == "SUCCESS"


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_openjd_cli_runs_a_bundle_with_a_dependency_offline(tmp_path, chunk_size):
    """``openjd run`` (openjd-cli, what a TD runs to try a bundle by hand) runs every step,
    chunked (TASK_CHUNKING) or not."""
    import subprocess
    calls = [(workloads.add, (20, 1), {}), (workloads.add, (DEPENDENCY, 100), {}),
             (workloads.add, (2, 2), {})]
    folder = bundles.write_bundle(_job(calls, depends={1: 0}), str(tmp_path / "b"),
                                  chunk_size=chunk_size)
    values = {v["name"]: v["value"] for v in yaml.safe_load(
        open(os.path.join(folder, "parameter_values.yaml")))["parameterValues"]}
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if not os.path.exists(openjd):
        pytest.skip("needs openjd-cli 0.8.0: pip install openjd-cli==0.8.0")
    done = subprocess.run([openjd, "run", os.path.join(folder, "template.yaml")] +
                          ["-p=%s=%s" % item for item in values.items()],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _outcome(values["Output"], 1) == ("complete", True, 121)
    assert _outcome(values["Output"], 2) == ("complete", True, 4)


def test_an_item_takes_the_result_of_another_jobs_item_from_that_jobs_output(run, tmp_path):
    first, _, _ = run(_job([(workloads.add, (1, 2), {})]))
    job = _job([(workloads.add, (DEPENDENCY, 10), {})])
    job.work[0].package = payload.encode_calls(
        [(workloads.add, (DEPENDENCY, 10), {})], 10 ** 8,
        reference=lambda o: (payload.DEPENDENCY, "job-first", 0, 0) if o is DEPENDENCY else None)
    job.work[0].depends_on = [("job-first", 0)]  # the farm holds it until job-first is done
    folder = bundles.write_bundle(job, str(tmp_path / "second"),
                                  outputs={"job-first": first.output})
    second = Bundle(folder)
    with WorkerSession(second, "second", root=str(tmp_path)) as session:
        session.enter(second.step())
        assert session.run(0).exit_code == 0
        session.exit()
    assert _outcome(second.output, 0) == ("complete", True, 13)


def test_a_dcc_the_submitter_could_not_name_fails_the_environment_with_what_to_set(tmp_path):
    why = 'no mayapy for Maya 2026: set dcc.maya."2026".mayapy in the dccfutures config'
    spec = {"kind": "mayapy", "version": "2026", "missing": why}
    job = _job([(workloads.add, (1, 1), {})], bootstrap=spec, python="mayapy")
    bundle = Bundle(bundles.write_bundle(job, str(tmp_path / "bundle")))
    with WorkerSession(bundle, "unnamed", root=str(tmp_path)) as session:
        assert session.enter(bundle.step()).state.name == "FAILED"
        log = "\n".join(session.log)
        assert why in log and "Traceback" not in log
        session.exit()


def test_reservations_become_every_steps_host_requirements_in_the_specs_units(run):
    """Qube's per-item ``reservations`` (as OpenCue's frames take them): ``host.processors``
    is ``amount.worker.vcpu``, ``host.memory`` (MB) ``amount.worker.memory`` (MiB)."""
    calls = [(workloads.add, (20, 1), {}), (workloads.add, (DEPENDENCY, 100), {})]
    job = _job(calls, depends={1: 0})
    job.fields = {"reservations": "host.processors=4+, host.memory=8192", "cpus": 2}
    bundle, statuses, _ = run(job)
    for step in bundle.template.steps:  # decoded by openjd-model
        assert [(a.name, a.min, a.max) for a in step.hostRequirements.amounts] == [
            ("amount.worker.vcpu", 4, None), ("amount.worker.memory", 8192, None)]
    assert _outcome(bundle.output, 1) == ("complete", True, 121)  # and it runs


def test_without_reservations_a_step_has_no_host_requirements(tmp_path):
    job = _job([(workloads.add, (1, 1), {})])
    job.fields = {"cpus": 4, "reservations": "license.maya=1"}  # cpus: items at once
    [step] = bundles.template(job)["steps"]
    assert "hostRequirements" not in step


@pytest.mark.parametrize("reservations, why", [
    ("host.processors=0", "host.processors must be a whole number of cores, 1 or more"),
    ("host.processors=-2", "host.processors must be a whole number of cores, 1 or more"),
    ("host.processors=four", "host.processors must be a whole number of cores, 1 or more"),
    ("host.memory=8GB", "host.memory must be a whole number of MB, 1 or more"),
    ("host.memory=0", "host.memory must be a whole number of MB, 1 or more"),
])
def test_an_out_of_range_reservation_is_refused_before_anything_is_written(
        tmp_path, reservations, why):
    job = _job([(workloads.add, (1, 1), {})])
    job.fields = {"reservations": reservations}
    with pytest.raises(ValueError, match="job field 'reservations': %s" % why):
        bundles.write_bundle(job, str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


# -- TASK_CHUNKING: several items per task, chunks formed by the queue ------------------------

def test_with_task_chunking_each_task_runs_a_range_of_items_in_the_session(run):
    calls = [(None, (i, 4), {}) for i in range(7)]
    job = _job(calls, function=payload.encode_function(workloads.fail_on))
    bundle, statuses, logs = run(job, chunk_size=3)
    assert bundle.template.extensions == ["TASK_CHUNKING"]
    [step] = bundle.job.steps
    assert bundle.tasks(step) == ["0-2", "3-4", "5-6"]  # openjd-model evens them out
    assert bundle.items(step) == list(range(7))
    assert {task: s.exit_code for task, s in statuses.items()} == {"0-2": 0, "3-4": 0, "5-6": 0}
    assert [_outcome(bundle.output, i)[2] for i in (0, 1, 2, 3, 5, 6)] == [0, 1, 2, 3, 5, 6]
    assert _outcome(bundle.output, 4)[:2] == ("failed", False)  # its chunk went on
    assert "dccfutures: work item 5 complete" in logs[0]
    assert "openjd_progress: 33.3" in logs[0]  # the chunk, one item of three in


def test_a_crash_in_a_chunk_fails_its_task_and_the_rest_of_the_chunk_does_not_run(run):
    calls = [(workloads.add, (1, 1), {}), (workloads.print_then_exit, ("bye", 7), {}),
             (workloads.add, (2, 2), {})]
    bundle, statuses, logs = run(_job(calls), chunk_size=3)
    assert statuses["0-2"].state.name == "FAILED"
    assert _outcome(bundle.output, 0)[2] == 2
    assert bundles.read_result(bundle.output, 1) == ("crashed", None)
    assert bundles.read_result(bundle.output, 2) is None  # run again with its chunk


def test_task_chunking_keeps_the_steps_of_dependencies(run):
    calls = [(workloads.add, (20, 1), {}), (workloads.add, (DEPENDENCY, 100), {}),
             (workloads.add, (1, 1), {})]
    bundle, statuses, _ = run(_job(calls, depends={1: 0}), chunk_size=2)
    assert [bundle.tasks(step) for step in bundle.job.steps] == [["0-0", "2-2"], ["1-1"]]
    assert _outcome(bundle.output, 1) == ("complete", True, 121)


@pytest.mark.parametrize("size", [0, -1, 2.5, "3"])
def test_a_chunk_size_that_is_not_a_whole_number_of_items_is_refused(tmp_path, size):
    with pytest.raises(ValueError, match="chunk_size must be a whole number of items, 1 or "
                                         "more, got %r" % (size,)):
        bundles.write_bundle(_job([(workloads.add, (1, 1), {})]), str(tmp_path / "b"),
                             chunk_size=size)


def test_a_runaway_items_log_keeps_its_head_and_tail_within_the_cap(run):
    """An item printing 20 MB (a runaway loop's worth) leaves a capped ``log.txt`` (read by
    the clients of a spool) and a session log whose middle was dropped on disk."""
    bundle, statuses, _ = run(_job([(workloads.flood, (20,), {})], max_log_mb=1))
    assert statuses[0].state.name == "SUCCESS"
    assert _outcome(bundle.output, 0) == ("complete", True, 200000)
    text = bundles.read_log(bundle.output, 0)
    assert text.startswith("first line") and text.rstrip().endswith("last line")
    assert "bytes of output dropped here" in text and len(text) < 1.2 * 2 ** 20
    [name] = os.listdir(os.path.join(bundle.output, "sessions"))
    on_disk = os.stat(os.path.join(bundle.output, "sessions", name)).st_blocks * 512
    assert on_disk < 5 * 2 ** 20  # not the 20 MB printed


def test_an_output_folder_the_worker_cannot_make_is_one_line_in_the_task_log(tmp_path, capsys):
    """Shared storage not mounted on this worker: the environment fails with what to check,
    not Python's traceback."""
    from dccfutures.runtime import openjd as runtime
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    code = runtime.main(["start", "--session", str(tmp_path), "--payload",
                         str(tmp_path / "payload"), "--output", str(blocked / "output")])
    printed = capsys.readouterr()
    assert code == 1 and "Traceback" not in printed.out + printed.err
    assert "cannot write this job's Output folder %s" % (blocked / "output") in printed.out
