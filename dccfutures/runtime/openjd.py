"""The task runtime inside our OpenJD job bundles: one DCC per session, one work item per task.

An OpenJD session runs a step's tasks one after another on one worker. Booting Maya or
Houdini for each task would cost minutes per item, so the bundle's step environment does
what the Deadline Cloud adaptors do (an adaptor daemon started on enter, each task a ``run``
against it, stopped on exit):

* ``onEnter`` runs ``start``: it starts the session's *host* (this module's ``host``) as a
  process of its own session, waits until the host's child, the interpreter or DCC, has
  booted (:func:`dccfutures.runtime.child.feed` starts it exactly as a Qube subjob does:
  ``mayapy``, ``maya -batch``, ``hython``, bpy, ``blender -b`` or a plain Python), and exits
  0, or non-zero with the boot's output when it failed. Before the boot, the paths the
  submitter's machine named in the payload (the scene, the workspace, ``sys.path``,
  ``cwd``) are mapped with the session's path mapping rules (``--path-mapping
  {{Session.PathMappingRulesFile}}``, :func:`map_payload_paths`);
* each task runs ``run --item N``: it hands item N to the host over a local connection
  (a Unix socket in a private folder, with a key only the session's files hold), streams the
  item's output into the task's log, turns its progress into ``openjd_progress:`` lines, and
  exits 0 once the item ended, whether the user's callable returned or raised (the exception
  travels in the outcomes); non-zero only when our machinery failed (the child crashed, the
  host is gone, the payload is unreadable); with TASK_CHUNKING a task's ``--item`` is a range
  (``3-5``) whose items it runs in turn, stopping at the first our machinery failed under;
* ``onExit`` runs ``stop``: the child's loop ends, its bootstrap's teardown runs, the host
  exits.

A task cancelled while its item runs (its ``run`` process killed by the session) kills the
child: the host sees the connection close and kills it. A child that crashes fails its task.
Either way the host ends with it: an OpenJD session runs no task after a failed or cancelled
one (it can only exit its environments; the farm runs the remaining tasks in a new session),
so ``stop`` then finds nothing to stop. The host also ends with its session: when the
session's working directory is gone (cleaned up without ``onExit``), it kills the child and
exits.

Results, progress and logs are files in the bundle's ``Output`` folder (the folder Deadline
Cloud syncs back as job attachment outputs), one folder per item (:func:`item_folder`):
``outcomes.bin`` then ``result.json`` (written last, atomically: it is the item's end),
``progress.json`` and ``log.txt``; ``sessions/<session>.log`` holds each session's whole
output (the host's and the child's, boots included). Pickles are read only in the child, and
only from the files of fixed names in the ``Payload`` folder the job's parameters name (the
same rule as Qube's spool: no path read from a payload or a result is ever followed).
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from ..spool import write_whole
from .bootstrap import python_command
from .loop import Item, WorkSource, job_context
from .output import OutputCap, cap_bytes, read_capped

MODULE = "dccfutures.runtime.openjd"
HOST_FILE = "dccfutures-host.json"  # in the session's working directory
FACTS = "job.json"
FUNCTION = "function.pickle"
WORK_FOLDER = "work"
RESULT, OUTCOMES, PROGRESS, LOG = "result.json", "outcomes.bin", "progress.json", "log.txt"
DEFAULT_MAX_LOG_MB = 100.0  # a bundle written without the farm's setting (as the configs')
LOG_SETTING = "max_log_mb of the farm that wrote the bundle"
PROGRESS_EVERY = 0.2  # seconds between two progress files of one item
CRASHED = "crashed"  # result.json status of an item whose interpreter died while it ran it


# -- the file layout, shared with the bundle writer and the farms that read results -----------

def calls_path(payload_dir: str, work_id: int) -> str:
    return os.path.join(payload_dir, WORK_FOLDER, "%d.pickle" % int(work_id))


def item_folder(output_dir: str, work_id: int) -> str:
    return os.path.join(output_dir, WORK_FOLDER, str(int(work_id)))


def session_log_path(output_dir: str, session_dir: str) -> str:
    name = os.path.basename(os.path.normpath(session_dir)) or "session"
    return os.path.join(output_dir, "sessions", name + ".log")


def read_result(output_dir: str, work_id: int) -> Optional[Tuple[str, Optional[bytes]]]:
    """``(status, encoded outcomes)`` of an item that ended (``complete`` or ``failed``, with
    outcomes; ``crashed``, without), or None while it has not."""
    folder = item_folder(output_dir, work_id)
    try:
        with open(os.path.join(folder, RESULT)) as handle:
            status = json.load(handle)["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if status == CRASHED:
        return status, None
    try:
        with open(os.path.join(folder, OUTCOMES), "rb") as handle:
            return status, handle.read()
    except OSError:
        return None


def read_message(output_dir: str, work_id: int) -> Optional[str]:
    """Why an item's interpreter died under it (``crashed`` items), or None."""
    try:
        with open(os.path.join(item_folder(output_dir, work_id), RESULT)) as handle:
            return json.load(handle).get("message")
    except (OSError, ValueError, AttributeError):
        return None


