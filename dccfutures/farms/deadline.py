"""AWS Deadline Cloud as a dccfutures farm, through boto3's ``deadline`` client.

One Deadline Cloud job per ``submit``, ``map`` and ``batch``: the OpenJD job bundle that
:func:`dccfutures.farms.openjd.bundle.write_bundle` writes (the bundle the ``openjd`` farm runs
on this machine) is sent with ``CreateJob``: its template, and its job parameters ``Payload``,
``Output`` and ``DccfuturesPython``. Its step ``work`` (and ``work-1``… for items that wait on
items of the same job) has one task per work item: task parameter ``Item`` is the work id.
With ``deadline.task_chunking`` N > 1 (a queue with OpenJD's TASK_CHUNKING extension), a task
runs a contiguous range of up to N items (``Item`` is ``CHUNK[INT]``, ``{"chunkInt": "3-5"}``
in ListTasks): every item of a chunk has its task's status until the task ends, then its own
result's; an action on one item of a chunk (kill, retry, block) acts on its whole task. A job
whose items wait on other jobs is not chunked (see Dependencies).

Where things live: one folder per job, ``dccfutures-<token>``, holding the bundle
(``bundle/``), the results, progress and logs the tasks write (``output/``), and
``deadline.json``, the facts this module reads back (items, calls, dependencies). With
``deadline.spool_dir`` set, the folder is directly inside it, on storage the submitting machines
and the queue's workers share (a storage profile maps the path on workers of another OS). As
with Qube's spool, anyone who can write there can make a worker or a client unpickle what they
wrote; a client reads only job folders inside the spool folder its own config names (a job's
``Output`` parameter elsewhere is not read). Without it, on a queue with job attachments
(:mod:`.deadline_attachments`), the folder is a private one in the farm home
(``<home>/deadline/``): the payloads travel as job attachment inputs, and the result of an item
whose task SUCCEEDED is downloaded from that task's output manifest into it, once per end of
the task; nothing else is read from S3. Neither: submit refuses, naming both.

Ids: a job's id is Deadline Cloud's, ``job-<32 hex>``; the farm and queue are the config's.

Polling: ONE ``BatchGetJob`` per cycle for up to 100 outstanding jobs (status and task
counts); ``ListSteps``/``ListTasks`` only for the jobs whose status or counts changed. Items of
running tasks are looked at in the spool (progress, results that are written before the task
ends). A job Deadline Cloud no longer knows, or one archived, is ``removed``. No push: the
poller backs off from ``deadline.poll_min`` to ``deadline.poll_max``.

Dependencies: within a job, step dependencies (the bundle's). Across jobs ``CreateJob`` has no
dependency field: a job whose items wait on items of other jobs is created SUSPENDED, and the
poller of any dccfutures process watching it releases each waiting task (``READY``) once the
work it waits on has ended; a task whose dependency ended without completing is cancelled and
its future fails with :class:`dccfutures.DependencyError`. Such a job is sent one task per
item even with ``task_chunking``: a chunk would wait on the work all its items wait on. A call
that takes another job's result reads it from that job's Output folder, which the bundle names
(shared storage only: with job attachments a worker has no copy of it, and submit refuses).

Priority: ours is Qube's (lower runs first); Deadline Cloud's is 0–100, higher first, 50 by
default: ``100 - ours``, clamped to 0–100; no priority given is 50.
"""
import dataclasses
import datetime
import functools
import json
import os
import logging
import re
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import payload
from ..config import Config
from ..errors import ConfigError, FarmError
from ..runtime.output import cap_bytes, cap_text, cut_log
from ..spool import JOB_FOLDER, write_whole
from .base import (BLOCKED, COMPLETE, FAILED, KILLED, PENDING, REMOVED, RUNNING, TERMINAL, Farm,
                   JobInfo, JobSpec, JobState, WorkInfo, WorkRef, WorkState, work_error)

JOB_ID = re.compile(r"\Ajob-[0-9a-f]{32}\Z")
FACTS_FILE = "deadline.json"
ITEM_PARAMETER = "Item"
BATCH = 100               # BatchGetJob and ListTasks take at most 100
MAX_CHUNK = 100000        # items of one chunk task beyond which its range is not believed
RESULT_GRACE = 30.0       # a task SUCCEEDED without a result file: shared storage may lag
                          # (or S3 could not be read: asked again until then)
DEFAULT_PRIORITY = 50

# Deadline Cloud's task run status -> ours, before the spool's results are looked at.
TASK_STATUSES = {
    "PENDING": PENDING, "READY": PENDING, "ASSIGNED": PENDING, "SCHEDULED": PENDING,
    "STARTING": RUNNING, "RUNNING": RUNNING, "INTERRUPTING": RUNNING,
    "SUSPENDED": BLOCKED, "CANCELED": KILLED, "FAILED": FAILED, "SUCCEEDED": COMPLETE,
    "NOT_COMPATIBLE": FAILED,
}
_ENDED = ("CANCELED", "FAILED", "SUCCEEDED", "NOT_COMPATIBLE")


LOGGER = logging.getLogger("dccfutures")

def deadline_priority(priority: Any) -> int:
    """Ours (lower runs first) on Deadline Cloud's 0–100 (higher first): ``100 - ours``."""
    if priority is None:
        return DEFAULT_PRIORITY
    return max(0, min(100, 100 - int(priority)))


def our_priority(priority: int) -> int:
    return 100 - int(priority)


def job_settings(spec: JobSpec, settings: Any) -> Dict[str, int]:
    """CreateJob's ``priority``, ``maxRetriesPerTask`` and ``maxWorkerCount`` for a job
    (``settings``: the config's ``deadline`` section); an exported bundle carries the same
    as ``deadline:*`` parameter values."""
    found = {"priority": deadline_priority(spec.fields.get("priority"))}
    attempts = spec.fields.get("max_attempts") or settings.max_attempts
    found["maxRetriesPerTask"] = max(0, int(attempts) - 1)
    if spec.fields.get("cpus"):
        found["maxWorkerCount"] = int(spec.fields["cpus"])
    return found


def write_job_bundle(spec: JobSpec, folder: str, output: str, settings: Any,
                     waits_elsewhere: bool, outputs: Optional[Dict[Any, str]] = None) -> str:
    """The bundle of ``spec`` as the deadline farm sends it (and ``deadline export`` writes
    it), into ``folder``, its items' results to ``output``: the config's Python for
    the task runtime, its ``max_log_mb`` for the items' logs, and TASK_CHUNKING's items per
    task unless the job's items wait on other jobs (``waits_elsewhere``: a chunk released for
    one item's dependencies would run the others' too)."""
    from .openjd.bundle import write_bundle
    chunk = settings.task_chunking if settings.task_chunking > 1 and not waits_elsewhere \
        else None
    spec = dataclasses.replace(spec, package=dict(spec.package, max_log_mb=settings.max_log_mb))
    return write_bundle(spec, folder, python=settings.python, chunk_size=chunk, output=output,
                        outputs=outputs)


