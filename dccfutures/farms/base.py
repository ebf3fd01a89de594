"""The Farm interface: what the executor needs from a render farm, and nothing more.

A farm takes job specs, reports what changed, hands back encoded outcomes and acts on jobs and
work items. Statuses and work ids are Qube's: a job has an agenda of work items indexed from 0,
and ``JOB:WORK`` names one item. A job id is the farm's own (:data:`JobId`: an int or a
string), passed through untouched. The executor, futures and poller never know which farm they
talk to.
"""
import abc
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

PENDING, BLOCKED, RUNNING = "pending", "blocked", "running"
COMPLETE, FAILED, KILLED = "complete", "failed", "killed"
REMOVED = "removed"  # the job is gone from the farm: its futures end with JobRemovedError
TERMINAL = frozenset((COMPLETE, FAILED, KILLED))
STATUSES = (PENDING, BLOCKED, RUNNING, COMPLETE, FAILED, KILLED)

# A job id is the farm's own: an int on the local farm and Qube, a string on OpenCue (a UUID)
# and Deadline Cloud (job-<hex>). Never assume it is an int, nor that it sorts by age.
JobId = Union[int, str]
WorkRef = Tuple[JobId, int]  # (job_id, work_id)


@dataclass
class WorkSpec:
    """One agenda item: its encoded calls (a map chunk holds several) and Qube work fields.

    ``depends_on`` lists the items that must complete before this one runs, as
    ``(job_id, work_id)``; a ``job_id`` of None means this item's own job.
    """
    package: bytes
    ncalls: int = 1
    name: str = ""
    fields: Dict[str, Any] = field(default_factory=dict)
    depends_on: List[Tuple[Optional[JobId], int]] = field(default_factory=list)


@dataclass
class JobSpec:
    """One farm job.

    ``fields`` are Qube job fields (cpus, priority, groups, cluster, …) as the user gave them;
    ``package`` holds readable facts about the work (callable, interpreter, bootstrap options)
    and ``function`` a callable shared by every item (a ``map``), encoded once.
    """
    name: str
    prototype: str
    work: List[WorkSpec]
    fields: Dict[str, Any] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    package: Dict[str, Any] = field(default_factory=dict)
    function: Optional[bytes] = None


@dataclass
class WorkState:
    status: str
    progress: float = 0.0
    message: Optional[str] = None


@dataclass
class JobState:
    """What a poll learned of one job: its status and the work items that changed."""
    status: str
    work: Dict[int, WorkState] = field(default_factory=dict)


@dataclass
class WorkError:
    """Why a work item failed, as the worker recorded it: the exception's type name, message
    and traceback text (of each failed call, when several of a map chunk failed). Read from
    the outcome without loading the exception, which is the user's object."""
    type: str
    message: str
    traceback: str = ""
    failed: int = 1  # calls of the item that failed
    calls: int = 1   # calls in the item


def work_error(outcomes: Optional[bytes]) -> Optional[WorkError]:
    """The :class:`WorkError` in a failed item's encoded outcomes (None without a failure)."""
    if not outcomes:
        return None
    from .. import payload
    try:
        failures, calls = payload.read_failures(outcomes)
    except Exception as error:
        return WorkError("UnreadableOutcome", "the outcome of this item cannot be read: %s: %s"
                         % (type(error).__name__, error))
    if not failures:
        return None
    _, type_name, message, trace = failures[0]
    if len(failures) > 1:
        trace = "".join("--- call %d of %d: %s: %s ---\n%s" % (index + 1, calls, kind, text, tb)
                        for index, kind, text, tb in failures)
    return WorkError(type_name, message, trace, len(failures), calls)


@dataclass
class WorkInfo:
    job_id: JobId
    work_id: int
    name: str
    status: str
    progress: float
    message: Optional[str]
    attempts: int
    host: Optional[str] = None
    started: Optional[float] = None
    finished: Optional[float] = None
    ncalls: int = 1  # calls in the item (a map chunk holds several): one future each
    error: Optional[WorkError] = None  # why a failed item failed


@dataclass
class JobInfo:
    """A job as the CLI and the monitor show it."""
    id: JobId
    name: str
    status: str
    prototype: str
    priority: int
    cpus: int
    user: str
    submitted: float
    tally: Dict[str, int]
    started: Optional[float] = None
    finished: Optional[float] = None
    fields: Dict[str, Any] = field(default_factory=dict)
    work: List[WorkInfo] = field(default_factory=list)

    @property
    def progress(self) -> float:
        """The share of items complete (failed and killed items are not progress)."""
        total = sum(self.tally.values())
        return self.tally.get(COMPLETE, 0) / total if total else 0.0

    def hold_pending(self) -> "JobInfo":
        """A blocked job holds its pending items back: show them ``blocked``, in the tallies
        and the agenda, as their futures say."""
        if self.tally.get(PENDING):
            self.tally[BLOCKED] = self.tally.get(BLOCKED, 0) + self.tally.pop(PENDING)
            self.tally[PENDING] = 0
        for work in self.work:
            if work.status == PENDING:
                work.status = BLOCKED
        return self


class Farm(abc.ABC):
    """A render farm as the executor sees it. One instance per farm per process."""

    name = "?"

    def __str__(self) -> str:  # the word the config's ``farm:`` names it by
        return self.name

    def __repr__(self) -> str:
        return "<%s>" % type(self).__name__

    @abc.abstractmethod
    def submit(self, jobs: Sequence[JobSpec]) -> List[JobId]:
        """Submit all ``jobs`` atomically; return their ids in order."""

    @abc.abstractmethod
    def poll(self, job_ids: Iterable[JobId]) -> Dict[JobId, JobState]:
        """One round trip: the jobs among ``job_ids`` that changed since the last poll."""

    @abc.abstractmethod
    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        """``{(job, work): (status, encoded outcomes)}`` for finished items."""

    @abc.abstractmethod
    def kill(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        """Kill a job or some of its items now, running ones included. Returns how many items it affected."""

    def kill_many(self, targets: Dict[JobId, Optional[Sequence[int]]]) -> int:
        """Kill items of many jobs, ``{job_id: work_ids or None}``; farms may do it at once."""
        return sum(self.kill(job_id, work_ids) or 0 for job_id, work_ids in targets.items())

    @abc.abstractmethod
    def retry(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        """Run failed or killed items again. Returns how many items it affected."""

    @abc.abstractmethod
    def block(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        """Keep pending work from starting. Returns how many items it affected."""

    @abc.abstractmethod
    def unblock(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        """Let blocked work start. Returns how many items it affected."""

    @abc.abstractmethod
    def log(self, job_id: JobId, work_id: int) -> str:
        """The output (stdout and stderr) of one work item."""

    @abc.abstractmethod
    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[JobId]] = None
             ) -> List[JobInfo]:
        """Recent jobs, newest first by submit time (or the named ones), without their
        agendas."""

    @abc.abstractmethod
    def job(self, job_id: JobId) -> JobInfo:
        """One job with its agenda; ``KeyError`` when there is no such job (an id of
        another farm's kind included: a string on a farm of int ids)."""

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the farm pushes a change or ``timeout`` passes; False without push."""
        return False

    def ensure_running(self) -> None:
        """Make sure the farm can make progress (the local farm restarts its supervisor)."""

    def close(self) -> None:
        """Release resources; running work is not affected."""
