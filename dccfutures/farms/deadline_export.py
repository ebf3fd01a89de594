"""What a script would submit to Deadline Cloud, written as job bundles and not sent: the
farm behind ``dccfutures deadline export SCRIPT --out DIR [-- ARGS]``.

The command runs the script in a process of its own (:func:`main`, with ``sys.argv`` and
``sys.path[0]`` as ``python SCRIPT ARGS`` gives them) in which the ``deadline`` farm is an
:class:`ExportFarm`: each job a ``submit``, ``map`` or ``batch`` of an
``Executor(farm="deadline")`` makes is written, in submit order, as ``DIR/job-001-<name>``,
``DIR/job-002-<name>``…: the bundle the deadline farm would send (its template, its
payloads in ``payload/``, its ``Output`` folder ``output/`` inside it, and CreateJob's
``priority``, ``maxRetriesPerTask`` and ``maxWorkerCount`` as the ``deadline:*`` parameter
values ``deadline bundle submit`` reads). Payload and Output are PATH parameters with a data
flow, so ``deadline bundle submit`` on a queue with job attachments uploads the payloads and
syncs the results back. Nothing is sent: no AWS credentials, network or spool folder is used.

An exported job never runs, so its futures end at once with :class:`NotSubmittedError`; a
script that waits for a result stops there, with one line, and the bundles written so far
are complete. A job whose work waits on work of another exported job is written SUSPENDED
(``deadline:targetTaskRunStatus``): Deadline Cloud has no job-to-job dependency, and the
watcher that releases such a job on the deadline farm is not there to do it.
"""
import contextlib
import os
import re
import runpy
import shutil
import sys
import threading
import time
import traceback
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .. import farms, payload
from ..config import Config
from ..errors import DccFuturesError, FarmError
from .base import (BLOCKED, FAILED, REMOVED, Farm, JobId, JobInfo, JobSpec, JobState, WorkInfo,
                   WorkRef, WorkState)

MODULE = "dccfutures.farms.deadline_export"
BUNDLE_FOLDER = re.compile(r"\Ajob-([0-9]{3,})-")
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9._-]+")
NAME_LENGTH = 40

_out: Optional[str] = None  # where this process's deadline farm exports to (exporting())


class NotSubmittedError(FarmError):
    """The result of a job that was written as a bundle by ``deadline export``, not
    submitted: there is none."""


