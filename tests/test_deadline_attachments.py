"""Deadline Cloud with job attachments: payloads up to S3, results back from task outputs.

The queue's S3 bucket is moto's (``moto.mock_aws``); the Deadline Cloud API is boto3's real
``deadline`` client under ``botocore.stub.Stubber`` (the real service model checks every request
and response). The round trip is real: our submit uploads through the ``deadline`` library's
``S3AssetManager``; a test worker plays the worker agent with the same library
(``AssetSync.sync_inputs`` into a session folder, the job's template run for real by
openjd-sessions with the path mapping ``sync_inputs`` returned, and after each task that
succeeded its outputs uploaded as the agent does: ``AssetSync.sync_outputs`` for a task, the
step-level layout the library reads for a TASK_CHUNKING chunk); our poll finds the item's
result in the output manifest of the session action that ran its task last and downloads it.
"""
import datetime
import os
import stat
import sys
import threading
import warnings

import pytest

from dccfutures import Executor, config as config_module, payload
from dccfutures.errors import FarmError
from dccfutures.farms.base import COMPLETE, FAILED, RUNNING, JobSpec, WorkSpec

botocore_stub = pytest.importorskip("botocore.stub", reason="pip install boto3")
moto = pytest.importorskip("moto", reason="pip install 'moto[s3]'")
pytest.importorskip("deadline.job_attachments", reason="pip install 'deadline==0.60.*'")
pytest.importorskip("openjd.sessions", reason="pip install 'dccfutures[openjd]'")

from tests.deadline_fixtures import FARM, QUEUE, aws, credentials, stubbed_farm  # noqa: E402,F401

JOB = "job-" + "1" * 32
STEP = "step-" + "3" * 32
WHERE = {"farmId": FARM, "queueId": QUEUE}
NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.timezone.utc)
BUCKET = "studio-job-attachments"
ROOT_PREFIX = "DeadlineCloud"
ANY = botocore_stub.ANY


@pytest.fixture
def s3(aws, credentials):
    """moto's S3 (and every other AWS call not stubbed) for the test."""
    with moto.mock_aws():
        yield


@pytest.fixture
def bucket(s3):
    import boto3
    session = boto3.Session(region_name="us-west-2")
    session.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return session


@pytest.fixture
def deadline(farm_config, farm_home, s3):
    """The process's deadline farm with NO spool_dir: its real client under a Stubber."""
    yield from stubbed_farm(farm_config)


def expect_queue(stub, attachments=True):
    queue = dict(WHERE, displayName="render", status="IDLE", defaultBudgetAction="NONE",
                 createdAt=NOW, createdBy="admin")
    if attachments:
        queue["jobAttachmentSettings"] = {"s3BucketName": BUCKET, "rootPrefix": ROOT_PREFIX}
    stub.add_response("get_queue", queue, dict(WHERE))


def expect_queue_role(stub):
    stub.add_response("assume_queue_role_for_user", {"credentials": {
        "accessKeyId": "ASIAQUEUEROLEEXAMPLE", "secretAccessKey": "queue-role-secret",
        "sessionToken": "queue-role-token",
        "expiration": datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    }}, dict(WHERE))


def expect_create(stub):
    stub.add_response("create_job", {"jobId": JOB}, dict(
        WHERE, template=ANY, templateType="YAML", parameters=ANY, priority=50,
        maxRetriesPerTask=1, clientToken=ANY, targetTaskRunStatus="READY", attachments=ANY))


def task_id(index):
    return "task-%s-%d" % ("3" * 32, index)


def action_id(number):
    """The id of the ``number``-th session action (1, 2, …) a test Agent ran: what ListTasks
    gives as ``latestSessionActionId`` of the task it ran last."""
    return "sessionaction-%s-%d" % ("4" * 32, number)


def task(index, run, ended=None, last=None):
    found = {"taskId": task_id(index), "createdAt": NOW, "createdBy": "artist", "runStatus": run,
             "parameters": {"Item": {"int": str(index)}}}
    if ended:
        found["endedAt"] = ended
    if last:
        found["latestSessionActionId"] = last
    return found


