"""The Qube side of dccfutures: what a jobtype back-end runs in a subjob.

A Qube subjob is one process on a worker host: Qube runs the jobtype's ``execute.py`` with
its worker's Python and the job's ``env``. That process asks the supervisor for work items of
its job (``qb.requestwork``), runs each through the shared runtime loop and reports it
(``qb.reportwork``), then ends with ``qb.reportjob``. The local farm's worker runs the very
same loop over SQLite instead of ``qb``.

Work for another interpreter (a DCC: mayapy, ``maya -batch``, hython, bpy, ``blender -b``;
or the plain Python the submitter named) runs in a child of the subjob, started once per
subjob and fed every item the subjob takes over a private pipe
(:mod:`dccfutures.runtime.child`): so the DCC is bootstrapped once per subjob, not once per
item. The subjob's own Python keeps ``qb``, the
:class:`QubeWorkSource` (requests, reports, progress, dependency look-ups, the log markers
and the output cap) and talks to Qube; the DCC never imports ``qb`` (Qube's is compiled for
the worker's Python and dies at import in another) and never sees the worker's site-packages
(they would shadow the DCC's own numpy or PySide). The subjob is not replaced by the DCC
(``exec``): on Windows that starts a detached process, and Qube would see its subjob end at
once, breaking kill, preempt and the logs. Work for this very interpreter runs in-process.

Packages and resultpackages must be plain data: strings, numbers, lists and dicts, no None
and no booleans (Qube converts them). Encoded payloads travel base64-encoded, or, above
``qube.spool_threshold_mb``, as a file in ``qube.spool_dir`` on shared storage, referenced by
path. Client and subjob each read only files of that folder as their own config names it (the
subjob's: its worker's), never one a package names. Jobtype ``execute.py`` files call
:func:`jobtype_main`.
"""
import base64
import os
import re
import sys
import time
import traceback
import uuid
from typing import Any, Dict, List, Optional, Tuple

from .. import payload
from ..errors import DccFuturesError, FarmError
from .loop import Item, WorkSource, exit_process, job_context, serve
from .child import how_it_ended, install_command
from .output import ItemsInOneLog



# -- plain-data references to blobs ----------------------------------------------------------

def pack_blob(blob: bytes, spool_dir: Optional[str] = None, threshold: float = float("inf")
              ) -> Dict[str, str]:
    """``{"b64": …}`` inline, or ``{"spool": path}`` when larger than ``threshold`` bytes."""
    if spool_dir and len(blob) > threshold:
        os.makedirs(spool_dir, exist_ok=True)
        path = os.path.join(spool_dir, "dccfutures-%s.bin" % uuid.uuid4().hex)
        with open(path + ".tmp", "wb") as handle:
            handle.write(blob)
        os.replace(path + ".tmp", path)  # readers never see half a file
        return {"spool": path}
    return {"b64": base64.b64encode(blob).decode("ascii")}


SPOOL_NAME = re.compile(r"^dccfutures-[0-9a-f]{32}\.bin\Z")


def in_spool(path: str, spool_dir: Optional[str]) -> bool:
    """Whether ``path`` is one of our files in ``spool_dir``: a reference to anything else
    is neither read nor deleted (a package is data anyone on the farm could have written)."""
    if not spool_dir or not SPOOL_NAME.match(os.path.basename(path)):
        return False
    return os.path.dirname(os.path.realpath(path)) == os.path.realpath(spool_dir)


def unpack_blob(ref: Dict[str, str], remove: bool = False,
                spool_dir: Optional[str] = None) -> bytes:
    """The bytes behind a reference made by :func:`pack_blob`; ``remove`` deletes a spool file
    once it has been read (results are read once). A spool path outside ``spool_dir`` is
    refused."""
    if "b64" in ref:
        return base64.b64decode(ref["b64"])
    path = ref["spool"]
    if not spool_dir:
        raise ValueError("%r is in a spool folder, and the dccfutures config here sets no "
                         "qube.spool_dir" % (path,))
    if not in_spool(path, spool_dir):
        raise ValueError("%r is not a dccfutures file in the spool folder %s (qube.spool_dir "
                         "of the dccfutures config here)" % (path, spool_dir))
    with open(path, "rb") as handle:
        blob = handle.read()
    if remove:
        try:
            os.unlink(path)
        except OSError:
            pass
    return blob


