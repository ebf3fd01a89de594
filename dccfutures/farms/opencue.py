"""OpenCue as a dccfutures farm, through its real client (``opencue-pycue``).

One OpenCue job per ``submit``, ``map`` and ``batch``, launched from a job spec (cjsl XML,
DTD 1.15) written here, not through pyoutline. The job has one layer, ``items``, whose
frames are the work items: frame N is work item N, the range is ``0-(items-1)``. Plain work
runs one item per frame; DCC work is chunked (``opencue.chunk`` items per frame) so a DCC
boots once per chunk. The layer's command is :mod:`dccfutures.runtime.opencue`.

Payloads, the job's facts, results and progress live in the job's folder in
``opencue.spool_dir`` (see the runtime's docstring); Cuebot sees only the command line and a
job name ``<show>-<shot>-<user>_<label>.<token>`` whose token names that folder. Results are
never put in job names or comments.

Ids: a job's id is OpenCue's, a UUID string; work ids are agenda indexes (frame numbers).

Polling: ONE ``GetJobs`` per cycle for every outstanding job (state and frame counts), then
``GetUpdatedFrames`` only for the jobs whose state or counts changed (frames changed since
the server time of the last look; a job's first look, and a look after more than 50 s,
reads all its frames with ``GetFrames``). Items of running frames are looked at in the spool,
where results appear before Cuebot marks the frame done. A job gone from Cuebot (archived,
deleted) is ``removed``. No push: the poller backs off from ``poll_min`` to ``poll_max``.
"""
import getpass
import json
import math
import os
import re
import shlex
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import __version__, payload
from ..config import Config
from ..errors import ConfigError, FarmError
from ..runtime.bootstrap import python_command
from ..runtime.opencue import (DONE_FILE, FUNCTION_FILE, JOB_FILE, MODULE, SpoolError, job_folder,
                               log_file,
                               new_token, pack_result, progress_file, read_file, read_progress,
                               read_result, remove_file, result_file, retry_file, work_file,
                               write_file)
from ..runtime.output import cap_bytes, cap_text, cut_log
from .base import (BLOCKED, COMPLETE, FAILED, KILLED, PENDING, REMOVED, RUNNING, TERMINAL, Farm,
                   JobInfo, JobSpec, JobState, WorkError, WorkInfo, WorkRef, WorkState,
                   work_error)

SPEC_VERSION = "1.15"
DOCTYPE = ('<!DOCTYPE spec PUBLIC "SPI Cue  Specification Language" '
           '"http://localhost:8080/spcue/dtd/cjsl-%s.dtd">' % SPEC_VERSION)
LAYER = "items"
_UUID = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
TOKEN_IN_NAME = re.compile(r"\.([0-9a-f]{32})\Z")
SERVER_TIME_FRESH = 50.0  # Cuebot refuses GetUpdatedFrames for a time over a minute old
UPDATED_MAX = 100         # Cuebot returns at most this many updated frames per call
FRAME_PAGE = 1000
RESULT_GRACE = 30.0       # a frame done without a result file: shared storage may lag
RQD_FORK_GRACE = 2.0      # a frame this fresh may not be forked by RQD yet (see kill)
PRIORITY_TOP = 101        # ours 0 -> OpenCue 101 ... ours >= 100 -> OpenCue 1 (its default)
_DCCFUTURES_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# OpenCue frame state -> ours, before the spool's results are looked at.
_FRAME_STATES = {"WAITING": PENDING, "SETUP": PENDING, "CHECKPOINT": PENDING,
                 "RUNNING": RUNNING, "DEPEND": BLOCKED, "SUCCEEDED": COMPLETE,
                 "DEAD": FAILED, "EATEN": KILLED}


# -- the job spec ----------------------------------------------------------------------------

def opencue_priority(priority: Any) -> Optional[int]:
    """Ours (lower runs first, Qube's scale) on OpenCue's (higher runs first, default 1):
    ``max(1, 101 - ours)``, so 0 is 101, 99 is 2 and 100 or more is OpenCue's default."""
    if priority is None:
        return None
    return max(1, PRIORITY_TOP - int(priority))


def our_priority(priority: int) -> int:
    return max(0, PRIORITY_TOP - int(priority))


def _reservations(text: Any) -> Dict[str, str]:
    """Qube's ``reservations`` string (``host.processors=2,host.memory=4096``) as a dict."""
    found = {}
    for part in str(text or "").split(","):
        key, _, value = part.partition("=")
        if key.strip():
            found[key.strip()] = value.strip()
    return found


def _tags(groups: Any) -> Optional[str]:
    """Our ``groups`` as a layer's tags (``a | b``); Cuebot takes 3+ letters, digits, ``_.-``."""
    names = [g.strip() for g in (groups.split(",") if isinstance(groups, str)
                                 else list(groups or ())) if g.strip()]
    for name in names:
        if not re.match(r"^[\w.-]{3,}\Z", name):
            raise ValueError("job field 'groups': %r cannot be an OpenCue tag (tags are 3 or "
                             "more letters, digits, '_', '.' or '-')" % name)
    return " | ".join(names) or None


