"""State of the fake Qube farm: one SQLite database (WAL) under ``$QB_FAKE_ROOT``.

Internal to the fake ``qb`` package: the client API (``qb/__init__.py``), the jobtype back-end
API (same module) and the fake supervisor (``qb/supervisor.py``) all read and write through
here, each process with its own connection. Every change is one ``BEGIN IMMEDIATE``
transaction, and every transaction that touches a job recomputes its ``status``,
``todotally`` and ``cpustally`` (:func:`refresh`), so a polling client never sees a tally and
a status that disagree.
"""
import contextlib
import json
import os
import signal
import sqlite3
import sys
import threading
import time

ROOT_ENV = "QB_FAKE_ROOT"
DB_NAME = "qb.sqlite"

# The states of JobTallyValidator.fields in Qube's qb module: every tally carries all of them.
TALLY_STATES = ("badlogin", "blocked", "complete", "failed", "killed", "pending", "running",
                "suspended", "unknown", "waiting")
WORK_TERMINAL = ("complete", "failed", "killed")
JOB_TERMINAL = ("complete", "failed", "killed")
# Subjob states from which the supervisor may (re)start an instance when there is work.
SUBJOB_STARTABLE = ("pending", "complete", "blocked", "waiting")

DEFAULT_PRIORITY = 9999          # supervisor_default_priority's default
DEFAULT_LOST_RETRIES = 1         # a lost item (its subjob died) is run once more by default
DEFAULT_SUBJOB_RESTARTS = 3      # a subjob that died is restarted this often by default

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    fields TEXT NOT NULL,
    name TEXT, prototype TEXT, user TEXT, cluster TEXT, groups_ TEXT,
    pgrp INTEGER, pid INTEGER, label TEXT, priority INTEGER, cpus INTEGER, todo INTEGER,
    killed INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    deps TEXT NOT NULL DEFAULT '[]',
    worklinks TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    todotally TEXT, cpustally TEXT,
    timesubmit INTEGER, timestart INTEGER NOT NULL DEFAULT 0,
    timecomplete INTEGER NOT NULL DEFAULT 0, lastupdate INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, priority, id);
CREATE TABLE IF NOT EXISTS work (
    jobid INTEGER NOT NULL, idx INTEGER NOT NULL,
    name TEXT NOT NULL, status TEXT NOT NULL,
    package TEXT NOT NULL DEFAULT '{}', resultpackage TEXT NOT NULL DEFAULT '{}',
    subid INTEGER NOT NULL DEFAULT -1, host TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL DEFAULT 0,
    retry INTEGER NOT NULL DEFAULT -1, retrydelay INTEGER NOT NULL DEFAULT -1,
    notbefore REAL NOT NULL DEFAULT 0, linked INTEGER NOT NULL DEFAULT 0,
    timesubmit INTEGER, timestart INTEGER NOT NULL DEFAULT 0,
    timecomplete INTEGER NOT NULL DEFAULT 0, lastupdate INTEGER,
    PRIMARY KEY (jobid, idx)
);
CREATE INDEX IF NOT EXISTS work_status ON work (jobid, status, idx);
CREATE INDEX IF NOT EXISTS work_name ON work (jobid, name);
CREATE TABLE IF NOT EXISTS subjobs (
    jobid INTEGER NOT NULL, id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    host TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0,
    count INTEGER NOT NULL DEFAULT 0, restarts INTEGER NOT NULL DEFAULT 0,
    preempt INTEGER NOT NULL DEFAULT 0,
    timesubmit INTEGER, timestart INTEGER NOT NULL DEFAULT 0,
    timecomplete INTEGER NOT NULL DEFAULT 0, lastupdate INTEGER,
    PRIMARY KEY (jobid, id)
);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    jobid INTEGER NOT NULL,
    triggers TEXT NOT NULL, code TEXT NOT NULL, language TEXT NOT NULL,
    user TEXT NOT NULL DEFAULT '',
    maximum INTEGER NOT NULL DEFAULT -1,
    count INTEGER NOT NULL DEFAULT 0,
    terms TEXT NOT NULL, expr TEXT NOT NULL, latched TEXT NOT NULL,
    since INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    timesubmit INTEGER
);
CREATE INDEX IF NOT EXISTS callbacks_job ON callbacks (jobid);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    jobid INTEGER NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS job_submit_event AFTER INSERT ON jobs
WHEN EXISTS (SELECT 1 FROM callbacks WHERE done = 0)
BEGIN
    INSERT INTO events (jobid, scope, name, status) VALUES (NEW.id, 'job', '', 'submit');