def read_progress(output_dir: str, work_id: int) -> Optional[Tuple[float, Optional[str]]]:
    try:
        with open(os.path.join(item_folder(output_dir, work_id), PROGRESS)) as handle:
            found = json.load(handle)
        return float(found["fraction"]), found.get("message")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_log(output_dir: str, work_id: int) -> str:
    try:
        with open(os.path.join(item_folder(output_dir, work_id), LOG), "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _write_atomically(path: str, data: bytes, mode: int = 0o666) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_whole(path, data, mode)


def _read_facts(payload_dir: str) -> Dict[str, Any]:
    with open(os.path.join(payload_dir, FACTS)) as handle:
        return json.load(handle)


def _interpreter(facts: Dict[str, Any]) -> Tuple[str, Optional[Dict[str, Any]]]:
    """The program the host starts as its child, and the bootstrap it runs."""
    package = facts.get("package") or {}
    spec = package.get("bootstrap") or None
    if spec:
        if spec.get("missing"):
            raise SystemExit("dccfutures: %s" % spec["missing"])
        return spec["executable"], spec
    return package.get("python") or sys.executable, None


# -- path mapping of the paths the submitter named inside the payload ---------------------------

PATH_MAPPING_VERSION = "pathmapping-1.0"
BOOTSTRAP_PATHS = ("file", "original", "workspace")  # scene copy, artist's scene, workspace


def read_path_mapping_rules(path: Optional[str]) -> List[Dict[str, str]]:
    """The rules of the session's ``Session.PathMappingRulesFile`` (``{}`` when it has none).
    Raises ValueError naming the file when it is not a ``pathmapping-1.0`` document."""
    if not path:
        return []
    with open(path) as handle:
        found = json.load(handle)
    if not found:
        return []
    if not isinstance(found, dict) or found.get("version") != PATH_MAPPING_VERSION:
        raise ValueError("the path mapping rules file %s is version %r; dccfutures reads %s"
                         % (path, found.get("version") if isinstance(found, dict) else found,
                            PATH_MAPPING_VERSION))
    rules = list(found.get("path_mapping_rules") or [])
    for rule in rules:
        if not isinstance(rule, dict) or not all(isinstance(rule.get(key), str) for key in (
                "source_path_format", "source_path", "destination_path")):
            raise ValueError("the path mapping rules file %s has a rule without a "
                             "source_path_format, source_path and destination_path: %r"
                             % (path, rule))
    return rules


def map_path(path: str, rules: List[Dict[str, str]]) -> str:
    """``path`` mapped by the first rule that covers it, the rules with the longest source
    first, as openjd-sessions maps PATH parameters (the OpenJD spec's path mapping): a
    WINDOWS source matches whole components, ASCII case-insensitively, either separator; a
    POSIX source matches whole components exactly. A path no rule covers comes back as it
    is. Our own code, not openjd-sessions': the worker's Python need not have it. URI sources
    (an EXPR extension) never cover a filesystem path and are skipped."""
    from pathlib import PurePath, PureWindowsPath
    ordered = sorted((rule for rule in rules if rule.get("source_path_format", "").upper()
                      in ("POSIX", "WINDOWS")),
                     key=lambda rule: -len(_pure(rule).parts))
    for rule in ordered:
        source = _pure(rule)
        target: PurePath = type(source)(path)
        ours, theirs = target.parts, source.parts
        if len(ours) < len(theirs):
            continue
        if isinstance(source, PureWindowsPath):
            same = all(a.translate(_ASCII_LOWER) == b.translate(_ASCII_LOWER)
                       for a, b in zip(ours, theirs))
        else:
            same = ours[:len(theirs)] == theirs
        if not same:
            continue
        mapped = str(PurePath(*(PurePath(rule["destination_path"]).parts +
                                ours[len(theirs):])))
        trailing = ("/", "\\") if isinstance(source, PureWindowsPath) else ("/",)
        return mapped + os.sep if path.endswith(trailing) else mapped
    return path


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _pure(rule: Dict[str, str]) -> Any:
    from pathlib import PurePosixPath, PureWindowsPath
    kind = PureWindowsPath if rule["source_path_format"].upper() == "WINDOWS" else PurePosixPath
    return kind(rule["source_path"])


def map_payload_paths(facts: Dict[str, Any], rules: List[Dict[str, str]]) -> Dict[str, Any]:
    """The job's facts with the paths the submitter's machine named mapped for this worker:
    the scene copy, the artist's scene and the workspace the DCC boots with, the job's
    ``sys.path`` entries and its ``cwd``, and the Output folders of the other jobs whose
    results its calls take. The interpreter (the worker's config names it) and the
    environment's values are left as they are."""
    if not rules:
        return facts
    facts = json.loads(json.dumps(facts))  # a copy
    if facts.get("outputs"):
        facts["outputs"] = {job: map_path(str(path), rules)
                            for job, path in facts["outputs"].items()}
    package = facts.get("package") or {}
    for key in ("sys_path", "sys_path_installed"):
        if package.get(key):
            package[key] = [map_path(str(entry), rules) for entry in package[key]]
    if package.get("cwd"):
        package["cwd"] = map_path(str(package["cwd"]), rules)
    bootstrap = package.get("bootstrap") or {}
    for key in BOOTSTRAP_PATHS:
        if bootstrap.get(key):
            bootstrap[key] = map_path(str(bootstrap[key]), rules)
    return facts


# -- the host: one per session, the child's parent ---------------------------------------------

class SessionSource(WorkSource):
    """Items handed in by the session's tasks, one connection each, fed to the child."""

    def __init__(self, payload_dir: str, output_dir: str, log_path: str, listener: Any,
                 ready: Any, facts: Dict[str, Any]):
        self.payload_dir, self.output_dir, self.log_path = payload_dir, output_dir, log_path
        self.listener, self.ready = listener, ready
        self.job_id = facts.get("job_id") or os.environ.get("DEADLINE_JOB_ID") or "openjd"
        function = None
        if facts.get("function"):
            with open(os.path.join(payload_dir, FUNCTION), "rb") as handle:
                function = handle.read()
        self.job = job_context(facts.get("package") or {}, function)
        self.outputs = {str(job): str(path) for job, path in (facts.get("outputs") or {}).items()}
        self.outputs[str(self.job_id)] = output_dir
        self.lock = threading.Lock()
        self.client: Any = None   # the connection of the task whose item runs now
        self.item: Optional[Item] = None
        self.cancelled = False
        self.process: Optional[subprocess.Popen] = None
        self.stopper: Any = None  # the connection that asked us to stop
        self.requests = 0         # requests of the current child (0: it never booted)
        self.log_start = 0
        self.last_progress = 0.0
        # An item's output past the cap keeps its head and tail, in the session log (holes
        # punched while it runs) and in its log.txt; the farm puts its setting in the package.
        self.log_cap = cap_bytes((facts.get("package") or {}).get("max_log_mb",
                                                                   DEFAULT_MAX_LOG_MB))
        self._output = OutputCap(self.log_cap)

    # the child's side of feed()
    def spawned(self, process: subprocess.Popen) -> None:
        self.process, self.requests, self.cancelled = process, 0, False

    def request(self) -> Optional[Item]:
        self.requests += 1
        if self.ready is not None:  # booted: the environment's onEnter may return
            self.ready()
            self.ready = None
        while True:
            connection = self._accept()
            if connection is None:
                continue
            try:
                message = json.loads(connection.recv_bytes().decode("utf-8"))
                op = message["op"]
            except (EOFError, OSError, ValueError, KeyError, TypeError):
                connection.close()
                continue
            if op == "stop":
                self.stopper = connection
                return None
            if op != "run":
                _send(connection, {"op": "error", "message": "unknown request %r" % (op,)})
                connection.close()
                continue
            item = self._item(connection, message)
            if item is not None:
                return item

    def _accept(self) -> Any:
        try:
            return self.listener.accept()
        except Exception as error:  # a wrong key, a client gone before the handshake
            print("dccfutures: refused a connection: %s: %s" % (type(error).__name__, error),
                  file=sys.stderr, flush=True)
            return None

    def _item(self, connection: Any, message: Dict[str, Any]) -> Optional[Item]:
        try:
            work_id = int(message["item"])
            with open(calls_path(self.payload_dir, work_id), "rb") as handle:
                calls = handle.read()
        except (OSError, ValueError, KeyError, TypeError) as error:
            _send(connection, {"op": "error", "message": "cannot read work item %r of this "
                               "bundle: %s" % (message.get("item"), error)})
            connection.close()
            return None
        item = Item(self.job_id, work_id, calls, self.job)
        with self.lock:
            self.client, self.item = connection, item
        threading.Thread(target=self._watch, args=(connection,), daemon=True,
                         name="dccfutures-task-%d" % work_id).start()
        return item

    def _watch(self, connection: Any) -> None:
        """The task's process says nothing more after its request: the connection becomes
        readable when it ends. If its item still runs, the task was cancelled: kill the
        child (the item dies with its task; the next task boots a fresh one)."""
        try:
            connection.poll(None)
        except (OSError, ValueError):
            pass
        with self.lock:
            running = self.client is connection
            if running:
                self.cancelled = True
                self.client = None
        if running and self.process is not None:
            print("dccfutures: the task of work item %d was cancelled; killing its "
                  "interpreter (pid %d)" % (self.item.work_id if self.item else -1,
                                            self.process.pid), file=sys.stderr, flush=True)
            _kill(self.process)
        connection.close()

    def started(self, item: Item) -> None:
        self.log_start = _size(self.log_path)
        self.last_progress = 0.0
        folder = item_folder(self.output_dir, item.work_id)
        for name in (RESULT, OUTCOMES, PROGRESS, LOG):  # a retry's: not the last attempt's
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass
        self._output.started()
        self._tell({"op": "started", "offset": self.log_start})

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        now = time.monotonic()
        if now - self.last_progress < PROGRESS_EVERY and fraction < 1.0:
            return
        self.last_progress = now
        _write_atomically(os.path.join(item_folder(self.output_dir, item.work_id), PROGRESS),
                          json.dumps({"fraction": fraction, "message": message}).encode())
        self._tell({"op": "progress", "fraction": fraction, "message": message})

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        self._output.ended()
        end = _size(self.log_path)
        folder = item_folder(self.output_dir, item.work_id)
        self._keep_log(item, end)
        _write_atomically(os.path.join(folder, OUTCOMES), outcomes)
        _write_atomically(os.path.join(folder, RESULT), json.dumps({"status": status}).encode())
        self._tell({"op": "done", "status": status, "offset": end}, last=True)

    def outcome(self, job_id: Any, work_id: int) -> Optional[bytes]:
        """The result of an item an item depends on: of this job, in this Output folder (its
        step ran before this one's); of another job, in the Output folder the bundle names
        for it. None (the item fails with ``DependencyError``) when it is not complete."""
        folder = self.outputs.get(str(job_id))
        if folder is None:
            return None
        found = read_result(folder, work_id)
        return found[1] if found and found[0] == "complete" else None

    # what the host does when the child died under an item
    def lost(self, message: str) -> None:
        with self.lock:
            connection, item, cancelled = self.client, self.item, self.cancelled
            self.client, self.item = None, None
        if item is None:
            return
        self._output.ended()
        self._keep_log(item, _size(self.log_path))
        if cancelled:
            return  # the farm cancelled it: nothing to report, its task is gone
        folder = item_folder(self.output_dir, item.work_id)
        _write_atomically(os.path.join(folder, RESULT),
                          json.dumps({"status": CRASHED, "message": message}).encode())
        if connection is not None:
            _send(connection, {"op": "error", "message": message})

    def _keep_log(self, item: Item, end: int) -> None:
        text = read_capped(self.log_path, self.log_start, end, self.log_cap, LOG_SETTING)
        _write_atomically(os.path.join(item_folder(self.output_dir, item.work_id), LOG),
                          text.encode("utf-8"))

    def _tell(self, message: Dict[str, Any], last: bool = False) -> None:
        """Send the running item's task a message; ``last``: its item is over (cleared first,
        or the task's exit after the message would look like a cancel to its watcher)."""
        with self.lock:
            connection = self.client
            if last:
                self.client, self.item = None, None
        if connection is not None:
            _send(connection, message)


def _send(connection: Any, message: Dict[str, Any]) -> None:
    try:
        connection.send_bytes(json.dumps(message).encode("utf-8"))
    except (OSError, ValueError):  # the task is gone: its watcher deals with it
        pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def host(args: argparse.Namespace) -> int:
    """The session's host: boot the child, serve tasks until ``stop``. Our stdout and stderr
    (and the child's) are the session's log file."""
    from multiprocessing.connection import Listener
    from .child import CannotStart, child_environment, feed, how_it_ended, install_command
    from .child import remove_link_folder
    try:
        facts = map_payload_paths(_read_facts(args.payload),
                                  read_path_mapping_rules(args.path_mapping))
    except (OSError, ValueError) as error:  # a payload or rules file we cannot read
        print("dccfutures: cannot read this job's facts or the session's path mapping rules: "
              "%s" % error, flush=True)
        return 1
    interpreter, spec = _interpreter(facts)
    private_dir = tempfile.mkdtemp(prefix="dccfutures-openjd-")  # 0700: ours alone
    key = secrets.token_bytes(32)
    listener = Listener(os.path.join(private_dir, "host.sock"), "AF_UNIX", authkey=key)
    ready_fd = args.ready

    def ready() -> None:
        _write_atomically(os.path.join(args.session, HOST_FILE), json.dumps({
            "address": listener.address, "key": key.hex(), "pid": os.getpid(),
            "log": args.log}).encode(), mode=0o600)  # its key lets one run work here
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)

    source = SessionSource(args.payload, args.output, args.log, listener, ready, facts)

    def terminated(signum: int, frame: Any) -> None:  # ``start`` was cancelled mid-boot
        print("dccfutures: the session's onEnter was cancelled; ending %s" % interpreter,
              flush=True)
        _kill(source.process)
        shutil.rmtree(private_dir, ignore_errors=True)
        os._exit(1)
    signal.signal(signal.SIGTERM, terminated)
    env, link_folder = child_environment([])
    _add_job_environment(env, facts.get("env") or {})
    threading.Thread(target=_end_with_session, args=(args.session, source, private_dir),
                     daemon=True, name="dccfutures-session-watch").start()
    code = 0
    try:
        ending = feed(source, interpreter, spec, env, spawned=source.spawned)
        if ending.unusable:
            print("dccfutures: %s: install it for that interpreter with `%s`"
                  % (ending.unusable, install_command(spec, interpreter)), flush=True)
            code = 1
        elif ending.status is None:  # it died: under an item, or while it booted
            source.lost("%s (pid %d) %s while it ran work item %s; see the session log %s"
                        % (interpreter, ending.pid, how_it_ended(ending.code),
                           source.item.work_id if source.item else "?", args.log))
            code = 1
        elif ending.status != "done" or source.requests == 0:
            print("dccfutures: %s did not boot (%s)" % (interpreter, how_it_ended(ending.code)),
                  flush=True)
            code = 1
    except CannotStart as error:
        print("dccfutures: %s" % error, flush=True)
        code = 1
    finally:
        remove_link_folder(link_folder)
        try:
            os.unlink(os.path.join(args.session, HOST_FILE))
        except OSError:
            pass
        listener.close()
        shutil.rmtree(private_dir, ignore_errors=True)
        if source.stopper is not None:
            _send(source.stopper, {"op": "stopped"})
            source.stopper.close()
    return code


