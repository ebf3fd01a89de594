"""Encoding of calls and their outcomes.

Calls are pickled with cloudpickle so that lambdas, closures and functions typed into a DCC's
script editor (module ``__main__``) travel by value. A callable may also be named by a string
``"package.module:function"``, resolved where it runs, for tools whose code only imports on the
farm. Everything is encoded at submit time, so an unpicklable argument fails in the artist's
session, naming the argument, before anything reaches the farm.

An outcome is a plain tuple pickled with the standard library: ``("ok", value_bytes)`` or
``("error", exception_bytes_or_None, type_name, message, traceback_text)``. The value and the
exception sit inside as separate cloudpickle blobs, so one result that cannot be unpickled on
the client spoils only its own future.
"""
import importlib
import io
import linecache
import os
import pickle
import re
import sys
import traceback
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .errors import (DependencyError, DependencyInputError, PayloadTooLargeError, RemoteError,
                     RemoteTraceback)

# The header's two bytes name the Python that pickled a blob: functions pickled by value only
# load in the same minor version, and the error should say so rather than show a bytecode error.
_HEADER = b"DF"
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")

Call = Tuple[Any, tuple, dict]
Outcome = tuple


def _cloudpickle():
    import cloudpickle  # imported on first use: the module loads in ~20 ms
    return cloudpickle


def check_callable(func: Any) -> None:
    """Raise ``TypeError`` unless ``func`` is a callable or a ``"package.module:function"`` string."""
    if isinstance(func, str):
        if not _REF.match(func):
            raise TypeError("a callable given as a string must look like 'package.module:function', "
                            "got %r" % (func,))
    elif not callable(func):
        raise TypeError("%r is not callable" % (func,))


def is_reference(text: str) -> bool:
    """Whether ``text`` names a function as ``"package.module:function"``."""
    return bool(_REF.match(text))


def describe(func: Any) -> str:
    """A short human name for a callable, for job names and error messages."""
    if isinstance(func, str):
        return func
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if name is None:
        return type(func).__name__
    module = getattr(func, "__module__", None)
    return "%s.%s" % (module, name) if module and module not in ("__main__", "builtins") else name


# A reference to another work item's result, pickled in place of a Future passed as an
# argument: ("dccfutures.dependency", job_id or None for the same job, work_id, call index).
DEPENDENCY = "dccfutures.dependency"
Reference = Tuple[str, Optional[int], int, int]


def dumps(obj: Any, reference: Optional[Callable[[Any], Optional[Reference]]] = None) -> bytes:
    """Pickle ``obj`` with cloudpickle behind the version header. ``reference(o)`` may return
    a :data:`DEPENDENCY` tuple to pickle in place of ``o`` (wherever it is in ``obj``)."""
    buffer = io.BytesIO()
    buffer.write(_header())
    pickler = _pickler()(buffer, protocol=4)
    if reference is not None:
        pickler.persistent_id = reference  # type: ignore[assignment]
    pickler.dump(obj)
    return buffer.getvalue()


_PICKLER: Any = None


def _pickler() -> Any:
    """cloudpickle's Pickler, except that code sent by value keeps its file name (cloudpickle
    writes ``<dynamic-code>``) and carries the source lines it covers, so that tracebacks on
    the farm show them. Only code pickled by value goes through here: a function pickled by
    reference costs nothing more."""
    global _PICKLER
    if _PICKLER is None:
        import collections
        import types
        base = _cloudpickle().Pickler
        reduce_code = base.dispatch_table[types.CodeType]

        def reduce_with_source(code: types.CodeType) -> Any:
            reduced = reduce_code(code)
            if len(reduced) != 2:  # not the (constructor, args) of the cloudpickle we know
                return reduced
            constructor, args = reduced
            args = tuple(code.co_filename if isinstance(a, str) and a == "<dynamic-code>" else a
                         for a in args)
            source = _source_of(code)
            return (constructor, args) if source is None else \
                (_code_with_source, (source, constructor, args))

        class Pickler(base):  # type: ignore[misc, valid-type]
            dispatch_table = collections.ChainMap({types.CodeType: reduce_with_source},
                                                  base.dispatch_table)
        _PICKLER = Pickler
    return _PICKLER


