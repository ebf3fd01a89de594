"""Executor and Batch: ``concurrent.futures`` for any farm.

Job fields resolve as config ``defaults`` < constructor keywords < per-call keywords. Calls are
encoded when they are submitted, so a mistake (an unpicklable argument, an unknown field, a
recursion too deep) raises in the caller before anything reaches the farm.

One ``submit`` is one job of one work item; one ``map`` is one job with one item per chunk;
one ``batch`` is one job for everything submitted in it.
"""
import base64
import concurrent.futures
import difflib
import logging
import os
import re
import sys
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from . import config as config_module
from . import farms, payload, recursion
from .errors import InitializerError
from .farms.base import COMPLETE, FAILED, TERMINAL, Farm, JobId, JobSpec, WorkSpec
from .future import Future

# Qube's job fields (reference 001) plus ours; anything else is probably a typo.
JOB_FIELDS = frozenset((
    "name", "cpus", "priority", "groups", "cluster", "requirements", "reservations",
    "restrictions", "hosts", "omithosts", "env", "label", "account", "kind", "hostorder",
    "retrywork", "retrysubjob", "retrywork_delay", "dependency", "callbacks", "notes",
    "flagsstring", "max_attempts", "timelimit", "pgrp", "mailaddress", "status", "on_done",
))
WORK_FIELDS = frozenset(("name", "status", "retry", "retrydelay"))  # qb.Work fields a caller sets
DEFAULT_PROTOTYPE = "dccfutures"
_LOGGER = logging.getLogger("concurrent.futures")  # where CPython's log a failed initializer


def _check_fields(fields: Dict[str, Any], allowed: frozenset, what: str) -> None:
    for key in fields:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            raise TypeError("unknown %s field %r%s (known fields: %s)" % (
                what, key, " (did you mean %r?)" % hint[0] if hint else "",
                ", ".join(sorted(allowed))))
    for key in ("cpus", "priority", "max_attempts"):
        if key in fields and fields[key] is not None:
            value = fields[key]
            minimum = 1 if key == "max_attempts" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                # A wrong type is a TypeError, a number out of range a ValueError (CPython's).
                error = ValueError if isinstance(value, int) and value < minimum else TypeError
                raise error("%s field %r must be an integer >= %d, got %r"
                            % (what, key, minimum, value))
    if fields.get("timelimit") is not None:  # seconds an item may run; 0 or -1: no limit
        value = fields["timelimit"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise TypeError("%s field 'timelimit' must be a number of seconds, got %r"
                            % (what, value))
    if "name" in fields and not isinstance(fields["name"], str):
        raise TypeError("%s field 'name' must be a string, got %r" % (what, fields["name"]))
    if "name" in fields and not fields["name"].isascii():
        try:  # the farm stores and shows names as UTF-8: a lone surrogate cannot be either
            fields["name"].encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "%s field 'name' must be text that UTF-8 can encode, got %.200r: its lone "
                "surrogates are how os.fsdecode() keeps the bytes of a file name that is not "
                "UTF-8; decode them first, e.g. name.encode('utf-8', 'surrogateescape')"
                ".decode('utf-8', 'replace')" % (what, fields["name"])) from None
    if "status" in fields and fields["status"] not in (None, "pending", "blocked"):
        raise TypeError("%s field 'status' may only be 'pending' or 'blocked', got %r"
                        % (what, fields["status"]))
    env = fields.get("env")
    if env is not None and (not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise TypeError("%s field 'env' must be a dict of strings to strings" % what)
    on_done = fields.get("on_done")
    if on_done is not None and (not isinstance(on_done, str)
                                or not payload.is_reference(on_done)):
        raise TypeError("%s field 'on_done' must name a function as 'package.module:function' "
                        "(it runs on the farm when the job ends, long after this session may "
                        "have closed), got %r" % (what, on_done))
    groups = fields.get("groups")
    if groups is not None and not isinstance(groups, str):
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups):
            raise TypeError("%s field 'groups' must be a string or a list of strings" % what)
        fields["groups"] = ",".join(groups)


