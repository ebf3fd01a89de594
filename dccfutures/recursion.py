"""QBLVL depth accounting.

A job may submit jobs of its own. Left unchecked, a recursive tool can fill a farm with its own
children, so every job carries its depth in ``QBLVL`` (1 for a job submitted from outside the
farm) and a submit that would go deeper than the limit fails before anything reaches the farm.
The names are qbfutures' so that tools written for it keep their meaning.
"""
import os
from typing import Dict

from .errors import RecursionLimitError

LEVEL_VAR = "QBLVL"
LIMIT_VAR = "DCCFUTURES_RECURSION_LIMIT"
LEGACY_LIMIT_VAR = "QBFUTURES_RECURSION_LIMIT"
DEFAULT_LIMIT = 4


def current_level() -> int:
    """The depth of the code running now: 0 outside any job, 1 inside a first-level job."""
    return _int_from_env(LEVEL_VAR, 0)


def limit() -> int:
    """The deepest level a job may have (``DCCFUTURES_RECURSION_LIMIT``, then the qbfutures name)."""
    if os.environ.get(LIMIT_VAR):
        return _int_from_env(LIMIT_VAR, DEFAULT_LIMIT)
    return _int_from_env(LEGACY_LIMIT_VAR, DEFAULT_LIMIT)


def next_level() -> int:
    """The level a job submitted from here would run at; raises when it would pass the limit."""
    level = current_level() + 1
    cap = limit()
    if level > cap:
        raise RecursionLimitError(
            "recursion limit reached: this code runs in a job at %s=%d and a new job would be "
            "level %d, above the limit of %d (raise %s to allow deeper nesting); nothing was "
            "submitted" % (LEVEL_VAR, level - 1, level, cap, LIMIT_VAR))
    return level


def job_environment(level: int) -> Dict[str, str]:
    """The variables a job at ``level`` carries so its own submits are counted."""
    return {LEVEL_VAR: str(level), LIMIT_VAR: str(limit())}


def _int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RecursionLimitError("%s must be an integer, got %r" % (name, raw)) from None
