"""The Deadline Cloud farm's API path, checked against the real service model.

Deadline Cloud itself cannot be reached from here. Every request the farm makes goes through
boto3's real ``deadline`` client, whose bundled service model ``botocore.stub.Stubber`` checks
it against (operation, parameter names, types, required members); every response given back
is validated against the model's output shapes. What the queue's workers would write (results,
progress, logs) is written in the Output folder layout of :mod:`dccfutures.runtime.openjd`.
"""
import datetime
import json
import os
import socket

import pytest

from dccfutures import Executor, JobRemovedError, config as config_module, farms, payload
from dccfutures.errors import ConfigError, FarmError
from dccfutures.farms.base import (BLOCKED, COMPLETE, FAILED, KILLED, PENDING, REMOVED, RUNNING,
                                   JobSpec, WorkSpec, work_error)
from dccfutures.farms.deadline import DeadlineFarm, deadline_priority
from dccfutures.runtime import openjd as runtime

botocore_stub = pytest.importorskip("botocore.stub", reason="pip install boto3")

from tests.deadline_fixtures import FARM, QUEUE, aws, credentials, stubbed_farm  # noqa: E402,F401

JOB = "job-" + "1" * 32
JOB2 = "job-" + "2" * 32
STEP = "step-" + "3" * 32
WHERE = {"farmId": FARM, "queueId": QUEUE}
NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.timezone.utc)
ANY = botocore_stub.ANY


@pytest.fixture
def spool(tmp_path):
    return str(tmp_path / "spool")


@pytest.fixture
def deadline_config(farm_config, farm_home, aws, spool):
    farm_config(extra="farm: deadline\ndeadline: {farm_id: %s, queue_id: %s, spool_dir: %s, "
                      "poll_min: 0.02, poll_max: 0.2}\n" % (FARM, QUEUE, spool))
    farms.forget()
    yield config_module.load()
    farms.forget()


@pytest.fixture
def deadline(deadline_config, credentials):
    """The process's deadline farm, its real client under a Stubber."""
    farm = farms.get_farm("deadline", deadline_config)
    stub = botocore_stub.Stubber(farm.client)
    stub.activate()
    yield farm, stub
    stub.deactivate()


def job_spec(items=1, **fields):
    return JobSpec(name="export", prototype="dccfutures", fields=fields,
                   work=[WorkSpec(package=b"calls %d" % i, name="item%d" % i)
                         for i in range(items)])


def job(job_id=JOB, run="RUNNING", counts=None, target=None, lifecycle="CREATE_COMPLETE",
        output=None, **extra):
    """A job as GetJob/BatchGetJob return it (the API reference's members)."""
    found = dict(WHERE, jobId=job_id, name="export", lifecycleStatus=lifecycle,
                 lifecycleStatusMessage="", priority=50, createdAt=NOW, createdBy="artist",
                 taskRunStatus=run, taskRunStatusCounts=counts or {run: 1}, **extra)
    if target:
        found["targetTaskRunStatus"] = target
    if output:
        found["parameters"] = {"Output": {"path": output}}
    return found


def task(index, run, target=None, ended=None, action=None):
    found = {"taskId": "task-%s-%d" % ("3" * 32, index), "createdAt": NOW,
             "createdBy": "artist", "runStatus": run, "parameters": {"Item": {"int": str(index)}}}
    if target:
        found["targetRunStatus"] = target
    if ended:
        found["endedAt"] = ended
    if action:
        found["latestSessionActionId"] = action
    return found


def expect_tasks(stub, job_id, tasks, steps=True, more=None):
    if steps:
        stub.add_response("list_steps", {"steps": [{
            "stepId": STEP, "name": "work", "lifecycleStatus": "CREATE_COMPLETE",
            "taskRunStatus": "RUNNING", "taskRunStatusCounts": {"RUNNING": 1},
            "createdAt": NOW, "createdBy": "artist"}]}, dict(WHERE, jobId=job_id, maxResults=100))
    stub.add_response("list_tasks", dict({"tasks": tasks}, **({"nextToken": more} if more else {})),
                      dict(WHERE, jobId=job_id, stepId=STEP, maxResults=100))


def expect_create(stub, job_id, target="READY", **request):
    expected = dict(WHERE, template=ANY, templateType="YAML", parameters=ANY, priority=50,
                    maxRetriesPerTask=1, clientToken=ANY, targetTaskRunStatus=target)
    expected.update(request)
    stub.add_response("create_job", {"jobId": job_id}, expected)


def expect_batch_get(stub, jobs, missing=()):
    stub.add_response("batch_get_job", {"jobs": jobs, "errors": [
        dict(WHERE, jobId=job_id, code="ResourceNotFoundException", message="job not found")
        for job_id in missing]}, {"identifiers": ANY})


def output_of(farm, job_id):
    return farm._jobs[job_id].output


def report(output, work_id, status, outcomes):
    """What a task writes when its item ends (runtime.openjd's layout): outcomes, then the
    result that marks the end."""
    folder = runtime.item_folder(output, work_id)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, runtime.OUTCOMES), "wb") as handle:
        handle.write(outcomes)
    with open(os.path.join(folder, runtime.RESULT), "w") as handle:
        json.dump({"status": status}, handle)


def ok(value):
    return payload.encode_outcomes([payload.ok(value)])


def raised(error):
    return payload.encode_outcomes([payload.failure(error, "Traceback: ...\n")])


def submitted(farm, stub, items=1, job_id=JOB, **fields):
    request = {"priority": deadline_priority(fields.get("priority"))}
    if "cpus" in fields:
        request["maxWorkerCount"] = fields["cpus"]
    expect_create(stub, job_id, **request)
    ids = farm.submit([job_spec(items, **fields)])
    assert ids == [job_id]
    return farm._jobs[job_id].output


# -- submit ----------------------------------------------------------------------------------

def test_submit_creates_one_job_from_the_bundle_with_its_parameters(deadline, spool):
    farm, stub = deadline
    expect_create(stub, JOB, priority=90, maxWorkerCount=3)
    assert farm.submit([job_spec(3, priority=10, cpus=3)]) == [JOB]
    stub.assert_no_pending_responses()
    folder = os.path.dirname(output_of(farm, JOB))
    with open(os.path.join(folder, "bundle", "template.yaml")) as handle:
        template = handle.read()
    assert "Item" in template and "specificationVersion: jobtemplate-2023-09" in template
    assert os.path.dirname(folder) == spool


