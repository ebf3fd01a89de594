"""What a running work item can ask about itself."""
import threading
from typing import Callable, Optional


class ItemContext:
    """The item being run in this process, and where its progress goes."""

    def __init__(self, job_id: int, work_id: int, reporter: Callable[[float, Optional[str]], None],
                 calls: int = 1):
        self.job_id = job_id
        self.work_id = work_id
        self._reporter = reporter
        self._calls = calls
        self.call_index = 0
        self._lock = threading.Lock()

    def report(self, fraction: float, message: Optional[str]) -> None:
        # In a chunk of several calls, each call owns an equal share of the item's progress.
        overall = (self.call_index + fraction) / self._calls
        with self._lock:
            self._reporter(overall, message)


_current: Optional[ItemContext] = None


def current_item() -> Optional[ItemContext]:
    """The work item this process is running, or None outside the farm."""
    return _current


def _set_current(context: Optional[ItemContext]) -> None:
    global _current
    _current = context


def report_progress(fraction: float, message: Optional[str] = None) -> None:
    """Report how far the running work item has got (0.0 to 1.0), with an optional message.

    It shows on ``Future.progress`` / ``Future.progress_message`` and in ``dccfutures jobs``.
    Outside a farm item it does nothing, so the same function runs locally too.
    """
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise TypeError("report_progress() takes a number from 0.0 to 1.0, got %r"
                        % (fraction,)) from None
    if value != value:  # NaN
        raise ValueError("report_progress() got NaN")
    context = _current
    if context is not None:
        context.report(min(1.0, max(0.0, value)), None if message is None else str(message))
