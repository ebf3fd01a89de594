"""Work functions for the benchmarks.

They live in a module of their own (not in ``run.py``, which runs as ``__main__``) so that
workers import them by reference, exactly as they would import a studio's tool code.
"""
import os
import time


def noop(x=None):
    """Do nothing; return the argument so the harness can check every result came back."""
    return x


def wait_for_file(path, x=None, timeout=120.0):
    """Block until ``path`` exists (or ``timeout`` passes); used to keep workers busy."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return x
