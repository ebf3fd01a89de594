"""The OpenCue side of dccfutures: what RQD runs for a frame of one of our jobs.

A dccfutures job on OpenCue has one layer whose frames are the job's work items: frame N is
work item N (frames count from 0, as work ids do). DCC work is chunked, so a frame runs the
items ``#FRAME_START#`` to ``#FRAME_END#`` and the DCC boots once per chunk, not per item.
RQD runs the layer's command, ``<python> -c SAFE_RUN dccfutures.runtime.opencue --job TOKEN
--first N --last M``, with the job's user, a minimal environment and our ``PYTHONPATH``.

Nothing of ours travels through Cuebot but that command line: payloads, the job's facts (its
interpreter, bootstrap, ``sys.path``, cloned environment), results and progress live in one
folder per job, ``dccfutures-<token>``, directly inside ``opencue.spool_dir``, a folder the
artists' machines and the render hosts share. As on Qube, each side trusts only the spool
folder its OWN config names (the frame's: the config of the account RQD runs it as, or the
``DCCFUTURES_CONFIG`` RQD passes on); the command line names a token, never a path.

Results: ``result-N.bin`` (the item's status, a newline, its encoded outcomes) is written
when the item ends, never held back behind the rest of its chunk; a frame run again (Cuebot's
retry after a crash) skips the items that have one, so a finished item stays finished. A
call that raises fails its item, not the frame: the frame exits 0 once every item of it has
a result, so the items that depend on it run and fail naming it, as on the other farms. A
frame that exits otherwise crashed (the DCC died, RQD killed it) and Cuebot retries it.

DCC work runs as on Qube (see :mod:`dccfutures.runtime.qube`): this process keeps the spool
and the log markers and starts the DCC as its child once per frame, feeding it the chunk's
items over a private pipe (:mod:`dccfutures.runtime.child`).
"""
import json
import os
import re
import sys
import traceback
import uuid
from typing import Any, Dict, List, Optional, Tuple

from .. import payload
from ..errors import DccFuturesError
from ..spool import write_whole
from .loop import (Item, WorkSource, exit_process, flush_stdio, job_context,
                   line_buffered_stdio, serve)
from .output import ItemsInOneLog

MODULE = "dccfutures.runtime.opencue"
TOKEN = re.compile(r"^[0-9a-f]{32}\Z")
JOB_FOLDER = "dccfutures-%s"
JOB_FILE, FUNCTION_FILE = "job.json", "function.bin"
COMPLETE, FAILED, KILLED = "complete", "failed", "killed"


# -- the spool folder of a job, shared by the client and the frames --------------------------

class SpoolError(DccFuturesError):
    """A job's spool folder is missing, not ours, or not where the config says."""


def new_token() -> str:
    return uuid.uuid4().hex


def job_folder(spool_dir: Optional[str], token: str, create: bool = False) -> str:
    """The folder of job ``token`` in ``spool_dir`` (the config's ``opencue.spool_dir``).

    Only ``dccfutures-<32 hex>`` directly inside the spool folder, and not a link to
    elsewhere: a token is data whoever launched the job wrote."""
    if not spool_dir:
        raise SpoolError("the dccfutures config here sets no opencue.spool_dir: OpenCue jobs "
                         "keep their payloads and results in that folder (shared storage the "
                         "artists' machines and the render hosts both see)")
    if not isinstance(token, str) or not TOKEN.match(token):
        raise SpoolError("%r is not a dccfutures job token" % (token,))
    folder = os.path.join(spool_dir, JOB_FOLDER % token)
    if create:
        os.makedirs(spool_dir, exist_ok=True)
        os.mkdir(folder, 0o770)  # the render hosts may run frames as another account
    if os.path.islink(folder) or os.path.dirname(os.path.realpath(folder)) != \
            os.path.realpath(spool_dir):
        raise SpoolError("%s is not a dccfutures job folder inside the spool folder %s "
                         "(opencue.spool_dir of the dccfutures config here)" % (folder, spool_dir))
    if not os.path.isdir(folder):
        raise SpoolError("the spool folder of this job is gone: %s" % folder)
    return folder


def write_file(folder: str, name: str, data: bytes) -> None:
    """Write ``folder/name`` whole: readers never see half a file."""
    write_whole(os.path.join(folder, name), data)


