"""``dccfutures deadline export SCRIPT --out DIR``: what a script would submit to Deadline
Cloud, written as job bundles, with nothing sent.

The script runs for real in the command's child process. The machine has no AWS credentials
and every AWS endpoint points at a loopback socket that nobody may connect to: a script that
reached the Deadline Cloud API (or any AWS service) would stop at "no AWS credentials" or be
seen connecting. Each bundle is checked with ``openjd-model`` (the template and its parameter
values) and with the ``deadline`` client's own bundle reader (what ``deadline bundle submit``
would send).
"""
import json
import os
import socket
import sys
import textwrap
import time

import pytest
import yaml

from dccfutures import Executor, cli
from dccfutures.errors import FarmError
from dccfutures.farms import deadline_export
from dccfutures.farms.deadline import bundle_request

openjd_model = pytest.importorskip("openjd.model", reason="pip install 'dccfutures[openjd]'")


@pytest.fixture
def no_aws(farm_config, farm_home, tmp_path, monkeypatch):
    """No AWS credentials, config or instance metadata; every AWS endpoint a loopback port
    whose connections are counted. Yields the listening socket."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("DEADLINE_"):
            monkeypatch.delenv(name)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "DEADLINE_CONFIG_FILE_PATH"):
        path = tmp_path / name.lower()
        path.write_text("")
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    farm_config(extra="farm: deadline\n")  # no farm_id, queue_id nor spool_dir
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:%d" % listener.getsockname()[1])
        yield listener


def connections(listener):
    """How many connections reached the AWS endpoint (each was accepted by the kernel)."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def script(tmp_path, text, name="my_tool.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def export(*argv):
    return cli.main(["deadline", "export"] + [str(a) for a in argv])


def validated(folder):
    """The bundle as ``openjd-model`` reads it (as ``openjd run`` and the worker agent do),
    with the ``deadline:*`` values left to ``deadline bundle submit``, as it does."""
    from pathlib import Path
    with open(os.path.join(folder, "template.yaml")) as handle:
        template = openjd_model.decode_job_template(template=yaml.safe_load(handle))
    with open(os.path.join(folder, "parameter_values.yaml")) as handle:
        values = {entry["name"]: entry["value"]
                  for entry in yaml.safe_load(handle)["parameterValues"]}
    ours = {name: str(value) for name, value in values.items() if ":" not in name}
    parameters = openjd_model.preprocess_job_parameters(
        job_template=template, job_parameter_values=ours, job_template_dir=Path(folder),
        current_working_dir=Path(folder))
    job = openjd_model.create_job(job_template=template, job_parameter_values=parameters)
    items = [int(task["Item"].value) for step in job.steps
             for task in openjd_model.StepParameterSpaceIterator(space=step.parameterSpace)]
    settings = {name.split(":", 1)[1]: value for name, value in values.items() if ":" in name}
    return job, items, settings, {name: parameters[name].value for name in parameters}


TOOL = """
    import sys
    from dccfutures import Executor
    import helpers                      # beside the script: sys.path[0] is its folder

    def add(a, b):
        return a + b

    assert __name__ == "__main__", __name__
    ex = Executor(farm="deadline", priority=10, cpus=3)
    first = ex.submit(add, 1, 2)
    ex.map(add, range(5), range(5), chunksize=2)
    with ex.batch(name="my batch") as batch:
        batch.submit(add, 3, 4)
        batch.submit(add, 5, 6)
    ex.submit_ext(add, [first, 1], name="then")        # waits on the first job's item
    helpers.publish(sys.argv[1:])                       # Executor(): the config's farm
    from dccfutures.tasks import Task                   # nested tasks: one job each
    ex.submit_tree(Task(add, (1, 1), name="root", subtasks=[Task(add, (2, 2), name="leaf")]))
    print("script done")
"""

HELPERS = """
    from dccfutures import Executor

    def publish(args):
        Executor().submit(len, args)
"""