def job(sent, run, counts):
    """A job as BatchGetJob returns it, with the parameters and attachments it was created
    with."""
    return dict(WHERE, jobId=JOB, name="export", lifecycleStatus="CREATE_COMPLETE",
                lifecycleStatusMessage="", priority=50, createdAt=NOW, createdBy="artist",
                taskRunStatus=run, taskRunStatusCounts=counts, parameters=sent["parameters"],
                attachments=sent["attachments"])


def expect_tasks(stub, tasks, steps=True):
    if steps:
        stub.add_response("list_steps", {"steps": [{
            "stepId": STEP, "name": "work", "lifecycleStatus": "CREATE_COMPLETE",
            "taskRunStatus": "RUNNING", "taskRunStatusCounts": {"RUNNING": 1},
            "createdAt": NOW, "createdBy": "artist"}]}, dict(WHERE, jobId=JOB, maxResults=100))
    stub.add_response("list_tasks", {"tasks": tasks},
                      dict(WHERE, jobId=JOB, stepId=STEP, maxResults=100))


def capture_create(farm):
    """What CreateJob was sent (the Stubber checks it against the model)."""
    sent = {}

    def capture(params, **_):
        sent.update(params)
    farm.client.meta.events.register_first("before-parameter-build.deadline.CreateJob", capture)
    return sent


def s3_keys(session):
    answer = session.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(entry["Key"] for entry in answer.get("Contents") or [])


# -- the worker agent's part, with the deadline library and openjd-sessions --------------------