def spool_paths(package: Any) -> list:
    """Every spool file a job or work package refers to (for clean-up)."""
    found = []
    if isinstance(package, dict):
        for key, value in package.items():
            if key == "spool" and isinstance(value, str):
                found.append(value)
            else:
                found += spool_paths(value)
    elif isinstance(package, list):
        for value in package:
            found += spool_paths(value)
    return found


# -- the work source -------------------------------------------------------------------------

class QubeWorkSource(WorkSource):
    """Work items of one Qube job, handed out to this subjob by the supervisor."""

    def __init__(self, qb: Any, job: Any, config: Any = None):
        """``config``: this worker's dccfutures config (by default the one it loads, see
        :func:`dccfutures.config.load`). Its ``qube.spool_dir`` is the only spool folder read
        or written here: a job's package is data whoever submits or modifies the job wrote,
        and a folder it names is not one to trust."""
        self.qb = qb
        self.job_id = int(job["id"])
        package = job.get("package") or {}
        if config is None:
            from ..config import load
            config = load()
        self.spool_dir = config.qube.spool_dir
        self.threshold = config.qube.spool_threshold_mb * 1e6
        function = package.get("function")
        try:
            function = unpack_blob(function, spool_dir=self.spool_dir) if function else None
        except ValueError as error:
            raise FarmError("cannot read the function of this job: %s" % error) from None
        # Qube already put the job's env in this process's environment.
        self.job = job_context(package, function)
        self.final = "complete"
        self._log = ItemsInOneLog(package.get("max_log_mb"))

    def request(self) -> Optional[Item]:
        delay = 0.05
        while True:
            work = self.qb.requestwork()
            status = work["status"]
            if status == "running":
                package = work["package"]
                unmet = self._unmet(package.get("depends_on"))
                if unmet is not None:  # unblocked because a dependency ended, not complete
                    self._report_outcome(work, _dependency_outcome(*unmet))
                    continue
                try:
                    calls = unpack_blob(package["calls"], spool_dir=self.spool_dir)
                except Exception as error:  # its payload is gone: the item fails, we go on
                    self._fail(work, "cannot read the payload of this work item: %s" % error)
                    continue
                return Item(self.job_id, int(package["index"]), calls, self.job, token=work)
            if status == "waiting":  # others hold the rest: ask again shortly
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            # complete: the agenda is done; pending: preempted; blocked: held back.
            self.final = status if status in ("pending", "blocked") else "complete"
            return None

    def started(self, item: Item) -> None:
        self._log.started(item)

    def progress(self, item: Item, fraction: float, message: Optional[str]) -> None:
        if not self._log.progress_due(fraction):
            return
        work = item.token
        work["resultpackage"] = {"progress": float(fraction)}
        if message is not None:  # a Qube package holds no None: an empty key is left out
            work["resultpackage"]["message"] = str(message)
        self.qb.reportwork(work)  # status still 'running': an update, not the end

    def report(self, item: Item, status: str, outcomes: bytes) -> None:
        self._log.ended(item)
        work = item.token
        try:
            packed = pack_blob(outcomes, self.spool_dir, self.threshold)
        except OSError as error:  # the spool is full or not writable from this worker
            self._fail(work, "cannot write the result to the spool folder %s: %s"
                       % (self.spool_dir, error))
            return
        work["status"] = status
        work["resultpackage"] = {"outcomes": packed}
        if status == "complete":
            work["resultpackage"]["progress"] = 1.0
        self.qb.reportwork(work)

    def _fail(self, work: Any, message: str) -> None:
        print("dccfutures: " + message, file=sys.stderr, flush=True)
        self._report_outcome(work, payload.failed_outcomes(RuntimeError(message)))

    def _report_outcome(self, work: Any, outcome: bytes) -> None:
        work["status"] = "failed"
        work["resultpackage"] = {"outcomes": pack_blob(outcome)}
        self.qb.reportwork(work)

    # -- dependencies --------------------------------------------------------------------

    def _dependency_works(self, refs: Any) -> Dict[Tuple[int, int], Any]:
        wanted = set(dependency_refs(refs, self.job_id))
        jobs = {int(job["id"]): job.get("agenda") or []
                for job in self.qb.jobinfo(id=sorted({j for j, _ in wanted}), agenda=True)}
        return {(j, i): (jobs.get(j) or [None] * (i + 1))[i] if i < len(jobs.get(j) or [])
                else None for j, i in wanted}

    def _unmet(self, refs: Any) -> Optional[Tuple[int, int, str, str, Optional[bytes]]]:
        """The first dependency of an item that did not complete, with its outcomes (they say
        why it failed), or None."""
        if not refs:
            return None
        for (job_id, idx), work in sorted(self._dependency_works(refs).items()):
            if work is None:
                return job_id, idx, "removed", "?", None
            if work["status"] != "complete":
                return (job_id, idx, work["status"], str(work.get("name")),
                        self._outcomes_of(work))
        return None

    def _outcomes_of(self, work: Any) -> Optional[bytes]:
        outcomes = (work.get("resultpackage") or {}).get("outcomes")
        try:
            return unpack_blob(outcomes, spool_dir=self.spool_dir) if outcomes else None
        except Exception:  # its spool file is gone: the status alone says it
            return None

    def outcome(self, job_id: int, work_id: int) -> Optional[bytes]:
        work = self._dependency_works([[job_id, work_id]]).get((job_id, work_id))
        if work is None or work["status"] != "complete":
            return None
        outcomes = (work.get("resultpackage") or {}).get("outcomes")
        return unpack_blob(outcomes, spool_dir=self.spool_dir) if outcomes else None