def test_the_create_request_carries_the_bundle_template_and_typed_parameters(deadline):
    farm, stub = deadline
    sent = {}

    def capture(params, **_):
        sent.update(params)
    farm.client.meta.events.register_first("before-parameter-build.deadline.CreateJob", capture)
    expect_create(stub, JOB)
    farm.submit([job_spec(2)])
    output = output_of(farm, JOB)
    folder = os.path.dirname(output)
    assert sent["parameters"]["Output"] == {"path": output}
    assert sent["parameters"]["Payload"] == {"path": os.path.join(folder, "bundle", "payload")}
    assert set(sent["parameters"]["DccfuturesPython"]) == {"string"}
    assert sent["template"].startswith("specificationVersion")
    assert sent["clientToken"] == os.path.basename(folder)[len("dccfutures-"):]


def test_reservations_become_the_host_requirements_of_the_template_sent(deadline):
    """A TD's ``reservations="host.processors=8,host.memory=16000"`` reaches Deadline Cloud as
    the steps' host requirements (the fleets' workers that may take the tasks)."""
    import yaml
    farm, stub = deadline
    sent = {}
    farm.client.meta.events.register_first("before-parameter-build.deadline.CreateJob",
                                           lambda params, **_: sent.update(params))
    expect_create(stub, JOB)
    farm.submit([job_spec(2, reservations="host.processors=8,host.memory=16000")])
    steps = yaml.safe_load(sent["template"])["steps"]
    amounts = {amount["name"]: amount["min"]
               for step in steps for amount in step["hostRequirements"]["amounts"]}
    assert amounts == {"amount.worker.vcpu": 8, "amount.worker.memory": 16000}


def test_the_bundle_carries_the_configs_log_cap_to_the_workers(deadline):
    """``deadline.max_log_mb`` caps an item's output on the worker too (its log.txt and the
    session log), not only when a client reads it."""
    import json
    farm, stub = deadline
    expect_create(stub, JOB)
    farm.submit([job_spec(1)])
    folder = os.path.dirname(output_of(farm, JOB))
    with open(os.path.join(folder, "bundle", "payload", "job.json")) as handle:
        assert json.load(handle)["package"]["max_log_mb"] == farm.settings.max_log_mb


@pytest.mark.parametrize("ours, theirs", [(None, 50), (0, 100), (10, 90), (100, 0), (9999, 0)])
def test_priority_maps_lower_first_onto_deadlines_higher_first(ours, theirs):
    assert deadline_priority(ours) == theirs


def test_a_failed_create_leaves_nothing_half_submitted(deadline, spool):
    """Two jobs: each is created suspended; the second is refused, so the first is
    cancelled and archived before it could run, and no job folder stays in the spool."""
    farm, stub = deadline
    expect_create(stub, JOB, target="SUSPENDED")
    stub.add_client_error("create_job", "ServiceQuotaExceededException",
                          "too many jobs in the queue", 402)
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, targetTaskRunStatus="CANCELED"))
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, lifecycleStatus="ARCHIVED"))
    with pytest.raises(FarmError) as caught:
        farm.submit([job_spec(), job_spec()])
    stub.assert_no_pending_responses()
    assert "too many jobs in the queue" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert os.listdir(spool) == []


def test_several_jobs_are_released_once_all_exist(deadline):
    farm, stub = deadline
    expect_create(stub, JOB, target="SUSPENDED")
    expect_create(stub, JOB2, target="SUSPENDED")
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, targetTaskRunStatus="READY"))
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB2, targetTaskRunStatus="READY"))
    assert farm.submit([job_spec(), job_spec()]) == [JOB, JOB2]
    stub.assert_no_pending_responses()


def test_no_credentials_is_one_line_naming_what_to_set(deadline_config, spool):
    farm = farms.get_farm("deadline", deadline_config)
    with pytest.raises(FarmError) as caught:
        farm.submit([job_spec()])
    message = str(caught.value)
    assert "no AWS credentials" in message and "deadline.profile" in message
    assert "AWS_PROFILE" in message and "deadline auth login" in message
    assert "\n" not in message
    assert not os.path.exists(spool) or os.listdir(spool) == []


def test_an_unreachable_endpoint_is_one_line_and_nothing_is_left(deadline_config, credentials,
                                                                   monkeypatch, spool):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_DEADLINE", "http://127.0.0.1:%d" % port)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    farm = farms.get_farm("deadline", deadline_config)
    with pytest.raises(FarmError) as caught:
        farm.submit([job_spec()])
    message = str(caught.value)
    assert "Deadline Cloud did not take the job" in message and "127.0.0.1" in message
    assert "\n" not in message
    assert os.listdir(spool) == []


def test_farm_and_queue_come_from_the_deadline_cli_config(farm_config, farm_home, aws,
                                                          credentials, tmp_path):
    pytest.importorskip("deadline.client.config", reason="pip install 'deadline==0.60.*'")
    with open(str(tmp_path / "deadline-config"), "w") as handle:
        handle.write("[defaults]\naws_profile_name = \n\n[profile- defaults]\nfarm_id = %s\n\n"
                     "[profile- %s defaults]\nqueue_id = %s\n" % (FARM, FARM, QUEUE))
    farm_config(extra="deadline: {spool_dir: %s}\n" % (tmp_path / "spool"))
    farms.forget()
    farm = DeadlineFarm(config_module.load())
    assert (farm.farm_id, farm.queue_id) == (FARM, QUEUE)


def test_without_a_farm_id_the_error_names_the_key(farm_config, farm_home, aws, credentials,
                                                   spool):
    farm_config(extra="deadline: {queue_id: %s, spool_dir: %s}\n" % (QUEUE, spool))
    farm = DeadlineFarm(config_module.load())
    with pytest.raises(ConfigError, match="deadline.farm_id"):
        farm.submit([job_spec()])


# -- poll ------------------------------------------------------------------------------------

RUN_STATUSES = [  # every task run status of the service model -> the item's status
    ("PENDING", PENDING), ("READY", PENDING), ("ASSIGNED", PENDING), ("SCHEDULED", PENDING),
    ("STARTING", RUNNING), ("RUNNING", RUNNING), ("INTERRUPTING", RUNNING),
    ("SUSPENDED", BLOCKED), ("CANCELED", KILLED), ("FAILED", FAILED),
    ("SUCCEEDED", COMPLETE), ("NOT_COMPATIBLE", FAILED),
]


def test_the_mapping_covers_every_task_run_status_of_the_model(deadline):
    farm, _ = deadline
    shape = farm.client.meta.service_model.shape_for("TaskRunStatus")
    assert sorted(shape.enum) == sorted(run for run, _ in RUN_STATUSES)


