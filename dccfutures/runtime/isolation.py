"""What a work item or a job leaves behind in a warm worker process, put back in time.

Items of one job may share process state on a worker (that is what an executor's
``initializer`` is for): module globals, signal handlers, the umask. None of it reaches
another job. After every item the worker puts back its own ``sys.stdout``/``sys.stderr``
(an item that replaced or closed them must not take the next item's log with it), and the
environment, ``sys.path`` and working folder (see ``loop.run_item``). When it moves to a
different job it puts back the signal handlers, umask and interval timers it had after its
bootstrap, and imports the job's own modules afresh (``loop.ModuleCache``, with
:class:`FreshImports` so that an unchanged file is not compiled again).
"""
import importlib.abc
import importlib.machinery
import os
import signal
import sys
from typing import Any, Dict, List, Optional, Set, Tuple

_TIMERS = [getattr(signal, name) for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
           if hasattr(signal, name)]


class ProcessState:
    """The signal handlers and umask of this process when made; :meth:`restore` puts them
    back and cancels interval timers that were not running then (an ``alarm()`` a job left
    must not end the worker while it runs another job)."""

    def __init__(self):
        self.handlers = {signum: handler for signum, handler in _handlers()
                         if handler is not None}  # None: a handler set from C, not ours to set
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        self.timers = [timer for timer in _TIMERS if signal.getitimer(timer) == (0.0, 0.0)]

    def restore(self) -> None:
        for signum, handler in self.handlers.items():
            if _getsignal(signum) != handler:
                try:
                    signal.signal(signum, handler)
                except (OSError, ValueError, TypeError):  # not the main thread, or fixed
                    pass
        os.umask(self.umask)
        for timer in self.timers:
            signal.setitimer(timer, 0)


def _handlers() -> List[Tuple[int, Any]]:
    found = []
    for signum in signal.valid_signals():
        try:
            found.append((signum, _getsignal(signum)))
        except (OSError, ValueError):
            pass
    return found


try:  # without the enum wrapping of signal.getsignal: a job change looks at every signal
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover (CPython has it)
    _getsignal = signal.getsignal


# -- sys.stdout and sys.stderr -----------------------------------------------------------------

Stdio = List[Tuple[Any, Optional[int]]]


def capture_stdio() -> Stdio:
    """This process's ``sys.stdout`` and ``sys.stderr`` (and their file descriptors), before
    an item runs."""
    return [(stream, _fileno(stream)) for stream in (sys.stdout, sys.stderr)]


def restore_stdio(saved: Stdio) -> None:
    """Put back what :func:`capture_stdio` saw; a stream the item closed is opened again on
    its file descriptor."""
    for name, (stream, fd) in zip(("stdout", "stderr"), saved):
        if getattr(stream, "closed", False) and fd is not None:
            stream = open(fd, "w", buffering=1, closefd=False,
                          encoding=getattr(stream, "encoding", None) or "utf-8",
                          errors=getattr(stream, "errors", None) or "replace")
        setattr(sys, name, stream)


def _fileno(stream: Any) -> Optional[int]:
    try:
        return stream.fileno()
    except Exception:  # a DCC's own output object, a buffer: nothing to reopen
        return None


# -- importing a job's modules afresh ----------------------------------------------------------

class FreshImports(importlib.abc.MetaPathFinder):
    """Import the modules named in :attr:`names` (modules of an earlier job, dropped from
    ``sys.modules``) as usual, but without compiling again a file that has not changed: a warm
    worker that serves many small jobs pays for running a module, not for parsing it (Python
    may not write bytecode files: ``PYTHONDONTWRITEBYTECODE``, a read-only tools folder).
    Every other import is left to the finders after this one."""

    def __init__(self):
        self.names: Set[str] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _CompiledOnce(name, spec.origin)
        return spec


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    """A source loader that keeps the code of each file it loaded, for as long as the file's
    modification time and size are the same (what Python's own bytecode files go by)."""

    codes: Dict[str, Tuple[Tuple[int, int], Any]] = {}  # path -> ((mtime, size), its code)

    def get_code(self, fullname: str) -> Any:
        info = os.stat(self.path)
        stamp = (info.st_mtime_ns, info.st_size)
        known = self.codes.get(self.path)
        if known is not None and known[0] == stamp:
            return known[1]
        code = super().get_code(fullname)
        self.codes[self.path] = (stamp, code)
        return code
