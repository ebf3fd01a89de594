"""One watcher thread per farm per process, for every outstanding future at once.

Each cycle is ONE batched poll for all outstanding jobs; results are fetched only for items that
finished, in one more call. A failing poll (database busy, Qube supervisor down) backs off and
retries; a result that does not decode fails its own future and nothing else. The thread is a
daemon: closing the DCC never waits for farm work (the work keeps running on the farm).
"""
import logging
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from . import payload
from .errors import JobRemovedError, RemoteError
from .farms.base import (BLOCKED, KILLED, PENDING, REMOVED, TERMINAL, Farm, JobId, JobState,
                         WorkRef)
from .future import Future

LOGGER = logging.getLogger("dccfutures")
ENSURE_EVERY = 2.0
# New futures are looked at within this time even on a farm with push: a result that arrived
# between submit() and registration pushed before anyone here was waiting for it. A grace
# rather than a wake-up per submit keeps a burst of submits from costing a poll each.
NEW_WORK_GRACE = 0.005
# Pushes closer together than this are read together when several jobs are outstanding: under
# a stream of results one poll serves several, at the cost of at most COALESCE of latency.
COALESCE = 0.002


class Poller:
    def __init__(self, farm: Farm):
        self.farm = farm
        # Farms without push (Qube) back off between polls; with push this only bounds a wait.
        self.interval_min, self.interval_max = getattr(farm, "poll_interval", (0.05, 0.5))
        self._interval = self.interval_min
        # job id -> work id -> the futures of that item's calls (several for a map chunk)
        self._jobs: Dict[JobId, Dict[int, List[Future]]] = {}
        self._job_blocked: Dict[JobId, bool] = {}
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._stopped = False
        self._fresh = False  # futures registered since the last poll
        self._unfetched: List[WorkRef] = []  # finished items whose results failed to load

    # -- registry ------------------------------------------------------------------------

    def register(self, futures: Iterable[Future]) -> None:
        with self._lock:
            for future in futures:
                if future.done():
                    continue
                future._poller = self
                items = self._jobs.setdefault(future.job_id, {})
                items.setdefault(future.work_id, []).append(future)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dccfutures-poller-%s"
                                                % self.farm.name, daemon=True)
                self._thread.start()
        self._wake()

    def stop(self) -> None:
        """End the thread (tests switching farm homes); outstanding futures stay pending."""
        self._stopped = True
        self._interrupt()

    def outstanding(self) -> int:
        with self._lock:
            return sum(len(calls) for items in self._jobs.values() for calls in items.values())

    def cancel_item(self, job_id: JobId, work_id: int) -> None:
        """The item was killed by this process: cancel every future of it (a whole chunk)."""
        for future in self._pop(job_id, work_id):
            future._cancel_locally()

    def _pop(self, job_id: JobId, work_id: int) -> List[Future]:
        with self._lock:
            items = self._jobs.get(job_id)
            if items is None:
                return []
            calls = items.pop(work_id, [])
            if not items:
                del self._jobs[job_id]
                self._job_blocked.pop(job_id, None)
            return calls

    def _calls(self, job_id: JobId, work_id: int) -> List[Future]:
        with self._lock:
            return list(self._jobs.get(job_id, {}).get(work_id, ()))

    def _wake(self) -> None:
        self._interval = self.interval_min  # a submit: look again soon
        self._fresh = True
        self._wakeup.set()

    def _interrupt(self) -> None:
        """Cut a wait short (stop): poke a farm that pushes, set the event otherwise."""
        self._wakeup.set()
        wake = getattr(self.farm, "wake", None)
        if wake is not None:
            try:
                wake()
            except Exception:
                pass

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        last_ensure = 0.0
        while not self._stopped:
            with self._lock:
                job_ids = list(self._jobs)
            if not job_ids:
                self._wakeup.wait(1.0)
                self._wakeup.clear()
                continue
            try:
                now = time.monotonic()
                if now - last_ensure > ENSURE_EVERY:
                    last_ensure = now
                    self.farm.ensure_running()
                self._fresh = False
                states = self.farm.poll(job_ids)
                self._deliver(states)
                failures = 0
                if states:
                    self._interval = self.interval_min  # something finished or moved
                else:
                    self._interval = min(self.interval_max, self._interval * 2)
                self._wakeup.clear()
                wait = NEW_WORK_GRACE if self._fresh else self.interval_max
                pushed = self.farm.wait_for_change(wait)
                if pushed and len(job_ids) > 1 and time.monotonic() - now < COALESCE:
                    time.sleep(COALESCE)  # a stream of results, not one awaited call
            except Exception as error:  # the farm is down or busy: try again, never die
                failures += 1
                delay = min(self.interval_max * 4, self.interval_min * (2 ** min(failures, 8)))
                if failures in (1, 10) or failures % 100 == 0:
                    LOGGER.warning("dccfutures: polling %s failed (%s); retrying in %.1f s",
                                   self.farm.name, error, delay)
                time.sleep(delay)
                continue
            if not pushed and not getattr(self.farm, "pushes", False):
                # A farm without push: sleep, but let a new registration cut the sleep short.
                self._wakeup.wait(self._interval)

    def _deliver(self, states: Dict[JobId, JobState]) -> None:
        finished: List[WorkRef] = []
        for job_id, state in states.items():
            if state.status == REMOVED:
                self._remove_job(job_id)
                continue
            if state.status:
                self._job_status(job_id, state.status)
            blocked = self._job_blocked.get(job_id, False)
            for work_id, work in state.work.items():
                calls = self._calls(job_id, work_id)
                # A blocked job holds its pending items back: their futures say 'blocked'.
                status = BLOCKED if blocked and work.status == PENDING else work.status
                for future in calls:
                    future._status = status
                    future.progress = work.progress
                    future.progress_message = work.message
                if work.status in TERMINAL and calls:
                    finished.append((job_id, work_id))
        finished += self._unfetched
        if finished:
            # Kept until fetched: the farm reports a finished item once, and a failed fetch
            # (a busy database, a network hiccup) must not lose it.
            self._unfetched = finished
            results = self.farm.results(finished)
            self._unfetched = []
            for key, (status, blob) in results.items():
                self._finish(key, status, blob)

    def deliver_ended(self, items: Sequence[WorkRef]) -> None:
        """Finish the futures of items that ended before they were registered (attach)."""
        for key, (status, blob) in self.farm.results(list(items)).items():
            self._finish(key, status, blob)

    def _finish(self, key: WorkRef, status: str, blob: Optional[bytes]) -> None:
        calls = self._pop(*key)
        if status == KILLED:
            for future in calls:
                _quietly(future, future._cancel_locally)
            return
        try:
            outcomes = payload.decode_outcomes(blob) if blob else []
        except Exception as error:
            outcomes = [("error", None, "RemoteError", "the result could not be read: %s" % error,
                         "")]
        whole = len(outcomes) == 1  # one outcome: the item, or its only call
        for future in calls:
            future._status = status
            index = future._call  # attach() may register a call twice: match by index
            # One bad result, or a done-callback that raises SystemExit, never stops the
            # others nor this thread.
            try:
                if index >= len(outcomes) and not whole:
                    raise RemoteError("MissingResult", "work item %s:%s ended %s without a result "
                                      "for call %d" % (key[0], key[1], status, index))
                ok, value = payload.unpack(outcomes[0] if whole else outcomes[index])
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            except BaseException as error:
                if future.done():
                    LOGGER.error("dccfutures: a done-callback of %r raised %r", future, error)
                    continue
                try:
                    future.set_exception(error)
                except Exception:
                    LOGGER.exception("dccfutures: cannot finish %r", future)

    def _job_status(self, job_id: JobId, status: str) -> None:
        blocked = status == BLOCKED
        with self._lock:
            if job_id not in self._jobs or self._job_blocked.get(job_id, False) == blocked:
                return
            self._job_blocked[job_id] = blocked
            calls = [f for fs in self._jobs[job_id].values() for f in fs]
        old, new = (PENDING, BLOCKED) if blocked else (BLOCKED, PENDING)
        for future in calls:
            if future._status == old:
                future._status = new

    def _remove_job(self, job_id: JobId) -> None:
        with self._lock:
            work_ids = list(self._jobs.get(job_id, ()))
        for work_id in work_ids:
            for future in self._pop(job_id, work_id):
                if not future.done():
                    future._status = REMOVED
                    error = JobRemovedError("job %s was removed from the %s farm before work "
                                            "item %d finished" % (job_id, self.farm.name, work_id))
                    _quietly(future, lambda: future.set_exception(error))


def _quietly(future: Future, end: Callable[[], None]) -> None:
    """End ``future`` with ``end()``; a done-callback that raises, even ``SystemExit``, is
    logged and does not leave the other futures unfinished or end the poller thread."""
    try:
        end()
    except BaseException as error:
        LOGGER.error("dccfutures: a done-callback of %r raised %r", future, error)