# id(code) -> (a weak reference to it, (file name, first line, lines) or None)
_SOURCES: Dict[int, Tuple[Any, Optional[Tuple[str, int, Tuple[str, ...]]]]] = {}


def _source_of(code: Any) -> Optional[Tuple[str, int, Tuple[str, ...]]]:
    """The lines of source ``code`` covers, as the submitting session has them (its
    ``linecache``: a file, a script editor or notebook that registers its text), or None."""
    key = id(code)
    known = _SOURCES.get(key)
    if known is not None and known[0]() is code:
        return known[1]
    import dis
    source = None
    lines = linecache.getlines(code.co_filename)
    first = code.co_firstlineno
    last = max((line for _, line in dis.findlinestarts(code) if line), default=first)
    if lines and 0 < first <= last <= len(lines):
        source = (code.co_filename, first, tuple(lines[first - 1:last]))
    _SOURCES[key] = (weakref.ref(code, lambda _: _SOURCES.pop(key, None)), source)
    return source


def _code_with_source(source: Tuple[str, int, Tuple[str, ...]], constructor: Any,
                      args: tuple) -> Any:
    """Unpickle a code object sent with its source: register the lines in ``linecache``
    (unless the file is here to read), then build it."""
    filename, first, lines = source
    if not os.path.exists(filename):
        entry = linecache.cache.get(filename)
        known = list(entry[2]) if entry is not None and len(entry) == 4 and entry[1] is None \
            else []
        end = first - 1 + len(lines)
        known += ["\n"] * (end - len(known))
        known[first - 1:end] = lines
        linecache.cache[filename] = (0, None, known, filename)  # no mtime: never checked
    return constructor(*args)


def _header() -> bytes:
    return _HEADER + bytes(sys.version_info[:2])


def loads(blob: bytes, resolve_reference: Optional[Callable[[Reference], Any]] = None) -> Any:
    """Unpickle a blob made by :func:`dumps`, explaining a Python version mismatch.
    ``resolve_reference`` gives the value of each dependency reference in it."""
    if blob[:2] != _HEADER:
        raise ValueError("not a dccfutures payload")
    made_by = tuple(blob[2:4])
    try:
        if resolve_reference is None:
            return pickle.loads(blob[4:])
        import io
        unpickler = pickle.Unpickler(io.BytesIO(blob[4:]))
        unpickler.persistent_load = _resolver(resolve_reference)  # type: ignore[assignment]
        return unpickler.load()
    except Exception as error:
        if made_by != tuple(sys.version_info[:2]):
            raise RuntimeError(
                "this work was pickled by Python %d.%d and is being loaded by Python %d.%d: a "
                "function pickled by value (a lambda, a closure, a function from __main__ or a "
                "script editor) needs the same Python minor version on both ends. Set `python:` "
                "in the dccfutures config, or submit a 'package.module:function' string (%s: %s)"
                % (made_by + tuple(sys.version_info[:2]) + (type(error).__name__, error))) from error
        raise


