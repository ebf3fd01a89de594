"""The local farm's home: where its database, logs and wake-up FIFOs live.

The home holds pickles that workers load, so it must be writable by its user alone (0700,
owned by us), and it must be on a local disk, because SQLite's write-ahead log relies on shared
memory that network filesystems do not provide: a farm home on NFS would corrupt jobs silently.
"""
import os
import stat
import struct
import sys
import tempfile
from typing import Dict, Iterable, Optional, Tuple

from ...errors import FarmError

HOME_VAR = "DCCFUTURES_HOME"
NETWORK_FS = frozenset((
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "afs", "9p", "ncpfs", "coda", "gfs", "gfs2", "glusterfs",
    "lustre", "ceph", "beegfs", "gpfs", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.s3fs",
    "davfs", "fuse.rclone",
))


def default_home() -> str:
    """``$DCCFUTURES_HOME``, else the user's data dir (XDG on Linux)."""
    if os.environ.get(HOME_VAR):
        path = os.path.expanduser(os.environ[HOME_VAR])
        if not os.path.isabs(path):
            # Maya's workspace and many tools change the working folder: a relative home would
            # name another farm after each change.
            raise FarmError("%s must be an absolute path, got %r" % (HOME_VAR, path))
        return os.path.normpath(path)
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "dccfutures")


class Home:
    """Paths inside a farm home. Creating one checks ownership, mode and filesystem."""

    def __init__(self, path: Optional[str] = None, create: bool = True):
        self.path = os.path.abspath(path or default_home())
        if create:
            self._create()
        else:
            self.verify()

    def verify(self) -> None:
        """Refuse a home that is not ours alone: workers load the pickles found in it."""
        info = os.lstat(self.path)
        if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 or (
                hasattr(os, "geteuid") and info.st_uid != os.geteuid()):
            raise FarmError("the local farm home %s is not a private folder of this user"
                            % self.path)

    db = property(lambda self: os.path.join(self.path, "farm.db"))
    lock = property(lambda self: os.path.join(self.path, "supervisor.lock"))
    run_dir = property(lambda self: os.path.join(self.path, "run"))
    log_dir = property(lambda self: os.path.join(self.path, "logs"))
    supervisor_log = property(lambda self: os.path.join(self.path, "logs", "supervisor.log"))
    supervisor_fifo = property(lambda self: os.path.join(self.path, "run", "supervisor"))

    def worker_fifo(self, pid: int) -> str:
        return os.path.join(self.run_dir, "w-%d" % pid)

    def worker_item(self, pid: int) -> str:
        """The worker's current-item file: ``row_id attempt log_start`` of the item it runs,
        or zeros. It survives a SIGKILL, which is when it matters: only that item is charged,
        and its output is found from ``log_start`` on."""
        return os.path.join(self.run_dir, "i-%d" % pid)

    def worker_finished(self, pid: int) -> str:
        """The worker's record of items it finished and has not reported yet (see
        :func:`read_finished`): a kill or the worker's death never loses their results. It
        starts afresh once all are reported; until then a record of the item the worker runs
        now is from a run before a retry, and stale."""
        return os.path.join(self.run_dir, "f-%d" % pid)

    def worker_log(self, pid: int) -> str:
        return os.path.join(self.log_dir, "worker-%d.log" % pid)

    def new_start_log(self) -> str:
        """A fresh private file for the output of a process we are about to start, until it
        opens its own log: if it dies before, its error shows that output and no other line.
        Named ``start-<our pid>-…``, so that ``clean`` knows an orphan."""
        fd, path = tempfile.mkstemp(prefix="start-%d-" % os.getpid(), suffix=".log",
                                    dir=self.log_dir)
        os.close(fd)
        return path

    def _create(self) -> None:
        _check_ancestors(os.path.dirname(self.path))
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as error:
            raise FarmError("cannot create the local farm home %s (set %s to a local folder you "
                            "own): %s" % (self.path, HOME_VAR, error)) from None
        self.path = os.path.realpath(self.path)  # resolved once: children get this path
        info = os.stat(self.path)
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise FarmError("the local farm home %s belongs to another user (uid %d); set %s to a "
                            "folder of your own" % (self.path, info.st_uid, HOME_VAR))
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.path, 0o700)  # ours, but too open: others could plant pickles
        fstype = filesystem_type(self.path)
        if fstype in NETWORK_FS:
            raise FarmError(
                "the local farm home %s is on a network filesystem (%s); SQLite's write-ahead log "
                "needs a local disk. Set %s to a local folder, e.g. /var/tmp/$USER/dccfutures"
                % (self.path, fstype, HOME_VAR))
        for sub in (self.run_dir, self.log_dir):
            os.makedirs(sub, mode=0o700, exist_ok=True)