def test_poll_maps_every_task_run_status(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=len(RUN_STATUSES))
    for index, (run, _) in enumerate(RUN_STATUSES):
        if run == "SUCCEEDED":
            report(output, index, "complete", ok(index))
    counts = {}
    for run, _ in RUN_STATUSES:
        counts[run] = counts.get(run, 0) + 1
    expect_batch_get(stub, [job(run="RUNNING", counts=counts, output=output)])
    expect_tasks(stub, JOB, [task(i, run, ended=NOW if run in ("SUCCEEDED", "FAILED") else None)
                             for i, (run, _) in enumerate(RUN_STATUSES)])
    state = farm.poll([JOB])[JOB]
    stub.assert_no_pending_responses()
    assert {i: w.status for i, w in state.work.items()} == \
        {i: ours for i, (_, ours) in enumerate(RUN_STATUSES)}
    assert state.status == RUNNING


def test_a_call_that_raised_fails_its_item_though_its_task_succeeded(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    report(output, 0, "complete", ok("fine"))
    report(output, 1, "failed", raised(ValueError("bad frame")))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 2}, output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW), task(1, "SUCCEEDED", ended=NOW)])
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, FAILED]
    assert state.status == FAILED
    found = farm.results([(JOB, 0), (JOB, 1)])
    assert payload.unpack(payload.decode_outcomes(found[(JOB, 0)][1])[0]) == (True, "fine")
    good, error = payload.unpack(payload.decode_outcomes(found[(JOB, 1)][1])[0])
    assert not good and "bad frame" in str(error)


def test_an_unchanged_job_costs_one_call_and_reports_nothing(deadline):
    farm, stub = deadline
    output = submitted(farm, stub)
    expect_batch_get(stub, [job(run="READY", counts={"READY": 1}, output=output)])
    expect_tasks(stub, JOB, [task(0, "READY")])
    assert farm.poll([JOB])[JOB].work[0].status == PENDING
    expect_batch_get(stub, [job(run="READY", counts={"READY": 1}, output=output)])
    assert farm.poll([JOB]) == {}  # no ListSteps/ListTasks: the Stubber would refuse them
    stub.assert_no_pending_responses()


def test_running_items_show_the_progress_their_task_writes(deadline):
    farm, stub = deadline
    output = submitted(farm, stub)
    folder = runtime.item_folder(output, 0)
    os.makedirs(folder)
    with open(os.path.join(folder, runtime.PROGRESS), "w") as handle:
        json.dump({"fraction": 0.25, "message": "frame 25"}, handle)
    expect_batch_get(stub, [job(run="RUNNING", output=output)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    work = farm.poll([JOB])[JOB].work[0]
    assert (work.status, work.progress, work.message) == (RUNNING, 0.25, "frame 25")


def test_a_job_gone_from_deadline_is_removed(deadline):
    farm, stub = deadline
    submitted(farm, stub)
    expect_batch_get(stub, [], missing=[JOB])
    assert farm.poll([JOB])[JOB].status == REMOVED


def test_an_archived_job_is_removed(deadline):
    farm, stub = deadline
    output = submitted(farm, stub)
    expect_batch_get(stub, [job(run="READY", lifecycle="ARCHIVED", output=output)])
    assert farm.poll([JOB])[JOB].status == REMOVED


def test_a_future_of_a_removed_job_ends_with_job_removed_error(deadline):
    """Through the executor and its poller thread: the job is created, then Deadline Cloud
    no longer knows it."""
    farm, stub = deadline
    expect_create(stub, JOB)
    expect_batch_get(stub, [], missing=[JOB])
    ex = Executor(farm="deadline")
    future = ex.submit(len, "abc")
    assert future.job_id == JOB
    with pytest.raises(JobRemovedError, match=JOB):
        future.result(timeout=20)
    stub.assert_no_pending_responses()


def test_a_future_gets_its_result_through_the_poller(deadline):
    """The whole path: CreateJob, one BatchGetJob, the tasks, the result the task wrote."""
    farm, stub = deadline

    def worker_finished(**_):  # the task ends before the poll looks
        report(output_of(farm, JOB), 0, "complete", ok(3))
    farm.client.meta.events.register_first("before-parameter-build.deadline.BatchGetJob",
                                           worker_finished)
    expect_create(stub, JOB)
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1})])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)])
    ex = Executor(farm="deadline")
    future = ex.submit(len, "abc")
    assert future.result(timeout=20) == 3
    stub.assert_no_pending_responses()


# -- actions ---------------------------------------------------------------------------------

def test_cancel_one_item_cancels_its_task(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    expect_batch_get(stub, [job(run="RUNNING", output=output)])
    expect_tasks(stub, JOB, [task(0, "RUNNING"), task(1, "READY")])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(1, "READY")["taskId"],
                                              targetRunStatus="CANCELED"))
    assert farm.kill(JOB, [1]) == 1
    stub.assert_no_pending_responses()


def test_cancel_a_job_cancels_it_with_update_job(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    report(output, 0, "complete", ok(0))
    expect_batch_get(stub, [job(run="RUNNING", output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW), task(1, "RUNNING")])
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, targetTaskRunStatus="CANCELED"))
    assert farm.kill(JOB) == 1  # the finished item is not counted, nor turned killed
    stub.assert_no_pending_responses()


def test_retry_requeues_failed_and_killed_items_only(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=3)
    report(output, 0, "complete", ok(0))
    report(output, 1, "failed", raised(RuntimeError("boom")))
    expect_batch_get(stub, [job(run="CANCELED", output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW), task(1, "SUCCEEDED", ended=NOW),
                             task(2, "CANCELED", ended=NOW)])
    for index in (1, 2):
        stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                                  taskId=task(index, "x")["taskId"],
                                                  targetRunStatus="PENDING"))
    assert farm.retry(JOB) == 2
    stub.assert_no_pending_responses()