class Agent:
    """One worker agent session for the job CreateJob created: inputs synced into a session
    folder, the environment entered, tasks run, outputs synced after each task that
    succeeded, the environment exited."""

    def __init__(self, sent, s3_session, folder):
        from deadline.job_attachments.asset_sync import AssetSync
        from deadline.job_attachments.models import (Attachments, JobAttachmentS3Settings,
                                                     ManifestProperties, PathFormat)
        self.sent, self.folder = sent, str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.s3 = JobAttachmentS3Settings(s3BucketName=BUCKET, rootPrefix=ROOT_PREFIX)
        self.attachments = Attachments(manifests=[ManifestProperties(
            rootPath=m["rootPath"], rootPathFormat=PathFormat(m["rootPathFormat"]),
            inputManifestPath=m.get("inputManifestPath"),
            inputManifestHash=m.get("inputManifestHash"),
            outputRelativeDirectories=m.get("outputRelativeDirectories"))
            for m in sent["attachments"]["manifests"]], fileSystem="COPIED")
        self.sync = AssetSync(FARM, boto3_session=s3_session)
        self.actions = 0

    def run(self, items):
        """Run ``items`` as tasks of one session: ``{item: ActionState}``. An item is a work id
        (task ``task_id(id)``), or a TASK_CHUNKING chunk ``"0-2"`` (task ``task_id(its
        position)``), as the queue formed it."""
        import yaml
        from openjd.model import (ParameterValue, ParameterValueType, create_job,
                                  decode_job_template)
        from openjd.sessions import ActionState, PathMappingRule, Session
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the agent's calls, as it is
            _, rules = self.sync.sync_inputs(s3_settings=self.s3, attachments=self.attachments,
                                             queue_id=QUEUE, job_id=JOB,
                                             session_dir=_path(self.folder))
        values = {name: ParameterValue(type=ParameterValueType(next(iter(value)).upper()),
                                       value=next(iter(value.values())))
                  for name, value in self.sent["parameters"].items()}
        template = decode_job_template(template=yaml.safe_load(self.sent["template"]),
                                       supported_extensions=["TASK_CHUNKING"])
        [step] = create_job(job_template=template, job_parameter_values=values).steps
        ended = threading.Event()
        status = {}

        def callback(session_id, action):
            if action.state != ActionState.RUNNING:
                status["last"] = action
                ended.set()

        def wait(begin):
            ended.clear()
            found = begin()
            ended.wait(60)
            return found, status["last"]
        states = {}
        session = Session(session_id="session-" + "4" * 32, job_parameter_values=values,
                          callback=callback, session_root_directory=_path(self.folder),
                          path_mapping_rules=[PathMappingRule.from_dict(r) for r in rules])
        try:
            [environment] = step.stepEnvironments
            entered, action = wait(lambda: session.enter_environment(
                environment=environment, step_name=step.name))
            assert action.state == ActionState.SUCCESS, action
            for number, item in enumerate(items):
                began = datetime.datetime.now().timestamp()
                kind = ParameterValueType.CHUNK_INT if isinstance(item, str) \
                    else ParameterValueType.INT
                _, action = wait(lambda: session.run_task(
                    step_script=step.script, step_name=step.name, task_parameter_values={
                        "Item": ParameterValue(type=kind, value=str(item))}))
                states[item] = action.state
                self.actions += 1
                if action.state == ActionState.SUCCESS:  # the agent syncs outputs only then
                    self.upload_outputs(None if isinstance(item, str) else task_id(item),
                                        action_id(self.actions), began)
            wait(lambda: session.exit_environment(identifier=entered))
        finally:
            session.cleanup()
        return states

    def upload_outputs(self, task, session_action, began):
        """What the agent uploads after a task that succeeded: the files its output folder
        gained, and an output manifest in ``<job>/<step>/<task>/<time>_<action>/`` (the
        agent's ``sync_outputs``), or, for a TASK_CHUNKING chunk (``task`` None), in
        ``<job>/<step>/<time>_<action>/``: the layout the ``deadline`` library reads chunked
        steps' outputs from. ``sync_outputs`` cannot write that one (it needs a task id), so
        a chunk's are uploaded with the lower-level steps ``sync_outputs`` is made of."""
        from deadline.job_attachments._utils import (_float_to_iso_datetime_string,
                                                     _get_unique_dest_dir_name, _join_s3_paths)
        if task is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.sync.sync_outputs(
                    s3_settings=self.s3, attachments=self.attachments, queue_id=QUEUE,
                    job_id=JOB, step_id=STEP, task_id=task, session_action_id=session_action,
                    start_time=began, session_dir=_path(self.folder))
            return
        prefix = _join_s3_paths(self.s3.full_step_output_prefix(FARM, QUEUE, JOB, STEP),
                                "%s_%s" % (_float_to_iso_datetime_string(began), session_action))
        for manifest in self.attachments.manifests:
            files = self.sync._get_output_files(
                manifest, self.s3, _path(self.folder) / _get_unique_dest_dir_name(
                    manifest.rootPath), _path(self.folder))
            if files:
                self.sync._upload_output_manifest_to_s3(
                    s3_settings=self.s3, output_manifest=self.sync._generate_output_manifest(
                        files), full_output_prefix=prefix, root_path=manifest.rootPath)
                self.sync._upload_output_files_to_s3(self.s3, files, None)


def _path(folder):
    from pathlib import Path
    return Path(folder)


# -- submit ----------------------------------------------------------------------------------

def test_submit_uploads_the_payloads_and_create_job_carries_their_manifest(deadline, bucket):
    farm, stub = deadline
    sent = capture_create(farm)
    expect_queue(stub)
    expect_queue_role(stub)
    expect_create(stub)
    spec = JobSpec(name="export", prototype="dccfutures", fields={},
                   work=[WorkSpec(package=b"calls %d" % i) for i in range(2)])
    assert farm.submit([spec]) == [JOB]
    stub.assert_no_pending_responses()
    [manifest] = sent["attachments"]["manifests"]
    folder = manifest["rootPath"]
    assert sent["parameters"]["Output"] == {"path": os.path.join(folder, "output")}
    assert sent["parameters"]["Payload"] == {"path": os.path.join(folder, "bundle", "payload")}
    assert manifest["outputRelativeDirectories"] == ["output"]
    assert sent["attachments"]["fileSystem"] == "COPIED"
    # The job folder is a private one of the farm home; the payloads are in the bucket.
    assert os.path.dirname(folder) == os.path.join(farm_home(), "deadline")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    keys = s3_keys(bucket)
    assert any(key.startswith(ROOT_PREFIX + "/Data/") for key in keys)
    assert ROOT_PREFIX + "/Manifests/" + manifest["inputManifestPath"] in keys
    data = [key for key in keys if key.startswith(ROOT_PREFIX + "/Data/")]
    assert len(data) == 3  # job.json and the calls of the 2 items