def _resolver(resolve_reference: Callable[[Reference], Any]) -> Callable[[Any], Any]:
    def persistent_load(pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == DEPENDENCY:
            return resolve_reference(pid)
        raise pickle.UnpicklingError("unknown persistent id %r" % (pid,))
    return persistent_load


def encode_calls(calls: Sequence[Call], max_bytes: int, label: Optional[str] = None,
                 reference: Optional[Callable[[Any], Optional[Reference]]] = None) -> bytes:
    """Encode a work item's calls; raise ``TypeError`` naming what does not pickle.

    ``max_bytes`` guards the farm's database (and Qube's supervisor) against a scene's worth of
    data passed by value: the error says to pass a path instead. ``reference`` turns futures
    passed as arguments into dependency references (see :func:`dumps`).
    """
    try:
        blob = dumps(list(calls), reference)
    except (DependencyInputError, RecursionError):
        raise
    except Exception as error:
        raise _unpicklable(calls, error, label) from error
    if len(blob) > max_bytes:
        raise PayloadTooLargeError(
            "the call to %s encodes to %s, over the %s limit (max_payload_mb in the dccfutures "
            "config); pass file paths or references instead of large data"
            % (label or (describe(calls[0][0]) if calls else "?"), _size(len(blob)),
               _size(max_bytes)))
    return blob


def encode_function(func: Any) -> bytes:
    """Encode a callable shared by many calls (a map's), naming it if it does not pickle."""
    try:
        return dumps(func)
    except Exception as error:
        raise _unpicklable([(func, (), {})], error) from error


def _unpicklable(calls: Sequence[Call], error: Exception, label: Optional[str] = None
                 ) -> TypeError:
    """Find the first object that does not pickle and name it."""
    pickler = _cloudpickle()
    for func, args, kwargs in calls:
        name = label or (describe(func) if func is not None else "the function")
        suspects: List[Tuple[str, Any]] = [("the callable %s" % name, func)]
        suspects += [("argument %d of %s" % (i, name), a) for i, a in enumerate(args, 1)]
        suspects += [("keyword argument %r of %s" % (k, name), v) for k, v in kwargs.items()]
        for label, value in suspects:
            try:
                pickler.dumps(value, protocol=4)
            except Exception as inner:
                return TypeError("cannot send %s to the farm: %r (%s) does not pickle: %s: %s"
                                 % (label, _short_repr(value), type(value).__name__,
                                    type(inner).__name__, inner))
    return TypeError("cannot send the call to the farm: %s: %s" % (type(error).__name__, error))


def decode_calls(blob: bytes, resolve_reference: Optional[Callable[[Reference], Any]] = None
                 ) -> List[Call]:
    return loads(blob, resolve_reference)


def resolve(func: Union[str, Callable]) -> Callable:
    """Turn a ``"package.module:function"`` reference into the callable; pass callables through."""
    if not isinstance(func, str):
        return func
    module_name, _, attr_path = func.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        kind = ModuleNotFoundError if isinstance(error, ModuleNotFoundError) else ImportError
        raise kind("%r: %s" % (func, error), name=error.name, path=error.path) from error
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise AttributeError("%r: module %r has no attribute %r"
                                 % (func, module_name, attr_path)) from None
    return target


def ok(value: Any, func: Any = None) -> Outcome:
    """The outcome of a call that returned ``value``; an unpicklable value becomes an error,
    also when pickling it raises ``SystemExit`` or ``KeyboardInterrupt`` (the worker lives)."""
    try:
        return ("ok", dumps(value))
    except BaseException as error:
        problem = TypeError("the result of %s (%s) cannot be sent back: %s: %s"
                            % (describe(func) if func is not None else "the call",
                               type(value).__name__, type(error).__name__, error))
        return failure(problem, "")


def failure(error: BaseException, tb_text: Optional[str] = None) -> Outcome:
    """The outcome of a call that raised ``error``."""
    if tb_text is None:
        tb_text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        exc_blob: Optional[bytes] = dumps(error)
        pickle.loads(exc_blob[4:])  # an exception whose __init__ takes other args fails here
    except BaseException:  # SystemExit from a hostile __reduce__ too: the type and message do
        exc_blob = None
    return ("error", exc_blob, _qualname(type(error)), _safe_str(error), tb_text)


def encode_outcomes(outcomes: Sequence[Outcome]) -> bytes:
    return pickle.dumps(list(outcomes), protocol=4)


def decode_outcomes(blob: bytes) -> List[Outcome]:
    return pickle.loads(blob)


class _PlainUnpickler(pickle.Unpickler):
    """Loads tuples, lists, strings, bytes and numbers only: importing a class is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError("encoded outcomes hold plain data only, not %s.%s"
                                     % (module, name))


def read_failures(blob: bytes) -> Tuple[List[Tuple[int, str, str, str]], int]:
    """The failed calls in encoded outcomes, ``[(call index, type name, message, traceback)]``,
    and how many calls there were. The exceptions themselves are not loaded (they are
    separate blobs inside): the CLI and the monitor say why work failed without importing or
    running anything the user's code made."""
    outcomes = _PlainUnpickler(io.BytesIO(blob)).load()
    failures = [(index, str(o[2]), str(o[3]), str(o[4] or ""))
                for index, o in enumerate(outcomes) if o[0] == "error" and len(o) == 5]
    return failures, len(outcomes)


def failed_outcomes(error: BaseException) -> bytes:
    """The encoded outcomes of an item that our machinery, not the user's call, failed
    (a payload gone, a farm that lost it): ``error`` with no traceback of the user's."""
    return encode_outcomes([failure(error, "")])


def dependency_failure(job_id: Any, work_id: int, status: str, name: str,
                       outcomes: Optional[bytes] = None) -> Outcome:
    """The outcome of an item that never ran because work it depends on ended without
    completing, saying why that work ended: its first failure's type and message, read from
    its encoded ``outcomes`` as plain data (nothing of the user's is loaded here)."""
    why = "was removed" if status == "removed" else "ended " + status
    reason = _first_failure(outcomes)
    error = DependencyError("work %s:%s (%s), which this item depends on, %s%s"
                            % (job_id, work_id, name, why, ": " + reason if reason else ""),
                            job_id, work_id, status)
    return failure(error, "")


def _first_failure(outcomes: Optional[bytes]) -> str:
    try:
        failures, _ = read_failures(outcomes) if outcomes else ([], 0)
    except Exception:  # not outcomes we can read: the status alone says it
        return ""
    if not failures:
        return ""
    _, type_name, message, _ = failures[0]
    if type_name.startswith("dccfutures."):  # ours, as the user imports them
        type_name = type_name.rpartition(".")[2]
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return "%s: %s" % (type_name, first_line) if first_line else type_name


def unpack(outcome: Outcome) -> Tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)``; the exception's ``__cause__`` holds the
    remote traceback. Never raises, not even ``SystemExit`` from a hostile ``__reduce__``: a
    value that fails to load becomes the exception."""
    try:
        if outcome[0] == "ok":
            return True, loads(outcome[1])
        _, exc_blob, type_name, message, tb_text = outcome
    except BaseException as error:
        _reraise_ctrl_c(error)
        return False, RemoteError(type(error).__name__, "the result could not be loaded here: "
                                  "unpickling it raised %s" % _raised(error), "")
    exc: Optional[BaseException] = None
    if exc_blob is not None:
        try:
            exc = loads(exc_blob)
        except BaseException as error:  # the type name, message and traceback text still tell
            _reraise_ctrl_c(error)
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(type_name, message, tb_text)
    if tb_text:
        exc.__cause__ = RemoteTraceback(tb_text)
    return False, exc


def _reraise_ctrl_c(error: BaseException) -> None:
    """A Ctrl-C on the main thread (``attach`` loads results there) is the user's, not the
    result's: let it through. Elsewhere only a hostile pickle can raise one."""
    import threading
    if isinstance(error, KeyboardInterrupt) and \
            threading.current_thread() is threading.main_thread():
        raise error


def _qualname(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else "%s.%s" % (module, cls.__qualname__)


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:
        return "<unprintable %s>" % type(error).__name__


def _raised(error: BaseException) -> str:
    """``SystemExit: 3``, ``KeyboardInterrupt``: an exception in a message."""
    text = _safe_str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = "<%s>" % type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _size(n: int) -> str:
    return "%.1f MB" % (n / 1e6) if n >= 1e5 else "%d bytes" % n