def test_a_requeued_task_is_pending_until_it_ends_again(deadline):
    farm, stub = deadline
    output = submitted(farm, stub)
    report(output, 0, "failed", raised(RuntimeError("boom")))
    expect_batch_get(stub, [job(run="SUCCEEDED", target="PENDING", output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", target="PENDING", ended=NOW)])
    assert farm.poll([JOB])[JOB].work[0].status == PENDING


def test_block_and_unblock_suspend_and_ready_the_job(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    expect_batch_get(stub, [job(run="READY", counts={"READY": 2}, output=output)])
    expect_tasks(stub, JOB, [task(0, "READY"), task(1, "READY")])
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, targetTaskRunStatus="SUSPENDED"))
    assert farm.block(JOB) == 2
    expect_batch_get(stub, [job(run="SUSPENDED", counts={"SUSPENDED": 2}, target="SUSPENDED",
                                output=output)])
    expect_tasks(stub, JOB, [task(0, "SUSPENDED"), task(1, "SUSPENDED")], steps=False)
    stub.add_response("update_job", {}, dict(WHERE, jobId=JOB, targetTaskRunStatus="READY"))
    assert farm.unblock(JOB) == 2
    stub.assert_no_pending_responses()


# -- dependencies across jobs: held, then released by the watcher ----------------------------

def test_a_job_waiting_on_another_is_created_suspended_and_released_when_it_completes(
        deadline):
    farm, stub = deadline
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    expect_create(stub, JOB2, target="SUSPENDED")
    spec = job_spec()
    spec.work[0].depends_on = [(JOB, 0)]
    assert farm.submit([spec]) == [JOB2]
    second = output_of(farm, JOB2)
    # The first job's item completes; the watcher releases the second's task.
    report(first, 0, "complete", ok(1))
    expect_batch_get(stub, [job(JOB2, run="SUSPENDED", output=second),
                            job(run="SUCCEEDED", output=first)])
    expect_tasks(stub, JOB2, [task(0, "SUSPENDED")])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)], steps=False)
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB2, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="READY"))
    farm.poll([JOB2])
    stub.assert_no_pending_responses()


def test_items_of_a_held_job_that_wait_on_nothing_are_released_at_once(deadline):
    """A job is created SUSPENDED when one of its items waits on another job: its other
    items must not wait with it (they would stay SUSPENDED forever)."""
    farm, stub = deadline
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    expect_create(stub, JOB2, target="SUSPENDED")
    spec = job_spec(items=2)
    spec.work[0].depends_on = [(JOB, 0)]
    assert farm.submit([spec]) == [JOB2]
    second = output_of(farm, JOB2)
    expect_batch_get(stub, [job(JOB2, run="SUSPENDED", counts={"SUSPENDED": 2},
                                output=second), job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB2, [task(0, "SUSPENDED"), task(1, "SUSPENDED")])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB2, stepId=STEP,
                                              taskId=task(1, "x")["taskId"],
                                              targetRunStatus="READY"))
    farm.poll([JOB2])  # the first job is unchanged: its tasks are not listed again
    stub.assert_no_pending_responses()


def test_a_dependency_that_failed_cancels_the_waiting_task_with_a_dependency_error(deadline):
    farm, stub = deadline
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    expect_create(stub, JOB2, target="SUSPENDED")
    spec = job_spec()
    spec.work[0].depends_on = [(JOB, 0)]
    farm.submit([spec])
    second = output_of(farm, JOB2)
    report(first, 0, "failed", raised(ValueError("no such asset")))
    expect_batch_get(stub, [job(JOB2, run="SUSPENDED", output=second),
                            job(run="SUCCEEDED", output=first)])
    expect_tasks(stub, JOB2, [task(0, "SUSPENDED")])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)], steps=False)
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB2, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="CANCELED"))
    state = farm.poll([JOB2])[JOB2]
    assert state.work[0].status == FAILED
    status, blob = farm.results([(JOB2, 0)])[(JOB2, 0)]
    good, error = payload.unpack(payload.decode_outcomes(blob)[0])
    assert status == FAILED and type(error).__name__ == "DependencyError"
    assert "no such asset" in str(error)


# -- attach, log, listing --------------------------------------------------------------------

def test_another_process_attaches_through_the_jobs_output_parameter(deadline, deadline_config):
    farm, stub = deadline
    output = submitted(farm, stub)
    report(output, 0, "complete", ok("done"))
    other = DeadlineFarm(deadline_config)  # a fresh process: knows nothing of the job
    other_stub = botocore_stub.Stubber(other.client)
    with other_stub:
        expect_batch_get(other_stub, [job(run="SUCCEEDED", output=output)])
        expect_tasks(other_stub, JOB, [task(0, "SUCCEEDED", ended=NOW)])
        found = other.results([(JOB, 0)])
        other_stub.assert_no_pending_responses()
    assert payload.unpack(payload.decode_outcomes(found[(JOB, 0)][1])[0]) == (True, "done")


def test_a_job_whose_output_is_outside_our_spool_is_not_read(deadline, tmp_path):
    farm, stub = deadline
    elsewhere = str(tmp_path / "elsewhere" / ("dccfutures-" + "9" * 32) / "output")
    report(elsewhere, 0, "complete", ok("planted"))
    expect_batch_get(stub, [job(run="SUCCEEDED", output=elsewhere)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)])
    status, blob = farm.results([(JOB, 0)])[(JOB, 0)]
    assert status == FAILED and b"planted" not in blob


def test_log_reads_the_session_log_from_cloudwatch_when_the_spool_has_none(deadline):
    farm, stub = deadline
    output = submitted(farm, stub)
    session = "session-" + "4" * 32
    expect_batch_get(stub, [job(run="SUCCEEDED", output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW, action="sessionaction-%s-0"
                                  % ("4" * 32))])
    stub.add_response("get_session", {
        "sessionId": session, "fleetId": "fleet-" + "5" * 32, "workerId": "worker-" + "6" * 32,
        "startedAt": NOW, "lifecycleStatus": "ENDED",
        "log": {"logDriver": "awslogs", "parameters": {
            "logGroupName": "/aws/deadline/%s/%s" % (FARM, QUEUE), "logStreamName": session}}},
        dict(WHERE, jobId=JOB, sessionId=session))
    with botocore_stub.Stubber(farm.logs) as logs:
        logs.add_response("get_log_events", {
            "events": [{"timestamp": 1, "message": "hello from the worker"}],
            "nextForwardToken": "f/1", "nextBackwardToken": "b/1"},
            {"logGroupName": "/aws/deadline/%s/%s" % (FARM, QUEUE), "logStreamName": session,
             "startFromHead": True})
        logs.add_response("get_log_events", {"events": [], "nextForwardToken": "f/1",
                                             "nextBackwardToken": "b/1"},
                          {"logGroupName": ANY, "logStreamName": session,
                           "startFromHead": True, "nextToken": "f/1"})
        assert "hello from the worker" in farm.log(JOB, 0)
        logs.assert_no_pending_responses()