def farm_home():
    return os.path.realpath(os.environ["DCCFUTURES_HOME"])


def test_an_upload_that_fails_is_one_line_and_no_job_is_created(deadline, s3):
    """No bucket: the library's upload fails; CreateJob is never sent (the Stubber would
    refuse it: none is expected) and no job folder is left."""
    farm, stub = deadline
    expect_queue(stub)
    expect_queue_role(stub)
    spec = JobSpec(name="export", prototype="dccfutures", fields={},
                   work=[WorkSpec(package=b"calls")])
    with pytest.raises(FarmError) as caught:
        farm.submit([spec])
    message = str(caught.value)
    assert "\n" not in message
    assert "not uploaded" in message and "s3://%s/%s" % (BUCKET, ROOT_PREFIX) in message
    assert "NoSuchBucket" in message or "does not exist" in message
    stub.assert_no_pending_responses()
    root = os.path.join(farm_home(), "deadline")
    assert [name for name in os.listdir(root) if name.startswith("dccfutures-")] == []


def test_no_spool_and_no_job_attachments_is_one_line_naming_both(deadline):
    farm, stub = deadline
    expect_queue(stub, attachments=False)
    with pytest.raises(FarmError) as caught:
        farm.submit([JobSpec(name="x", prototype="dccfutures", fields={},
                             work=[WorkSpec(package=b"calls")])])
    message = str(caught.value)
    assert "deadline.spool_dir" in message and "job attachments" in message
    assert "\n" not in message
    stub.assert_no_pending_responses()


# -- the round trip --------------------------------------------------------------------------

def test_a_future_resolves_with_the_result_the_worker_synced(deadline, bucket, tmp_path):
    """submit -> upload -> the agent syncs the inputs, runs the task for real, syncs its
    outputs -> the poller downloads the item's result -> the future has it."""
    farm, stub = deadline
    sent = capture_create(farm)
    ran = {}

    def created(params, **_):  # the job as created, seen by the first poll as ended
        stub.add_response("batch_get_job", {"jobs": [job(params, "SUCCEEDED", {"SUCCEEDED": 1})],
                                            "errors": []}, {"identifiers": ANY})

    def worker(params, **_):  # the agent runs the task before the poll looks
        if not ran:
            ran.update(Agent(sent, bucket, tmp_path / "agent").run([0]))
            expect_tasks(stub, [task(0, "SUCCEEDED", ended=NOW, last=action_id(1))])
    farm.client.meta.events.register_first("before-parameter-build.deadline.CreateJob", created)
    farm.client.meta.events.register_first("before-parameter-build.deadline.BatchGetJob",
                                           worker)
    expect_queue(stub)
    expect_queue_role(stub)
    expect_create(stub)
    future = Executor(farm="deadline").submit(divmod, 17, 5)
    assert future.result(timeout=60) == (3, 2)
    stub.assert_no_pending_responses()
    from openjd.sessions import ActionState
    assert ran == {0: ActionState.SUCCESS}


def round_trip(farm, stub, bucket, tmp_path, calls, tasks=None):
    """Submit ``calls`` (one item each) through the farm, run them all in one agent session
    (one task each, or the chunks ``tasks``); the tasks' end as the next poll sees it."""
    sent = capture_create(farm)
    expect_queue(stub)
    expect_queue_role(stub)
    expect_create(stub)
    spec = JobSpec(name="export", prototype="dccfutures", fields={},
                   package={"python": sys.executable}, work=[
                       WorkSpec(package=payload.encode_calls([(func, args, {})], 10 ** 8))
                       for func, args in calls])
    assert farm.submit([spec]) == [JOB]
    states = Agent(sent, bucket, tmp_path / "agent").run(tasks or range(len(calls)))
    return sent, states


