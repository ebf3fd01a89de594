"""The fake Qube supervisor: a background process that runs the subjobs of submitted jobs.

    python -m qb.supervisor --root ROOT --types DIR [--types DIR2] [--hosts N] [--slots M]

or, from a test, ``handle = start_supervisor(root, [types_dir]); ...; handle.stop()``.

Every ~20 ms it reaps subjob processes that ended, releases jobs and items whose dependencies
are met, runs the job callbacks whose triggers the recorded events met (in this process; see
the ``qb`` package docstring, "Callbacks"), and starts subjobs: a job with ``cpus = N`` gets up to N subjob processes (never more
than it has items to hand out), within the farm's ``hosts * slots`` processes. A subjob is
``[sys.executable, execute_library]`` of the jobtype folder named after the job's
``prototype``, found in the ``--types`` folders (as Qube's ``worker_template_path``); its
environment is the supervisor's, plus the job's ``env``, plus ``QBJOBID``, ``QBSUBID``,
``QB_FAKE_ROOT`` and a ``PYTHONPATH`` that starts with this fake's parent folder, so the
back-end's ``import qb`` gets the fake. Its stdout and stderr are appended to
``ROOT/logs/JOB/SUBID.out|err``. Subjobs run in their own process group and die with the
supervisor (PR_SET_PDEATHSIG on Linux); ``stop()`` kills them and hands their items back.

Not Qube API: this module is the fake's machinery. See the ``qb`` package docstring for the
semantics (retries, restarts, job status).
"""
import argparse
import configparser
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback

from . import _store

FAKES_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = 0.02
RESCAN = 0.25  # seconds between dispatch passes when nothing changed (retry delays)

_DONE_STATES = {"complete": ("complete",), "done": ("complete", "failed", "killed"),
                "failed": ("failed",), "killed": ("killed",)}


class JobTypeError(Exception):
    pass


def find_jobtype(prototype, types):
    """(python_file) of the jobtype ``prototype``: its job.conf's ``[execute module]``."""
    if not prototype or "/" in prototype or "\\" in prototype or prototype.startswith("."):
        raise JobTypeError("bad prototype %r" % (prototype,))
    for folder in types:
        conf = os.path.join(folder, prototype, "job.conf")
        if os.path.isfile(conf):
            break
    else:
        raise JobTypeError("no jobtype %r in the worker template path (%s)"
                           % (prototype, os.pathsep.join(types)))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(conf)
    except configparser.Error as error:
        raise JobTypeError("cannot read %s: %s" % (conf, error)) from None
    if not parser.has_section("execute module"):
        raise JobTypeError("%s has no [execute module] section" % conf)
    section = parser["execute module"]
    suffix = "_linux" if sys.platform.startswith("linux") else (
        "_osx" if sys.platform == "darwin" else "_win32")
    binding = section.get("execute_binding" + suffix, section.get("execute_binding"))
    library = section.get("execute_library" + suffix, section.get("execute_library"))
    if not binding or binding.strip().lower() != "python":
        raise JobTypeError("%s: execute_binding must be Python (the fake runs Python back-ends "
                           "only), got %r" % (conf, binding))
    if not library or not library.strip():
        raise JobTypeError("%s has no execute_library" % conf)
    path = os.path.join(os.path.dirname(conf), library.strip())
    if not os.path.isfile(path):
        raise JobTypeError("%s: execute_library %s does not exist" % (conf, path))
    return path


