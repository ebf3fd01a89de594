"""The local farm's supervisor: one detached process per farm home.

It owns the workers (they are its children and die with it), starts them when there is work,
notices when one dies and gives its items back (or fails them with ``WorkerLostError`` once out
of attempts), ends what a worker's items started once the worker is gone (it is a child
subreaper, see processes.py) and items that run past their ``timelimit``, and leaves after
``local.idle_timeout`` seconds without work. A client starts it on first use; a lock file
guarantees there is only one.

It never unpickles anything: payloads are only ever loaded by workers.
"""
import argparse
import errno
import fcntl
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

from ... import config as config_module
from ... import payload, scene_copies
from ...runtime.bootstrap import worker_command
from ...errors import FarmError, TimeLimitError, WorkerLostError
from . import clean, processes, wakeup
from .home import Home, read_current_item, read_end, read_finished, take_output
from .store import LOW_SPACE, Store, StorageError, TroubleLog, free_bytes

CLEAN_EVERY = 3600.0
ENDED_EVERY = 1.0  # how often jobs that ended are looked for (scene copies, hooks, news)
ENDED_OVERLAP = 60.0  # look back this far again: a commit may wait behind others (busy DB)
EARLY_DEATHS = 3  # workers of a pool dying before they ever start: its interpreter is broken
MIN_CYCLE = 0.01  # a burst of submits pokes us thousands of times: look at most every 10 ms
# Once every pool with work has its workers, a stream of submits needs nothing of us: look
# every 50 ms instead (a new pool's first worker starts at most that much later). At 10 ms
# the supervisor's looks cost a tenth of the farm's CPU under a stream of separate submits.
SETTLED_CYCLE = 0.05
HEARTBEATS_EVERY = 0.5  # seconds between looks at the workers' heartbeats
CHECKPOINT_EVERY = 0.2  # seconds between copies of the WAL into the database (Store.checkpoint)
TROUBLE_QUIET = 5.0  # storage trouble not seen for this long is over (some looks are rare)
# Our log notes the job ids handed out so far at start and every this many jobs: a database
# made after a broken one hands out ids past them (see repair.py).
ID_NOTE_EVERY = 100
# A worker reports what it finished from a thread within milliseconds, unless its next item
# holds the GIL (most DCC commands): then we report it, from its finished file, once that
# file is this old. While workers run we look at least this often.
STALE_REPORT = 0.05


