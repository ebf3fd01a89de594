"""The ``dccfutures`` command: look at and steer farm work from a shell.

A TD who submitted from Maya and then closed it still needs to see how the job is doing, read
one item's output, kill, retry or hold work, and wait for a job from a script. Every subcommand
is a thin layer over the Farm interface (``farms/base.py``), so it works on any farm; only
``farm`` and ``clean`` manage the embedded local farm itself.

Work items are named as on Qube: ``JOB`` is a job id, ``JOB:WORK`` one item of its agenda
(``12:3``), and ``JOB:WORK,WORK`` or ``JOB:FIRST-LAST`` several. ``JOB`` is the farm's own id:
digits are an int (the local farm's, Qube's), and a farm's string id (OpenCue's UUIDs, Deadline
Cloud's ``job-<32 hex digits>``; neither holds a colon) stays the string, which the farm then
looks up: a farm that has no such job says so (exit 1).

Exit codes: 0 success; 1 an error (an unknown job, a farm error, a config error) or, for
``wait``, a job that failed or was killed; 2 bad usage (a malformed id, an unknown option) or,
for ``wait``, a timeout. Errors are one line on stderr, never a traceback.
"""
import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from . import config as config_module
from . import farms, scene_copies, status
from .errors import DccFuturesError
from .farms.base import (BLOCKED, COMPLETE, PENDING, RUNNING, TERMINAL, Farm, JobId, JobInfo,
                         WorkInfo)
from .progress import ProgressBar

__all__ = ["main", "build_parser", "format_jobs", "format_job", "parse_target"]

PROG = "dccfutures"
WAIT_POLL = 0.2          # seconds between looks at a job in ``wait``
START_TIMEOUT = 5.0      # seconds ``farm start`` waits for the supervisor's lock
NAME_WIDTH = 40
USER_WIDTH = 20
MESSAGE_WIDTH = 50
ALL_JOBS = 1000000       # "every job", for the tallies of ``farm status``
MAX_ID = 2 ** 63 - 1     # the largest job id, work id or --limit a farm's database holds
MAX_ITEMS = 100000       # work items one JOB:WORK may name (JOB alone names the whole job)
QUOTE_WIDTH = 60         # characters of the user's input an error message repeats

_ID = re.compile(r"[0-9]+\Z")
# A farm's own string job id: OpenCue's (a UUID) or Deadline Cloud's (job- and 32 hex digits).
_FARM_ID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                      r"|job-[0-9a-f]{32})\Z", re.IGNORECASE)
ID_RULE = ("JOB is a number, or the farm's own string id as the farm shows it (a UUID, or job- "
           "and 32 hex digits)")


class CommandError(Exception):
    """A failure the user can act on: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# -- ids -------------------------------------------------------------------------------------

def parse_job(text: str) -> JobId:
    """A job id (``"12"`` -> ``12``, a UUID -> the UUID); anything else is a usage error naming
    the text."""
    job = _job_id(text)
    if job is None:
        raise CommandError("%s is not a job id (expected JOB, e.g. 12): %s"
                           % (_quote(text), ID_RULE), 2)
    return job


def parse_target(text: str) -> Tuple[JobId, Optional[List[int]]]:
    """A job and optionally some of its items: ``"12"`` -> ``(12, None)``,
    ``"12:3,5"`` -> ``(12, [3, 5])``, ``"12:0-2"`` -> ``(12, [0, 1, 2])``,
    ``"<uuid>:3"`` -> ``("<uuid>", [3])``. At most ``MAX_ITEMS`` items, counted before a range
    is expanded."""
    job_text, colon, work_text = text.partition(":")
    job = _job_id(job_text)
    if job is None:
        raise CommandError("%s is not a job id (expected JOB or JOB:WORK, e.g. 12 or 12:3): %s"
                           % (_quote(text), ID_RULE), 2)
    if not colon:
        return job, None
    spans = [_parse_work(part, text) for part in work_text.split(",")]
    named = sum(last - first + 1 for first, last in spans)
    if named > MAX_ITEMS:
        raise CommandError("%s names %d work items; at most %d at once (JOB alone acts on the "
                           "whole job)" % (_quote(text), named, MAX_ITEMS), 2)
    return job, sorted({work for first, last in spans for work in range(first, last + 1)})


def _parse_work(part: str, text: str) -> Tuple[int, int]:
    """One item (``3``) or a range (``0-9``) as ``(first, last)``."""
    first_text, dash, last_text = part.partition("-")
    first = _number(first_text)
    last = _number(last_text) if dash else first
    if first is not None and last is not None and first <= last:
        return first, last
    raise CommandError("%s has a bad work id %s (expected JOB:WORK with WORK an item index, a "
                       "list or a range, e.g. 12:3, 12:0,4 or 12:0-9)"
                       % (_quote(text), _quote(part)), 2)


def _job_id(text: str) -> Optional[JobId]:
    """Digits are an int id from 1 (the local farm's, Qube's); a farm's string id stays the
    string, as typed, for the farm to look up; anything else is None."""
    if _FARM_ID.match(text):
        return text
    return _number(text) or None


def _number(text: str) -> Optional[int]:
    """``text`` as an id from 0 to ``MAX_ID``, or None. Its length is checked before it is
    converted: ``int()`` of thousands of digits is slow, then refused."""
    digits = text.lstrip("0") or "0"
    if not _ID.match(text) or len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        return None
    return int(digits)


def _quote(text: str) -> str:
    """The user's input as an error repeats it: quoted, escaped and clipped (``repr``)."""
    return repr(text) if len(text) <= QUOTE_WIDTH else repr(text[:QUOTE_WIDTH - 3]) + "..."