class Executor(concurrent.futures.Executor):
    """Runs callables on a farm and returns :class:`~dccfutures.Future` objects.

    ``farm`` is ``"local"`` (the default unless the config says otherwise) or ``"qube"``; every
    other keyword is a job field default (``cpus``, ``groups``, ``priority``, ``name``, …).
    As a drop-in for ``ProcessPoolExecutor``, ``max_workers`` (or a number as the first
    argument) is ``cpus``, and ``initializer(*initargs)`` runs in each worker process before
    the first item of each job it runs.
    """

    prototype = DEFAULT_PROTOTYPE

    def __init__(self, farm: Optional[str] = None, *, max_workers: Optional[int] = None,
                 initializer: Any = None, initargs: Sequence[Any] = (), **job_defaults: Any):
        if isinstance(farm, int) and not isinstance(farm, bool):
            farm, max_workers = None, farm  # ProcessPoolExecutor(4)
        _max_workers_as_cpus(max_workers, job_defaults)
        self.config = config_module.load()
        _check_fields(job_defaults, JOB_FIELDS, "job")
        self.job_defaults = job_defaults
        self._initializer = self._encode_initializer(initializer, initargs)
        self._broken: Any = False  # or why: as ProcessPoolExecutor's, once its initializer failed
        self.farm: Farm = farms.get_farm(farm or self.config.farm, self.config)
        self._poller = farms.poller_for(self.farm)
        self._outstanding: set = set()
        self._outstanding_lock = threading.Lock()
        self._shutdown = False
        self._python_path: Optional[str] = None

    # -- the public contract -------------------------------------------------------------

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        """Schedule ``fn(*args, **kwargs)`` as a job of one work item."""
        return self.submit_ext(fn, args, kwargs)

    def submit_ext(self, func: Any, args: Optional[Sequence] = None,
                   kwargs: Optional[Dict[str, Any]] = None,
                   depends_on: Optional[Iterable[Future]] = None, **job_fields: Any) -> Future:
        """``submit`` with job fields: ``submit_ext(f, [1], {"k": 2}, cpus=2, name="x")``.

        ``depends_on``: futures whose work must complete before this runs (on the farm); a
        future passed as an argument is a dependency too, and the call gets its result.
        """
        self._check_open()
        payload.check_callable(func)
        fields = self._fields(job_fields)
        call = (func, tuple(args or ()), dict(kwargs or {}))
        deps = Dependencies(self.farm, depends_on)
        job = self._job(fields, [WorkSpec(self._encode([call], deps=deps),
                                          depends_on=deps.items())], func)
        job_id = self._submit(job)
        future = Future(self.farm, job_id, 0)
        self._track([future])
        return future

    def map(self, func: Any, *iterables: Iterable, timeout: Optional[float] = None,
            chunksize: int = 1, **job_fields: Any) -> Iterator[Any]:
        """Like ``concurrent.futures.Executor.map``: one job, one work item per chunk.

        The iterator yields results in order; closing it early or timing out cancels (kills)
        the calls that are left, as CPython's does.
        """
        self._check_open()
        payload.check_callable(func)
        if not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError("chunksize must be an integer >= 1, got %r" % (chunksize,))
        end_time = None if timeout is None else time.monotonic() + timeout
        fields = self._fields(job_fields)
        arguments = list(zip(*iterables))
        if not arguments:
            return iter(())
        chunks = [arguments[i:i + chunksize] for i in range(0, len(arguments), chunksize)]
        function = payload.encode_function(func)
        work = []
        for chunk in chunks:
            deps = Dependencies(self.farm)
            work.append(WorkSpec(self._encode([(None, args, {}) for args in chunk], func, deps),
                                 len(chunk), depends_on=deps.items()))
        job = self._job(fields, work, func, function=function, kind="map")
        job_id = self._submit(job)
        futures = [Future(self.farm, job_id, index, call) for index, chunk in enumerate(chunks)
                   for call in range(len(chunk))]
        self._track(futures)
        return _result_iterator(futures, end_time)

    def batch(self, name: Optional[str] = None, depends_on: Optional[Iterable[Future]] = None,
              **job: Any) -> "Batch":
        """Group calls into ONE farm job; extra keywords of its calls go to the work items.
        ``depends_on``: futures every call of the batch waits for (on the farm)."""
        self._check_open()
        if name is not None:
            job["name"] = name
        _check_fields(job, JOB_FIELDS, "job")
        return Batch(self, job, depends_on)

    def submit_tree(self, root: Any) -> Future:
        """Submit a :class:`~dccfutures.tasks.Task` hierarchy, depth first, one job per task,
        each waiting on the farm for its sub-tasks. Returns the root's future (every task's
        is in its ``future``)."""
        from .tasks import depth_first
        order = depth_first(root)  # a cycle raises here, before anything is submitted
        for task in order:
            if task.future is not None:
                continue  # shared with another tree submitted earlier
            fields = dict(task.job_fields)
            if task.name:
                fields["name"] = task.name
            task.future = self.submit_ext(task.func, task.args, task.kwargs,
                                          depends_on=[sub.future for sub in task.subtasks],
                                          **fields)
        return root.future

    def attach(self, job_id: JobId) -> List[Future]:
        """Futures for the calls of an existing job, in agenda order: how a new session (or
        another machine) collects the results of work submitted earlier, even by a client
        that has exited since. ``job_id`` is the farm's own (``Future.job_id``: an int on the
        local farm and Qube, a string on OpenCue), handed to the farm as it is."""
        self._check_open()
        try:
            info = self.farm.job(job_id)
        except KeyError:
            raise ValueError("there is no job %s on the %s farm (removed after the retention "
                             "time, or never submitted)" % (job_id, self.farm.name)) from None
        futures = []
        for work in info.work:
            for call in range(max(1, work.ncalls)):
                future = Future(self.farm, info.id, work.work_id, call)
                # As the farm has it now (blocked, running, half way), not 'pending'.
                future._status, future.progress = work.status, work.progress or 0.0
                future.progress_message = work.message
                futures.append(future)
        self._track(futures)
        # Items that ended before now are news to no poll: hand them over at once.
        ended = [(info.id, w.work_id) for w in info.work if w.status in TERMINAL]
        if ended:
            self._poller.deliver_ended(ended)
        return futures

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work; optionally kill what is still pending or running, and wait.

        Leaving the interpreter (closing Maya) never calls this: farm work keeps running.
        """
        self._shutdown = True
        with self._outstanding_lock:
            futures = [f for f in self._outstanding if not f.done()]
        if cancel_futures:
            cancel_all(futures)
        if wait:
            concurrent.futures.wait(futures)

    # -- helpers -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._broken:
            raise InitializerError(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _encode_initializer(self, initializer: Any, initargs: Sequence[Any]) -> Optional[str]:
        """``initializer(*initargs)`` encoded once, as text for the job's package: a mistake
        fails here, before any job carries it."""
        if initializer is None:
            return None
        try:
            payload.check_callable(initializer)
        except TypeError as error:
            raise TypeError("initializer must be a callable: %s" % error) from None
        blob = self._encode([(initializer, tuple(initargs), {})], initializer)
        return base64.b64encode(blob).decode("ascii")

    def _note_failure(self, future: Future) -> None:
        """An initializer that raised breaks the executor, as it breaks ProcessPoolExecutor:
        logged where CPython's executors log it, then every submit raises."""
        error = None if future.cancelled() else future.exception(0)
        if not isinstance(error, InitializerError) or self._broken:
            return
        where = getattr(error.__cause__, "tb", "")
        _LOGGER.critical("Exception in initializer (job %s on the %s farm):\n%s",
                         future.job_id, self.farm, where or error)
        self._broken = ("this executor is broken: its initializer failed in job %s, so every "
                        "job it submits would fail; make a new Executor once it is fixed (%s)"
                        % (future.job_id, error))

    def _fields(self, call_fields: Dict[str, Any]) -> Dict[str, Any]:
        _check_fields(call_fields, JOB_FIELDS, "job")
        fields = dict(self.config.defaults)
        _check_fields(fields, JOB_FIELDS, "job")
        fields.update(self.job_defaults)
        fields.update(call_fields)
        return fields

    def _encode(self, calls: List[Tuple[Any, tuple, dict]], func: Any = None,
                deps: Optional["Dependencies"] = None) -> bytes:
        """Encode one item's calls. For a map, ``func`` travels once with the job and each
        call holds None in its place; ``func`` then only names the function in errors.
        ``deps`` records the futures found among the arguments."""
        return payload.encode_calls(calls, int(self.config.max_payload_mb * 1e6),
                                    label=None if func is None else payload.describe(func),
                                    reference=deps)

    def _job(self, fields: Dict[str, Any], work: List[WorkSpec], func: Any,
             function: Optional[bytes] = None, kind: str = "submit") -> JobSpec:
        level = recursion.next_level()  # raises before anything is submitted
        fields = dict(fields)
        env = dict(fields.pop("env", None) or {})
        env.update(recursion.job_environment(level))
        name = fields.pop("name", None) or ("%s(%s)" % (kind, payload.describe(func)))
        package = self._package(func)
        on_done = fields.pop("on_done", None)
        if on_done:
            package["on_done"] = on_done
        if self._initializer:
            package["initializer"] = self._initializer
        return JobSpec(name=name, prototype=self.prototype, work=work, fields=fields, env=env,
                       package=package, function=function)

    def _submit(self, job: JobSpec) -> JobId:
        """Hand one job to the farm; returns its id."""
        return self.farm.submit([job])[0]

    def _package(self, func: Any) -> Dict[str, Any]:
        """Readable facts about the work, for the farm, the worker and the monitor. Plain
        strings, numbers, lists and dicts (a Qube package holds nothing else): an empty
        fact is left out."""
        package = {
            "callable": payload.describe(func) if func is not None else "batch",
            "python": self._python(),
            "python_version": "%d.%d" % sys.version_info[:2],
        }
        package["sys_path"], installed = _importable_paths()
        if installed:
            package["sys_path_installed"] = installed
        cwd = _getcwd()
        if cwd:
            package["cwd"] = cwd
        return package

    def _python(self) -> str:
        if self._python_path is None:
            from .interpreter import plain_python
            self._python_path = plain_python(self.config)
        return self._python_path

    def _track(self, futures: List[Future]) -> None:
        with self._outstanding_lock:
            self._outstanding.update(futures)
        for future in futures:
            future._internal_callbacks.append(self._forget)
        self._poller.register(futures)

    def _forget(self, future: Future) -> None:
        with self._outstanding_lock:
            self._outstanding.discard(future)
        if self._initializer:
            self._note_failure(future)


