"""Push wake-ups through FIFOs in the farm home.

A waiter (worker, supervisor, client poller) owns a FIFO and sleeps in ``select`` on it; anyone
who changes something it cares about writes one byte. That takes a round trip from tens of
milliseconds of polling to well under one. FIFOs rather than Unix sockets because their paths
have no 108-byte limit, and their permissions are the home's (0700). Polling
``PRAGMA data_version`` stays as the fallback, so a lost wake-up costs latency, never
correctness.
"""
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import threading
from typing import Dict, Iterable


class Waker:
    """The receiving end: a FIFO this process owns."""

    def __init__(self, path: str):
        self.path = path
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.mkfifo(path, 0o600)
        # O_RDWR keeps a writer open on our side, so the FIFO never reads EOF and writers
        # never see ENXIO while we live.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def fileno(self) -> int:
        return self.fd

    def wait(self, timeout: float) -> bool:
        """Sleep until poked or ``timeout``; True when poked. Drains pending pokes."""
        try:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        except (OSError, ValueError):  # closed under us: behave like a timeout
            return False
        if ready:
            self.drain()
        return bool(ready)

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except OSError:  # EAGAIN once empty; EBADF if closed meanwhile
            pass

    def poke_self(self) -> None:
        try:
            os.write(self.fd, b"!")
        except OSError:
            pass

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        try:
            os.close(fd)
        except OSError:
            pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


def poke(path: str) -> bool:
    """Wake whoever owns the FIFO at ``path``; False when nobody listens there any more."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENXIO, errno.ENOENT):
            return False
        raise
    try:
        _write_no_sigpipe(fd)
    except BlockingIOError:
        pass  # the FIFO is full of unread pokes: its owner will wake anyway
    except BrokenPipeError:
        return False
    finally:
        os.close(fd)
    return True


def poke_all(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            poke(path)
        except OSError:
            pass


class Poker:
    """Pokes many FIFOs often (a client submitting thousands of jobs) at the lowest cost.

    Write ends stay open between pokes, and a FIFO that still holds an unread poke is skipped:
    its owner has not drained it yet, so it will wake and then see everything committed before
    now. That is race-free, and it saves most of the context switches a burst of submits would
    otherwise cause on a small machine.
    """

    def __init__(self):
        self._fds: Dict[str, int] = {}
        self._lock = threading.Lock()

    def poke(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                fd = self._fds.get(path)
                if fd is None:
                    try:
                        fd = self._fds[path] = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    except OSError:
                        continue  # nobody listens there (any more)
                try:
                    if not _unread(fd):
                        _write_no_sigpipe(fd)
                except BlockingIOError:
                    pass  # full of pokes: its owner will wake anyway
                except OSError:
                    self._drop(path)  # EPIPE: its owner died

    def forget_missing(self, present: Iterable[str]) -> None:
        """Close write ends of FIFOs whose owners are gone from the run folder, or were
        replaced by a new FIFO of the same name (a restarted supervisor)."""
        keep = set(present)
        with self._lock:
            for path, fd in list(self._fds.items()):
                try:
                    same = path in keep and os.stat(path).st_ino == os.fstat(fd).st_ino
                except OSError:
                    same = False
                if not same:
                    self._drop(path)

    def _drop(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            for path in list(self._fds):
                self._drop(path)


def pending(fd: int) -> bool:
    """Whether a FIFO holds an unread poke (without reading it)."""
    try:
        return _unread(fd) > 0
    except OSError:
        return False


def _unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _write_no_sigpipe(fd: int) -> None:
    """Write one byte; a dead reader raises EPIPE instead of killing a host that does not
    ignore SIGPIPE (Python ignores it, an embedding DCC may not)."""
    if signal.getsignal(signal.SIGPIPE) in (signal.SIG_IGN, None):
        os.write(fd, b"!")
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    try:
        os.write(fd, b"!")
    except BrokenPipeError:
        signal.sigtimedwait([signal.SIGPIPE], 0)  # swallow the pending SIGPIPE
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGPIPE})
