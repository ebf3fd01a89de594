"""dccfutures: ``concurrent.futures`` for render farms.

    from dccfutures import Executor
    with Executor(cpus=4) as ex:
        print(ex.submit(pow, 2, 10).result())

Names are imported on first use, so that a farm worker, which imports only
``dccfutures.runtime``, starts without loading the executor, the config or YAML.
"""
import importlib
from typing import Any

__version__ = "0.1.0"

_NAMES = {
    "Executor": ".executor", "Batch": ".executor", "Future": ".future", "Task": ".tasks",
    "report_progress": ".runtime.context",
    "DccFuturesError": ".errors", "ConfigError": ".errors", "FarmError": ".errors",
    "JobRemovedError": ".errors", "PayloadTooLargeError": ".errors",
    "RecursionLimitError": ".errors", "RemoteError": ".errors", "RemoteTraceback": ".errors",
    "WorkerLostError": ".errors", "TimeLimitError": ".errors", "DependencyError": ".errors",
    "InitializerError": ".errors",
    "FrameRangeError": ".frames",
    "DependencyInputError": ".errors", "CancelledError": ".future",
    "as_completed": "concurrent.futures", "wait": "concurrent.futures",
    "ALL_COMPLETED": "concurrent.futures", "FIRST_COMPLETED": "concurrent.futures",
    "FIRST_EXCEPTION": "concurrent.futures",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError("module 'dccfutures' has no attribute %r" % name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