# -- formatting ------------------------------------------------------------------------------

def format_jobs(jobs: Sequence[JobInfo], fractions: Optional[Dict[JobId, float]] = None
                ) -> str:
    """The job table of ``dccfutures jobs``. ``fractions`` overrides a job's progress (live
    progress of running items); otherwise it is the share of completed items."""
    fractions = fractions or {}
    headers = ("ID", "NAME", "STATUS", "PROGRESS", "PRIO", "CPUS", "USER", "SUBMITTED")
    rows = [(str(job.id), status.clip(job.name, NAME_WIDTH), job.status,
             status.progress_text(job.tally, fractions.get(job.id, job.progress)),
             str(job.priority), str(job.cpus) if job.cpus else "-",
             status.clip(job.user or "-", USER_WIDTH), status.when(job.submitted))
            for job in jobs]
    return _table(headers, rows, right=(0, 4, 5))


def format_job(job: JobInfo) -> str:
    """One job, its work items and why each failed one failed, as ``dccfutures show`` prints
    them."""
    lines = [
        "job %s: %s" % (job.id, status.clip(job.name, status.LINE_WIDTH)),
        "  status     %s, %s" % (job.status,
                                 status.progress_text(job.tally, status.live_fraction(job))),
        "  items      %s" % (status.tally_text(job.tally) or "none"),
        "  priority   %s   cpus %s   user %s   prototype %s"
        % (job.priority, job.cpus or "-", status.clip(job.user or "-", USER_WIDTH),
           status.clip(job.prototype or "-", NAME_WIDTH)),
        "  submitted  %s   started %s   finished %s"
        % (status.when(job.submitted), status.when(job.started), status.when(job.finished)),
        "",
    ]
    headers = ("IDX", "NAME", "STATUS", "PROGRESS", "ELAPSED", "MESSAGE", "ATTEMPTS")
    rows = [(str(w.work_id), status.clip(w.name, NAME_WIDTH), w.status,
             "%d%%" % status.percent(1.0 if w.status == COMPLETE else w.progress),
             status.elapsed(w), status.clip(w.message or "", MESSAGE_WIDTH), str(w.attempts))
            for w in job.work]
    text = "\n".join(lines) + _table(headers, rows, right=(0, 3, 4, 6))
    failures = status.failure_lines(job)
    return text + ("\n\nfailed items:\n" + "\n".join(failures) if failures else "")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Iterable[int] = ()
           ) -> str:
    right = set(right)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])


# -- farms -----------------------------------------------------------------------------------

def _farm_name(args: argparse.Namespace, config: config_module.Config) -> str:
    return getattr(args, "farm", None) or config.farm


def _open_farm(args: argparse.Namespace) -> Farm:
    config = config_module.load()
    name = _farm_name(args, config)
    try:
        return farms.get_farm(name, config)
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    except ImportError as error:
        raise CommandError("the %s farm is not available here: %s" % (name, error)) from None


def _local_farm(args: argparse.Namespace, database: bool = True):
    """The local farm; ``database=False``: its home and supervisor only, which a farm whose
    database is broken still has (``farm stop``, ``farm repair``)."""
    config = config_module.load()
    name = _farm_name(args, config)
    if name != "local":
        raise CommandError("'%s' manages the local farm only, not the %s farm (drop --farm, or "
                           "use --farm local)" % (args.command, name), 2)
    if not database:
        from .farms.local import LocalFarm
        return LocalFarm(config, database=False)
    return farms.get_farm("local", config)


def _get_job(farm: Farm, job_id: JobId) -> JobInfo:
    try:
        return farm.job(job_id)
    except KeyError:
        raise CommandError("no job %s on the %s farm" % (job_id, farm.name)) from None


def _summary(farm: Farm, job_id: JobId) -> JobInfo:
    """The job without its agenda (cheap: its tallies)."""
    found = farm.jobs(job_ids=[job_id])
    if not found:
        raise CommandError("job %s was removed from the %s farm" % (job_id, farm.name))
    return found[0]


def _select(farm: Farm, job: JobInfo, works: Optional[List[int]]) -> List[WorkInfo]:
    if works is None:
        return list(job.work)
    by_index = {w.work_id: w for w in job.work}
    missing = [w for w in works if w not in by_index]
    if missing:
        last = len(job.work) - 1
        raise CommandError("no work item %s:%d on the %s farm (job %s has %s%s)" % (
            job.id, missing[0], farm.name, job.id, status.items(len(job.work)),
            "" if last < 0 else ": 0" if last == 0 else ": 0-%d" % last))
    return [by_index[w] for w in works]


def _revive(farm: Farm, jobs: Iterable[JobInfo]) -> None:
    """A CLI call restarts a dead supervisor when there is work for it (DESIGN: processes)."""
    if any(job.status in (PENDING, RUNNING) for job in jobs):
        farm.ensure_running()


def _live_fractions(farm: Farm, jobs: Sequence[JobInfo]) -> Dict[JobId, float]:
    """Progress of running jobs including their running items' reported progress."""
    out = {}
    for job in jobs:
        if job.tally.get(RUNNING):
            try:
                out[job.id] = status.live_fraction(farm.job(job.id))
            except KeyError:
                pass  # removed meanwhile
    return out


# -- commands --------------------------------------------------------------------------------