def test_job_lists_the_agenda_with_our_priority(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2, priority=20)
    report(output, 0, "complete", ok(0))
    found = job(run="RUNNING", counts={"SUCCEEDED": 1, "RUNNING": 1}, output=output)
    found["priority"] = 80
    expect_batch_get(stub, [found])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW), task(1, "RUNNING")])
    info = farm.job(JOB)
    assert info.priority == 20 and info.status == RUNNING
    assert [(w.name, w.status) for w in info.work] == [("item0", COMPLETE), ("item1", RUNNING)]


def test_a_dependency_whose_job_was_removed_fails_the_waiting_item(deadline):
    farm, stub = deadline
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    expect_create(stub, JOB2, target="SUSPENDED")
    spec = job_spec()
    spec.work[0].depends_on = [(JOB, 0)]
    farm.submit([spec])
    expect_batch_get(stub, [job(JOB2, run="SUSPENDED", output=output_of(farm, JOB2))],
                     missing=[JOB])
    expect_tasks(stub, JOB2, [task(0, "SUSPENDED")])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB2, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="CANCELED"))
    assert farm.poll([JOB2])[JOB2].work[0].status == FAILED
    _, blob = farm.results([(JOB2, 0)])[(JOB2, 0)]
    assert "was removed" in str(payload.unpack(payload.decode_outcomes(blob)[0])[1])


def test_tasks_are_read_page_by_page(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    expect_batch_get(stub, [job(run="READY", counts={"READY": 2}, output=output)])
    expect_tasks(stub, JOB, [task(0, "READY")], more="page-2")
    stub.add_response("list_tasks", {"tasks": [task(1, "RUNNING")]},
                      dict(WHERE, jobId=JOB, stepId=STEP, maxResults=100, nextToken="page-2"))
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [PENDING, RUNNING]


def test_show_in_another_session_releases_what_the_submitter_left_held(deadline,
                                                                      deadline_config):
    """The submitting session is gone: a later client that looks at the job releases it."""
    farm, stub = deadline
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    expect_create(stub, JOB2, target="SUSPENDED")
    spec = job_spec()
    spec.work[0].depends_on = [(JOB, 0)]
    farm.submit([spec])
    second = output_of(farm, JOB2)
    report(first, 0, "complete", ok(1))
    later = DeadlineFarm(deadline_config)
    with botocore_stub.Stubber(later.client) as later_stub:
        expect_batch_get(later_stub, [job(JOB2, run="SUSPENDED", target="SUSPENDED",
                                          output=second)])
        expect_tasks(later_stub, JOB2, [task(0, "SUSPENDED")])
        expect_batch_get(later_stub, [job(run="SUCCEEDED", output=first)])
        expect_tasks(later_stub, JOB, [task(0, "SUCCEEDED", ended=NOW)])
        later_stub.add_response("update_task", {}, dict(
            WHERE, jobId=JOB2, stepId=STEP, taskId=task(0, "x")["taskId"],
            targetRunStatus="READY"))
        later.job(JOB2)
        later_stub.assert_no_pending_responses()


def test_export_writes_the_bundle_a_job_was_submitted_with(deadline, tmp_path, capsys):
    from dccfutures import cli
    farm, stub = deadline
    output = submitted(farm, stub, items=2)
    expect_batch_get(stub, [job(run="READY", output=output)])
    expect_tasks(stub, JOB, [task(0, "READY"), task(1, "READY")])
    out = str(tmp_path / "exported")
    assert cli.main(["deadline", "export", JOB, "--out", out]) == 0
    assert sorted(os.listdir(out)) == ["parameter_values.yaml", "payload", "template.yaml"]
    assert "deadline bundle submit" in capsys.readouterr().out
    expect_batch_get(stub, [], missing=[JOB2])
    assert cli.main(["deadline", "export", JOB2, "--out", str(tmp_path / "x")]) == 1
    assert "no job %s" % JOB2 in capsys.readouterr().err


def test_jobs_lists_our_jobs_of_the_queue_newest_first(deadline):
    farm, stub = deadline
    output = submitted(farm, stub, priority=10)
    ours = {"jobId": JOB, "queueId": QUEUE, "name": "export", "lifecycleStatus": "CREATE_COMPLETE",
            "taskRunStatus": "RUNNING", "taskRunStatusCounts": {"RUNNING": 1, "SUCCEEDED": 2},
            "priority": 90, "createdBy": "artist", "createdAt": NOW,
            "jobParameters": {"Output": {"path": output}}}
    theirs = dict(ours, jobId=JOB2, jobParameters={"Output": {"path": "/elsewhere/out"}})
    stub.add_response("search_jobs", {"jobs": [ours, theirs], "totalResults": 2}, {
        "farmId": FARM, "queueIds": [QUEUE], "itemOffset": 0, "pageSize": 50,
        "sortExpressions": [{"fieldSort": {"name": "CREATED_AT", "sortOrder": "DESCENDING"}}]})
    [info] = farm.jobs()
    assert (info.id, info.status, info.priority) == (JOB, RUNNING, 10)
    assert info.tally == {RUNNING: 1, COMPLETE: 2}


def test_a_poll_asks_for_at_most_100_jobs_per_call(deadline):
    farm, stub = deadline
    ids = ["job-%032x" % n for n in range(101)]
    for chunk in (ids[:100], ids[100:]):
        stub.add_response("batch_get_job", {"jobs": [], "errors": [
            dict(WHERE, jobId=job_id, code="ResourceNotFoundException", message="not found")
            for job_id in chunk]}, {"identifiers": [dict(WHERE, jobId=job_id)
                                                    for job_id in chunk]})
    states = farm.poll(ids)
    stub.assert_no_pending_responses()
    assert sorted(states) == ids and {s.status for s in states.values()} == {REMOVED}


# -- TASK_CHUNKING: one task per chunk of items ----------------------------------------------

@pytest.fixture
def chunked(farm_config, farm_home, aws, credentials, spool):
    """The deadline farm with ``task_chunking: 3``: up to 3 items per task."""
    yield from stubbed_farm(farm_config, ", spool_dir: %s, task_chunking: 3" % spool)


def chunk(first, last, run, target=None, ended=None, number=0):
    """A chunk task as ListTasks gives it: ``Item`` is ``{"chunkInt": "first-last"}``."""
    found = task(number, run, target=target, ended=ended)
    found["parameters"] = {"Item": {"chunkInt": "%d-%d" % (first, last)}}
    return found


def sent_template(farm, stub, spec, job_id=JOB, target="READY"):
    """Submit ``spec``; the template CreateJob carried, as a dict."""
    import yaml
    sent = {}
    farm.client.meta.events.register_first("before-parameter-build.deadline.CreateJob",
                                           lambda params, **_: sent.update(params))
    expect_create(stub, job_id, target=target)
    farm.submit([spec])
    return yaml.safe_load(sent["template"]), sent


def test_with_task_chunking_the_template_sent_has_the_extension_and_chunks_of_items(chunked):
    """openjd-model decodes the template CreateJob carried (with the extension allowed, as a
    queue that supports it does) and forms the tasks a queue would: chunks of up to 3."""
    from openjd.model import (ParameterValue, ParameterValueType, StepParameterSpaceIterator,
                              create_job, decode_job_template)
    farm, stub = chunked
    template, sent = sent_template(farm, stub, job_spec(7))
    stub.assert_no_pending_responses()
    decoded = decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])
    assert decoded.extensions == ["TASK_CHUNKING"]
    [parameter] = decoded.steps[0].parameterSpace.taskParameterDefinitions
    assert (parameter.name, parameter.type.value) == ("Item", "CHUNK[INT]")
    values = {name: ParameterValue(type=ParameterValueType(next(iter(value)).upper()),
                                   value=next(iter(value.values())))
              for name, value in sent["parameters"].items()}
    [step] = create_job(job_template=decoded, job_parameter_values=values).steps
    chunks = [t["Item"].value for t in StepParameterSpaceIterator(space=step.parameterSpace)]
    assert chunks == ["0-2", "3-4", "5-6"]
    with pytest.raises(Exception, match="TASK_CHUNKING"):  # a queue without it refuses it
        decode_job_template(template=template, supported_extensions=[])