def read_file(folder: str, name: str) -> Optional[bytes]:
    """``folder/name``, or None when it does not exist; a link is refused (never followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(os.path.join(folder, name), flags)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def remove_file(folder: str, name: str) -> None:
    try:
        os.unlink(os.path.join(folder, name))
    except FileNotFoundError:
        pass


def work_file(index: int) -> str:
    return "work-%d.bin" % index


def result_file(index: int) -> str:
    return "result-%d.bin" % index


def retry_file(index: int) -> str:
    """Marks an item a client sent to run again, until its new result is written."""
    return "retry-%d" % index


def progress_file(index: int) -> str:
    return "progress-%d.json" % index


def pack_result(status: str, outcomes: Optional[bytes]) -> bytes:
    return status.encode("ascii") + b"\n" + (outcomes or b"")


def unpack_result(data: bytes) -> Tuple[str, Optional[bytes]]:
    status, _, outcomes = data.partition(b"\n")
    text = status.decode("ascii", "replace")
    if text not in (COMPLETE, FAILED, KILLED):
        raise ValueError("not a dccfutures result (it starts with %r)" % status[:20])
    return text, outcomes or None


def read_result(folder: str, index: int) -> Optional[Tuple[str, Optional[bytes]]]:
    data = read_file(folder, result_file(index))
    return None if data is None else unpack_result(data)


def read_progress(folder: str, index: int) -> Tuple[float, Optional[str]]:
    try:
        data = read_file(folder, progress_file(index))
        found = json.loads(data.decode("utf-8")) if data else {}
        return float(found.get("fraction") or 0.0), found.get("message")
    except (OSError, ValueError, AttributeError):
        return 0.0, None


# -- the work source -------------------------------------------------------------------------

class OpenCueWorkSource(WorkSource):
    """The items of one frame (a chunk of the job's agenda), in order, through the spool."""

    def __init__(self, folder: str, job: Dict[str, Any], first: int, last: int,
                 spool_dir: str, job_id: str):
        self.folder, self.spool_dir, self.job_id = folder, spool_dir, job_id
        self.facts = job
        count = int(job["items"])
        self.indexes = [i for i in range(first, last + 1) if 0 <= i < count]
        function = read_file(folder, FUNCTION_FILE) if job.get("function") else None
        # The job's environment is this process's already (see main).
        self.job = job_context(job, function)
        self._jobs = dict(job.get("jobs") or {})  # OpenCue job id -> token, for dependencies
        self._jobs[job_id] = os.path.basename(folder)[len("dccfutures-"):]
        self._log = ItemsInOneLog(job.get("max_log_mb"))

    def pending(self) -> List[int]:
        """This frame's items without a result (a frame run again skips the others)."""
        return [i for i in self.indexes
                if not os.path.lexists(os.path.join(self.folder, result_file(i)))]

    def request(self) -> Optional[Item]:
        for index in self.pending():
            unmet = self._unmet(index)
            if unmet is not None:  # it ran because its dependency ended without completing
                self._write(index, FAILED, payload.encode_outcomes(
                    [payload.dependency_failure(*unmet)]))
                continue
            calls = read_file(self.folder, work_file(index))
            if calls is None:
                self._fail(index, "the payload of work item %d is gone from %s"
                           % (index, self.folder))
                continue
            return Item(self.job_id, index, calls, self.job)
        return None

    def started(self, item: Item) -> None:
        self._log.started(item)

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        if not self._log.progress_due(fraction):
            return
        data = json.dumps({"fraction": float(fraction), "message": message})
        try:
            write_file(self.folder, progress_file(item.work_id), data.encode("utf-8"))
        except OSError:
            pass  # progress is news, not a result

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        self._log.ended(item)
        self._write(item.work_id, status, outcomes)

    def _write(self, index: int, status: str, outcomes: bytes) -> None:
        write_file(self.folder, result_file(index), pack_result(status, outcomes))
        remove_file(self.folder, progress_file(index))
        remove_file(self.folder, retry_file(index))

    def _fail(self, index: int, message: str) -> None:
        print("dccfutures: " + message, file=sys.stderr, flush=True)
        self._write(index, FAILED, payload.failed_outcomes(RuntimeError(message)))

    def fail_rest(self, message: str) -> None:
        """Fail every item of this frame still without a result with ``message``."""
        print("dccfutures: " + message, file=sys.stderr, flush=True)
        for index in self.pending():
            self._write(index, FAILED, payload.failed_outcomes(RuntimeError(message)))

    # -- dependencies --------------------------------------------------------------------

    def _dependency(self, job_id: Optional[str], index: int
                    ) -> Tuple[str, Optional[Tuple[str, Optional[bytes]]]]:
        """(the job's token, its item's result or None) of a dependency reference."""
        token = self._jobs.get(self.job_id if job_id is None else job_id)
        if token is None:
            return "", None
        try:
            folder = job_folder(self.spool_dir, token)
            return token, read_result(folder, index)
        except (SpoolError, OSError, ValueError):
            return token, None

    def _unmet(self, index: int) -> Optional[Tuple[Any, int, str, str, Optional[bytes]]]:
        """The first dependency of item ``index`` that did not complete, or None. Cuebot
        starts a frame once the frames it depends on are done or eaten, and dependencies on
        work that had already ended when the job was launched are not in Cuebot at all."""
        for job_id, other in self.facts.get("depends_on", {}).get(str(index), ()):
            _, found = self._dependency(job_id, int(other))
            shown = self.job_id if job_id is None else job_id
            if found is None:
                return shown, int(other), "without a result", "?", None
            if found[0] != COMPLETE:
                return shown, int(other), found[0], str(other), found[1]
        return None

    def outcome(self, job_id: Any, work_id: int) -> Optional[bytes]:
        _, found = self._dependency(job_id, work_id)
        return found[1] if found is not None and found[0] == COMPLETE else None


# -- the entry point -------------------------------------------------------------------------

def main(argv: List[str]) -> int:
    """Run items ``--first`` to ``--last`` of job ``--job TOKEN``; the exit status tells
    Cuebot whether the frame ran (0) or crashed (anything else: it retries the frame)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m " + MODULE)
    parser.add_argument("--job", required=True, help="the job's spool token")
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        from ..config import load
        spool_dir = load().opencue.spool_dir
        folder = job_folder(spool_dir, args.job)
        job = json.loads((read_file(folder, JOB_FILE) or b"{}").decode("utf-8"))
        if "items" not in job:
            raise SpoolError("%s holds no job description (%s)" % (folder, JOB_FILE))
    except (DccFuturesError, OSError, ValueError) as error:
        # Nowhere to write a result: the frame fails and its log says why.
        print("dccfutures: this frame cannot start: %s" % error, file=sys.stderr, flush=True)
        return 1
    job_id = os.environ.get("CUE_JOB_ID") or args.job
    source = OpenCueWorkSource(folder, job, args.first, args.last, spool_dir, job_id)
    if not source.pending():
        return 0  # run again after a crash, with every item done: nothing to boot for
    os.environ.update(job.get("env") or {})
    stop = _copy_output(folder, args.first)
    try:
        try:
            code = _run(source, job)
        except BaseException:  # the spool went away under us: the frame crashed
            traceback.print_exc()
            return 1
        if code == 0 and job.get("on_done"):
            _job_ended(folder, job, job_id)
        return code
    finally:
        stop()


def log_file(frame: int) -> str:
    return "log-%d.txt" % frame


def _copy_output(folder: str, frame: int) -> Any:
    """Send this process's stdout and stderr (and its children's: the DCC's) through a pipe
    to RQD's stdout AND to ``log-<frame>.txt`` in the job's folder; returns what ends it.

    ``Future.log()`` reads that copy: RQD reads a frame's output a line per wake-up and stops
    reading when the frame exits, so the last lines of a frame are often missing from its
    rqlog (and stdout and stderr, read apart, lose their order). One pipe keeps the order."""
    import threading
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    try:
        copy = os.open(os.path.join(folder, log_file(frame)), flags, 0o660)
    except OSError as error:
        print("dccfutures: cannot keep a copy of this frame's output: %s" % error,
              file=sys.stderr, flush=True)
        return lambda: None
    flush_stdio()
    rqd = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        while True:
            data = os.read(read_end, 65536)
            if not data:
                return
            for fd in (rqd, copy):
                try:
                    _write_all(fd, data)
                except OSError:
                    pass

    thread = threading.Thread(target=pump, name="dccfutures-output", daemon=True)
    thread.start()
    # One pipe for both: lines keep their order only if neither stream holds them back.
    os.environ["PYTHONUNBUFFERED"] = "1"  # the DCC started as our child
    line_buffered_stdio()

    def stop() -> None:
        flush_stdio()
        os.dup2(rqd, 1)  # our ends of the pipe close; the pump drains it and ends
        os.dup2(rqd, 2)
        thread.join(5.0)  # a leftover grandchild may hold the pipe: not for ever
        os.close(copy)
    return stop


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


DONE_FILE = "done"


def _job_ended(folder: str, job: Dict[str, Any], job_id: str) -> None:
    """Run the job's ``on_done`` hook if every item now has a result: the frame that wrote
    the last one runs it (each frame looks after its own results are written; creating
    ``done`` exclusively makes it once per ending; a retry removes it). It runs as the local
    farm's does, in a process of its own (its output is in this frame's log)."""
    statuses = []
    for index in range(int(job["items"])):
        try:
            found = read_result(folder, index)
        except (OSError, ValueError):
            found = (FAILED, None)
        if found is None:
            return
        statuses.append(found[0])
    try:
        os.close(os.open(os.path.join(folder, DONE_FILE), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o660))
    except FileExistsError:
        return
    tally: Dict[str, int] = {}
    for status in statuses:
        tally[status] = tally.get(status, 0) + 1
    status = KILLED if tally.get(KILLED) else FAILED if tally.get(FAILED) else COMPLETE
    info = {"id": job_id, "name": job.get("label") or os.environ.get("CUE_JOB", ""),
            "status": status, "tally": tally, "farm": "opencue",
            "user": os.environ.get("CUE_USER") or os.environ.get("USER") or ""}
    from .bootstrap import python_command
    import subprocess
    sys.stdout.flush()
    sys.stderr.flush()
    subprocess.call(python_command(sys.executable, "dccfutures.runtime.hooks", [
        job["on_done"], json.dumps(info), json.dumps(job.get("sys_path") or []),
        job.get("cwd") or "", json.dumps(job.get("sys_path_installed") or [])]))


def _run(source: OpenCueWorkSource, job: Dict[str, Any]) -> int:
    spec = job.get("bootstrap")
    interpreter = (spec or {}).get("executable") if spec else job.get("python")
    if not interpreter:
        source.fail_rest((spec or {}).get("missing") or "this job names no interpreter (was it "
                         "submitted by dccfutures?)")
        return 0
    here = _same_file(interpreter, sys.executable)
    if not here and not os.access(interpreter, os.X_OK):
        source.fail_rest("cannot run %s on this render host: install it there or set the "
                         "interpreter in the dccfutures config" % interpreter)
        return 0
    if not here:
        return _run_in_child(source, interpreter, spec)
    bootstrap = None
    if spec:
        from .bootstrap import load_bootstrap
        try:
            bootstrap = load_bootstrap(spec)
        except Exception:
            source.fail_rest("this frame could not set up:\n" + traceback.format_exc())
            return 0
    serve(source, bootstrap)
    return 0 if not source.pending() else 1


def _run_in_child(source: OpenCueWorkSource, interpreter: str,
                  spec: Optional[Dict[str, Any]]) -> int:
    """The DCC (or another Python) as our child, once for the frame's items."""
    from .child import CannotStart, child_environment, feed, remove_link_folder
    from .child import how_it_ended, install_command
    env, private = child_environment([])
    try:
        ending = feed(source, interpreter, spec, env)
    except CannotStart as error:
        source.fail_rest(str(error))
        return 0
    finally:
        remove_link_folder(private)
    if ending.unusable:
        source.fail_rest("%s: install it for that interpreter with `%s`"
                         % (ending.unusable, install_command(spec, interpreter)))
        return 0
    if ending.status is None:  # it died in the middle: Cuebot retries the frame
        item = ending.item
        print("dccfutures: %s (pid %d) %s %s; this frame ends with it" % (
            interpreter, ending.pid, how_it_ended(ending.code),
            "while it ran work %s:%s" % (item.job_id, item.work_id) if item is not None
            else "between work items"), file=sys.stderr, flush=True)
        return 1
    return 0 if not source.pending() else 1


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False



if __name__ == "__main__":
    exit_process(main(sys.argv[1:]))
