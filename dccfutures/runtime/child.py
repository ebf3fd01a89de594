"""Work fed to a child interpreter over a private pipe: how a Qube subjob runs a DCC.

A Qube jobtype's back-end runs in the Python Qube gives it, and it needs Qube's ``qb``. A DCC
(mayapy, ``maya -batch``, hython) or another Python must not import that ``qb``: it is
compiled for the worker's Python and dies at import in another one, and the worker's
site-packages on the DCC's path would shadow the DCC's own numpy or PySide. Nor may the
back-end replace itself with the DCC (``exec``): on Windows that starts a new, detached
process, Qube sees its subjob end at once, and kill, preempt and the subjob's logs break.

So the back-end (the *parent*) keeps ``qb`` and its :class:`~.loop.WorkSource`, and starts
the DCC as its child once per subjob (:func:`feed`). The child (:func:`main`) bootstraps once
and runs the shared loop (:func:`.loop.serve`) over a :class:`PipeSource`: each request
(the parent marks the item's start in the logs as it hands it out), progress, report and
dependency look-up is a message to the parent, which answers from its own source: one round
trip and one message per item. Messages are plain data (dicts of str, bytes, numbers),
pickled and length-prefixed on anonymous pipes; the child's stdout and stderr are the
parent's own, so its output lands in the subjob's logs, between the parent's markers.

The child never outlives its parent: on Linux the kernel kills it (``PR_SET_PDEATHSIG``), and
everywhere a thread of the child watches a pipe (the *lifeline*) whose write end only the
parent holds and never writes: it reads end-of-file the moment the parent is gone, whoever
sits in between (a DCC launcher script that does not ``exec``).

Windows: the pipes' handles are passed by number and made inheritable for this child only
(``STARTUPINFO.lpAttributeList["handle_list"]``), then opened with ``msvcrt.open_osfhandle``;
the private dccfutures folder is a junction when a symlink is not allowed. That path follows
the documentation of ``subprocess`` and ``msvcrt`` and has not been run (no Windows here).
"""
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .bootstrap import load_bootstrap, worker_command
from .loop import (_INSTALLED, Item, WorkSource, exit_process, flush_stdio,
                   line_buffered_stdio, serve)

MODULE = "dccfutures.runtime.child"
PROTOCOL = 4  # the two ends may be different Pythons (3.9+): one every one of them reads
HEADER = struct.Struct(">Q")
CHILD_PROGRESS_EVERY = 0.05  # the child's own limit: a progress loop must not flood the pipe
EXIT_GRACE = 60.0  # seconds a child may take to exit after its last message before it is killed


# -- the pipe --------------------------------------------------------------------------------

class _PlainUnpickler(pickle.Unpickler):
    """Only plain data comes through the pipe: no class is ever looked up (so nothing runs)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError("a message on the dccfutures pipe names %s.%s: only plain "
                                     "data travels there" % (module, name))


class Channel:
    """Length-prefixed pickles of plain data between the parent and its child. ``call`` is a
    message and its answer; ``send`` has none (progress, report). Any thread may send."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self._write_lock = threading.Lock()
        self._call_lock = threading.Lock()

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, PROTOCOL)
        with self._write_lock:  # one write for a small message: one wake-up of the reader
            if len(data) < 65536:
                _write_all(self.write_fd, HEADER.pack(len(data)) + data)
            else:
                _write_all(self.write_fd, HEADER.pack(len(data)))
                _write_all(self.write_fd, data)

    def receive(self) -> Any:
        """The next message; EOFError once the other end is gone."""
        (size,) = HEADER.unpack(_read_exactly(self.read_fd, HEADER.size))
        return _PlainUnpickler(io.BytesIO(_read_exactly(self.read_fd, size))).load()

    def call(self, message: Any) -> Any:
        with self._call_lock:
            self.send(message)
            return self.receive()

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            _close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        raise EOFError("the other end of the dccfutures pipe is gone") from None


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        try:
            chunk = os.read(fd, min(left, 1 << 24))
        except OSError:  # a broken pipe on Windows
            chunk = b""
        if not chunk:
            raise EOFError("the other end of the dccfutures pipe is gone")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# -- the parent's side -----------------------------------------------------------------------

