"""Push wake-ups through FIFOs in the farm home.

A waiter (worker, supervisor, client poller) owns a FIFO and sleeps in ``select`` on it; anyone
who changes something it cares about writes one byte. That takes a round trip from tens of
milliseconds of polling to well under one. FIFOs rather than Unix sockets because their paths
have no 108-byte limit, and their permissions are the home's (0700). Polling
``PRAGMA data_version`` stays as the fallback, so a lost wake-up costs latency, never
correctness.
"""
import errno
import os
import select
from typing import Iterable


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
        os.write(fd, b"!")
    except BlockingIOError:
        pass  # the FIFO is full of unread pokes: its owner will wake anyway
    finally:
        os.close(fd)
    return True


def poke_all(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            poke(path)
        except OSError:
            pass
