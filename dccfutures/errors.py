"""The exceptions users catch.

Every error dccfutures raises on purpose derives from :class:`DccFuturesError`, and also from
the builtin a caller would naturally catch (``RuntimeError``, ``ValueError``, ``TypeError``),
so code written for ``concurrent.futures`` keeps working.
"""
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # farm workers load this module: nothing more at run time
    from .farms.base import JobId


class DccFuturesError(Exception):
    """Base class of every dccfutures error."""


class RecursionLimitError(DccFuturesError, RuntimeError):
    """A nested submit would exceed ``DCCFUTURES_RECURSION_LIMIT``; nothing was submitted."""


class ConfigError(DccFuturesError, ValueError):
    """The YAML config is invalid. Names the file, the line and the key."""

    def __init__(self, message: str, path: Optional[str] = None, line: Optional[int] = None,
                 key: Optional[str] = None):
        self.path = path
        self.line = line
        self.key = key
        where = []
        if path:
            where.append(str(path))
        if line:
            where.append("line %d" % line)
        prefix = ", ".join(where)
        super().__init__("%s: %s" % (prefix, message) if prefix else message)

    def __reduce__(self):
        return (_rebuild_config_error, (self.args[0], self.path, self.line, self.key))


def _rebuild_config_error(text, path, line, key):
    error = ConfigError.__new__(ConfigError)
    Exception.__init__(error, text)
    error.path, error.line, error.key = path, line, key
    return error


class PayloadTooLargeError(DccFuturesError, ValueError):
    """An encoded call is larger than the configured ``max_payload_mb``; nothing was submitted."""


class FarmError(DccFuturesError, RuntimeError):
    """The farm refused an operation or is unusable (for example a farm home on NFS)."""


class JobRemovedError(FarmError):
    """The job behind a future was removed from the farm before the future got its result."""


class RemoteTraceback(Exception):
    """Carries the traceback text of a remote failure; set as ``__cause__`` of the exception."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return "\n\n" + self.tb.rstrip("\n")


class RemoteError(DccFuturesError):
    """A remote exception that could not be rebuilt here (its class does not unpickle).

    ``type_name`` is the remote class's qualified name, ``message`` its ``str()``, and
    ``traceback`` the remote traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback: str = ""):
        super().__init__("%s: %s" % (type_name, message))
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __reduce__(self):
        return (RemoteError, (self.type_name, self.message, self.traceback))


class WorkerLostError(DccFuturesError, RuntimeError):
    """The process running a work item died on every attempt.

    ``log_tail`` holds the end of the item's output from the last attempt, which usually shows
    why (a segfault message, an out-of-memory kill, a DCC crash report).
    """

    def __init__(self, message: str, log_tail: str = "", attempts: int = 0):
        text = message
        if log_tail:
            text += "\n--- last output of the item ---\n" + log_tail.rstrip("\n")
        super().__init__(text)
        self.log_tail = log_tail
        self.attempts = attempts

    def __reduce__(self):
        return (_rebuild_worker_lost, (self.args[0], self.log_tail, self.attempts))


def _rebuild_worker_lost(text, log_tail, attempts):
    error = WorkerLostError.__new__(WorkerLostError)
    Exception.__init__(error, text)
    error.log_tail, error.attempts = log_tail, attempts
    return error


class TimeLimitError(DccFuturesError, RuntimeError):
    """A work item ran longer than its job's ``timelimit`` (seconds) and was ended, with every
    process it started. It fails at once: an item that ran out of time is not run again.

    Not a ``TimeoutError``: ``Future.result(timeout)`` raises that when the wait runs out
    (``concurrent.futures.TimeoutError`` is ``TimeoutError`` since Python 3.11), and code
    that waits again on it must not wait forever on work that failed. ``timelimit`` holds
    the limit.
    """

    def __init__(self, message: str, timelimit: float = 0.0):
        super().__init__(message)
        self.timelimit = timelimit

    def __reduce__(self):
        return (TimeLimitError, (self.args[0], self.timelimit))


class DependencyError(DccFuturesError, RuntimeError):
    """Work that this work depends on failed, was killed or was removed, so it never ran.

    ``job_id`` (the farm's own id: an int or a string) and ``work_id`` name that dependency,
    ``status`` how it ended.
    """

    def __init__(self, message: str, job_id: "JobId" = 0, work_id: int = 0, status: str = ""):
        super().__init__(message, job_id, work_id, status)
        self.job_id, self.work_id, self.status = job_id, work_id, status

    def __str__(self) -> str:
        return str(self.args[0])


class DependencyInputError(DccFuturesError, ValueError):
    """A future passed as an argument or in ``depends_on`` cannot be a dependency (of a batch
    not committed yet, cancelled, or of another farm); nothing of that call was submitted."""


def __getattr__(name: str) -> Any:
    # InitializerError derives from concurrent.futures.BrokenExecutor and is made on first
    # use, so that farm workers, which import this module, do not load concurrent.futures.
    if name == "InitializerError":
        return _initializer_error()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _initializer_error() -> type:
    import concurrent.futures

    class InitializerError(DccFuturesError, concurrent.futures.BrokenExecutor):
        """The executor's ``initializer`` raised in a worker: the items of that job it was to
        run fail with this error (its ``__cause__`` holds the initializer's traceback), and the
        executor is broken, as ``ProcessPoolExecutor`` is: submitting to it raises this too."""

    InitializerError.__qualname__ = "InitializerError"  # pickled as dccfutures.errors's
    return globals().setdefault("InitializerError", InitializerError)
