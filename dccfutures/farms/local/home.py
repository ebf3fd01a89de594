"""The local farm's home: where its database, logs and wake-up FIFOs live.

The home holds pickles that workers load, so it must be writable by its user alone (0700,
owned by us), and it must be on a local disk, because SQLite's write-ahead log relies on shared
memory that network filesystems do not provide: a farm home on NFS would corrupt jobs silently.
"""
import os
import re
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
        path = _resolve(self.path)
        _check_ancestors(os.path.dirname(path))
        made = _make_private_folders(path)
        self.path = _resolve(self.path)  # resolved once: children get this path
        _check_ancestors(os.path.dirname(self.path))  # nothing was swapped in meanwhile
        info = os.lstat(self.path)
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise FarmError("the local farm home %s belongs to another user (uid %d); set %s to a "
                            "folder of your own" % (self.path, info.st_uid, HOME_VAR))
        if not stat.S_ISDIR(info.st_mode):
            raise FarmError("the local farm home %s is not a folder; set %s to a folder of your "
                            "own" % (self.path, HOME_VAR))
        if stat.S_IMODE(info.st_mode) & 0o077:
            # Ours, but too open: others could plant pickles. Only a farm home is ours to
            # tighten: any other folder of the user's stays as it is.
            if not made and not _is_farm_home(self.path):
                raise FarmError(
                    "the local farm home %s is open to others (mode %04o) and holds files that "
                    "are not a farm's; make it private (chmod 700 %s) or set %s to a new folder"
                    % (self.path, stat.S_IMODE(info.st_mode), self.path, HOME_VAR))
            os.chmod(self.path, 0o700)
        fstype = filesystem_type(self.path)
        if fstype in NETWORK_FS:
            raise FarmError(
                "the local farm home %s is on a network filesystem (%s); SQLite's write-ahead log "
                "needs a local disk. Set %s to a local folder, e.g. /var/tmp/$USER/dccfutures"
                % (self.path, fstype, HOME_VAR))
        for sub in (self.run_dir, self.log_dir):
            _make_private_folders(sub)


def _make_private_folders(path: str) -> bool:
    """Create ``path`` and its missing parents 0700, whatever the umask (``os.makedirs``
    gives the parents 0777 minus the umask: 0775 under umask 002, and the supervisor would
    refuse the home we just made). True when ``path`` itself was made here."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    made = False
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # someone was quicker: checked like any existing folder
            made = False
            continue
        except OSError as error:
            raise FarmError("cannot create the local farm home %s (set %s to a local folder "
                            "you own): %s" % (missing[0], HOME_VAR, error)) from None
        os.chmod(folder, 0o700)  # just made by us: the umask may have taken our own bits
        made = True
    return made


def check_private_file(path: str, what: str) -> None:
    """Refuse ``path`` (e.g. the farm database, which holds the pickles workers load) unless
    it is ours and closed to others: a copy restored with the wrong mode or owner is caught
    at the next open, not only when the file is made."""
    if not hasattr(os, "geteuid"):
        return
    info = os.stat(path)
    if info.st_uid != os.geteuid():
        raise FarmError("%s %s belongs to another user (uid %d): if it is yours, take it back "
                        "(chown it to uid %d), else set %s to a folder of your own"
                        % (what, path, info.st_uid, os.geteuid(), HOME_VAR))
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise FarmError("%s %s is open to others (mode %04o): others could read or change the "
                        "work in it. Make it private (chmod 600 %s) if you trust its content, "
                        "else move it aside" % (what, path, stat.S_IMODE(info.st_mode), path))


def _is_farm_home(path: str) -> bool:
    """Whether ``path`` is empty or holds a farm: the only folders we tighten, not having
    made them."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return not names or "farm.db" in names


def _resolve(path: str) -> str:
    """``os.path.realpath(path)``, refusing a symlink on the way that another user owns.

    Anyone may plant a symlink in a shared sticky folder such as /tmp (and the kernel follows
    it when ``fs.protected_symlinks`` is 0): following it would make the farm tighten and fill
    a folder of the planter's choosing, one of the user's own. Symlinks of the user's and of
    root (``/var/run``) are followed."""
    if not hasattr(os, "geteuid"):
        return os.path.realpath(path)
    trusted = (0, os.geteuid())
    pending = os.path.abspath(path).split(os.sep)[::-1]  # a stack of names still to walk
    resolved, hops = os.sep, 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            info = os.lstat(candidate)
        except OSError:  # missing (made later, by us) or unreachable (mkdir says why)
            return os.path.normpath(os.path.join(candidate, *reversed(pending)))
        if not stat.S_ISLNK(info.st_mode):
            resolved = candidate
            continue
        if info.st_uid not in trusted:
            raise FarmError(
                "the local farm home %s %s, a symlink owned by another user (uid %d): anyone "
                "can plant one in a shared folder, and the farm would take over the folder it "
                "points to. Set %s to a path without it" % (
                    path, "is" if os.path.abspath(path) == candidate else "passes through "
                    + candidate, info.st_uid, HOME_VAR))
        hops += 1
        if hops > 40:
            raise FarmError("the local farm home %s: too many levels of symlinks" % path)
        target = os.readlink(candidate)
        if os.path.isabs(target):
            resolved = os.sep
        pending.extend(target.split(os.sep)[::-1])
    return resolved


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