class Batch:
    """Calls collected into one farm job, submitted by :meth:`commit` or on leaving ``with``.

    Its futures have no ids until then; asking them for a result before raises. If the
    ``with`` block raises, nothing is submitted and the batch's futures are cancelled.
    """

    def __init__(self, executor: Executor, job_fields: Dict[str, Any],
                 depends_on: Optional[Iterable[Future]] = None):
        self.executor = executor
        self.job_fields = job_fields
        self.depends_on = list(depends_on or ())
        Dependencies(executor.farm, self.depends_on)  # a bad dependency fails here
        self.futures: List[Future] = []
        # (calls, work fields, futures, the item's own depends_on)
        self._items: List[Tuple[List[Tuple[Any, tuple, dict]], Dict[str, Any], List[Future],
                                List[Future]]] = []
        self._committed = False

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None:
            self.commit()
        else:
            for future in self.futures:
                future._cancel_locally()
            self._committed = True
        return False

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        return self.submit_ext(fn, args, kwargs)

    def submit_ext(self, func: Any, args: Optional[Sequence] = None,
                   kwargs: Optional[Dict[str, Any]] = None,
                   depends_on: Optional[Iterable[Future]] = None, **work_fields: Any) -> Future:
        """Add one call as one work item; ``work_fields`` (e.g. ``name``) go to that item.
        ``depends_on``: futures (of this batch or of submitted jobs) it waits for."""
        self._check_open()
        payload.check_callable(func)
        _check_fields(work_fields, WORK_FIELDS, "work")
        future = Future(self.executor.farm)
        self._add([(func, tuple(args or ()), dict(kwargs or {}))], work_fields, [future],
                  list(depends_on or ()))
        return future

    def map(self, func: Any, *iterables: Iterable, chunksize: int = 1,
            **work_fields: Any) -> "BatchMap":
        """Add one work item per chunk; results are iterable once the batch is committed."""
        self._check_open()
        payload.check_callable(func)
        _check_fields(work_fields, WORK_FIELDS, "work")
        if not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError("chunksize must be an integer >= 1, got %r" % (chunksize,))
        arguments = list(zip(*iterables))
        futures = []
        for i in range(0, len(arguments), chunksize):
            chunk = arguments[i:i + chunksize]
            chunk_futures = [Future(self.executor.farm, call=k) for k in range(len(chunk))]
            self._add([(func, args, {}) for args in chunk], dict(work_fields), chunk_futures)
            futures += chunk_futures
        return BatchMap(self, futures)

    def commit(self) -> List[Future]:
        """Submit everything as one job. Returns the futures (also in ``.futures``)."""
        self._check_open()
        self._committed = True
        executor = self.executor
        items, work = self._prepare()
        if not items:
            return self.futures
        fields = executor._fields(self.job_fields)
        first = items[0][0][0][0]
        job = executor._job(fields, work, first, kind="batch")
        if "name" not in fields:
            job.name = "batch(%s%s)" % (payload.describe(first), ", …" if len(items) > 1 else "")
        job_id = executor._submit(job)
        submitted = []
        for index, (_, _, futures, _) in enumerate(items):
            for future in futures:
                future.job_id, future.work_id = job_id, index
                submitted.append(future)
        executor._track(submitted)
        return self.futures

    def _add(self, calls, work_fields, futures, depends_on=()) -> None:
        # Encode now, so an unpicklable argument or a bad dependency fails at this line, not
        # at commit. Futures of this batch are dependencies within the job.
        own = {id(f): (0, 0) for f in self.futures}
        deps = Dependencies(self.executor.farm, depends_on, own)
        payload.encode_calls(calls, int(self.executor.config.max_payload_mb * 1e6),
                             reference=deps)
        self._items.append((calls, work_fields, futures, list(depends_on)))
        self.futures.extend(futures)

    def _prepare(self):
        """The items to submit and their work specs. Calls cancelled before commit are
        dropped, and so is (cancelled) every call that depends on one of them."""
        limit = int(self.executor.config.max_payload_mb * 1e6)
        dropped = {id(f) for f in self.futures if f.cancelled()}
        while True:
            items = []
            for calls, fields, futures, deps in self._items:
                kept = [(c, f) for c, f in zip(calls, futures) if id(f) not in dropped]
                if kept:
                    items.append(([c for c, _ in kept], fields, [f for _, f in kept], deps))
            for _, _, futures, _ in items:
                for call, future in enumerate(futures):
                    future._call = call  # its place among the calls its item keeps
            own: Dict[int, Tuple[int, int]] = {}
            work, doomed = [], set()
            for index, (calls, wf, futures, item_deps) in enumerate(items):
                # Only earlier calls of the batch: a forward reference could wait forever.
                deps = Dependencies(self.executor.farm, self.depends_on + item_deps, own,
                                    dropped)
                blob = payload.encode_calls(calls, limit, reference=deps)
                if deps.on_dropped:
                    doomed |= {id(f) for f in futures}
                work.append(WorkSpec(blob, len(calls), name=wf.get("name", ""), fields=wf,
                                     depends_on=deps.items()))
                own.update((id(f), (index, f._call)) for f in futures)
            if not doomed:
                return items, work
            for future in self.futures:
                if id(future) in doomed:
                    future._cancel_locally()
            dropped |= doomed

    def _check_open(self) -> None:
        if self._committed:
            raise RuntimeError("this batch was already committed")