def _add_job_environment(env: Dict[str, str], job_env: Dict[str, str]) -> None:
    """The job's environment for the child (a DCC boots with the artist's cloned one), with
    our ``PYTHONPATH`` entry kept first so the child imports this dccfutures."""
    ours = env.get("PYTHONPATH", "")
    env.update(job_env)
    theirs = job_env.get("PYTHONPATH")
    if theirs is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ours, theirs) if p)


def _end_with_session(session_dir: str, source: SessionSource, private_dir: str) -> None:
    """A session cleaned up without running ``onExit`` (its worker agent died) leaves no one to
    stop us: end with its working directory."""
    while os.path.isdir(session_dir):
        time.sleep(1.0)
    _kill(source.process)
    shutil.rmtree(private_dir, ignore_errors=True)
    os._exit(1)


def _kill(process: Optional[subprocess.Popen]) -> None:
    """Kill our child (feed() has not reaped it while its returncode is None)."""
    if process is not None and process.returncode is None:
        try:
            process.kill()
        except OSError:
            pass


# -- the session's commands --------------------------------------------------------------------

def start(args: argparse.Namespace) -> int:
    """The step environment's onEnter: start the host, return once its child booted."""
    log = session_log_path(args.output, args.session)
    try:
        os.makedirs(os.path.dirname(log), exist_ok=True)
    except OSError as error:
        print("dccfutures: cannot write this job's Output folder %s: %s (on shared storage: "
              "is it mounted on this worker, and writable by the account that runs the "
              "job?)" % (args.output, error.strerror or error), flush=True)
        return 1
    read_fd, write_fd = os.pipe()
    command = python_command(sys.executable, MODULE, [
        "host", "--payload", args.payload, "--output", args.output, "--session", args.session,
        "--log", log, "--ready", str(write_fd)] +
        (["--path-mapping", args.path_mapping] if args.path_mapping else []))
    with open(log, "ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, pass_fds=[write_fd],
                                   start_new_session=True, cwd=args.session)
    os.close(write_fd)

    def cancelled(signum: int, frame: Any) -> None:  # the session cancels its onEnter
        process.terminate()  # our child, not yet reaped: it ends the boot (its own child)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
        os._exit(1)
    signal.signal(signal.SIGTERM, cancelled)
    with os.fdopen(read_fd, "rb") as pipe:
        said = pipe.read()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stdout.write(_read_text(log))  # the boot's output, in the environment's own log
    sys.stdout.flush()  # before our verdict on stderr
    if said.startswith(b"ready"):
        print("dccfutures: the session's interpreter is up (host pid %d); its output goes to %s"
              % (process.pid, log), flush=True)
        return 0
    code = process.wait()
    print("dccfutures: the session's interpreter did not start (the host exited with status "
          "%s); see above and %s" % (code, log), file=sys.stderr, flush=True)
    return 1


