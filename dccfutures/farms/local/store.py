"""The local farm's SQLite store: jobs, work items, workers.

Every process of the farm (clients, supervisor, workers) opens the same database in WAL mode.
Claims run in ``BEGIN IMMEDIATE`` transactions, so two workers never take the same item, and a
finish only lands while the worker still owns the item (same worker, same attempt): an item that
was killed or handed to another worker in the meantime keeps its new state.

Each job keeps Qube-style tallies of its items per status, so a job's status never needs a scan
of its agenda. Every index costs a WAL page on each state change, so there are only the ones
the hot paths need (claims, polls); rare paths (a dying worker, a kill) may scan. Each write bumps a global revision counter and stamps the rows it touched, so a
client polls only what changed since its last look (``rev > cursor``), in one query.
"""
import errno
import functools
import json
import os
import sqlite3
import stat
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ...errors import FarmError
from .home import check_private_file, finished_now
from ..base import (BLOCKED, COMPLETE, FAILED, KILLED, PENDING, RUNNING, JobInfo, JobSpec,
                    WorkInfo, work_error)

SCHEMA_VERSION = 4
_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)  # older in some DCC Pythons
TALLY = {PENDING: "t_pending", BLOCKED: "t_blocked", RUNNING: "t_running",
         COMPLETE: "t_complete", FAILED: "t_failed", KILLED: "t_killed"}
