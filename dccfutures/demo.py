"""The demo behind ``make demo``: a small real workload on the embedded local farm.

It shows in a few seconds, with nothing to install or configure, what a TD gets from
dccfutures: a chunked ``map``, futures drawn as a progress bar, a batch in which one call fails
and its remote traceback comes back, the job table and one item's log. Everything runs in real
worker processes of an auto-started supervisor, which the demo stops at the end, so nothing is
left running.

    make demo                       # farm home: .demo-home (kept, to explore with the CLI)
    python -m dccfutures.demo       # farm home: $DCCFUTURES_HOME, else a temporary one

The functions below run on the farm: workers import them by name from ``dccfutures.demo``.
"""
import os
import shutil
import sys
import tempfile
import textwrap
import time
from typing import List, Tuple

import dccfutures
from dccfutures import Executor, config, farms, progress
from dccfutures.errors import DccFuturesError
from dccfutures.cli import format_jobs
from dccfutures.farms.local import LocalFarm
from dccfutures.farms.local.home import HOME_VAR, default_home

WORDS = ("alembic", "camera", "cache", "frame", "geometry", "light", "render", "scene",
         "shader", "texture", "rig", "plate")
FILES = 12


# -- the work (runs on the farm) -------------------------------------------------------------

def count_words(path: str) -> Tuple[str, int]:
    """Count the words of a text file, reporting progress as a long farm task would."""
    name = os.path.basename(path)
    dccfutures.report_progress(0.0, "reading " + name)
    with open(path, encoding="utf-8") as handle:
        count = len(handle.read().split())
    time.sleep(0.05)  # slow enough for the progress to be seen
    dccfutures.report_progress(1.0, "counted " + name)
    return name, count


def render_frame(frame: int) -> str:
    """A stand-in for a render: prints to its log, and frame 13 fails as real frames do."""
    print("rendering frame %d" % frame)
    if frame == 13:
        raise ValueError("frame 13 has no camera")
    print("wrote frame.%04d.exr" % frame)
    return "frame.%04d.exr" % frame


# -- the demo (runs here) --------------------------------------------------------------------

def say(text: str = "") -> None:
    print(text, flush=True)


def make_files(folder: str, count: int = FILES) -> List[str]:
    """``count`` small text files of 10, 20, 30… words."""
    paths = []
    for i in range(count):
        path = os.path.join(folder, "shot%02d.txt" % (i + 1))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(10 * (i + 1))))
        paths.append(path)
    return paths


def demo_map(ex: Executor, paths: List[str]) -> None:
    say("== 1. map: %d files, 4 per work item (one job of %d items)"
        % (len(paths), -(-len(paths) // 4)))
    results = list(ex.map(count_words, paths, chunksize=4, name="demo: map count_words"))
    for name, count in results:
        say("   %s  %4d words" % (name, count))
    say("   total: %d words" % sum(count for _, count in results))


def demo_progress(ex: Executor, paths: List[str]) -> None:
    say("\n== 2. one future per file, drawn as a progress bar while they finish")
    with ex.batch(name="demo: count words") as batch:
        counted = batch.map(count_words, paths)
    finished = [f.result() for f in progress.as_completed(counted.futures, label="counting")]
    say("   %d files counted, %d words" % (len(finished), sum(n for _, n in finished)))


def demo_batch(ex: Executor) -> dccfutures.Future:
    say("\n== 3. a batch: one job, one work item per call; frame 13 fails")
    with ex.batch(name="demo batch") as batch:
        frames = [batch.submit(render_frame, frame) for frame in (12, 13, 14)]
        batch.submit(lambda x: x * x, 12)  # lambdas travel too (cloudpickle)
    for future in batch.futures:
        where = "%d:%d" % (future.job_id, future.work_id)
        try:
            say("   %s -> %r" % (where, future.result(timeout=60)))
        except ValueError as exc:
            say("   %s -> %s: %s" % (where, type(exc).__name__, exc))
            say("      remote traceback (exc.__cause__):")
            say(textwrap.indent(str(exc.__cause__).strip("\n"), "      | "))
    return frames[0]


def demo_table(ex: Executor, since: int, future: dccfutures.Future) -> None:
    say("\n== 4. the job table (dccfutures jobs) and one item's log")
    say(textwrap.indent(format_jobs([j for j in ex.farm.jobs(20) if j.id > since]), "   "))
    say("   (the batch job is 'failed' because frame 13 failed: one bad item fails its job, "
        "not its neighbours)")
    say("\n   Future.log() of %d:%d:" % (future.job_id, future.work_id))
    say(textwrap.indent(future.log().rstrip("\n"), "   | "))


def run(home: str) -> None:
    """The four steps, on the local farm of ``home``."""
    started = time.monotonic()
    with Executor() as ex, tempfile.TemporaryDirectory(prefix="dccfutures-demo-") as folder:
        since = max([j.id for j in ex.farm.jobs(1)] or [0])
        paths = make_files(folder)
        demo_map(ex, paths)
        demo_progress(ex, paths)
        logged = demo_batch(ex)
        demo_table(ex, since, logged)
    say("\ndone in %.1fs on the local farm at %s" % (time.monotonic() - started, home))


def stop_farm(home: str) -> None:
    """Stop the demo farm's supervisor and workers, so ``make demo`` leaves nothing running."""
    farms.forget()  # our poller and wake-up FIFO
    try:
        farm = LocalFarm(home=home)
    except DccFuturesError:
        return  # no farm could be used there (the error said why): none to stop
    try:
        stopped = farm.stop_supervisor()
    finally:
        farm.close()
        farm.store.close()
    say("stopped the demo farm" if stopped else "the demo farm's supervisor did not stop!")


def main() -> int:
    named = bool(os.environ.get(HOME_VAR))
    try:
        config.load()  # a bad config is one line, before anything starts
        home = default_home() if named else None
    except DccFuturesError as error:
        print("dccfutures demo: %s" % error, file=sys.stderr)
        return 1
    if home is None:  # never borrow (and then stop) the user's own farm
        home = os.environ[HOME_VAR] = tempfile.mkdtemp(prefix="dccfutures-demo-home-")
    try:
        run(home)
    except DccFuturesError as error:  # the farm cannot be used here: the message says why
        print("dccfutures demo: %s" % error, file=sys.stderr)
        return 1
    finally:
        stop_farm(home)
        if not named:
            shutil.rmtree(home, ignore_errors=True)
    if named:
        say("explore it: %s=%s dccfutures jobs" % (HOME_VAR, home))
    return 0


if __name__ == "__main__":
    # Run the importable copy of this module, so workers load count_words by name from
    # dccfutures.demo rather than receiving __main__'s functions by value.
    from dccfutures import demo
    sys.exit(demo.main())
