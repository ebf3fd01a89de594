"""``Executor(farm="openjd")``: our OpenJD job bundles run on this machine by the reference
runtime (``openjd-sessions``), through the local farm's store, supervisor and home.

A submit stores its jobs exactly as the local farm does and writes each job's bundle under
the farm home (``openjd/<job id>``, private: its payloads are pickles). Its items go to a pool
of workers of their own, the local farm's workers, which instead of running an item in their
own interpreter run it as a task of an OpenJD session over the job's bundle: the bundle's
step environment boots the job's interpreter or DCC once per worker and job, each claimed
item is one task, and what the task wrote in the bundle's Output folder (result, progress,
log) is reported to the store as a local worker reports it. So results, logs, progress,
kill, retry, dependencies, attach, the CLI and the monitor are the local farm's own.

An OpenJD session runs nothing after a failed or cancelled task; the next item of that job
on that worker gets a new session (a fresh boot). A task whose interpreter died ends its
worker, as a crash ends a local worker: the supervisor charges the attempt and runs the item
again, up to ``local.max_attempts``. An interpreter or DCC that does not boot is booted again;
after three failed boots of a job in a row, on any worker, its items fail with the last boot's
output, as the local farm fails the work of a pool whose workers cannot set up.
"""
import dataclasses
import contextlib
import json
import os
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple

from ..base import JobSpec
from ...errors import FarmError
from ..local.farm import LocalFarm, _user
from ...runtime.loop import JOB_VAR, WORK_VAR

if TYPE_CHECKING:
    from ...runtime.openjd import LogTail

BUNDLES = "openjd"           # folder of the bundles in the farm home (in local.clean.JOB_FOLDERS)
BOOT_FAILURES = 3            # boots of one job failing in a row: its interpreter cannot start
BOOTS = ".boot-failures"     # in a bundle folder: that count, shared by the farm's workers
BUNDLE_WAIT = 30.0           # how long a worker waits for a bundle its submit is still moving
PROGRESS_EVERY = 0.1
READY = ".submitted"         # in a bundle folder once the bundle is whole


class OpenJDFarm(LocalFarm):
    """The local farm whose workers run each item as a task of an OpenJD session."""

    name = "openjd"

    def __repr__(self) -> str:
        return "<OpenJDFarm home=%s>" % self.home.path

    def submit(self, jobs: Sequence[JobSpec]) -> List[int]:
        """Store the jobs (as the local farm does) and write each job's bundle where the
        workers look for it (``openjd/<job id>``). A job's id is only known
        once stored, so the bundle is written after; a worker that claims an item before it
        is whole (its ``READY`` file) waits for it. A job its bundle cannot express (a
        reservation out of range) is refused before any is stored."""
        _need_runtime()
        from .bundle import host_requirements
        for job in jobs:
            host_requirements(job.fields)
        self.ensure_running()
        bundles_dir(self.home.path)
        parent = None
        if os.environ.get(JOB_VAR) and os.environ.get(WORK_VAR):
            parent = "%s:%s" % (os.environ[JOB_VAR], os.environ[WORK_VAR])
        pools = [pool_key() for _ in jobs]
        ids = self.store.insert_jobs(jobs, pools, self._client_waker().path, parent,
                                     self.config.local.max_attempts, _user())
        for job, job_id in zip(jobs, ids):
            _write(job, job_id, self.home.path, self.config.local.max_log_mb)
        if self.store.supervisor_left or not self._supervisor_holds_lock():
            self.ensure_running(force=True)
        self._wake_farm()
        return ids

    def retry(self, job_id: int, work_ids: Optional[Sequence[int]] = None) -> int:
        """Retry as the local farm does; a job whose boots failed too often boots again."""
        try:
            os.unlink(os.path.join(bundle_folder(self.home.path, job_id), BOOTS))
        except OSError:
            pass
        return super().retry(job_id, work_ids)

    def remove(self, job_ids: Sequence[int]) -> int:
        """Remove the jobs as the local farm does, and their bundles with them."""
        count = self.store.remove(job_ids)
        for job_id in job_ids:
            shutil.rmtree(bundle_folder(self.home.path, job_id), ignore_errors=True)
        return count


def _need_runtime() -> None:
    """Refuse at submit, not in every worker, when the OpenJD runtime is not installed."""
    import importlib.util
    try:
        found = importlib.util.find_spec("openjd.sessions") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise FarmError("the openjd farm needs the OpenJD runtime (openjd-sessions 0.13) in "
                        "%s: pip install 'dccfutures[openjd]'" % sys.executable)


def bundles_dir(home: str) -> str:
    path = os.path.join(home, BUNDLES)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def bundle_folder(home: str, job_id: int) -> str:
    return os.path.join(home, BUNDLES, str(int(job_id)))


