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
import sys
from typing import Optional

BLOCK = 4096
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
