"""Encoding of calls and outcomes, without a farm."""
import pickle
import sys
import threading

import pytest

from dccfutures import payload
from dccfutures.errors import RemoteError, RemoteTraceback


def test_roundtrip_of_lambda_and_outcomes():
    blob = payload.encode_calls([(lambda x: x + 1, (1,), {})], 10 ** 6)
    (func, args, kwargs), = payload.decode_calls(blob)
    assert func(*args, **kwargs) == 2
    ok, value = payload.unpack(payload.ok({"a": 1}))
    assert ok and value == {"a": 1}


def test_failure_keeps_type_and_traceback():
    try:
        raise KeyError("missing")
    except KeyError as error:
        outcome = payload.failure(error)
    ok, exc = payload.unpack(outcome)
    assert not ok and isinstance(exc, KeyError)
    assert isinstance(exc.__cause__, RemoteTraceback) and "raise KeyError" in exc.__cause__.tb


def test_outcome_that_does_not_load_becomes_remote_error():
    broken = ("ok", b"DF" + bytes(sys.version_info[:2]) + b"not a pickle")
    ok, exc = payload.unpack(broken)
    assert not ok and isinstance(exc, RemoteError)


def test_python_version_mismatch_is_explained():
    blob = payload.dumps(lambda: 1)
    other = b"DF" + bytes((3, sys.version_info[1] - 1)) + b"\x80\x04garbage"
    with pytest.raises(RuntimeError, match=r"pickled by Python 3\.\d+ and is being loaded by "
                                           r"Python 3\.\d+.*same Python minor version"):
        payload.loads(other)
    assert payload.loads(blob)() == 1


def test_resolve_references():
    assert payload.resolve("os.path:join") is __import__("os").path.join
    assert payload.resolve("collections:OrderedDict.fromkeys")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        payload.resolve("os:nope")
    with pytest.raises(ImportError):
        payload.resolve("no_such_module_xyz:f")


def test_a_reference_that_does_not_import_names_itself():
    with pytest.raises(ModuleNotFoundError) as caught:
        payload.resolve("nope.mod:fn")
    assert str(caught.value).startswith("'nope.mod:fn': No module named 'nope'")
    assert caught.value.name == "nope"


def test_unpicklable_arguments_are_numbered_from_one():
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"cannot send argument 1 of len to the farm: .*lock"):
        payload.encode_calls([(len, (lock,), {})], 10 ** 6)
    with pytest.raises(TypeError, match=r"cannot send argument 3 of max to the farm: .*lock"):
        payload.encode_calls([(max, (1, 2, lock), {})], 10 ** 6)


def test_describe_names_things_readably():
    def inner():
        pass
    assert payload.describe(inner).endswith("inner")
    assert payload.describe("pkg.mod:f") == "pkg.mod:f"
    assert payload.describe(len) == "len"
    assert payload.describe(pickle.dumps) == "_pickle.dumps"