def outcome(found):
    return payload.unpack(payload.decode_outcomes(found[1])[0])


def test_a_raising_item_brings_its_remote_traceback_and_the_other_its_value(
        deadline, bucket, tmp_path, mocker):
    import operator
    farm, stub = deadline
    sent, states = round_trip(farm, stub, bucket, tmp_path,
                              [(operator.truediv, (1, 4)), (operator.truediv, (1, 0))])
    from openjd.sessions import ActionState
    assert states == {0: ActionState.SUCCESS, 1: ActionState.SUCCESS}  # a raise is a result
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 2})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [task(0, "SUCCEEDED", ended=NOW, last=action_id(1)),
                        task(1, "SUCCEEDED", ended=NOW, last=action_id(2))])
    from deadline.job_attachments import download
    listed = mocker.spy(download, "get_output_manifests_by_asset_root")
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, FAILED]
    assert listed.call_count == 2  # one output manifest lookup per task that SUCCEEDED
    found = farm.results([(JOB, 0), (JOB, 1)])
    assert outcome(found[(JOB, 0)]) == (True, 0.25)
    good, error = outcome(found[(JOB, 1)])
    assert not good and isinstance(error, ZeroDivisionError)
    assert "ZeroDivisionError" in str(error.__cause__) and "Traceback" in str(error.__cause__)
    # Another cycle: the job is unchanged, nothing is listed or downloaded again.
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 2})],
                                        "errors": []}, {"identifiers": ANY})
    assert farm.poll([JOB]) == {}
    farm.results([(JOB, 0), (JOB, 1)])
    assert listed.call_count == 2
    stub.assert_no_pending_responses()
    # What was downloaded is in the job's private folder, and only the items' results.
    folder = sent["attachments"]["manifests"][0]["rootPath"]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert sorted(os.listdir(os.path.join(folder, "output", "work", "0"))) == [
        "outcomes.bin", "result.json"]


def test_a_task_that_succeeded_without_uploading_a_result_fails_with_why(
        deadline, bucket, tmp_path):
    """Item 1's task is reported SUCCEEDED, but no agent ran it: no output manifest. Its
    future must end (one line saying why), not wait."""
    farm, stub = deadline
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-2,))])
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [task(0, "SUCCEEDED", ended=NOW, last=action_id(1))])
    assert farm.poll([JOB])[JOB].work[0].status == COMPLETE
    # The same job seen again with item 0's task requeued (the same task, as Deadline Cloud
    # keeps it) and succeeded in a new session action that uploaded no outputs: the first
    # run's manifest is not taken for it.
    later = NOW + datetime.timedelta(minutes=5)
    stub.add_response("batch_get_job", {"jobs": [dict(job(sent, "SUCCEEDED", {"SUCCEEDED": 1}),
                                                      updatedAt=later)],
                                        "errors": []}, {"identifiers": ANY})
    stub.add_response("list_tasks", {"tasks": [
        task(0, "SUCCEEDED", ended=later, last=action_id(7))]},
        dict(WHERE, jobId=JOB, stepId=STEP, maxResults=100))
    state = farm.poll([JOB])[JOB]
    assert state.work[0].status == FAILED
    good, error = outcome(farm.results([(JOB, 0)])[(JOB, 0)])
    assert not good and isinstance(error, FarmError)
    assert "SUCCEEDED but" in str(error) and "no output manifest" in str(error)
    assert "\n" not in str(error)