def test_each_submit_map_and_batch_of_a_script_is_a_bundle_and_nothing_is_sent(
        no_aws, tmp_path, capfd):
    tool = script(tmp_path, TOOL)
    script(tmp_path, HELPERS, "helpers.py")
    out = tmp_path / "bundles"
    assert export(tool, "--out", out, "--", "--shot", "010") == 0
    stdout, stderr = capfd.readouterr()
    names = ["job-001-submit-add", "job-002-map-add", "job-003-my-batch", "job-004-then",
             "job-005-submit-len", "job-006-leaf", "job-007-root"]
    folders = [str(out / name) for name in names]
    assert deadline_export.written(str(out)) == folders
    assert ["wrote %s" % folder for folder in folders] == \
        [line for line in stdout.splitlines() if line.startswith("wrote")]
    assert "script done" in stdout and "deadline bundle submit %s" % folders[0] in stdout
    assert "Traceback" not in stderr
    assert connections(no_aws) == 0

    tasks = {}
    for folder in folders:
        job, items, settings, parameters = validated(folder)
        tasks[os.path.basename(folder)] = items
        assert parameters["Payload"] == os.path.join(folder, "payload")
        assert parameters["Output"] == os.path.join(folder, "output")
        for item in items:
            assert os.path.isfile(os.path.join(folder, "payload", "work", "%d.pickle" % item))
    assert tasks == {"job-001-submit-add": [0], "job-002-map-add": [0, 1, 2],
                     "job-003-my-batch": [0, 1], "job-004-then": [0],
                     "job-005-submit-len": [0], "job-006-leaf": [0], "job-007-root": [0]}
    _, _, settings, _ = validated(folders[0])
    assert settings == {"priority": 90, "maxRetriesPerTask": 1, "maxWorkerCount": 3}
    _, _, settings, _ = validated(folders[4])  # Executor() with no job fields
    assert settings == {"priority": 50, "maxRetriesPerTask": 1}
    # A job that waits on another exported job is held, and reads that job's Output.
    for waiting, on in ((3, 0), (6, 5)):
        _, _, settings, _ = validated(folders[waiting])
        assert settings["targetTaskRunStatus"] == "SUSPENDED"
        with open(os.path.join(folders[waiting], "payload", "job.json")) as handle:
            assert json.load(handle)["outputs"] == {names[on]: os.path.join(folders[on],
                                                                            "output")}
    assert "targetTaskRunStatus" not in validated(folders[5])[2]
    with open(os.path.join(folders[4], "payload", "job.json")) as handle:
        assert json.load(handle)["package"]["sys_path"][0] == str(tmp_path)


def test_a_result_of_an_exported_job_ends_at_once_and_stops_the_script_in_one_line(
        no_aws, tmp_path, capfd):
    report = tmp_path / "report.json"
    tool = script(tmp_path, """
        import json, sys, time
        from dccfutures import Executor
        from dccfutures.errors import FarmError
        ex = Executor(farm="deadline")
        future = ex.submit(abs, -1)
        start = time.monotonic()
        try:
            future.result(timeout=30)
        except FarmError as error:
            json.dump({"seconds": time.monotonic() - start, "message": str(error),
                       "status": future.status()}, open(sys.argv[1], "w"))
        print(list(ex.map(abs, [-1, -2])))   # not caught: the script stops here
        print("never printed")
    """)
    out = tmp_path / "out"
    assert export(tool, "--out", out, "--", report) == 0
    stdout, stderr = capfd.readouterr()
    caught = json.loads(report.read_text())
    assert caught["seconds"] < 2.0  # a poll away, not a timeout
    assert caught["message"] == ("job job-001-submit-abs was exported to %s, not submitted: it "
                                 "has no result" % (out / "job-001-submit-abs"))
    assert caught["status"] == "failed"
    assert "never printed" not in stdout
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [
        "dccfutures: my_tool.py stopped at a result: job job-002-map-abs was exported to %s, "
        "not submitted: it has no result" % (out / "job-002-map-abs")]
    assert deadline_export.written(str(out)) == [str(out / "job-001-submit-abs"),
                                                 str(out / "job-002-map-abs")]


def test_the_bundle_is_what_deadline_bundle_submit_would_send(no_aws, tmp_path):
    """The ``deadline`` client's own bundle reader (what ``deadline bundle submit`` and
    ``create_job_from_job_bundle`` run) finds the job parameters and CreateJob settings the
    deadline farm sends for the same job, and takes Payload as job attachment input and
    Output as output."""
    parameters_module = pytest.importorskip("deadline.client.job_bundle.parameters",
                                            reason="pip install 'deadline==0.60.*'")
    from deadline.client.job_bundle.submission import AssetReferences, split_parameter_args
    out = str(tmp_path / "out")
    with deadline_export.exporting(out):
        ex = Executor(farm="deadline", priority=30, cpus=2, max_attempts=4)
        ex.map(abs, [-1, -2, -3])
    [folder] = deadline_export.written(out)
    found = parameters_module.read_job_bundle_parameters(folder)
    references = AssetReferences()
    parameters_module.apply_job_parameters([], folder, found, references)
    settings, parameters = split_parameter_args(found, folder)
    # What DeadlineFarm sends for priority 30, cpus 2, max_attempts 4 (tests/test_deadline.py)
    assert settings == {"priority": 70, "maxRetriesPerTask": 3, "maxWorkerCount": 2}
    request = bundle_request(folder)  # what the deadline farm's CreateJob carries
    assert parameters == request["parameters"]
    assert references.input_directories == {os.path.join(folder, "payload")}
    assert references.output_directories == {os.path.join(folder, "output")}
    assert connections(no_aws) == 0