def test_without_task_chunking_each_item_is_one_int_task(deadline):
    farm, stub = deadline
    template, _ = sent_template(farm, stub, job_spec(7))
    assert "extensions" not in template
    assert template["steps"][0]["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Item", "type": "INT", "range": "0-6"}]


@pytest.mark.parametrize("value, shown", [("0", "0"), ("-2", "-2"), ("true", "a boolean (true)"),
                                          ("2.5", "2.5"), ("'3'", "'3'")])
def test_a_task_chunking_that_is_not_a_whole_number_of_items_is_a_config_error(
        farm_config, farm_home, value, shown):
    farm_config(extra="deadline: {task_chunking: %s}\n" % value)
    with pytest.raises(ConfigError) as caught:
        config_module.load()
    assert "'deadline.task_chunking' must be a number of work items per task, 1 or more " \
        "(1: off, one task per item), got %s" % shown in str(caught.value)


def test_poll_gives_every_item_of_a_chunk_its_tasks_status(chunked):
    farm, stub = chunked
    output = submitted(farm, stub, items=8)
    for index in (6, 7):
        report(output, index, "complete", ok(index))
    expect_batch_get(stub, [job(run="RUNNING", counts={"RUNNING": 1, "SUSPENDED": 1,
                                                       "SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "RUNNING", number=0),
                             chunk(3, 5, "SUSPENDED", number=1),
                             chunk(6, 7, "SUCCEEDED", ended=NOW, number=2)])
    state = farm.poll([JOB])[JOB]
    stub.assert_no_pending_responses()
    assert [w.status for w in state.work.values()] == [RUNNING] * 3 + [BLOCKED] * 3 + \
        [COMPLETE] * 2
    assert farm.results([(JOB, 7)])[(JOB, 7)][0] == COMPLETE


def test_a_raising_item_of_a_chunk_that_succeeded_fails_alone(chunked):
    farm, stub = chunked
    output = submitted(farm, stub, items=3)
    report(output, 0, "complete", ok("fine"))
    report(output, 1, "failed", raised(ValueError("bad frame")))
    report(output, 2, "complete", ok("also fine"))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "SUCCEEDED", ended=NOW)])
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, FAILED, COMPLETE]
    found = farm.results([(JOB, 0), (JOB, 1), (JOB, 2)])
    assert payload.unpack(payload.decode_outcomes(found[(JOB, 2)][1])[0]) == (True, "also fine")
    good, error = payload.unpack(payload.decode_outcomes(found[(JOB, 1)][1])[0])
    assert not good and "bad frame" in str(error)


def test_a_chunk_whose_interpreter_died_fails_the_rest_of_its_items(chunked):
    """The runtime stops a chunk at an item whose interpreter died: the task FAILED; the
    items before it keep their results, the ones after it never ran."""
    farm, stub = chunked
    output = submitted(farm, stub, items=3)
    report(output, 0, "complete", ok("fine"))
    expect_batch_get(stub, [job(run="FAILED", counts={"FAILED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "FAILED", ended=NOW)])
    assert [w.status for w in farm.poll([JOB])[JOB].work.values()] == [COMPLETE, FAILED, FAILED]
    good, error = payload.unpack(payload.decode_outcomes(
        farm.results([(JOB, 2)])[(JOB, 2)][1])[0])
    assert not good and "ended without a result (its task is FAILED" in str(error)


def test_kill_of_one_item_cancels_its_chunk_task_once(chunked):
    farm, stub = chunked
    output = submitted(farm, stub, items=5)
    expect_batch_get(stub, [job(run="RUNNING", output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "RUNNING", number=0), chunk(3, 4, "READY", number=1)])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="CANCELED"))
    assert farm.kill(JOB, [1, 2]) == 3  # one UpdateTask; the chunk's three items end killed
    stub.assert_no_pending_responses()
    expect_batch_get(stub, [job(run="RUNNING", counts={"CANCELED": 1, "READY": 1},
                                output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "CANCELED", ended=NOW, number=0),
                             chunk(3, 4, "READY", number=1)], steps=False)
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [KILLED] * 3 + [PENDING] * 2


def test_retry_of_one_item_requeues_its_whole_chunk(chunked):
    """Deadline Cloud runs a task whole: retrying the item that raised runs the chunk's other
    items again too; they show pending until the task ends again."""
    farm, stub = chunked
    output = submitted(farm, stub, items=3)
    report(output, 0, "complete", ok(0))
    report(output, 1, "failed", raised(RuntimeError("boom")))
    report(output, 2, "complete", ok(2))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "SUCCEEDED", ended=NOW)])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="PENDING"))
    assert farm.retry(JOB) == 3
    stub.assert_no_pending_responses()
    expect_batch_get(stub, [job(run="SUCCEEDED", target="PENDING", output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "SUCCEEDED", target="PENDING", ended=NOW)],
                 steps=False)
    assert [w.status for w in farm.poll([JOB])[JOB].work.values()] == [PENDING] * 3