def layer_resources(fields: Dict[str, Any]) -> Dict[str, str]:
    """The layer's ``cores``, ``memory``, ``timeout`` and ``tags`` from our job fields.

    ``host.processors`` in ``reservations`` is the cores each frame reserves (Qube's meaning:
    per subjob), written with a decimal point: Cuebot reads ``4`` as 4 hundredths of a core;
    without it, the service's (one core). ``host.memory`` (MB) is the frame's memory;
    ``timelimit`` (s) the layer's timeout (Cuebot's minutes). ``cpus`` is not per frame: see
    :func:`job_max_cores`."""
    found: Dict[str, str] = {}
    reserved = _reservations(fields.get("reservations"))
    cores = _frame_cores(reserved)
    if cores:
        found["cores"] = "%.1f" % cores
    memory = reserved.get("host.memory")
    if memory:
        if not memory.isdigit():
            raise ValueError("job field 'reservations': host.memory must be MB as a whole "
                             "number, got %r" % memory)
        found["memory"] = "%sm" % memory
    limit = fields.get("timelimit")
    if limit is not None and limit > 0:
        found["timeout"] = str(int(math.ceil(limit / 60.0)))
    tags = _tags(fields.get("groups"))
    if tags:
        found["tags"] = tags
    return found


def _frame_cores(reserved: Dict[str, str]) -> Optional[float]:
    cores = reserved.get("host.processors")
    if cores in (None, "", "0"):
        return None
    try:
        return float(cores)
    except ValueError:
        raise ValueError("job field 'reservations': host.processors must be a number, "
                         "got %r" % cores) from None


def job_max_cores(fields: Dict[str, Any]) -> Optional[int]:
    """The job's ``<maxcores>`` (whole cores): ``cpus`` is how many of its items run at once,
    as on every farm (``max_workers``), so the job may book ``cpus`` frames' cores at most."""
    cpus = fields.get("cpus")
    if not cpus:
        return None
    per_frame = _frame_cores(_reservations(fields.get("reservations"))) or 1.0
    return int(math.ceil(int(cpus) * per_frame))


def frame_of(index: int, chunk: int) -> int:
    """The frame that runs work item ``index`` (the first of its chunk)."""
    return index - index % chunk


def frame_name(number: int) -> str:
    return "%04d-%s" % (number, LAYER)


def _name_part(text: str, what: str) -> str:
    """A piece of a job name as Cuebot keeps it: lower case, ``[a-z0-9_.]``."""
    cleaned = re.sub(r"_{2,}", "_", re.sub(r"[^a-z0-9_.]", "_", text.lower())).strip("_.")
    return cleaned or what


def job_name(show: str, shot: str, user: str, label: str, token: str) -> str:
    """OpenCue's ``show-shot-user_suffix`` convention, the suffix ending with our token.

    Cuebot conforms a name: it keeps the suffix after a ``show-shot-user_`` prefix (the shot
    lower-cased), lower-cases it, and lower-cases the whole; what we send already has that
    form, so the name Cuebot stores is ``job_name(...).lower()``, the name a dependency on
    this job must give."""
    return "%s-%s-%s_%s.%s" % (show, shot.lower(), user, _name_part(label, "job")[:80], token)


class SpecJob:
    """One job of a spec, as written: its spec, name, token, chunk size, and the Python that
    runs its frames' runtime (None: the interpreter its work names)."""

    def __init__(self, spec: JobSpec, name: str, token: str, chunk: int,
                 python: Optional[str] = None):
        self.spec, self.name, self.token, self.chunk = spec, name, token, chunk
        self.python = python


def spec_xml(jobs: Sequence[SpecJob], show: str, shot: str, user: str,
             facility: Optional[str] = None, uid: Optional[int] = None,
             max_attempts: int = 2, python: Optional[str] = None,
             external: Optional[Dict[Any, Tuple[str, int]]] = None) -> str:
    """The cjsl XML (DTD 1.15) launching ``jobs``. ``external``: ``{job id: (name, chunk)}``
    of the running jobs their items depend on (an item of a job that ended is not a Cuebot
    dependency: the runtime reads its result)."""
    root = ET.Element("spec")
    if facility:
        ET.SubElement(root, "facility").text = facility
    ET.SubElement(root, "show").text = show
    ET.SubElement(root, "shot").text = shot
    ET.SubElement(root, "user").text = user
    if uid is not None:
        ET.SubElement(root, "uid").text = str(uid)
    depends = []
    for job in jobs:
        spec = job.spec
        fields = spec.fields
        node = ET.SubElement(root, "job", {"name": job.name})
        ET.SubElement(node, "paused").text = "True" if fields.get("status") == "blocked" \
            else "False"
        priority = opencue_priority(fields.get("priority"))
        if priority is not None:
            ET.SubElement(node, "priority").text = str(priority)
        attempts = fields.get("max_attempts") or max_attempts
        ET.SubElement(node, "maxretries").text = str(max(0, int(attempts) - 1))
        max_cores = job_max_cores(fields)
        if max_cores:
            ET.SubElement(node, "maxcores").text = str(max_cores)
        ET.SubElement(node, "autoeat").text = "False"
        env = ET.SubElement(node, "env")
        ET.SubElement(env, "key", {"name": "PYTHONPATH"}).text = _DCCFUTURES_ROOT
        layers = ET.SubElement(node, "layers")
        layer = ET.SubElement(layers, "layer", {"name": LAYER, "type": "Render"})
        interpreter = job.python or spec.package.get("python") or python or sys.executable
        command = python_command(interpreter, MODULE, ["--job", job.token, "--first",
                                                       "#FRAME_START#", "--last", "#FRAME_END#"])
        ET.SubElement(layer, "cmd").text = " ".join(
            shlex.quote(arg) if not arg.startswith("#") else arg for arg in command)
        ET.SubElement(layer, "range").text = "0-%d" % (len(spec.work) - 1) \
            if len(spec.work) > 1 else "0"
        ET.SubElement(layer, "chunk").text = str(job.chunk)
        resources = layer_resources(fields)
        for key in ("cores", "memory", "timeout", "tags"):  # the DTD's order
            if key in resources:
                ET.SubElement(layer, key).text = resources[key]
        depends += _depends(job, external or {})
    if depends:
        block = ET.SubElement(root, "depends")
        for kind, attrs in depends:
            node = ET.SubElement(block, "depend", {"type": kind})
            for key in ("depjob", "deplayer", "depframe", "onjob", "onlayer", "onframe"):
                if key in attrs:
                    ET.SubElement(node, key).text = attrs[key]
    return '<?xml version="1.0"?>' + DOCTYPE + ET.tostring(root, encoding="unicode")