def test_a_job_submitted_blocked_is_exported_suspended(no_aws, tmp_path):
    out = str(tmp_path / "out")
    with deadline_export.exporting(out):
        ex = Executor(farm="deadline")
        ex.submit_ext(abs, [-1], status="blocked")
        ex.submit(abs, -2)
    held, ready = deadline_export.written(out)
    assert validated(held)[2]["targetTaskRunStatus"] == "SUSPENDED"
    assert "targetTaskRunStatus" not in validated(ready)[2]


def test_with_task_chunking_the_export_is_chunked_as_a_submit_would_be(no_aws, farm_config,
                                                                        tmp_path):
    """``deadline.task_chunking`` changes the template a submit sends: the export shows it."""
    farm_config(extra="farm: deadline\ndeadline: {task_chunking: 3}\n")
    out = str(tmp_path / "out")
    with deadline_export.exporting(out):
        Executor(farm="deadline").map(abs, range(-7, 0))  # its results are never asked for
    [folder] = deadline_export.written(out)
    with open(os.path.join(folder, "template.yaml")) as handle:
        template = yaml.safe_load(handle)
    assert template["extensions"] == ["TASK_CHUNKING"]
    [item] = template["steps"][0]["parameterSpace"]["taskParameterDefinitions"]
    assert item["type"] == "CHUNK[INT]" and item["chunks"]["defaultTaskCount"] == 3


def test_exported_futures_end_without_a_poll_interval_of_the_real_farm(no_aws, tmp_path):
    out = str(tmp_path / "out")
    with deadline_export.exporting(out):
        ex = Executor(farm="deadline")
        futures = [ex.submit(abs, -i) for i in range(20)]
        start = time.monotonic()
        errors = [future.exception(timeout=10) for future in futures]
        elapsed = time.monotonic() - start
    assert all(isinstance(error, deadline_export.NotSubmittedError) for error in errors)
    assert all(isinstance(error, FarmError) for error in errors)
    assert elapsed < 2.0
    assert len(deadline_export.written(out)) == 20


def test_a_script_that_fails_before_submitting_exports_nothing_in_one_line(
        no_aws, tmp_path, capfd):
    tool = script(tmp_path, """
        from dccfutures import Executor
        def shot_frames():
            raise ValueError("no such shot")
        Executor(farm="deadline").map(print, shot_frames())
    """)
    out = tmp_path / "out"
    assert export(tool, "--out", out) == 1
    _, stderr = capfd.readouterr()
    lines = stderr.strip().splitlines()
    assert lines[-1] == ("dccfutures: my_tool.py failed (exit code 1) before submitting "
                         "anything: nothing was exported")
    assert 'File "%s", line 4, in shot_frames' % tool in stderr  # the script's own traceback
    assert "runpy" not in stderr and "deadline_export" not in stderr
    assert not out.exists()


def test_a_script_that_submits_nothing_to_deadline_says_so(no_aws, tmp_path, capfd):
    tool = script(tmp_path, """
        print("only looked around")
    """)
    assert export(tool, "--out", tmp_path / "out") == 1
    stdout, stderr = capfd.readouterr()
    assert "only looked around" in stdout
    assert stderr.strip().splitlines() == [
        'dccfutures: my_tool.py submitted nothing to the deadline farm: nothing was exported '
        '(only Executor(farm="deadline"), or Executor() with farm: deadline in the config, is '
        'exported)']


def test_a_script_ending_with_sys_exit_keeps_its_bundles_and_says_how_it_ended(
        no_aws, tmp_path, capfd):
    tool = script(tmp_path, """
        import sys
        from dccfutures import Executor
        Executor(farm="deadline").submit(abs, -1)
        sys.exit(3)
    """)
    out = tmp_path / "out"
    assert export(tool, "--out", out) == 0
    stdout, stderr = capfd.readouterr()
    assert "wrote %s" % (out / "job-001-submit-abs") in stdout
    assert stderr.strip().splitlines() == [
        "dccfutures: note: my_tool.py failed (exit code 3) after writing 1 bundle"]


