"""A damaged or empty farm database is moved aside for a new one; job ids stay unique.

A job id must never name two jobs: sessions that are still waiting, scripts and the monitor
remember ids, and would take a new job for theirs. So a database made next to the remains of
an earlier farm (worker and supervisor logs, a database moved aside) hands out ids after the
highest one those remains show, rounded up to the next thousand. The supervisor's log notes
the ids handed out when it starts and every hundred jobs (and names jobs when items are given
up), so an id the remains do not show is still below that.
"""
import os
import re
import sqlite3
import time
from typing import Callable, Iterable, Optional, Tuple
from urllib.parse import quote

from .store import Store, StorageError

ID_BLOCK = 1000
# Where the supervisor's own lines name a job: "job 12 ended", "running 12:3", "gave up
# 12:3"; hooks also write to its log, so only lines in its own format are read.
_OWN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d dccfutures supervisor \d+: (.*)$")
_JOB_IDS = re.compile(r"\bjob (\d+)\b|(?<![\w:./-])(\d+):\d+(?![\w:])")


def has_history(home: str) -> bool:
    """Whether a farm ran in this home before: it left a supervisor or worker log, or a
    database moved aside."""
    logs = _names(os.path.join(home, "logs"))
    return ("supervisor.log" in logs or any(n.startswith("worker-") for n in logs)
            or bool(_set_aside(home)))


def first_job_id(home: str) -> int:
    """The first job id of a new database in ``home``: 1 for a new farm, else past the
    highest id its remains show, at the start of the next thousand."""
    if not has_history(home):
        return 1
    return (highest_job_id(home) // ID_BLOCK + 1) * ID_BLOCK + 1


def highest_job_id(home: str) -> int:
    """The highest job id named by the supervisor's log or a database moved aside (0 if
    none)."""
    highest = _highest_in_log(os.path.join(home, "logs", "supervisor.log"))
    for path in _set_aside(home):
        highest = max(highest, _highest_in_database(path))
    return highest


def repair(home: str, stop: Callable[[], None]) -> Tuple[Optional[str], int]:
    """Move a damaged or empty ``farm.db`` aside (with its -wal and -shm) and make a new one,
    after ``stop()`` stopped the farm. Returns where the old one went (None when it was sound:
    nothing is done) and the new database's first job id. A database that is full, read-only
    or locked is not damaged: its :class:`StorageError` says what to fix instead."""
    db = os.path.join(home, "farm.db")
    if os.path.exists(db) and not _broken(db):
        return None, _next_job_id(db)
    stop()
    aside = _aside_name(db)
    for suffix in ("", "-wal", "-shm"):
        try:
            os.rename(db + suffix, aside + suffix)
        except FileNotFoundError:
            pass
    # The new database's ids carry on after those of the one just moved aside.
    return (aside if os.path.exists(aside) else None), _next_job_id(db)


def _broken(db: str) -> bool:
    """Whether the database is damaged or empty (next to logs); a StorageError of any
    other kind (a full disk, read-only, locked) is raised: repair cannot fix that."""
    try:
        store = Store(db)
    except StorageError as error:
        if error.kind in ("damaged", "empty", "io"):
            return True
        raise
    try:
        return not store.healthy()
    except StorageError as error:
        if error.kind in ("damaged", "io"):
            return True
        raise
    finally:
        store.close()


def _next_job_id(db: str) -> int:
    store = Store(db)  # made here if missing
    try:
        return store.next_job_id()
    finally:
        store.close()


def _aside_name(db: str) -> str:
    base = "%s.broken-%s" % (db, time.strftime("%Y%m%d-%H%M%S"))
    name, count = base, 1
    while os.path.exists(name):
        count += 1
        name = "%s-%d" % (base, count)
    return name


def _set_aside(home: str):
    return [os.path.join(home, n) for n in _names(home)
            if n.startswith("farm.db.broken-") and not n.endswith(("-wal", "-shm"))]


def _names(folder: str) -> Iterable[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _highest_in_log(path: str) -> int:
    highest = 0
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                own = _OWN_LINE.match(line)
                if own:
                    for job, work_job in _JOB_IDS.findall(own.group(1)):
                        highest = max(highest, int(job or work_job))
    except OSError:
        pass
    return highest


def _highest_in_database(path: str) -> int:
    """The highest job id a database (maybe damaged) still shows; 0 if it shows none."""
    uri = "file:%s?mode=ro" % quote(path)
    for options in ("", "&immutable=1"):  # with its -wal if it can, else the file alone
        try:
            db = sqlite3.connect(uri + options, uri=True)
            try:
                row = db.execute("SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'jobs'"
                                 ).fetchone()
                removed = db.execute("SELECT MAX(job_id) FROM removed").fetchone()
            finally:
                db.close()
            return max(row[0] or 0, removed[0] or 0)
        except sqlite3.Error:
            continue
    return 0