def run(args: argparse.Namespace) -> int:
    """A task: run its item, or each item of its chunk (TASK_CHUNKING: ``--item 3-5``) in
    turn, on the session's host, their output streamed into our log. Non-zero at the first
    item our machinery failed under: the rest of the chunk does not run (the queue runs the
    task again, whole)."""
    try:
        items = item_range(args.item)
    except ValueError as error:
        print("dccfutures: %s" % error, file=sys.stderr, flush=True)
        return 1
    for done, item in enumerate(items):
        if _run_item(args.session, item, done, len(items)) != 0:
            return 1
    return 0


def item_range(text: str) -> List[int]:
    """The work ids of a task's ``Item``: ``"4"``, or a chunk's range expression
    (``"0-2"``, ``"1,5-9:2"``)."""
    items: List[int] = []
    for part in str(text).replace(" ", "").split(","):
        try:
            span, _, step = part.partition(":")
            first, dash, last = span.partition("-")
            start, end = int(first), int(last) if dash else int(first)
            stride = int(step) if step else 1
        except ValueError:
            raise ValueError("%r is not a work item or a range of them" % (text,)) from None
        if stride < 1 or end < start:
            raise ValueError("%r is not a work item or a range of them" % (text,))
        items.extend(range(start, end + 1, stride))
    return items