class ExportFarm(Farm):
    """The deadline farm of a process that exports: each job becomes a bundle folder."""

    name = "deadline"
    pushes = False
    poll_interval = (0.005, 0.05)

    def __init__(self, config: Config, out: Optional[str] = None):
        out = out or _out
        if not out:
            raise FarmError("the deadline export farm needs a folder to write into")
        self.config = config
        self.settings = config.deadline
        self.out = os.path.abspath(out)
        self._lock = threading.Lock()
        self._jobs: Dict[str, JobSpec] = {}
        self._written: Dict[str, float] = {}

    def __repr__(self) -> str:
        return "<ExportFarm %s>" % self.out

    def __str__(self) -> str:
        return "deadline (exported to %s)" % self.out

    # -- writing bundles -------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSpec]) -> List[JobId]:
        """Write every job's bundle, or none."""
        for spec in jobs:
            if not spec.work:
                raise ValueError("a job needs at least one work item")
        with self._lock:
            written: List[Tuple[str, JobSpec]] = []
            try:
                for spec in jobs:
                    number = len(self._jobs) + len(written) + 1
                    written.append((self._write(spec, number, [j for j, _ in written]), spec))
            except BaseException:
                for job_id, _ in written:
                    shutil.rmtree(self.folder(job_id), ignore_errors=True)
                raise
            for job_id, spec in written:
                self._jobs[job_id] = spec
                self._written[job_id] = time.time()
        return [job_id for job_id, _ in written]

    def folder(self, job_id: str) -> str:
        return os.path.join(self.out, job_id)

    def _write(self, spec: JobSpec, number: int, alongside: List[str]) -> str:
        """The bundle of one job, as the deadline farm writes it; its id (its folder's name)."""
        from .deadline import job_settings, write_job_bundle
        job_id = "job-%03d-%s" % (number, _folder_name(spec.name))
        others = sorted({str(j) for work in spec.work for j, _ in work.depends_on
                         if j is not None})
        for other in others:
            if other not in self._jobs and other not in alongside:
                raise ValueError("work depends on job %s, which this export did not write"
                                 % other)
        folder = self.folder(job_id)
        if os.path.exists(folder):
            raise FarmError("cannot export job %s: %s exists already" % (job_id, folder))
        settings: Dict[str, object] = dict(job_settings(spec, self.settings))
        if others or spec.fields.get("status") == BLOCKED:
            settings["targetTaskRunStatus"] = "SUSPENDED"
        os.makedirs(self.out, exist_ok=True)
        try:
            write_job_bundle(spec, folder, os.path.join(folder, "output"), self.settings,
                             bool(others), outputs={other: os.path.join(self.folder(other),
                                                                        "output")
                                                    for other in others})
            _add_parameter_values(folder, {"deadline:" + key: value
                                           for key, value in settings.items()})
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # ours: it did not exist
            raise
        return job_id

    # -- what became of the work: nothing ran ----------------------------------------------

    def _why(self, job_id: str) -> str:
        return ("job %s was exported to %s, not submitted: it has no result"
                % (job_id, self.folder(job_id)))

    def poll(self, job_ids) -> Dict[JobId, JobState]:
        states: Dict[JobId, JobState] = {}
        for job_id in job_ids:
            spec = self._jobs.get(job_id)
            if spec is None:
                states[job_id] = JobState(REMOVED)
            else:
                states[job_id] = JobState(FAILED, {index: WorkState(FAILED, 0.0, "exported")
                                                   for index in range(len(spec.work))})
        return states

    def results(self, items: Sequence[WorkRef]) -> Dict[WorkRef, Tuple[str, Optional[bytes]]]:
        return {(job_id, index): (FAILED, payload.failed_outcomes(
                    NotSubmittedError(self._why(str(job_id)))))
                for job_id, index in items if job_id in self._jobs}

    def kill(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        return 0

    def retry(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        return 0

    def block(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        return 0

    def unblock(self, job_id: JobId, work_ids: Optional[Sequence[int]] = None) -> int:
        return 0

    def log(self, job_id: JobId, work_id: int) -> str:
        self._spec(job_id)
        return "(%s)\n" % self._why(str(job_id))

    def jobs(self, limit: int = 50, job_ids: Optional[Sequence[JobId]] = None
             ) -> List[JobInfo]:
        ids = list(self._jobs)[::-1] if job_ids is None else \
            [str(j) for j in job_ids if j in self._jobs]
        return [self._info(job_id) for job_id in ids[:limit]]

    def job(self, job_id: JobId) -> JobInfo:
        spec = self._spec(job_id)
        info = self._info(str(job_id))
        info.work = [WorkInfo(job_id, index, work.name or str(index), FAILED, 0.0, "exported",
                              attempts=0, ncalls=work.ncalls)
                     for index, work in enumerate(spec.work)]
        return info

    def _spec(self, job_id: JobId) -> JobSpec:
        spec = self._jobs.get(job_id)  # type: ignore[arg-type]
        if spec is None:
            raise KeyError(job_id)
        return spec

    def _info(self, job_id: str) -> JobInfo:
        spec = self._jobs[job_id]
        return JobInfo(id=job_id, name=spec.name, status=FAILED, prototype=spec.prototype,
                       priority=int(spec.fields.get("priority") or 0),
                       cpus=int(spec.fields.get("cpus") or 0), user="",
                       submitted=self._written[job_id], tally={FAILED: len(spec.work)},
                       fields={"exported_to": self.folder(job_id)})


def written(out: str) -> List[str]:
    """The bundle folders an export wrote into ``out``, in the order they were written."""
    try:
        names = os.listdir(out)
    except OSError:
        return []
    found = []
    for name in names:
        match = BUNDLE_FOLDER.match(name)
        folder = os.path.join(out, name)
        if match and all(os.path.isfile(os.path.join(folder, part))
                         for part in ("template.yaml", "parameter_values.yaml")):
            found.append((int(match.group(1)), folder))
    return [folder for _, folder in sorted(found)]


@contextlib.contextmanager
def exporting(out: str) -> Iterator[None]:
    """Within: this process's ``deadline`` farm is an :class:`ExportFarm` writing into
    ``out``. Every farm instance of the process is dropped on the way in and out (their
    outstanding futures stay pending), so this is for a process of its own (the command's)
    and for tests."""
    global _out
    previous = farms.FARMS["deadline"]
    farms.forget()
    farms.FARMS["deadline"] = MODULE + ":ExportFarm"
    _out = os.path.abspath(out)
    try:
        yield
    finally:
        farms.forget()
        farms.FARMS["deadline"] = previous
        _out = None


def main(argv: Sequence[str]) -> int:
    """``OUT SCRIPT [ARGS...]``: run SCRIPT as ``python SCRIPT ARGS`` runs it, exporting.
    Exits 0 when the script ended, or stopped at the result of an exported job; otherwise
    with the script's exit code (1 for an exception: its traceback, from the script's
    frames, or one line for ours)."""
    out, script, args = argv[0], argv[1], list(argv[2:])
    label = os.path.basename(script)
    sys.argv[:] = [script] + args
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    with exporting(out):
        try:
            runpy.run_path(script, run_name="__main__")
        except NotSubmittedError as error:
            _say("%s stopped at a result: %s" % (label, error))
        except SystemExit as exit_:
            return _exit_code(exit_.code)
        except DccFuturesError as error:  # a config error, a farm refusing: it says it all
            _say("%s: %s" % (label, " ".join(str(error).split())))
            return 1
        except KeyboardInterrupt:
            return 130
        except BaseException as error:
            _print_script_traceback(error, script)
            return 1
    return 0


# -- helpers ----------------------------------------------------------------------------------

def _folder_name(name: str) -> str:
    """A job's name as part of a folder name: letters, digits, ``._-``; at most 40."""
    text = _NOT_IN_A_NAME.sub("-", str(name or "")).strip("-.")[:NAME_LENGTH].strip("-.")
    return text or "job"


def _add_parameter_values(folder: str, values: Dict[str, object]) -> None:
    """Add ``values`` to the bundle's parameter values file (written whole, then renamed:
    a reader sees the file before or after, never half of it)."""
    import yaml
    from .openjd.bundle import PARAMETER_VALUES
    path = os.path.join(folder, PARAMETER_VALUES)
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    document.setdefault("parameterValues", []).extend(
        {"name": name, "value": value} for name, value in values.items())
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document, handle, sort_keys=False, width=1000, allow_unicode=True)
    os.replace(temporary, path)


def _say(message: str) -> None:
    sys.stderr.write("dccfutures: %s\n" % message)
    sys.stderr.flush()


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write("%s\n" % (code,))  # sys.exit("message"): as Python prints it
    return 1


def _print_script_traceback(error: BaseException, script: str) -> None:
    """The traceback as ``python SCRIPT`` prints it: from the script's own frames on."""
    tb = error.__traceback__
    path = os.path.abspath(script)
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != path:
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__)
    sys.stderr.flush()


if __name__ == "__main__":  # run by `deadline export` through runtime.bootstrap.python_command
    from dccfutures.farms.deadline_export import main as _main  # the module, not this copy
    sys.exit(_main(sys.argv[1:]))