def _entry(method: Any) -> Any:
    """A public method of the farm. One caller at a time: the poller thread, a monitor and
    the artist's thread share the job records (two at once could each remove the other's
    downloaded result). A request Deadline Cloud or AWS refused or could not answer (no
    network, expired credentials, access denied) is one ``FarmError`` line naming it, not
    botocore's traceback."""
    @functools.wraps(method)
    def calling(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._lock:
                return method(self, *args, **kwargs)
        except Exception as error:
            from botocore.exceptions import BotoCoreError, ClientError
            if not isinstance(error, (BotoCoreError, ClientError)):
                raise
            raise FarmError("Deadline Cloud: %s" % _one_line(error)) from None
    return calling


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _cli_setting(name: str) -> Optional[str]:
    """A setting of the ``deadline`` CLI's own config (``~/.deadline/config``), when its
    library is installed: ``defaults.farm_id``, ``defaults.queue_id``…"""
    try:
        from deadline.client.config import config_file
        value = config_file.get_setting(name)
    except Exception:  # not installed, or its config unreadable: ours must name the value
        return None
    return value or None


class _Job:
    """A job this process knows: its facts, its tasks, and what its items became."""

    def __init__(self, job_id: str, folder: Optional[str], facts: Dict[str, Any]):
        self.id, self.folder, self.facts = job_id, folder, facts
        self.items = int(facts.get("items") or 0)
        self.data: Dict[str, Any] = {}
        self.steps: List[str] = []
        # item -> its task's summary, with its stepId and workIds (the items of the task: one,
        # or with TASK_CHUNKING the chunk's; the items of a chunk share one dict)
        self.tasks: Dict[int, Dict[str, Any]] = {}
        self.seen: Optional[Tuple] = None
        self.unreported = False  # a change another reader (show, a monitor) saw first
        self.shown: Optional[Tuple] = None
        self.results: Dict[int, Tuple[Any, str]] = {}  # item -> (its task's end, status read)
        self.missing: Dict[int, float] = {}  # items SUCCEEDED without a result: since
        # Job attachments: item -> the end of its task whose outputs were looked at, and why
        # an item's result was not in them (for that end).
        self.attached = bool(facts.get("attachments"))
        self.fetched: Dict[int, str] = {}
        self.lost: Dict[int, str] = {}

    @property
    def output(self) -> Optional[str]:
        return os.path.join(self.folder, "output") if self.folder else None


def _signature(job: Dict[str, Any]) -> Tuple:
    return (job.get("lifecycleStatus"), job.get("taskRunStatus"),
            job.get("targetTaskRunStatus"), tuple(sorted((job.get("taskRunStatusCounts")
                                                          or {}).items())),
            str(job.get("updatedAt")))


class DeadlineFarm(Farm):
    name = "deadline"
    pushes = False

    def __init__(self, config: Config, session: Any = None):
        """``session``: a boto3 Session to use instead of one made from the config."""
        self.config = config
        self.settings = config.deadline
        self.poll_interval = (self.settings.poll_min, self.settings.poll_max)
        self.spool_dir = self.settings.spool_dir
        self._session = session
        self._client: Any = None
        self._logs: Any = None
        self._lock = threading.RLock()  # see _entry
        self._jobs: Dict[str, _Job] = {}
        self._gone: set = set()  # jobs Deadline Cloud no longer has (work may wait on them)
        self._resolved: Dict[str, Optional[str]] = {}
        self._attachments: Any = None  # the queue's JobAttachments, once GetQueue named them
        self._attachments_root: Optional[str] = None

    # -- where: farm, queue, credentials ---------------------------------------------------

    @property
    def farm_id(self) -> str:
        return self._setting("farm_id", "defaults.farm_id")

    @property
    def queue_id(self) -> str:
        return self._setting("queue_id", "defaults.queue_id")

    def _setting(self, key: str, cli_name: str) -> str:
        """Ours, else the ``deadline`` CLI's (read once: every request names them)."""
        value = getattr(self.settings, key) or self._resolved.get(key)
        if not value:
            value = self._resolved[key] = _cli_setting(cli_name)
        if not value:
            raise ConfigError("the deadline farm needs deadline.%s in the dccfutures config "
                              "(or `deadline config set %s ...`)" % (key, cli_name),
                              path=self.config.path, key="deadline." + key)
        return value

    def session(self) -> Any:
        """The boto3 session: ``deadline.profile`` (else the ``deadline`` CLI's profile, else
        boto3's own chain). Credentials and a region are checked here, once: without them
        nothing is written and nothing is sent."""
        if self._session is None:
            try:
                import boto3
                import botocore.exceptions
            except ImportError as error:
                raise FarmError("the deadline farm needs boto3: pip install "
                                "'dccfutures[deadline]' (%s)" % error) from None
            profile = self.settings.profile or _cli_setting("defaults.aws_profile_name")
            if profile == "(default)":
                profile = None
            try:
                self._session = boto3.Session(profile_name=profile,
                                              region_name=self.settings.region
                                              or _cli_setting("defaults.farm_region"))
            except botocore.exceptions.ProfileNotFound:
                raise FarmError("the AWS profile %r (deadline.profile) does not exist: run "
                                "`aws configure --profile %s` or `deadline auth login`"
                                % (profile, profile)) from None
        return self._session

    @property
    def client(self) -> Any:
        if self._client is None:
            session = self.session()
            if session.get_credentials() is None:
                raise FarmError("no AWS credentials for Deadline Cloud: set deadline.profile in "
                                "the dccfutures config (or AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY), or log in with `deadline auth login`")
            if not session.region_name:
                raise FarmError("no AWS region for Deadline Cloud: set deadline.region in the "
                                "dccfutures config (or AWS_DEFAULT_REGION, or the profile's "
                                "region)")
            self._client = session.client("deadline")
        return self._client

    @property
    def logs(self) -> Any:
        """CloudWatch Logs, where Deadline Cloud keeps session logs."""
        if self._logs is None:
            self.client  # the same checks
            self._logs = self.session().client("logs")
        return self._logs

    def _where(self) -> Dict[str, str]:
        return {"farmId": self.farm_id, "queueId": self.queue_id}

    def _job_root(self) -> str:
        """Where new job folders go: ``deadline.spool_dir`` when set; else, on a queue with
        job attachments, the farm home's private ``deadline`` folder; neither is an error
        naming both."""
        if self.spool_dir:
            return self.spool_dir
        if self._queue_attachments() is None:
            raise FarmError("the Deadline Cloud queue %s has no job attachments (no S3 bucket in "
                            "its settings) and the config has no deadline.spool_dir: set one of "
                            "the two (job attachments on the queue, or deadline.spool_dir on "
                            "storage the workers share)" % self.queue_id)
        return self._private_root()

    def _private_root(self) -> str:
        from .deadline_attachments import private_folder
        from .local.home import Home
        if self._attachments_root is None:
            self._attachments_root = private_folder(os.path.join(Home().path, "deadline"))
        return self._attachments_root

    def _queue_attachments(self) -> Any:
        """The queue's job attachments (GetQueue, once), or None when it has none."""
        if self._attachments is None:
            from .deadline_attachments import JobAttachments, queue_role_session
            settings = self.client.get_queue(**self._where()).get("jobAttachmentSettings")
            if not settings:
                return None
            session = None

            def s3_session() -> Any:
                nonlocal session
                if session is None:
                    session = queue_role_session(self.client, self.farm_id, self.queue_id,
                                                 self.session().region_name)
                return session
            self._attachments = JobAttachments(settings, self.farm_id, self.queue_id,
                                               s3_session,
                                               os.path.join(self._private_root(), "cache"))
        return self._attachments

    # -- submit ----------------------------------------------------------------------------

    @_entry
    def submit(self, jobs: Sequence[JobSpec]) -> List[str]:
        """Create every job, or none: with several jobs each is created SUSPENDED and
        released once all exist; a failure cancels and archives those created."""
        for spec in jobs:
            if not spec.work:
                raise ValueError("a job needs at least one work item")
        where, client = self._where(), self.client
        try:
            spool = self._job_root()
        except (ConfigError, FarmError, OSError):
            raise
        except Exception as error:  # GetQueue refused or unreachable
            raise FarmError("Deadline Cloud did not show the queue %s of farm %s: %s"
                            % (where["queueId"], where["farmId"], _one_line(error))) from None
        external = self._external(jobs)
        folders: List[str] = []
        created: List[str] = []
        several = len(jobs) > 1
        try:
            requests = []
            for spec in jobs:
                folder = self._new_folder(spool)
                folders.append(folder)
                waits = self._waits(spec, external)
                requests.append((self._write(spec, folder, waits, external),
                                 bool(waits) or spec.fields.get("status") == BLOCKED))
            for request, held in requests:
                status = "SUSPENDED" if held or several else "READY"
                created.append(client.create_job(targetTaskRunStatus=status, **where,
                                                 **request)["jobId"])
            if several:
                for job_id, (_, held) in zip(created, requests):
                    if not held:
                        client.update_job(jobId=job_id, targetTaskRunStatus="READY", **where)
        except BaseException as error:
            self._undo(created)
            for folder in folders:
                _remove_tree(folder)
            if isinstance(error, (ValueError, ConfigError, FarmError)):
                raise
            if isinstance(error, Exception):
                raise FarmError("Deadline Cloud did not take the job (queue %s of farm %s): %s"
                                % (where["queueId"], where["farmId"], _one_line(error))) \
                    from None
            raise
        for job_id, folder in zip(created, folders):
            self._jobs[job_id] = _Job(job_id, folder, _read_facts(folder))
        return created

    def _undo(self, created: Sequence[str]) -> None:
        """Cancel and archive jobs created by a submit that failed (they were suspended)."""
        for job_id in created:
            try:
                self.client.update_job(jobId=job_id, targetTaskRunStatus="CANCELED",
                                       **self._where())
                self.client.update_job(jobId=job_id, lifecycleStatus="ARCHIVED",
                                       **self._where())
            except Exception:
                pass

    def _new_folder(self, spool: str) -> str:
        os.makedirs(spool, exist_ok=True)
        folder = os.path.join(spool, "dccfutures-%s" % uuid.uuid4().hex)
        # Shared storage: the workers may run tasks as another account. Job attachments: ours.
        os.mkdir(folder, 0o770 if self.spool_dir else 0o700)
        return folder

    def _write(self, spec: JobSpec, folder: str, waits: Dict[str, List[List[Any]]],
               external: Dict[str, _Job]) -> Dict[str, Any]:
        """Write the job's bundle and facts into ``folder``; the CreateJob request for it.
        On shared storage the bundle names the Output folder of every other job its calls
        depend on (``waits`` leaves out those already complete, whose results the calls still
        take); with job attachments no call takes one (:meth:`_external` refused it)."""
        bundle = os.path.join(folder, "bundle")
        outputs = {j: external[j].output for work in spec.work for j, _ in work.depends_on
                   if j is not None and external[j].output and self.spool_dir}
        write_job_bundle(spec, bundle, os.path.join(folder, "output"), self.settings,
                         bool(waits), outputs)
        attachments = None
        if self.spool_dir:
            _share_with_group(bundle)
        else:
            attachments = self._queue_attachments().upload(
                folder, os.path.join(bundle, "payload"), os.path.join(folder, "output"))
        facts = {"items": len(spec.work), "ncalls": [w.ncalls for w in spec.work],
                 "names": [w.name for w in spec.work], "label": spec.name,
                 "prototype": spec.prototype, "cpus": spec.fields.get("cpus"),
                 "submitted": time.time(), "waits": waits, "released": [],
                 "blocked": spec.fields.get("status") == BLOCKED,
                 "attachments": bool(attachments)}
        _write_facts(folder, facts)
        request = bundle_request(bundle)
        if attachments:
            request["attachments"] = attachments
        request.update(job_settings(spec, self.settings))
        storage = self.settings.storage_profile_id or _cli_setting("settings.storage_profile_id")
        if storage:
            request["storageProfileId"] = storage
        request["clientToken"] = os.path.basename(folder)[len("dccfutures-"):]
        return request

    def _external(self, jobs: Sequence[JobSpec]) -> Dict[str, _Job]:
        """The jobs that new work depends on, with their tasks, checked to exist."""
        ids = sorted({j for spec in jobs for work in spec.work for j, _ in work.depends_on
                      if j is not None})
        if ids and not self.spool_dir:  # job attachments: a task has its own job's files only
            for spec in jobs:
                for index, work in enumerate(spec.work):
                    taken = [ref for ref in _taken_results(work.package) if ref[0] is not None]
                    if taken:
                        raise FarmError(
                            "work item %d of %r takes the result of %s:%d as an argument, but "
                            "on a queue with job attachments (no deadline.spool_dir) its worker "
                            "has no copy of another job's outputs: set deadline.spool_dir to "
                            "storage the workers share, or pass the value (future.result()) "
                            "instead of the future" % ((index, spec.name) + tuple(taken[0])))
        found = {}
        for job_id in ids:
            try:
                found[job_id] = self._load(job_id)
            except KeyError:
                raise ValueError("work depends on job %s, which is not on the Deadline Cloud "
                                 "queue %s (removed?)" % (job_id, self.queue_id)) from None
            for spec in jobs:
                for work in spec.work:
                    for other, index in work.depends_on:
                        if other == job_id and index >= found[job_id].items:
                            raise ValueError("work depends on item %s:%d, which does not exist"
                                             % (job_id, index))
        return found

    def _waits(self, spec: JobSpec, external: Dict[str, _Job]) -> Dict[str, List[List[Any]]]:
        """``{item: [[job, item], ...]}``: the work of other jobs each item waits on (work
        that already completed is not waited on; work that ended otherwise still is: the
        watcher fails the item at once, naming it)."""
        now = time.monotonic()
        waits: Dict[str, List[List[Any]]] = {}
        for index, work in enumerate(spec.work):
            refs = [[j, i] for j, i in work.depends_on if j is not None
                    and self._item_status(external[j], i, now) != COMPLETE]
            if refs:
                waits[str(index)] = refs
        return waits

    # -- knowing jobs ----------------------------------------------------------------------

    def _folder_of(self, job: Dict[str, Any]) -> Optional[str]:
        """The job folder a job's ``Output`` parameter names, if it is one of ours inside
        OUR spool folder, or (a job with attachments) inside our private folder for them (a
        job's parameters are data whoever submitted it wrote)."""
        value = ((job.get("parameters") or job.get("jobParameters") or {}).get("Output")
                 or {}).get("path")
        if not value:
            return None
        root = self.spool_dir or self._private_root()
        folder = os.path.dirname(os.path.normpath(value))
        if not JOB_FOLDER.match(os.path.basename(folder)) or os.path.islink(folder) or \
                os.path.dirname(os.path.realpath(folder)) != os.path.realpath(root):
            return None
        return folder if os.path.isdir(folder) else None

    def _download_folder(self, job: Dict[str, Any]) -> Optional[str]:
        """A job with attachments submitted elsewhere (its folder is not on this machine): a
        private folder of ours its results are downloaded into."""
        if self.spool_dir or not _attachment_root(job):
            return None
        from .deadline_attachments import private_folder
        return private_folder(os.path.join(self._private_root(),
                                           "dccfutures-" + job["jobId"][len("job-"):]))

    def _record(self, job: Dict[str, Any]) -> _Job:
        record = self._jobs.get(job["jobId"])
        if record is None:
            folder = self._folder_of(job)
            facts = _read_facts(folder) if folder else {}
            if not facts:  # not ours, or its folder is gone: its tasks are its items
                facts = {"items": sum((job.get("taskRunStatusCounts") or {}).values())}
                folder = folder or self._download_folder(job)
            record = self._jobs[job["jobId"]] = _Job(job["jobId"], folder, facts)
        record.data = job
        record.attached = not self.spool_dir and bool(_attachment_root(job)
                                                      or record.facts.get("attachments"))
        return record

    def _get_jobs(self, job_ids: Sequence[str]) -> Tuple[Dict[str, Dict], List[str]]:
        """``({id: job}, [ids Deadline Cloud does not know])``: one call per 100 ids. Other
        errors (throttling) leave a job out of both: it is looked at again next cycle."""
        found: Dict[str, Dict] = {}
        gone: List[str] = []
        ours = [job_id for job_id in job_ids if isinstance(job_id, str) and JOB_ID.match(job_id)]
        gone += [job_id for job_id in job_ids if job_id not in ours]
        where = self._where()
        for start in range(0, len(ours), BATCH):
            answer = self.client.batch_get_job(identifiers=[
                dict(where, jobId=job_id) for job_id in ours[start:start + BATCH]])
            for job in answer.get("jobs") or []:
                found[job["jobId"]] = job
            for error in answer.get("errors") or []:
                if error.get("code") == "ResourceNotFoundException":
                    gone.append(error["jobId"])
        return found, gone

    def _load(self, job_id: str) -> _Job:
        """A job with its tasks; ``KeyError`` when Deadline Cloud does not know it."""
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise KeyError(job_id)
        found, _ = self._get_jobs([job_id])
        if job_id not in found:
            raise KeyError(job_id)
        record = self._record(found[job_id])
        self._tasks(record)
        signature = _signature(record.data)
        if signature != record.seen:  # the poller still reports it: its futures end
            record.seen, record.unreported = signature, True
        return record

    def _tasks(self, record: _Job) -> None:
        """Every task of the job (its steps are listed once)."""
        where = dict(self._where(), jobId=record.id)
        if not record.steps:
            record.steps = [step["stepId"] for step in _pages(self.client.list_steps, where,
                                                              "steps")]
        for step_id in record.steps:
            for task in _pages(self.client.list_tasks, dict(where, stepId=step_id), "tasks"):
                items = _task_items(task)
                found = dict(task, stepId=step_id, workIds=items)
                for index in items:
                    record.tasks[index] = found
        record.items = max([record.items] + [index + 1 for index in record.tasks])

    def _item_status(self, record: _Job, index: int, now: float) -> str:
        """An item's status: its task's, but a task that SUCCEEDED is what its result says
        (a call that raised leaves the task SUCCEEDED and its item failed); so is an item of a
        chunk task that ended otherwise but ran the item to its end first."""
        if self._settled(record, index) is not None:
            return FAILED
        if _never_created(record):
            return FAILED  # no task will ever run it (its result says why: _why_lost)
        task = record.tasks.get(index)
        if task is None:
            return KILLED if _job_ended(record.data) else PENDING
        run, target = task.get("runStatus"), task.get("targetRunStatus")
        if run in _ENDED and target in ("PENDING", "READY"):
            return PENDING  # requeued: on its way back
        status = TASK_STATUSES.get(run, PENDING)
        if run in ("SUCCEEDED", "FAILED") or (run == "CANCELED" and _is_chunk(task)):
            ended = str(task.get("endedAt"))
            known = record.results.get(index)
            if known is not None and known[0] == ended:  # read at this end of the task
                return known[1]
            if record.attached and run == "SUCCEEDED" and record.fetched.get(index) != ended:
                if not self._fetch(record, task, ended, now):
                    return RUNNING  # S3 could not be read: asked again on the next cycle
            found = self._result(record, index)
            if found is not None:
                record.results[index] = (ended, found[0])
                record.missing.pop(index, None)
                return found[0]
            if run == "CANCELED":
                return KILLED
            if run == "SUCCEEDED" and record.output and not record.attached:  # may lag
                since = record.missing.setdefault(index, now)
                return FAILED if now - since > RESULT_GRACE else RUNNING
            return FAILED
        if status in (PENDING, BLOCKED) and _job_ended(record.data):
            return KILLED if record.data.get("taskRunStatus") == "CANCELED" else FAILED
        return status

    def _fetch(self, record: _Job, task: Dict[str, Any], ended: str, now: float) -> bool:
        """Download the results of the items of a task that SUCCEEDED (its item, or every item
        of its chunk) from that task's output manifest, once per end of the task; False when
        S3 could not be read (tried again on a later cycle, for up to RESULT_GRACE seconds).
        Why an item's result is not there is kept."""
        from .deadline_attachments import ResultMissing, StorageError, forget_result
        items = task["workIds"]
        for index in items:  # an earlier attempt's, never read for this one
            forget_result(record.output, index)
        try:
            try:
                attachments = self._queue_attachments()
            except Exception as error:  # GetQueue refused: like S3 not answering
                raise StorageError("the queue's job attachments cannot be read now: %s"
                                   % _one_line(error)) from None
            if attachments is None:
                raise ResultMissing("the queue %s has no job attachments any more"
                                    % self.queue_id)
            lost = attachments.download_results(
                record.id, task["stepId"], task["taskId"],
                _attachment_root(record.data) or record.folder, items, record.folder,
                session_action=task.get("latestSessionActionId"))
        except ResultMissing as error:
            lost = {index: str(error) for index in items}
        except StorageError as error:
            since = min(record.missing.setdefault(index, now) for index in items)
            if now - since <= RESULT_GRACE:
                return False
            lost = {index: str(error) for index in items}
        for index in items:
            if index in lost:
                record.lost[index] = "its task SUCCEEDED but %s" % lost[index]
            else:
                record.lost.pop(index, None)
            record.missing.pop(index, None)
            record.fetched[index] = ended
        return True

    def _result(self, record: _Job, index: int) -> Optional[Tuple[str, bytes]]:
        if not record.output:
            return None
        if record.attached:  # only what was downloaded for this end of its task
            ended = str((record.tasks.get(index) or {}).get("endedAt"))
            if record.fetched.get(index) != ended:
                return None
            if index in record.lost:
                return (FAILED, payload.failed_outcomes(FarmError(
                    "work item %s:%d ended without a result: %s"
                    % (record.id, index, record.lost[index]))))
        from .openjd.bundle import read_message, read_result
        try:
            found = read_result(record.output, index)
        except (OSError, ValueError) as error:
            return (FAILED, payload.failed_outcomes(FarmError("the result of %s:%d cannot be read: %s"
                                     % (record.id, index, error))))
        if found is not None and found[0] not in (COMPLETE, FAILED):  # crashed
            return (FAILED, payload.failed_outcomes(FarmError("work item %s:%d crashed: %s" % (
                record.id, index, read_message(record.output, index) or "its interpreter died"))))
        return found

    def _settled(self, record: _Job, index: int) -> Optional[bytes]:
        """The DependencyError outcome the watcher gave an item, if it did."""
        if not record.folder or str(index) not in (record.facts.get("waits") or {}):
            return None
        try:
            with open(os.path.join(record.folder, "dependency-%d.bin" % index), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def _state(self, record: _Job, now: float) -> JobState:
        work = {}
        for index in range(record.items):
            status = self._item_status(record, index, now)
            fraction, message = (1.0, None) if status == COMPLETE else (0.0, None)
            if status == RUNNING and record.output:
                from .openjd.bundle import read_progress
                try:
                    fraction, message = read_progress(record.output, index) or (0.0, None)
                except (OSError, ValueError):
                    pass
            work[index] = WorkState(status, fraction, message)
        statuses = [w.status for w in work.values()]
        return JobState(_job_status(record, statuses), work)

    # -- poll ------------------------------------------------------------------------------

    @_entry
    def poll(self, job_ids: Iterable[str]) -> Dict[str, JobState]:
        ids = sorted(set(job_ids), key=str)
        if not ids:
            return {}
        # The jobs that held items wait on are looked at in the same call (see _release).
        upstream = sorted({ref[0] for job_id in ids for ref in self._open_waits(job_id)}
                          - set(ids))
        found, gone = self._get_jobs(ids + upstream)
        now = time.monotonic()
        out: Dict[str, JobState] = {}
        looked = []
        for job_id in ids + upstream:
            job = found.get(job_id)
            if job is None or job.get("lifecycleStatus") == "ARCHIVED":
                if job_id in gone or job is not None:
                    if job_id in ids:
                        out[job_id] = JobState(REMOVED)
                    self._jobs.pop(job_id, None)
                    self._gone.add(job_id)
                continue
            record = self._record(job)
            signature = _signature(job)
            changed = signature != record.seen
            if changed:
                self._tasks(record)
                record.seen = signature  # only once the tasks are in hand
            looked.append((record, changed))
        for record, changed in looked:
            if record.id in upstream:
                continue
            changed, record.unreported = changed or record.unreported, False
            if self._open_waits(record.id):
                changed = self._release(record, now) or changed
            if not (changed or _has_running(record) or record.missing):
                continue
            state = self._state(record, now)
            shown = (state.status, tuple((w.status, w.progress, w.message)
                                         for w in state.work.values()))
            if changed or shown != record.shown:
                record.shown = shown
                out[record.id] = state
        return out

    def _open_waits(self, job_id: str) -> List[List[Any]]:
        record = self._jobs.get(job_id)
        if record is None:
            return []
        released = set(record.facts.get("released") or ())
        return [ref for key, refs in (record.facts.get("waits") or {}).items()
                if int(key) not in released for ref in refs]

    def _move_task(self, record: _Job, task: Dict[str, Any], status: str) -> bool:
        """UpdateTask; a refusal (a conflict, throttling) is logged and tried again on a later
        cycle, never raised into the poll: the other jobs' futures must go on."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self.client.update_task(targetRunStatus=status, stepId=task["stepId"],
                                    taskId=task["taskId"], jobId=record.id, **self._where())
        except (BotoCoreError, ClientError) as error:
            LOGGER.warning("dccfutures: cannot set task %s of job %s to %s now: %s",
                           task["taskId"], record.id, status, error)
            return False
        return True

    def _release(self, record: _Job, now: float) -> bool:
        """The watcher: release (READY) each held task whose dependencies all ended
        complete; cancel one whose dependency ended otherwise, giving its item a
        DependencyError. Returns whether it acted."""
        released = set(record.facts.get("released") or ())
        acted = []
        for key, refs in (record.facts.get("waits") or {}).items():
            index = int(key)
            task = record.tasks.get(index)
            if index in released or task is None or task.get("runStatus") != "SUSPENDED":
                continue  # not yet listed, or cancelled (or run) meanwhile: not ours to move
            ends = [self._dependency_end(job_id, other, now) for job_id, other in refs]
            if any(end is None for end in ends):
                continue
            failed = next(((ref, end) for ref, end in zip(refs, ends) if end[0] != COMPLETE),
                          None)
            if failed is None:
                moved = self._move_task(record, task, "READY")
            else:
                (job_id, other), (status, outcomes) = failed
                blob = payload.encode_outcomes([payload.dependency_failure(
                    job_id, other, status, str(other), outcomes)])
                write_whole(os.path.join(record.folder, "dependency-%d.bin" % index), blob)
                moved = self._move_task(record, task, "CANCELED")
            if moved:
                acted.append(index)
        if record.facts.get("waits") and not record.facts.get("blocked"):
            # The job was created SUSPENDED for its waiting items only: the others go now.
            for index, task in record.tasks.items():
                if str(index) in record.facts["waits"] or index in released or \
                        task.get("runStatus") != "SUSPENDED":
                    continue
                if self._move_task(record, task, "READY"):
                    acted.append(index)
        if acted:
            record.facts["released"] = sorted(released | set(acted))
            _write_facts(record.folder, record.facts)
            record.seen = None
        return bool(acted)

    def _dependency_end(self, job_id: str, index: int, now: float
                        ) -> Optional[Tuple[str, Optional[bytes]]]:
        """How an item of another job ended (status, outcomes), None while it has not."""
        if job_id in self._gone:
            return REMOVED, None
        other = self._jobs.get(job_id)
        if other is None:
            return None  # not looked at yet: next cycle
        status = self._item_status(other, index, now)
        if status not in TERMINAL:
            return None
        found = self._result(other, index)
        return status, (found[1] if found else None)

    @_entry
    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        out: Dict[WorkRef, Tuple[str, Optional[bytes]]] = {}
        now = time.monotonic()
        for job_id, index in items:
            record = self._jobs.get(job_id)
            if record is None or not (record.tasks or _never_created(record)):
                try:
                    record = self._load(job_id)
                except KeyError:
                    continue
            status = self._item_status(record, index, now)
            settled = self._settled(record, index)
            if settled is not None:
                out[(job_id, index)] = (FAILED, settled)
                continue
            found = self._result(record, index) if status in (COMPLETE, FAILED) else None
            if found is not None:
                out[(job_id, index)] = found
            elif status == FAILED:
                out[(job_id, index)] = (FAILED, payload.failed_outcomes(FarmError(self._why_lost(record, index))))
            elif status == KILLED:
                out[(job_id, index)] = (KILLED, None)
        return out

    def _where_folders_are(self) -> str:
        """Where this client keeps job folders, for messages."""
        if self.spool_dir:
            return "deadline.spool_dir (%s)" % self.spool_dir
        from .local.home import Home
        try:
            home = Home().path
        except Exception:  # an unusable home: the message still says where
            home = "$DCCFUTURES_HOME"
        return "this machine's job attachments folder (%s)" % os.path.join(home, "deadline")

    def _why_lost(self, record: _Job, index: int) -> str:
        if _never_created(record):
            return "job %s could not be created on Deadline Cloud (%s): %s" % (
                record.id, record.data["lifecycleStatus"],
                record.data.get("lifecycleStatusMessage") or "no reason given")
        task = record.tasks.get(index) or {}
        run = task.get("runStatus") or "?"
        text = "work item %s:%d ended without a result (its task is %s" % (record.id, index, run)
        if run == "NOT_COMPATIBLE":
            text += ": no fleet of the queue has a worker that can run it"
        if not record.output:
            text += "; its job folder is not in %s" % self._where_folders_are()
        elif record.attached and run == "FAILED":
            text += "; a task that failed uploads no outputs: its log says why"
        return text + ")"

    # -- actions ---------------------------------------------------------------------------

    def _update_tasks(self, record: _Job, indexes: Iterable[int], status: str) -> None:
        """UpdateTask for the tasks of ``indexes``: once per task (a chunk's items share it)."""
        where = dict(self._where(), jobId=record.id)
        done = set()
        for index in indexes:
            task = record.tasks[index]
            if (task["stepId"], task["taskId"]) in done:
                continue
            done.add((task["stepId"], task["taskId"]))
            self.client.update_task(targetRunStatus=status, stepId=task["stepId"],
                                    taskId=task["taskId"], **where)
        record.seen = None

    def _wanted(self, record: _Job, work_ids: Optional[Sequence[int]]) -> List[int]:
        return [i for i in (range(record.items) if work_ids is None else work_ids)
                if i in record.tasks]

    @staticmethod
    def _with_chunks(record: _Job, indexes: Iterable[int]) -> List[int]:
        """``indexes`` and the other items of their tasks (TASK_CHUNKING: what UpdateTask on
        one item of a chunk does to the others)."""
        return sorted({other for index in indexes
                       for other in record.tasks[index].get("workIds") or (index,)})

    @_entry
    def kill(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        """Cancel the job (``UpdateJob``) or some of its items' tasks (``UpdateTask``); a
        running task is interrupted. A finished item stays finished."""
        return self._move(job_id, work_ids, lambda status: status not in TERMINAL, "CANCELED")

    def _move(self, job_id: str, work_ids: Optional[Sequence[int]],
              chosen: Callable[[str], bool], target: str) -> int:
        """Send the items whose status ``chosen`` picks to ``target``: the whole job
        (``UpdateJob``) or their tasks (``UpdateTask``, a chunk's other items with them);
        returns how many items moved."""
        record = self._load(job_id)
        now = time.monotonic()
        picked = [i for i in self._wanted(record, work_ids)
                  if chosen(self._item_status(record, i, now))]
        if not picked:
            return 0
        if work_ids is None:
            self.client.update_job(jobId=job_id, targetTaskRunStatus=target, **self._where())
            record.seen = None
            return len(picked)
        self._update_tasks(record, picked, target)
        return len([i for i in self._with_chunks(record, picked)
                    if chosen(self._item_status(record, i, now))])

    @_entry
    def retry(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        """Requeue failed and killed items (``UpdateTask`` PENDING: Deadline's requeue); an
        item that waited on other jobs is held again (SUSPENDED) for the watcher. A chunk task
        runs whole again: its other items too (counted)."""
        record = self._load(job_id)
        now = time.monotonic()
        again = [i for i in self._wanted(record, work_ids)
                 if self._item_status(record, i, now) in (FAILED, KILLED)]
        if not again:
            return 0
        again = self._with_chunks(record, again)
        waits = record.facts.get("waits") or {}
        held = [i for i in again if str(i) in waits]
        for index in held:
            if record.folder:
                _remove_file(os.path.join(record.folder, "dependency-%d.bin" % index))
        if held:
            record.facts["released"] = sorted(set(record.facts.get("released") or ())
                                              - set(held))
            _write_facts(record.folder, record.facts)
        for index in again:
            record.results.pop(index, None)
            record.missing.pop(index, None)
        if not record.attached:  # a chunk's items show only what the new run gives them
            self._forget_chunk_results(record, again)  # first: the new run may end at once
        self._update_tasks(record, held, "SUSPENDED")
        self._update_tasks(record, [i for i in again if i not in held], "PENDING")
        return len(again)

    @staticmethod
    def _forget_chunk_results(record: _Job, indexes: Iterable[int]) -> None:
        """Remove the results the earlier run of a requeued chunk task left in the spool: a
        chunk cancelled before it reaches an item again must not show the old result. Where
        the spool will not let us (the worker's folder), the old result stays."""
        from .deadline_attachments import forget_result
        for index in indexes:
            if _is_chunk(record.tasks.get(index) or {}):
                try:
                    forget_result(record.output, index)
                except OSError:
                    pass

    @_entry
    def block(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._move(job_id, work_ids, lambda status: status == PENDING, "SUSPENDED")

    @_entry
    def unblock(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        """READY again; items still held for work of other jobs stay held (the watcher
        releases them)."""
        record = self._load(job_id)
        now = time.monotonic()
        held = set(int(key) for key in record.facts.get("waits") or {}) - \
            set(record.facts.get("released") or ())
        blocked = [i for i in self._wanted(record, work_ids)
                   if self._item_status(record, i, now) == BLOCKED]
        if work_ids is None and not held:
            self.client.update_job(jobId=job_id, targetTaskRunStatus="READY", **self._where())
            record.seen = None
            return len(blocked)
        free = [i for i in blocked if i not in held]
        self._update_tasks(record, free, "READY")
        return len([i for i in self._with_chunks(record, free)
                    if self._item_status(record, i, now) == BLOCKED])

    @_entry
    def log(self, job_id: str, work_id: int) -> str:
        """The item's output as its task wrote it to the spool; else its session's log in
        CloudWatch Logs (what the queue's log group lets this account read)."""
        record = self._jobs.get(job_id)
        if record is None or work_id not in record.tasks:
            record = self._load(job_id)
        if not 0 <= work_id < record.items:
            raise KeyError("%s:%d" % (job_id, work_id))
        text = ""
        if record.output:
            from .openjd.bundle import read_log
            try:
                text = read_log(record.output, work_id)
            except (OSError, ValueError):
                text = ""
        if not text:
            text = self._session_log(record, work_id)
        cap = cap_bytes(self.settings.max_log_mb)
        return cap_text(text, cap, "deadline.max_log_mb")

    def _session_log(self, record: _Job, work_id: int) -> str:
        """The log of the session that ran the item last: ``GetSession`` names its CloudWatch
        log group and stream; the item's part is cut out by its markers."""
        action = (record.tasks.get(work_id) or {}).get("latestSessionActionId")
        if not action:
            return ""
        session_id = "session-" + action.split("-")[1]
        try:
            session = self.client.get_session(jobId=record.id, sessionId=session_id,
                                              **self._where())
            parameters = (session.get("log") or {}).get("parameters") or {}
            group, stream = parameters.get("logGroupName"), parameters.get("logStreamName")
            if not (group and stream):
                return ""
            lines, token = [], None
            while True:
                kwargs = {"nextToken": token} if token else {}
                page = self.logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                startFromHead=True, **kwargs)
                lines += [event.get("message", "") for event in page.get("events") or []]
                if not page.get("events") or page.get("nextForwardToken") in (None, token):
                    break
                token = page["nextForwardToken"]
        except Exception as error:
            return "(the session log of %s:%d cannot be read from CloudWatch Logs: %s)\n" % (
                record.id, work_id, _one_line(error))
        text = "\n".join(lines) + ("\n" if lines else "")
        return cut_log(text, record.id, work_id) or text

    # -- listing ---------------------------------------------------------------------------

    @_entry
    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[str]] = None) -> List[JobInfo]:
        if job_ids is not None:
            found, _ = self._get_jobs(list(job_ids)) if job_ids else ({}, [])
            jobs = [found[j] for j in job_ids if j in found]
        else:
            answer = self.client.search_jobs(
                farmId=self.farm_id, queueIds=[self.queue_id], itemOffset=0,
                pageSize=max(1, min(100, limit)),
                sortExpressions=[{"fieldSort": {"name": "CREATED_AT",
                                                "sortOrder": "DESCENDING"}}])
            jobs = [job for job in answer.get("jobs") or [] if self._folder_of(job)]
        return [self._info(self._record(job)) for job in jobs]

    def _info(self, record: _Job) -> JobInfo:
        job = record.data
        tally: Dict[str, int] = {}
        for run, count in (job.get("taskRunStatusCounts") or {}).items():
            status = TASK_STATUSES.get(run, PENDING)
            tally[status] = tally.get(status, 0) + int(count)
        facts = record.facts
        status = _job_status_from_tally(job, tally)
        return JobInfo(id=record.id, name=str(facts.get("label") or job.get("name") or ""),
                       status=status, prototype=str(facts.get("prototype") or ""),
                       priority=our_priority(job.get("priority", DEFAULT_PRIORITY)),
                       cpus=int(facts.get("cpus") or 0), user=str(job.get("createdBy") or ""),
                       submitted=_stamp(job.get("createdAt")) or 0.0, tally=tally,
                       started=_stamp(job.get("startedAt")), finished=_stamp(job.get("endedAt")),
                       fields={"deadline_name": job.get("name", "")})

    @_entry
    def job(self, job_id: str) -> JobInfo:
        """One job with its agenda; a job with held items is watched once too (released
        where what they wait on has ended), so ``dccfutures show`` releases them."""
        record = self._load(job_id)
        now = time.monotonic()
        if self._open_waits(job_id):
            for other in {ref[0] for ref in self._open_waits(job_id)}:
                try:
                    self._load(other)
                except KeyError:
                    self._gone.add(other)
            self._release(record, now)
        state = self._state(record, now)
        info = self._info(record)
        tally: Dict[str, int] = {}
        for work in state.work.values():
            tally[work.status] = tally.get(work.status, 0) + 1
        info.tally, info.status = tally, state.status
        ncalls = record.facts.get("ncalls") or []
        names = record.facts.get("names") or []
        for index, work in state.work.items():
            task = record.tasks.get(index) or {}
            error = None
            if work.status == FAILED:
                found = self.results([(job_id, index)]).get((job_id, index))
                error = work_error(found[1]) if found else None
            info.work.append(WorkInfo(
                job_id, index, (names[index] if index < len(names) else "") or str(index),
                work.status, work.progress, work.message,
                attempts=int(task.get("failureRetryCount") or 0) + (1 if task.get("startedAt")
                                                                     else 0),
                started=_stamp(task.get("startedAt")), finished=_stamp(task.get("endedAt")),
                ncalls=int(ncalls[index]) if index < len(ncalls) else 1, error=error))
        return info.hold_pending() if info.status == BLOCKED else info

    def ensure_running(self) -> None:
        """Deadline Cloud is AWS's to run; a poll that fails is retried."""

    @_entry
    def export(self, job_id: str, out: str) -> str:
        """Copy the bundle job ``job_id`` was submitted with into ``out`` (absent or empty):
        its parameter values still name the job's folder in the spool. ``KeyError`` when the
        queue has no such job."""
        import shutil
        record = self._load(job_id)
        bundle = os.path.join(record.folder, "bundle") if record.folder else None
        if not bundle or not os.path.isdir(bundle):
            raise FarmError("the bundle of job %s is not in %s: it was not submitted by "
                            "dccfutures from here" % (job_id, self._where_folders_are()))
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            raise ValueError("cannot export into %s: it is not an empty folder" % out)
        shutil.copytree(bundle, out, dirs_exist_ok=True)
        return out


# -- the bundle as a CreateJob request ---------------------------------------------------------

def bundle_request(bundle: str) -> Dict[str, Any]:
    """``template``, ``templateType`` and ``parameters`` of CreateJob for a job bundle: its
    template as written, and its parameter values typed as the template defines them."""
    import yaml
    with open(os.path.join(bundle, "template.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    template = yaml.safe_load(text)
    kinds = {p["name"]: p["type"] for p in template.get("parameterDefinitions") or []}
    values_path = os.path.join(bundle, "parameter_values.yaml")
    values: List[Dict[str, Any]] = []
    if os.path.exists(values_path):
        with open(values_path, encoding="utf-8") as handle:
            values = (yaml.safe_load(handle) or {}).get("parameterValues") or []
    parameters = {}
    for entry in values:
        name = entry["name"]
        if ":" in name or name not in kinds:
            continue  # deadline:* settings of `deadline bundle submit`, not job parameters
        kind = kinds[name].lower()
        parameters[name] = {kind: str(entry["value"])}
    return {"template": text, "templateType": "YAML", "parameters": parameters}


# -- helpers ----------------------------------------------------------------------------------

def _pages(call: Any, kwargs: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    found: List[Dict[str, Any]] = []
    token = None
    while True:
        page = call(maxResults=BATCH, **dict(kwargs, **({"nextToken": token} if token else {})))
        found += page.get(key) or []
        token = page.get("nextToken")
        if not token:
            return found


def _task_items(task: Dict[str, Any]) -> List[int]:
    """The work ids a task runs: its ``Item`` (``{"int": "4"}``), or with TASK_CHUNKING the
    items of its chunk (``{"chunkInt": "3-5"}``; a range expression, ``"1,3,7"`` too). A value
    that is no work id, or a range too wide to be ours, runs none."""
    from ..runtime.openjd import item_range
    value = (task.get("parameters") or {}).get(ITEM_PARAMETER) or {}
    try:
        if "int" in value:
            return [int(value["int"])]
        text = str(value.get("chunkInt") or "")
        spans = [part.partition(":")[0].partition("-") for part in text.split(",")]
        if sum(int(last) - int(first) + 1 if dash else 1
               for first, dash, last in spans) > MAX_CHUNK:
            return []
        return item_range(text) if text else []
    except ValueError:
        return []


def _is_chunk(task: Dict[str, Any]) -> bool:
    """A TASK_CHUNKING task (a range of items, maybe of one)."""
    return "chunkInt" in ((task.get("parameters") or {}).get(ITEM_PARAMETER) or {})


def _attachment_root(job: Dict[str, Any]) -> Optional[str]:
    """The root path of a job's job attachments (its job folder where it was submitted)."""
    manifests = (job.get("attachments") or {}).get("manifests") or []
    return manifests[0].get("rootPath") if len(manifests) == 1 else None


def _never_created(record: "_Job") -> bool:
    """Deadline Cloud could not create the job: it has no tasks and never will."""
    return record.data.get("lifecycleStatus") in ("CREATE_FAILED", "UPLOAD_FAILED")


def _job_ended(job: Dict[str, Any]) -> bool:
    """Deadline Cloud ended the job: nothing of it runs any more."""
    return job.get("taskRunStatus") in _ENDED and \
        job.get("targetTaskRunStatus") in (None, job.get("taskRunStatus"))


def _has_running(record: _Job) -> bool:
    return any(TASK_STATUSES.get(task.get("runStatus")) == RUNNING
               for task in record.tasks.values())


def _job_status(record: _Job, statuses: List[str]) -> str:
    if any(s == RUNNING for s in statuses):
        return RUNNING
    if statuses and all(s in TERMINAL for s in statuses):
        if any(s == KILLED for s in statuses):
            return KILLED
        return FAILED if any(s == FAILED for s in statuses) else COMPLETE
    if record.data.get("targetTaskRunStatus") == "SUSPENDED" or \
            (statuses and all(s in TERMINAL or s == BLOCKED for s in statuses)):
        return BLOCKED
    return PENDING


def _job_status_from_tally(job: Dict[str, Any], tally: Dict[str, int]) -> str:
    if tally.get(RUNNING):
        return RUNNING
    if not (tally.get(PENDING) or tally.get(BLOCKED)):
        if tally.get(KILLED):
            return KILLED
        return FAILED if tally.get(FAILED) else COMPLETE
    return BLOCKED if job.get("targetTaskRunStatus") == "SUSPENDED" or not tally.get(PENDING) \
        else PENDING


def _stamp(value: Any) -> Optional[float]:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return float(value) if value else None


def _read_facts(folder: Optional[str]) -> Dict[str, Any]:
    if not folder:
        return {}
    try:
        with open(os.path.join(folder, FACTS_FILE), encoding="utf-8") as handle:
            facts = json.load(handle)
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def _write_facts(folder: Optional[str], facts: Dict[str, Any]) -> None:
    if folder:
        write_whole(os.path.join(folder, FACTS_FILE), json.dumps(facts).encode("utf-8"))


def _share_with_group(folder: str) -> None:
    """Let the job folder's group read the bundle: a queue's workers often run tasks as a
    job user of the studio's group, not as the submitter (the folder itself is 0770)."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o750)
        for name in files:
            os.chmod(os.path.join(root, name), 0o640)


def _remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _remove_tree(folder: str) -> None:
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


def _taken_results(blob: bytes) -> List[Tuple[Any, int]]:
    """The ``(job, item)`` whose results encoded calls take as arguments: the dependency
    references pickled in them (:func:`dccfutures.payload.dumps`), found by walking the
    pickle's opcodes with :mod:`pickletools`: nothing is unpickled. A blob that cannot be
    walked takes none (its worker says what is wrong with it)."""
    import pickletools
    mark, other = object(), object()
    stack: List[Any] = []
    memo: Dict[int, Any] = {}
    found: List[Tuple[Any, int]] = []
    try:
        for op, arg, _ in pickletools.genops(blob[4:]):  # behind payload's 4-byte header
            name, before, after = op.name, op.stack_before, op.stack_after
            if name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1] if stack else other
                continue
            if pickletools.markobject in before:
                at = len(stack) - 1 - stack[::-1].index(mark)
                items = tuple(stack[at + 1:])
                del stack[at - before.index(pickletools.markobject):]
            else:
                items = tuple(stack[len(stack) - len(before):]) if before else ()
                del stack[len(stack) - len(before):]
            if name == "BINPERSID" and isinstance(items[0], tuple) and len(items[0]) == 4 \
                    and items[0][0] == payload.DEPENDENCY:
                found.append((items[0][1], items[0][2]))
            if name == "MARK":
                stack.append(mark)
            elif name == "NONE":
                stack.append(None)
            elif name.endswith("GET"):
                stack.append(memo.get(arg, other))
            elif name.startswith("TUPLE"):
                stack.append(items)
            elif isinstance(arg, (str, int)) and len(after) == 1 and not before:
                stack.append(arg)
            else:
                stack.extend(other for _ in after)
    except (ValueError, IndexError):
        pass
    return found