def _run_item(session_dir: str, item: int, done: int, count: int) -> int:
    """Run one item of the task (``done`` of its ``count`` items ran before it)."""
    connection, info = _connect(session_dir)
    if connection is None:
        print("dccfutures: cannot run work item %s: %s" % (item, info), file=sys.stderr,
              flush=True)
        return 1
    try:
        return _follow(connection, info, item, done, count)
    finally:
        connection.close()


def _follow(connection: Any, info: Dict[str, Any], item: int, done: int, count: int) -> int:
    """Hand the item to the host and copy what it says into our log until the item ends."""
    _send(connection, {"op": "run", "item": item})
    tail = LogTail(info["log"])
    while True:
        try:
            waiting = connection.poll(0.1)
            message = json.loads(connection.recv_bytes().decode("utf-8")) if waiting else None
        except (EOFError, OSError):
            tail.copy()
            print("dccfutures: the session's host ended while work item %s ran; see %s"
                  % (item, info["log"]), file=sys.stderr, flush=True)
            return 1
        if message is None:
            tail.copy()
            continue
        op = message.get("op")
        if op == "started":
            tail.begin(message["offset"])
        elif op == "progress":
            tail.copy()
            print("openjd_progress: %.1f" % (100.0 * (done + float(message["fraction"])) / count),
                  flush=True)
            if message.get("message"):
                print("openjd_status: %s" % message["message"], flush=True)
        elif op == "done":
            tail.copy(message["offset"])
            print("dccfutures: work item %s %s" % (item, message["status"]), flush=True)
            if done + 1 < count:
                print("openjd_progress: %.1f" % (100.0 * (done + 1) / count), flush=True)
            return 0
        else:  # "error": our machinery failed under the item
            tail.copy()
            print("dccfutures: %s" % message.get("message"), file=sys.stderr, flush=True)
            return 1