def test_a_failed_task_ends_its_future_without_looking_in_s3(deadline, bucket, tmp_path, mocker):
    farm, stub = deadline
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-2,))])
    stub.add_response("batch_get_job", {"jobs": [job(sent, "FAILED", {"FAILED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [task(0, "FAILED", ended=NOW, last=action_id(1))])
    from deadline.job_attachments import download
    listed = mocker.spy(download, "get_output_manifests_by_asset_root")
    assert farm.poll([JOB])[JOB].work[0].status == FAILED
    good, error = outcome(farm.results([(JOB, 0)])[(JOB, 0)])
    assert not good and "ended without a result (its task is FAILED" in str(error)
    assert "its log says why" in str(error)
    assert listed.call_count == 0


def test_s3_unreadable_is_asked_again_then_fails_with_why(deadline, bucket, tmp_path,
                                                          monkeypatch):
    """The bucket cannot be read: the item stays running while S3 may come back (for
    RESULT_GRACE seconds, here none), then its future fails naming the error."""
    from dccfutures.farms import deadline as deadline_module
    farm, stub = deadline
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-2,))])
    for key in s3_keys(bucket):
        bucket.client("s3").delete_object(Bucket=BUCKET, Key=key)
    bucket.client("s3").delete_bucket(Bucket=BUCKET)
    monkeypatch.setattr(deadline_module, "RESULT_GRACE", 0.0)
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [task(0, "SUCCEEDED", ended=NOW, last=action_id(1))])
    assert farm.poll([JOB])[JOB].work[0].status == RUNNING
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    assert farm.poll([JOB])[JOB].work[0].status == FAILED
    good, error = outcome(farm.results([(JOB, 0)])[(JOB, 0)])
    assert not good and "s3://%s/%s could not be read" % (BUCKET, ROOT_PREFIX) in str(error)
    assert "NoSuchBucket" in str(error)
    assert "\n" not in str(error)


def test_a_refused_create_job_leaves_no_job_folder(deadline, bucket):
    farm, stub = deadline
    expect_queue(stub)
    expect_queue_role(stub)
    stub.add_client_error("create_job", "ValidationException", "the template is not valid", 400)
    with pytest.raises(FarmError) as caught:
        farm.submit([JobSpec(name="x", prototype="dccfutures", fields={},
                             work=[WorkSpec(package=b"calls")])])
    assert "the template is not valid" in str(caught.value) and "\n" not in str(caught.value)
    stub.assert_no_pending_responses()
    root = os.path.join(farm_home(), "deadline")
    assert [name for name in os.listdir(root) if name.startswith("dccfutures-")] == []


def test_a_process_on_another_machine_downloads_into_a_private_folder_of_its_own(
        deadline, bucket, tmp_path, monkeypatch):
    """The job folder is not on this machine (another farm home): the result is downloaded
    into a new 0700 folder of this one's, named after the job."""
    from dccfutures.farms.deadline import DeadlineFarm
    farm, stub = deadline
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-5,))])
    monkeypatch.setenv("DCCFUTURES_HOME", str(tmp_path / "other-home"))
    other = DeadlineFarm(config_module.load())
    with botocore_stub.Stubber(other.client) as other_stub:
        other_stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {
            "SUCCEEDED": 1})], "errors": []}, {"identifiers": ANY})
        expect_tasks(other_stub, [task(0, "SUCCEEDED", ended=NOW, last=action_id(1))])
        expect_queue(other_stub)
        expect_queue_role(other_stub)
        found = other.results([(JOB, 0)])
        other_stub.assert_no_pending_responses()
    assert outcome(found[(JOB, 0)]) == (True, 5)
    folder = str(tmp_path / "other-home" / "deadline" / ("dccfutures-" + "1" * 32))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert os.path.exists(os.path.join(folder, "output", "work", "0", "outcomes.bin"))


def test_jobs_lists_the_jobs_of_our_private_folder(deadline, bucket, tmp_path):
    farm, stub = deadline
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-5,))])
    ours = {"jobId": JOB, "queueId": QUEUE, "name": "export", "lifecycleStatus": "CREATE_COMPLETE",
            "taskRunStatus": "SUCCEEDED", "taskRunStatusCounts": {"SUCCEEDED": 1},
            "priority": 50, "createdBy": "artist", "createdAt": NOW,
            "jobParameters": sent["parameters"]}
    theirs = dict(ours, jobId="job-" + "2" * 32, jobParameters={
        "Output": {"path": "/elsewhere/dccfutures-%s/output" % ("9" * 32)}})
    stub.add_response("search_jobs", {"jobs": [ours, theirs], "totalResults": 2}, {
        "farmId": FARM, "queueIds": [QUEUE], "itemOffset": 0, "pageSize": 50,
        "sortExpressions": [{"fieldSort": {"name": "CREATED_AT", "sortOrder": "DESCENDING"}}]})
    assert [info.id for info in farm.jobs()] == [JOB]