def pool_key() -> str:
    """One pool of OpenJD workers: they run our plain Python (which has ``openjd-sessions``);
    each job's interpreter or DCC is booted by its bundle's step environment."""
    return json.dumps({"python": sys.executable, "openjd": True}, sort_keys=True)


def _write(job: JobSpec, job_id: int, home: str, max_log_mb: float) -> None:
    from .bundle import write_bundle
    outputs = {dep: os.path.join(bundle_folder(home, dep), "output")
               for work in job.work for dep, _ in work.depends_on if dep is not None}
    job = dataclasses.replace(job, package=dict(job.package, max_log_mb=max_log_mb))
    folder = write_bundle(job, bundle_folder(home, job_id), job_id=job_id, outputs=outputs)
    with open(os.path.join(folder, READY), "w"):
        pass


# -- the worker's side ------------------------------------------------------------------------

class _JobSession:
    """A worker's OpenJD session over one job's bundle, in one step's environment."""

    def __init__(self, bundle, step_of: Dict[int, str]):
        self.bundle, self.step_of = bundle, step_of
        self.session = None
        self.step: Optional[str] = None

    def close(self) -> None:
        session, self.session, self.step = self.session, None, None
        if session is not None:
            try:
                session.close()
            except Exception as error:  # a session that will not end must not end us
                print("dccfutures: closing an OpenJD session failed: %s" % error, flush=True)


class OpenJDRunner:
    """What a worker of the ``openjd`` pool runs in place of the item loop."""

    def __init__(self, source, home: str):
        self.source, self.home = source, home
        self.jobs: Dict[int, _JobSession] = {}
        self.sessions = 0

    def serve(self) -> int:
        try:
            while True:
                item = self.source.request()
                if item is None:
                    return 0
                self._run(item)
        finally:
            for job in self.jobs.values():
                job.close()
            self.source.close()

    def _job(self, job_id: int) -> _JobSession:
        job = self.jobs.get(job_id)
        if job is None:
            from .session import Bundle
            folder = bundle_folder(self.home, job_id)
            deadline = time.monotonic() + BUNDLE_WAIT
            while not os.path.exists(os.path.join(folder, READY)) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            bundle = Bundle(folder)
            step_of = {item: step.name for step in bundle.job.steps
                       for item in bundle.items(step)}
            for other in list(self.jobs)[:-3]:  # a long-lived worker keeps few DCCs booted
                self.jobs.pop(other).close()
            job = self.jobs[job_id] = _JobSession(bundle, step_of)
        return job

    def _enter(self, job: _JobSession, step: str) -> Optional[str]:
        """The job's session in ``step``'s environment; why not, when it could not boot."""
        from openjd.sessions import ActionState
        from .session import WorkerSession
        if job.session is not None and job.step == step:
            return None
        job.close()
        self.sessions += 1
        session = WorkerSession(job.bundle, "dccfutures-%d-%d" % (os.getpid(), self.sessions),
                                root=os.path.join(self.home, BUNDLES))
        status = session.enter(job.bundle.step(step))
        job.session, job.step = session, step
        if status is None or status.state != ActionState.SUCCESS:
            said = _action_output(session.log)
            job.close()
            return said
        return None

    def _boot(self, job_id: int, job: _JobSession, step: str) -> Optional[str]:
        """``_enter``, as the local farm boots a pool's workers: a boot that fails is tried
        again, and once ``BOOT_FAILURES`` boots of the job failed in a row, on any of the
        farm's workers, its items fail with the last boot's output and nothing boots it
        again until it is retried. Once one failed, the job's boots go one at a time (so
        two workers do not fail the same boot twice at once)."""
        if job.session is not None and job.step == step:
            return None
        try:
            count = _BootCount(bundle_folder(self.home, job_id))
        except OSError:  # its bundle folder is gone (the job removed): boot, uncounted
            return self._enter(job, step)
        try:
            while True:
                failed, output = count.read()
                if failed and not count.held:
                    count.hold()
                    continue  # read again, now that no other worker boots the job
                if failed >= BOOT_FAILURES:
                    return "the set-up of this work (%s) failed %d times in a row; its last " \
                           "output:\n%s" % (_label(job.bundle), failed, output or "(none)")
                why = self._enter(job, step)
                if why is None:
                    count.reset()
                    return None
                sys.stdout.write("dccfutures: the interpreter or DCC of job %s did not boot:\n%s\n"
                                 % (job_id, why))
                count.add(why)
        finally:
            count.close()

    def _run(self, item) -> None:
        from openjd.sessions import ActionState
        from ... import payload
        from .bundle import read_message, read_result
        from ...runtime.openjd import LogTail, session_log_path
        self.source.started(item)
        error: Optional[Exception] = None
        try:
            job = self._job(item.job_id)
        except Exception as found:  # its bundle is gone (the job removed) or unreadable
            error = FarmError("work item %s:%d cannot run: its bundle %s cannot be read: %s" % (
                item.job_id, item.work_id, bundle_folder(self.home, item.job_id), found))
        else:
            step = job.step_of.get(item.work_id)
            if step is None:
                error = FarmError("work item %s:%d cannot run: its bundle has no such task"
                                  % (item.job_id, item.work_id))
            else:
                why = self._boot(item.job_id, job, step)
                if why is not None:  # as the local farm fails a pool's work: RuntimeError
                    error = RuntimeError(why)
        if error is not None:
            sys.stdout.write("%s\n" % error)
            self.source.report(item, "failed",
                               payload.encode_outcomes([payload.failure(error, "")]))
            return
        output = job.bundle.output
        log = LogTail.from_end(session_log_path(output, job.session.working_directory))
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(item, output, log, done),
                                   daemon=True)
        watcher.start()
        try:
            status = job.session.run(item.work_id)
        finally:
            done.set()
            watcher.join()
        log.copy()
        found = read_result(output, item.work_id)
        if status is None or status.state != ActionState.SUCCESS:
            job.close()  # OpenJD runs nothing more in this session
        if found is not None and found[0] in ("complete", "failed"):
            self.source.report(item, found[0], found[1])
            return
        # Its interpreter died under it: this worker dies too, as a local worker does, and
        # the supervisor charges the attempt and runs the item again.
        print("dccfutures: work item %s:%d crashed: %s"
              % (item.job_id, item.work_id, read_message(output, item.work_id)
                 or "its OpenJD task ended with %s" % (status and status.exit_code)),
              flush=True)
        for other in self.jobs.values():
            other.close()
        from ...runtime import exit_process
        exit_process(1)

    def _watch(self, item, output: str, log: "LogTail", done: threading.Event) -> None:
        """While the task runs: its output into our log (where the local farm's ``log``
        finds it, live) and its progress to the store."""
        from .bundle import read_progress
        last = None
        while not done.wait(PROGRESS_EVERY):
            log.copy()
            try:
                found = read_progress(output, item.work_id)
            except (OSError, ValueError):
                continue
            if found is not None and found != last:
                last = found
                self.source.progress(item, found[0], found[1])


