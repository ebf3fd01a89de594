"""Future: a ``concurrent.futures.Future`` for one call that runs on a farm.

It is a real ``concurrent.futures.Future``, so ``as_completed`` and ``wait`` work, and adds what
a farm knows: the job and work ids, the work item's status, progress, and its log. ``cancel()``
kills the work on the farm at once, running or not.
"""
import concurrent.futures
from concurrent.futures._base import CANCELLED as _CANCELLED
from concurrent.futures._base import CANCELLED_AND_NOTIFIED as _CANCELLED_AND_NOTIFIED
from concurrent.futures._base import FINISHED as _FINISHED
from concurrent.futures._base import PENDING as _BASE_PENDING
from typing import Any, Callable, List, Optional

from .errors import DccFuturesError
from .farms.base import KILLED, PENDING, RUNNING, JobId

# Set by a DCC integration (Maya: maya.utils.executeDeferred) so that done-callbacks run on the
# DCC's main thread and never on the poller thread.
_callback_dispatcher: Optional[Callable[[Callable[[], None]], None]] = None


def set_callback_dispatcher(dispatch: Optional[Callable[[Callable[[], None]], None]]) -> None:
    """Route user done-callbacks through ``dispatch(fn)`` (None: run them where the future ends)."""
    global _callback_dispatcher
    _callback_dispatcher = dispatch


class CancelledError(DccFuturesError, concurrent.futures.CancelledError):
    """The future was cancelled: its work was killed (``cancel()``, the CLI, a monitor, a
    ``map`` timeout) or its call dropped before its batch was committed. Defined here rather
    than in ``errors`` because farm workers never load ``concurrent.futures``."""


class Future(concurrent.futures.Future):
    """The result of one call on a farm.

    ``job_id`` is the farm's own job id (an int on the local farm and Qube, a string on OpenCue)
    and ``work_id`` the index of the work item in the job's agenda; calls of one ``map`` chunk
    share a work item.
    """

    def __init__(self, farm: Any = None, job_id: Optional[JobId] = None,
                 work_id: Optional[int] = None, call: int = 0):
        super().__init__()
        self.farm = farm
        self.job_id = job_id
        self.work_id = work_id
        self._call = call  # which call of its work item (a map chunk holds several)
        self._status = PENDING
        self.progress = 0.0
        self.progress_message: Optional[str] = None
        self._poller: Any = None
        self._internal_callbacks: List[Callable[["Future"], None]] = []

    def __repr__(self) -> str:
        if self.farm is None:  # on its own (no farm): exactly CPython's
            return super().__repr__()
        where = "%s:%s" % (self.job_id, self.work_id) if self.job_id is not None else "unsubmitted"
        return "<dccfutures.Future %s %s>" % (where, self.status())

    def status(self) -> str:
        """The work item's status: pending, blocked, running, complete, failed or killed."""
        return self._status

    def running(self) -> bool:
        """Running on the farm, or (a future on its own) ``set_running_or_notify_cancel``."""
        return super().running() or (self._status == RUNNING and not self.done())

    def log(self) -> str:
        """The work item's output so far (stdout and stderr), exactly that item's."""
        self._require_submitted("log()")
        return self.farm.log(self.job_id, self.work_id)

    def cancel(self) -> bool:
        """Kill the work on the farm now. True when it was killed (or already cancelled).

        In a ``map`` chunk, the whole work item is killed and the chunk's other unfinished
        futures are cancelled with this one. A future on its own (no farm) cancels as
        CPython's does: only while it is pending.
        """
        if self.farm is None:
            return super().cancel()
        if self.done():
            return self.cancelled()
        if self.job_id is None:
            return self._cancel_locally()  # a batch not committed yet: the call is dropped
        killed = self.farm.kill(self.job_id, [self.work_id])
        if not killed:
            return False  # it finished first: its result is on the way
        if self._poller is not None:
            self._poller.cancel_item(self.job_id, self.work_id)
        return self._cancel_locally()

    def result(self, timeout: Optional[float] = None) -> Any:
        self._require_submitted("result()")
        try:
            return super().result(timeout)
        except concurrent.futures.CancelledError:
            if not self.cancelled():
                raise  # the call itself raised it
            raise self._cancelled_error() from None

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self._require_submitted("exception()")
        try:
            return super().exception(timeout)
        except concurrent.futures.CancelledError:
            raise self._cancelled_error() from None

    def _cancelled_error(self) -> CancelledError:
        """Ours, so that ``except DccFuturesError`` catches a cancellation too."""
        if self.job_id is None:
            return CancelledError("the call was cancelled")
        return CancelledError("work %s:%s was cancelled" % (self.job_id, self.work_id))

    # -- used by the poller and the executor ---------------------------------------------

    def _cancel_locally(self) -> bool:
        """Mark cancelled and wake ``as_completed()`` / ``wait()``; idempotent, thread-safe.

        The base class does this in two steps (``cancel()``, then the executor's
        ``set_running_or_notify_cancel()``); here both happen under the future's lock.
        """
        with self._condition:
            if self._state == _FINISHED:
                return False
            if self._state in (_CANCELLED, _CANCELLED_AND_NOTIFIED):
                return True
            self._state = _CANCELLED_AND_NOTIFIED
            self._status = KILLED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        self._invoke_callbacks()
        return True

    def _require_submitted(self, what: str) -> None:
        if self.job_id is None and self.farm is not None and not self.done():
            raise RuntimeError("%s on a future of a batch that was not committed: leave the "
                               "'with executor.batch()' block or call batch.commit() first" % what)

    def _invoke_callbacks(self) -> None:
        for callback in self._internal_callbacks:
            try:
                callback(self)
            except Exception:
                concurrent.futures._base.LOGGER.exception("internal callback of %r failed", self)
        dispatch = _callback_dispatcher
        if dispatch is None or not self._done_callbacks:
            super()._invoke_callbacks()
        else:
            dispatch(super()._invoke_callbacks)

    def add_done_callback(self, fn: Callable[["Future"], Any]) -> None:
        with self._condition:
            if self._state == _BASE_PENDING or self._state == "RUNNING":
                self._done_callbacks.append(fn)
                return
        dispatch = _callback_dispatcher
        if dispatch is None:
            super().add_done_callback(fn)
        else:
            dispatch(lambda: fn(self))