class BatchMap:
    """The results of ``Batch.map``, in order, once the batch is committed."""

    def __init__(self, batch: Batch, futures: List[Future]):
        self.batch = batch
        self.futures = futures

    def __iter__(self) -> Iterator[Any]:
        if not self.batch._committed:
            raise RuntimeError("iterate over Batch.map results after the batch is committed")
        return _result_iterator(list(self.futures), None)


class _ResultIterator:
    """Results in order, like CPython's map iterator; closing it (or a timeout) cancels the
    calls that are left, even before the first result was asked for."""

    def __init__(self, futures: List[Future], end_time: Optional[float]):
        self._pending = list(reversed(futures))
        self._end_time = end_time
        self._started = False

    def __iter__(self) -> "_ResultIterator":
        return self

    def __next__(self) -> Any:
        self._started = True
        if not self._pending:
            raise StopIteration
        future = self._pending[-1]
        try:
            if self._end_time is None:
                result = future.result()
            else:
                result = future.result(self._end_time - time.monotonic())
        except BaseException:
            self.close()
            raise
        self._pending.pop()
        return result

    def close(self) -> None:
        pending, self._pending = self._pending, []
        cancel_all(f for f in pending if not f.done())

    def __del__(self) -> None:
        # Like CPython's generator: a loop left with `break` cancels the rest once the iterator
        # is dropped; one never iterated leaves its work alone, and so does interpreter exit.
        if self._started and self._pending and not sys.is_finalizing():
            try:
                self.close()
            except Exception:
                pass

    def __enter__(self) -> "_ResultIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _result_iterator(futures: List[Future], end_time: Optional[float]) -> Iterator[Any]:
    return _ResultIterator(futures, end_time)


