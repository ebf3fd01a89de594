"""PipelineFX Qube as a dccfutures farm, through Qube's ``qb`` module.

One ``qb.Job`` per ``submit``, ``map`` and ``batch``: ``prototype`` names our jobtype,
``package`` holds readable facts (callable, interpreter, bootstrap) beside the encoded
function, and ``agenda`` one ``qb.Work`` per work item (a ``map`` chunk is one item). Other job
fields pass through; a batch's extra keywords go to the ``qb.Work``. Packages hold strings,
numbers, lists and dicts only (no None, no booleans: an empty fact is left out).

Polling is what qbfutures got wrong (one ``jobinfo`` per tick with every future's job id,
duplicates included, agendas and all). Here each poll cycle is ONE ``qb.jobinfo`` call for all
outstanding jobs, without agendas; agendas are fetched (in one more call) only for jobs whose
status or tallies changed, and, for jobs with running items, at most every ``poll_max`` seconds
so mid-item progress shows. Qube has no push, so the poller backs off from ``qube.poll_min`` to
``qube.poll_max`` and starts again at the minimum on every submit and completion.

Trust: on Qube, payloads and results live in the supervisor's database and in
``qube.spool_dir``, whose permissions are the studio's; anyone who can write there can make a
worker or a client unpickle what they wrote. Each side reads only files of the spool folder its
own config names: a job carries neither spool settings nor ``DCCFUTURES_CONFIG`` to its
subjobs, which read their worker's config.
"""
import os
import re
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import __version__, payload
from ..config import Config
from ..errors import FarmError, PayloadTooLargeError
from ..runtime.output import cap_bytes, cap_text, cut_log
from ..runtime.qube import dependency_refs, in_spool, pack_blob, spool_paths, unpack_blob
from .base import (BLOCKED, COMPLETE, FAILED, KILLED, REMOVED, RUNNING, TERMINAL, Farm, JobInfo,
                   JobSpec, JobState, WorkError, WorkInfo, WorkRef, WorkSpec, WorkState,
                   work_error)