END;
CREATE TRIGGER IF NOT EXISTS job_status_event AFTER UPDATE OF status ON jobs
WHEN OLD.status != NEW.status AND EXISTS (SELECT 1 FROM callbacks WHERE done = 0)
BEGIN
    INSERT INTO events (jobid, scope, name, status) VALUES (NEW.id, 'job', '', NEW.status);
END;
CREATE TRIGGER IF NOT EXISTS work_status_event AFTER UPDATE OF status ON work
WHEN OLD.status != NEW.status AND EXISTS (SELECT 1 FROM callbacks WHERE done = 0)
BEGIN
    INSERT INTO events (jobid, scope, name, status)
    VALUES (NEW.jobid, 'work', NEW.name, NEW.status);
END;
"""

# Callback events (see the qb package docstring, "Callbacks"): what each event name of a
# trigger matches among the recorded transitions ('submit' is recorded when a job is
# inserted, every other event is a job's or a work item's new status).
EVENT_STATES = {"complete": ("complete",), "done": ("complete", "failed", "killed"),
                "failed": ("failed",), "killed": ("killed",), "running": ("running",),
                "blocked": ("blocked",), "waiting": ("waiting",), "submit": ("submit",)}


class FakeQbError(RuntimeError):
    """Misuse of the fake itself (no QB_FAKE_ROOT, not inside a subjob)."""


def root(required=True):
    path = os.environ.get(ROOT_ENV)
    if not path:
        if not required:
            return None
        raise FakeQbError(
            "qb (fake): set the environment variable %s to the folder that holds the fake "
            "Qube farm's state (tests: a tmp_path; see tests/test_fake_qb.py)" % ROOT_ENV)
    return os.path.abspath(path)


def now():
    return int(time.time())


# -- connections -------------------------------------------------------------------------

_connections = {}


def connect(path=None):
    """This thread's connection to the farm under ``path`` (default: $QB_FAKE_ROOT): one per
    process and thread, so a client's poller thread and its main thread never share a
    transaction."""
    path = path or root()
    key = (os.getpid(), threading.get_ident(), path)
    conn = _connections.get(key)
    if conn is None:
        os.makedirs(path, exist_ok=True)
        conn = sqlite3.connect(os.path.join(path, DB_NAME), timeout=60, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 60000")
        _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        _retry_locked(lambda: conn.executescript(_SCHEMA))
        _connections[key] = conn
    return conn


def _retry_locked(action, attempts=200):
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def write(conn):
    """One write transaction (BEGIN IMMEDIATE: writers queue up, nobody deadlocks)."""
    _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def read(conn):
    """One consistent snapshot for several SELECTs."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def meta_get(conn, key, default=None):
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else default


def meta_set(conn, key, value):
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))


# -- plain data --------------------------------------------------------------------------

def check_plain(value, what, path=""):
    """Raise TypeError unless ``value`` is str/int/float/list/dict (str keys), all the way
    down: what Qube's conversion of a package or resultpackage takes. ``None`` and booleans
    are refused too: Qube's packages are for strings, numbers, lists and dicts (qube-notes,
    "Client side"), and what becomes of a None or a bool on its way through the supervisor is
    not documented, so a caller must leave an empty key out and send a flag as a string."""
    if isinstance(value, bool) or value is None:
        raise TypeError("qb: %s%s is %r; packages hold only str, int, float, list and dict "
                        "(leave an empty key out; send a flag as a string)"
                        % (what, path, value))
    if isinstance(value, (str, int, float)):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_plain(item, what, "%s[%d]" % (path, index))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("qb: %s%s has a key %r of type %s; package keys must be str"
                                % (what, path, key, type(key).__name__))
            check_plain(item, what, "%s[%r]" % (path, key))
        return
    raise TypeError("qb: %s%s is a %s (%r); packages hold only str, int, float, list and "
                    "dict" % (what, path, type(value).__name__, value))