def test_block_of_one_item_suspends_its_chunk(chunked):
    farm, stub = chunked
    output = submitted(farm, stub, items=4)
    expect_batch_get(stub, [job(run="READY", counts={"READY": 2}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 1, "READY", number=0), chunk(2, 3, "READY", number=1)])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(1, "x")["taskId"],
                                              targetRunStatus="SUSPENDED"))
    assert farm.block(JOB, [3]) == 2
    stub.assert_no_pending_responses()


def test_show_lists_each_item_of_a_chunk(chunked):
    farm, stub = chunked
    output = submitted(farm, stub, items=4)
    report(output, 0, "complete", ok(0))
    report(output, 1, "failed", raised(KeyError("shot")))
    expect_batch_get(stub, [job(run="RUNNING", counts={"SUCCEEDED": 1, "RUNNING": 1},
                                output=output)])
    expect_tasks(stub, JOB, [chunk(0, 1, "SUCCEEDED", ended=NOW, number=0),
                             chunk(2, 3, "RUNNING", number=1)])
    info = farm.job(JOB)
    assert [(w.name, w.status) for w in info.work] == [
        ("item0", COMPLETE), ("item1", FAILED), ("item2", RUNNING), ("item3", RUNNING)]
    assert info.tally == {COMPLETE: 1, FAILED: 1, RUNNING: 2}
    assert "shot" in str(info.work[1].error)


def test_a_job_waiting_on_another_job_is_not_chunked(chunked):
    """Its tasks are released one by one by the watcher, as their own dependencies end."""
    farm, stub = chunked
    first = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", output=first)])
    expect_tasks(stub, JOB, [chunk(0, 0, "RUNNING")])
    spec = job_spec(items=3)
    spec.work[0].depends_on = [(JOB, 0)]
    template, _ = sent_template(farm, stub, spec, job_id=JOB2, target="SUSPENDED")
    assert "extensions" not in template
    assert template["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["type"] == "INT"


def test_a_future_of_a_chunked_map_gets_its_result_through_the_poller(chunked):
    """``map`` with chunksize 2 over 5 values: 3 work items, in Deadline tasks of up to 3
    items: one task here, whose items each bring back their own calls' results."""
    farm, stub = chunked

    def worker_finished(**_):
        output = output_of(farm, JOB)
        report(output, 0, "complete", payload.encode_outcomes([payload.ok(1), payload.ok(4)]))
        report(output, 1, "complete", payload.encode_outcomes([payload.ok(9), payload.ok(16)]))
        report(output, 2, "complete", payload.encode_outcomes([payload.ok(25)]))
    farm.client.meta.events.register_first("before-parameter-build.deadline.BatchGetJob",
                                           worker_finished)
    expect_create(stub, JOB)
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1})])
    expect_tasks(stub, JOB, [chunk(0, 2, "SUCCEEDED", ended=NOW)])
    ex = Executor(farm="deadline")
    assert list(ex.map(abs, [1, 2, 3, 4, 5], chunksize=2, timeout=20)) == [1, 4, 9, 16, 25]
    stub.assert_no_pending_responses()