def _depends(job: SpecJob, external: Dict[Any, Tuple[str, int]]) -> List[Tuple[str, Dict]]:
    """Depends for the items' ``depends_on``: FRAME_ON_FRAME within the job, or on a frame of
    a running job. Several items of one frame (a chunk) share their frame's depends.

    Cuebot refuses a spec depend whose two frame names are equal, other job or not ("cannot
    depend on itself"): a frame on the frame of the same number in another job waits for that
    job's whole layer instead (FRAME_ON_LAYER; exact when that job has one frame)."""
    found = {}
    for index, work in enumerate(job.spec.work):
        mine = frame_of(index, job.chunk)
        for other_job, other in work.depends_on:
            if other_job is None:
                on_name, on_frame = job.name, frame_of(other, job.chunk)
                if on_frame == mine:
                    continue  # the same frame runs them in order
            elif other_job in external:
                on_name, chunk = external[other_job]
                on_frame = frame_of(other, chunk)
            else:
                continue  # ended already: the runtime reads its result
            found[(mine, on_name, None if on_frame == mine else on_frame)] = None
    depends = []
    for mine, on_name, on_frame in found:
        attrs = {"depjob": job.name, "deplayer": LAYER, "depframe": frame_name(mine),
                 "onjob": on_name, "onlayer": LAYER}
        if on_frame is None:
            depends.append(("FRAME_ON_LAYER", attrs))
        else:
            attrs["onframe"] = frame_name(on_frame)
            depends.append(("FRAME_ON_FRAME", attrs))
    return depends


# -- what the client knows of a job ----------------------------------------------------------

class _Job:
    """A job this process watches: its facts, its frames, and what its items became."""

    def __init__(self, job_id: str, name: str, token: str, facts: Dict[str, Any]):
        self.id, self.name, self.token, self.facts = job_id, name, token, facts
        self.items = int(facts.get("items") or 0)
        self.chunk = int(facts.get("chunk") or 1)
        self.data: Any = None  # the latest job_pb2.Job
        self.frames: Dict[int, Any] = {}  # frame number -> frame (Frame or UpdatedFrame)
        self.numbers: Dict[str, int] = {}  # frame id -> number
        self.server_time: Optional[int] = None
        self.server_time_at = 0.0
        self.seen: Optional[Tuple] = None
        self.shown: Optional[Tuple] = None  # what the last poll reported
        self.results: Dict[int, str] = {}  # items whose result file was read: their status
        self.missing: Dict[int, float] = {}  # items whose frame ended without a result: since


def _signature(job: Any) -> Tuple:
    stats = job.job_stats
    return (job.state, job.is_paused, stats.waiting_frames, stats.running_frames,
            stats.dead_frames, stats.eaten_frames, stats.depend_frames, stats.succeeded_frames)


def _state_name(value: int) -> str:
    from opencue_proto import job_pb2
    return job_pb2.FrameState.Name(value)


def _job_finished(job: Any) -> bool:
    from opencue_proto import job_pb2
    return job.state == job_pb2.FINISHED