FULL_EVERY = 10.0  # seconds between polls that look at every outstanding job (removals)
WORK_INLINE = 64 * 1024  # larger work payloads go to the spool: agendas are polled often
# Our job fields that are not Qube's.
_LOCAL_ONLY = ("max_attempts",)
_DCCFUTURES_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class QubeFarm(Farm):
    name = "qube"
    pushes = False

    def __init__(self, config: Config, qb_module: Any = None):
        self.config = config
        self._qb = qb_module
        settings = config.qube
        self.poll_interval = (settings.poll_min, settings.poll_max)
        self.spool_dir = settings.spool_dir
        self.spool_threshold = settings.spool_threshold_mb * 1e6
        self._seen: Dict[int, Tuple[str, Tuple]] = {}
        self._agenda_at: Dict[int, float] = {}
        self._works: Dict[int, List[Any]] = {}
        self._names: Dict[int, List[str]] = {}  # job -> work names: Qube addresses 'JOB:NAME'
        self._ended: Dict[WorkRef, str] = {}  # items ended by their job, not by themselves
        self._updated: Optional[int] = None  # the newest `lastupdate` seen (Qube's clock)
        self._full_at = 0.0

    @property
    def qb(self) -> Any:
        if self._qb is None:
            try:
                import qb
            except ImportError as error:
                raise FarmError("the qube farm needs PipelineFX's qb module: add "
                                "$QBDIR/api/python to PYTHONPATH (%s)" % error) from None
            self._qb = qb
        return self._qb

    # -- submit --------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSpec]) -> List[int]:
        external = self._dependency_agendas(jobs)
        qjobs = [self._qube_job(spec, external) for spec in jobs]
        submitted = self.qb.submit(qjobs)
        if not isinstance(submitted, list):
            submitted = [submitted]
        ids = [int(job["id"]) for job in submitted]
        for job_id, qjob in zip(ids, qjobs):
            self._names[job_id] = [work["name"] for work in qjob["agenda"]]
        if external:
            self._submitted = qjobs
            self._release_missed(jobs, ids)
        return ids

    # -- dependencies: Qube's own callbacks carry them -----------------------------------

    def _dependency_agendas(self, jobs: Sequence[JobSpec]) -> Dict[int, List[Any]]:
        """The agendas of the submitted jobs that new work depends on (names and states)."""
        ids = sorted({j for spec in jobs for work in spec.work for j, _ in work.depends_on
                      if j is not None})
        if not ids:
            return {}
        found = {int(job["id"]): job.get("agenda") or []
                 for job in self.qb.jobinfo(id=ids, agenda=True)}
        for job_id in ids:
            if job_id not in found:
                raise ValueError("work depends on job %d, which is not on the Qube farm "
                                 "(removed?)" % job_id)
        return found

    def _callback(self, index: int, work: WorkSpec, names: List[str],
                  external: Dict[int, List[Any]]) -> Optional[Dict[str, Any]]:
        """A callback unblocking item ``index`` once every dependency has ended (complete,
        failed or killed: the item itself then fails if one did not complete).

        Its trigger fires on ANY of the dependencies ending (``||``) and its code checks that
        all have: a dependency that ended before the callback existed fires no event, so an
        ``&&`` of events could wait for ever."""
        events, refs = [], []
        for job_id, idx in dict.fromkeys(work.depends_on):
            refs.append([job_id, idx])
            if job_id is None:
                events.append("done-work-self-%s" % names[idx])
                continue
            agenda = external[job_id]
            if idx >= len(agenda):
                raise ValueError("work depends on item %d:%d, which does not exist"
                                 % (job_id, idx))
            if agenda[idx]["status"] not in TERMINAL:
                events.append("done-work-%d-%s" % (job_id, agenda[idx]["name"]))
        if not events:
            return None
        code = ("import qb\n"
                "me = qb.jobid()\n"
                "refs = [(me if j is None else j, i) for j, i in %r]\n"
                "agendas = dict((int(job['id']), job.get('agenda') or []) for job in\n"
                "               qb.jobinfo(id=sorted(set(j for j, _ in refs)), agenda=True))\n"
                "if all(i >= len(agendas.get(j, [])) or agendas[j][i]['status'] in\n"
                "       ('complete', 'failed', 'killed') for j, i in refs):\n"
                "    qb.workunblock('%%d:%%s' %% (me, %r))\n" % (refs, names[index]))
        return {"triggers": " || ".join(events), "language": "python", "code": code}

    def _release_missed(self, jobs: Sequence[JobSpec], ids: List[int]) -> None:
        """A dependency that ended between our look and the submit fired no event for the
        new callback: unblock what no longer has anything to wait for."""
        again = self._dependency_agendas(jobs)
        for spec, job_id, qjob in zip(jobs, ids, self._submitted):
            for index, work in enumerate(spec.work):
                if not work.depends_on or any(j is None for j, _ in work.depends_on):
                    continue  # an item of its own job has not run yet: its event will come
                if all(again[j][i]["status"] in TERMINAL for j, i in work.depends_on):
                    try:
                        self.qb.workunblock("%d:%s" % (job_id, qjob["agenda"][index]["name"]))
                    except Exception:
                        pass  # the callback got there first

    def _qube_job(self, spec: JobSpec, external: Optional[Dict[int, List[Any]]] = None) -> Any:
        qb = self.qb
        callbacks = []
        package = dict(spec.package)
        # No spool settings: a subjob trusts only its own config's (runtime/qube.py).
        package.update(dccfutures=__version__, dccfutures_path=_DCCFUTURES_ROOT,
                       max_log_mb=self.config.qube.max_log_mb)
        if spec.function is not None:
            package["function"] = self._pack(spec.function, "the function of %s" % spec.name)
        agenda = []
        names = _unique_names([work.name or str(index) for index, work in enumerate(spec.work)])
        for index, work in enumerate(spec.work):
            fields = dict(work.fields)
            fields["name"] = names[index]
            fields["package"] = {"index": index, "ncalls": work.ncalls,
                                 "calls": self._pack(work.package, "work item %d" % index,
                                                     WORK_INLINE)}
            if work.depends_on:  # [index] in this job (its id is not known yet), [job, index]
                fields["package"]["depends_on"] = [[i] if j is None else [j, i]
                                                   for j, i in work.depends_on]
                callback = self._callback(index, work, names, external or {})
                if callback is not None:
                    fields["status"] = "blocked"
                    callbacks.append(callback)
            agenda.append(qb.Work(fields))
        fields = {k: v for k, v in spec.fields.items() if k not in _LOCAL_ONLY}
        fields.update(name=spec.name, prototype=spec.prototype, package=package,
                      env=_farm_env(spec.env), agenda=agenda)
        if package.get("on_done"):
            from ..runtime.hooks import qube_callback
            callbacks.append(qube_callback(package["on_done"], package.get("sys_path") or [],
                                           _DCCFUTURES_ROOT,
                                           package.get("sys_path_installed") or []))
        if callbacks:
            fields["callbacks"] = list(fields.get("callbacks") or []) + callbacks
        return qb.Job(fields)

    def _pack(self, blob: bytes, what: str, inline_limit: float = float("inf")
              ) -> Dict[str, str]:
        threshold = min(self.spool_threshold, inline_limit)
        if len(blob) > self.spool_threshold and not self.spool_dir:
            raise PayloadTooLargeError(
                "%s encodes to %.1f MB, over the %.1f MB Qube can carry in a job package; set "
                "qube.spool_dir in the dccfutures config to a folder on storage the workers "
                "share" % (what, len(blob) / 1e6, self.spool_threshold / 1e6))
        return pack_blob(blob, self.spool_dir, threshold)

    # -- poll ----------------------------------------------------------------------------

    def poll(self, job_ids: Iterable[int]) -> Dict[int, JobState]:
        """ONE ``jobinfo`` for the outstanding jobs, then agendas for those that changed.

        Between full looks (every ``FULL_EVERY`` seconds, which also notice removed jobs) the
        call asks only for jobs updated since the newest update seen, on Qube's clock: its
        stamps are whole seconds, so one second is asked for again.
        """
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        now = time.monotonic()
        full = self._updated is None or now - self._full_at >= FULL_EVERY or \
            any(job_id not in self._seen for job_id in ids)
        if full:
            self._full_at = now
            found = self.qb.jobinfo(id=ids)
        else:
            found = self.qb.jobinfo(id=ids, updatedAfter=self._updated - 1)
        jobs = {int(job["id"]): job for job in found}
        stamps = [int(job.get("lastupdate") or 0) for job in found]
        out: Dict[int, JobState] = {}
        fetch = []
        seen = {}
        for job_id in ids:
            job = jobs.get(job_id)
            if job is None:
                if full:
                    out[job_id] = JobState(REMOVED)
                    self._forget(job_id, removed=True)
                elif self._running(job_id) and self._progress_due(job_id, now):
                    fetch.append(job_id)
                continue
            status = job["status"]
            tally = tuple(sorted((job.get("todotally") or {}).items()))
            seen[job_id] = (status, tally)
            if seen[job_id] != self._seen.get(job_id) or \
                    (self._running(job_id) and self._progress_due(job_id, now)):
                fetch.append(job_id)
        agendas = self.qb.jobinfo(id=fetch, agenda=True) if fetch else []
        # Only now that the agendas are in hand is the change taken as seen: a failed fetch
        # must show the same change again next cycle.
        self._seen.update(seen)
        if stamps:
            self._updated = max([self._updated or 0] + stamps)
        for job in agendas:
            job_id = int(job["id"])
            self._agenda_at[job_id] = now
            works = list(job.get("agenda") or [])
            self._works[job_id] = works
            self._names[job_id] = [str(w.get("name", i)) for i, w in enumerate(works)]
            state = JobState(job["status"], {i: _work_state(w) for i, w in enumerate(works)})
            if job["status"] in TERMINAL:
                self._end_open_items(job, state)
            out[job_id] = state
        for job_id in [j for j in self._works if j not in ids]:
            self._works.pop(job_id, None)  # nobody waits on it here any more
        return out

    def _end_open_items(self, job: Any, state: JobState) -> None:
        """A job that ended (killed, or failed because its subjobs could not run) leaves
        items pending or running: their futures must end too, with the reason."""
        status = job["status"]
        for index, work in state.work.items():
            if work.status not in TERMINAL:
                work.status = KILLED if status == KILLED else FAILED
                self._ended[(int(job["id"]), index)] = work.status

    def _running(self, job_id: int) -> bool:
        seen = self._seen.get(job_id)
        return bool(seen and dict(seen[1]).get(RUNNING))

    def _progress_due(self, job_id: int, now: float) -> bool:
        """Progress does not change a job's tallies: look at a running job's agenda anyway,
        every ``poll_max`` seconds."""
        return now - self._agenda_at.get(job_id, 0.0) >= self.poll_interval[1]

    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        out: Dict[WorkRef, Tuple[str, Optional[bytes]]] = {}
        unseen = sorted({job_id for job_id, _ in items if job_id not in self._works})
        if unseen:  # attached to a job that ended before any poll saw it
            for job in self.qb.jobinfo(id=unseen, agenda=True):
                self._works[int(job["id"])] = list(job.get("agenda") or [])
        for job_id, work_id in items:
            works = self._works.get(job_id) or []
            if work_id >= len(works):
                continue
            work = works[work_id]
            status = self._ended.pop((job_id, work_id), work["status"])
            outcomes = (work.get("resultpackage") or {}).get("outcomes")
            blob = None
            if outcomes and status == work["status"]:
                try:
                    # Kept: work depending on this item reads it too; `dccfutures clean`
                    # removes spool files after the retention time.
                    blob = unpack_blob(outcomes, spool_dir=self.spool_dir)
                except (OSError, ValueError) as error:
                    blob = payload.failed_outcomes(FarmError("the result of %d:%d cannot be read: %s"
                                    % (job_id, work_id, error)))
            elif status == FAILED:
                blob = payload.failed_outcomes(FarmError(self._why_lost(job_id, work_id, work)))
            out[(job_id, work_id)] = (status, blob)
        return out

    def _why_lost(self, job_id: int, work_id: int, work: Any,
                  stderr: Optional[Dict[int, str]] = None) -> str:
        """What to tell about an item that ended without a result: its job's end, or a
        subjob that died, with the end of what the job's subjobs wrote to stderr (read once
        per job into ``stderr`` when given)."""
        stderr = {} if stderr is None else stderr
        if job_id not in stderr:
            try:
                records = self.qb.stderr(job_id) or []
                stderr[job_id] = "".join(r.get("data") or "" for r in records)[-2000:]
            except Exception:
                stderr[job_id] = ""
        tail = stderr[job_id]
        text = ("work item %d:%d ended %s without a result (its subjob died, or the job ended "
                "first)" % (job_id, work_id, "failed"))
        return text + ("; the job's stderr ends with:\n" + tail if tail.strip() else "")

    def _clean_spool(self, job: Any, works: List[Any]) -> None:
        """Payload and result files in the spool belong to the job: kept while it may be
        retried or other work reads its results, removed with it. (Files of jobs removed while
        no client watched age out: ``dccfutures clean`` removes those older than the
        retention time.)"""
        for path in spool_paths(job.get("package")) + spool_paths(
                [[work.get("package"), work.get("resultpackage")] for work in works]):
            if in_spool(path, self.spool_dir):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _forget(self, job_id: int, removed: bool = False) -> None:
        works = self._works.pop(job_id, None)
        self._seen.pop(job_id, None)
        self._agenda_at.pop(job_id, None)
        self._names.pop(job_id, None)
        if removed and works is not None:
            self._clean_spool({}, works)

    # -- actions -------------------------------------------------------------------------

    def kill(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._act(job_id, work_ids, "kill", "killwork")

    def retry(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        """Retry; a retried item whose dependencies will end later is requeued blocked
        instead (in one step: no subjob can take it in between), and its job's callback
        releases it then. A dependency that failed is left failed: the item runs and fails
        at once, naming it."""
        agenda = self.job_agenda(job_id)
        wanted = set(range(len(agenda)) if work_ids is None else work_ids)
        hold = [work["name"] for index, work in enumerate(agenda)
                if index in wanted and work["status"] in (FAILED, KILLED)
                and self._waits_again(job_id, agenda, work)]
        if hold:
            self.qb.requeuework(*["%d:%s" % (job_id, name) for name in hold])
        return self._act(job_id, work_ids, "retry", "retrywork") + len(hold)

    def _waits_again(self, job_id: int, agenda: List[Any], work: Any) -> bool:
        """Whether an item's dependencies are not all complete but none has failed."""
        refs = (work.get("package") or {}).get("depends_on")
        if not refs:
            return False
        agendas = {job_id: agenda}
        states = []
        for j, i in dependency_refs(refs, job_id):
            if j not in agendas:
                try:
                    agendas[j] = self.job_agenda(j)
                except KeyError:  # removed from the farm
                    agendas[j] = []
            states.append(agendas[j][i]["status"] if i < len(agendas[j]) else REMOVED)
        return any(state != COMPLETE for state in states) and \
            not any(state in (FAILED, KILLED, REMOVED) for state in states)

    def block(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._act(job_id, work_ids, "block", "blockwork")

    def unblock(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        return self._act(job_id, work_ids, "unblock", "unblockwork")

    def _act(self, job_id: int, work_ids: Optional[Sequence[int]], on_job: str, on_work: str
             ) -> int:
        self._seen.pop(job_id, None)  # look at its agenda on the next poll
        if work_ids is None:
            return len(getattr(self.qb, on_job)(job_id) or [])
        names = self._names.get(job_id)
        if names is None or any(w >= len(names) for w in work_ids):
            names = self._names[job_id] = [str(w.get("name", i))
                                           for i, w in enumerate(self.job_agenda(job_id))]
        # Qube's work functions take 'jobid:workname'; our names are unique within a job.
        targets = ["%d:%s" % (job_id, names[work_id]) for work_id in work_ids]
        return len(getattr(self.qb, on_work)(*targets) or []) if targets else 0

    def log(self, job_id: int, work_id: int) -> str:
        works = self._works.get(job_id)
        if works is None or work_id >= len(works) or _subid(works[work_id]) is None:
            works = self.job_agenda(job_id)
        if work_id >= len(works):
            raise KeyError("%d:%d" % (job_id, work_id))
        subid = _subid(works[work_id])
        if subid is None:
            return ""  # not started yet
        target = "%d.%d" % (job_id, subid)
        cap = cap_bytes(self.config.qube.max_log_mb)
        return "".join(cap_text(cut_log(record.get("data") or "", job_id, work_id), cap,
                                "qube.max_log_mb")
                       for stream in (self.qb.stdout, self.qb.stderr)
                       for record in stream(target) or [])

    # -- listing -------------------------------------------------------------------------

    def job_agenda(self, job_id: int) -> List[Any]:
        found = self.qb.jobinfo(id=[job_id], agenda=True)
        if not found:
            raise KeyError(job_id)
        return list(found[0].get("agenda") or [])

    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[int]] = None) -> List[JobInfo]:
        if job_ids is not None:
            found = self.qb.jobinfo(id=list(job_ids))
        else:
            found = self.qb.jobinfo(limit=limit, orderby="id DESC")  # not the whole farm
        return [_job_info(job) for job in found]

    def job(self, job_id: int) -> JobInfo:
        if isinstance(job_id, str):  # Qube's ids are ints: "12" is job 12, a UUID no job here
            if not re.match(r"[0-9]+\Z", job_id):
                raise KeyError(job_id)
            job_id = int(job_id)
        found = self.qb.jobinfo(id=[job_id], agenda=True)
        if not found:
            raise KeyError(job_id)
        info = _job_info(found[0])
        stderr: Dict[int, str] = {}  # read once for all the items that ended without a result
        info.work = []
        for index, work in enumerate(found[0].get("agenda") or []):
            status = _item_status(info.status, work["status"])
            info.work.append(WorkInfo(
                job_id, index, str(work.get("name", index)), status, *_progress(work),
                attempts=int(work.get("count") or 0), host=work.get("host"),
                started=_stamp(work.get("timestart")), finished=_stamp(work.get("timecomplete")),
                ncalls=int((work.get("package") or {}).get("ncalls") or 1),
                error=self._work_error(job_id, index, work, stderr) if status == FAILED
                else None))
        return info.hold_pending() if info.status == BLOCKED else info

    def _work_error(self, job_id: int, work_id: int, work: Any, stderr: Dict[int, str]
                    ) -> Optional[WorkError]:
        """Why a failed item failed: its outcome as the jobtype reported it, or why it has
        none (the reason its future gets)."""
        outcomes = (work.get("resultpackage") or {}).get("outcomes")
        try:
            blob = unpack_blob(outcomes, spool_dir=self.spool_dir) if outcomes else None
        except (OSError, ValueError) as error:
            blob = payload.failed_outcomes(FarmError("the result of %d:%d cannot be read: %s" % (job_id, work_id, error)))
        return work_error(blob or payload.failed_outcomes(FarmError(self._why_lost(job_id, work_id, work, stderr))))

    def ensure_running(self) -> None:
        """Qube's supervisor is the studio's to run; a poll that fails is retried."""


_TRIGGER_UNSAFE = re.compile(r"[\s()&|,]")


def _farm_env(env: Dict[str, str]) -> Dict[str, str]:
    """The job's environment for its subjobs, less ``DCCFUTURES_CONFIG``: a subjob reads the
    config of its worker (its spool folder is the only one it trusts), not the submitter's."""
    return {name: value for name, value in env.items() if name != "DCCFUTURES_CONFIG"}


def _unique_names(names: List[str]) -> List[str]:
    """Work names unique within a job (Qube addresses items as 'jobid:workname')."""
    seen: Dict[str, int] = {}
    out = []
    for index, name in enumerate(names):
        name = _TRIGGER_UNSAFE.sub("_", name)  # callback triggers name items by their name
        if name in seen:
            name = "%s#%d" % (name, index)
        seen[name] = index
        out.append(name)
    return out



def _subid(work: Any) -> Optional[int]:
    """The subjob that ran (or runs) an item; Qube says -1 before one was assigned."""
    subid = work.get("subid")
    return None if subid is None or int(subid) < 0 else int(subid)


def _progress(work: Any) -> Tuple[float, Optional[str]]:
    package = work.get("resultpackage") or {}
    if work["status"] == COMPLETE:
        return 1.0, package.get("message")
    progress = package.get("progress")
    return (float(progress) if progress is not None else 0.0), package.get("message")


def _work_state(work: Any) -> WorkState:
    fraction, message = _progress(work)
    return WorkState(work["status"], fraction, message)


def _stamp(value: Any) -> Optional[float]:
    """A Qube time (seconds; 0 or missing when it has not happened)."""
    return float(value or 0) or None


def _item_status(job_status: str, status: str) -> str:
    """An item as its future ends: one left pending or running by a job that ended (killed,
    or failed because its subjobs could not run) ended with it."""
    if job_status in TERMINAL and status not in TERMINAL:
        return KILLED if job_status == KILLED else FAILED
    return status


def _job_info(job: Any) -> JobInfo:
    tally: Dict[str, int] = {}
    for status, count in (job.get("todotally") or {}).items():
        status = _item_status(job["status"], status)
        tally[status] = tally.get(status, 0) + int(count)
    info = JobInfo(id=int(job["id"]), name=job.get("name", ""), status=job["status"],
                   prototype=job.get("prototype", ""), priority=int(job.get("priority") or 0),
                   cpus=int(job.get("cpus") or 0), user=job.get("user") or "",
                   submitted=float(job.get("timesubmit") or 0), tally=tally,
                   started=_stamp(job.get("timestart")), finished=_stamp(job.get("timecomplete")),
                   fields={k: job.get(k) for k in ("groups", "cluster") if job.get(k)})
    return info.hold_pending() if info.status == BLOCKED else info
