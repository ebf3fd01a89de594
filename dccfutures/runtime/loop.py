"""The request / run / report loop every farm worker runs."""
import atexit
import base64
import gc
import os
import re
import sys
import traceback
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .. import payload
from . import isolation
from .context import ItemContext, _set_current

JOB_VAR = "DCCFUTURES_JOB_ID"
WORK_VAR = "DCCFUTURES_WORK_ID"


class Item:
    """A work item as a worker sees it: its calls and what it needs of its job.

    ``job`` is a dict with ``env`` (variables set while the item runs), ``sys_path`` (entries
    put in front of ``sys.path``), ``sys_path_installed`` (the submitter's Python's own
    folders, put after the worker's), ``cwd``, ``function`` (the encoded function of a map) and
    ``initializer`` (the executor's, base64 text).
    """

    def __init__(self, job_id: int, work_id: int, calls: bytes, job: Dict[str, Any],
                 token: Any = None):
        self.job_id, self.work_id, self.calls, self.job, self.token = (
            job_id, work_id, calls, job, token)


def job_context(package: Dict[str, Any], function: Any = None,
                env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """What :func:`run_item` needs of an item's job (see :class:`Item`), from the job's
    package; ``env`` only where the process does not have the job's environment already."""
    return {"env": env or {}, "sys_path": package.get("sys_path") or [],
            "sys_path_installed": package.get("sys_path_installed") or [],
            "cwd": package.get("cwd"), "function": function,
            "initializer": package.get("initializer")}


class WorkSource:
    """What a farm gives the loop: items to run and a place to report them."""

    def request(self) -> Optional[Item]:
        """The next item, blocking until one is there; None when this worker should stop."""
        raise NotImplementedError

    def started(self, item: Item) -> None:
        """The item is about to run (the local farm marks its log offset here)."""

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        """Mid-item progress; may be throttled."""

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        """The item ended: ``complete`` or ``failed``, with its encoded outcomes."""
        raise NotImplementedError

    def close(self) -> None:
        """The loop is over."""

    def outcome(self, job_id: int, work_id: int) -> Optional[bytes]:
        """The encoded outcomes of a complete work item this item depends on, or None when
        it is not complete (a farm without dependencies has none)."""
        return None


def dependency_resolver(item: "Item", source: WorkSource):
    """The value a dependency reference in ``item``'s payload stands for: the result of
    that call of that work item (``None`` as job id: ``item``'s own job)."""
    cache: Dict[Tuple[int, int], list] = {}

    def resolve(reference: Tuple[str, Optional[int], int, int]) -> Any:
        _, job_id, work_id, call = reference
        key = (item.job_id if job_id is None else job_id, work_id)
        if key not in cache:
            blob = source.outcome(*key)
            if blob is None:
                from ..errors import DependencyError
                raise DependencyError("work %s:%d, which this item depends on, has no result: "
                                      "it is not complete" % key, key[0], key[1], "")
            cache[key] = payload.decode_outcomes(blob)
        outcomes = cache[key]
        if call >= len(outcomes) and len(outcomes) != 1:
            from ..errors import DependencyError
            raise DependencyError("work %s:%d has no result for its call %d"
                                  % (key[0], key[1], call), key[0], key[1], "")
        ok, value = payload.unpack(outcomes[call] if call < len(outcomes) else outcomes[0])
        if not ok:
            raise value
        return value
    return resolve


class ModuleCache:
    """Import a job's own modules afresh for each job, and put back the process state the
    previous job changed.

    A job brings its submitter's folders on ``sys.path``. The modules it imports from them are
    the job's: they stay loaded for its other items on this worker, and are dropped, with
    whatever the job did to their globals, when the worker moves to another job. So a fixed
    tool runs fixed, two projects that both have a ``tools.py`` never see each other's, and
    state one job set up (an initializer's connection) is never found by another. A file that
    did not change is not compiled again (:class:`isolation.FreshImports`). Modules from
    the worker's own path, installed packages (``site-packages``), compiled extensions and
    dccfutures itself stay loaded. Signal handlers, the umask and interval timers go back to
    what they were after the bootstrap (:class:`isolation.ProcessState`).
    """

    def __init__(self):
        self.job_id: Optional[int] = None
        self.loaded: Set[str] = set()  # modules imported from the current job's folders
        self.own = set(sys.modules)  # the worker's, bootstrap included
        self.compiled: Set[str] = set()  # top-level packages of compiled job modules
        self.process = isolation.ProcessState()
        self.fresh = isolation.FreshImports()
        sys.meta_path.insert(0, self.fresh)

    def enter(self, job_id: int, job_paths: Sequence[str]) -> bool:
        """Make the worker ready for an item of ``job_id``; True when that is a change of
        job (the previous job's modules were dropped)."""
        if job_id == self.job_id:
            return False
        if self.job_id is not None:
            for name in self.loaded:
                sys.modules.pop(name, None)
            self.fresh.names |= self.loaded
            self.loaded = set()
            self.process.restore()
        self.job_id = job_id
        return True

    def record(self, before: int, roots: Sequence[str]) -> None:
        """After an item: remember modules it imported from the job's own folders; every other
        new module is the worker's from now on."""
        if len(sys.modules) == before or not roots:
            return
        folders = tuple(os.path.join(os.path.abspath(r), "") for r in roots)
        for name in sys.modules.keys() - self.own - self.loaded:
            path = getattr(sys.modules.get(name), "__file__", None)
            top = name.partition(".")[0]
            if path and top != "dccfutures" and not _INSTALLED.search(path) and \
                    os.path.abspath(path).startswith(folders):
                if path.endswith(".py") and top not in self.compiled:
                    self.loaded.add(name)
                    continue
                self.compiled.add(top)  # not for loading twice; its package stays with it
            self.own.add(name)
        if self.compiled:
            kept = {name for name in self.loaded if name.partition(".")[0] in self.compiled}
            self.loaded -= kept
            self.own |= kept


# Where pip installs: packages there may hold compiled parts and are not imported twice.
_INSTALLED = re.compile(r"[\\/](site|dist)-packages[\\/]")


def run_item(item: Item, source: WorkSource, functions: Dict[int, Any],
             modules: Optional[ModuleCache] = None) -> str:
    """Run one item's calls in its job's environment; report and return its status.

    The environment, ``sys.path`` and working directory are the job's while the item runs and
    are put back afterwards, because a warm worker serves many jobs; so are ``sys.stdout`` and
    ``sys.stderr``, which are the worker's capture of the item's output.
    """
    job = item.job
    saved_environ = _snapshot_environ()
    saved_path = list(sys.path)
    saved_cwd = _getcwd()
    saved_stdio = isolation.capture_stdio()
    context = ItemContext(item.job_id, item.work_id,
                          lambda f, m: source.progress(item, f, m))
    outcomes: List[tuple] = []
    extra: List[str] = []
    count_before = len(sys.modules)
    try:
        os.environ.update(job.get("env") or {})
        os.environ[JOB_VAR] = str(item.job_id)
        os.environ[WORK_VAR] = str(item.work_id)
        extra = [p for p in job.get("sys_path") or () if p not in sys.path]
        sys.path[:0] = extra
        sys.path.extend(p for p in job.get("sys_path_installed") or () if p not in sys.path)
        if modules is not None:
            if modules.enter(item.job_id, job.get("sys_path") or ()):
                functions.clear()  # a map's function decoded earlier holds dropped modules
            count_before = len(sys.modules)
        cwd = job.get("cwd")
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        source.started(item)
        try:
            _initialize(item)
            calls = payload.decode_calls(item.calls, dependency_resolver(item, source))
            shared = _job_function(item, functions)
        except BaseException as error:  # a payload that does not load fails the item, not us
            tb_text = None
            if isinstance(error, SystemExit):  # as a sys.exit in the call does (see _call)
                tb_text = "".join(traceback.format_exception(type(error), error,
                                                             error.__traceback__))
                error = RuntimeError("the work called sys.exit(%r) while its function and "
                                     "arguments were unpickled" % (error.code,))
            outcomes = [payload.failure(error, tb_text)]
        else:
            context._calls = max(1, len(calls))
            _set_current(context)
            for index, (func, args, kwargs) in enumerate(calls):
                context.call_index = index
                outcomes.append(_call(shared if func is None else func, args, kwargs))
    finally:
        _set_current(None)
        flush_stdio()
        isolation.restore_stdio(saved_stdio)
        if modules is not None:
            modules.record(count_before, extra)
        _restore_environ(saved_environ)
        sys.path[:] = saved_path
        if saved_cwd:
            try:
                os.chdir(saved_cwd)
            except OSError:
                pass
    status = "failed" if any(o[0] != "ok" for o in outcomes) else "complete"
    source.report(item, status, payload.encode_outcomes(outcomes))
    return status


def _snapshot_environ() -> Dict[Any, Any]:
    """The environment as it is now, cheaply: on POSIX a copy of ``os.environ``'s raw
    byte strings (one C-level dict copy), not the per-variable decoding ``os.environ.copy()``
    does, which cost a third of a no-op item's time on a worker."""
    raw = getattr(os.environ, "_data", None)
    return dict(raw) if isinstance(raw, dict) else dict(os.environ)


def _restore_environ(saved: Dict[Any, Any]) -> None:
    """Put ``os.environ`` back as it was, touching only the variables that changed (a DCC's
    environment has hundreds; each putenv costs)."""
    current = os.environ
    raw = getattr(current, "_data", None)
    if isinstance(raw, dict) and hasattr(current, "decodekey"):
        if raw == saved:
            return
        decode_key, decode_value = current.decodekey, current.decodevalue  # type: ignore
        for key in [k for k in raw if k not in saved]:
            del current[decode_key(key)]
        for key, value in saved.items():
            if raw.get(key) != value:
                current[decode_key(key)] = decode_value(value)
        return
    for key in [k for k in current if k not in saved]:
        del current[key]
    for key, value in saved.items():
        if current.get(key) != value:
            current[key] = value


def _call(func: Any, args: Sequence, kwargs: Dict[str, Any]) -> tuple:
    try:
        target = payload.resolve(func)
        value = target(*args, **kwargs)
    except SystemExit as error:
        return payload.failure(RuntimeError("the work called sys.exit(%r)" % (error.code,)))
    except BaseException as error:  # KeyboardInterrupt in an item is the item's failure too
        tb = traceback.format_exception(type(error), error, error.__traceback__)
        # Drop this frame: the user's code starts one level down.
        return payload.failure(error, "".join(tb[:1] + tb[2:]) if len(tb) > 2 else "".join(tb))
    return payload.ok(value, func)


def _job_function(item: Item, functions: Dict[int, Any]) -> Any:
    if item.job_id not in functions:
        blob = item.job.get("function")
        functions[item.job_id] = payload.loads(blob) if blob else None
        if len(functions) > 64:  # a long-lived worker: keep only recent jobs' functions
            functions.pop(next(iter(functions)))
    return functions[item.job_id]


# The job whose items this process ran last, and why its initializer failed (None: it did
# not). Its initializer ran before the first of them, and runs again after another job's items.
_initialized: Tuple[Optional[int], Optional[Tuple[str, str]]] = (None, None)


def _initialize(item: Item) -> None:
    """Run the job's ``initializer(*initargs)`` before this process runs its first item; when
    it raised, this item and every later one of the job here fail with ``InitializerError``."""
    global _initialized
    if _initialized[0] != item.job_id:
        encoded = item.job.get("initializer")
        _initialized = (item.job_id, _run_initializer(encoded) if encoded else None)
    failure = _initialized[1]
    if failure is not None:
        from ..errors import InitializerError, RemoteTraceback
        raise InitializerError(failure[0]) from RemoteTraceback(failure[1])


def _run_initializer(encoded: str) -> Optional[Tuple[str, str]]:
    """(What went wrong, the traceback) when the initializer raised, else None."""
    func = None
    try:
        [(func, args, kwargs)] = payload.decode_calls(base64.b64decode(encoded))
        payload.resolve(func)(*args, **kwargs)
    except BaseException as error:  # SystemExit too: the worker lives on, the items fail
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = "".join(lines[:1] + lines[2:]) if len(lines) > 2 else "".join(lines)
        print("dccfutures: the initializer failed:\n" + text, end="", file=sys.stderr, flush=True)
        import socket
        return ("the initializer %s raised %s: %s (process %d on %s); the items of job %s "
                "fail with it" % ("%s()" % payload.describe(func) if func is not None else
                                  "(which did not load)", type(error).__name__, error,
                                  os.getpid(), socket.gethostname(), os.environ.get(JOB_VAR)),
                text)
    return None


def serve(source: WorkSource, bootstrap: Any = None) -> int:
    """Bootstrap once, then run items until the source runs dry. Returns an exit code."""
    functions: Dict[int, Any] = {}
    if bootstrap is not None:
        bootstrap.setup()
    modules = ModuleCache()  # after the bootstrap: what it loaded is the worker's own
    try:
        while True:
            item = source.request()
            if item is None:
                return 0
            run_item(item, source, functions, modules)
    finally:
        try:
            source.close()
        finally:
            if bootstrap is not None:
                bootstrap.teardown()


def exit_process(code: int = 0) -> None:
    """End a worker: atexit handlers and a garbage collection, then ``os._exit``.

    DCC interpreters can crash in their own teardown (reference 000), so a worker never goes
    through the normal interpreter exit.
    """
    try:
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    try:
        gc.collect()
    except BaseException:
        pass
    flush_stdio()
    os._exit(code)


def flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def line_buffered_stdio() -> None:
    """For a process whose stdout and stderr go to one log: a stdout block-buffered (a file
    or a pipe, no PYTHONUNBUFFERED in the environment) would hold an item's prints back
    behind its stderr lines."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:  # a DCC's own output object: it keeps its own ways
            pass


def _getcwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:
        return None