def test_items_a_cancelled_chunk_ran_to_the_end_keep_their_results(chunked):
    """Killing item 2 of a running chunk cancels the task; item 0 had already returned
    (its result is in the spool): it stays complete, the others end killed."""
    farm, stub = chunked
    output = submitted(farm, stub, items=3)
    report(output, 0, "complete", ok("done first"))
    expect_batch_get(stub, [job(run="CANCELED", counts={"CANCELED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 2, "CANCELED", ended=NOW)])
    state = farm.poll([JOB])[JOB]
    assert [w.status for w in state.work.values()] == [COMPLETE, KILLED, KILLED]
    found = farm.results([(JOB, 0), (JOB, 1)])
    assert payload.unpack(payload.decode_outcomes(found[(JOB, 0)][1])[0]) == (True, "done first")
    assert found[(JOB, 1)] == (KILLED, None)


def test_after_a_retry_a_chunk_shows_only_what_its_new_run_gives(chunked):
    """The requeued chunk is cancelled before it reaches its items again: they end killed,
    not with the results of the run before the retry."""
    farm, stub = chunked
    output = submitted(farm, stub, items=2)
    report(output, 0, "complete", ok(0))
    report(output, 1, "failed", raised(RuntimeError("boom")))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 1, "SUCCEEDED", ended=NOW)])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="PENDING"))
    assert farm.retry(JOB, [1]) == 2
    later = NOW + datetime.timedelta(minutes=1)
    expect_batch_get(stub, [job(run="CANCELED", counts={"CANCELED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 1, "CANCELED", ended=later)], steps=False)
    assert [w.status for w in farm.poll([JOB])[JOB].work.values()] == [KILLED, KILLED]
    stub.assert_no_pending_responses()


# -- review fixes ---------------------------------------------------------------------------

def test_a_job_read_by_a_monitor_first_still_ends_its_futures(deadline):
    """The monitor (or `show`) reads a job the moment it ends, before the poller's next look:
    the poller still reports the ending, or the artist's futures never end."""
    farm, stub = deadline
    output = submitted(farm, stub)
    expect_batch_get(stub, [job(run="RUNNING", counts={"RUNNING": 1}, output=output)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    assert farm.poll([JOB])[JOB].work[0].status == RUNNING
    report(output, 0, "complete", ok(7))
    ended = job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output,
                updatedAt=NOW + datetime.timedelta(seconds=5))
    expect_batch_get(stub, [ended])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)], steps=False)
    assert farm.job(JOB).status == COMPLETE          # the monitor saw it first
    expect_batch_get(stub, [ended])                   # its tasks are not listed again
    state = farm.poll([JOB])[JOB]
    assert state.status == COMPLETE and state.work[0].status == COMPLETE
    stub.assert_no_pending_responses()


# -- a result of another job as an argument -------------------------------------------------

UPSTREAM = object()  # pickled as a reference to JOB's item 0


def takes_result_of(job_id, index):
    """A job whose one call is ``add(<result of job_id:index>, 10)``, as a submit of
    ``ex.submit(add, future, 10)`` sends it."""
    import sys
    from tests import workloads
    from tests.conftest import ROOT
    calls = payload.encode_calls(
        [(workloads.add, (UPSTREAM, 10), {})], 10 ** 8,
        reference=lambda o: (payload.DEPENDENCY, job_id, index, 0) if o is UPSTREAM else None)
    return JobSpec(name="render", prototype="dccfutures",
                   package={"python": sys.executable, "sys_path": [ROOT]},
                   work=[WorkSpec(calls, depends_on=[(job_id, index)])])


def submit_dependent(farm, stub):
    """JOB (its item 0 completed with 3 in the spool), then JOB2 taking that result: JOB2's
    job folder."""
    output = submitted(farm, stub)
    report(output, 0, "complete", ok(3))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [task(0, "SUCCEEDED", ended=NOW)])
    expect_create(stub, JOB2)  # READY: what it waits on already completed
    assert farm.submit([takes_result_of(JOB, 0)]) == [JOB2]
    stub.assert_no_pending_responses()
    return os.path.dirname(output_of(farm, JOB2))


def run_on_worker(bundle_folder, root, rules=None):
    pytest.importorskip("openjd.sessions", reason="pip install 'dccfutures[openjd]'")
    from tests.openjd_worker import run_one_task
    return run_one_task(bundle_folder, root, rules, name="dependent")


def test_a_call_taking_another_jobs_completed_result_gets_it_on_the_worker(deadline, tmp_path):
    """``render = ex.submit(add, cache, 10)`` with ``cache`` of another job that already
    completed: the dependent job's task reads ``cache``'s result from that job's Output
    folder in the spool."""
    farm, stub = deadline
    folder = submit_dependent(farm, stub)
    assert run_on_worker(os.path.join(folder, "bundle"), tmp_path / "worker") == (True, 13)


def test_a_worker_that_mounts_the_spool_elsewhere_finds_the_other_jobs_result(
        deadline, spool, tmp_path):
    """A worker of another OS sees the spool at another path (the storage profile's rule):
    the other job's Output folder is mapped like the job's own."""
    farm, stub = deadline
    folder = submit_dependent(farm, stub)
    mount = str(tmp_path / "mnt" / "spool")
    os.makedirs(os.path.dirname(mount))
    os.rename(spool, mount)  # the submitter's path is not there on this worker
    rules = [{"source_path_format": "POSIX", "source_path": spool, "destination_path": mount}]
    bundle = os.path.join(mount, os.path.basename(folder), "bundle")
    assert run_on_worker(bundle, tmp_path / "worker", rules) == (True, 13)


@pytest.mark.parametrize("command", [["show", JOB], ["kill", JOB], ["retry", JOB],
                                     ["log", JOB + ":0"], ["jobs"],
                                     ["deadline", "export", JOB, "--out", "OUT"]])
def test_a_command_when_deadline_cloud_cannot_be_reached_is_one_line(
        deadline_config, credentials, monkeypatch, tmp_path, capfd, command):
    """Expired credentials or no network: every command says so in one line, never with
    botocore's traceback."""
    from dccfutures import cli
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_DEADLINE", "http://127.0.0.1:%d" % port)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    argv = [str(tmp_path / "out") if word == "OUT" else word for word in command]
    code = cli.main(argv + (["--farm", "deadline"] if command[0] != "deadline" else []))
    printed = capfd.readouterr()
    assert code != 0 and "Traceback" not in printed.out + printed.err
    [line] = printed.err.strip().splitlines()
    assert "127.0.0.1:%d" % port in line


@pytest.mark.parametrize("lifecycle", ["CREATE_FAILED", "UPLOAD_FAILED"])
def test_a_job_deadline_could_not_create_fails_its_items_with_the_reason(deadline, lifecycle):
    """A job whose creation failed on Deadline Cloud's side never gets tasks: its futures end
    failed with Deadline's reason instead of waiting for ever."""
    farm, stub = deadline
    submitted(farm, stub, items=2)
    failed = job(run="READY", counts={}, lifecycle=lifecycle)
    failed["lifecycleStatusMessage"] = "The template names an unknown queue environment"
    expect_batch_get(stub, [failed])
    stub.add_response("list_steps", {"steps": []}, dict(WHERE, jobId=JOB, maxResults=100))
    state = farm.poll([JOB])[JOB]
    assert state.status == FAILED and [w.status for w in state.work.values()] == [FAILED] * 2
    [(_, blob)] = farm.results([(JOB, 0)]).values()
    assert "unknown queue environment" in work_error(blob).message


def test_a_retried_chunk_keeps_what_its_new_run_writes_at_once(chunked):
    """retry clears a chunk's old results before Deadline Cloud requeues its task: an item a
    fast worker ends right after the requeue keeps its new result."""
    farm, stub = chunked
    output = submitted(farm, stub, items=2)
    report(output, 0, "complete", ok(0))
    report(output, 1, "failed", raised(RuntimeError("boom")))
    expect_batch_get(stub, [job(run="SUCCEEDED", counts={"SUCCEEDED": 1}, output=output)])
    expect_tasks(stub, JOB, [chunk(0, 1, "SUCCEEDED", ended=NOW)])
    stub.add_response("update_task", {}, dict(WHERE, jobId=JOB, stepId=STEP,
                                              taskId=task(0, "x")["taskId"],
                                              targetRunStatus="PENDING"))
    farm.client.meta.events.register(  # the requeued task runs item 0 at once
        "after-call.deadline.UpdateTask", lambda **_: report(output, 0, "complete", ok(10)))
    assert farm.retry(JOB, [1]) == 2
    stub.assert_no_pending_responses()
    assert runtime.read_result(output, 0) == ("complete", ok(10))


def test_the_poller_and_another_thread_take_turns_on_the_jobs(deadline):
    """The poller thread, a monitor and the artist's thread share the farm's job records:
    while the poller is inside a cycle, another caller waits for it to end (two at once
    could each remove the result the other just downloaded)."""
    import threading
    farm, stub = deadline
    output = submitted(farm, stub)
    inside, release = threading.Event(), threading.Event()

    def hold(**_):
        inside.set()
        release.wait(10)
    farm.client.meta.events.register_first("before-parameter-build.deadline.BatchGetJob", hold)
    expect_batch_get(stub, [job(run="RUNNING", output=output)])
    expect_tasks(stub, JOB, [task(0, "RUNNING")])
    poller = threading.Thread(target=farm.poll, args=([JOB],))
    poller.start()
    assert inside.wait(10)
    other = threading.Thread(target=farm.results, args=([],))
    other.start()
    other.join(0.5)
    assert other.is_alive()            # waits while the poller's cycle runs
    release.set()
    poller.join(10)
    other.join(10)
    assert not other.is_alive()
    stub.assert_no_pending_responses()