def stop(args: argparse.Namespace) -> int:
    """The step environment's onExit: end the child's loop (its teardown runs) and the host."""
    connection, info = _connect(args.session)
    if connection is None:
        print("dccfutures: nothing to stop: %s" % info, flush=True)
        return 0
    _send(connection, {"op": "stop"})
    try:
        connection.recv_bytes()
    except (EOFError, OSError):
        pass
    connection.close()
    print("dccfutures: the session's interpreter stopped", flush=True)
    return 0


def _connect(session_dir: str) -> Tuple[Any, Any]:
    """(connection, host facts), or (None, why not)."""
    from multiprocessing.connection import Client
    try:
        with open(os.path.join(session_dir, HOST_FILE)) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return None, ("no dccfutures host runs in this session (its step environment's "
                      "onEnter did not start one, or the host ended; see the session log)")
    try:
        return Client(info["address"], "AF_UNIX", authkey=bytes.fromhex(info["key"])), info
    except (OSError, EOFError, KeyError, ValueError) as error:
        return None, "the session's host is gone (%s); see %s" % (error, info.get("log"))


class LogTail:
    """Copies a growing log into our stdout from ``position`` on (None: not yet, see
    :meth:`begin`): a task's share of its session's log into the task's own log, or a task's
    output into the openjd farm's worker log while it runs."""

    def __init__(self, path: str, position: Optional[int] = None):
        self.path = path
        self.position = position

    @classmethod
    def from_end(cls, path: str) -> "LogTail":
        """What is written to ``path`` from now on."""
        return cls(path, _size(path))

    def begin(self, offset: int) -> None:
        self.position = offset

    def copy(self, end: Optional[int] = None) -> None:
        if self.position is None:
            return
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.position)
                data = handle.read() if end is None else handle.read(max(0, end - self.position))
        except OSError:
            return
        if data:
            self.position += len(data)
            sys.stdout.flush()
            while data:
                data = data[os.write(1, data):]


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE, description="dccfutures' OpenJD task runtime")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "run", "stop", "host"):
        command = commands.add_parser(name)
        command.add_argument("--session", required=True)
        if name != "stop":
            command.add_argument("--payload", required=name != "run")
            command.add_argument("--output", required=name != "run")
        if name == "run":  # a work id, or a range of them (TASK_CHUNKING)
            command.add_argument("--item", required=True)
        if name in ("start", "host"):  # Session.PathMappingRulesFile
            command.add_argument("--path-mapping")
        if name == "host":
            command.add_argument("--log", required=True)
            command.add_argument("--ready", type=int, required=True)
    args = parser.parse_args(argv)
    return {"start": start, "run": run, "stop": stop, "host": host}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
