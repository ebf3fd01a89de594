"""The embedded local farm: one machine, nothing to install.

``LocalFarm`` is imported on first use: a worker process imports only the store, the home
and the wake-ups, and starts faster for it.
"""
from typing import Any

__all__ = ["LocalFarm"]


def __getattr__(name: str) -> Any:
    if name == "LocalFarm":
        from .farm import LocalFarm
        return LocalFarm
    raise AttributeError(name)
