"""Which processes are the farm's, and signals that prove their target first.

A pid names a process only while it runs: once it ended and was reaped, the kernel gives the
number to a later process (``pid_max`` is often 32768), maybe a root shell's. So the farm
never signals a pid it has not just verified:

* A worker is known by its pid *and its start time* (``/proc/PID/stat`` field 22, in clock
  ticks since boot), recorded when it registers; a process that got its pid later started
  later. Where the kernel has pidfds (Linux 5.3), the pidfd is opened before the check and the
  signal goes through it, so the process checked is the process signalled.
* Every process an item starts carries its worker's token in its environment
  (:data:`WORKER_VAR`, random for each worker, set by the supervisor when it starts one), so
  the processes of a worker that is gone are found wherever they went (a session of their
  own, adopted by init after the supervisor died), and nothing else is.

The supervisor is a child subreaper (Linux): what an item started and left without a parent
becomes the supervisor's child, not init's, for as long as the supervisor runs.
"""
import os
import signal
import sys
import time
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

WORKER_VAR = "DCCFUTURES_WORKER"
SWEEPS = 5  # rounds of looking for marked processes: a process may fork while we look


class Stat(NamedTuple):
    state: str
    ppid: int
    pgrp: int
    ticks: int

# The exit code of a worker whose bootstrap raised (the scene did not open, no licence): the
# supervisor fails its pool's work with the traceback after a few of these in a row, instead
# of starting workers that end the same way forever.
SETUP_FAILED = 3


def stat(pid: int) -> Optional[Stat]:
    """What ``/proc/PID/stat`` says of a process (None when there is no such process)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        return Stat(fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def start_time(pid: int) -> Optional[int]:
    """When process ``pid`` started, in a unit that tells it from any later process with the
    same pid: clock ticks since boot on Linux, else seconds since the epoch (``ps``)."""
    if sys.platform.startswith("linux"):
        info = stat(pid)
        return info.ticks if info else None
    import subprocess  # not at import: workers import this module, and start faster
    try:
        text = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True,
                              text=True, env=dict(os.environ, LC_ALL="C"), timeout=10).stdout
        return int(time.mktime(time.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")))
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def alive(pid: int, started: Optional[int]) -> bool:
    """Whether ``pid`` is still the process that started at ``started``."""
    return bool(started) and start_time(pid) == started


def signal_process(pid: int, started: Optional[int], signum: int, group: bool = False) -> bool:
    """Send ``signum`` to ``pid`` (``group``: to the process group it leads) only if it is still
    the process that started at ``started``; True when sent. A pid with no recorded start
    time is never signalled."""
    if not started or pid <= 1:
        return False
    handle = _pidfd(pid)
    if handle == -1:
        return False  # no such process
    try:
        if start_time(pid) != started:
            return False  # gone, and the pid went to another process
        if group:
            # It leads the group and lives (or waits to be reaped): no other group can
            # have this id now.
            os.killpg(pid, signum)
        elif handle is not None:
            signal.pidfd_send_signal(handle, signum)
        else:
            os.kill(pid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        if handle is not None and handle >= 0:
            os.close(handle)


def end_workers(workers: Iterable[Tuple[int, Optional[int], Optional[str]]],
                groups: Iterable[int] = ()) -> int:
    """SIGKILL workers, ``(pid, start time, token)``, with their process groups, and every
    process their items started that is still about: those carrying a worker's token in
    their environment, with their process groups (a process pins its group's id while it
    lives, so that group is ours). ``groups``: process groups of workers that are gone, ended
    too when a child of ours (adopted, so it cannot be reaped behind our back) is in one.
    Returns how many processes or groups were signalled."""
    workers = list(workers)
    sent = sum(signal_process(pid, started, signal.SIGKILL, group=True)
               for pid, started, _ in workers)
    tokens = {token: started for _, started, token in workers if token and started}
    if (tokens or groups) and sys.platform.startswith("linux"):
        seen: set = set()
        for _ in range(SWEEPS):
            found = _sweep(tokens, set(groups), seen)
            if not found:
                break
            sent += found
    return sent


def _sweep(tokens: Dict[str, int], groups: set, seen: set) -> int:
    """One look through /proc; SIGKILL what :func:`end_workers` ends and was not signalled
    in an earlier look."""
    needles = [b"\0%s=%s\0" % (WORKER_VAR.encode(), token.encode()) for token in tokens]
    since = min(tokens.values()) if tokens else 0
    me, own_group = os.getpid(), os.getpgrp()
    sent = 0
    for name in _listdir("/proc"):
        if not name.isdigit() or int(name) in (me, 1):
            continue
        pid = int(name)
        info = stat(pid)
        if info is None or info.state in ("Z", "X") or info.pgrp in (0, 1, own_group) or \
                (pid, info.ticks) in seen:
            continue
        adopted = info.ppid == me and info.pgrp in groups
        if not adopted and not (needles and info.ticks >= since):
            continue
        handle = _pidfd(pid)
        if handle == -1:
            continue
        try:
            # Looked at again once the pidfd is held: the same start time means the pidfd,
            # the environment read next and the look before all name one process.
            again = stat(pid)
            if again is None or again.ticks != info.ticks:
                continue
            if not adopted:
                environ = b"\0" + _read("/proc/%d/environ" % pid)
                if not any(needle in environ for needle in needles):
                    continue
            seen.add((pid, info.ticks))
            if handle is not None and not _running(handle):
                continue  # it ended while we looked: its group's id may be another's now
            try:
                os.killpg(again.pgrp, signal.SIGKILL)  # this live process pins its group's id
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        finally:
            if handle is not None and handle >= 0:
                os.close(handle)
    return sent


def become_subreaper() -> bool:
    """Make the calling process adopt its orphaned descendants (Linux 3.4+)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def oom_kills() -> Optional[int]:
    """How many processes the kernel's out-of-memory killer has ended since boot
    (``oom_kill`` in /proc/vmstat, Linux 4.13+), or None where unknown."""
    for line in _read("/proc/vmstat").splitlines():
        if line.startswith(b"oom_kill "):
            return int(line.split()[1])
    return None


def _pidfd(pid: int) -> Optional[int]:
    """A pidfd for ``pid``; None where pidfds are not available, -1 when no such process."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return opener(pid)
    except ProcessLookupError:
        return -1
    except OSError:
        return None  # an older kernel (ENOSYS), or out of descriptors: check without


def _running(pidfd: int) -> bool:
    """Whether the process behind a pidfd has not ended (a pidfd reads ready once it has)."""
    import select
    return not select.select([pidfd], [], [], 0)[0]


def _listdir(path: str) -> List[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""