def _pdeathsig_setup():
    """A preexec function that makes the child die with its parent (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def setup():
        prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    return setup


class Supervisor(object):

    def __init__(self, root, types, hosts=4, slots=4, tick=TICK):
        self.root = os.path.abspath(root)
        self.types = [os.path.abspath(folder) for folder in types]
        self.hosts = ["qbfake%02d" % (index + 1) for index in range(max(1, hosts))]
        self.slots = max(1, slots)
        self.tick = tick
        self.procs = {}  # (jobid, subid) -> (Popen, host, count)
        self.stopping = False
        self.preexec = _pdeathsig_setup()
        self._version = None
        self._last_scan = 0.0

    # -- life ----------------------------------------------------------------------------

    def run(self):
        os.makedirs(self.root, exist_ok=True)
        lock = open(os.path.join(self.root, "supervisor.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            sys.stderr.write("qb fake supervisor: another supervisor runs for %s\n" % self.root)
            return 1
        self.conn = _store.connect(self.root)
        self.recover()
        with _store.write(self.conn):
            _store.meta_set(self.conn, "hosts", self.hosts)
            _store.meta_set(self.conn, "slots", self.slots)
            _store.meta_set(self.conn, "types", self.types)
            _store.meta_set(self.conn, "supervisor_pid", os.getpid())
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        sys.stdout.write("qb fake supervisor %d: root %s, %d hosts x %d slots, types %s\n"
                         % (os.getpid(), self.root, len(self.hosts), self.slots,
                            os.pathsep.join(self.types)))
        sys.stdout.flush()
        try:
            while not self.stopping:
                self.step()
                time.sleep(self.tick)
        finally:
            self.shutdown()
        return 0

    def _on_signal(self, signum, frame):
        self.stopping = True

    def step(self):
        changed = self.reap()
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        moment = time.monotonic()
        rescan = changed or version != self._version or moment - self._last_scan >= RESCAN
        if rescan:
            self._version = version
            self._last_scan = moment
            self.resolve_dependencies()
        if self.run_callbacks():
            # what the callbacks changed went through our own connection, which
            # data_version does not report: look again at the next tick
            rescan = True
            self._version = None
        if rescan:
            self.dispatch()

    def shutdown(self):
        """Kill every subjob (they are our children) and hand their items back."""
        for (jobid, subid), (proc, _, _) in list(self.procs.items()):
            for kill in (os.killpg, os.kill):
                try:
                    kill(proc.pid, signal.SIGKILL)
                    break
                except OSError:
                    continue
        for (jobid, subid), (proc, _, _) in list(self.procs.items()):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with _store.write(self.conn):
            for (jobid, subid) in self.procs:
                self._hand_back(jobid, subid)
            if _store.meta_get(self.conn, "supervisor_pid") == os.getpid():
                _store.meta_set(self.conn, "supervisor_pid", None)
        self.procs.clear()

    def _hand_back(self, jobid, subid):
        _store.release_items(self.conn, jobid, subid, lost=False)
        self.conn.execute("UPDATE subjobs SET status = 'pending', pid = 0, lastupdate = ? "
                          "WHERE jobid = ? AND id = ? AND status = 'running'",
                          (_store.now(), jobid, subid))
        _store.refresh(self.conn, jobid)

    def recover(self):
        """Subjobs a previous supervisor left 'running' (it was killed): kill what is left of
        them (only processes proven to be ours) and hand their items back."""
        rows = self.conn.execute("SELECT jobid, id, pid FROM subjobs WHERE status = 'running'"
                                 ).fetchall()
        for row in rows:
            _store.kill_subjob_process(row["pid"], row["jobid"], row["id"], self.root)
        with _store.write(self.conn):
            for row in rows:
                self._hand_back(row["jobid"], row["id"])

    # -- subjobs that ended ----------------------------------------------------------------

    def reap(self):
        ended = [(key, proc.returncode) for key, (proc, _, _) in self.procs.items()
                 if proc.poll() is not None]
        for (jobid, subid), code in ended:
            del self.procs[(jobid, subid)]
            self.ended(jobid, subid, code)
        return bool(ended)

    def ended(self, jobid, subid, code, message=None):
        """A subjob process is gone: its items are lost; no reportjob means a crash."""
        conn = self.conn
        stamp = _store.now()
        with _store.write(conn):
            row = conn.execute("SELECT status, restarts FROM subjobs WHERE jobid = ? AND id = ?",
                               (jobid, subid)).fetchone()
            if row is None:
                return  # removed
            back = _store.release_items(conn, jobid, subid, lost=True)
            status = row["status"]
            if status == "running":
                _store.append_log(self.root, jobid, subid, "err", message or (
                    "qb fake supervisor: subjob %d.%d exited with status %s without calling "
                    "qb.reportjob\n" % (jobid, subid, code)))
                todo = conn.execute("SELECT todo FROM jobs WHERE id = ?", (jobid,)).fetchone()[0]
                pending = conn.execute("SELECT COUNT(*) FROM work WHERE jobid = ? AND "
                                       "status = 'pending'", (jobid,)).fetchone()[0]
                if (not todo or pending or back) and \
                        row["restarts"] < _store.subjob_restarts(conn, jobid):
                    status = "pending"
                    conn.execute("UPDATE subjobs SET restarts = restarts + 1 WHERE jobid = ? "
                                 "AND id = ?", (jobid, subid))
                else:
                    status = "failed"
            conn.execute("UPDATE subjobs SET status = ?, pid = 0, timecomplete = ?, "
                         "lastupdate = ? WHERE jobid = ? AND id = ?",
                         (status, stamp, stamp, jobid, subid))
            _store.refresh(conn, jobid)

    # -- dependencies ----------------------------------------------------------------------

    def resolve_dependencies(self):
        conn = self.conn
        rows = conn.execute("SELECT id, deps, worklinks FROM jobs WHERE killed = 0 AND "
                            "(deps != '[]' OR worklinks != '[]')").fetchall()
        for row in rows:
            deps = json.loads(row["deps"])
            links = json.loads(row["worklinks"])
            if deps and all(self._job_reached(jobid, state) for jobid, state in deps):
                with _store.write(conn):
                    conn.execute("UPDATE jobs SET deps = '[]' WHERE id = ?", (row["id"],))
                    _store.refresh(conn, row["id"])
            if links:
                self._release_linked_work(row["id"], links)

    def _job_reached(self, jobid, state):
        row = self.conn.execute("SELECT status FROM jobs WHERE id = ?", (jobid,)).fetchone()
        return row is not None and row[0] in _DONE_STATES[state]

    def _release_linked_work(self, jobid, links):
        conn = self.conn
        waiting = conn.execute("SELECT idx, name FROM work WHERE jobid = ? AND linked = 1",
                               (jobid,)).fetchall()
        if not waiting:
            with _store.write(conn):
                conn.execute("UPDATE jobs SET worklinks = '[]' WHERE id = ?", (jobid,))
            return
        ready = None
        for other, state in links:
            states = _DONE_STATES[state]
            names = {name for (name,) in conn.execute(
                "SELECT name FROM work WHERE jobid = ? AND status IN (%s)"
                % ",".join("?" * len(states)), [other] + list(states))}
            ready = names if ready is None else ready & names
        release = [row["idx"] for row in waiting if row["name"] in ready]
        if release:
            with _store.write(conn):
                conn.executemany("UPDATE work SET status = 'pending', linked = 0, lastupdate = ? "
                                 "WHERE jobid = ? AND idx = ? AND linked = 1 AND "
                                 "status = 'blocked'",
                                 [(_store.now(), jobid, idx) for idx in release])
                _store.refresh(conn, jobid)

    # -- callbacks -------------------------------------------------------------------------

    def run_callbacks(self, batch=2000):
        """Match the recorded events (in order) against the pending callbacks' triggers, then
        run the code of those that fired. Returns whether there were events."""
        conn = self.conn
        if conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None:
            return False
        fired = []
        with _store.write(conn):
            events = conn.execute("SELECT * FROM events ORDER BY seq LIMIT ?",
                                  (batch,)).fetchall()
            if not events:
                return False
            conn.execute("DELETE FROM events WHERE seq <= ?", (events[-1]["seq"],))
            callbacks = {}
            index = {}  # (scope, jobid) -> [(callback id, term index)]
            for row in conn.execute("SELECT * FROM callbacks WHERE done = 0 ORDER BY id"):
                callback = dict(row)
                callback["terms"] = json.loads(row["terms"])
                callback["expr"] = json.loads(row["expr"])
                callback["latched"] = json.loads(row["latched"])
                callback["changed"] = False
                callbacks[row["id"]] = callback
                for position, term in enumerate(callback["terms"]):
                    index.setdefault((term["type"], term["job"]), []).append(
                        (row["id"], position))
            for event in events:
                hits = {}
                for cbid, position in index.get((event["scope"], event["jobid"]), ()):
                    callback = callbacks[cbid]
                    if callback["done"] or event["seq"] <= callback["since"]:
                        continue
                    if _store.term_matches(callback["terms"][position], event):
                        hits.setdefault(cbid, []).append(position)
                for cbid, positions in sorted(hits.items()):
                    callback = callbacks[cbid]
                    for position in positions:
                        callback["latched"][position] = True
                    callback["changed"] = True
                    if _store.evaluate(callback["expr"], callback["latched"]):
                        callback["count"] += 1
                        callback["latched"] = [False] * len(callback["terms"])
                        if 0 < callback["maximum"] <= callback["count"]:
                            callback["done"] = 1
                        fired.append((cbid, callback["jobid"], callback["code"],
                                      callback["count"], event))
            for cbid, callback in callbacks.items():
                if callback["changed"]:
                    conn.execute("UPDATE callbacks SET latched = ?, count = ?, done = ? "
                                 "WHERE id = ?", (_store.dumps(callback["latched"]),
                                                  callback["count"], callback["done"], cbid))
        for cbid, jobid, code, count, event in fired:
            self.execute_callback(cbid, jobid, code, count, event)
        return True

    def execute_callback(self, cbid, jobid, code, count, event):
        """Run a callback's Python code here, in the supervisor's interpreter and environment,
        with ``qb`` (this fake) in its namespace and ``qb.jobid()`` returning ``jobid``. What
        it prints, and its traceback if it raises, go to ROOT/logs/JOB/JOB.cb; an exception
        is also noted in the supervisor's log. Nothing it does stops the supervisor."""
        qb = sys.modules.get("qb")
        if qb is None:
            import qb
        path = _store.callback_log_path(self.root, jobid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        what = "%s-%s%s" % (event["status"], event["scope"],
                            "-" + event["name"] if event["scope"] == "work" else "")
        with open(path, "a") as log:
            log.write("qb fake supervisor: callback %d of job %d runs (count %d; event %s of "
                      "job %d)\n" % (cbid, jobid, count, what, event["jobid"]))
            log.flush()
            qb._callback_job = jobid
            try:
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                    exec(compile(code, "<callback %d of job %d>" % (cbid, jobid), "exec"),
                         {"__name__": "__qbcallback__", "qb": qb})
            except BaseException as error:  # SystemExit too: the supervisor carries on
                traceback.print_exc(file=log)
                sys.stdout.write("qb fake supervisor: callback %d of job %d raised %s: %s "
                                 "(traceback in %s)\n" % (cbid, jobid, type(error).__name__,
                                                           error, path))
                sys.stdout.flush()
            finally:
                qb._callback_job = None

    # -- starting subjobs ------------------------------------------------------------------

    def dispatch(self):
        capacity = len(self.hosts) * self.slots - len(self.procs)
        if capacity <= 0:
            return
        conn = self.conn
        jobs = conn.execute("SELECT id, cpus, todo FROM jobs WHERE status IN ('pending', "
                            "'running') AND killed = 0 AND held = 0 AND deps = '[]' "
                            "ORDER BY priority, id").fetchall()
        for job in jobs:
            if capacity <= 0:
                break
            jobid = job["id"]
            live = sum(1 for (j, _) in self.procs if j == jobid)
            if job["todo"]:
                handout, running = conn.execute(
                    "SELECT SUM(status = 'pending' AND notbefore <= ?), SUM(status = 'running') "
                    "FROM work WHERE jobid = ? AND status IN ('pending', 'running')",
                    (time.time(), jobid)).fetchone()
                idle = max(0, live - (running or 0))  # started, not (yet) holding an item
                want = min(job["cpus"] - live, (handout or 0) - idle)
                states = _store.SUBJOB_STARTABLE
            else:
                want = job["cpus"] - live
                states = ("pending",)
            if want <= 0:
                continue
            candidates = [row[0] for row in conn.execute(
                "SELECT id FROM subjobs WHERE jobid = ? AND status IN (%s) ORDER BY id"
                % ",".join("?" * len(states)), [jobid] + list(states))
                if (jobid, row[0]) not in self.procs]
            for subid in candidates[:min(want, capacity)]:
                if self.start(jobid, subid):
                    capacity -= 1

    def _pick_host(self):
        load = dict.fromkeys(self.hosts, 0)
        for _, host, _ in self.procs.values():
            load[host] = load.get(host, 0) + 1
        return min(self.hosts, key=lambda host: (load[host], host))

    def start(self, jobid, subid):
        conn = self.conn
        row = conn.execute("SELECT fields FROM jobs WHERE id = ?", (jobid,)).fetchone()
        if row is None:
            return False
        fields = json.loads(row["fields"])
        try:
            library = find_jobtype(fields.get("prototype"), self.types)
        except JobTypeError as error:
            self.fail_job(jobid, "qb fake supervisor: job %d cannot start: %s\n" % (jobid, error))
            return False
        host = self._pick_host()
        stamp = _store.now()
        with _store.write(conn):
            cur = conn.execute(
                "UPDATE subjobs SET status = 'running', pid = 0, host = ?, count = count + 1, "
                "preempt = 0, timestart = ?, timecomplete = 0, lastupdate = ? "
                "WHERE jobid = ? AND id = ? AND status IN (%s)"
                % ",".join("'%s'" % s for s in _store.SUBJOB_STARTABLE),
                (host, stamp, stamp, jobid, subid))
            if cur.rowcount != 1:
                return False
            count = conn.execute("SELECT count FROM subjobs WHERE jobid = ? AND id = ?",
                                 (jobid, subid)).fetchone()[0]
            _store.refresh(conn, jobid)
        env = dict(os.environ)
        env.update(fields.get("env") or {})
        env.update(QBJOBID=str(jobid), QBSUBID=str(subid), QB_FAKE_ROOT=self.root)
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = FAKES_DIR + (os.pathsep + path if path else "")
        out_path = _store.log_path(self.root, jobid, subid, "out")
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        try:
            with open(out_path, "ab") as out, \
                    open(_store.log_path(self.root, jobid, subid, "err"), "ab") as err:
                proc = subprocess.Popen([sys.executable, library], env=env, stdout=out,
                                        stderr=err, stdin=subprocess.DEVNULL, close_fds=True,
                                        start_new_session=True, preexec_fn=self.preexec)
        except OSError as error:
            self.ended(jobid, subid, None, "qb fake supervisor: cannot start %s: %s\n"
                       % (library, error))
            return False
        self.procs[(jobid, subid)] = (proc, host, count)
        with _store.write(conn):
            cur = conn.execute("UPDATE subjobs SET pid = ? WHERE jobid = ? AND id = ? AND "
                               "status = 'running' AND count = ?", (proc.pid, jobid, subid, count))
            orphan = cur.rowcount != 1
        if orphan:  # killed or removed while it was being started
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        return True

    def fail_job(self, jobid, message):
        """The job cannot run here (jobtype missing or malformed): its subjobs fail."""
        conn = self.conn
        stamp = _store.now()
        with _store.write(conn):
            subs = [row[0] for row in conn.execute(
                "SELECT id FROM subjobs WHERE jobid = ? AND status != 'running'", (jobid,))]
            for subid in subs:
                _store.append_log(self.root, jobid, subid, "err", message)
            conn.execute("UPDATE subjobs SET status = 'failed', timecomplete = ?, lastupdate = ? "
                         "WHERE jobid = ? AND status != 'running'", (stamp, stamp, jobid))
            conn.execute("UPDATE jobs SET reason = ? WHERE id = ?", (message.strip(), jobid))
            _store.refresh(conn, jobid)


# -- from tests ------------------------------------------------------------------------------

class SupervisorHandle(object):
    """A running fake supervisor (from :func:`start_supervisor`); ``stop()`` it."""

    def __init__(self, proc, root, log_path):
        self.proc = proc
        self.root = root
        self.log_path = log_path

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """Stop the supervisor: its subjobs are killed and their items handed back."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # If it had to be killed, its subjobs died with it (PDEATHSIG); make sure anyway.
        try:
            conn = _store.connect(self.root)
            rows = conn.execute("SELECT jobid, id, pid FROM subjobs WHERE status = 'running' "
                                "AND pid > 0").fetchall()
        except Exception:
            rows = []
        for row in rows:
            _store.kill_subjob_process(row["pid"], row["jobid"], row["id"], self.root)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_supervisor(root, types, hosts=4, slots=4, env=None, timeout=20.0):
    """Start ``python -m qb.supervisor`` for ``root`` (created if needed) with the jobtype
    folders ``types`` (a path or a list); returns a :class:`SupervisorHandle` once it runs.
    ``env``: the supervisor's environment (default: this process's), which subjobs inherit."""
    root = os.path.abspath(root)
    types = [types] if isinstance(types, str) else list(types)
    os.makedirs(root, exist_ok=True)
    command = [sys.executable, "-m", "qb.supervisor", "--root", root,
               "--hosts", str(hosts), "--slots", str(slots)]
    for folder in types:
        command += ["--types", os.path.abspath(folder)]
    environ = dict(os.environ if env is None else env)
    path = environ.get("PYTHONPATH", "")
    environ["PYTHONPATH"] = FAKES_DIR + (os.pathsep + path if path else "")
    environ[_store.ROOT_ENV] = root
    log_path = os.path.join(root, "supervisor.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    handle = SupervisorHandle(proc, root, log_path)
    conn = _store.connect(root)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _store.meta_get(conn, "supervisor_pid") == proc.pid:
            return handle
        if proc.poll() is not None:
            raise RuntimeError("the fake qb supervisor exited with %s:\n%s"
                               % (proc.returncode, handle.log()))
        time.sleep(0.01)
    handle.stop()
    raise RuntimeError("the fake qb supervisor did not start within %.0f s:\n%s"
                       % (timeout, handle.log()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m qb.supervisor",
                                     description="The fake Qube supervisor (tests only).")
    parser.add_argument("--root", default=os.environ.get(_store.ROOT_ENV),
                        help="the fake farm's state folder (default: $QB_FAKE_ROOT)")
    parser.add_argument("--types", action="append", required=True,
                        help="a folder of jobtypes (repeatable; like worker_template_path)")
    parser.add_argument("--hosts", type=int, default=4, help="worker hosts (default 4)")
    parser.add_argument("--slots", type=int, default=4,
                        help="subjob processes per host (default 4)")
    args = parser.parse_args(argv)
    if not args.root:
        parser.error("give --root or set %s" % _store.ROOT_ENV)
    os.environ[_store.ROOT_ENV] = os.path.abspath(args.root)
    return Supervisor(args.root, args.types, hosts=args.hosts, slots=args.slots).run()


if __name__ == "__main__":
    sys.exit(main())