class Supervisor:
    def __init__(self, home: Home, store: Store, settings: config_module.LocalConfig,
                 lock_fd: Optional[int] = None):
        self.home, self.store, self.settings = home, store, settings
        self.lock_fd = lock_fd
        self.early_deaths: Dict[str, int] = {}
        self.retired = 0  # workers asked to leave to make room for another pool's
        self.reports_seen: Dict[int, Tuple[int, int]] = {}  # pid -> finished file looked at
        self.cpu_seen: Dict[int, int] = {}
        self.children: Dict[int, Tuple[str, subprocess.Popen]] = {}
        # Who each child is (its start time and the token its processes carry, see
        # processes.py), and the out-of-memory kills counted when it started.
        self.identity: Dict[int, Tuple[Optional[int], str]] = {}
        self.oom_kills: Dict[int, Optional[int]] = {}
        self.sent_kill: set = set()  # children we SIGKILLed
        self.signals: Dict[int, int] = {}  # reaped children: the signal that ended them
        self.limits: Dict[int, Tuple[Tuple[int, int], float]] = {}  # pid -> item, timelimit
        self.timed_out: Dict[int, Tuple[Tuple[int, int], float]] = {}
        self.started = processes.start_time(os.getpid())
        processes.become_subreaper()  # what items leave behind becomes ours, not init's
        self.start_logs: Dict[int, str] = {}  # a child's output until it opens its own log
        # Workers reaped whose end is not in the store yet (a full disk, a locked database):
        # pid -> (pool, how it ended, its output before it opened its log).
        self.unrecorded: Dict[int, Tuple[str, str, str]] = {}
        self.spared: set = set()  # workers missing heartbeats left alone on a full disk
        self.troubles = TroubleLog(log)
        self.starting = True  # our presence recorded, the last supervisor's workers recovered
        self.ids_noted = 0
        self.waker = wakeup.Waker(home.supervisor_fifo)
        self.stopping = False
        self.idle_since: Optional[float] = None
        self.last_clean = 0.0
        # Jobs that ended before this supervisor started were seen by an earlier one.
        self.ended_checked = time.time()
        self.ended_seen: Dict[Tuple[int, float], float] = {}  # (job, finished) -> seen at
        try:
            for job in store.ended_since(self.ended_checked - ENDED_OVERLAP):
                self.ended_seen[(job["id"], job["finished"])] = self.ended_checked
        except Exception as error:
            log("cannot read the jobs that ended lately: %s" % error)
        self.signal_r, signal_w = os.pipe()
        os.set_blocking(self.signal_r, False)
        os.set_blocking(signal_w, False)
        signal.set_wakeup_fd(signal_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, *_):
        self.stopping = True

    def _checkpoint(self) -> None:
        """Copy the WAL into the database (Store.checkpoint). A checkpoint that fails (a full
        disk) loses nothing and is tried again next time; the trouble itself is said by the
        work that needs the disk."""
        try:
            self.store.checkpoint()
        except StorageError:
            pass

    def run(self) -> None:
        try:
            heartbeats_checked = checkpointed = 0.0
            while not self.stopping:
                changed = False
                try:
                    if self.starting:
                        self.store.set_supervisor(True)
                        self._recover()
                        self._note_ids(self.store.next_job_id() - 1)
                        self.starting = False
                    changed = self._reap()
                    if time.monotonic() - heartbeats_checked > HEARTBEATS_EVERY:
                        heartbeats_checked = time.monotonic()
                        self._check_heartbeats()
                        self._check_timelimits()
                    changed = self._schedule() or changed
                    self._land_stale_reports()
                    if time.monotonic() - checkpointed > CHECKPOINT_EVERY:
                        checkpointed = time.monotonic()
                        self._checkpoint()
                    if time.time() - self.last_clean > CLEAN_EVERY:
                        self._clean()
                    if time.time() - self.ended_checked > ENDED_EVERY:
                        self._jobs_ended()
                    if self._idle_for() > self.settings.idle_timeout:
                        self._stop_workers()
                        if self._leave():
                            log("idle for %.0f s: leaving" % self.settings.idle_timeout)
                            break
                    if not self.unrecorded:
                        self.troubles.worked(TROUBLE_QUIET)
                except (StorageError, OSError) as error:
                    # A full disk, a locked or broken database: said once, tried again each
                    # cycle. Leaving would not help: every client would start a supervisor
                    # again, into the same error.
                    self.troubles.failed(error)
                time.sleep(MIN_CYCLE if changed or not self.children else SETTLED_CYCLE)
                ready, _, _ = select.select([self.waker.fd, self.signal_r], [], [],
                                            2 * STALE_REPORT if self.children else 1.0)
                if self.waker.fd in ready:
                    self.waker.drain()
                if self.signal_r in ready:
                    try:
                        os.read(self.signal_r, 4096)
                    except BlockingIOError:
                        pass
        finally:
            self._shutdown()

    def _recover(self) -> None:
        """Workers recorded by an earlier supervisor died with it: end what their items
        started, wherever it went (a render must not run twice side by side), then give their
        items back. A worker's pid is only signalled while it is still that worker."""
        stale = [row for row in self.store.workers() if row[0] not in self.children]
        processes.end_workers((row[0], row[8], row[9]) for row in stale)
        for row in stale:
            self._lost(row[0], "died with its supervisor (pid %d)" % row[2])
        try:
            names = os.listdir(self.home.run_dir)
        except OSError:
            names = []
        for name in names:
            if name.startswith("pool-"):  # for workers that never started: none will now
                _remove(os.path.join(self.home.run_dir, name))

    def _reap(self) -> bool:
        """Reap children that ended; True when a worker was among them."""
        reaped = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.children:
                reaped = True
                pool = self.children.pop(pid)[0]
                output = take_output(self.start_logs.pop(pid, ""))
                started, token = self.identity.pop(pid, (None, ""))
                _remove(self._pool_file(token))
                # What its items started ends with it: in its process group (kept by a
                # process we adopted) or anywhere else, found by its token.
                processes.end_workers([(pid, started, token)], groups=[pid])
                if os.WIFSIGNALED(status):
                    self.signals[pid] = os.WTERMSIG(status)
                    how = "was killed by %s" % _signal_name(os.WTERMSIG(status))
                elif os.WEXITSTATUS(status) == processes.SETUP_FAILED:
                    how = "could not set up"
                else:
                    how = "exited with code %d" % os.WEXITSTATUS(status)
                self.unrecorded[pid] = (pool, how, output or "")
        self._record_ends()
        return reaped

    def _record_ends(self) -> None:
        """Record how reaped workers ended. One the store cannot take now (a full disk, a
        locked database) waits for the next cycle; its files in run/ keep what it was
        running and what it finished, so nothing it did is lost meanwhile."""
        for pid, (pool, how, output) in list(self.unrecorded.items()):
            try:
                if self.store.registered(pid):
                    if output.strip():
                        log("worker %d wrote before it opened its log:\n%s"
                            % (pid, output.rstrip("\n")))
                    if how == "could not set up":  # its bootstrap raised: the log says why
                        reason = (read_end(self.home.worker_log(pid)) or "").rstrip("\n")
                        self._lost(pid, how)
                        self._died_early(pool, pid, how, reason)
                    else:
                        self.early_deaths.pop(pool, None)
                        self._lost(pid, how)
                else:
                    self._died_early(pool, pid, how, output.rstrip("\n"))
            except (StorageError, OSError) as error:
                self.troubles.failed(error)
                return
            del self.unrecorded[pid]

    def _died_early(self, pool: str, pid: int, how: str, output: str) -> None:
        """A worker that never got going: after a few in a row, fail the pool's work with the
        reason (a missing licence, a wrong interpreter) instead of respawning forever. The
        reason is that worker's own output, which no other process writes into."""
        count = self.early_deaths.get(pool, 0) + 1
        self.early_deaths[pool] = count
        log("worker %d %s before it started (%d in a row)%s"
            % (pid, how, count, ":\n" + output if output else ", printing nothing"))
        if count >= EARLY_DEATHS:
            self.early_deaths.pop(pool, None)
            what = ("the set-up of this work (%s: its scene, workspace or licence) failed %d "
                    "times in a row" if how == "could not set up" else
                    "the interpreter for this work (%%s) %s %%d times before it could start"
                    % how) % (_pool_label(_pool_spec(pool)), count)
            self._fail_pool(pool, "%s; %s" % (what, "its last output:\n" + output if output
                                              else "it printed nothing"))

    def _lost(self, pid: int, how: str) -> None:
        given_up: List[str] = []
        current = read_current_item(self.home.worker_item(pid))
        stopped = any(row[0] == pid and row[7] for row in self.store.workers())
        timed_out = self.timed_out.get(pid)
        verdict, note = None, ""
        if timed_out and current and tuple(current[:2]) == timed_out[0]:
            how = "was killed for running past its timelimit of %g s" % timed_out[1]
            verdict = _encode_time_limit(timed_out[1])
            given_up.append("after %g s: TimeLimitError" % timed_out[1])
        elif self.signals.get(pid) == signal.SIGKILL and not stopped and \
                pid not in self.sent_kill:
            note = _unexpected_kill(self.oom_kills.get(pid))

        def outcome(attempts: int, tail: str) -> bytes:
            error = WorkerLostError("the worker process (pid %d) running this item %s%s, on "
                                    "each of %d attempts" % (pid, how, note, attempts), tail,
                                    attempts)
            given_up.append("after %d attempts: WorkerLostError" % attempts)
            return payload.encode_outcomes([payload.failure(error, "")])
        self.reports_seen.pop(pid, None)
        item = self.store.item_ref(current[0]) if current else None
        running = "%d:%d" % item if item else "its item"
        doing = ", running %s (attempt %d)" % (running, current[1]) if current else \
            ", running no item"
        if stopped:
            doing += " (stopped on purpose%s)" % (": no attempt is charged" if current else "")
        finished = read_finished(self.home.worker_finished(pid))
        # Killed for an item that finished meanwhile: the one it ran next is not charged.
        wakeup.poke_all(self.store.worker_lost(pid, outcome, current, finished=finished,
                                               verdict=verdict,
                                               deliberate=bool(timed_out) and verdict is None))
        log("worker %d %s%s%s" % (pid, how, doing, note))  # once recorded: may be tried again
        for why in given_up:
            log("gave up %s %s" % (running, why))
        _remove(self.home.worker_fifo(pid))
        _remove(self.home.worker_item(pid))
        _remove(self.home.worker_finished(pid))
        for known in (self.signals, self.limits, self.timed_out, self.oom_kills):
            known.pop(pid, None)
        self.sent_kill.discard(pid)

    def _land_stale_reports(self) -> None:
        """Report the items a worker finished and could not report itself (see
        STALE_REPORT): one stat of its finished file per worker and look."""
        now = time.time()
        for pid in list(self.children):
            path = self.home.worker_finished(pid)
            try:
                info = os.stat(path)
            except OSError:
                continue
            seen = (info.st_mtime_ns, info.st_size)
            if not info.st_size or now - info.st_mtime < STALE_REPORT or \
                    self.reports_seen.get(pid) == seen:
                continue
            self.reports_seen[pid] = seen
            try:
                wakeup.poke_all(self.store.land_reports(
                    pid, read_current_item(self.home.worker_item(pid)), read_finished(path)))
            except StorageError as error:  # the worker reports them itself once it can
                self.troubles.failed(error)
            except Exception as error:
                log("reporting what worker %d finished failed: %s" % (pid, error))

    def _check_heartbeats(self) -> None:
        """Kill a worker whose heartbeat stopped, unless its CPU time still advances: a long
        call that holds Python's GIL (a big regex, some DCC commands) silences the heartbeat
        thread without the worker being hung."""
        deadline = time.time() - self.settings.lease_timeout
        for pid, _, _, heartbeat, *_ in self.store.workers():
            if pid not in self.children or heartbeat >= deadline:
                self.cpu_seen.pop(pid, None)
                self.spared.discard(pid)
                continue
            cpu, stopped = _cpu_time(pid)
            if cpu is not None and not stopped and cpu != self.cpu_seen.get(pid):
                self.cpu_seen[pid] = cpu
                continue
            free = free_bytes(self.home.path)
            if free is not None and free < LOW_SPACE and not stopped:
                if pid not in self.spared:  # its heartbeats may be what could not be written
                    self.spared.add(pid)
                    log("worker %d missed its heartbeats while the farm home's disk has no room "
                        "(%d bytes free): left running" % (pid, free))
                continue
            log("worker %d missed its heartbeats for %.0f s and is %s: killing it"
                % (pid, self.settings.lease_timeout, "stopped" if stopped else "idle"))
            self._kill(pid)

    def _check_timelimits(self) -> None:
        """End an item that ran longer than its job's ``timelimit`` (seconds, as Qube's):
        its worker is killed with everything the item started, and the item fails with
        ``TimeLimitError`` at once (see :meth:`_lost`). An item starts when its worker
        writes its current-item file, whose modification time therefore says when."""
        now = time.time()
        for pid in list(self.children):
            path = self.home.worker_item(pid)
            current = read_current_item(path)
            if current is None or pid in self.timed_out:
                continue
            known = self.limits.get(pid)
            if known is None or known[0] != tuple(current[:2]):
                known = self.limits[pid] = (tuple(current[:2]), self.store.timelimit(current[0]))
            try:
                ran = now - os.stat(path).st_mtime
            except OSError:
                continue
            if known[1] and ran > known[1]:
                item = self.store.item_ref(current[0])
                log("%s ran longer than its timelimit of %g s: killing worker %d with what it "
                    "started" % ("%d:%d" % item if item else "an item", known[1], pid))
                self.timed_out[pid] = known
                self._kill(pid)

    def _kill(self, pid: int) -> None:
        """SIGKILL a worker with its process group. It is our child, reaped only by
        :meth:`_reap`, which forgets it: until then its pid cannot be another's."""
        if pid in self.children:
            self.sent_kill.add(pid)
            _killpg(pid)

    def _schedule(self) -> bool:
        """Start workers where work waits for them; True when it started or retired any."""
        started = len(self.children)
        asked = self.retired
        demand = self.store.demand()
        capacity = self.settings.workers + self.store.lenders()
        by_pool: Dict[str, List[int]] = {}
        for pid, (pool, _) in self.children.items():
            by_pool.setdefault(pool, []).append(pid)
        for pool, (ready, running, package) in sorted(demand.items(), key=lambda kv: -kv[1][0]):
            idle = len(by_pool.get(pool, ())) - running
            wanted = ready - max(0, idle)
            if wanted <= 0:
                continue
            room = capacity - len(self.children)
            if room <= 0:
                self._retire_idle(demand, by_pool, wanted)
            for _ in range(min(wanted, max(0, room))):
                self._spawn(pool)
        return len(self.children) != started or self.retired != asked

    def _retire_idle(self, demand, by_pool, wanted: int) -> None:
        """Ask workers of pools with nothing to do to leave; their room opens once reaped."""
        for pool, pids in by_pool.items():
            ready, running, _ = demand.get(pool, (0, 0, None))
            if ready:
                continue
            for pid in pids[running:][:wanted]:
                self.retired += 1
                _signal(pid, signal.SIGTERM)
                wakeup.poke(self.home.worker_fifo(pid))
                wanted -= 1

    def _spawn(self, pool: str) -> None:
        spec = _pool_spec(pool)
        missing = (spec.get("bootstrap") or {}).get("missing")
        if missing:  # e.g. no mayapy configured for this Maya version: say so, start nothing
            self._fail_pool(pool, missing)
            return
        python = spec.get("python") or sys.executable
        # The pool (a DCC job's cloned environment among it) goes through a private file,
        # never the command line, which every user reads (ps) and which holds 128 KB at most.
        token = secrets.token_hex(8)
        pool_file = self._pool_file(token)
        try:
            _write_private(pool_file, pool)
        except OSError as error:
            self._fail_pool(pool, "cannot write %s for this job's work: %s" % (pool_file, error))
            return
        command = worker_command(python, spec.get("bootstrap"), "dccfutures.farms.local.worker",
                                 ["--home", self.home.path, "--pool-file", pool_file,
                                  "--supervisor", str(os.getpid()),
                                  "--supervisor-start", str(self.started or 0),
                                  "--heartbeat", str(self.settings.heartbeat),
                                  "--max-log-mb", str(self.settings.max_log_mb)])
        env = _worker_environment(spec.get("env"))
        env[processes.WORKER_VAR] = token
        start_log = self.home.new_start_log()
        try:
            with open(start_log, "ab") as log_file:
                child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         close_fds=True, env=env, cwd=self.home.path)
        except OSError as error:
            _remove(start_log)
            _remove(pool_file)
            self._fail_pool(pool, "cannot start %s for this job's work: %s" % (command[0], error))
            return
        self.children[child.pid] = (pool, child)
        self.identity[child.pid] = (processes.start_time(child.pid), token)
        self.oom_kills[child.pid] = processes.oom_kills()
        self.start_logs[child.pid] = start_log
        log("started worker %d for %s" % (child.pid, _pool_label(spec)))

    def _pool_file(self, token: str) -> str:
        """Where a worker we start reads its pool (see :meth:`_spawn`); it removes it."""
        return os.path.join(self.home.run_dir, "pool-%s" % token) if token else ""

    def _fail_pool(self, pool: str, reason: str) -> None:
        log(reason)
        fifos, failed = self.store.fail_pool(pool, reason, _encode_failure)
        if failed:
            names = ", ".join("%d:%d" % ref for ref in failed[:20])
            log("gave up %d pending item%s of %s: %s%s" % (
                len(failed), "" if len(failed) == 1 else "s", _pool_label(_pool_spec(pool)),
                names, ", ..." if len(failed) > 20 else ""))
        wakeup.poke_all(fifos)

    def _leave(self) -> bool:
        """Record our leaving and give up the farm's lock, unless work came in at the last
        moment: a client that submitted just now saw a supervisor and did not start one, so
        its job must not be left behind. The record and the look at the work are one
        transaction; a client reads the record in the one that inserts its job."""
        if self.lock_fd is None:
            return True
        if not self.store.set_supervisor(False, unless_active=True):
            self.idle_since = None  # work came in at the last moment: stay
            return False
        os.close(self.lock_fd)
        self.lock_fd = None
        return True

    def _idle_for(self) -> float:
        if self.store.active():
            self.idle_since = None
            return 0.0
        now = time.time()
        if self.idle_since is None:
            self.idle_since = now
        return now - self.idle_since

    def _jobs_ended(self) -> None:
        """For each job that ended since the last look, once: remove its scene copy (unless
        an active job or its live session still uses it), run its ``on_done`` hook, and tell
        the artist on the desktop when the session that submitted it is gone."""
        now = time.time()
        since, self.ended_checked = self.ended_checked, now
        try:
            ended = self.store.ended_since(since - ENDED_OVERLAP, self.ended_seen)
            if not ended:
                return
            for job in ended:
                self.ended_seen[(job["id"], job["finished"])] = now
            self._note_ids(max(job["id"] for job in ended))
            for key, seen in list(self.ended_seen.items()):
                if seen < now - 3 * ENDED_OVERLAP:
                    del self.ended_seen[key]
            _, active = self.store.scene_copies(now)
            for job in ended:
                self._job_ended(job, active)
        except StorageError as error:  # looked at again: ENDED_OVERLAP covers the gap
            self.troubles.failed(error)
        except Exception as error:
            log("looking at ended jobs failed: %s" % error)

    def _note_ids(self, highest: int) -> None:
        if highest and (not self.ids_noted or highest >= self.ids_noted + ID_NOTE_EVERY):
            self.ids_noted = highest
            log("job ids handed out so far: up to job %d" % highest)

    def _job_ended(self, job: Dict, active_copies: set) -> None:
        bootstrap = job["package"].get("bootstrap") or {}
        copy = bootstrap.get("file")
        if bootstrap.get("original") and copy and copy not in active_copies and \
                not scene_copies.owner_alive(copy, self.home.path):
            if scene_copies.remove(copy, self.home.path):
                log("removed scene copy %s" % copy)
        if job["package"].get("on_done"):
            self._run_hook(job)
        if job["notify"] and not _client_alive(job["notify"]):
            from ... import notify
            done, total = job["tally"].get("complete", 0), sum(job["tally"].values())
            notify.desktop("dccfutures job %d %s" % (job["id"], job["status"]),
                           "%s (%d/%d work items complete)" % (job["name"], done, total),
                           {"complete": "info", "failed": "error"}.get(job["status"],
                                                                       "warning"))

    def _run_hook(self, job: Dict) -> None:
        """``on_done``: in the farm's Python, with the submitter's sys.path; output to our
        log. Reaped with the workers (``_reap`` waits for any child). It starts in our home
        and moves to the job's folder only once its sys.path is clean (``python_command``):
        nothing in that folder is imported by accident."""
        from ...runtime.bootstrap import python_command
        package = job["package"]
        info = {"id": job["id"], "name": job["name"], "status": job["status"],
                "tally": job["tally"], "user": job["user"], "farm": "local"}
        command = python_command(sys.executable, "dccfutures.runtime.hooks", [
            package["on_done"], json.dumps(info), json.dumps(package.get("sys_path") or []),
            package.get("cwd") or "", json.dumps(package.get("sys_path_installed") or [])])
        env = dict(os.environ)
        env.update(job.get("env") or {})  # the job's environment, as its work had
        try:
            with open(self.home.supervisor_log, "ab") as log_file:
                subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                 stderr=subprocess.STDOUT, close_fds=True,
                                 env=_worker_environment(env), cwd=self.home.path)
            log("job %d ended %s: running on_done %s" % (job["id"], job["status"],
                                                          package["on_done"]))
        except OSError as error:
            log("cannot run on_done %s of job %d: %s" % (package["on_done"], job["id"], error))

    def _clean(self) -> None:
        self.last_clean = time.time()
        try:
            removed = clean.clean(self.home, self.store, self.settings.retention_days,
                                  live_workers=set(self.children))
            if removed:
                log("removed %d jobs older than %s days" % (removed, self.settings.retention_days))
        except StorageError as error:
            self.troubles.failed(error)
        except Exception as error:
            log("clean-up failed: %s" % error)

    def _shutdown(self) -> None:
        self._stop_workers()
        self.waker.close()
        if self.lock_fd is not None:  # stopped (farm stop): the next submit starts another
            try:
                self.store.set_supervisor(False)
            except Exception as error:
                log("cannot record that the supervisor stopped: %s" % error)

    def _stop_workers(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after 5 s); their items go back uncharged."""
        try:
            self.store.mark_stopping(self.children)
        except StorageError as error:  # they are stopped all the same
            self.troubles.failed(error)
        for pid in list(self.children):
            _signal(pid, signal.SIGTERM)
            wakeup.poke(self.home.worker_fifo(pid))
        deadline = time.time() + 5.0
        while self.children and time.time() < deadline:
            self._reap()
            time.sleep(0.02)
        for pid in list(self.children):
            _killpg(pid)
        deadline = time.time() + 2.0
        while self.children and time.time() < deadline:
            self._reap()
            time.sleep(0.02)


def _signal_name(number: int) -> str:
    """``signal 9 (SIGKILL)``: the number a TD can look up and the name they know."""
    try:
        return "signal %d (%s)" % (number, signal.Signals(number).name)
    except ValueError:
        return "signal %d" % number


def _encode_failure(reason: str) -> bytes:
    return payload.encode_outcomes([payload.failure(RuntimeError(reason), "")])


def _encode_time_limit(limit: float) -> bytes:
    error = TimeLimitError("this item ran longer than its timelimit of %g s and was ended, with "
                           "the processes it started" % limit, limit)
    return payload.encode_outcomes([payload.failure(error, "")])


def _unexpected_kill(oom_kills_before: Optional[int]) -> str:
    """What we can say of a SIGKILL we did not send: the kernel's out-of-memory killer
    sends those, and counts them (/proc/vmstat; no dmesg needed)."""
    now = processes.oom_kills()
    if oom_kills_before is not None and now is not None and now > oom_kills_before:
        return (" (not by dccfutures: most likely the kernel's out-of-memory killer, which "
                "ended %d process%s while this worker ran)"
                % (now - oom_kills_before, "" if now - oom_kills_before == 1 else "es"))
    return " (not by dccfutures: possibly the kernel's out-of-memory killer)"


def _write_private(path: str, text: str) -> None:
    """Write a new file only we can read (the farm home is ours alone as well)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "w", encoding="utf-8", closefd=False) as handle:
            handle.write(text)
    finally:
        os.close(fd)