class _BootCount:
    """How many boots of one job failed in a row, and the last one's output: a file in the
    job's bundle folder that the farm's workers read and write under ``flock``."""

    def __init__(self, folder: str):
        self.fd = os.open(os.path.join(folder, BOOTS), os.O_RDWR | os.O_CREAT, 0o600)
        self.held = False

    def hold(self) -> None:
        """Keep the file locked until ``close``: no other worker boots the job meanwhile."""
        import fcntl
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.held = True

    def read(self) -> Tuple[int, str]:
        with self._locked():
            return self._read()

    def add(self, output: str) -> None:
        with self._locked():
            self._write(self._read()[0] + 1, output)

    def reset(self) -> None:
        with self._locked():
            if self._read()[0]:
                self._write(0, "")

    def close(self) -> None:
        os.close(self.fd)  # and with it the hold

    def _read(self) -> Tuple[int, str]:
        try:
            found = json.loads(os.pread(self.fd, 1 << 20, 0).decode("utf-8"))
            return int(found["failed"]), str(found["output"])
        except (OSError, ValueError, KeyError, TypeError):  # empty: none failed yet
            return 0, ""

    def _write(self, failed: int, output: str) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"failed": failed, "output": output}).encode("utf-8"), 0)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.held:
            yield
            return
        import fcntl
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)


def _action_output(log: List[str]) -> str:
    """What the failed onEnter printed (its lines after the session's ``Output:``), without
    the session's own framing; its last 40 lines."""
    lines = "\n".join(log).splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() == "Output:"]
    if starts:
        lines = lines[starts[-1] + 1:]
        lines = [line for line in lines if not line.startswith("Process pid ")]
        for index, line in enumerate(lines):
            if line.startswith("====="):  # the next phase of the session
                lines = lines[:index]
                break
    return "\n".join(line for line in lines[-40:]).strip()


def _label(bundle) -> str:
    """``<interpreter> (<bootstrap kind>)``, as the local farm names a pool's interpreter."""
    from ...runtime.openjd import FACTS
    from .bundle import PAYLOAD_FOLDER
    try:
        with open(os.path.join(bundle.folder, PAYLOAD_FOLDER, FACTS)) as handle:
            package = json.load(handle).get("package") or {}
    except (OSError, ValueError, AttributeError):
        package = {}
    kind = (package.get("bootstrap") or {}).get("kind")
    return "%s%s" % (package.get("python") or "python", " (%s)" % kind if kind else "")