def test_clean_removes_old_attachment_job_folders_of_the_farm_home(farm_home, capsys):
    """The job folders of attachment jobs live in ``<home>/deadline``: ``dccfutures clean``
    removes those untouched for longer than the retention, not a fresh one."""
    import time
    import uuid
    from dccfutures import cli
    root = os.path.join(farm_home, "deadline")
    os.makedirs(root, 0o700)
    os.chmod(farm_home, 0o700)
    old, fresh = (os.path.join(root, "dccfutures-%s" % uuid.uuid4().hex) for _ in range(2))
    for folder in (old, fresh):
        os.makedirs(os.path.join(folder, "output"))
    then = time.time() - 30 * 86400
    for path in (os.path.join(old, "output"), old):
        os.utime(path, (then, then))
    assert cli.main(["clean", "--older-than", "7"]) == 0
    assert "removed 1 Deadline Cloud job folder older than 7 days from %s" % root \
        in capsys.readouterr().out
    assert not os.path.exists(old) and os.path.isdir(fresh)


# -- TASK_CHUNKING: one task, several items, one output manifest -------------------------------

@pytest.fixture
def chunked(farm_config, farm_home, s3):
    """The deadline farm with job attachments and ``task_chunking: 3``."""
    yield from stubbed_farm(farm_config, ", task_chunking: 3")


def test_every_result_of_a_chunk_comes_back_from_its_tasks_one_output_manifest(
        chunked, bucket, tmp_path, mocker):
    """A chunked job run for real: the agent runs the chunk ``0-2`` as one task under
    openjd-sessions and syncs its outputs once; our poll reads that task's output manifest
    once and downloads the three items' results; the raising item fails alone."""
    import operator
    farm, stub = chunked
    sent, states = round_trip(farm, stub, bucket, tmp_path,
                              [(operator.truediv, (1, 4)), (operator.truediv, (1, 0)),
                               (abs, (-3,))], tasks=["0-2"])
    from openjd.sessions import ActionState
    assert states == {"0-2": ActionState.SUCCESS}
    manifests = [key for key in s3_keys(bucket) if key.endswith("_output")]
    assert manifests and all("/task-" not in key for key in manifests)  # at the step level
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [dict(task(0, "SUCCEEDED", ended=NOW, last=action_id(1)),
                             parameters={"Item": {"chunkInt": "0-2"}})])
    from deadline.job_attachments import download
    listed = mocker.spy(download, "get_output_manifests_by_asset_root")
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, FAILED, COMPLETE]
    assert listed.call_count == 1
    found = farm.results([(JOB, 0), (JOB, 1), (JOB, 2)])
    assert outcome(found[(JOB, 0)]) == (True, 0.25)
    assert outcome(found[(JOB, 2)]) == (True, 3)
    good, error = outcome(found[(JOB, 1)])
    assert not good and isinstance(error, ZeroDivisionError)
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    assert farm.poll([JOB]) == {}
    assert listed.call_count == 1  # never downloaded twice
    stub.assert_no_pending_responses()


def test_an_item_missing_from_its_chunks_output_manifest_fails_alone(chunked, bucket, tmp_path):
    """The task's manifest holds items 0 and 1 but the chunk covers 0-2: item 2 fails naming
    what the manifest lacks; the others have their results."""
    farm, stub = chunked
    sent, _ = round_trip(farm, stub, bucket, tmp_path, [(abs, (-1,)), (abs, (-2,)), (abs, (-3,))],
                         tasks=["0-1"])
    stub.add_response("batch_get_job", {"jobs": [job(sent, "SUCCEEDED", {"SUCCEEDED": 1})],
                                        "errors": []}, {"identifiers": ANY})
    expect_tasks(stub, [dict(task(0, "SUCCEEDED", ended=NOW, last=action_id(1)),
                             parameters={"Item": {"chunkInt": "0-2"}})])
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, COMPLETE, FAILED]
    found = farm.results([(JOB, 0), (JOB, 1), (JOB, 2)])
    assert [outcome(found[(JOB, i)]) for i in (0, 1)] == [(True, 1), (True, 2)]
    good, error = outcome(found[(JOB, 2)])
    assert not good and "SUCCEEDED but the output manifest of %s (%s) has no output/work/2/" \
        % (task_id(0), action_id(1)) in str(error)


