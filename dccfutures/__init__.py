"""dccfutures: ``concurrent.futures`` for render farms.

    from dccfutures import Executor
    with Executor(cpus=4) as ex:
        print(ex.submit(pow, 2, 10).result())
"""
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait

from .errors import (ConfigError, DccFuturesError, FarmError, JobRemovedError,
                     PayloadTooLargeError, RecursionLimitError, RemoteError, RemoteTraceback,
                     WorkerLostError)
from .executor import Batch, Executor
from .future import Future
from .runtime.context import report_progress

__version__ = "0.1.0"

__all__ = [
    "ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "Batch", "ConfigError",
    "DccFuturesError", "Executor", "FarmError", "Future", "JobRemovedError",
    "PayloadTooLargeError", "RecursionLimitError", "RemoteError", "RemoteTraceback",
    "WorkerLostError", "as_completed", "report_progress", "wait",
]