@pytest.mark.parametrize("argument, reason", [
    ("my_tol.py", "no such file"), ("job-123", "no such file"), (".", "a folder")])
def test_neither_a_script_nor_a_job_id_is_one_line_naming_it(no_aws, tmp_path, capfd,
                                                             argument, reason):
    assert export(argument, "--out", tmp_path / "out") == 2
    _, stderr = capfd.readouterr()
    assert stderr.strip().splitlines() == [
        "dccfutures: %r is neither a script (%s) nor a Deadline Cloud job id (job- and 32 hex "
        "digits)" % (argument, reason)]
    assert not (tmp_path / "out").exists()


def test_the_out_folder_must_be_absent_or_empty(no_aws, tmp_path, capfd):
    tool = script(tmp_path, "raise SystemExit('the script must not run')\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export(tool, "--out", out) == 2
    _, stderr = capfd.readouterr()
    assert stderr.strip() == "dccfutures: cannot export into %s: it is not an empty folder" % out
    assert os.listdir(out) == ["keep.txt"]


def test_script_arguments_follow_two_dashes_in_either_order(no_aws, tmp_path):
    seen = tmp_path / "argv.json"
    tool = script(tmp_path, """
        import json, sys
        json.dump(sys.argv, open(%r, "w"))
    """ % str(seen))
    assert export("--out", tmp_path / "a", tool, "--", "-v", "--out", "x") == 1
    assert json.loads(seen.read_text()) == [tool, "-v", "--out", "x"]
    assert export(tool, "--out", tmp_path / "b", "--", "--frames", "1-10") == 1
    assert json.loads(seen.read_text()) == [tool, "--frames", "1-10"]


def test_a_failed_write_leaves_no_half_bundle(no_aws, tmp_path):
    """Two jobs in one submit: the second refers to a job this export did not write, so
    neither is written."""
    from dccfutures.farms.base import JobSpec, WorkSpec
    from dccfutures import config
    out = str(tmp_path / "out")
    farm = deadline_export.ExportFarm(config.load(), out)
    good = JobSpec("good", "dccfutures", [WorkSpec(b"calls")])
    bad = JobSpec("bad", "dccfutures", [WorkSpec(b"calls", depends_on=[("job-999-x", 0)])])
    with pytest.raises(ValueError, match="job-999-x, which this export did not write"):
        farm.submit([good, bad])
    assert deadline_export.written(out) == [] and os.listdir(out) == []
    assert farm.submit([good]) == ["job-001-good"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_bundle_folder_is_the_submitters_only(no_aws, tmp_path):
    out = str(tmp_path / "out")
    with deadline_export.exporting(out):
        Executor(farm="deadline").submit(abs, -1)
    [folder] = deadline_export.written(out)
    assert os.stat(folder).st_mode & 0o777 == 0o700  # its pickles run code


def test_exported_bundles_run_with_openjd_run_and_a_later_job_reads_an_earlier_ones_result(
        no_aws, tmp_path, capfd):
    """What is exported is what runs: each bundle run by ``openjd run`` (openjd-cli, the
    reference runtime, offline) with its own parameter values; the second job's call takes
    the first job's result from the first bundle's ``output/``."""
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if not os.path.exists(openjd):
        pytest.skip("pip install 'openjd-cli==0.8.0'")
    import subprocess
    tool = script(tmp_path, """
        from dccfutures import Executor
        ex = Executor(farm="deadline")
        first = ex.submit(pow, 2, 5)
        ex.submit(divmod, first, 5)
    """)
    out = tmp_path / "out"
    assert export(tool, "--out", out) == 0
    capfd.readouterr()
    from dccfutures import payload
    results = []
    for folder in deadline_export.written(str(out)):
        _, _, _, parameters = validated(folder)
        command = [openjd, "run", os.path.join(folder, "template.yaml")]
        for name, value in parameters.items():
            command += ["-p", "%s=%s" % (name, value)]
        subprocess.run(command, check=True, timeout=120, stdout=subprocess.DEVNULL)
        with open(os.path.join(folder, "output", "work", "0", "outcomes.bin"), "rb") as handle:
            [outcome] = payload.decode_outcomes(handle.read())
        results.append(payload.unpack(outcome))
    assert results == [(True, 32), (True, (6, 2))]