class CannotStart(Exception):
    """The child could not be started at all (not a program, a bad ``#!`` line)."""


class Ending:
    """How a child ended, for the parent to end the same way: ``status`` is what the child
    said when its loop was over ("done", or "failed" when its bootstrap or loop raised; None
    when it died first), ``item`` the item it was running when it died, ``unusable`` why it
    could not run work at all, ``code`` its exit status (negative: the signal)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.greeted = False
        self.status: Optional[str] = None
        self.item: Optional[Item] = None
        self.unusable: Optional[str] = None
        self.code: Optional[int] = None


def feed(source: WorkSource, interpreter: str, bootstrap: Optional[Dict[str, Any]],
         env: Dict[str, str], spawned: Optional[Callable[[subprocess.Popen], None]] = None
         ) -> Ending:
    """Start ``interpreter`` (with ``bootstrap``: as :func:`.bootstrap.worker_command` starts
    it, so ``maya -batch`` too) running :func:`main`, serve it ``source`` until its loop is
    over, and wait for it to exit. Its stdout and stderr are ours. ``spawned`` is given the
    child once it runs: a parent that must end an item from another thread (an OpenJD task
    cancelled) kills it through that handle, which is ours until :func:`feed` returns."""
    pipes = [os.pipe() for _ in range(3)]  # to the child, from the child, the lifeline
    theirs = [pipes[0][0], pipes[1][1], pipes[2][0]]
    channel = Channel(pipes[1][0], pipes[0][1])
    lifeline = pipes[2][1]
    try:
        command = worker_command(interpreter, bootstrap, MODULE,
                                 [",".join(str(n) for n in _passable(theirs))])
        flush_stdio()
        process = _spawn(command, env, theirs)
    except BaseException as error:
        for fd in theirs + [lifeline]:
            _close(fd)
        channel.close()
        if isinstance(error, OSError):
            raise CannotStart("cannot start %s on this worker: %s" % (interpreter, error)) \
                from None
        raise
    for fd in theirs:  # only the child holds its ends: its death is our end-of-file
        _close(fd)
    if spawned is not None:
        spawned(process)
    ending = Ending(process.pid)
    try:
        _serve_child(channel, source, bootstrap, ending)
    except BaseException:
        _close(lifeline)  # the child ends at once (its lifeline thread)
        channel.close()
        _reap(process, command[0], 5.0)
        raise
    channel.close()
    ending.code = _reap(process, command[0], EXIT_GRACE)
    _close(lifeline)
    return ending


def _serve_child(channel: Channel, source: WorkSource, bootstrap: Optional[Dict[str, Any]],
                 ending: Ending) -> None:
    job_sent = None
    while True:
        try:
            message = channel.receive()
            job_sent = _answer(channel, source, bootstrap, ending, message, job_sent)
        except EOFError:
            return  # it died (or exited without a word)
        if ending.status is not None:
            return


def _answer(channel: Channel, source: WorkSource, bootstrap: Optional[Dict[str, Any]],
            ending: Ending, message: Dict[str, Any], job_sent: Any) -> Any:
    """Do what one message of the child asks; returns the job dict the child now holds."""
    op = message["op"]
    item = ending.item
    # An item's messages name it: a thread of an item that ended speaks for nobody.
    ours = item is not None and message.get("work_id") == item.work_id
    if op == "hello":
        ending.greeted = True
        channel.send({"bootstrap": bootstrap})
    elif op == "request":
        item = ending.item = source.request()
        if item is None:
            channel.send(None)
            return job_sent
        reply = {"job_id": item.job_id, "work_id": item.work_id, "calls": item.calls}
        if item.job is not job_sent:  # a job's function travels once, not with each item
            reply["job"] = job_sent = item.job
        source.started(item)  # before the child runs it: its output is the item's from now
        channel.send(reply)
    elif op == "progress":
        if ours:
            source.progress(item, message["fraction"], message.get("message"))
    elif op == "report":
        if ours:
            ending.item = None
            source.report(item, message["status"], message["outcomes"])
    elif op == "outcome":
        try:
            found = {"outcome": source.outcome(message["job_id"], message["work_id"])}
        except Exception as error:  # as in-process: the item that asked fails with it
            found = {"error": "%s: %s" % (type(error).__name__, error)}
        channel.send(found)
    elif op == "unusable":
        ending.unusable = message["message"]
    elif op == "end":
        ending.status = message["status"]
    else:
        raise RuntimeError("the dccfutures child sent %r, which makes no sense" % (op,))
    return job_sent


def _passable(fds: Sequence[int]) -> List[int]:
    """What the child is told: the descriptors themselves, or on Windows their handles."""
    if os.name != "nt":
        return list(fds)
    import msvcrt
    return [msvcrt.get_osfhandle(fd) for fd in fds]


def _spawn(command: List[str], env: Dict[str, str], fds: Sequence[int]) -> subprocess.Popen:
    """The child, in our process group (a kill of the subjob's group takes it too), with our
    stdout and stderr, no stdin, and of our other descriptors only its pipe ends."""
    if os.name != "nt":
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, pass_fds=fds)
    handles = _passable(fds)
    for handle in handles:
        os.set_handle_inheritable(handle, True)
    info = subprocess.STARTUPINFO()  # type: ignore[attr-defined]
    info.lpAttributeList = {"handle_list": handles}
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, close_fds=True,
                            startupinfo=info)


def _reap(process: subprocess.Popen, name: str, grace: float) -> int:
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:  # hung in its exit: it is ours and not yet reaped
        print("dccfutures: %s (pid %d) did not exit %.0f s after its work; killing it"
              % (name, process.pid, grace), file=sys.stderr, flush=True)
        process.kill()
        return process.wait()


def child_environment(hidden: Iterable[str]) -> Tuple[Dict[str, str], Optional[str]]:
    """Our environment for the child, whose ``PYTHONPATH`` lets it import dccfutures and
    nothing else of ours: not the ``hidden`` folders (Qube's ``qb``), not our site-packages.
    Returns it and a private folder to remove once the child is gone (or None).

    When dccfutures itself sits in a site-packages (pip-installed on the worker), the child
    gets a private folder holding only a link to it; otherwise its own folder (a checkout, a
    studio's deployment), as any Python of ours is given it. Relative and empty entries are
    dropped: they would name Qube's working folder, which anyone may write to."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.dirname(package)
    hide = {_real(p) for p in list(hidden) + _site_packages()}
    private = None
    if _INSTALLED.search(os.path.join(root, "")) or _real(root) in hide:
        private = _link_folder(package)
        hide.add(_real(root))
    env = dict(os.environ)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                 if os.path.isabs(p) and _real(p) not in hide]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([private or root] + inherited))
    return env, private


def _site_packages() -> List[str]:
    import site
    found = list(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: None)()
    return found + ([user] if user else [])


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _link_folder(package: str) -> Optional[str]:
    """A private folder whose only entry, ``dccfutures``, links to ``package``; None when
    this system makes no link (then the child gets the package's folder)."""
    try:
        folder = tempfile.mkdtemp(prefix="dccfutures-child-")
    except OSError:  # no room in the temp folder
        return None
    link = os.path.join(folder, "dccfutures")
    try:
        os.symlink(package, link, target_is_directory=True)
        return folder
    except (OSError, NotImplementedError):
        pass
    if os.name == "nt":
        try:  # a junction needs no privilege
            import _winapi
            _winapi.CreateJunction(package, link)
            return folder
        except (OSError, ImportError, AttributeError):
            pass
    remove_link_folder(folder)
    return None


def remove_link_folder(folder: Optional[str]) -> None:
    if not folder:
        return
    link = os.path.join(folder, "dccfutures")
    for remove in (os.unlink, os.rmdir):  # a symlink; a Windows junction
        try:
            remove(link)
            break
        except OSError:
            continue
    try:
        os.rmdir(folder)
    except OSError:
        pass


# -- the child's side ------------------------------------------------------------------------

class PipeSource(WorkSource):
    """The parent's work source, seen from the child: every call is a message."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.job: Dict[str, Any] = {}
        self._checked = False
        self._last_progress = 0.0

    def request(self) -> Optional[Item]:
        if not self._checked:  # after the bootstrap: a DCC may add its folders only then
            self._checked = True
            missing = _missing_runtime()
            if missing:
                self.channel.send({"op": "unusable", "message": missing})
                return None
        flush_stdio()  # what came before is not the next item's: the parent marks its start
        reply = self.channel.call({"op": "request"})
        if reply is None:
            return None
        self.job = reply.get("job", self.job)
        return Item(reply["job_id"], reply["work_id"], reply["calls"], self.job)

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        now = time.monotonic()
        if now - self._last_progress < CHILD_PROGRESS_EVERY and fraction < 1.0:
            return
        self._last_progress = now
        self.channel.send({"op": "progress", "work_id": item.work_id, "fraction": float(fraction),
                           "message": None if message is None else str(message)})

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        flush_stdio()
        self.channel.send({"op": "report", "work_id": item.work_id, "status": status,
                           "outcomes": outcomes})

    def outcome(self, job_id: int, work_id: int) -> Optional[bytes]:
        reply = self.channel.call({"op": "outcome", "job_id": job_id, "work_id": work_id})
        if "error" in reply:
            from ..errors import FarmError
            raise FarmError("cannot read the result of work %d:%d: %s"
                            % (job_id, work_id, reply["error"]))
        return reply["outcome"]


def _missing_runtime() -> Optional[str]:
    """Why this interpreter cannot run work (cloudpickle does not import), or None."""
    try:
        import cloudpickle  # noqa: F401
    except ImportError as error:
        return "%s cannot import cloudpickle (%s)" % (sys.executable, error)
    return None


def _open(text: str) -> Tuple[Channel, int]:
    """Our ends of the pipes, from the argument the parent gave, kept from our children."""
    numbers = [int(n) for n in text.split(",")]
    if os.name == "nt":
        import msvcrt
        numbers = [msvcrt.open_osfhandle(handle, flags) for handle, flags
                   in zip(numbers, (os.O_RDONLY, 0, os.O_RDONLY))]
    for fd in numbers:
        os.set_inheritable(fd, False)
    return Channel(numbers[0], numbers[1]), numbers[2]


def _die_with_parent(lifeline: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except Exception:  # no libc to speak to: the lifeline thread still watches
            pass
    threading.Thread(target=_watch_lifeline, args=(lifeline,), name="dccfutures-lifeline",
                     daemon=True).start()


def _watch_lifeline(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    try:
        os.write(2, b"dccfutures: the subjob that started this process is gone; ending it\n")
    finally:
        os._exit(1)


def main(argv: List[str]) -> None:
    channel, lifeline = _open(argv[0])
    _die_with_parent(lifeline)
    line_buffered_stdio()
    try:
        spec = channel.call({"op": "hello", "pid": os.getpid()})["bootstrap"]
        status = "done"
        try:
            serve(PipeSource(channel), load_bootstrap(spec) if spec else None)
        except EOFError:
            raise
        except BaseException:  # the bootstrap or the loop: the subjob fails, as it would
            traceback.print_exc()
            status = "failed"
        flush_stdio()
        channel.send({"op": "end", "status": status})
    except (EOFError, BrokenPipeError):  # the parent is gone: nobody to tell
        exit_process(1)
    exit_process(0)


if __name__ == "__main__":
    main(sys.argv[1:])


def how_it_ended(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            import signal
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        return "was killed by %s" % name
    return "exited with status %s" % code


def install_command(spec: Optional[Dict[str, Any]], interpreter: str) -> str:
    """The command that installs cloudpickle and PyYAML for the child's interpreter."""
    kind = (spec or {}).get("kind")
    if kind == "hython":
        return "dccfutures houdini install --hython %s" % interpreter
    if kind == "maya_batch":  # maya -batch runs the Python of the mayapy next to it
        mayapy = os.path.join(os.path.dirname(interpreter),
                              "mayapy.exe" if os.name == "nt" else "mayapy")
        return "dccfutures maya install --mayapy %s" % mayapy
    if kind == "mayapy":
        return "dccfutures maya install --mayapy %s" % interpreter
    if kind == "blender_batch":  # Blender's bundled Python: its scripts/modules folder
        return "dccfutures blender install --blender %s" % interpreter
    return "%s -m pip install cloudpickle PyYAML" % interpreter
