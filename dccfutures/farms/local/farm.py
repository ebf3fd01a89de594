"""The local farm as a client sees it: the Farm interface over the SQLite store.

Submits write straight to the database and poke the workers' FIFOs; nothing goes through the
supervisor, so a submit costs one transaction. If the supervisor is not running (first use, or
it was killed), the next submit, CLI call or waiting poller starts it again.
"""
import atexit
import errno
import fcntl
import getpass
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ...config import Config
from ...errors import FarmError
from ...config import load as load_config
from ...runtime.loop import JOB_VAR, WORK_VAR
from ...runtime.output import cap_bytes, read_capped
from ..base import REMOVED, Farm, JobInfo, JobSpec, JobState, WorkRef, WorkState
from . import processes, wakeup
from .home import HOME_VAR, Home, read_current_item, read_finished, take_output
from .store import Store, storage_error

SUPERVISOR_CHECK_EVERY = 1.0
SUPERVISOR_START_TIMEOUT = 10.0


class LocalFarm(Farm):
    """One machine, no server: a SQLite store, a supervisor and warm workers."""

    name = "local"
    pushes = True  # workers poke our FIFO when our jobs change

    def __init__(self, config: Optional[Config] = None, home: Optional[str] = None,
                 database: bool = True):
        """``database=False`` opens only the home: enough to look for the supervisor, stop
        it and :meth:`repair` the database, so that a farm whose database is broken can
        still be stopped and repaired."""
        self.config = config or load_config()
        self.home = Home(home)
        self.store = Store(self.home.db, prompt=True) if database else None
        self._poll_store: Optional[Store] = None
        self._waker: Optional[wakeup.Waker] = None
        self._waker_lock = threading.Lock()
        self._cursor = self.store.revision() if database else 0
        self._data_version = -1
        self._known: set = set()
        self._checked = 0.0
        self._workers_listed = -1
        self._worker_fifos: List[str] = []
        self._poker = wakeup.Poker()
        self._lock_fd: Optional[int] = None

    def __repr__(self) -> str:
        return "<LocalFarm home=%s>" % self.home.path

    # -- supervisor ----------------------------------------------------------------------

    def supervisor_pid(self) -> Optional[int]:
        """The running supervisor's pid, or None. Holding its lock file is what 'running' means."""
        found = self._supervisor()
        return None if found is None else found[0]

    def _supervisor(self) -> Optional[Tuple[int, Optional[int]]]:
        """``(pid, start time)`` of the running supervisor from its lock file (pid -1 while
        it starts), or None when none runs."""
        fd = _open_lock(self.home.lock)
        if fd is None:
            return None  # a read-only home where no supervisor ever ran
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                words = os.pread(fd, 64, 0).split()
                if not words or not words[0].isdigit():
                    return -1, None
                started = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
                return int(words[0]), started
            return None
        finally:
            os.close(fd)  # also drops our shared lock

    def _supervisor_holds_lock(self) -> bool:
        """Whether a supervisor holds the farm's lock: :meth:`supervisor_pid` for every
        submit, at two system calls on a lock file kept open."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self.home.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return True
            raise
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        return False

    def ensure_running(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < SUPERVISOR_CHECK_EVERY:
            return
        self._checked = now
        if self.supervisor_pid() is None:
            self.start_supervisor()

    def start_supervisor(self) -> None:
        """Start the supervisor detached: its own session, output to its log file only."""
        from ...interpreter import plain_python
        from ...runtime.bootstrap import python_command
        env = dict(os.environ)
        for name in ("QBLVL", JOB_VAR, WORK_VAR, processes.WORKER_VAR):
            env.pop(name, None)
        env[HOME_VAR] = self.home.path
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        python = plain_python(self.config)
        # Its output goes to a file of its own until it opens its log: if it cannot start,
        # the error shows what it said, and no line another process wrote meanwhile.
        try:
            start_log = self.home.new_start_log()
        except OSError as error:  # a full disk, a home turned read-only
            raise storage_error(error, self.home.log_dir) from error
        with open(start_log, "ab") as log_file:
            child = subprocess.Popen(
                python_command(python, "dccfutures.farms.local.supervisor",
                               ["--home", self.home.path, "--start-log", start_log]),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, env=env, cwd=self.home.path)
        # Reap it when it leaves, or a long Maya session collects zombies.
        threading.Thread(target=child.wait, name="dccfutures-reaper", daemon=True).start()
        deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
        while self.supervisor_pid() is None:
            if child.poll() is not None and self.supervisor_pid() is None:
                output = take_output(start_log)
                if child.returncode == 0:
                    return  # another client's supervisor won the lock: it runs
                raise FarmError("the local farm's supervisor (%s) failed to start (exit code %s)%s"
                                % (python, child.returncode, _said(output, self.home)))
            if time.monotonic() > deadline:
                raise FarmError("the local farm's supervisor (%s) did not start within %.0f s; "
                                "see %s" % (python, SUPERVISOR_START_TIMEOUT,
                                            self.home.supervisor_log))
            time.sleep(0.005)

    def stop_supervisor(self, timeout: float = 10.0) -> bool:
        """Stop the supervisor and its workers; True once it is gone. Running items are
        given back to pending and run again by the next supervisor. Signalled only once its
        lock file names it with its start time: a supervisor that took the lock and has not
        written it yet leaves an earlier one's pid there, maybe another process's now."""
        signalled = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._supervisor()
            if found is None:
                return True
            if found != signalled and processes.signal_process(found[0], found[1],
                                                               signal.SIGTERM):
                signalled = found
            time.sleep(0.02)
        return False

    # -- Farm ----------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSpec]) -> List[int]:
        self.ensure_running()
        pools = [pool_key(job) for job in jobs]
        parent = None
        if os.environ.get(JOB_VAR) and os.environ.get(WORK_VAR):
            parent = "%s:%s" % (os.environ[JOB_VAR], os.environ[WORK_VAR])
        ids = self.store.insert_jobs(jobs, pools, self._client_waker().path, parent,
                                     self.config.local.max_attempts, _user())
        # It may have left (idle) or died since our last look: a job must never be left
        # without one, even if this client exits right now.
        if self.store.supervisor_left or not self._supervisor_holds_lock():
            self.ensure_running(force=True)
        self._wake_farm()
        return ids

    def poll(self, job_ids: Iterable[int]) -> Dict[int, JobState]:
        store = self._poller_store()
        wanted = set(job_ids)
        new = sorted(wanted - self._known)
        version = store.data_version()
        if not new and version == self._data_version:
            return {}
        rows, gone, rev, statuses = store.changes(self._cursor, min(wanted) if wanted else 0, new)
        self._data_version = version  # only once the changes are in hand
        self._cursor = rev
        self._known |= set(new)
        self._known &= wanted | set(new)
        out: Dict[int, JobState] = {}
        for job_id, status in statuses:
            if job_id in wanted:
                out[job_id] = JobState(status)
        for job_id, idx, status, progress, message in rows:
            if job_id in wanted:
                state = out.get(job_id)
                if state is None:
                    state = out[job_id] = JobState("")
                state.work[idx] = WorkState(status, progress, message)
        for job_id in gone:
            if job_id in wanted:
                out[job_id] = JobState(REMOVED)
        return out

    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        return self._poller_store().results(items)

    def kill(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        return self.kill_many({job_id: work_ids})

    def kill_many(self, targets: Dict[int, Optional[Sequence[int]]]) -> int:
        """Kill items of many jobs in one transaction (``shutdown(cancel_futures=True)``).

        A worker running a killed item loses its whole process group (the item and whatever it
        started); a worker that only had one queued is poked to drop it, and keeps running.
        """
        count, held, notify = self.store.kill_many(targets, self._worker_files)
        doomed = []
        for pid, rows in held.items():
            current = read_current_item(self.home.worker_item(pid))
            if current is not None and current[0] in rows:
                doomed.append(pid)
            else:
                notify.append(self.home.worker_fifo(pid))
        if doomed:
            self.store.mark_stopping(doomed)  # so nothing else it held is charged
            # Only a worker that is still itself: after its supervisor died, its pid may be
            # anyone's. What its items started is ended by the supervisor once it is gone
            # (or by the next one's recovery: we start it).
            who = {row[0]: row[8] for row in self.store.workers()}
            if not all([processes.signal_process(pid, who.get(pid), signal.SIGKILL, group=True)
                        for pid in doomed]):
                try:
                    self.ensure_running(force=True)
                except FarmError:
                    pass  # the items are killed; the next call that needs it says why not
        wakeup.poke_all(notify + [self.home.supervisor_fifo])
        return count

    def repair(self) -> Tuple[Optional[str], int]:
        """Move a damaged or empty database aside for a new one whose job ids carry on after
        the old ones, stopping the farm first (see repair.py). Returns where the old one went
        (None when it was sound and nothing was done) and the new database's first job id."""
        from .repair import repair

        def stop() -> None:
            if not self.stop_supervisor():
                raise FarmError("the local farm's supervisor did not stop, and the database "
                                "cannot be repaired under it; see %s" % self.home.supervisor_log)
        return repair(self.home.path, stop)

    def _worker_files(self, pid: int):
        """What a worker runs and what it finished but has not reported (see home.py)."""
        return (read_current_item(self.home.worker_item(pid)),
                read_finished(self.home.worker_finished(pid)))

    def retry(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        self.ensure_running(force=True)
        count = self.store.retry(job_id, work_ids)
        self._wake_farm()
        return count

    def block(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        return self.store.block(job_id, work_ids, True)

    def unblock(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        self.ensure_running(force=True)
        count = self.store.block(job_id, work_ids, False)
        self._wake_farm()
        return count

    def log(self, job_id: int, work_id: int) -> str:
        where = self.store.log_slice(job_id, work_id)
        if where is None:
            return ""
        path, start, end = where
        return read_capped(path, start or 0, end, cap_bytes(self.config.local.max_log_mb),
                           "local.max_log_mb")

    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[int]] = None) -> List[JobInfo]:
        return self.store.jobs(limit, job_ids)

    def job(self, job_id: int) -> JobInfo:
        return self.store.job(job_id)

    def remove(self, job_ids: Sequence[int]) -> int:
        return self.store.remove(job_ids)

    def wait_for_change(self, timeout: float) -> bool:
        return self._client_waker().wait(timeout)

    def wake(self) -> None:
        """Interrupt a poller sleeping in :meth:`wait_for_change`."""
        self._client_waker().poke_self()

    def close(self) -> None:
        self._poker.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        with self._waker_lock:
            if self._waker is not None:
                self._waker.close()
                self._waker = None

    # -- helpers -------------------------------------------------------------------------

    def _client_waker(self) -> wakeup.Waker:
        with self._waker_lock:
            if self._waker is None:
                path = os.path.join(self.home.run_dir, "c-%d-%s" % (os.getpid(),
                                                                     secrets.token_hex(4)))
                try:
                    self._waker = wakeup.Waker(path)
                except OSError as error:  # a full disk has no room for one more name
                    raise storage_error(error, path) from error
                atexit.register(self.close)  # leave no FIFO behind in the farm home
            return self._waker

    def _poller_store(self) -> Store:
        if self._poll_store is None:
            self._poll_store = Store(self.home.db)
        return self._poll_store

    def _wake_farm(self) -> None:
        """Poke the workers and the supervisor. The list of FIFOs is read again whenever the
        run folder changes (a worker started or left), which one stat() tells."""
        try:
            listed = os.stat(self.home.run_dir).st_mtime_ns
        except OSError:
            listed = 0
        if listed != self._workers_listed:
            try:
                names = os.listdir(self.home.run_dir)
            except OSError:
                names = []
            self._worker_fifos = [os.path.join(self.home.run_dir, n) for n in names
                                  if n.startswith("w-")] + [self.home.supervisor_fifo]
            self._poker.forget_missing(self._worker_fifos)
            self._workers_listed = listed
        self._poker.poke(self._worker_fifos)


def _open_lock(path: str) -> Optional[int]:
    """The supervisor's lock file, to look at; read-only where the home is (None if it does
    not exist there): a farm on a disk that turned read-only can still be stopped."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _said(output: Optional[str], home: Home) -> str:
    """What a supervisor that failed to start said, for the error."""
    if output is None:  # it got as far as opening its log
        return "; see %s" % home.supervisor_log
    return ":\n" + output.rstrip("\n") if output.strip() else ", and printed nothing"


def pool_key(job: JobSpec) -> str:
    """Which warm workers may run a job: same interpreter, same bootstrap."""
    spec = {"python": job.package.get("python") or sys.executable}
    if job.package.get("bootstrap"):
        # A DCC job gets its own warm workers, booted with its scene, workspace and cloned
        # environment; plain jobs share the interpreter's pool.
        spec["bootstrap"] = job.package["bootstrap"]
        if job.package.get("env_cloned"):
            spec["env"] = job.env
    return json.dumps(spec, sort_keys=True)


_USER: List[str] = []


def _user() -> str:
    if not _USER:
        try:
            _USER.append(getpass.getuser())
        except Exception:
            _USER.append(str(os.getuid()))
    return _USER[0]
