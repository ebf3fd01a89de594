"""Fake ``maya.utils``: the main-thread queue (``executeDeferred``) and ``processIdleEvents``."""
from maya._state import STATE


def executeDeferred(fn, *args, **kwargs):  # noqa: N802 - Maya's name
    """Queue ``fn(*args, **kwargs)`` (or a string of Python) for Maya's main thread, at normal
    idle priority. Safe from any thread. Nothing runs it in batch/mayapy unless
    ``processIdleEvents()`` is called (as in Maya: PyMEL documents that Maya's version
    "does not execute at all when in batch mode")."""
    from maya.cmds import _run_script
    if not callable(fn) and not isinstance(fn, str):
        raise TypeError("executeDeferred: expected a callable or a string, got %r" % (fn,))
    with STATE.lock:
        STATE.calls["utils.executeDeferred"] += 1
        if isinstance(fn, str):
            STATE.deferred.append((_run_script, (fn,), {}))
        else:
            STATE.deferred.append((fn, args, kwargs))


def processIdleEvents():  # noqa: N802 - Maya's name
    """Run the deferred queue on the calling thread, as Maya's idle loop does on the main
    thread: normal-priority entries in order, then lowest-priority ones when nothing else is
    queued; entries queued meanwhile run too. An entry that raises is reported on stderr and
    the rest still run (Maya prints the error and goes on). Returns the number run."""
    import sys
    import traceback
    count = 0
    while True:
        with STATE.lock:
            if STATE.deferred:
                fn, args, kwargs = STATE.deferred.popleft()
            elif STATE.deferred_lowest:
                fn, args, kwargs = STATE.deferred_lowest.popleft()
            else:
                return count
        count += 1
        STATE.calls["idle.run"] += 1
        try:
            fn(*args, **kwargs)
        except Exception:
            STATE.calls["idle.errors"] += 1
            sys.stderr.write("# Error: deferred call failed\n" + traceback.format_exc())
