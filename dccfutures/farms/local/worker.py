"""A local farm worker: one warm process that pulls work items from the store.

The supervisor starts it as ``python -m dccfutures.farms.local.worker`` in a process group of
its own (so a kill reaches whatever the item started), with a token in its environment that
every process its items start inherits (so what leaves the group is found too, see
processes.py), and it dies with the supervisor. Its pool comes in a private file, never on its
command line (a DCC job's cloned environment is part of it). Its stdout
and stderr go to one log file; each item records where its output starts and ends in it.

Fast items are claimed several at a time and reported together (about 20 ms of work per
transaction), which is what lets a 20,000-item map run at close to ProcessPoolExecutor speed;
slow items are claimed one by one, so no item waits behind another worker's queue. Batching
never holds a result back: a reporter thread sends what finished as soon as the item running
after it has taken ``REPORT_WITHIN``, and at the latest after ``FLUSH_WINDOW``. Before it is
reported, a finished item is written to the worker's finished file, so a kill or the worker's
death in between lands it instead of losing it.
"""
import argparse
import collections
import errno
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from ... import runtime
from ...runtime import Item, WorkSource
from ...runtime.loop import flush_stdio, job_context
from ...runtime.output import cap_bytes, punch_middle
from . import processes, wakeup
from .home import Home, finished_record
from .store import Claimed, Store, StorageError, TroubleLog, storage_error

CLAIM_WINDOW = 0.02     # seconds of work to claim at once
FLUSH_WINDOW = 0.02     # longest a finished item waits to be reported with others
REPORT_WITHIN = 0.005   # ... or behind an item still running
MAX_CLAIM = 64
TICK = 0.2              # how often progress and the current item are published