def cancel_all(futures: Iterable[Future]) -> int:
    """Kill many futures' work with one farm call per farm. Returns how many were cancelled."""
    by_farm: Dict[int, Tuple[Any, Dict[JobId, set], List[Future]]] = {}
    count = 0
    for future in futures:
        if future.done():
            continue
        if future.job_id is None:
            count += future._cancel_locally()
            continue
        farm, targets, group = by_farm.setdefault(id(future.farm), (future.farm, {}, []))
        targets.setdefault(future.job_id, set()).add(future.work_id)
        group.append(future)
    for farm, targets, group in by_farm.values():
        farm.kill_many({job: sorted(works) for job, works in targets.items()})
        # An item may have finished just before the kill reached it: the farm keeps its
        # result, and so does its future (one look for the whole group).
        finished = _finished_items(farm, {(f.job_id, f.work_id) for f in group})
        for future in group:
            key = (future.job_id, future.work_id)
            if key in finished:
                if future._poller is not None and not future.done():
                    future._poller.deliver_ended([key])
                continue
            if future._poller is not None:
                future._poller.cancel_item(*key)
            count += future._cancel_locally() if not future.done() else future.cancelled()
    return count


def _finished_items(farm: Farm, items: Iterable[Tuple[JobId, int]]) -> set:
    """Which of ``items`` the farm recorded as complete or failed (not killed)."""
    try:
        states = farm.results(sorted(items))
    except Exception:  # the kill went through; without an answer, treat them as killed
        return set()
    return {key for key, (status, _) in states.items() if status in (COMPLETE, FAILED)}


