"""A fake of Houdini's ``hdefereval`` module: run code on Houdini's main thread.

As in Houdini, importing it outside a graphical session (hython, hbatch) raises
``ImportError("hdefereval is only available in a graphical Houdini")`` — code must check
``hou.isUIAvailable()`` before importing it. Nothing here runs by itself: the queue is run by
Houdini's event loop, which in tests is ``hou_fake.process_deferred()`` (or this module's
``_processDeferred()``), on the calling thread.

Implemented: ``executeDeferred(code, *args, **kwargs)``,
``executeDeferredAfterWaiting(code, num_waits, *args, **kwargs)``,
``executeInMainThreadWithResult(code, *args, **kwargs)`` (alias
``execute_in_main_thread_with_result``). ``code`` is a callable or a string of Python.

Decisions: ``executeInMainThreadWithResult`` called on the main thread runs the code at once
and returns its result; from another thread it queues the code and waits until the event loop
runs it, then returns its result or re-raises its exception. If the session leaves "ui" mode
(``hou_fake.reset("hython")``) after this module was imported, its functions raise
``hou.NotAvailable``.
"""
import threading

import hou

if not hou.isUIAvailable():
    raise ImportError("%s is only available in a graphical Houdini" % __name__)


class _Waiter(object):
    """A caller of executeInMainThreadWithResult waiting for the event loop."""

    def __init__(self):
        self.event = threading.Event()
        self.result = None
        self.error = None


def _check():
    if not hou.isUIAvailable():
        raise hou.NotAvailable("hdefereval needs a graphical Houdini")


def _callable(code):
    if callable(code):
        return code
    if isinstance(code, str):
        def run_text(*args, **kwargs):
            namespace = {"__name__": "__main__", "hou": hou}
            exec(compile(code, "<hdefereval>", "exec"), namespace)
        return run_text
    raise TypeError("hdefereval: expected a callable or a string of Python, got %r" % (code,))


def executeDeferred(code, *args, **kwargs):  # noqa: N802 - Houdini's name
    """Queue ``code(*args, **kwargs)`` to run on the main thread when Houdini's event loop is
    next idle. Safe from any thread; returns at once."""
    _check()
    with hou.STATE.lock:
        hou.STATE.deferred.append([_callable(code), args, kwargs, None, 0])


def executeDeferredAfterWaiting(code, num_waits, *args, **kwargs):  # noqa: N802
    """Like executeDeferred, but let the event loop go idle ``num_waits`` times first."""
    _check()
    with hou.STATE.lock:
        hou.STATE.deferred.append([_callable(code), args, kwargs, None, int(num_waits)])


def executeInMainThreadWithResult(code, *args, **kwargs):  # noqa: N802 - Houdini's name
    """Run ``code(*args, **kwargs)`` on the main thread and return its result: at once when
    called on the main thread, else after the event loop has run it (an exception it raised
    is re-raised here)."""
    _check()
    function = _callable(code)
    if threading.current_thread() is hou.STATE.main_thread:
        return function(*args, **kwargs)
    waiter = _Waiter()
    with hou.STATE.lock:
        hou.STATE.deferred.append([function, args, kwargs, waiter, 0])
    waiter.event.wait()
    if waiter.error is not None:
        raise waiter.error
    return waiter.result


execute_in_main_thread_with_result = executeInMainThreadWithResult


def _processDeferred():  # noqa: N802 - Houdini's name
    """One turn of Houdini's event loop: run what is queued (entries queued meanwhile run on
    the next turn; entries still waiting count one wait down). An exception is printed and
    the rest still run, as Houdini does. Returns how many entries ran."""
    return hou._run_deferred_turn()