def _pool_spec(pool: str) -> dict:
    import json
    return json.loads(pool)


def _pool_label(spec: dict) -> str:
    bootstrap = spec.get("bootstrap") or {}
    return "%s%s" % (spec.get("python"), " (%s)" % bootstrap.get("kind") if bootstrap else "")


def _worker_environment(cloned: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The supervisor's environment, or the one a DCC job cloned from the artist's session
    (a DCC boots with it: module paths, licences); dccfutures importable either way."""
    env = dict(cloned) if cloned else dict(os.environ)
    env.pop(processes.WORKER_VAR, None)  # a worker gets its own (see _spawn); a hook none
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    paths = [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _client_alive(fifo: str) -> bool:
    """Whether the session behind a client wake-up FIFO (``run/c-<pid>-<token>``) runs."""
    parts = os.path.basename(fifo).split("-")
    return len(parts) < 2 or not parts[1].isdigit() or scene_copies.pid_alive(int(parts[1]))


def _signal(pid: int, signum: int) -> None:
    """Signal a child of ours (not reaped yet, so its pid is its own)."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _killpg(pid: int) -> None:
    """SIGKILL a child of ours with the process group it leads."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        _signal(pid, signal.SIGKILL)


def _cpu_time(pid: int) -> Tuple[Optional[int], bool]:
    """(utime + stime in clock ticks, stopped?) of a process; (None, False) where unknown."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return None, False
    return int(fields[11]) + int(fields[12]), fields[0] in ("T", "t")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _open_log(path: str, start_log: Optional[str]) -> None:
    """From now on our output (and that of the hooks we run) goes to the supervisor's log;
    what we wrote before, into the client's start log, moves there too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    earlier = take_output(start_log) if start_log else None
    if earlier:
        print(earlier, end="" if earlier.endswith("\n") else "\n", flush=True)


def log(message: str) -> None:
    try:
        print("%s dccfutures supervisor %d: %s" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                   os.getpid(), message), flush=True)
    except OSError:  # a full disk: the line is lost, the supervisor must not be
        pass


def acquire_lock(home: Home, wait: float = 1.0) -> Optional[int]:
    """Take the farm's lock, or return None when another supervisor holds it."""
    fd = os.open(home.lock, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            # A client may hold a shared lock for a moment while checking on us.
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.01)
    try:  # in place, at a fixed width: a full disk has no room for a new block
        # With our start time: a client that reads an earlier supervisor's pid here (we hold
        # the lock, and have not written yet) must not signal whoever has that pid now.
        os.pwrite(fd, b"%-20d %-20d\n" % (os.getpid(), processes.start_time(os.getpid()) or 0),
                  0)
        os.ftruncate(fd, 42)
    except OSError:  # a new lock file on a full disk: clients see a supervisor starting
        pass
    return fd


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="dccfutures-supervisor")
    parser.add_argument("--home", required=True)
    parser.add_argument("--start-log", help="where the client saw our output until now")
    args = parser.parse_args(argv)
    try:
        home = Home(args.home)
    except FarmError as error:  # the client checked the home first: a race, said in one line
        print("dccfutures supervisor: %s" % error, file=sys.stderr)
        sys.exit(1)
    _open_log(home.supervisor_log, args.start_log)
    lock = acquire_lock(home)
    if lock is None:
        return  # another supervisor runs this home
    for name in ("QBLVL", "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID", processes.WORKER_VAR):
        os.environ.pop(name, None)  # the supervisor is nobody's job
    settings = config_module.load().local
    log("started (workers=%d, idle_timeout=%ss)" % (settings.workers, settings.idle_timeout))
    try:
        store = Store(home.db)
    except FarmError as error:  # a broken database: one line says what to do
        log("cannot open the farm database: %s" % error)
        sys.exit(1)
    Supervisor(home, store, settings, lock).run()
    log("stopped")


if __name__ == "__main__":
    main()
