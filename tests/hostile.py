"""Hostile and odd functions the tests run on the farm (see test_hostile.py): results and
exceptions whose pickling or unpickling raises a BaseException, items that replace sys.stdout
or change process state. Importable by workers: they see the test's sys.path."""
import builtins
import io
import os
import signal
import sys


def raise_base(kind):
    """Raise the builtin BaseException named ``kind`` (SystemExit with code 3)."""
    error = getattr(builtins, kind)
    raise error(3) if error is SystemExit else error()


class RaisesOnLoad:
    """Pickles fine; unpickling it raises ``kind`` (as ``(sys.exit, (3,))`` would)."""

    def __init__(self, kind):
        self.kind = kind

    def __reduce__(self):
        return (raise_base, (self.kind,))


class RaisesOnPickle:
    """Pickling it raises ``kind``."""

    def __init__(self, kind):
        self.kind = kind

    def __reduce__(self):
        raise_base(self.kind)


def count_run(path):
    with open(path, "a") as handle:
        handle.write("ran\n")


def return_raising_on_load(kind):
    return RaisesOnLoad(kind)


def return_raising_on_pickle(kind, runs):
    count_run(runs)
    return RaisesOnPickle(kind)


def identity(value):
    return value


class ErrorExitingOutsideTheFarm(Exception):
    """Loads on the farm (where the worker checks that it does), raises SystemExit anywhere
    else: in the client that unpickles it."""

    def __reduce__(self):
        return (load_error_on_farm_only, (str(self),))


def load_error_on_farm_only(message):
    if "DCCFUTURES_JOB_ID" not in os.environ:
        sys.exit(3)
    return ErrorExitingOutsideTheFarm(message)


def raise_error_exiting_outside_the_farm(message):
    raise ErrorExitingOutsideTheFarm(message)


class ErrorRaisingOnPickle(Exception):
    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):
        raise_base(self.kind)


def raise_error_raising_on_pickle(message, kind, runs):
    count_run(runs)
    raise ErrorRaisingOnPickle(message, kind)


def swap_stdio(how):
    """Take our capture away: replace sys.stdout/err with buffers, or close them."""
    if how == "replace":
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    else:
        sys.stdout.close()
        sys.stderr.close()
    return how


def _handler(signum, frame):
    pass


def change_process_state(folder):
    """What an item or an initializer may change in its worker process."""
    os.umask(0o077)
    signal.signal(signal.SIGUSR1, _handler)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, _handler)
    os.environ["DCCF_HOSTILE"] = "leaked"
    os.chdir(folder)
    return read_process_state()


def read_process_state():
    umask = os.umask(0o022)
    os.umask(umask)

    def name(handler):
        return getattr(handler, "__name__", str(handler))
    return {"umask": oct(umask), "env": os.environ.get("DCCF_HOSTILE"),
            "cwd": os.getcwd(),
            "signals": {sig.name: name(signal.getsignal(sig))
                        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)}}


def state_after(folder):
    """Change the state in the first item of a map (``folder``), read it in the second."""
    return change_process_state(folder) if folder else read_process_state()