def _max_workers_as_cpus(max_workers: Any, job_defaults: Dict[str, Any]) -> None:
    """``ProcessPoolExecutor``'s ``max_workers`` is our ``cpus``, checked as CPython does."""
    if max_workers is None:
        return
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise TypeError("max_workers must be an integer, got %r" % (max_workers,))
    if max_workers <= 0:
        raise ValueError("max_workers must be greater than 0")
    if job_defaults.get("cpus") is not None:
        raise TypeError("give cpus or max_workers, not both (they are the same field)")
    job_defaults["cpus"] = max_workers


_path_cache: Tuple[Tuple[str, ...], Tuple[List[str], List[str]]] = ((), ([], []))


def _importable_paths() -> Tuple[List[str], List[str]]:
    """The submitter's ``sys.path`` folders (what a worker needs to import its modules), as
    (its own folders, its Python's installation).

    A worker puts the first in front of its ``sys.path`` and the second after it: the
    submitter's project folders win, but its standard library and site-packages never shadow
    those of the worker's Python, which may be another application's (Blender's, mayapy's)
    and another version's, with compiled modules of its own."""
    global _path_cache
    key = tuple(sys.path)
    if key != _path_cache[0]:
        folders = [p for p in key if p and os.path.isdir(p)]
        installed = [p for p in folders if _is_installation(p)]
        _path_cache = (key, ([p for p in folders if p not in installed], installed))
    return _path_cache[1]


