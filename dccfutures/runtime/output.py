"""An item's output past its cap: the head and the tail are kept, the middle is dropped.

Workers write output to log files through file descriptors (the item's prints, its C
libraries, the programs it starts all share them), so it cannot be filtered on its way. While
an item runs, a worker thread looks every fraction of a second at how much it wrote, and past
the cap punches the middle out of the file (Linux ``fallocate(PUNCH_HOLE)``): offsets stay
valid, the disk holds the head and the tail plus what was written since the last look, and a
reader sees the hole as zeros, which :func:`read_capped` and :func:`cap_text` turn into a
marker saying how much was dropped. Where holes cannot be punched (another OS, a filesystem
without them), only readers cap: ``Future.log()`` stays small, the file does not.
"""
import os
import re
import stat
import sys
import threading
import time
from typing import Any, Optional, Tuple

from .loop import flush_stdio

BLOCK = 4096
CAP_EVERY = 0.2  # seconds between looks at a running item's output (see OutputCap)
MARK = "--- dccfutures work %s:%s %s ---"
_ZEROS = re.compile("\0{64,}")  # a hole punched by us; real output has no such runs
_unsupported = []


def cap_bytes(max_log_mb: Optional[float]) -> Optional[int]:
    """The cap in bytes for a ``max_log_mb`` setting (0 or None: no cap)."""
    return int(max_log_mb * 2 ** 20) if max_log_mb else None


def punch_middle(fd: int, start: int, cap: Optional[int]) -> None:
    """Drop from the file behind ``fd`` what an item wrote since ``start`` past the first
    ``cap // 2`` bytes and before the last ``cap - cap // 2``."""
    if not cap or _unsupported:
        return
    try:
        end = os.fstat(fd).st_size
    except OSError:
        return
    low = -(-(start + cap // 2) // BLOCK) * BLOCK
    high = (end - (cap - cap // 2)) // BLOCK * BLOCK
    if high > low:
        _punch(fd, low, high - low)


def _punch(fd: int, offset: int, length: int) -> None:
    if not sys.platform.startswith("linux"):
        _unsupported.append(sys.platform)
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    if libc.fallocate(fd, 0x01 | 0x02, offset, length) != 0:  # KEEP_SIZE | PUNCH_HOLE
        _unsupported.append(ctypes.get_errno())


def marker(dropped: int, cap: int, setting: str) -> str:
    return ("\n[dccfutures: %s bytes of output dropped here; an item's log keeps its first and "
            "last %s MB (%s)]\n" % ("{:,}".format(dropped), _mb(cap / 2), setting))


def read_capped(path: str, start: int, end: Optional[int], cap: Optional[int],
                setting: str) -> str:
    """An item's output, bytes ``start`` to ``end`` (None: the end of the file) of a log
    file, its middle replaced by a marker past ``cap`` bytes."""
    try:
        with open(path, "rb") as handle:
            if end is None:
                end = handle.seek(0, os.SEEK_END)
            size = max(0, end - start)
            handle.seek(start)
            if not cap or size <= cap:
                return _text(handle.read(size), cap, setting)
            head = handle.read(cap // 2).rstrip(b"\0")
            handle.seek(end - (cap - cap // 2))
            tail = handle.read(cap - cap // 2).lstrip(b"\0")
    except OSError:
        return ""
    return (_text(head, cap, setting) + marker(size - len(head) - len(tail), cap, setting)
            + _text(tail, cap, setting))


def cap_text(text: str, cap: Optional[int], setting: str) -> str:
    """``text`` (an item's output as a farm returned it) with holes and the middle past
    ``cap`` characters replaced by markers."""
    text = _text(text, cap, setting)
    if not cap or len(text) <= cap:
        return text
    head, tail = text[:cap // 2], text[len(text) - (cap - cap // 2):]
    return head + marker(len(text) - len(head) - len(tail), cap, setting) + tail


def _text(data, cap: Optional[int], setting: str) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return _ZEROS.sub(lambda m: marker(len(m.group()), cap or 0, setting), data)


def _mb(value: float) -> str:
    return ("%.1f" % (value / 2 ** 20)).rstrip("0").rstrip(".")


# -- output of many items in one process's logs -------------------------------------------

class OutputCap:
    """Keep a runaway item's output in the process's logs to its head and tail, where they
    are files (see :func:`punch_middle`): a thread looks every ``CAP_EVERY``."""

    def __init__(self, cap: Optional[int]):
        self.cap = cap
        self.starts: Optional[Tuple[Tuple[int, int], ...]] = None
        self._thread: Optional[threading.Thread] = None

    def started(self) -> None:
        if not self.cap:
            return
        flush_stdio()
        self.starts = tuple((fd, _file_size(fd)) for fd in _log_files())
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="dccfutures-output",
                                            daemon=True)
            self._thread.start()

    def ended(self) -> None:
        """The item is over: what it wrote since the last look is capped now (a busy
        machine may have starved the watching thread), then nothing more is watched."""
        starts, self.starts = self.starts, None
        flush_stdio()
        for fd, start in starts or ():
            punch_middle(fd, start, self.cap)

    def _watch(self) -> None:
        while True:
            time.sleep(CAP_EVERY)
            for fd, start in self.starts or ():
                punch_middle(fd, start, self.cap)


def _log_files() -> list:
    """Our stdout and stderr where they are regular files (once each)."""
    found, seen = [], set()
    for fd in (1, 2):
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            found.append(fd)
    return found


def _file_size(fd: int) -> int:
    return os.fstat(fd).st_size


def mark_item(item: Any, what: str) -> None:
    """Markers around an item's output in a log many items share (a Qube subjob's, an
    OpenCue frame's), so ``Future.log()`` can cut out the item's own (:func:`cut_log`)."""
    flush_stdio()
    line = MARK % (item.job_id, item.work_id, what)
    print(line, flush=True)
    print(line, file=sys.stderr, flush=True)


def cut_log(text: str, job_id: Any, work_id: int) -> str:
    """The part of a shared log between an item's markers (its last attempt).
    An item killed or crashed has no end marker: its output ends where the next item's
    begins (its subjob restarted for the rest of the agenda), or with the log."""
    begin = MARK % (job_id, work_id, "begin")
    start = text.rfind(begin)
    if start < 0:
        return ""
    start += len(begin) + 1
    stop = _NEXT_MARK.search(text, start)
    return text[start:] if stop is None else text[start:stop.start()]


_NEXT_MARK = re.compile(re.escape(MARK).replace(r"%s", r"\S+"))


class ItemsInOneLog:
    """What a work source whose items share the process's stdout and stderr (a Qube subjob,
    an OpenCue frame) does around each item: markers for :func:`cut_log`, the output cap,
    and progress passed on at most every ``PROGRESS_EVERY`` seconds (each is a call to the
    farm or a file written)."""

    PROGRESS_EVERY = 0.5

    def __init__(self, max_log_mb: Optional[float]):
        self._output = OutputCap(cap_bytes(max_log_mb))
        self._last_progress = 0.0

    def started(self, item: Any) -> None:
        mark_item(item, "begin")
        self._output.started()

    def ended(self, item: Any) -> None:
        self._output.ended()
        mark_item(item, "end")

    def progress_due(self, fraction: float) -> bool:
        """Whether to pass this progress on (the last, 1.0, always is)."""
        now = time.monotonic()
        if now - self._last_progress < self.PROGRESS_EVERY and fraction < 1.0:
            return False
        self._last_progress = now
        return True