class LocalWorkSource(WorkSource):
    def __init__(self, home: Home, store: Store, pool: str, supervisor: int, heartbeat: float,
                 max_log: Optional[int] = None):
        self.home, self.store, self.pool, self.supervisor = home, store, pool, supervisor
        self.pid = worker_id()
        # In the environment of every process our items start: what they leave behind is
        # found and ended with us (see processes.py).
        self.token = os.environ.get(processes.WORKER_VAR, "")
        self.log_path = home.worker_log(self.pid)
        self.waker = wakeup.Waker(home.worker_fifo(self.pid))
        self.queue: Deque[Claimed] = collections.deque()
        self.jobs: Dict[int, dict] = {}
        self.duration: Optional[float] = None  # moving average of recent items' run time
        self.done: List[tuple] = []  # finished, not reported yet; under self._reports
        self.first_done = 0.0
        self._reports = threading.Condition()
        self._reporting = 0  # batches taken out of self.done whose transaction runs
        self.stopping = False
        self._item_started = 0.0
        self._running_since: Optional[float] = None  # read by the reporter thread
        self._log_start = 0
        self._lock = threading.Lock()
        self._current: Optional[Tuple[int, int, int]] = None
        self._progress: Dict[int, Tuple[int, float, Optional[str]]] = {}
        self._heartbeat = heartbeat
        self._max_log = max_log
        self.troubles = TroubleLog(_say)  # a full disk or a locked database: we wait it out
        self._item_fd = os.open(home.worker_item(self.pid), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                0o600)
        self._run = 0  # items started: tells one run of an item from an earlier one
        self._set_item(0, 0, 0)
        self._finished_fd = os.open(home.worker_finished(self.pid),
                                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._beat_store = Store(home.db)
        self._beat = threading.Thread(target=self._beat_loop, name="dccfutures-heartbeat",
                                      daemon=True)
        self._beat.start()
        self._reporter = threading.Thread(target=self._report_loop, args=(Store(home.db),),
                                          name="dccfutures-reporter", daemon=True)
        self._reporter.start()

    # -- the loop's side -----------------------------------------------------------------

    def request(self) -> Optional[Item]:
        while True:
            if self.queue and not self.stopping:
                if wakeup.pending(self.waker.fd):  # poked: maybe a queued item was killed
                    self.waker.drain()
                    try:
                        self.queue = collections.deque(self.store.owned(self.pid,
                                                                        list(self.queue)))
                    except StorageError as error:  # run them: a finish lands only if ours
                        self.troubles.failed(error)
                    continue
                claimed = self.queue.popleft()
                return Item(claimed.job_id, claimed.idx, claimed.package,
                            self.jobs[claimed.job_id], claimed)
            if self.stopping or supervisor_gone(self.supervisor):
                try:
                    self._flush(self.store)
                    self.store.release(self.pid, list(self.queue))
                except StorageError as error:  # the supervisor lands what our files say
                    self.troubles.failed(error)
                self.queue.clear()
                return None
            done, released = self._take(), None
            try:
                if done:  # report what ran and take what is next in one transaction
                    try:
                        released, claimed_items = self.store.finish_and_claim(
                            self.pid, done, self.pool, self._claim_size(), self.jobs,
                            notify_known=True)
                    finally:
                        self._taken(done, released is not None)
                    self.troubles.worked()
                    wakeup.poke_all({self.jobs[d[0].job_id]["notify"] for d in done
                                     if self.jobs.get(d[0].job_id, {}).get("notify")}
                                    | set(released))  # + whoever waits on what this released
                else:
                    claimed_items = self.store.claim(self.pid, self.pool, self._claim_size(),
                                                     self.jobs)
            except StorageError as error:  # a full disk, a locked database: wait, not die
                self.troubles.failed(error)
                self.waker.wait(1.0)
                continue
            self._remember_jobs(claimed_items)
            if claimed_items:
                self.queue.extend(claimed_items)
                continue
            self.waker.wait(1.0)  # a submit pokes us; the timeout is the fallback poll

    def _remember_jobs(self, claimed_items: List[Claimed]) -> None:
        for claimed in claimed_items:
            if claimed.job is not None:
                self.jobs[claimed.job_id] = _job_dict(claimed.job)
            else:
                self.jobs[claimed.job_id] = self.jobs.pop(claimed.job_id)  # recently used
        while len(self.jobs) > 256:  # a long-lived worker forgets the least recent jobs
            self.jobs.pop(next(iter(self.jobs)))

    def _set_item(self, row_id: int, attempt: int, log_start: int, run: int = 0) -> None:
        try:
            os.pwrite(self._item_fd, b"%020d %010d %020d %020d\n" % (row_id, attempt, log_start,
                                                                     run), 0)
        except OSError:  # a new file on a full disk: if we die, the item is given back
            pass

    def started(self, item: Item) -> None:
        if self.token and os.environ.get(processes.WORKER_VAR) != self.token:
            os.environ[processes.WORKER_VAR] = self.token  # the job's env must not hide us
        flush_stdio()
        self._log_start = os.lseek(1, 0, os.SEEK_END)
        self._run += 1
        self._set_item(item.token.row_id, item.token.attempt, self._log_start, self._run)
        self._item_started = self._running_since = time.monotonic()
        with self._lock:
            self._current = (item.job_id, item.work_id, self._log_start)

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        with self._lock:
            self._progress[item.token.row_id] = (item.token.attempt, fraction, message)

    def outcome(self, job_id: int, work_id: int) -> Optional[bytes]:
        status, result = self.store.results([(job_id, work_id)]).get((job_id, work_id),
                                                                     (None, None))
        return result if status == "complete" else None

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        self._running_since = None
        elapsed = time.monotonic() - self._item_started
        previous = self.duration
        self.duration = elapsed if previous is None else 0.7 * previous + 0.3 * elapsed
        log_end = os.lseek(1, 0, os.SEEK_END)
        # What it wrote since the heartbeat thread's last look is capped now: on a busy
        # machine that thread may have looked long ago (see runtime.output.OutputCap.ended).
        punch_middle(1, self._log_start, self._max_log)
        claimed = item.token
        record = finished_record(claimed.row_id, claimed.attempt, status, outcomes,
                                 self._log_start, log_end, self._run)
        with self._reports:
            # The record first, then the current item cleared: at every moment a kill or our
            # death finds the item running or finished (same run), never neither. Written
            # under the lock, so the reporter cannot empty the file between the two.
            self._write_finished(record)
            self._set_item(0, 0, 0)
            with self._lock:
                self._current = None
                self._progress.pop(claimed.row_id, None)
            if not self.done:
                self.first_done = time.monotonic()
                self._reports.notify()
            self.done.append((claimed, status, outcomes, self.log_path, self._log_start, log_end))
            full = len(self.done) >= MAX_CLAIM
        if full or (self.queue and elapsed > REPORT_WITHIN):
            try:
                self._flush(self.store)  # a slow item: its report costs little beside it
            except StorageError as error:  # kept, and reported once the store takes it
                self.troubles.failed(error)
        # otherwise request() reports it with its next claim, or the reporter thread does

    def _write_finished(self, record: bytes) -> None:
        """Add a finished item to our finished file. On a full disk it is kept in memory
        only (reported from there once the store takes it): a part written is taken back,
        or the records after it would not read."""
        try:
            written = os.write(self._finished_fd, record)
        except OSError as error:
            self.troubles.failed(storage_error(error, self.home.worker_finished(self.pid)))
            return
        if written < len(record):
            try:
                os.ftruncate(self._finished_fd, os.fstat(self._finished_fd).st_size - written)
            except OSError:
                pass
            self.troubles.failed(storage_error(OSError(errno.ENOSPC, "cut short"),
                                               self.home.worker_finished(self.pid)))

    def close(self) -> None:
        with self._reports:  # a batch the reporter thread is sending must not be cut off
            self._reports.wait_for(lambda: not self._reporting, timeout=self.store.timeout)
        try:
            self._flush(self.store)
        except StorageError as error:  # the supervisor lands what our finished file says
            self.troubles.failed(error)
        self.waker.close()

    def _take(self) -> List[tuple]:
        """The finished items to report now (each is reported by one transaction only)."""
        with self._reports:
            done, self.done = self.done, []
            if done:
                self._reporting += 1
            return done

    def _taken(self, done: List[tuple], landed: bool) -> None:
        """A report transaction ended. Once nothing waits to be reported, the finished file
        starts afresh; a report that failed is tried again."""
        with self._reports:
            self._reporting -= 1
            if not landed:
                self.done[:0] = done
            elif not self.done and not self._reporting:
                os.ftruncate(self._finished_fd, 0)
            self._reports.notify_all()

    def _flush(self, store: Store) -> None:
        done = self._take()
        if not done:
            return
        released = None
        try:
            released = store.finish(self.pid, done)
        finally:
            self._taken(done, released is not None)
        wakeup.poke_all(released)

    # -- the reporter thread -------------------------------------------------------------

    def _report_loop(self, store: Store) -> None:
        """Report what finished once the item running after it took ``REPORT_WITHIN``: a fast
        item is not held while its worker runs a slow one claimed with it. A run of fast
        items is left to the loop, which reports them with its next claim."""
        while True:
            with self._reports:
                while not self.done:
                    self._reports.wait()
                due = self.first_done + FLUSH_WINDOW
                running_since = self._running_since
                if running_since is not None:
                    due = min(due, running_since + REPORT_WITHIN)
                delay = due - time.monotonic()
                if delay > 0:
                    self._reports.wait(delay)
                    continue
            try:
                self._flush(store)
            except StorageError as error:  # a full disk, a locked database: tried again
                self.troubles.failed(error)
                time.sleep(0.1)
            except Exception as error:  # nothing must end the reports
                _say("reporting failed: %s" % error)
                time.sleep(0.1)

    def _claim_size(self) -> int:
        # Claim about CLAIM_WINDOW seconds of work: many no-ops at once, one render at a time.
        if self.duration is None:
            return 1
        return max(1, min(MAX_CLAIM, int(CLAIM_WINDOW / max(self.duration, 1e-5))))

    # -- the heartbeat thread ------------------------------------------------------------

    def _beat_loop(self) -> None:
        published: Optional[Tuple[int, int, int]] = None
        last_beat = 0.0
        while True:
            time.sleep(TICK)
            if supervisor_gone(self.supervisor):  # where PDEATHSIG did not reach us
                _leave_with_supervisor(self.token)
            with self._lock:
                current = self._current
                progress = [(row_id,) + value for row_id, value in self._progress.items()]
                self._progress.clear()
            if current is not None:  # a runaway print loop must not fill the disk
                punch_middle(1, current[2], self._max_log)
            now = time.monotonic()
            if current == published and not progress and now - last_beat < self._heartbeat:
                continue
            try:
                self._beat_store.heartbeat(self.pid, current, progress)
                published, last_beat = current, now
                self.troubles.worked()
            except StorageError as error:  # a full disk, a locked database: tried again
                self.troubles.failed(error)
            except Exception as error:  # nothing must kill the heartbeat
                _say("heartbeat failed: %s" % error)


def _say(message: str) -> None:
    """A line in our log, unless the disk is full (then it is lost, not us)."""
    try:
        print("dccfutures worker %d: %s" % (os.getpid(), message), file=sys.__stderr__,
              flush=True)
    except (OSError, ValueError):
        pass


def _until_stored(action, supervisor: int):
    """``action()``, tried again while the disk is full or the database locked: a worker
    that died of it would be started again, into the same error, over and over. Any other
    error ends us (and after a few in a row the supervisor fails the work with it)."""
    troubles, delay = TroubleLog(_say), 0.05
    while True:
        try:
            return action()
        except (StorageError, OSError) as error:
            trouble = error if isinstance(error, StorageError) else \
                storage_error(error, getattr(error, "filename", None) or "")
            if trouble.kind not in ("full", "locked", "io"):
                raise
            troubles.failed(trouble)
        if supervisor_gone(supervisor):
            os._exit(1)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _job_dict(row) -> dict:
    job_id, env, package, function, notify, name = row
    package = json.loads(package)
    return dict(job_context(package, function, json.loads(env)), name=name, notify=notify)


def worker_id() -> int:
    """Who this worker is to the supervisor: its process group, which the supervisor started
    (``start_new_session``). It is our pid, unless a launcher script (``maya``) started us as
    its child; then it is the launcher's, the pid the supervisor knows."""
    return os.getpgrp()


SUPERVISOR_STARTED: List[int] = []  # the supervisor's start time, from our command line


def supervisor_gone(supervisor: int) -> bool:
    """Whether the supervisor died: our parent changed (we were its child), or, when a
    launcher sits between us, the supervisor's pid is no more its own (its start time)."""
    parent = os.getppid()
    if parent == supervisor:
        return False
    if parent == 1:
        return True
    started = SUPERVISOR_STARTED[0] if SUPERVISOR_STARTED else 0
    if started:
        return not processes.alive(supervisor, started)
    try:  # its start time unknown: whether its pid is anyone's (signal 0 sends nothing)
        os.kill(supervisor, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _leave_with_supervisor(token: str) -> None:
    """The supervisor is gone (a launcher between us kept PR_SET_PDEATHSIG from us): end
    what our items started, then our process group with us. The next supervisor would, but
    none may start for a while."""
    processes.end_workers([(0, processes.start_time(worker_id()), token)])
    try:
        os.killpg(0, signal.SIGKILL)  # our own group
    finally:
        os._exit(1)


class _SetUp:
    """A bootstrap whose set-up already ran: the loop only tears it down."""

    def __init__(self, bootstrap: Any):
        self.bootstrap = bootstrap

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        self.bootstrap.teardown()


def _print_traceback() -> None:
    import traceback
    try:
        traceback.print_exc()
        sys.stderr.flush()
    except (OSError, ValueError):  # a full disk: the exit code says it
        pass


def _take_pool(path: str) -> str:
    """Our pool (interpreter, bootstrap, a DCC job's cloned environment), which the
    supervisor wrote to a private file rather than our command line, which anyone can read."""
    with open(path, encoding="utf-8") as handle:
        pool = handle.read()
    os.unlink(path)
    return pool


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the supervisor dies (elsewhere the heartbeat checks)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, encoding="utf-8", errors="replace")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="dccfutures-worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--pool-file", required=True, help="our pool (read, then removed)")
    parser.add_argument("--supervisor", type=int, required=True)
    parser.add_argument("--supervisor-start", type=int, default=0, help="its start time")
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument("--max-log-mb", type=float, default=None)
    args = parser.parse_args(argv)
    _die_with_parent()
    SUPERVISOR_STARTED[:] = [args.supervisor_start]
    if supervisor_gone(args.supervisor):
        os._exit(1)  # the supervisor died before PDEATHSIG was armed
    home = Home(args.home, create=False)
    pool = _take_pool(args.pool_file)
    _until_stored(lambda: _redirect_output(home.worker_log(worker_id())), args.supervisor)
    store = _until_stored(lambda: Store(home.db), args.supervisor)
    _until_stored(lambda: store.register_worker(
        worker_id(), pool, args.supervisor, home.worker_log(worker_id()),
        processes.start_time(worker_id()), os.environ.get(processes.WORKER_VAR)),
        args.supervisor)
    source = _until_stored(lambda: LocalWorkSource(home, store, pool, args.supervisor,
                                                   args.heartbeat, cap_bytes(args.max_log_mb)),
                           args.supervisor)

    def stop(signum, frame):
        source.stopping = True
        source.waker.poke_self()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the submitting terminal is not ours

    bootstrap = None
    spec = json.loads(pool)
    if spec.get("openjd"):  # the openjd farm's pool: each item is a task of an OpenJD session
        from ..openjd.farm import OpenJDRunner
        runtime.exit_process(OpenJDRunner(source, home.path).serve())
    if spec.get("bootstrap"):
        from ...runtime.bootstrap import load_bootstrap
        bootstrap = load_bootstrap(spec["bootstrap"])
    code = 0
    try:
        if bootstrap is not None:
            try:
                bootstrap.setup()
            except BaseException:  # the supervisor counts these and fails the work with it
                _print_traceback()
                runtime.exit_process(processes.SETUP_FAILED)
        runtime.serve(source, _SetUp(bootstrap) if bootstrap is not None else None)
    except BaseException:
        _print_traceback()
        code = 1
    runtime.exit_process(code)


if __name__ == "__main__":
    main()