def plain_copy(value):
    """A deep copy of plain data as plain dicts and lists (QBObjects become dicts)."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


def dumps(value):
    return json.dumps(value, separators=(",", ":"))


# -- logs --------------------------------------------------------------------------------

def log_path(rootdir, jobid, subid, stream):
    return os.path.join(rootdir, "logs", str(jobid), "%d.%s" % (subid, stream))


def append_log(rootdir, jobid, subid, stream, text):
    path = log_path(rootdir, jobid, subid, stream)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(text.encode("utf-8", "replace"))


def callback_log_path(rootdir, jobid):
    """Where the supervisor writes what a job's callbacks print (and their tracebacks): the
    ``*.cb`` file in the job's log folder."""
    return os.path.join(rootdir, "logs", str(jobid), "%d.cb" % jobid)


# -- callbacks ---------------------------------------------------------------------------

def event_cursor(conn):
    """The seq of the last event ever recorded (0 if none): a callback created now reacts
    only to events after it."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return row[0] if row else 0


def evaluate(node, latched):
    """Evaluate a parsed trigger expression: ``["ev", i]`` is true once event term ``i`` has
    occurred (``latched[i]``); ``["and", [...]]``, ``["or", [...]]``."""
    kind = node[0]
    if kind == "ev":
        return bool(latched[node[1]])
    if kind == "and":
        return all(evaluate(child, latched) for child in node[1])
    return any(evaluate(child, latched) for child in node[1])


def term_matches(term, event):
    """Whether a resolved event term (``name``, ``type``, ``job``, ``work``) matches a recorded
    event row (``jobid``, ``scope``, ``name``, ``status``)."""
    if term["type"] != event["scope"] or term["job"] != event["jobid"]:
        return False
    if event["status"] not in EVENT_STATES[term["name"]]:
        return False
    return term["type"] == "job" or term["work"] in ("*", event["name"])


# -- processes ---------------------------------------------------------------------------

def is_our_subjob(pid, jobid, subid, rootdir):
    """Whether ``pid`` is still the process the fake started for ``jobid.subid`` of the farm
    at ``rootdir`` (so a kill never hits a recycled pid or another farm's subjob). Linux
    checks /proc/PID/environ; elsewhere, trust the pid."""
    if pid <= 0:
        return False
    if not sys.platform.startswith("linux"):
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            env = handle.read().split(b"\0")
    except OSError:
        return False
    return (("QBJOBID=%d" % jobid).encode() in env and ("QBSUBID=%d" % subid).encode() in env
            and ("%s=%s" % (ROOT_ENV, rootdir)).encode() in env)


def kill_subjob_process(pid, jobid, subid, rootdir):
    """SIGKILL the process group of a subjob (its back-end and anything it started)."""
    if is_our_subjob(pid, jobid, subid, rootdir):
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
                return True
            except OSError:
                continue
    return False


# -- job status --------------------------------------------------------------------------

def tally(conn, table, jobid):
    counts = dict.fromkeys(TALLY_STATES, 0)
    for status, count in conn.execute(
            "SELECT status, COUNT(*) FROM %s WHERE %s = ? GROUP BY status"
            % (table, "jobid"), (jobid,)):
        counts[status] = counts.get(status, 0) + count
    return counts


def refresh(conn, jobid):
    """Recompute a job's status and tallies from its work and subjobs (inside a write)."""
    job = conn.execute("SELECT status, killed, held, deps, todo, timestart, timecomplete "
                       "FROM jobs WHERE id = ?", (jobid,)).fetchone()
    if job is None:
        return None
    todotally = tally(conn, "work", jobid)
    cpustally = tally(conn, "subjobs", jobid)
    status = job_status(job, todotally, cpustally)
    stamp = now()
    timestart = job["timestart"] or (stamp if cpustally["running"] or todotally["running"] else 0)
    timecomplete = (job["timecomplete"] or stamp) if status in JOB_TERMINAL else 0
    conn.execute("UPDATE jobs SET status = ?, todotally = ?, cpustally = ?, timestart = ?, "
                 "timecomplete = ?, lastupdate = ? WHERE id = ?",
                 (status, dumps(todotally), dumps(cpustally), timestart, timecomplete, stamp,
                  jobid))
    return status


def job_status(job, work, subjobs):
    """The rules (see the package docstring, "Job status")."""
    if job["killed"]:
        return "killed"
    if job["held"] or json.loads(job["deps"]):
        return "blocked"
    live = subjobs["running"]
    startable = sum(subjobs[state] for state in SUBJOB_STARTABLE)
    if job["todo"]:
        if not (work["pending"] or work["running"] or work["blocked"]):
            return "failed" if work["failed"] else "killed" if work["killed"] else "complete"
        if work["running"] or live:
            return "running"
        if work["pending"]:
            return "pending" if startable else "failed"  # nothing left that could run it
        return "blocked"                                  # only blocked items are left
    if live:
        return "running"
    if startable and subjobs["pending"]:
        return "pending"
    return "complete" if subjobs["failed"] == subjobs["killed"] == 0 else "failed"


def item_retries(conn, jobid, retry, lost):
    """How many automatic retries an item gets: the work's ``retry`` if set, else the job's
    ``retrywork``, else 0 after a reported failure and DEFAULT_LOST_RETRIES after a loss."""
    if retry is not None and retry >= 0:
        return retry
    fields = job_fields(conn, jobid)
    value = fields.get("retrywork")
    if isinstance(value, int) and value >= 0:
        return value
    return DEFAULT_LOST_RETRIES if lost else 0


def item_delay(conn, jobid, retrydelay):
    if retrydelay is not None and retrydelay >= 0:
        return retrydelay
    value = job_fields(conn, jobid).get("retrywork_delay")
    return value if isinstance(value, (int, float)) and value > 0 else 0


_fields_cache = {}


def job_fields(conn, jobid):
    """The submitted (immutable) fields of a job, cached per process."""
    fields = _fields_cache.get((id(conn), jobid))
    if fields is None:
        row = conn.execute("SELECT fields FROM jobs WHERE id = ?", (jobid,)).fetchone()
        fields = json.loads(row[0]) if row else {}
        if row:
            _fields_cache[(id(conn), jobid)] = fields
    return fields


def retry_or_fail(conn, jobid, idx, count, retry, retrydelay, lost):
    """After a failure (``lost``: its subjob died holding it): back to pending while retries
    are left (after the retry delay), else failed. Returns the new status."""
    if count <= item_retries(conn, jobid, retry, lost):
        delay = item_delay(conn, jobid, retrydelay)
        conn.execute("UPDATE work SET status = 'pending', subid = -1, notbefore = ?, "
                     "lastupdate = ? WHERE jobid = ? AND idx = ?",
                     (time.time() + delay, now(), jobid, idx))
        return "pending"
    conn.execute("UPDATE work SET status = 'failed', timecomplete = ?, lastupdate = ? "
                 "WHERE jobid = ? AND idx = ?", (now(), now(), jobid, idx))
    return "failed"


def release_items(conn, jobid, subid, lost=True):
    """Items still running on a subjob that is gone: retried or failed (``lost``), or simply
    handed back (the supervisor stopped). Returns how many went back to pending."""
    back = 0
    rows = conn.execute("SELECT idx, count, retry, retrydelay FROM work WHERE jobid = ? AND "
                        "status = 'running' AND subid = ?", (jobid, subid)).fetchall()
    for row in rows:
        if lost:
            back += retry_or_fail(conn, jobid, row["idx"], row["count"], row["retry"],
                                  row["retrydelay"], lost=True) == "pending"
        else:
            conn.execute("UPDATE work SET status = 'pending', subid = -1, lastupdate = ? "
                         "WHERE jobid = ? AND idx = ?", (now(), jobid, row["idx"]))
            back += 1
    return back


def subjob_restarts(conn, jobid):
    value = job_fields(conn, jobid).get("retrysubjob")
    return value if isinstance(value, int) and value >= 0 else DEFAULT_SUBJOB_RESTARTS