_TALLY_COLUMNS = ", ".join(TALLY.values())
# What a worker's files say: its current item (row id, attempt, log start, run) or None, and
# the items it finished but has not reported, {row id: (attempt, status, outcomes, log start,
# log end, run)} (see home.py).
WorkerFiles = Tuple[Optional[Tuple[int, ...]], Dict[int, Tuple[int, str, bytes, int, int, int]]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('rev', 0), ('schema', %d);
CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    prototype TEXT NOT NULL,
    pool TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    cpus INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    fields TEXT NOT NULL,
    env TEXT NOT NULL,
    package TEXT NOT NULL,
    function BLOB,
    notify TEXT,
    parent TEXT,
    user TEXT,
    submitted REAL NOT NULL,
    started REAL,
    finished REAL,
    blocked INTEGER NOT NULL DEFAULT 0,
    t_pending INTEGER NOT NULL DEFAULT 0,
    t_blocked INTEGER NOT NULL DEFAULT 0,
    t_running INTEGER NOT NULL DEFAULT 0,
    t_complete INTEGER NOT NULL DEFAULT 0,
    t_failed INTEGER NOT NULL DEFAULT 0,
    t_killed INTEGER NOT NULL DEFAULT 0,
    rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(pool, priority, id) WHERE t_pending > 0
    AND blocked = 0;
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(parent) WHERE parent IS NOT NULL
    AND status IN ('pending', 'running', 'blocked');
CREATE TABLE IF NOT EXISTS work(
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    fields TEXT,
    package BLOB NOT NULL,
    ncalls INTEGER NOT NULL,
    result BLOB,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    log_path TEXT,
    log_start INTEGER,
    log_end INTEGER,
    waiting INTEGER NOT NULL DEFAULT 0,  -- dependencies not complete yet
    held INTEGER NOT NULL DEFAULT 0,     -- blocked by hand: stays blocked when they complete
    started REAL,
    finished REAL,
    rev INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS work_item ON work(job_id, idx);
CREATE INDEX IF NOT EXISTS work_pending ON work(job_id, idx) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS work_rev ON work(rev);
CREATE TABLE IF NOT EXISTS workers(
    pid INTEGER PRIMARY KEY,
    pool TEXT NOT NULL,
    supervisor INTEGER NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    log_path TEXT NOT NULL,
    job_id INTEGER,
    idx INTEGER,
    log_start INTEGER,
    killed INTEGER NOT NULL DEFAULT 0,
    ticks INTEGER,  -- when it started (processes.start_time): its pid alone may be another's
    token TEXT      -- in the environment of every process it starts (processes.WORKER_VAR)
);
CREATE TABLE IF NOT EXISTS deps(job_id INTEGER NOT NULL, idx INTEGER NOT NULL,
    dep_job INTEGER NOT NULL, dep_idx INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deps_on ON deps(dep_job, dep_idx);
CREATE TABLE IF NOT EXISTS removed(job_id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, at REAL NOT NULL);
""" % SCHEMA_VERSION


def job_status(blocked: int, t_pending: int, t_blocked: int, t_running: int, t_complete: int,
               t_failed: int, t_killed: int) -> str:
    """A job's status from its tallies, as Qube reports it."""
    if t_running:
        return RUNNING
    if t_pending:
        return BLOCKED if blocked else PENDING
    if t_blocked:
        return BLOCKED
    if t_failed:
        return FAILED
    if t_killed:
        return KILLED
    return COMPLETE


def _busy(error: Exception) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


class StorageError(FarmError):
    """The farm database cannot be used: its disk is full, it is read-only, damaged, empty
    next to the remains of earlier work, or stays locked. The message names the file and what
    to do; ``kind`` says which ('full', 'read-only', 'damaged', 'empty', 'locked', 'io',
    'unusable'), ``path`` names the file."""

    def __init__(self, message: str, kind: str, path: str):
        super().__init__(message)
        self.kind, self.path = kind, path

    def __reduce__(self):
        return (StorageError, (self.args[0], self.kind, self.path))


# SQLite checkpoints the WAL itself once it holds this many pages (40 MB): only when no
# supervisor does (see Store.checkpoint); its default, 1,000, cost two fsyncs every ~15 submits.
AUTOCHECKPOINT_PAGES = 10000
CHECKPOINT_WAIT_MS = 20
PROMPT_SPIN = 0.0002  # seconds a client retries the write lock at once (Store._begin_immediate)

LOW_SPACE = 1 << 20  # less free space than this on the home's disk: writes are failing there


def storage_error(error: BaseException, path: str) -> StorageError:
    """What a sqlite3 or OS error on ``path`` (the database, or a file next to it) means to
    the user, and what to do about it."""
    text = str(error)
    code = getattr(error, "errno", None)
    if "disk is full" in text or code in (errno.ENOSPC, errno.EDQUOT):
        folder = os.path.dirname(path)
        free = free_bytes(folder)
        return StorageError(
            "cannot write %s: its disk (the filesystem mounted at %s) is full, %s free. Free "
            "some space there: the farm carries on by itself once there is room, and nothing "
            "it stored before is lost" % (path, _mount_point(folder),
                                          "?" if free is None else _size_text(free)),
            "full", path)
    if "readonly" in text or code in (errno.EROFS, errno.EACCES, errno.EPERM) or (
            "unable to open" in text and not _writable(path)):
        return _read_only(path)
    if "not a database" in text or "malformed" in text:
        return StorageError(
            "the local farm database %s is damaged (%s). Run `dccfutures farm repair`: it "
            "stops the farm, moves the file aside (kept, for sqlite3's .recover) and starts a "
            "new database whose job ids carry on after the old ones" % (path, text),
            "damaged", path)
    if _busy(error):
        return StorageError("the local farm database %s stayed locked by another process "
                            "(%s); try again, or stop the farm (`dccfutures farm stop`) if it "
                            "persists" % (path, text), "locked", path)
    if "I/O error" in text or code == errno.EIO:
        return StorageError("reading or writing the local farm database %s failed (%s): the "
                            "disk may be failing; if the error persists once it is sound, run "
                            "`dccfutures farm repair`" % (path, text), "io", path)
    return StorageError("the local farm database %s cannot be used: %s" % (path, text),
                        "unusable", path)


def _read_only(path: str) -> StorageError:
    folder = os.path.dirname(path)
    try:
        mounted_read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        mounted_read_only = False
    if mounted_read_only:
        why = "it is on a read-only mount (%s)" % _mount_point(folder)
        fix = "mount it read-write, or set DCCFUTURES_HOME to a writable local folder"
    else:
        try:
            mode = "mode %04o" % stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = "missing"
        why = "this user cannot write it or its folder (%s; an immutable file shows an 'i' in " \
              "lsattr)" % mode
        fix = "make them writable again (chmod 600 %s; chattr -i %s)" % (path, path)
    what = "the local farm database " if os.path.basename(path) == "farm.db" else ""
    return StorageError("%s%s is read-only: %s. The farm cannot run without writing it: %s, "
                        "then try again" % (what, path, why, fix), "read-only", path)


def _writable(path: str) -> bool:
    return os.access(path, os.W_OK) and os.access(os.path.dirname(path) or ".", os.W_OK)


def free_bytes(path: str) -> Optional[int]:
    """Free space for this user on the filesystem holding ``path`` (None where unknown)."""
    try:
        info = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return info.f_bavail * info.f_frsize


def _mount_point(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return "%.1f %s" % (size / scale, unit)
    return "%d bytes" % size


class TroubleLog:
    """Says each kind of storage trouble once, and once more when it is over: a full disk or
    a locked database must not fill a log (which may not even be writable meanwhile)."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.open: Dict[str, List[Any]] = {}  # kind -> [first failure, last failure, text]

    def failed(self, error: BaseException) -> None:
        kind = getattr(error, "kind", None) or errno.errorcode.get(
            getattr(error, "errno", None) or 0) or type(error).__name__
        now = time.monotonic()
        if kind in self.open:
            self.open[kind][1] = now
            return
        self.open[kind] = [now, now, str(error)]
        self.say("%s (said once; trying again until it works)" % error)

    def worked(self, quiet: float = 0.0) -> None:
        """Storage works again: for each trouble not seen for ``quiet`` seconds (what fails
        may be tried only now and then), say so, and how long it lasted."""
        if not self.open:
            return
        now = time.monotonic()
        for kind, (since, last, text) in sorted(self.open.items()):
            if now - last >= quiet:
                del self.open[kind]
                self.say("works again (it failed for %.0f s): %s" % (last - since, text))


def _retrying(method):
    """Retry a read (or the schema set-up) while another process holds a lock; any other
    sqlite3 error, or a lock held past the timeout, is a :class:`StorageError`.

    Connections run with SQLite's busy timeout at 0, because its handler sleeps in steps of
    1 ms and more; in WAL mode readers are rarely refused at all (recovery after a crash), and
    writers wait in :meth:`Store._begin_immediate` in steps of 0.1 ms.
    """
    @functools.wraps(method)
    def retry(self, *args, **kwargs):
        delay, deadline = 0.0001, time.monotonic() + self.timeout
        while True:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.OperationalError as error:
                if not _busy(error) or time.monotonic() > deadline:
                    raise storage_error(error, self.path) from error
            except sqlite3.Error as error:  # DatabaseError: "file is not a database"
                raise storage_error(error, self.path) from error
            time.sleep(delay)
            delay = min(delay * 2, 0.005)
    return retry


def _create(path: str) -> None:
    """Make a new farm database at ``path``, whole or not at all: it is built aside and linked
    into place, so an empty ``farm.db`` is never one of ours half made (see :func:`_connect`).
    Next to the remains of an earlier farm (its logs, a database moved aside) its job ids carry
    on after theirs: a job id never names two jobs."""
    from .repair import first_job_id
    folder = os.path.dirname(path) or "."
    temp = None
    try:
        first = first_job_id(folder)
        fd, temp = tempfile.mkstemp(prefix=".farm.db.new-", dir=folder)  # 0600
        os.close(fd)
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            if first > 1:
                db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('jobs', ?)",
                           (first - 1,))
        finally:
            db.close()
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made it meanwhile: theirs is the farm's
        except OSError:  # a filesystem without hard links
            if not os.path.exists(path):
                os.rename(temp, path)
    except (sqlite3.Error, OSError) as error:
        raise storage_error(error, path) from error
    finally:
        for leftover in ([temp, temp + "-wal", temp + "-shm"] if temp else []):
            try:
                os.unlink(leftover)
            except OSError:
                pass


def _connect(path: str) -> sqlite3.Connection:
    """Open the farm database, refusing first what SQLite would take wrongly: an empty file
    next to the logs of earlier work is a farm that lost its database, not a new farm (its
    job ids would name old jobs again), and a database we cannot write would fail at the
    first submit, after SQLite made its -wal and -shm files read-only too."""
    folder = os.path.dirname(path) or "."
    try:
        empty = os.path.getsize(path) == 0
    except OSError as error:
        raise storage_error(error, path) from error
    if empty:
        from .repair import has_history
        if has_history(folder):
            raise StorageError(
                "the local farm database %s is empty, but this farm home holds the logs of "
                "earlier work: the database was lost or cut short, and a new one in its place "
                "would give new jobs the ids of old ones. Run `dccfutures farm repair`: it "
                "moves the empty file aside and starts a new database whose job ids carry on "
                "after the old ones" % path, "empty", path)
    if not _writable(path):
        raise _read_only(path)
    for sidecar in (path + "-wal", path + "-shm"):
        _make_private(sidecar)
    try:
        return sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise storage_error(error, path) from error


def _make_private(path: str) -> None:
    """Give a -wal or -shm file of ours mode 0600: SQLite makes them with the database's
    mode, so one made while the database was read-only would keep the farm read-only after
    the database is writable again."""
    try:
        info = os.stat(path)
        if stat.S_IMODE(info.st_mode) != 0o600 and (
                not hasattr(os, "geteuid") or info.st_uid == os.geteuid()):
            os.chmod(path, 0o600)
    except OSError:
        pass


class Claimed:
    """A work item handed to a worker, with what it needs of its job."""
    __slots__ = ("row_id", "job_id", "idx", "attempt", "package", "ncalls", "job")

    def __init__(self, row_id, job_id, idx, attempt, package, ncalls, job):
        self.row_id, self.job_id, self.idx, self.attempt = row_id, job_id, idx, attempt
        self.package, self.ncalls, self.job = package, ncalls, job


class Store:
    """One connection to the farm database. Thread-safe through a lock."""

    def __init__(self, path: str, timeout: float = 30.0, prompt: bool = False):
        """``prompt``: a client's store, which takes the write lock before the farm's
        processes when both wait for it (see :meth:`_begin_immediate`)."""
        self.path = path
        # Woken when finished items release others waiting on them (maybe of another pool).
        self.supervisor_fifo = os.path.join(os.path.dirname(path), "run", "supervisor")
        self.pokes: List[str] = []
        self.supervisor_left = False  # what the last insert_jobs learned
        self.timeout = timeout
        self._spin, self._first_retry = (PROMPT_SPIN, 0.0001) if prompt else (0.0, 0.0003)
        self._lock = threading.RLock()
        if not os.path.exists(path):
            _create(path)
        check_private_file(path, "the farm database")  # on every open: it holds pickles
        self.db = _connect(path)
        try:
            self._ensure_schema()
        except BaseException:
            self.db.close()
            raise

    @_retrying
    def _ensure_schema(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=%d" % AUTOCHECKPOINT_PAGES)
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError as error:
            if _busy(error):
                raise
            row = None
        if row is None:
            self.db.executescript(_SCHEMA)  # IF NOT EXISTS: two processes racing here is fine
        elif row[0] in (2, 3):
            with self.transaction() as db:
                version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
                if version == 2:  # v3 adds farm-side dependencies
                    db.execute("ALTER TABLE work ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0")
                    db.execute("ALTER TABLE work ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
                    db.execute("CREATE TABLE IF NOT EXISTS deps(job_id INTEGER NOT NULL, idx"
                               " INTEGER NOT NULL, dep_job INTEGER NOT NULL, dep_idx INTEGER"
                               " NOT NULL)")
                    db.execute("CREATE INDEX IF NOT EXISTS deps_on ON deps(dep_job, dep_idx)")
                    db.execute("UPDATE meta SET value = 3 WHERE key = 'schema'")
                    version = 3
                if version == 3:  # v4 records who each worker is, not only its pid
                    db.execute("ALTER TABLE workers ADD COLUMN ticks INTEGER")
                    db.execute("ALTER TABLE workers ADD COLUMN token TEXT")
                    db.execute("UPDATE meta SET value = 4 WHERE key = 'schema'")
        elif row[0] != SCHEMA_VERSION:
            raise FarmError("the farm database %s has schema %s, this dccfutures expects %d"
                            % (self.path, row[0], SCHEMA_VERSION))

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- transactions --------------------------------------------------------------------

    class _Txn:
        def __init__(self, store, mode):
            self.store, self.mode = store, mode

        def __enter__(self):
            self.store._lock.acquire()
            try:
                if self.mode == "IMMEDIATE":
                    self.store._begin_immediate()
                else:
                    self.store.db.execute("BEGIN " + self.mode)
            except BaseException:
                self.store._lock.release()
                raise
            return self.store.db

        def __exit__(self, kind, value, tb):
            store = self.store
            try:
                if kind is None:
                    try:
                        store.db.execute("COMMIT")
                    except sqlite3.Error as error:  # a full disk: nothing of it was written
                        store._rollback()
                        raise storage_error(error, store.path) from error
                else:
                    store._rollback()
                    # A reader's lock conflict is left to @_retrying around it.
                    if isinstance(value, sqlite3.Error) and not (
                            self.mode != "IMMEDIATE" and _busy(value)):
                        raise storage_error(value, store.path) from value
            finally:
                store._lock.release()
            return False

    def _rollback(self) -> None:
        """End the transaction, whatever state a failed statement left it in (a COMMIT that
        failed on a full disk may leave it open, and the next BEGIN would fail)."""
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _begin_immediate(self) -> None:
        """Take the write lock, retrying every 0.1 ms at first (0.3 ms in the farm's own
        processes); a client's store first retries at once for PROMPT_SPIN.

        SQLite's own busy handler sleeps 1 ms, then 2, 5, 10 … while another process writes;
        with a client and several workers committing small transactions that sleep, not the
        work, would set the pace. Whoever retries first after a commit gets the lock, and a
        client's submit returns only once it committed, while a worker's claim or report can
        wait a little: under a stream of separate submits, that order is worth a tenth of
        the throughput.
        """
        start = time.monotonic()
        delay, deadline = self._first_retry, start + self.timeout
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as error:
                if not _busy(error) or time.monotonic() > deadline:
                    raise storage_error(error, self.path) from error
            if time.monotonic() - start < self._spin:
                time.sleep(0)  # only yields: the holder is most likely done within 0.1 ms
                continue
            time.sleep(delay)
            delay = min(delay * 2, 0.005)

    def transaction(self, mode: str = "IMMEDIATE") -> "Store._Txn":
        return Store._Txn(self, mode)

    def set_supervisor(self, present: bool, unless_active: bool = False) -> bool:
        """Record whether a supervisor serves this farm; clients read it in the transaction
        that inserts their jobs, which saves them a look at the lock file per submit.

        ``unless_active``: a supervisor about to leave records its absence only while no work
        is waiting, in one transaction, so a job is either seen here (and it stays) or
        inserted after (and its client starts a new supervisor). Returns whether it recorded.
        """
        with self.transaction() as db:
            if unless_active and self._active(db):
                return False
            db.execute("INSERT OR REPLACE INTO meta VALUES ('supervisor', ?)",
                       (1 if present else 0,))
        return True

    @_retrying
    def revision(self) -> int:
        """The global revision counter: a new poller's starting point."""
        with self._lock:
            return self.db.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0]

    @_retrying
    def healthy(self) -> bool:
        """Whether SQLite finds the database sound (``PRAGMA quick_check``)."""
        with self._lock:
            return self.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"

    @_retrying
    def next_job_id(self) -> int:
        with self._lock:
            row = self.db.execute("SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'jobs'"
                                  ).fetchone()
        return (row[0] or 0) + 1

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database and have the next writer start the WAL
        afresh. The supervisor does it a few times a second: the copy ends in two fsyncs
        (about 1 ms each here), which SQLite's own checkpoint every 1,000 pages put in the
        middle of whichever submit or report crossed the mark, every ~15 submits. It waits
        up to CHECKPOINT_WAIT_MS for the write lock and for readers of older snapshots: without
        that wait, a stream of transactions keeps any checkpoint from finishing, and the WAL
        from ever starting afresh."""
        with self._lock:
            try:
                self.db.execute("PRAGMA busy_timeout=%d" % CHECKPOINT_WAIT_MS)
                try:
                    self.db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                finally:
                    self.db.execute("PRAGMA busy_timeout=0")
            except sqlite3.Error as error:  # another checkpoint runs: this one is not needed
                raise storage_error(error, self.path) from error

    @_retrying
    def data_version(self) -> int:
        with self._lock:
            return self.db.execute("PRAGMA data_version").fetchone()[0]

    @staticmethod
    def _bump(db) -> int:
        if _RETURNING:
            return db.execute("UPDATE meta SET value = value + 1 WHERE key = 'rev'"
                              " RETURNING value").fetchone()[0]
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'rev'")
        return db.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0]

    @staticmethod
    def _tally(db, job_id: int, moves: Dict[Tuple[str, str], int], rev: int, now: float) -> None:
        """Move items between status tallies and recompute the job's status, in ONE update.

        SQLite evaluates SET expressions on the old row, so the new tallies are spelled out in
        the status expression (the deltas are integers we computed, safe to inline).
        """
        delta = dict.fromkeys(TALLY, 0)
        for (old, new), count in moves.items():
            delta[old] -= count
            delta[new] += count
        new = {s: "(%s%+d)" % (TALLY[s], delta[s]) if delta[s] else TALLY[s] for s in TALLY}
        status = ("CASE WHEN {running} > 0 THEN 'running' WHEN {pending} > 0 THEN CASE WHEN"
                  " blocked THEN 'blocked' ELSE 'pending' END WHEN {blocked} > 0 THEN 'blocked'"
                  " WHEN {failed} > 0 THEN 'failed' WHEN {killed} > 0 THEN 'killed'"
                  " ELSE 'complete' END").format(**new)
        sets = ["%s = %s" % (TALLY[s], new[s]) for s in TALLY if delta[s]]
        sets += ["status = %s" % status,
                 # A job that ended keeps its end time while it stays ended as it was (a
                 # block of an ended job is not a new ending: hooks run once per ending).
                 "finished = CASE WHEN %s IN ('complete', 'failed', 'killed') THEN CASE WHEN"
                 " status = %s AND finished IS NOT NULL THEN finished ELSE ? END END"
                 % (status, status),
                 "started = COALESCE(started, CASE WHEN %s = 'running' THEN ? END)" % status,
                 "rev = ?"]
        db.execute("UPDATE jobs SET %s WHERE id = ?" % ", ".join(sets), (now, now, rev, job_id))

    @staticmethod
    def _notify(db, job_ids: Iterable[int]) -> List[str]:
        """The wake-up FIFOs of the clients that submitted ``job_ids``."""
        return sorted({r[0] for job_id in set(job_ids) for r in db.execute(
            "SELECT notify FROM jobs WHERE id = ? AND notify IS NOT NULL", (job_id,))})

    # -- clients -------------------------------------------------------------------------

    def insert_jobs(self, jobs: Sequence[JobSpec], pools: Sequence[str], notify: Optional[str],
                    parent: Optional[str], max_attempts: int, user: str) -> List[int]:
        """Insert jobs in one transaction. New rows take the current revision without bumping
        it: a new pending item is never news to a poller, and pollers fetch new jobs whole."""
        now = time.time()
        ids = []
        with self.transaction() as db:
            meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('rev',"
                                   " 'supervisor')").fetchall())
            rev = meta["rev"]
            # Read in the same transaction as the insert: a supervisor that left before it
            # committed saw no work (see set_supervisor), so the caller must start one.
            self.supervisor_left = meta.get("supervisor") == 0
            for spec, pool in zip(jobs, pools):
                fields = dict(spec.fields)
                cpus = int(fields.get("cpus") or 0)
                priority = int(fields.get("priority", 9999))
                attempts = int(fields.get("max_attempts") or max_attempts)
                initial = [BLOCKED if w.fields.get("status") == BLOCKED else PENDING
                           for w in spec.work]
                n_blocked = initial.count(BLOCKED)
                blocked = 1 if fields.get("status") == BLOCKED else 0
                status = job_status(blocked, len(spec.work) - n_blocked, n_blocked, 0, 0, 0, 0)
                cursor = db.execute(
                    "INSERT INTO jobs(name, prototype, pool, status, priority, cpus, max_attempts,"
                    " fields, env, package, function, notify, parent, user, submitted, blocked,"
                    " t_pending, t_blocked, rev) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (spec.name, spec.prototype, pool, status, priority, cpus, attempts,
                     json.dumps(fields, default=str), json.dumps(spec.env),
                     json.dumps(spec.package, default=str), spec.function, notify, parent, user,
                     now, blocked, len(spec.work) - n_blocked, n_blocked, rev))
                job_id = cursor.lastrowid
                db.executemany(
                    "INSERT INTO work(job_id, idx, name, status, fields, package, ncalls, held,"
                    " rev) VALUES (?,?,?,?,?,?,?,?,?)",
                    [(job_id, i, w.name or str(i), state,
                      json.dumps(w.fields, default=str) if w.fields else None, w.package,
                      w.ncalls, 1 if state == BLOCKED else 0, rev)
                     for i, (w, state) in enumerate(zip(spec.work, initial))])
                if any(w.depends_on for w in spec.work):
                    self._wait_for(db, job_id, spec.work, rev, now)
                ids.append(job_id)
        return ids

    def _wait_for(self, db, job_id: int, work, rev: int, now: float) -> None:
        """Record what each new item depends on: an item waits ``blocked`` for dependencies
        not complete yet, and fails at once when one already failed or was killed."""
        moves: Dict[Tuple[str, str], int] = {}
        for idx, spec in enumerate(work):
            waiting, failed = [], None
            for dep_job, dep_idx in dict.fromkeys((job_id if j is None else j, i)
                                                  for j, i in spec.depends_on):
                row = db.execute("SELECT status, name, result FROM work WHERE job_id = ? AND"
                                 " idx = ?", (dep_job, dep_idx)).fetchone()
                if row is None:
                    failed = (dep_job, dep_idx, "removed", "?", None)
                elif row[0] in (FAILED, KILLED):
                    failed = (dep_job, dep_idx, row[0], row[1], row[2])
                elif row[0] != COMPLETE:
                    waiting.append((dep_job, dep_idx))
                if failed:
                    break
            state = BLOCKED if spec.fields.get("status") == BLOCKED else PENDING
            # Kept for the item's life: a retry waits again for what is not complete then.
            db.executemany("INSERT INTO deps(job_id, idx, dep_job, dep_idx) VALUES (?,?,?,?)",
                           [(job_id, idx, j, i) for j, i in dict.fromkeys(
                               (job_id if j is None else j, i) for j, i in spec.depends_on)])
            if failed:
                db.execute("UPDATE work SET status = 'failed', result = ?, finished = ?, rev = ?"
                           " WHERE job_id = ? AND idx = ?",
                           (_dependency_failure(*failed), now, rev, job_id, idx))
                _count(moves, (state, FAILED))
            elif waiting:
                db.execute("UPDATE work SET status = 'blocked', waiting = ?, message = ?"
                           " WHERE job_id = ? AND idx = ?",
                           (len(waiting), _waiting_message(waiting), job_id, idx))
                if state != BLOCKED:
                    _count(moves, (state, BLOCKED))
        if moves:
            self._tally(db, job_id, moves, rev, now)

    def _settle(self, db, ended: Iterable[Tuple[int, int, str]], rev: int, now: float
                ) -> List[int]:
        """Items ended: release the items waiting on them (all dependencies complete: pending)
        or fail them, naming the dependency, when one failed or was killed; a failure passes
        down the chain. Returns the jobs whose items changed."""
        queue = list(ended)
        if not queue or db.execute("SELECT 1 FROM deps LIMIT 1").fetchone() is None:
            return []  # nothing waits on anything: one cheap look per transaction
        moves: Dict[int, Dict[Tuple[str, str], int]] = {}
        while queue:
            dep_job, dep_idx, status = queue.pop()
            rows = db.execute(
                "SELECT d.job_id, d.idx, w.status, w.waiting, w.held FROM deps d JOIN work w"
                " ON w.job_id = d.job_id AND w.idx = d.idx WHERE d.dep_job = ? AND"
                " d.dep_idx = ?",
                (dep_job, dep_idx)).fetchall()
            dependency = None
            for job_id, idx, item_status, waiting, held in rows:
                if waiting <= 0 or item_status not in (BLOCKED, PENDING):
                    continue  # not waiting (ran, ended, or retried with this one complete)
                if item_status == PENDING or (status == COMPLETE and (waiting > 1 or held)):
                    # Unblocked by hand, or still waiting on others: count this one met.
                    db.execute("UPDATE work SET waiting = waiting - 1 WHERE job_id = ? AND"
                               " idx = ?", (job_id, idx))
                    continue
                if status == COMPLETE:
                    db.execute("UPDATE work SET status = 'pending', waiting = 0, message = NULL,"
                               " rev = ? WHERE job_id = ? AND idx = ?", (rev, job_id, idx))
                    _count(moves.setdefault(job_id, {}), (BLOCKED, PENDING))
                    continue
                if dependency is None:
                    dependency = db.execute(
                        "SELECT name, result FROM work WHERE job_id = ? AND idx = ?",
                        (dep_job, dep_idx)).fetchone() or ("?", None)
                db.execute("UPDATE work SET status = 'failed', waiting = 0, message = NULL,"
                           " result = ?, finished = ?, rev = ? WHERE job_id = ? AND idx = ?",
                           (_dependency_failure(dep_job, dep_idx, status, *dependency), now, rev,
                            job_id, idx))
                _count(moves.setdefault(job_id, {}), (BLOCKED, FAILED))
                queue.append((job_id, idx, FAILED))
        for job_id, job_moves in moves.items():
            self._tally(db, job_id, job_moves, rev, now)
        return list(moves)

    @_retrying
    def changes(self, cursor: int, min_job: int, new_jobs: Sequence[int]):
        """What changed since ``cursor``, in one read transaction: work rows (and every started
        row of ``new_jobs``), the status of the jobs they belong to, the removed jobs, and the
        new cursor. Job-level changes (block, unblock) stamp the job's pending rows, so a job's
        status is only ever looked up by id."""
        with self.transaction("DEFERRED") as db:
            rev = db.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()[0]
            rows = db.execute(
                "SELECT job_id, idx, status, progress, message FROM work"
                " WHERE rev > ? AND job_id >= ?", (cursor, min_job)).fetchall()
            for chunk in _chunks(new_jobs, 500):
                rows += db.execute(
                    "SELECT job_id, idx, status, progress, message FROM work WHERE job_id IN (%s)"
                    " AND status != 'pending'" % ",".join("?" * len(chunk)), chunk).fetchall()
            gone = [r[0] for r in db.execute("SELECT job_id FROM removed WHERE rev > ?", (cursor,))]
            wanted = sorted({r[0] for r in rows} | set(new_jobs))
            statuses = []
            for chunk in _chunks(wanted, 500):
                statuses += db.execute("SELECT id, status FROM jobs WHERE id IN (%s)"
                                       % ",".join("?" * len(chunk)), chunk).fetchall()
            found = {r[0] for r in statuses}
            gone += [j for j in new_jobs if j not in found]
        return rows, gone, rev, statuses

    @_retrying
    def results(self, items: Sequence[Tuple[int, int]]) -> Dict[Tuple[int, int], Tuple[str, Any]]:
        out = {}
        by_job: Dict[int, List[int]] = {}
        for job_id, idx in items:
            by_job.setdefault(job_id, []).append(idx)
        with self.transaction("DEFERRED") as db:
            for job_id, idxs in by_job.items():
                for chunk in _chunks(idxs, 500):
                    for idx, status, result in db.execute(
                            "SELECT idx, status, result FROM work WHERE job_id = ? AND idx IN (%s)"
                            % ",".join("?" * len(chunk)), [job_id] + chunk):
                        out[(job_id, idx)] = (status, result)
        return out

    def kill_many(self, targets: Dict[int, Optional[Sequence[int]]],
                  worker_files: Optional[Callable[[int], WorkerFiles]] = None
                  ) -> Tuple[int, Dict[int, List[int]], List[str]]:
        """Kill items, ``{job_id: idxs or None for all}``, in one transaction.

        A finished item is never killed: one its worker finished but has not reported yet
        lands as finished, from the worker's files (``worker_files(pid)``: its current item
        and its finished items, read inside this transaction). A killed item its worker is
        running keeps where its output starts; the worker's end (its report, or its death)
        records where the output ends.

        Returns how many were killed, ``{worker pid: [row ids]}`` of the killed items workers
        held (the caller kills a worker's process group only if it is running one of them;
        an item it only claimed is dropped from its queue) and the wake-up FIFOs of waiting
        clients.
        """
        now = time.time()
        killed = 0
        held: Dict[int, List[int]] = {}
        files: Dict[int, WorkerFiles] = {}
        self.pokes = []
        with self.transaction() as db:
            rev = None
            touched = []
            ended: List[Tuple[int, int, str]] = []
            for job_id, idxs in targets.items():
                rows = self._select_items(db, job_id, idxs, (PENDING, BLOCKED, RUNNING),
                                          "id, status, worker, idx, attempts")
                if not rows:
                    continue
                if rev is None:
                    rev = self._bump(db)
                if worker_files is not None:
                    landed = self._land_finished(db, job_id, rows, worker_files, files, rev, now)
                    if landed:
                        touched.append(job_id)
                        rows = [r for r in rows if r[0] not in landed]
                    if not rows:
                        continue
                moves: Dict[Tuple[str, str], int] = {}
                running = []
                for row_id, status, worker, _, attempt in rows:
                    _count(moves, (status, KILLED))
                    if worker is not None:
                        held.setdefault(worker, []).append(row_id)
                        current = files[worker][0] if worker in files else None
                        if current is not None and tuple(current[:2]) == (row_id, attempt):
                            running.append((worker, worker, current[2], row_id))
                db.executemany("UPDATE work SET status = 'killed', worker = NULL, finished = ?,"
                               " waiting = 0, rev = ? WHERE id = ?",
                               [(now, rev, r[0]) for r in rows])
                db.executemany("UPDATE work SET worker = ?, log_path = (SELECT log_path FROM"
                               " workers WHERE pid = ?), log_start = ?, log_end = NULL"
                               " WHERE id = ?", running)
                self._tally(db, job_id, moves, rev, now)
                touched.append(job_id)
                killed += len(rows)
                ended += [(job_id, r[3], KILLED) for r in rows]
            if rev is None:
                return 0, {}, []
            touched += self._settle(db, ended, rev, now)
            notify = self._notify(db, touched)
        return killed, held, notify + self.pokes

    def _land_finished(self, db, job_id: int, rows, worker_files, files: Dict[int, WorkerFiles],
                       rev: int, now: float) -> set:
        """Record the items of ``rows`` (running, held by workers) that their worker finished
        but has not reported; returns the row ids of those that landed."""
        done: Dict[int, list] = {}
        for row_id, status, worker, idx, attempt in rows:
            if status != RUNNING or worker is None:
                continue
            if worker not in files:
                files[worker] = worker_files(worker)
            current, finished = files[worker]
            entry = finished.get(row_id)
            if finished_now(current, row_id, attempt, entry):
                done.setdefault(worker, []).append(
                    (Claimed(row_id, job_id, idx, attempt, None, 0, None),) + entry[1:3]
                    + (self._worker_log(db, worker),) + entry[3:5])
        for worker, items in done.items():
            self._finish(db, worker, items, rev, now)
        return {item[0].row_id for items in done.values() for item in items}

    @staticmethod
    def _worker_log(db, pid: int) -> Optional[str]:
        row = db.execute("SELECT log_path FROM workers WHERE pid = ?", (pid,)).fetchone()
        return row[0] if row else None

    def retry(self, job_id: int, idxs: Optional[Sequence[int]]) -> int:
        now = time.time()
        with self.transaction() as db:
            rows = self._select_items(db, job_id, idxs, (FAILED, KILLED), "id, status, idx")
            if not rows:
                return 0
            rev = self._bump(db)
            moves: Dict[Tuple[str, str], int] = {}
            for row_id, status, idx in rows:
                # What it depends on is kept: it waits again for what is not complete now.
                unmet = [(r[0], r[1]) for r in db.execute(
                    "SELECT d.dep_job, d.dep_idx FROM deps d LEFT JOIN work w ON"
                    " w.job_id = d.dep_job AND w.idx = d.dep_idx WHERE d.job_id = ? AND"
                    " d.idx = ? AND (w.status IS NULL OR w.status != 'complete')",
                    (job_id, idx))]
                new = BLOCKED if unmet else PENDING
                _count(moves, (status, new))
                db.execute("UPDATE work SET status = ?, waiting = ?, attempts = 0, result = NULL,"
                           " progress = 0, message = ?, finished = NULL, rev = ? WHERE id = ?",
                           (new, len(unmet), _waiting_message(unmet) if unmet else None, rev,
                            row_id))
            self._tally(db, job_id, moves, rev, now)
        return len(rows)

    def block(self, job_id: int, idxs: Optional[Sequence[int]], blocked: bool) -> int:
        """Block or unblock a job (``idxs`` None: its pending items stay put) or some items.
        Returns how many items it held back or let go."""
        now = time.time()
        with self.transaction() as db:
            if idxs is None:
                row = db.execute("SELECT t_pending, blocked FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
                if row is None or row[1] == (1 if blocked else 0):
                    return 0
                rev = self._bump(db)
                db.execute("UPDATE jobs SET blocked = ? WHERE id = ?", (1 if blocked else 0, job_id))
                # Stamp the pending rows: pollers learn of job-level changes through them.
                db.execute("UPDATE work SET rev = ? WHERE job_id = ? AND status = 'pending'",
                           (rev, job_id))
                count, moves = row[0], {}
            else:
                old, new = (PENDING, BLOCKED) if blocked else (BLOCKED, PENDING)
                # Blocking also holds an item already waiting on dependencies: it stays
                # blocked once they complete, until unblocked.
                rows = self._select_items(db, job_id, idxs, (PENDING, BLOCKED), "id, status")
                if not rows:
                    return 0
                rev = self._bump(db)
                db.executemany("UPDATE work SET held = ? WHERE id = ?",
                               [(1 if blocked else 0, r[0]) for r in rows])
                moved = [r for r in rows if r[1] == old]
                db.executemany("UPDATE work SET status = ?, rev = ? WHERE id = ?",
                               [(new, rev, r[0]) for r in moved])
                count = len(moved)
                moves = {(old, new): count} if count else {}
            self._tally(db, job_id, moves, rev, now)
        return count

    @staticmethod
    def _select_items(db, job_id, idxs, statuses, columns):
        marks = ",".join("?" * len(statuses))
        if idxs is None:
            return db.execute("SELECT %s FROM work WHERE job_id = ? AND status IN (%s)"
                              % (columns, marks), (job_id,) + tuple(statuses)).fetchall()
        rows = []
        for chunk in _chunks(list(idxs), 500):
            rows += db.execute("SELECT %s FROM work WHERE job_id = ? AND status IN (%s) AND idx IN"
                               " (%s)" % (columns, marks, ",".join("?" * len(chunk))),
                               (job_id,) + tuple(statuses) + tuple(chunk)).fetchall()
        return rows

    @_retrying
    def log_slice(self, job_id: int, idx: int) -> Optional[Tuple[str, int, Optional[int]]]:
        """Where an item's output is: (worker log path, start offset, end offset or None)."""
        with self.transaction("DEFERRED") as db:
            row = db.execute("SELECT status, worker, log_path, log_start, log_end FROM work"
                             " WHERE job_id = ? AND idx = ?", (job_id, idx)).fetchone()
            if row is None:
                raise KeyError("%d:%d" % (job_id, idx))
            status, worker, path, start, end = row
            if status == RUNNING and worker is not None:
                live = db.execute("SELECT log_path, log_start FROM workers WHERE pid = ? AND"
                                  " job_id = ? AND idx = ?", (worker, job_id, idx)).fetchone()
                if live is not None:
                    return live[0], live[1], None
            if path is None:
                return None
            return path, start, end

    @_retrying
    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[int]] = None) -> List[JobInfo]:
        columns = ("id, name, status, prototype, priority, cpus, user, submitted, started,"
                   " finished, fields, blocked, " + _TALLY_COLUMNS)
        with self._lock:
            if job_ids is None:
                rows = self.db.execute("SELECT %s FROM jobs ORDER BY id DESC LIMIT ?" % columns,
                                       (limit,)).fetchall()
            else:
                rows = []
                for chunk in _chunks(list(job_ids), 500):
                    rows += self.db.execute("SELECT %s FROM jobs WHERE id IN (%s)"
                                            % (columns, ",".join("?" * len(chunk))),
                                            chunk).fetchall()
        infos = [JobInfo(id=r[0], name=r[1], status=r[2], prototype=r[3], priority=r[4],
                         cpus=r[5], user=r[6] or "", submitted=r[7], started=r[8],
                         finished=r[9], fields=json.loads(r[10]),
                         tally={s: r[12 + i] for i, s in enumerate(TALLY)}) for r in rows]
        return [info.hold_pending() if r[11] else info for info, r in zip(infos, rows)]

    @_retrying
    def job(self, job_id: int) -> JobInfo:
        found = self.jobs(job_ids=[job_id])
        if not found:
            raise KeyError(job_id)
        info = found[0]
        with self._lock:
            rows = self.db.execute(
                "SELECT idx, name, status, progress, message, attempts, started, finished,"
                " ncalls, CASE WHEN status = 'failed' THEN result END FROM work WHERE job_id = ?"
                " ORDER BY idx", (job_id,)).fetchall()
            held = self.db.execute("SELECT blocked FROM jobs WHERE id = ?", (job_id,)).fetchone()
        info.work = [WorkInfo(job_id, r[0], r[1], r[2], r[3], r[4], r[5], "localhost", r[6], r[7],
                              r[8], error=work_error(r[9])) for r in rows]
        return info.hold_pending() if held and held[0] else info

    def remove(self, job_ids: Sequence[int]) -> int:
        """Delete finished jobs with their items, leaving tombstones for waiting clients."""
        now = time.time()
        with self.transaction() as db:
            rev = self._bump(db)
            count = 0
            for job_id in job_ids:
                count += db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount
                db.execute("DELETE FROM work WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM deps WHERE job_id = ?", (job_id,))
                db.execute("INSERT OR REPLACE INTO removed VALUES (?, ?, ?)", (job_id, rev, now))
        return count

    @_retrying
    def expired_jobs(self, older_than: float) -> List[int]:
        with self._lock:
            return [r[0] for r in self.db.execute(
                "SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ? AND status IN"
                " ('complete', 'failed', 'killed')", (older_than,))]

    @_retrying
    def ended_since(self, since: float, seen: Any = ()) -> List[Dict[str, Any]]:
        """Jobs that ended at or after ``since``: what the supervisor acts on (their scene
        copies, ``on_done`` hooks, telling the artist). Endings in ``seen`` (``(id,
        finished)``) are left out before their packages are decoded: the supervisor looks
        back a minute every second, and under a stream of small jobs that is thousands."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id, name, status, finished, package, notify, user, env, " +
                _TALLY_COLUMNS +
                " FROM jobs WHERE finished IS NOT NULL AND finished >= ? AND status IN"
                " ('complete', 'failed', 'killed')", (since,)).fetchall()
        return [{"id": r[0], "name": r[1], "status": r[2], "finished": r[3],
                 "package": json.loads(r[4]), "notify": r[5], "user": r[6] or "",
                 "env": json.loads(r[7] or "{}"),
                 "tally": {s: r[8 + i] for i, s in enumerate(TALLY)}} for r in rows
                if (r[0], r[3]) not in seen]

    @_retrying
    def scene_copies(self, finished_since: float) -> Tuple[set, set]:
        """Scene copies of jobs that ended since ``finished_since``, and of jobs still active
        (a copy is only done with once no active job names it)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT package, finished IS NULL FROM jobs WHERE (finished IS NULL OR"
                " finished >= ?) AND package LIKE '%\"original\"%'", (finished_since,)).fetchall()
        ended, active = set(), set()
        for package, is_active in rows:
            bootstrap = json.loads(package).get("bootstrap") or {}
            if bootstrap.get("original") and bootstrap.get("file"):
                (active if is_active else ended).add(bootstrap["file"])
        return ended, active

    @_retrying
    def referenced_logs(self) -> set:
        with self._lock:
            return {r[0] for r in self.db.execute(
                "SELECT DISTINCT log_path FROM work WHERE log_path IS NOT NULL")}

    def forget_tombstones(self, older_than: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM removed WHERE at < ?", (older_than,))

    # -- workers -------------------------------------------------------------------------

    def register_worker(self, pid: int, pool: str, supervisor: int, log_path: str,
                        ticks: Optional[int] = None, token: Optional[str] = None) -> None:
        """A worker starts: ``ticks`` is when process ``pid`` started and ``token`` what its
        processes carry (see processes.py), so that no one ever signals its pid once it is
        another process's."""
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO workers(pid, pool, supervisor, started, heartbeat,"
                       " log_path, ticks, token) VALUES (?,?,?,?,?,?,?,?)",
                       (pid, pool, supervisor, now, now, log_path, ticks, token))

    def heartbeat(self, pid: int, current: Optional[Tuple[int, int, int]],
                  progress: Sequence[Tuple[int, int, float, Optional[str]]]) -> None:
        """Publish liveness, the item being run (job, idx, log offset) and throttled progress."""
        now = time.time()
        with self.transaction() as db:
            job_id, idx, log_start = current if current else (None, None, None)
            db.execute("UPDATE workers SET heartbeat = ?, job_id = ?, idx = ?, log_start = ?"
                       " WHERE pid = ?", (now, job_id, idx, log_start, pid))
            if progress:
                rev = self._bump(db)
                db.executemany("UPDATE work SET progress = ?, message = ?, rev = ? WHERE id = ?"
                               " AND worker = ? AND attempts = ? AND status = 'running'",
                               [(fraction, message, rev, row_id, pid, attempt)
                                for row_id, attempt, fraction, message in progress])

    def claim(self, pid: int, pool: str, limit: int, known_jobs: Iterable[int]) -> List[Claimed]:
        """Take up to ``limit`` pending items of ``pool`` (see :meth:`finish_and_claim`)."""
        if not self.ready(pool):  # woken for nothing: take no write lock
            return []
        return self.finish_and_claim(pid, (), pool, limit, known_jobs)[1]

    @_retrying
    def ready(self, pool: str) -> bool:
        with self._lock:
            return self.db.execute("SELECT 1 FROM jobs WHERE pool = ? AND t_pending > 0 AND"
                                   " blocked = 0 AND (cpus = 0 OR t_running < cpus) LIMIT 1",
                                   (pool,)).fetchone() is not None

    def finish(self, pid: int, done: Sequence[Tuple[Claimed, str, bytes, str, int, int]]
               ) -> List[str]:
        """Record finished items (see :meth:`finish_and_claim`)."""
        return self.finish_and_claim(pid, done, None, 0, ())[0]

    def finish_and_claim(self, pid: int, done: Sequence[Tuple[Claimed, str, bytes, str, int, int]],
                         pool: Optional[str], limit: int, known_jobs: Iterable[int],
                         notify_known: Optional[bool] = None) -> Tuple[List[str], List[Claimed]]:
        """Record finished items, then take new ones, in ONE transaction.

        ``done`` holds ``(item, status, outcomes, log_path, log_start, log_end)``; only items
        this worker still owns (same pid, same attempt, still running) land. Returns the
        wake-up FIFOs of the clients whose jobs changed (unless ``notify_known``: the worker
        has them from the claims), and the claimed items.

        Claims take up to ``limit`` pending items of ``pool``, the most urgent jobs first:
        priority is Qube's (the lowest number first, then the oldest job), and a job's ``cpus``
        caps how many of its items run at once. At most half of what is ready is taken, so
        another idle worker always finds work. Job details come once per worker.
        """
        now = time.time()
        self.pokes = []
        with self.transaction() as db:
            rev = self._bump(db)
            touched = self._finish(db, pid, done, rev, now) if done else []
            claimed = self._claim(db, pid, pool, limit, known_jobs, rev, now) if limit else []
            notify = self._notify(db, touched) if touched and notify_known is None else []
        return notify + self.pokes, claimed

    def _finish(self, db, pid: int, done, rev: int, now: float) -> List[int]:
        touched: Dict[int, Dict[Tuple[str, str], int]] = {}
        ended: List[Tuple[int, int, str]] = []
        for item, status, outcome, log_path, log_start, log_end in done:
            landed = db.execute(
                "UPDATE work SET status = ?, result = ?, progress = CASE WHEN ? = 'complete'"
                " THEN 1.0 ELSE progress END, worker = NULL, finished = ?, log_path = ?,"
                " log_start = ?, log_end = ?, rev = ? WHERE id = ? AND worker = ? AND"
                " attempts = ? AND status = 'running'",
                (status, outcome, status, now, log_path, log_start, log_end, rev,
                 item.row_id, pid, item.attempt)).rowcount
            if landed:
                _count(touched.setdefault(item.job_id, {}), (RUNNING, status))
                ended.append((item.job_id, item.idx, status))
            else:  # killed while it ran: it stays killed, with the output it wrote
                db.execute("UPDATE work SET worker = NULL, log_path = ?, log_start = ?,"
                           " log_end = ? WHERE id = ? AND worker = ? AND attempts = ? AND"
                           " status = 'killed'",
                           (log_path, log_start, log_end, item.row_id, pid, item.attempt))
        for job_id, moves in touched.items():
            self._tally(db, job_id, moves, rev, now)
        released = self._settle(db, ended, rev, now)
        if released:
            self.pokes += self._notify(db, released) + [self.supervisor_fifo]
        return list(touched)

    def _claim(self, db, pid: int, pool: str, limit: int, known_jobs, rev: int, now: float
               ) -> List[Claimed]:
        if db.execute("SELECT killed FROM workers WHERE pid = ?", (pid,)).fetchone() == (1,):
            return []  # being stopped: take nothing new
        candidates = db.execute(
            "SELECT id, cpus, t_running, t_pending FROM jobs WHERE pool = ? AND t_pending > 0"
            " AND blocked = 0 AND (cpus = 0 OR t_running < cpus) ORDER BY priority, id LIMIT ?",
            (pool, max(limit, 8))).fetchall()
        ready = sum(c[3] if not c[1] else max(0, min(c[3], c[1] - c[2])) for c in candidates)
        left = min(limit, max(1, (ready + 1) // 2))
        claimed: List[Claimed] = []
        for job_id, cpus, running, pending in candidates:
            room = min(left, pending) if not cpus else min(left, pending, cpus - running)
            if room <= 0:
                continue
            rows = db.execute("SELECT id, idx, package, ncalls, attempts FROM work WHERE"
                              " job_id = ? AND status = 'pending' ORDER BY idx LIMIT ?",
                              (job_id, room)).fetchall()
            if not rows:
                continue
            db.executemany("UPDATE work SET status = 'running', worker = ?, attempts = ?,"
                           " started = ?, progress = 0, message = NULL, rev = ? WHERE id = ?",
                           [(pid, r[4] + 1, now, rev, r[0]) for r in rows])
            self._tally(db, job_id, {(PENDING, RUNNING): len(rows)}, rev, now)
            job = None
            if job_id not in known_jobs:
                job = db.execute("SELECT id, env, package, function, notify, name FROM jobs"
                                 " WHERE id = ?", (job_id,)).fetchone()
            claimed += [Claimed(r[0], job_id, r[1], r[4] + 1, r[2], r[3], job) for r in rows]
            left -= len(rows)
            if left <= 0:
                break
        return claimed

    def release(self, pid: int, items: Sequence[Claimed]) -> None:
        """Give back items claimed but not started (a worker asked to stop)."""
        if not items:
            return
        now = time.time()
        with self.transaction() as db:
            rev = self._bump(db)
            jobs: Dict[int, int] = {}
            for item in items:
                if db.execute("UPDATE work SET status = 'pending', worker = NULL,"
                              " attempts = attempts - 1, rev = ? WHERE id = ? AND worker = ? AND"
                              " attempts = ? AND status = 'running'",
                              (rev, item.row_id, pid, item.attempt)).rowcount:
                    jobs[item.job_id] = jobs.get(item.job_id, 0) + 1
            for job_id, count in jobs.items():
                self._tally(db, job_id, {(RUNNING, PENDING): count}, rev, now)

    # -- supervisor ----------------------------------------------------------------------

    @_retrying
    def workers(self) -> List[Tuple[int, str, int, float, Optional[int], Optional[int], str, int,
                                    Optional[int], Optional[str]]]:
        """``(pid, pool, supervisor, heartbeat, job_id, idx, log_path, killed, ticks,
        token)`` of each registered worker."""
        with self._lock:
            return self.db.execute("SELECT pid, pool, supervisor, heartbeat, job_id, idx, log_path,"
                                   " killed, ticks, token FROM workers").fetchall()

    def worker_lost(self, pid: int, lost_outcome, current: Optional[Tuple[int, int, int]] = None,
                    deliberate: bool = False,
                    finished: Optional[Dict[int, Tuple[int, str, bytes, int, int]]] = None,
                    verdict: Optional[bytes] = None) -> List[str]:
        """A worker died. Items it finished but had not reported land as finished (from its
        finished file, ``finished``); the others go back to pending, and the one it was
        running is charged an attempt and fails with ``WorkerLostError`` once out of attempts.

        ``current`` is ``(row_id, attempt, log_start)`` of the item it was running (from its
        current-item file): that item keeps the output it wrote, up to the worker's end,
        whatever becomes of it; so does an item killed while the worker ran it. Items it had
        only claimed are given back uncharged. ``deliberate``: we stopped it (a kill, a farm
        stop), so nothing is charged. ``lost_outcome(attempts, log_tail)`` encodes the error.
        ``verdict``: the encoded outcome the item it was running fails with at once (it ran
        past its time limit), whatever attempts it has left. Returns the wake-up FIFOs of clients whose jobs changed.
        """
        now = time.time()
        self.pokes = []
        with self.transaction() as db:
            worker = db.execute("SELECT log_path, killed FROM workers WHERE pid = ?",
                                (pid,)).fetchone()
            db.execute("DELETE FROM workers WHERE pid = ?", (pid,))
            deliberate = deliberate or bool(worker and worker[1])
            log_path = worker[0] if worker else None
            log_end = _size(log_path)
            db.execute("UPDATE work SET worker = NULL, log_end = ? WHERE worker = ? AND"
                       " status = 'killed'", (log_end, pid))
            rows = db.execute("SELECT w.id, w.job_id, w.idx, w.attempts, j.max_attempts FROM work w"
                              " JOIN jobs j ON j.id = w.job_id WHERE w.worker = ? AND"
                              " w.status = 'running'", (pid,)).fetchall()
            if not rows:
                return []
            rev = self._bump(db)
            reported = [(Claimed(r[0], r[1], r[2], r[3], None, 0, None),) + finished[r[0]][1:3]
                        + (log_path,) + finished[r[0]][3:5]
                        for r in rows if finished and finished_now(current, r[0], r[3],
                                                                   finished.get(r[0]))]
            changed = self._finish(db, pid, reported, rev, now) if reported else []
            landed = {item[0].row_id for item in reported}
            touched: Dict[int, Dict[Tuple[str, str], int]] = {}
            ended: List[Tuple[int, int, str]] = []
            for row_id, job_id, idx, attempts, max_attempts in rows:
                if row_id in landed:
                    continue
                ran = current is not None and tuple(current[:2]) == (row_id, attempts)
                charged = ran and not deliberate
                if ran and log_path:
                    db.execute("UPDATE work SET log_path = ?, log_start = ?, log_end = ? WHERE"
                               " id = ?", (log_path, current[2], log_end, row_id))
                if ran and verdict is not None or charged and attempts >= max_attempts:
                    if ran and verdict is not None:
                        outcome = verdict
                    else:
                        tail = _read_tail(log_path, current[2], log_end) if log_path else ""
                        outcome = lost_outcome(attempts, tail)
                    db.execute("UPDATE work SET status = 'failed', result = ?, worker = NULL,"
                               " finished = ?, rev = ? WHERE id = ?",
                               (outcome, now, rev, row_id))
                    new = FAILED
                    ended.append((job_id, idx, FAILED))
                else:
                    db.execute("UPDATE work SET status = 'pending', worker = NULL, rev = ?,"
                               " attempts = attempts - ? WHERE id = ?",
                               (rev, 0 if charged else 1, row_id))
                    new = PENDING
                _count(touched.setdefault(job_id, {}), (RUNNING, new))
            for job_id, moves in touched.items():
                self._tally(db, job_id, moves, rev, now)
            notify = self._notify(db, changed + list(touched) + self._settle(db, ended, rev, now))
        return notify + self.pokes

    def land_reports(self, pid: int, current: Optional[Tuple[int, ...]],
                     finished: Dict[int, Tuple]) -> List[str]:
        """Record the items a live worker finished but has not reported (from its files):
        its next item holds the GIL (most DCC commands do), so its reporter thread cannot
        run. Its own report, when it comes, finds them landed. Returns the wake-up FIFOs."""
        now = time.time()
        self.pokes = []
        with self.transaction() as db:
            rows = db.execute("SELECT id, job_id, idx, attempts FROM work WHERE worker = ? AND"
                              " status = 'running'", (pid,)).fetchall()
            log_path = self._worker_log(db, pid)
            items = [(Claimed(r[0], r[1], r[2], r[3], None, 0, None),) + finished[r[0]][1:3]
                     + (log_path,) + finished[r[0]][3:5]
                     for r in rows if finished_now(current, r[0], r[3], finished.get(r[0]))]
            if not items:
                return []
            rev = self._bump(db)
            changed = self._finish(db, pid, items, rev, now)
            notify = self._notify(db, changed)
        return notify + self.pokes

    @_retrying
    def registered(self, pid: int) -> bool:
        with self._lock:
            return self.db.execute("SELECT 1 FROM workers WHERE pid = ?",
                                   (pid,)).fetchone() is not None

    @_retrying
    def timelimit(self, row_id: int) -> float:
        """The ``timelimit`` job field (seconds) of a work item's job; 0 for none."""
        with self._lock:
            row = self.db.execute("SELECT j.fields FROM work w JOIN jobs j ON j.id = w.job_id"
                                  " WHERE w.id = ?", (row_id,)).fetchone()
        try:
            limit = float(json.loads(row[0]).get("timelimit") or 0) if row else 0.0
        except (TypeError, ValueError, AttributeError):
            return 0.0
        return limit if limit > 0 else 0.0  # Qube's -1 (and NaN): none

    @_retrying
    def item_ref(self, row_id: int) -> Optional[Tuple[int, int]]:
        """``(job_id, idx)`` of a work item's row (what the supervisor's log names)."""
        with self._lock:
            row = self.db.execute("SELECT job_id, idx FROM work WHERE id = ?",
                                  (row_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def mark_stopping(self, pids: Iterable[int]) -> None:
        """These workers are being stopped on purpose: their items will not be charged, and
        they take no more work."""
        with self.transaction() as db:
            db.executemany("UPDATE workers SET killed = 1 WHERE pid = ?", [(p,) for p in pids])

    @_retrying
    def owned(self, pid: int, items: Sequence[Claimed]) -> List[Claimed]:
        """Which of a worker's claimed items it still owns (others were killed meanwhile)."""
        keep = set()
        with self._lock:
            for chunk in _chunks([c.row_id for c in items], 500):
                keep.update(r[0] for r in self.db.execute(
                    "SELECT id FROM work WHERE id IN (%s) AND worker = ? AND status = 'running'"
                    % ",".join("?" * len(chunk)), chunk + [pid]))
        return [c for c in items if c.row_id in keep]

    def fail_pool(self, pool: str, reason: str, encode
                  ) -> Tuple[List[str], List[Tuple[int, int]]]:
        """Fail the pending items of a pool whose interpreter cannot start. Returns the
        wake-up FIFOs of waiting clients and the items failed, ``(job_id, idx)``."""
        now = time.time()
        with self.transaction() as db:
            rows = db.execute("SELECT w.id, w.job_id, w.idx FROM work w JOIN jobs j ON"
                              " j.id = w.job_id WHERE j.pool = ? AND w.status = 'pending'",
                              (pool,)).fetchall()
            if not rows:
                return [], []
            rev = self._bump(db)
            outcome = encode(reason)
            jobs: Dict[int, int] = {}
            for row_id, job_id, _ in rows:
                db.execute("UPDATE work SET status = 'failed', result = ?, finished = ?, rev = ?"
                           " WHERE id = ?", (outcome, now, rev, row_id))
                jobs[job_id] = jobs.get(job_id, 0) + 1
            for job_id, count in jobs.items():
                self._tally(db, job_id, {(PENDING, FAILED): count}, rev, now)
            settled = self._settle(db, [(r[1], r[2], FAILED) for r in rows], rev, now)
            return self._notify(db, list(jobs) + settled), [(r[1], r[2]) for r in rows]

    @_retrying
    def demand(self) -> Dict[str, Tuple[int, int, Dict[str, Any]]]:
        """Per pool: (pending items ready to run, running items, the package of one job)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT pool, SUM(CASE WHEN blocked = 1 THEN 0 WHEN cpus > 0 THEN"
                " MIN(t_pending, MAX(cpus - t_running, 0)) ELSE t_pending END), SUM(t_running),"
                " MAX(package) FROM jobs WHERE status IN ('pending', 'running') GROUP BY pool"
            ).fetchall()
        return {r[0]: (r[1] or 0, r[2] or 0, json.loads(r[3])) for r in rows}

    @_retrying
    def lenders(self) -> int:
        """Running items that wait on nested jobs: each lends its slot to a helper worker."""
        with self._lock:
            return self.db.execute(
                "SELECT COUNT(DISTINCT parent) FROM jobs WHERE parent IS NOT NULL AND status IN"
                " ('pending', 'running', 'blocked')").fetchone()[0]

    @_retrying
    def active(self) -> bool:
        with self._lock:
            return self._active(self.db)

    @staticmethod
    def _active(db) -> bool:
        return db.execute("SELECT 1 FROM jobs WHERE status IN ('pending', 'running')"
                          " AND (t_pending > 0 OR t_running > 0) AND NOT"
                          " (blocked = 1 AND t_running = 0) LIMIT 1").fetchone() is not None


def _size(path: Optional[str]) -> Optional[int]:
    try:
        return os.path.getsize(path) if path else None
    except OSError:
        return None


def _read_tail(path: str, start: int, end: Optional[int], size: int = 4000) -> str:
    """The last ``size`` bytes of an item's output (``start`` to ``end`` of a worker log)."""
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END) if end is None else end
            begin = max(start or 0, end - size)
            handle.seek(begin)
            return handle.read(max(0, end - begin)).decode("utf-8", "replace")
    except OSError:
        return ""


def _count(moves: Dict[Tuple[str, str], int], move: Tuple[str, str]) -> None:
    moves[move] = moves.get(move, 0) + 1


def _chunks(seq: Sequence, size: int):
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _waiting_message(waiting: Sequence[Tuple[int, int]]) -> str:
    names = ["%d:%d" % ref for ref in waiting[:5]]
    return "waiting for %s%s" % (", ".join(names), ", …" if len(waiting) > 5 else "")


def _dependency_failure(dep_job: int, dep_idx: int, status: str, name: str,
                        outcomes: Optional[bytes]) -> bytes:
    from ... import payload
    return payload.encode_outcomes([payload.dependency_failure(dep_job, dep_idx, status, name,
                                                               outcomes)])