# -- results of other jobs -------------------------------------------------------------------

JOB2 = "job-" + "2" * 32
UPSTREAM = object()  # pickled as a reference to JOB2's item 0


def expect_upstream(stub, run):
    """JOB2, the job new work depends on, as BatchGetJob, ListSteps and ListTasks show it."""
    stub.add_response("batch_get_job", {"jobs": [dict(
        WHERE, jobId=JOB2, name="cache", lifecycleStatus="CREATE_COMPLETE",
        lifecycleStatusMessage="", priority=50, createdAt=NOW, createdBy="artist",
        taskRunStatus=run, taskRunStatusCounts={run: 1})], "errors": []}, {"identifiers": ANY})
    stub.add_response("list_steps", {"steps": [{
        "stepId": STEP, "name": "work", "lifecycleStatus": "CREATE_COMPLETE",
        "taskRunStatus": run, "taskRunStatusCounts": {run: 1},
        "createdAt": NOW, "createdBy": "artist"}]}, dict(WHERE, jobId=JOB2, maxResults=100))
    stub.add_response("list_tasks", {"tasks": [task(0, run)]},
                      dict(WHERE, jobId=JOB2, stepId=STEP, maxResults=100))


def waiting_on_upstream(*args):
    """A job whose call is ``abs(*args)``, waiting on JOB2's item 0 (``UPSTREAM`` in
    ``args`` takes its result)."""
    calls = payload.encode_calls([(abs, args, {})], 10 ** 8, reference=lambda o: (
        payload.DEPENDENCY, JOB2, 0, 0) if o is UPSTREAM else None)
    return JobSpec(name="render", prototype="dccfutures", fields={},
                   work=[WorkSpec(calls, depends_on=[(JOB2, 0)])])


def test_a_call_taking_another_jobs_result_is_refused_at_once(deadline, bucket):
    """With job attachments the worker has only this job's inputs, never another job's
    outputs: ``ex.submit(f, future_of_another_job)`` is one line saying so, and nothing is
    uploaded or created."""
    farm, stub = deadline
    expect_queue(stub)
    with pytest.raises(FarmError) as caught:
        farm.submit([waiting_on_upstream(UPSTREAM)])
    message = str(caught.value)
    assert "\n" not in message
    assert "%s:0" % JOB2 in message and "job attachments" in message
    assert "no copy" in message and "deadline.spool_dir" in message
    stub.assert_no_pending_responses()
    assert s3_keys(bucket) == []
    root = os.path.join(farm_home(), "deadline")
    assert not os.path.isdir(root) or \
        [name for name in os.listdir(root) if name.startswith("dccfutures-")] == []


def test_work_that_only_waits_on_another_job_is_held_not_refused(deadline, bucket):
    """``depends_on=[future]`` without taking its value needs nothing of the other job's
    outputs: created SUSPENDED for the watcher, as on shared storage."""
    farm, stub = deadline
    expect_queue(stub)
    expect_upstream(stub, "RUNNING")
    expect_queue_role(stub)
    stub.add_response("create_job", {"jobId": JOB}, dict(
        WHERE, template=ANY, templateType="YAML", parameters=ANY, priority=50,
        maxRetriesPerTask=1, clientToken=ANY, targetTaskRunStatus="SUSPENDED",
        attachments=ANY))
    assert farm.submit([waiting_on_upstream(-4)]) == [JOB]
    stub.assert_no_pending_responses()