def dependency_refs(refs: Any, job_id: int) -> List[Tuple[int, int]]:
    """(job, index) of each ``depends_on`` reference of a work package: ``[index]`` is an
    item of the job ``job_id`` itself (its id was not known when it was submitted),
    ``[job, index]`` an item of another job."""
    return [(job_id if len(ref) < 2 or ref[0] is None else int(ref[0]), int(ref[-1]))
            for ref in refs]


# -- entry points ----------------------------------------------------------------------------

def run_subjob(qb: Any = None, kind: str = "python") -> int:
    """Run this subjob's share of its job's agenda, then report the subjob to Qube; returns
    the exit status for this process. ``kind``: the jobtype's (``python``, ``mayapy``,
    ``maya``, ``hython``, ``bpy``, ``blender``), which says where the job names its
    interpreter."""
    if qb is None:
        import qb  # noqa: F811 (Qube's module on its workers)
    job = qb.jobobj()
    package = job.get("package") or {}
    spec = package.get("bootstrap")
    interpreter = package.get("python") if kind == "python" else (spec or {}).get("executable")
    if not interpreter:
        _fail_agenda(qb, (spec or {}).get("missing") or "the %s jobtype needs an interpreter in "
                     "the job package, and this job has none (was it submitted by dccfutures?)"
                     % kind)
        return 1
    here = _same_file(interpreter, sys.executable)
    if not here and not os.access(interpreter, os.X_OK):
        _fail_agenda(qb, "cannot run %s on this worker (%s): install it there or set the "
                         "interpreter in the dccfutures config" % (interpreter, kind))
        return 1
    try:
        source = QubeWorkSource(qb, job)
        bootstrap = None
        if here and spec:
            from .bootstrap import load_bootstrap
            bootstrap = load_bootstrap(spec)
    except DccFuturesError as error:  # a bad config, an untrusted spool: the message says it
        _fail_agenda(qb, "this subjob could not set up: %s" % error)
        return 1
    except BaseException:  # nothing can run here: fail the items, never leave them waiting
        _fail_agenda(qb, "this subjob could not set up:\n" + traceback.format_exc())
        return 1
    if not here:
        return _run_in_child(qb, source, interpreter, spec)
    status = "complete"
    try:
        serve(source, bootstrap)
        status = source.final
    except BaseException:
        traceback.print_exc()
        status = "failed"
    qb.reportjob(status)
    return 0


