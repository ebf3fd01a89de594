"""Job hooks: ``on_done="package.module:function"`` runs on the farm when a job ends.

The function gets one dict: ``{"id", "name", "status", "tally", "user", "farm"}``. It runs in
the farm's Python (not in a DCC), with the submitter's ``sys.path`` (its own folders first,
its Python's site-packages last, as the work has them) and the job's environment,
once per time the job ends (a retried job that ends again runs it again). The local farm's
supervisor starts it in a process of its own, in the folder the job was submitted from, but
nothing is imported from that folder unless the submitter's ``sys.path`` had it; on Qube a
``done-job-self`` callback of the job runs it inside Qube's supervisor, as every Qube callback
runs: keep it quick there (start a process or submit a job for anything slow, as Qube's
callbacks page advises). What it prints goes to the supervisor's log (Qube: the job's callback
log).
"""
import json
import os
import sys
from typing import Any, Dict, List, Sequence


def run(reference: str, info: Dict[str, Any], sys_path: Sequence[str] = (),
        installed: Sequence[str] = ()) -> Any:
    """Call the hook with the submitter's folders in front of ``sys.path`` and its Python's
    installation (``installed``: its site-packages) after it, as a work item gets them."""
    from .. import payload
    saved = list(sys.path)
    sys.path[:0] = [p for p in sys_path if p not in sys.path]
    sys.path.extend(p for p in installed if p not in sys.path)
    try:
        return payload.resolve(reference)(info)
    finally:
        sys.path[:] = saved  # in Qube's supervisor, the next job's hook has its own path


def qube_callback(reference: str, sys_path: Sequence[str], dccfutures_root: str,
                  installed: Sequence[str] = ()) -> Dict[str, Any]:
    """The Qube callback that runs ``reference`` when its job is done."""
    code = ("import sys\nsys.path.insert(0, %r)\nfrom dccfutures.runtime.hooks import "
            "run_in_qube\nrun_in_qube(qb, %r, %r, %r)\n" % (dccfutures_root, reference,
                                                            list(sys_path), list(installed)))
    return {"triggers": "done-job-self", "language": "python", "code": code}


def run_in_qube(qb: Any, reference: str, sys_path: List[str], installed: Sequence[str] = ()
                ) -> Any:
    job = qb.jobinfo(id=[qb.jobid()])[0]
    tally = job.get("todotally") or {}
    info = {"id": int(job["id"]), "name": job.get("name"), "status": job.get("status"),
            "tally": {k: int(v) for k, v in tally.items() if isinstance(v, int)},
            "user": job.get("user"), "farm": "qube"}
    return run(reference, info, sys_path, installed)


def main(argv: List[str]) -> int:
    """``python -m dccfutures.runtime.hooks REFERENCE INFO_JSON SYS_PATH_JSON [FOLDER
    [INSTALLED_JSON]]``,
    started as ``bootstrap.python_command`` starts it: ``sys.path`` is already clean when we
    move into FOLDER (the job's submit folder), so nothing there is imported by accident."""
    reference, info, sys_path = argv[0], json.loads(argv[1]), json.loads(argv[2])
    folder = argv[3] if len(argv) > 3 else ""
    installed = json.loads(argv[4]) if len(argv) > 4 else []
    if folder and os.path.isdir(folder):
        os.chdir(folder)
    try:
        run(reference, info, sys_path, installed)
    except Exception:
        import traceback
        print("dccfutures: on_done %s of job %s failed:\n%s"
              % (reference, info.get("id"), traceback.format_exc()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