def _is_installation(folder: str) -> bool:
    """Whether ``folder`` belongs to this Python's installation (its prefixes, a
    site-packages or dist-packages) rather than to the submitter's own code."""
    folder = os.path.join(os.path.abspath(folder), "")
    if re.search(r"[\\/](site|dist)-packages[\\/]", folder):
        return True
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return any(folder.startswith(os.path.join(os.path.abspath(prefix), ""))
               for prefix in prefixes if prefix and os.path.dirname(prefix) != prefix)


def _getcwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:
        return None


class Dependencies:
    """The ``persistent_id`` hook that pickles a Future passed as an argument as a reference
    to its work item (the farm hands the call that item's result), and collects the work
    items a new item depends on (those, plus ``depends_on``)."""

    def __init__(self, farm: Farm, depends_on: Optional[Iterable[Future]] = None,
                 own: Optional[Dict[int, Tuple[int, int]]] = None,
                 dropped: Iterable[int] = ()):
        self.farm = farm
        self.own = own or {}  # id(future) -> (work index, call) in the job being built
        self.dropped = set(dropped)  # ids of futures of this batch cancelled before commit
        self.on_dropped = False
        self._items: Dict[Tuple[Optional[JobId], int], None] = {}
        for future in depends_on or ():
            if not isinstance(future, Future):
                raise TypeError("depends_on takes dccfutures futures, got %r" % (future,))
            self._reference(future)

    def __call__(self, obj: Any) -> Optional[payload.Reference]:
        if not isinstance(obj, Future):
            return None
        return self._reference(obj)

    def items(self) -> List[Tuple[Optional[JobId], int]]:
        return list(self._items)

    def _reference(self, future: Future) -> payload.Reference:
        if id(future) in self.dropped:
            self.on_dropped = True
            return (payload.DEPENDENCY, None, -1, 0)
        if id(future) in self.own:
            index, call = self.own[id(future)]
            self._items[(None, index)] = None
            return (payload.DEPENDENCY, None, index, call)
        if future.job_id is None:
            raise payload.DependencyInputError(
                "%r belongs to a batch that is not committed yet: commit it first, or submit "
                "this call in the same batch" % (future,))
        if future.farm is not self.farm:
            raise payload.DependencyInputError(
                "%r runs on another farm (%s) than this job (%s): a dependency must be on the "
                "same farm" % (future, future.farm, self.farm))
        if future.cancelled():
            raise payload.DependencyInputError("%r was cancelled: it can never give a result"
                                               % (future,))
        self._items[(future.job_id, future.work_id)] = None
        return (payload.DEPENDENCY, future.job_id, future.work_id, future._call)