class OpenCueFarm(Farm):
    name = "opencue"
    pushes = False

    def __init__(self, config: Config):
        self.config = config
        settings = config.opencue
        self.settings = settings
        self.poll_interval = (settings.poll_min, settings.poll_max)
        self.spool_dir = settings.spool_dir
        self._api: Any = None
        self._jobs: Dict[str, _Job] = {}
        self._facts: Dict[str, Dict[str, Any]] = {}  # token -> job.json, read once
        self._folders: Dict[str, str] = {}  # token -> its spool folder, checked once
        self._folder_errors: Dict[str, str] = {}  # token -> why its folder cannot be used
        # Cuebot's clock minus ours, from the times it sends (a job's start, server_time):
        # GetUpdatedFrames with a last_check over a minute old on ITS clock never answers.
        self._clock_offset = 0.0

    # -- pycue -----------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """pycue, connected to ``opencue.hosts`` (else to what pycue's own ``CUEBOT_HOSTS``
        or config file name)."""
        if self._api is None:
            try:
                import opencue
                import opencue.api
            except ImportError as error:
                raise FarmError("the opencue farm needs OpenCue's client: pip install "
                                "opencue-pycue opencue-proto (%s)" % error) from None
            try:
                if self.settings.hosts:
                    opencue.Cuebot.setHosts(list(self.settings.hosts))
                elif opencue.Cuebot.RpcChannel is None:
                    opencue.Cuebot.init()
            except Exception as error:
                where = ("opencue.hosts (%s) in %s" % (", ".join(self.settings.hosts),
                                                       self.config.path or "the config")
                         if self.settings.hosts else "CUEBOT_HOSTS or pycue's config file")
                raise FarmError("cannot reach Cuebot at %s: %s" % (where, error)) from None
            self._api = opencue.api
        return self._api

    def _show(self) -> str:
        if not self.settings.show:
            raise ConfigError("the opencue farm needs a show: set opencue.show (a show that "
                              "exists in Cuebot)", path=self.config.path, key="opencue.show")
        return self.settings.show

    def _spool(self) -> str:
        if not self.spool_dir:
            raise ConfigError("the opencue farm needs opencue.spool_dir: a folder the artists' "
                              "machines and the render hosts both see (payloads and results "
                              "travel through it)", path=self.config.path,
                              key="opencue.spool_dir")
        return self.spool_dir

    # -- submit ----------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSpec]) -> List[str]:
        show, spool = self._show(), self._spool()
        user = _user()
        shot = self.settings.shot
        written = []
        for spec in jobs:
            if not spec.work:
                raise ValueError("a job needs at least one work item")
            token = new_token()
            chunk = self.settings.chunk if spec.package.get("bootstrap") else 1
            written.append(SpecJob(spec, job_name(show, shot, user, spec.name, token),
                                   token, chunk, self._runner(spec)))
        external = self._external(jobs)
        folders = []
        try:
            for job in written:
                folders.append(self._write_spool(job, spool, external))
            xml = spec_xml(written, show, shot, user, self.settings.facility, _uid(user),
                           self.settings.max_attempts, external={
                               job_id: (record.name, record.chunk) for job_id, (record, ended)
                               in external.items() if not ended})
            launched = self.api.launchSpecAndWait(xml)
        except BaseException as error:
            for folder in folders:
                _remove_tree(folder)
            if isinstance(error, (ValueError, ConfigError, FarmError)):
                raise
            if isinstance(error, Exception):
                raise FarmError("Cuebot refused the job: %s" % error) from None
            raise
        by_name = {job.name(): job for job in launched}
        ids = []
        for job in written:
            job.name = job.name.lower()  # as Cuebot stores it (see job_name)
            found = by_name.get(job.name)
            if found is None:
                raise FarmError("Cuebot launched %s but did not return it" % job.name)
            self._facts[job.token] = self._facts_of(job)
            self._jobs[found.id()] = record = _Job(found.id(), job.name, job.token,
                                                   self._facts[job.token])
            record.data = found.data
            if found.data.start_time:
                self._clock_offset = found.data.start_time - time.time()
            ids.append(found.id())
        return ids

    def _runner(self, spec: JobSpec) -> Optional[str]:
        """The Python a frame's runtime runs in: the work's own interpreter, but for a DCC
        started as an application (``maya -batch``, ``blender -b``), which is no Python, the
        plain Python of this session (the runtime then starts the DCC as its child)."""
        from ..runtime.bootstrap import COMMANDS
        if (spec.package.get("bootstrap") or {}).get("kind") in COMMANDS:
            from ..interpreter import plain_python
            return plain_python(self.config)
        return None

    def _facts_of(self, job: SpecJob) -> Dict[str, Any]:
        return json.loads(read_file(job_folder(self.spool_dir, job.token), JOB_FILE) or b"{}")

    def _external(self, jobs: Sequence[JobSpec]) -> Dict[str, Tuple[_Job, bool]]:
        """The jobs that new work depends on, looked at now: those that ended are no Cuebot
        dependency (Cuebot finds jobs to depend on by name among active jobs only)."""
        ids = sorted({j for spec in jobs for work in spec.work for j, _ in work.depends_on
                      if j is not None})
        if not ids:
            return {}
        found = {job.id(): job for job in self.api.getJobs(id=ids, include_finished=True)}
        records = {}
        for job_id in ids:
            if job_id not in found:
                raise ValueError("work depends on job %s, which is not on the OpenCue farm "
                                 "(removed?)" % job_id)
            records[job_id] = (self._record(found[job_id]), _job_finished(found[job_id].data))
        for spec in jobs:
            for work in spec.work:
                for job_id, index in work.depends_on:
                    if job_id is not None and index >= records[job_id][0].items:
                        raise ValueError("work depends on item %s:%d, which does not exist"
                                         % (job_id, index))
        return records

    def _write_spool(self, job: SpecJob, spool: str,
                     external: Dict[str, Tuple[_Job, bool]]) -> str:
        spec = job.spec
        folder = job_folder(spool, job.token, create=True)
        package = spec.package
        facts = {key: package[key] for key in ("python", "python_version", "sys_path",
                                                "sys_path_installed", "cwd", "bootstrap",
                                                "initializer", "callable", "on_done")
                 if package.get(key) is not None}
        facts.update(dccfutures=__version__, prototype=spec.prototype, items=len(spec.work),
                     label=spec.name, submitted=time.time(),
                     chunk=job.chunk, ncalls=[w.ncalls for w in spec.work],
                     names=[w.name for w in spec.work], max_log_mb=self.settings.max_log_mb,
                     env=_farm_env(spec.env), function=spec.function is not None,
                     cpus=spec.fields.get("cpus"), priority=spec.fields.get("priority"),
                     groups=spec.fields.get("groups"))
        depends = {str(i): [[j, k] for j, k in work.depends_on]
                   for i, work in enumerate(spec.work) if work.depends_on}
        if depends:
            facts["depends_on"] = depends
            facts["jobs"] = {job_id: record.token for job_id, (record, _) in external.items()}
        if spec.function is not None:
            write_file(folder, FUNCTION_FILE, spec.function)
        for index, work in enumerate(spec.work):
            write_file(folder, work_file(index), work.package)
        write_file(folder, JOB_FILE, json.dumps(facts).encode("utf-8"))
        return folder

    # -- knowing jobs ----------------------------------------------------------------------

    def _record(self, job: Any) -> _Job:
        """The record of a pycue job, made from its name's token and its spool folder."""
        record = self._jobs.get(job.id())
        if record is not None:
            return record
        match = TOKEN_IN_NAME.search(job.name())
        if match is None:
            raise KeyError("%s is not a dccfutures job" % job.name())
        token = match.group(1)
        facts = self._facts.get(token)
        if facts is None:
            try:
                data = read_file(job_folder(self._spool(), token), JOB_FILE)
                facts = json.loads(data.decode("utf-8")) if data else {}
            except (SpoolError, OSError, ValueError):
                facts = {}
            if facts:
                self._facts[token] = facts
        if not facts:  # its spool folder is gone: count its frames as its items
            facts = {"items": job.data.job_stats.total_frames, "chunk": 1}
        record = self._jobs[job.id()] = _Job(job.id(), job.name(), token, facts)
        record.data = job.data
        return record

    def _folder(self, record: _Job) -> Optional[str]:
        return self._token_folder(record.token)

    def _token_folder(self, token: Optional[str]) -> Optional[str]:
        """The spool folder of job ``token``, checked once per job (``job_folder``: a real
        folder directly inside our spool folder, not a link): a job's folder does not change,
        and polls read it for every item. None while it cannot be used (why: in
        ``_folder_errors``); that is checked again next time, as shared storage may show a
        new folder late."""
        if not token:
            return None
        folder = self._folders.get(token)
        if folder is None:
            try:
                folder = self._folders[token] = job_folder(self.spool_dir, token)
            except SpoolError as error:
                self._folder_errors[token] = str(error)
                return None
            self._folder_errors.pop(token, None)
        return folder

    def _read_result(self, record: _Job, index: int) -> Optional[Tuple[str, Optional[bytes]]]:
        """The item's result from the spool, (status, outcomes); None while there is none.
        One that cannot be read is a failure saying why."""
        folder = self._folder(record)
        if not folder:
            return None
        try:
            return read_result(folder, index)
        except (OSError, ValueError) as error:
            return FAILED, payload.failed_outcomes(FarmError(
                "the result of %s:%d cannot be read: %s" % (record.id, index, error)))

    def _frames(self, record: _Job, job: Any) -> None:
        """Bring ``record.frames`` up to date: the frames changed since the last look, or
        all of them."""
        if record.server_time is not None and \
                time.monotonic() - record.server_time_at < SERVER_TIME_FRESH:
            try:
                result = job.getUpdatedFrames(record.server_time)
            except Exception:
                result = None
            updated = list(result.updated_frames.updated_frames) if result is not None else []
            if result is not None and len(updated) < UPDATED_MAX and \
                    all(frame.id in record.numbers for frame in updated):
                record.server_time, record.server_time_at = result.server_time, time.monotonic()
                self._clock_offset = result.server_time - time.time()
                for frame in updated:
                    record.frames[record.numbers[frame.id]] = frame
                return
        self._all_frames(record, job)

    def _all_frames(self, record: _Job, job: Any) -> None:
        """Every frame of the job (pages of ``FRAME_PAGE``), and a server time to ask for
        changes from next time (asked first: what changes in between is seen again)."""
        started = time.monotonic()
        try:
            result = job.getUpdatedFrames(int(time.time() + self._clock_offset) - 30)
            record.server_time, record.server_time_at = result.server_time, started
            self._clock_offset = result.server_time - time.time()
        except Exception:  # Cuebot's clock is not what we thought: full looks this time
            record.server_time = None
        page = 1
        while True:
            frames = job.getFrames(page=page, limit=FRAME_PAGE)
            for frame in frames:
                record.numbers[frame.id()] = frame.number()
                record.frames[frame.number()] = frame.data
            if len(frames) < FRAME_PAGE:
                break
            page += 1

    def _item_status(self, record: _Job, index: int, now: float) -> str:
        """An item's status: its result in the spool, else its frame's state."""
        return self._item_result(record, index, now)[0]

    def _item_result(self, record: _Job, index: int, now: float, outcomes: bool = False
                     ) -> Tuple[str, Optional[Tuple[str, Optional[bytes]]]]:
        """An item's status, and its result (status, outcomes) when this call read it from
        the spool: always with ``outcomes``, else when its frame says it may have ended. The
        result file is read once at most."""
        known = record.results.get(index)
        if known is not None:
            return known, (self._read_result(record, index) if outcomes else None)
        frame = record.frames.get(frame_of(index, record.chunk))
        state = _FRAME_STATES.get(_state_name(frame.state), PENDING) if frame is not None \
            else PENDING
        finished = record.data is not None and _job_finished(record.data)
        found = None
        if outcomes or state in (RUNNING, COMPLETE, FAILED, KILLED) or finished:
            found = self._read_result(record, index)
            if found is not None and (state in (RUNNING, COMPLETE, FAILED, KILLED) or finished):
                record.results[index] = found[0]
                record.missing.pop(index, None)
                return found[0], found
        if (state in TERMINAL or finished) and self._retrying(record, index):
            return PENDING, found  # Cuebot acts on a retry a moment after it answered
        if state == COMPLETE:  # done without a result: shared storage may show it late
            since = record.missing.setdefault(index, now)
            return (FAILED if now - since > RESULT_GRACE or finished else RUNNING), found
        if finished and state not in TERMINAL:
            return KILLED, found  # the job was killed with this item open
        if state == RUNNING and record.chunk > 1:
            first = next((i for i in range(frame_of(index, record.chunk), index)
                          if i not in record.results), index)
            # a chunk runs its items in order
            return (RUNNING if first == index else PENDING), found
        return state, found

    def _retrying(self, record: _Job, index: int) -> bool:
        """Whether the item was sent to run again in the last ``RESULT_GRACE`` seconds (by
        any client: the mark is in the spool) and has not ended since."""
        folder = self._folder(record)
        try:
            since = os.stat(os.path.join(folder, retry_file(index))).st_mtime if folder else 0
        except OSError:
            return False
        return time.time() - since < RESULT_GRACE

    def _state(self, record: _Job, now: float) -> JobState:
        work = {}
        folder = None
        for index in range(record.items):
            status = self._item_status(record, index, now)
            fraction, message = (1.0, None) if status == COMPLETE else (0.0, None)
            if status == RUNNING:
                folder = folder or self._folder(record)
                if folder:
                    fraction, message = read_progress(folder, index)
            work[index] = WorkState(status, fraction, message)
        return JobState(_job_status(record, [w.status for w in work.values()]), work)

    def _settle_stuck(self, record: _Job, job: Any, now: float) -> bool:
        """Items waiting (DEPEND) on work that ended without completing: Cuebot releases a
        depend only when its frame SUCCEEDED, so they would wait for ever. Each fails as the
        runtime would fail it, with a DependencyError naming that work (written to the
        spool), and its frame is eaten so the job can finish."""
        depends = record.facts.get("depends_on") or {}
        folder = self._folder(record) if depends else None
        if not folder:
            return False
        settled = set()
        for key, refs in depends.items():
            index = int(key)
            frame = record.frames.get(frame_of(index, record.chunk))
            if index in record.results or frame is None or \
                    _state_name(frame.state) != "DEPEND":
                continue
            for job_id, other in refs:
                status, outcomes = self._dependency_end(record, job_id, int(other), now)
                if status in (FAILED, KILLED):
                    blob = payload.encode_outcomes([payload.dependency_failure(
                        record.id if job_id is None else job_id, int(other), status, str(other),
                        outcomes)])
                    write_file(folder, result_file(index), pack_result(FAILED, blob))
                    record.results[index] = FAILED
                    settled.add(frame_of(index, record.chunk))
                    break
        frames = [number for number in sorted(settled)
                  if all(i in record.results for i in range(number, min(number + record.chunk,
                                                                         record.items)))]
        if frames:
            job.eatFrames(frames=[frame_name(number) for number in frames])
        return bool(settled)

    def _dependency_end(self, record: _Job, job_id: Optional[str], index: int, now: float
                        ) -> Tuple[Optional[str], Optional[bytes]]:
        """How a dependency ended as far as this process can tell (None: not yet, or
        unknown), with its outcomes."""
        other = record if job_id is None else self._jobs.get(job_id)
        if other is not None and other.frames:
            status, found = self._item_result(other, index, now)
            if found is None and status in (FAILED, KILLED):
                found = self._read_result(other, index)
            return status, (found[1] if found else None)
        folder = self._token_folder((record.facts.get("jobs") or {}).get(job_id))
        try:
            found = read_result(folder, index) if folder else None
        except (OSError, ValueError):
            found = None
        return (found[0], found[1]) if found else (None, None)

    def _has_running(self, record: _Job) -> bool:
        return any(_state_name(frame.state) == "RUNNING" for frame in record.frames.values())

    # -- poll ------------------------------------------------------------------------------

    def poll(self, job_ids: Iterable[str]) -> Dict[str, JobState]:
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        # The jobs that waiting items depend on are looked at in the same call: one ending
        # without completing fails what waits for it (see _settle_stuck).
        upstream = sorted({job_id for record in (self._jobs.get(i) for i in ids)
                           if record is not None and self._waiting(record)
                           for refs in record.facts["depends_on"].values()
                           for job_id, _ in refs if job_id is not None} - set(ids))
        found = {job.id(): job for job in self.api.getJobs(id=ids + upstream,
                                                           include_finished=True)}
        now = time.monotonic()
        out: Dict[str, JobState] = {}
        looked = []
        for job_id in ids + upstream:
            job = found.get(job_id)
            if job is None:
                if job_id in upstream:
                    continue
                out[job_id] = JobState(REMOVED)
                self._jobs.pop(job_id, None)
                continue
            try:
                record = self._record(job)
            except KeyError:
                if job_id not in upstream:
                    out[job_id] = JobState(REMOVED)
                continue
            record.data = job.data
            signature = _signature(job.data)
            changed = signature != record.seen
            if changed:
                self._frames(record, job)
                # Only once the frames are in hand is the change taken as seen: a failed
                # look must show it again next cycle.
                record.seen = signature
            looked.append((record, job, changed))
        anything = any(changed for _, _, changed in looked)
        for record, job, changed in looked:
            if record.id in upstream:
                continue
            if anything and self._waiting(record):  # what it waits for may have ended
                changed = self._settle_stuck(record, job, now) or changed
            if not (changed or self._has_running(record) or record.missing):
                continue
            state = self._state(record, now)
            shown = (state.status, tuple((w.status, w.progress, w.message)
                                         for w in state.work.values()))
            if changed or shown != record.shown:  # unchanged: the poller backs off
                record.shown = shown
                out[record.id] = state
        return out

    def _waiting(self, record: _Job) -> bool:
        """Whether items of the job wait (DEPEND) on other work."""
        return bool(record.facts.get("depends_on")) and any(
            _state_name(frame.state) == "DEPEND" for frame in record.frames.values())

    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        out: Dict[WorkRef, Tuple[str, Optional[bytes]]] = {}
        now = time.monotonic()
        for job_id, index in items:
            record = self._jobs.get(job_id)
            if record is None:
                try:
                    record = self._load(job_id)
                except KeyError:
                    continue
            if index >= record.items:
                continue
            status, found = self._item_result(record, index, now, outcomes=True)
            if found is not None:
                out[(job_id, index)] = found
            elif status == FAILED:
                out[(job_id, index)] = (FAILED, payload.failed_outcomes(FarmError(self._why_lost(record, index))))
            elif status == KILLED:
                out[(job_id, index)] = (KILLED, None)
        return out

    def _load(self, job_id: str) -> _Job:
        """A job this process has not watched yet (attach, the CLI), with its frames.
        OpenCue's ids are UUIDs: anything else (another farm's number) is no job here."""
        if not isinstance(job_id, str) or not _UUID.match(job_id):
            raise KeyError(job_id)
        found = self.api.getJobs(id=[job_id], include_finished=True)
        if not found:
            raise KeyError(job_id)
        record = self._record(found[0])
        record.data = found[0].data
        self._all_frames(record, found[0])
        record.seen = _signature(found[0].data)
        return record

    def _why_lost(self, record: _Job, index: int) -> str:
        frame = record.frames.get(frame_of(index, record.chunk))
        state = _state_name(frame.state) if frame is not None else "?"
        text = "work item %s:%d ended without a result (its frame %s is %s" % (
            record.id, index, frame_name(frame_of(index, record.chunk)), state)
        if frame is not None and state == "DEAD":
            text += ", exit status %d" % frame.exit_status
        text += ")"
        tail = self._frame_log(record, frame_of(index, record.chunk))[-2000:]
        folder = self._folder(record)
        if folder is None:
            text += "; " + self._folder_errors.get(record.token, "its spool folder cannot be "
                                                   "used")
        elif not os.path.isdir(folder):
            text += "; its spool folder is gone from %s" % self.spool_dir
        return text + ("; the frame's log ends with:\n" + tail if tail.strip() else "")

    # -- actions ---------------------------------------------------------------------------

    def _job(self, job_id: str) -> Tuple[Any, _Job]:
        found = self.api.getJobs(id=[job_id], include_finished=True)
        if not found:
            raise KeyError(job_id)
        record = self._record(found[0])
        record.data = found[0].data
        return found[0], record

    def kill(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        """Kill the job, or eat the frames of some items (killing them where they run): an
        eaten frame stays done, as a killed item does, until it is retried. Items of one
        chunk share a frame: killing one kills the chunk."""
        job, record = self._job(job_id)
        self._all_frames(record, job)
        now = time.monotonic()
        wanted = range(record.items) if work_ids is None else \
            [i for i in work_ids if 0 <= i < record.items]
        open_items = [i for i in wanted if self._item_status(record, i, now) not in TERMINAL]
        record.seen = None
        if not open_items:
            return 0
        self._let_fresh_frames_fork(record, open_items)
        if work_ids is None:
            job.kill(reason="dccfutures: killed by %s" % _user())
        else:
            frames = sorted({frame_name(frame_of(i, record.chunk)) for i in open_items})
            job.eatFrames(frames=frames)
        return len(open_items)

    def _let_fresh_frames_fork(self, record: "_Job", items: Sequence[int]) -> None:
        """RQD (1.37, and its source as this is written) SIGKILLs its own process group when
        a kill reaches a frame it has not forked yet (the frame's pid is still 0): the render
        host's RQD dies, and Cuebot loses what it ran. A frame Cuebot started less than
        ``RQD_FORK_GRACE`` ago is given that long before the kill is sent."""
        from opencue_proto import job_pb2
        starts = [frame.start_time for frame in (record.frames.get(frame_of(i, record.chunk))
                                                 for i in set(items))
                  if frame is not None and frame.state == job_pb2.RUNNING]
        if starts:
            wait = max(starts) + RQD_FORK_GRACE - (time.time() + self._clock_offset)
            time.sleep(min(RQD_FORK_GRACE, max(0.0, wait)))

    def retry(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        """Run failed or killed items again: their results go, their frames are retried (a
        frame run again skips the items of its chunk that still have a result)."""
        job, record = self._job(job_id)
        self._all_frames(record, job)
        now = time.monotonic()
        wanted = range(record.items) if work_ids is None else \
            [i for i in work_ids if 0 <= i < record.items]
        again = [i for i in wanted if self._item_status(record, i, now) in (FAILED, KILLED)]
        if not again:
            return 0
        folder = self._folder(record)
        if folder:
            remove_file(folder, DONE_FILE)  # the job will end again: its on_done runs again
        for index in again:
            if folder:
                write_file(folder, retry_file(index), b"")
                remove_file(folder, result_file(index))
                remove_file(folder, progress_file(index))
            record.results.pop(index, None)
            record.missing.pop(index, None)
        frames = sorted({frame_name(frame_of(i, record.chunk)) for i in again})
        job.retryFrames(frames=frames)
        record.seen = None
        return len(again)

    def block(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._pause(job_id, work_ids, True)

    def unblock(self, job_id: str, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._pause(job_id, work_ids, False)

    def _pause(self, job_id: str, work_ids: Optional[Sequence[int]], pause: bool) -> int:
        """OpenCue holds back whole jobs (pause), not single frames."""
        if work_ids is not None:
            raise ValueError("OpenCue pauses whole jobs, not single work items: %s the job "
                             "%s instead" % ("block" if pause else "unblock", job_id))
        job, record = self._job(job_id)
        self._all_frames(record, job)
        now = time.monotonic()
        count = sum(1 for i in range(record.items)
                    if self._item_status(record, i, now) in (PENDING, BLOCKED))
        job.pause() if pause else job.resume()
        record.seen = None
        return count

    def log(self, job_id: str, work_id: int) -> str:
        record = self._jobs.get(job_id)
        if record is None or not record.frames:
            record = self._load(job_id)
        if not 0 <= work_id < record.items:
            raise KeyError("%s:%d" % (job_id, work_id))
        number = frame_of(work_id, record.chunk)
        folder = self._folder(record)
        try:
            copy = read_file(folder, log_file(number)) if folder else None
        except OSError:
            copy = None
        text = copy.decode("utf-8", "replace") if copy is not None else \
            self._frame_log(record, number)
        cap = cap_bytes(self.settings.max_log_mb)
        return cap_text(cut_log(text, job_id, work_id), cap, "opencue.max_log_mb")

    def _frame_log(self, record: _Job, number: int) -> str:
        """RQD's log of a frame: ``<log dir>/<job>.<frame>.rqlog`` (shared storage)."""
        if record.data is None or not record.data.log_dir:
            return ""
        path = os.path.join(record.data.log_dir, "%s.%s.rqlog" % (record.name,
                                                                  frame_name(number)))
        try:
            with open(path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- listing ---------------------------------------------------------------------------

    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[str]] = None) -> List[JobInfo]:
        if job_ids is not None:
            found = self.api.getJobs(id=list(job_ids), include_finished=True) if job_ids else []
        else:
            found = self.api.getJobs(show=[self._show()], user=[_user()], include_finished=True)
            found = [job for job in found if TOKEN_IN_NAME.search(job.name())]
            found.sort(key=lambda job: job.data.start_time, reverse=True)
            if len(found) > limit:  # Cuebot's times are whole seconds: ties go by ours
                last = found[limit - 1].data.start_time if limit > 0 else None
                found = [job for job in found if job.data.start_time >= last] if limit > 0 \
                    else []
        records = []
        for job in found:
            try:
                record = self._record(job)
            except KeyError:
                continue
            record.data = job.data
            records.append(record)
        if job_ids is None:
            records.sort(key=lambda r: (r.data.start_time, r.facts.get("submitted") or 0),
                         reverse=True)
            records = records[:limit]
        return [self._info(record) for record in records]

    def _info(self, record: _Job) -> JobInfo:
        """A job as listed: its tallies are its frames' states (``job()`` reads the items)."""
        job = record.data
        stats = job.job_stats
        tally = {PENDING: stats.waiting_frames, RUNNING: stats.running_frames,
                 BLOCKED: stats.depend_frames, COMPLETE: stats.succeeded_frames,
                 FAILED: stats.dead_frames, KILLED: stats.eaten_frames}
        if record.chunk == 1 and _job_finished(job):
            open_frames = tally.pop(PENDING) + tally.pop(RUNNING) + tally.pop(BLOCKED)
            tally.update({PENDING: 0, RUNNING: 0, BLOCKED: 0})
            tally[KILLED] += open_frames
        facts = record.facts
        status = _job_status_from_tally(job, tally)
        return JobInfo(id=record.id, name=str(facts.get("label") or record.name), status=status,
                       prototype=str(facts.get("prototype") or ""),
                       priority=our_priority(job.priority), cpus=int(facts.get("cpus") or 0),
                       user=job.user, submitted=float(job.start_time), tally=tally,
                       started=float(job.start_time) or None,
                       finished=float(job.stop_time) or None,
                       fields=dict({k: facts[k] for k in ("groups",) if facts.get(k)},
                                   opencue_name=record.name))

    def job(self, job_id: str) -> JobInfo:
        record = self._load(job_id)
        now = time.monotonic()
        state = self._state(record, now)
        info = self._info(record)
        tally: Dict[str, int] = {}
        for work in state.work.values():
            tally[work.status] = tally.get(work.status, 0) + 1
        info.tally, info.status = tally, state.status
        ncalls = record.facts.get("ncalls") or []
        names = record.facts.get("names") or []
        for index, work in state.work.items():
            frame = record.frames.get(frame_of(index, record.chunk))
            started = float(getattr(frame, "start_time", 0) or 0) or None
            finished = float(getattr(frame, "stop_time", 0) or 0) or None
            error = None
            if work.status == FAILED:
                error = self._work_error(record, index)
            info.work.append(WorkInfo(
                job_id, index, (names[index] if index < len(names) else "") or str(index),
                work.status, work.progress, work.message,
                attempts=int(getattr(frame, "retry_count", 0) or 0) + (1 if started else 0),
                host=(getattr(frame, "last_resource", "") or "").split("/")[0] or None,
                started=started, finished=finished,
                ncalls=int(ncalls[index]) if index < len(ncalls) else 1, error=error))
        return info.hold_pending() if info.status == BLOCKED else info

    def _work_error(self, record: _Job, index: int) -> Optional[WorkError]:
        found = self._read_result(record, index)
        blob = found[1] if found is not None else payload.failed_outcomes(FarmError(self._why_lost(record, index)))
        return work_error(blob)

    def ensure_running(self) -> None:
        """Cuebot is the studio's to run; a poll that fails is retried."""


def _job_status(record: _Job, statuses: List[str]) -> str:
    """Our job status from its items': Cuebot keeps a job with dead frames PENDING."""
    if any(s == RUNNING for s in statuses):
        return RUNNING
    if statuses and all(s in TERMINAL for s in statuses):
        if any(s == KILLED for s in statuses):
            return KILLED
        return FAILED if any(s == FAILED for s in statuses) else COMPLETE
    if record.data is not None and record.data.is_paused:
        return BLOCKED
    return PENDING


def _job_status_from_tally(job: Any, tally: Dict[str, int]) -> str:
    if tally.get(RUNNING):
        return RUNNING
    if not (tally.get(PENDING) or tally.get(BLOCKED)):
        if tally.get(KILLED):
            return KILLED
        return FAILED if tally.get(FAILED) else COMPLETE
    return BLOCKED if job.is_paused else PENDING


def _farm_env(env: Dict[str, str]) -> Dict[str, str]:
    """The job's environment for its frames, less ``DCCFUTURES_CONFIG``: a frame reads the
    config of its render host (its spool folder is the only one it trusts)."""
    return {name: value for name, value in env.items() if name != "DCCFUTURES_CONFIG"}


def _user() -> str:
    return getpass.getuser()


def _uid(user: str) -> Optional[int]:
    """The uid of the account the spec names (RQD running as root runs frames as it), or
    None where there is no such account here (RQD then runs them as its own)."""
    try:
        import pwd
        return pwd.getpwnam(user).pw_uid
    except (ImportError, KeyError):
        return None



def _remove_tree(folder: str) -> None:
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
