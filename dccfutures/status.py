"""How jobs and work items read: the words and numbers the CLI and the farm monitor show.

One module for both, so a job reads the same in a terminal and in a window: progress counts
completed items only (a failed or killed item is not progress, and says so), a failed item
says why in one line, and the traceback follows its output. A job id is shown as the farm gave
it (``12``, a UUID), never formatted as a number.

Names, messages and failures are written by whoever submitted the work, so everything here
that shows one escapes what a terminal would act on (``\x1b[2J``, a carriage return, a
right-to-left override) and clips it to a width: a job name cannot clear a TD's screen, forge
another job's line, or print 100 KB in a table cell. The ``--json`` output is exact instead.
"""
import time
import unicodedata
from typing import Dict, Iterable, List, Optional

from .farms.base import (COMPLETE, FAILED, KILLED, RUNNING, STATUSES, JobId, JobInfo,
                         WorkError, WorkInfo)

DETAIL_LINES = 8  # lines of a failure's message shown under its first (a lost worker's output)
LINE_WIDTH = 300  # characters of one line of a user's text shown whole (a name, a reason)


def percent(fraction: Optional[float]) -> int:
    return int(round(100 * min(1.0, max(0.0, fraction or 0.0))))


def completed(tally: Dict[str, int]) -> int:
    return tally.get(COMPLETE, 0)


def problems(tally: Dict[str, int]) -> str:
    """``"2 failed, 1 killed"``: the items that ended without completing."""
    return ", ".join("%d %s" % (tally[s], s) for s in (FAILED, KILLED) if tally.get(s))


def progress_text(tally: Dict[str, int], fraction: float) -> str:
    """``"8/10  80%, 2 failed"``: completed items of all, the share done, what went wrong."""
    text = "%d/%d %3d%%" % (completed(tally), sum(tally.values()), percent(fraction))
    trouble = problems(tally)
    return text + (", " + trouble if trouble else "")


def live_fraction(job: JobInfo) -> float:
    """The job's progress counting the reported progress of its running items."""
    total = sum(job.tally.values())
    if not total or not job.work:
        return job.progress
    running = sum(w.progress or 0.0 for w in job.work if w.status == RUNNING)
    return min(1.0, (completed(job.tally) + running) / total)


def tally_text(tally: Dict[str, int]) -> str:
    return ", ".join("%d %s" % (tally[s], s) for s in STATUSES if tally.get(s))


def when(stamp: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, seconds) if hours else "%d:%02d" % (minutes, seconds)


def elapsed(work: WorkInfo, now: Optional[float] = None) -> str:
    """How long an item ran (its last attempt), or runs so far; ``-`` before it started."""
    if not work.started:
        return "-"
    if work.status == RUNNING or not work.finished:
        end = time.time() if now is None else now
    else:
        end = work.finished
    return duration(end - work.started)


def printable(text: str) -> str:
    """``text`` safe to write to a terminal: every character it would act on rather than show
    (control characters such as ESC, CR and BEL, C1 controls, bidirectional overrides, lone
    surrogates) is written as its Python escape (``\\x1b``, ``\\r``, ``\\u202e``). Newlines,
    tabs and spaces stay."""
    lines = text.split("\n")
    if all(line.isprintable() for line in lines):
        return text
    return "\n".join(line if line.isprintable() else "".join(map(_shown, line))
                     for line in lines)


def _shown(char: str) -> str:
    if char.isprintable() or char == "\t" or unicodedata.category(char) == "Zs":
        return char
    return repr(char)[1:-1]


def clip(text: str, width: int) -> str:
    """``text`` on one line (its whitespace runs made single spaces), :func:`printable`, and
    at most ``width`` characters, the last three ``...`` when it was longer."""
    return _cut(" ".join(text.split()), width)  # a multi-line message stays on its row


def _cut(text: str, width: int) -> str:
    """:func:`printable`, at most ``width`` characters (escapes included)."""
    shown = printable(text[:width])
    if len(text) <= width and len(shown) <= width:
        return shown
    return shown[:width - 3] + "..."


def items(count: int) -> str:
    return "%d work item%s" % (count, "" if count == 1 else "s")


# -- failures ------------------------------------------------------------------------------

def headline(error: WorkError) -> str:
    """``"ValueError: frame 13 has no camera"``: the type and the first line of the message,
    and how many calls failed when a map chunk had several."""
    lines = error.message.strip("\n").splitlines()
    text = "%s: %s" % (error.type, lines[0]) if lines else error.type
    if error.failed > 1 or error.calls > 1:
        text += " (%d of %d calls failed)" % (error.failed, error.calls)
    return text


def reason(work: WorkInfo) -> str:
    """Why an item failed, in one line; empty for any other item."""
    if work.status != FAILED:
        return ""
    return headline(work.error) if work.error else "failed without a recorded reason"


def details(error: WorkError, lines: int = DETAIL_LINES) -> List[str]:
    """The lines of a failure's message after its first (the end of a lost worker's output),
    the last ``lines`` of them."""
    return error.message.strip("\n").splitlines()[1:][-lines:]


def failure_trailer(job_id: JobId, work: WorkInfo) -> str:
    """What follows a failed item's output in ``dccfutures log`` and the monitor's log: a
    line naming the failure, then the traceback. Empty for an item that did not fail."""
    if work.status != FAILED:
        return ""
    text = "--- %s:%d failed: %s ---\n" % (job_id, work.work_id, clip(reason(work), LINE_WIDTH))
    trace = printable(work.error.traceback) if work.error else ""
    return text + trace + ("" if not trace or trace.endswith("\n") else "\n")


def failure_lines(job: JobInfo, limit: int = 20) -> List[str]:
    """Each failed item of ``job``: why, and where to read more (``dccfutures show``)."""
    failed = [w for w in job.work if w.status == FAILED]
    out: List[str] = []
    for work in failed[:limit]:
        ref = "%s:%d" % (job.id, work.work_id)
        out.append("  %s  %s" % (ref, clip(reason(work), LINE_WIDTH)))
        pad = " " * (len(ref) + 4)
        if work.error is not None:
            out += [pad + "| " + _cut(line, LINE_WIDTH) for line in details(work.error)]
        where = "traceback" if work.error is not None and work.error.traceback else "output"
        out.append("%s%s: dccfutures log %s" % (pad, where, ref))
    if len(failed) > limit:
        out.append("  ... and %d more (dccfutures show %s --json lists them all)"
                   % (len(failed) - limit, job.id))
    return out


# -- actions -------------------------------------------------------------------------------

_NOTHING = {"kill": "nothing was pending, blocked or running",
            "retry": "nothing had failed or been killed",
            "block": "nothing was pending", "unblock": "nothing was blocked"}
_DONE = {"kill": "killed", "retry": "retrying", "block": "blocked", "unblock": "unblocked"}


def action_report(command: str, job_id: JobId, works: Optional[Iterable[int]],
                  count: int) -> str:
    """``"killed 2 work items of job 12"``, or why nothing was done."""
    text = "%s %s of job %s" % (_DONE[command], items(count), job_id)
    return text + (" (%s)" % _NOTHING[command] if not count else "")