def _run_in_child(qb: Any, source: "QubeWorkSource", interpreter: str,
                  spec: Optional[Dict[str, Any]]) -> int:
    """Feed this subjob's items to ``interpreter``, started once as our child, then end the
    subjob as the child's end says (see :mod:`dccfutures.runtime.child`)."""
    from .child import CannotStart, child_environment, feed, remove_link_folder
    env, private = child_environment([_package_root(qb)])  # never Qube's qb in there
    try:
        ending = feed(source, interpreter, spec, env)
    except CannotStart as error:  # restarting the subjob would not help
        _fail_agenda(qb, str(error))
        return 1
    except BaseException:  # talking to Qube failed: the child is gone, the subjob fails
        traceback.print_exc()
        qb.reportjob("failed")
        return 1
    finally:
        remove_link_folder(private)
    if ending.unusable:
        _fail_agenda(qb, "%s: install it for that interpreter with `%s`"
                     % (ending.unusable, install_command(spec, interpreter)))
        return 1
    if ending.status is None:
        return _end_like(ending, interpreter)
    if ending.code:  # after its work: a DCC crashing in its own exit changes nothing
        print("dccfutures: %s (pid %d) %s after its work" % (
            interpreter, ending.pid, how_it_ended(ending.code)), file=sys.stderr, flush=True)
    qb.reportjob(source.final if ending.status == "done" else "failed")
    return 0


def _end_like(ending: Any, interpreter: str) -> int:
    """The child died without ending its loop (a crash, a kill, ``os._exit`` in the work):
    this subjob ends too, without ``reportjob``, so Qube sees the crash it is and retries or
    fails the item and restarts the subjob as its own settings say, as if the child had been
    the subjob. The item's output so far is in the subjob's logs already."""
    item = ending.item
    if item is not None:
        when = "while it ran work %d:%d" % (item.job_id, item.work_id)
    elif not ending.greeted:
        when = "before it could take work"
    else:
        when = "between work items"
    print("dccfutures: %s (pid %d) %s %s; this subjob ends with it"
          % (interpreter, ending.pid, how_it_ended(ending.code), when),
          file=sys.stderr, flush=True)
    code = ending.code or 1
    return 128 - code if code < 0 else code


def jobtype_main(kind: str) -> None:
    """What a jobtype's ``execute.py`` calls (in the worker's Python, which imports ``qb``):
    run this subjob's share of the job, here or in a child, and end the process."""
    import qb
    exit_process(run_subjob(qb, kind))


def _package_root(module: Any) -> str:
    """The folder to put on PYTHONPATH so ``import <module>`` finds it (a package or a file)."""
    path = os.path.abspath(module.__file__)
    if os.path.basename(path).startswith("__init__."):
        path = os.path.dirname(path)
    return os.path.dirname(path)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _fail_agenda(qb: Any, message: str) -> None:
    """Fail every item this subjob is handed with ``message``: a future must never hang."""
    print("dccfutures: " + message, file=sys.stderr, flush=True)
    outcome = payload.failed_outcomes(RuntimeError(message))
    while True:
        work = qb.requestwork()
        if work["status"] == "waiting":
            time.sleep(0.2)
            continue
        if work["status"] != "running":
            break
        work["status"] = "failed"
        work["resultpackage"] = {"outcomes": pack_blob(outcome)}
        qb.reportwork(work)
    qb.reportjob("failed")


def _dependency_outcome(job_id: int, idx: int, status: str, name: str,
                        outcomes: Optional[bytes]) -> bytes:
    return payload.encode_outcomes([payload.dependency_failure(job_id, idx, status, name,
                                                               outcomes)])