def cmd_jobs(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1, got %d" % args.limit, 2)
    farm = _open_farm(args)
    jobs = farm.jobs(min(args.limit, MAX_ID))  # more than there are: all of them
    _revive(farm, jobs)
    if args.json:
        print(json.dumps([dataclasses.asdict(j) for j in jobs], indent=2, default=str))
    elif not jobs:
        print("no jobs on the %s farm" % farm.name)
    else:
        print(format_jobs(jobs, _live_fractions(farm, jobs)))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    job_id = parse_job(args.job)
    farm = _open_farm(args)
    job = _get_job(farm, job_id)
    _revive(farm, [job])
    if args.json:
        print(json.dumps(dataclasses.asdict(job), indent=2, default=str))
    else:
        print(format_job(job))
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    job_id, works = parse_target(args.target)
    farm = _open_farm(args)
    items = _select(farm, _get_job(farm, job_id), works)
    alone = works is not None and len(items) == 1
    for item in items:
        text = farm.log(job_id, item.work_id)
        trailer = status.failure_trailer(job_id, item)  # why it failed, after its output
        if not alone:
            print("--- %s:%d (%s) ---" % (job_id, item.work_id, item.status))
        if text and not text.endswith("\n") and (trailer or not alone):
            text += "\n"
        sys.stdout.write(text + trailer)  # an item alone: exactly its output, then why it failed
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    """kill, retry, block and unblock: one farm call on a job or some of its items."""
    job_id, works = parse_target(args.target)
    farm = _open_farm(args)
    job = _get_job(farm, job_id)
    _select(farm, job, works)
    count = getattr(farm, args.command)(job_id, works)
    print(status.action_report(args.command, job.id, works, count))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    job_id = parse_job(args.job)
    if args.timeout is not None and not args.timeout >= 0:  # negative, or nan
        raise CommandError("--timeout must be a number of seconds >= 0, got %g"
                           % args.timeout, 2)
    farm = _open_farm(args)
    job = _get_job(farm, job_id)
    deadline = None if args.timeout is None else time.monotonic() + max(0.0, args.timeout)
    with ProgressBar(sum(job.tally.values()), label="job %s" % job_id) as bar:
        while True:
            trouble = status.problems(job.tally)
            bar.update(status.completed(job.tally), job.status + (", " + trouble if trouble
                                                                  else ""),
                       fraction=status.live_fraction(job))
            if job.status in TERMINAL:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            farm.ensure_running()  # waiting on a dead supervisor would wait forever
            farm.wait_for_change(WAIT_POLL if remaining is None else min(WAIT_POLL, remaining))
            job = _summary(farm, job_id)
            if job.tally.get(RUNNING):
                job = _get_job(farm, job_id)  # the bar moves with its running items' progress
    summary = "job %s %s (%s)" % (job_id, job.status, status.tally_text(job.tally) or "no items")
    if job.status not in TERMINAL:
        raise CommandError("timed out after %gs waiting for %s" % (args.timeout, summary), 2)
    print(summary)
    return 0 if job.status == "complete" else 1


def cmd_farm(args: argparse.Namespace) -> int:
    farm = _local_farm(args, database=args.action not in ("stop", "repair"))
    return {"start": _farm_start, "stop": _farm_stop, "status": _farm_status,
            "repair": _farm_repair}[args.action](farm)


def _farm_start(farm) -> int:
    pid = farm.supervisor_pid()
    if pid is None:
        farm.ensure_running(force=True)
        deadline = time.monotonic() + START_TIMEOUT
        while (pid is None or pid < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
            pid = farm.supervisor_pid()
        if pid is None or pid < 1:
            raise CommandError("the local farm's supervisor did not start within %gs; see its "
                               "log: %s" % (START_TIMEOUT, farm.home.supervisor_log))
        print("local farm started: supervisor pid %d, home %s (it leaves after %gs without work)"
              % (pid, farm.home.path, farm.config.local.idle_timeout))
    else:
        print("local farm already running: supervisor pid %d, home %s" % (pid, farm.home.path))
    return 0


def _farm_stop(farm) -> int:
    pid = farm.supervisor_pid()
    if pid is None:
        print("local farm not running (home %s)" % farm.home.path)
        return 0
    if not farm.stop_supervisor():
        raise CommandError("the local farm's supervisor (pid %d) did not stop; see its log: %s"
                           % (pid, farm.home.supervisor_log))
    print("local farm stopped: supervisor pid %d; running items will run again on the next "
          "start" % pid)
    return 0


def _farm_repair(farm) -> int:
    aside, first = farm.repair()
    if aside is None:
        print("the local farm database %s is sound: nothing to repair" % farm.home.db)
    else:
        print("moved the damaged database aside to %s (sqlite3's .recover may save what it "
              "held); the new database %s hands out job ids from %d on" % (aside, farm.home.db,
                                                                          first))
    return 0


def _farm_status(farm) -> int:
    pid = farm.supervisor_pid()
    jobs = farm.jobs(ALL_JOBS)
    work = {s: sum(j.tally.get(s, 0) for j in jobs) for s in (PENDING, RUNNING, BLOCKED)}
    if pid is None:
        print("local farm: not running" + _left_behind(work[RUNNING], work[PENDING]))
    elif pid < 1:
        print("local farm: starting (the supervisor holds its lock but has not written its pid)")
    else:
        print("local farm: running, supervisor pid %d" % pid)
    print("home:       %s" % farm.home.path)
    workers = [w for w in farm.store.workers() if pid is not None and w[2] == pid]
    print("workers:    %d" % len(workers))
    if workers:
        rows = [(str(w[0]), "busy %d:%d" % (w[4], w[5]) if w[4] is not None else "idle",
                 "%.1fs ago" % max(0.0, time.time() - w[3]),
                 status.clip(_pool_label(w[1]), status.LINE_WIDTH)) for w in workers]
        table = _table(("PID", "STATE", "HEARTBEAT", "POOL"), rows, right=(0,))
        print("\n".join("  " + line for line in table.splitlines()))
    active = [j for j in jobs if j.status not in TERMINAL]
    print("work:       %d pending, %d running, %d blocked (in %d unfinished job%s)" % (
        work[PENDING], work[RUNNING], work[BLOCKED], len(active), "" if len(active) == 1 else "s"))
    return 0


def _left_behind(running: int, pending: int) -> str:
    """Why a farm that is not running still lists work: its supervisor was killed (its
    workers died with it) or stopped, and its items wait for the next one."""
    if running:
        return ("; %s when it stopped, %s will run again when the farm restarts: dccfutures "
                "farm start" % ("1 item was running" if running == 1 else
                                "%d items were running" % running,
                                "it" if running == 1 else "they"))
    if pending:
        return ("; %s for it: dccfutures farm start (or the next submit starts it)"
                % ("1 pending item waits" if pending == 1 else "%d pending items wait" % pending))
    return " (it starts on the next submit, or with 'dccfutures farm start')"


def _pool_label(pool: str) -> str:
    try:
        spec = json.loads(pool)
    except ValueError:
        return pool
    label = spec.get("python", "?")
    return label + (" (%s)" % spec["bootstrap"] if spec.get("bootstrap") else "")


def cmd_clean(args: argparse.Namespace) -> int:
    from .farms.local.clean import clean
    if getattr(args, "farm", None) not in (None, "local"):
        raise CommandError("'clean' cleans the local farm, the scene copies and the Qube, "
                           "OpenCue and Deadline Cloud spool folders of the config; --farm %s "
                           "is not for it" % args.farm, 2)
    farm = farms.get_farm("local", config_module.load())  # also when the config says qube
    days = farm.config.local.retention_days if args.older_than is None else args.older_than
    if not (days >= 0 and math.isfinite(days)):  # negative, nan or inf
        raise CommandError("--older-than must be a number of days >= 0, got %g" % days, 2)
    removed = clean(farm.home, farm.store, days)
    print("removed %d finished job%s older than %g day%s from %s"
          % (removed, "" if removed == 1 else "s", days, "" if days == 1 else "s",
             farm.home.path))
    _, active = farm.store.scene_copies(time.time())
    copies = scene_copies.remove_orphans(days * 86400, in_use=active, home=farm.home.path)
    for copy in copies:
        print("removed scene copy %s" % copy)
    print("removed %d scene cop%s older than %g day%s" % (
        len(copies), "y" if len(copies) == 1 else "ies", days, "" if days == 1 else "s"))
    spool = farm.config.qube.spool_dir
    if spool:
        from .runtime.qube import SPOOL_NAME
        cutoff, count = time.time() - days * 86400, 0
        for name in os.listdir(spool) if os.path.isdir(spool) else []:
            path = os.path.join(spool, name)
            try:
                if SPOOL_NAME.match(name) and os.path.getmtime(path) < cutoff:
                    os.unlink(path)
                    count += 1
            except OSError:
                pass
        print("removed %d Qube spool file%s older than %g day%s from %s"
              % (count, "" if count == 1 else "s", days, "" if days == 1 else "s", spool))
    from .spool import remove_old_job_folders
    attachments = os.path.join(farm.home.path, "deadline")  # job attachment jobs' folders
    for title, spool in (("OpenCue", farm.config.opencue.spool_dir),
                         ("Deadline Cloud", farm.config.deadline.spool_dir),
                         ("Deadline Cloud", attachments if os.path.isdir(attachments) else None)):
        if spool:
            count = remove_old_job_folders(spool, time.time() - days * 86400)
            print("removed %d %s job folder%s older than %g day%s from %s"
                  % (count, title, "" if count == 1 else "s", days, "" if days == 1 else "s",
                     spool))
    return 0


def cmd_shelves(args: argparse.Namespace) -> int:
    from .shelves import cli_main
    return cli_main(args.rest)


def cmd_monitor(args: argparse.Namespace) -> int:
    config_module.load()  # a bad config is one line here, rather than a window that says it
    from .ui.monitor import main as monitor_main
    argv = ["--interval", str(args.interval)]
    if getattr(args, "farm", None):
        argv += ["--farm", args.farm]
    return monitor_main(argv)


def cmd_qube(args: argparse.Namespace) -> int:
    """qube install-jobtypes DEST: copy our jobtypes where Qube's workers look for them."""
    from .assets import install_jobtypes
    with _writing("install the Qube jobtypes in", args.destination, "name another DEST"):
        written = install_jobtypes(args.destination)
    for path in written:
        print("installed %s" % path)
    print("add %s to worker_template_path in the workers' qb.conf (keep $QBDIR/types in it)"
          % os.path.abspath(args.destination))
    return 0


def cmd_deadline(args: argparse.Namespace) -> int:
    """deadline export JOB_OR_SCRIPT --out DIR [-- ARGS]: the bundle a Deadline Cloud job was
    submitted with, or the bundles a script would submit (written, not sent)."""
    from .farms.deadline import JOB_ID
    if os.path.isfile(args.job):
        return _export_script(args.job, args.out, args.args)
    if not JOB_ID.match(args.job):
        raise CommandError("%s is neither a script (%s) nor a Deadline Cloud job id (job- and "
                           "32 hex digits)" % (_quote(args.job), "a folder" if os.path.isdir(
                               args.job) else "no such file"), 2)
    if args.args:
        raise CommandError("%s is a job id: the arguments after it are for a script" % args.job,
                           2)
    job_id = args.job
    farm = farms.get_farm("deadline", config_module.load())
    try:
        out = farm.export(job_id, args.out)
    except KeyError:
        raise CommandError("no job %s on the Deadline Cloud queue" % job_id) from None
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    except OSError as error:
        raise CommandError("cannot export into %s: %s" % (args.out, _os_reason(error))) \
            from None
    print("wrote %s (send it again with: deadline bundle submit %s)" % (out, out))
    return 0


def _export_script(script: str, out: str, script_args: List[str]) -> int:
    """Run ``script`` in a child process whose deadline farm writes each job's bundle into
    ``out`` (:mod:`dccfutures.farms.deadline_export`); list what it wrote."""
    from .farms import deadline_export
    from .runtime.bootstrap import python_command
    out = os.path.abspath(out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise CommandError("cannot export into %s: it is not an empty folder" % out, 2)
    config_module.load()  # a bad config is one line here, not a traceback from the script
    created = not os.path.exists(out)
    with _writing("export into", out, "name another --out DIR"):
        os.makedirs(out, mode=0o700, exist_ok=True)
    code = _call(python_command(sys.executable, deadline_export.MODULE,
                                [out, script] + list(script_args)))
    bundles = deadline_export.written(out)
    for folder in bundles:
        print("wrote %s" % folder)
    name = os.path.basename(script)
    how = "was killed by signal %d" % -code if code < 0 else "failed (exit code %d)" % code
    if bundles:
        if code:
            _error("note: %s %s after writing %d bundle%s" % (
                name, how, len(bundles), "" if len(bundles) == 1 else "s"))
        print("send one with: deadline bundle submit %s" % bundles[0])
        return 0
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(out)
    if code:
        raise CommandError("%s %s before submitting anything: nothing was exported" % (name, how))
    raise CommandError("%s submitted nothing to the deadline farm: nothing was exported (only "
                       "Executor(farm=\"deadline\"), or Executor() with farm: deadline in the "
                       "config, is exported)" % name)


def cmd_maya(args: argparse.Namespace) -> int:
    """maya install|uninstall [--modules DIR]: the Maya module for this user."""
    from . import assets
    modules = os.path.abspath(os.path.expanduser(args.modules or assets.maya_modules_dir()))
    hint = "name another folder with --modules DIR"
    if args.action == "uninstall":
        _uninstall("the Maya module", modules, hint, assets.uninstall_maya_module)
        return 0
    with _writing("install the Maya module in", modules, hint):
        os.makedirs(modules, exist_ok=True)
        target = assets.install_maya_module(modules)
    print("installed the dccfutures Maya module in %s" % target)
    print("Maya reads it from %s if that folder is on MAYA_MODULE_PATH (the default for "
          "$MAYA_APP_DIR/modules); otherwise add MAYA_MODULE_PATH=%s to Maya.env." % (
              os.path.join(modules, "dccfutures.mod"), modules))
    if args.mayapy:
        return _pip_install(args.mayapy, os.path.join(target, "python"))
    print("Then give Maya's Python the dependencies: run this again with --mayapy PATH, or "
          "run: %s" % _pip_command_line("mayapy", os.path.join(target, "python")))
    return 0


def cmd_houdini(args: argparse.Namespace) -> int:
    """houdini install|uninstall [--prefs DIR] [--hython PATH]...: the Houdini package for this
    user; each hython installs the dependencies for the Houdini of its own version."""
    from . import assets
    prefs = [os.path.abspath(os.path.expanduser(args.prefs))] if args.prefs \
        else assets.houdini_pref_dirs()
    if not prefs:
        raise CommandError("no Houdini 19.5+ preferences folder found (~/houdiniX.Y); name one "
                           "with --prefs DIR (it holds the packages/ folder Houdini scans)", 2)
    hythons = _hython_for_each(prefs, args.hython or []) if args.action == "install" else {}
    for pref in prefs:
        packages = os.path.join(pref, "packages")
        hint = "name another folder with --prefs DIR"
        if args.action == "uninstall":
            _uninstall("the Houdini package", packages, hint, assets.uninstall_houdini_package)
            continue
        with _writing("install the Houdini package in", packages, hint):
            os.makedirs(packages, exist_ok=True)
            target = assets.install_houdini_package(packages)
        print("installed the dccfutures Houdini package in %s (Houdini reads %s at start-up)"
              % (target, os.path.join(packages, "dccfutures.json")))
        if hythons.get(pref):
            code = _pip_install(hythons[pref], os.path.join(target, "python"))
            if code:
                return code
        else:
            version = assets.houdini_pref_version(pref)
            which = "Houdini %s" % version if version else "Houdini"
            print("Then give %s's Python the dependencies: run this again with --hython "
                  "<%s's hython>, or run: %s" % (which, which, _pip_command_line(
                      "hython", os.path.join(target, "python"))))
    return 0


def cmd_blender(args: argparse.Namespace) -> int:
    """blender install|uninstall [--scripts DIR] [--blender PATH]...: the add-on for this user,
    in each Blender's user scripts folder."""
    from . import assets
    asked = [_blender_versions(blender) for blender in args.blender or []]
    if args.action == "install":
        for blender, (version, python, _) in zip(args.blender or [], asked):
            if tuple(int(part) for part in version.split(".")) < assets.BLENDER_OLDEST:
                raise CommandError("%s is Blender %s: the dccfutures add-on needs Blender %d.%d "
                                   "or later" % ((blender, version) + assets.BLENDER_OLDEST), 2)
            if python < (3, 9):
                raise CommandError("%s is Blender %s on Python %d.%d: dccfutures needs Python "
                                   "3.9 or later" % (blender, version, python[0], python[1]), 2)
    if args.scripts:
        folders = [os.path.abspath(os.path.expanduser(args.scripts))]
    elif asked:
        folders = list(dict.fromkeys(scripts for _, _, scripts in asked))
    else:
        folders = assets.blender_scripts_dirs()
    if not folders:
        raise CommandError("no user folder of Blender %d.%d or later found in %s: start Blender "
                           "once, or name its scripts folder with --scripts DIR or the Blender "
                           "with --blender PATH" % (assets.BLENDER_OLDEST + (
                               assets.blender_config_root(),)), 2)
    hint = "name another folder with --scripts DIR"
    for folder in folders:
        if args.action == "uninstall":
            _uninstall("the Blender add-on", folder, hint, assets.uninstall_blender_addon)
            continue
        with _writing("install the Blender add-on in", folder, hint):
            written = assets.install_blender_addon(folder)
        modules = os.path.join(folder, "modules")
        print("installed the dccfutures add-on in %s, and dccfutures with its dependencies in "
              "%s (on Blender's sys.path)" % (written[0], modules))
        for name in assets.BLENDER_DEPENDENCIES:
            if os.path.join(modules, name) not in written:
                print("kept the %s already in %s (not installed by dccfutures)" % (name, modules))
    if args.action == "install":
        skipped = [] if args.scripts or asked else assets.blender_skipped_dirs()
        if skipped:
            print("left out %s: older than Blender %d.%d" % ((", ".join(skipped),)
                                                              + assets.BLENDER_OLDEST))
        print("Enable it in Blender: Edit > Preferences > Add-ons, \"dccfutures\" (or start "
              "Blender with --addons %s); its Farm menu is in the top bar. Then name Blender "
              "for the farm in the dccfutures config: dcc: {blender: {\"4.2\": {python: "
              "<a Python that imports bpy>, blender: <blender executable>}}}."
              % assets.BLENDER_ADDON)
    return 0


# Run in a blender: its version, its Python's and its user scripts folder, as one JSON line.
_BLENDER_VERSIONS = ("import sys, json, bpy; sys.stdout.write('dccfutures-blender %s\\n' % "
                     "json.dumps({'blender': '%d.%d' % tuple(bpy.app.version[:2]), "
                     "'python': list(sys.version_info[:2]), "
                     "'scripts': bpy.utils.user_resource('SCRIPTS')}))")


def _blender_versions(blender: str) -> Tuple[str, Tuple[int, int], str]:
    """Ask ``blender`` for its version (X.Y), its Python's and its user scripts folder."""
    import subprocess
    try:
        done = subprocess.run([blender, "-b", "--factory-startup", "--python-expr",
                               _BLENDER_VERSIONS], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=300)
    except OSError as error:
        raise CommandError("cannot run %s: %s" % (blender, _os_reason(error))) from None
    except subprocess.TimeoutExpired:
        raise CommandError("%s did not answer within 300 s" % blender) from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("dccfutures-blender "):
            try:
                found = json.loads(line.split(" ", 1)[1])
                python = (int(found["python"][0]), int(found["python"][1]))
                return str(found["blender"]), python, str(found["scripts"])
            except (ValueError, KeyError, IndexError, TypeError):
                break
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    raise CommandError("%s did not say which Blender it is (exit code %d, %s)" % (
        blender, done.returncode, "it said: " + status.clip(said[-1], QUOTE_WIDTH) if said
        else "no output"))


# Run in a hython: its Houdini version and Python version (any Python 3), importing nothing
# from the folder this command was typed in (as bootstrap.SAFE_RUN).
_HYTHON_VERSIONS = ("import sys; _cwd = __import__('nt' if sys.platform == 'win32' else "
                    "'posix').getcwd(); sys.path[:] = [p for p in sys.path if p not in "
                    "('', '.', _cwd)]; import hou; sys.stdout.write('dccfutures-versions "
                    "%d.%d %d.%d\\n' % (tuple(hou.applicationVersion()[:2]) + "
                    "tuple(sys.version_info[:2])))")
_VERSIONS_LINE = re.compile(r"dccfutures-versions (\d+\.\d+) (\d+)\.(\d+)\s*\Z")


def _hython_for_each(prefs: List[str], hythons: List[str]) -> Dict[str, str]:
    """Which hython installs the dependencies into each preferences folder: the one of the
    folder's Houdini version (a hython of another version may run another Python, whose
    compiled packages the folder's Houdini cannot import). Checked before anything is
    installed: a hython on Python < 3.9, or one whose Houdini has no folder, is an error."""
    from . import assets
    by_version: Dict[str, str] = {}
    for hython in hythons:
        houdini, python = _hython_versions(hython)
        if python < (3, 9):
            raise CommandError("%s is Houdini %s on Python %d.%d: dccfutures needs Python 3.9 "
                               "or later (install a Houdini %s build on Python 3.9+)"
                               % (hython, houdini, python[0], python[1], houdini), 2)
        if by_version.get(houdini, hython) != hython:
            raise CommandError("two hythons of Houdini %s: %s and %s; give one"
                               % (houdini, by_version[houdini], hython), 2)
        by_version[houdini] = hython
    chosen: Dict[str, str] = {}
    for pref in prefs:
        version = assets.houdini_pref_version(pref)
        if version is None and len(by_version) > 1:
            raise CommandError("%s is for every Houdini version: give it one --hython" % pref, 2)
        hython = by_version.pop(version, None) if version else \
            (by_version.popitem()[1] if by_version else None)
        if hython:
            chosen[pref] = hython
    if by_version:  # a hython of a Houdini with no folder here
        houdini, hython = sorted(by_version.items())[0]
        raise CommandError("%s is Houdini %s, and there is no preferences folder of Houdini %s "
                           "here (%s): start that Houdini once to make it, or name its folder "
                           "with --prefs DIR" % (hython, houdini, houdini,
                                                 assets.houdini_pref_dir_for(houdini)), 2)
    return chosen


def _hython_versions(hython: str) -> Tuple[str, Tuple[int, int]]:
    """Ask ``hython`` for its Houdini version (X.Y) and its Python version."""
    import subprocess
    try:
        done = subprocess.run([hython, "-c", _HYTHON_VERSIONS], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=300)
    except OSError as error:
        raise CommandError("cannot run %s: %s" % (hython, _os_reason(error))) from None
    except subprocess.TimeoutExpired:
        raise CommandError("%s did not answer within 300 s" % hython) from None
    for line in reversed(done.stdout.splitlines()):
        found = _VERSIONS_LINE.match(line.strip())
        if found:
            return found.group(1), (int(found.group(2)), int(found.group(3)))
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    raise CommandError("%s did not say which Houdini it is (exit code %d, %s)" % (
        hython, done.returncode, "it said: " + status.clip(said[-1], QUOTE_WIDTH) if said
        else "no output"))


def _uninstall(what: str, folder: str, hint: str, remove: Callable[[str], List[str]]) -> None:
    """Remove ``what`` dccfutures installed in ``folder``, saying what went."""
    with _writing("uninstall %s from" % what, folder, hint):
        removed = remove(folder)
    print("\n".join("removed %s" % p for p in removed) or "nothing to remove in %s" % folder)


@contextlib.contextmanager
def _writing(what: str, folder: str, hint: str):
    """Files that cannot be written (a folder under a file, one the user may not write, a full
    disk) are one line naming the folder and what to do, not a traceback."""
    try:
        yield
    except OSError as error:
        raise CommandError("cannot %s %s: %s (%s)" % (what, os.path.abspath(folder),
                                                      _os_reason(error), hint)) from None


def _call(command: List[str]) -> int:
    """Run a DCC's Python (``--mayapy``, ``--hython``); one that cannot run is one line."""
    import subprocess
    try:
        return subprocess.call(command)
    except OSError as error:
        raise CommandError("cannot run %s: %s" % (command[0], _os_reason(error))) from None


# What a DCC's Python needs to run dccfutures: the library's requirements and the `ui`
# extra's (every dialog and the Farm Monitor import qtpy). No Qt binding: the DCC ships PySide.
DCC_DEPENDENCIES = ("cloudpickle>=2.2", "PyYAML>=5.4", "qtpy>=2.4")


def _pip_install(python: str, target: str) -> int:
    """``python -m pip install`` our dependencies into ``target``, importing nothing (no pip,
    no json) from the folder this command was typed in (``bootstrap.python_command``)."""
    from .runtime.bootstrap import python_command
    print("$ " + _pip_command_line(python, target))
    return _call(python_command(python, "pip", _pip_arguments(target)))


def _pip_arguments(target: str) -> List[str]:
    return ["install", "--upgrade", "--target", target] + list(DCC_DEPENDENCIES)


def _pip_command_line(python: str, target: str) -> str:
    """The pip command, as a user would type it in a shell."""
    import shlex
    return " ".join(shlex.quote(word) for word in [python, "-m", "pip"] + _pip_arguments(target))


def _os_reason(error: OSError) -> str:
    """``Not a directory: /path``; a copy that failed on many files says so in one line."""
    if error.strerror:
        return error.strerror + (": %s" % error.filename if error.filename else "")
    return status.clip(str(error), status.LINE_WIDTH)


# -- the parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser; ``--farm`` is accepted before or after the subcommand."""
    farm_option = argparse.ArgumentParser(add_help=False)
    farm_option.add_argument("--farm", metavar="NAME", default=argparse.SUPPRESS,
                             help="the farm to use (default: the config's 'farm', else local)")
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[farm_option],
        description="Look at and steer dccfutures work on a farm.",
        epilog="Ids: JOB (12), JOB:WORK (12:3), JOB:WORK,WORK (12:0,4) or JOB:FIRST-LAST "
               "(12:0-9). " + ID_RULE + ".")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str):
        child = sub.add_parser(name, parents=[farm_option], help=text, description=text)
        child.set_defaults(handler=handler)
        return child

    child = command("farm", cmd_farm, "start, stop or show the local farm's supervisor; "
                                      "repair a damaged database")
    child.add_argument("action", nargs="?", default="status",
                       choices=("start", "stop", "status", "repair"))
    child = command("jobs", cmd_jobs, "list recent jobs, newest first")
    child.add_argument("--limit", type=int, default=50, metavar="N", help="at most N jobs (50)")
    child.add_argument("--json", action="store_true", help="print JSON instead of a table")
    child = command("show", cmd_show, "show one job and its work items")
    child.add_argument("job", metavar="JOB")
    child.add_argument("--json", action="store_true", help="print JSON instead of text")
    child = command("log", cmd_log, "print the output of a work item (or of every item)")
    child.add_argument("target", metavar="JOB[:WORK]")
    for name, text in (("kill", "kill a job or some of its items, running ones included"),
                       ("retry", "run failed or killed items again"),
                       ("block", "keep pending work from starting"),
                       ("unblock", "let blocked work start")):
        command(name, cmd_action, text).add_argument("target", metavar="JOB[:WORK[,WORK...]]")
    child = command("wait", cmd_wait, "wait for a job to finish, drawing its progress; exit 0 "
                                      "when complete, 1 when failed or killed, 2 on timeout")
    child.add_argument("job", metavar="JOB")
    child.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds")
    child = command("maya", cmd_maya, "install or uninstall the Maya module (Farm menu, "
                                      "userSetup) for this user")
    child.add_argument("action", choices=("install", "uninstall"))
    child.add_argument("--modules", metavar="DIR",
                       help="the modules folder (default: $MAYA_APP_DIR/modules, ~/maya/modules)")
    child.add_argument("--mayapy", metavar="PATH",
                       help="also install cloudpickle, PyYAML and qtpy for this mayapy")
    child = command("houdini", cmd_houdini, "install or uninstall the Houdini package (Farm "
                                            "menu, shelf) for this user")
    child.add_argument("action", choices=("install", "uninstall"))
    child.add_argument("--prefs", metavar="DIR",
                       help="the Houdini preferences folder (default: $HOUDINI_USER_PREF_DIR, "
                            "else every ~/houdiniX.Y of 19.5 or later)")
    child.add_argument("--hython", metavar="PATH", action="append",
                       help="also install cloudpickle, PyYAML and qtpy with this hython, for "
                            "the Houdini of its version (repeat it for each Houdini)")
    child = command("blender", cmd_blender, "install or uninstall the Blender add-on (Farm menu, "
                                            "Render Frames on Farm, Farm Monitor) for this user")
    child.add_argument("action", choices=("install", "uninstall"))
    child.add_argument("--scripts", metavar="DIR",
                       help="the Blender user scripts folder (default: $BLENDER_USER_SCRIPTS, "
                            "else the scripts folder of every Blender 3.4+ user folder found, "
                            "~/.config/blender/X.Y/scripts on Linux)")
    child.add_argument("--blender", metavar="PATH", action="append",
                       help="a Blender executable: install into its user scripts folder (it is "
                            "asked which one), after checking its version (repeat for several)")
    child = command("deadline", cmd_deadline, "Deadline Cloud: export JOB --out DIR writes the "
                                              "job bundle JOB was submitted with; export "
                                              "SCRIPT --out DIR [-- ARGS] runs SCRIPT and writes "
                                              "the bundle of each job it would submit, sending "
                                              "nothing")
    child.add_argument("action", choices=("export",))
    child.add_argument("job", metavar="JOB_OR_SCRIPT")
    child.add_argument("args", nargs="*", metavar="ARG",
                       help="the script's arguments (after --, when they start with -)")
    child.add_argument("--out", metavar="DIR", required=True,
                       help="an absent or empty folder to write the bundle(s) into")
    child = command("qube", cmd_qube, "Qube set-up: install-jobtypes DEST copies the dccfutures "
                                      "jobtypes into DEST (a folder on worker_template_path)")
    child.add_argument("action", choices=("install-jobtypes",))
    child.add_argument("destination", metavar="DEST")
    child = sub.add_parser("shelves", help="build the Houdini shelf and Farm menu from "
                           "shelves/*.yaml (build [--check] [--out DIR]; Maya's plug-in builds "
                           "its own each session), or list the actions (list [--dcc DCC])",
                           add_help=False)
    child.add_argument("rest", nargs=argparse.REMAINDER)
    child.set_defaults(handler=cmd_shelves)
    child = command("monitor", cmd_monitor, "open the farm monitor window (Qt: needs "
                                            "`pip install dccfutures[ui]`)")
    child.add_argument("--interval", type=float, default=1.0, metavar="S",
                       help="refresh every S seconds (1)")
    child = command("clean", cmd_clean,
                    "remove finished jobs, their payloads and logs, and old scene copies, now")
    child.add_argument("--older-than", type=float, metavar="DAYS",
                       help="only jobs finished more than DAYS ago (default: the config's "
                            "local.retention_days)")
    return parser


# -- entry point -----------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command and return its exit code (the console script and ``python -m
    dccfutures`` exit with it). ``argv`` defaults to ``sys.argv[1:]``."""
    if argv is not None:
        return _run(list(argv))
    _tolerate_unencodable(sys.stdout)
    try:
        code = _run(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:  # `dccfutures jobs | head`
        _silence_stdout()
        code = 1
    finally:
        farms.forget()  # close our wake-up FIFO in the farm home
    return code


def _run(argv: List[str]) -> int:
    if argv[:1] == ["shelves"]:  # its own parser: `shelves build --check`, `shelves --help`
        from .shelves import cli_main
        return cli_main(argv[1:])
    argv, script_args = _script_arguments(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    if script_args:
        args.args = list(getattr(args, "args", ())) + script_args
    try:
        return args.handler(args)
    except CommandError as error:
        _error(str(error))
        return error.code
    except DccFuturesError as error:  # ConfigError, FarmError: the message says it all
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130


def _script_arguments(argv: List[str]) -> Tuple[List[str], List[str]]:
    """``deadline export SCRIPT --out DIR -- ARGS``: what follows ``--`` is the script's, with
    ``--out`` anywhere before it (argparse alone takes no positionals after an option)."""
    if "--" not in argv or "deadline" not in argv[:argv.index("--")]:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1:]


def _error(message: str) -> None:
    print("%s: %s" % (PROG, message), file=sys.stderr)


def _tolerate_unencodable(stream) -> None:
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")  # a job named "scène" on a C-locale terminal
        except (ValueError, OSError):
            pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