def _check_ancestors(path: str) -> None:
    """Every folder above the home must be safe from other users: owned by us or root, and
    not writable by others unless sticky (like /tmp). Otherwise someone could swap the home
    for their own and have our workers run their pickles."""
    path = os.path.abspath(path)
    while True:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None  # created below, by us
        if info is not None:
            mine = info.st_uid in (0, os.geteuid()) if hasattr(os, "geteuid") else True
            shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and \
                not info.st_mode & stat.S_ISVTX
            if not mine or shared:
                raise FarmError("the local farm home cannot live under %s: it %s, so another "
                                "user could replace the farm home. Set %s to a folder under one "
                                "only you (or root) can write" % (
                                    path, "belongs to another user" if not mine
                                    else "is writable by others", HOME_VAR))
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def take_output(path: str, size: int = 4000) -> Optional[str]:
    """The end of a start log (see :meth:`Home.new_start_log`), which is removed; None when
    it is gone (its process opened its own log)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            text = handle.read().decode("utf-8", "replace")
        os.unlink(path)
    except OSError:
        return None
    return text


def read_current_item(path: str) -> Optional[Tuple[int, int, int]]:
    """``(row_id, attempt, log_start)`` from a worker's current-item file, None if it runs
    nothing."""
    try:
        with open(path, "rb") as handle:
            fields = handle.read(64).split()
        row_id, attempt = int(fields[0]), int(fields[1])
        log_start = int(fields[2]) if len(fields) > 2 else 0
    except (OSError, ValueError, IndexError):
        return None
    return (row_id, attempt, log_start) if row_id else None


# A finished item as the worker records it before reporting it: row id, attempt, log start,
# log end, failed (0 or 1), the length of the encoded outcomes; then the outcomes.
_FINISHED = struct.Struct("<QIQQBI")


def finished_record(row_id: int, attempt: int, status: str, outcomes: bytes, log_start: int,
                    log_end: int) -> bytes:
    """One record for a worker's finished file (written with one ``os.write``)."""
    return _FINISHED.pack(row_id, attempt, log_start, log_end, status != "complete",
                          len(outcomes)) + outcomes


def read_finished(path: str) -> Dict[int, Tuple[int, str, bytes, int, int]]:
    """``{row_id: (attempt, status, outcomes, log_start, log_end)}`` from a worker's finished
    file; a record cut short (the worker died writing it) is not one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    found, at = {}, 0
    while at + _FINISHED.size <= len(data):
        row_id, attempt, log_start, log_end, failed, size = _FINISHED.unpack_from(data, at)
        at += _FINISHED.size
        if at + size > len(data):
            break
        found[row_id] = (attempt, "failed" if failed else "complete", data[at:at + size],
                         log_start, log_end)
        at += size
    return found


def filesystem_type(path: str, mounts: Optional[Iterable[Tuple[str, str]]] = None) -> Optional[str]:
    """The filesystem type of the mount holding ``path`` (Linux; None where unknown)."""
    if mounts is None:
        mounts = _linux_mounts()
    path = os.path.realpath(path)
    best, best_type = "", None
    for mount_point, fstype in mounts:
        prefix = mount_point.rstrip("/") + "/"
        if (path == mount_point or path.startswith(prefix) or mount_point == "/") \
                and len(mount_point) >= len(best):
            best, best_type = mount_point, fstype
    return best_type


def _linux_mounts():
    try:
        with open("/proc/self/mountinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    return [parse_mountinfo_line(line) for line in lines if " - " in line]


def parse_mountinfo_line(line: str) -> Tuple[str, str]:
    """``(mount point, fstype)`` from a /proc/self/mountinfo line (octal escapes decoded)."""
    before, _, after = line.partition(" - ")
    mount_point = before.split()[4]
    mount_point = mount_point.encode().decode("unicode_escape") if "\\" in mount_point else mount_point
    return mount_point, after.split()[0]