def read_end(path: str, size: int = 4000) -> Optional[str]:
    """The last ``size`` bytes of a log, as text; None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def take_output(path: str, size: int = 4000) -> Optional[str]:
    """The end of a start log (see :meth:`Home.new_start_log`), which is removed; None when
    it is gone (its process opened its own log)."""
    text = read_end(path, size)
    if text is not None:
        try:
            os.unlink(path)
        except OSError:
            return None
    return text


def read_current_item(path: str) -> Optional[Tuple[int, int, int, int]]:
    """``(row_id, attempt, log_start, run)`` from a worker's current-item file, None if it
    runs nothing. ``run`` counts the items the worker started: it tells this run of an item
    from an earlier one of the same row and attempt (a retry starts attempts afresh)."""
    try:
        with open(path, "rb") as handle:
            fields = handle.read(96).split()
        row_id, attempt = int(fields[0]), int(fields[1])
        log_start = int(fields[2]) if len(fields) > 2 else 0
        run = int(fields[3]) if len(fields) > 3 else 0
    except (OSError, ValueError, IndexError):
        return None
    return (row_id, attempt, log_start, run) if row_id else None


# A finished item as the worker records it before reporting it: row id, attempt, log start,
# log end, failed (0 or 1), the length of the encoded outcomes, the worker's run number (see
# read_current_item); then the outcomes.
_FINISHED = struct.Struct("<QIQQBIQ")


def finished_record(row_id: int, attempt: int, status: str, outcomes: bytes, log_start: int,
                    log_end: int, run: int = 0) -> bytes:
    """One record for a worker's finished file (written with one ``os.write``)."""
    return _FINISHED.pack(row_id, attempt, log_start, log_end, status != "complete",
                          len(outcomes), run) + outcomes


def finished_now(current: Optional[Tuple[int, ...]], row_id: int, attempt: int,
                 entry: Optional[Tuple]) -> bool:
    """Whether the finished record ``entry`` says that this run of the item (``row_id``,
    ``attempt``) ended. The worker writes the record before it clears its current item, so a
    record of the item it still names as current counts when it is of the same run; one of an
    earlier run of the same row (retried since) does not."""
    if entry is None or entry[0] != attempt:
        return False
    if current is None or tuple(current[:2]) != (row_id, attempt):
        return True
    return len(current) > 3 and len(entry) > 5 and current[3] != 0 and entry[5] == current[3]


def read_finished(path: str) -> Dict[int, Tuple[int, str, bytes, int, int, int]]:
    """``{row_id: (attempt, status, outcomes, log_start, log_end, run)}`` from a worker's
    finished file; a record cut short (the worker died writing it) is not one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return {}
    found, at = {}, 0
    while at + _FINISHED.size <= len(data):
        row_id, attempt, log_start, log_end, failed, size, run = _FINISHED.unpack_from(data, at)
        at += _FINISHED.size
        if at + size > len(data):
            break
        found[row_id] = (attempt, "failed" if failed else "complete", data[at:at + size],
                         log_start, log_end, run)
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
        with open("/proc/self/mountinfo", "rb") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    return [parse_mountinfo_line(os.fsdecode(line)) for line in lines if b" - " in line]


_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")


def parse_mountinfo_line(line: str) -> Tuple[str, str]:
    """``(mount point, fstype)`` from a /proc/self/mountinfo line (as ``os.fsdecode`` reads
    it). The kernel writes a mount point's bytes as they are, except a space, tab, newline or
    backslash (``\\040``, ``\\011``, ``\\012``, ``\\134``): decoded as bytes, so that a
    non-ASCII mount point reads as the path ``os.path.realpath`` gives."""
    before, _, after = line.partition(" - ")
    raw = os.fsencode(before.split()[4])
    mount_point = os.fsdecode(_OCTAL_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), raw))
    return mount_point, after.split()[0]
