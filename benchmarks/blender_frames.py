#!/usr/bin/env python3
"""48 frames of a small Cycles scene on 2 local slots, three ways in one run (issue 14).

    .venv/bin/python benchmarks/blender_frames.py [--rounds 3] [--chunk 6] [--threads 1]
    .venv/bin/python benchmarks/blender_frames.py --ways ours,single --samples 8

* ``ours``: ``dccfutures.blender.Executor`` (prototype ``dccfutures_bpy``) on a local farm of
  2 workers, one work item per chunk of frames; each worker boots Blender once and renders
  its chunks with ``write_still``. Timed from the batch's first submit to the last result
  back. The supervisor runs before the clock starts, but no worker does: the farm starts a
  DCC job's workers when the job arrives, so both Blender boots are in the time.
* ``per-frame``: what a naive farm script does: one fresh ``python -c "import bpy; open the
  .blend; render frame N"`` per frame, 2 at a time.
* ``single``: one ``bpy`` process opens the .blend and renders the 48 frames in a loop.
  Timed as a whole process, start to exit.

A slot is a core: each process of ``ours`` and ``per-frame`` renders with ``--threads``
render threads (default 1; 0: Blender's default, one per core), ``single`` with Blender's
default. ``ours`` asks for it the way a TD does, with the job's ``cpus`` (2 slots x
``--threads``): the local farm runs ``min(cpus, workers)`` items at once and shares ``cpus``
out as their Cycles threads.

Needs PyPI's ``bpy`` 4.2 in the Python that runs it (``--python`` names another). Every
process this starts, the farm and its workers included, is stopped at the end, on an error
or Ctrl-C too. Progress goes to stderr, the Markdown table to stdout. See benchmarks/README.md.
"""
import argparse
import concurrent.futures
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [p for p in (HERE, ROOT) if p not in sys.path]  # workers get this sys.path

import blender_scene  # noqa: E402
from run import _killpg, _processes_of_home, cpu_model, git_revision  # noqa: E402

FRAMES = list(range(1, 49))
SLOTS = 2
WAYS = ("ours", "per-frame", "single")
TIMEOUT = 900.0  # the longest one way may take
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# One process of the per-frame and single ways: open the .blend, render frames, exit.
RENDER = ("import sys, bpy; bpy.ops.wm.open_mainfile(filepath=sys.argv[1], load_ui=False); "
          "from blender_scene import render_frames; "
          "render_frames([int(f) for f in sys.argv[3].split(',')], sys.argv[2], "
          "int(sys.argv[4]) or None)")

T0 = time.monotonic()
_running: Dict[int, subprocess.Popen] = {}  # the per-frame and single processes now running


def progress(message: str) -> None:
    print("[%6.1fs] %s" % (time.monotonic() - T0, message), file=sys.stderr, flush=True)


class Bench:
    def __init__(self, python: str, chunk: int, threads: int, samples: int, keep: bool):
        self.python, self.chunk, self.threads, self.keep = python, chunk, threads, keep
        self.samples = samples
        self.breakdowns: List[Dict[str, float]] = []
        self.tmp = tempfile.mkdtemp(prefix="dccfutures-blender-bench-")
        self.blend = os.path.join(self.tmp, "shot", "bench.blend")
        self.log = os.path.join(self.tmp, "renders.log")
        self.config = os.path.join(self.tmp, "config.yaml")
        with open(self.config, "w") as handle:
            handle.write('local: {workers: %d, idle_timeout: 60}\ndcc:\n  blender:\n'
                         '    "4.2": {python: %s}\n' % (SLOTS, python))
        os.environ["DCCFUTURES_CONFIG"] = self.config
        self.homes: List[str] = []
        self.leftovers: List[str] = []
        self.count = 0

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([HERE] + [p for p in env.get("PYTHONPATH", "")
                                                      .split(os.pathsep) if p])
        return env

    def folder(self, way: str) -> str:
        self.count += 1
        path = os.path.join(self.tmp, "out-%02d-%s" % (self.count, way))
        os.makedirs(path)
        return path

    def build(self) -> Dict:
        """Build and save the scene, and time one frame of it (also warms the disk cache)."""
        import json
        os.makedirs(os.path.dirname(self.blend))
        result = os.path.join(self.tmp, "scene.json")
        child = self.spawn([self.python, os.path.join(HERE, "blender_scene.py"), self.blend,
                            result, str(self.samples)])
        code = child.wait(TIMEOUT)
        _running.pop(child.pid, None)
        if code != 0 or not os.path.isfile(result):
            raise RuntimeError("building the scene failed (exit code %s); see %s"
                               % (code, self.log))
        with open(result) as handle:
            return json.load(handle)

    # -- the three ways ------------------------------------------------------------------

    def ours(self) -> float:
        from dccfutures import frames
        from dccfutures.blender import Executor
        from dccfutures.farms.local import LocalFarm
        home = os.path.join(self.tmp, "home-%d" % len(self.homes))
        self.homes.append(home)
        os.environ["DCCFUTURES_HOME"] = home
        farm = LocalFarm()
        farm.ensure_running(force=True)  # the supervisor only: workers start with the job
        folder = self.folder("ours")
        chunks = [frames.split(c) for c in frames.chunk(self.chunk, "1-%d" % len(FRAMES))]
        ex = Executor(blendfile=self.blend, version="4.2",
                      cpus=SLOTS * self.threads if self.threads else None)
        start, submitted = time.perf_counter(), time.time()
        with ex.batch("%d frames" % len(FRAMES)) as batch:
            for chunk in chunks:
                batch.submit(blender_scene.render_frames, chunk, folder)
        written = [future.result(TIMEOUT) for future in batch.futures]
        elapsed, returned = time.perf_counter() - start, time.time()
        ex.shutdown()
        check([path for chunk in written for path in chunk], folder, "ours")
        boots = _count_boots(home)
        if boots != [1] * SLOTS:
            raise RuntimeError("ours: expected %d workers booting Blender once each, found "
                               "boots per worker %s" % (SLOTS, boots))
        self.breakdowns.append(_breakdown(farm.job(batch.futures[0].job_id), submitted,
                                          returned))
        farm.close()
        self.stop_farm(home)
        return elapsed

    def per_frame(self) -> float:
        folder = self.folder("per-frame")
        pending = list(FRAMES)
        start = time.perf_counter()
        deadline = time.monotonic() + TIMEOUT
        while pending or _running:
            while pending and len(_running) < SLOTS:
                self.render([pending.pop(0)], folder, self.threads)
            for pid, child in list(_running.items()):
                if child.poll() is not None:
                    del _running[pid]
                    if child.returncode != 0:
                        raise RuntimeError("per-frame: a render process exited with code %s; "
                                           "see %s" % (child.returncode, self.log))
            if time.monotonic() > deadline:
                raise TimeoutError("per-frame: not done after %.0f s" % TIMEOUT)
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        check([os.path.join(folder, "f_%04d.png" % f) for f in FRAMES], folder, "per-frame")
        return elapsed

    def single(self) -> float:
        folder = self.folder("single")
        start = time.perf_counter()
        child = self.render(FRAMES, folder, 0)
        try:
            code = child.wait(TIMEOUT)
        finally:
            _running.pop(child.pid, None)
        elapsed = time.perf_counter() - start
        if code != 0:
            raise RuntimeError("single: exited with code %s; see %s" % (code, self.log))
        check([os.path.join(folder, "f_%04d.png" % f) for f in FRAMES], folder, "single")
        return elapsed

    def render(self, frames_: List[int], folder: str, threads: int) -> subprocess.Popen:
        return self.spawn([self.python, "-c", RENDER, self.blend, folder,
                           ",".join(map(str, frames_)), str(threads)])

    def spawn(self, command: List[str]) -> subprocess.Popen:
        """Start ``command``, its output to the renders' log; it is stopped at the end."""
        with open(self.log, "ab") as handle:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle,
                                     stderr=subprocess.STDOUT, env=self.env(), cwd=self.tmp)
        _running[child.pid] = child
        return child

    # -- cleaning up ---------------------------------------------------------------------

    def stop_farm(self, home: str) -> None:
        """Stop the supervisor of ``home`` (it stops its workers), then kill any process of
        this home still there (started with ``--home <home>``) and say so."""
        if not os.path.isdir(home):
            return
        from dccfutures.farms.local import LocalFarm
        farm = LocalFarm(home=home)
        try:
            if not farm.stop_supervisor(timeout=15):
                self.leftovers.append("the supervisor of %s did not stop in 15 s" % home)
        finally:
            farm.close()
        for pid in _processes_of_home(home):
            self.leftovers.append("process %d still ran with --home %s" % (pid, home))
            _killpg(pid)

    def cleanup(self) -> None:
        for pid, child in list(_running.items()):
            child.kill()
            child.wait()
            self.leftovers.append("render process %d (stopped)" % pid)
        _running.clear()
        for home in self.homes:
            try:
                self.stop_farm(home)
            except Exception as error:  # stop the others all the same
                self.leftovers.append("stopping the farm at %s failed: %s" % (home, error))
        if self.keep:
            progress("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _breakdown(job, submitted: float, returned: float) -> Dict[str, float]:
    """Where ours spent its time, from the farm's own record of the job's items: until the
    first item started (both workers booting Blender), the largest wait of a worker between
    two items, and from the last item's end to the last result in the client's hands."""
    items = sorted(job.work, key=lambda w: w.started)
    ends = sorted(w.finished for w in items)
    gaps = [w.started - max([end for end in ends if end <= w.started + 1e-3] or [w.started])
            for w in items[SLOTS:]]
    return {"boot": items[0].started - submitted, "handoff": max(gaps or [0.0]),
            "rendering": ends[-1] - items[0].started, "result_back": returned - ends[-1]}


def _count_boots(home: str) -> List[int]:
    import glob
    marker = "Blender 4.2 bootstrapped in bpy"
    counts = []
    for path in sorted(glob.glob(os.path.join(home, "logs", "worker-*.log"))):
        with open(path, errors="replace") as handle:
            counts.append(handle.read().count(marker))
    return counts


def check(paths: List[str], folder: str, way: str) -> None:
    """All 48 frames are in ``folder``, each a PNG, and nothing else is."""
    expected = [os.path.join(folder, "f_%04d.png" % f) for f in FRAMES]
    if sorted(paths) != expected:
        raise RuntimeError("%s: the files reported are not the 48 frames: %s"
                           % (way, sorted(paths)[:5]))
    found = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    if found != expected:
        raise RuntimeError("%s: %d of 48 frames in %s (%s)"
                           % (way, len(set(found) & set(expected)), folder,
                              ", ".join(sorted(set(expected) - set(found))[:5])))
    for path in found:
        with open(path, "rb") as handle:
            if handle.read(8) != PNG_SIGNATURE:
                raise RuntimeError("%s: %s is not a PNG" % (way, path))


# -- the report -------------------------------------------------------------------------------

LABELS = {"ours": "ours: dccfutures.blender.Executor, 2 workers booting Blender once, "
                  "items of %d frames",
          "per-frame": "a process per frame, 2 at a time",
          "single": "a single bpy process, all frames in a loop"}


def render_report(meta: Dict, times: Dict[str, List[float]], chunk: int,
                  breakdowns: List[Dict[str, float]]) -> str:
    median = {way: statistics.median(values) for way, values in times.items()}
    lines = [
        "# Blender: 48 frames on %d local slots" % SLOTS,
        "",
        "- Date: %s; %s; %s, %d cores; revision %s" % (
            meta["date"], platform.platform(), cpu_model(), os.cpu_count() or 1,
            git_revision()),
        "- Blender: bpy %s (%s)" % (meta["scene"]["bpy"], meta["python"]),
        "- Scene: 4 objects, a sun, a camera; Cycles CPU, %d samples (no adaptive sampling, "
        "no denoising), %dx%d PNG; one frame %.2f s with Blender's threads, %.2f s with one "
        "thread" % (meta["samples"], blender_scene.RESOLUTION[0],
                    blender_scene.RESOLUTION[1], meta["scene"]["frame_seconds"]["auto"],
                    meta["scene"]["frame_seconds"]["1"]),
        "- Render threads of each process: ours and per-frame %s; single: Blender's (one "
        "per core)" % ("%d" % meta["threads"] if meta["threads"] else "Blender's"),
        "- Load average (1, 5, 15 min) before / after: %s / %s" % (
            " ".join("%.2f" % x for x in meta["load_before"]),
            " ".join("%.2f" % x for x in meta["load_after"])),
        "- Rounds: %d, each starting with the next way (median wall time; every round: %s)" % (
            meta["rounds"], "; ".join("%s %s" % (way, " ".join("%.1f" % t for t in values))
                                      for way, values in times.items())),
        "",
        "| Way | Wall seconds | Frames/s | Ratio to ours |",
        "|---|---:|---:|---:|",
    ]
    ours = median.get("ours")
    for way, seconds in median.items():
        lines.append("| %s | %.2f | %.2f | %s |" % (
            LABELS[way] % chunk if way == "ours" else LABELS[way], seconds,
            len(FRAMES) / seconds, "%.2f×" % (seconds / ours) if ours else "—"))
    lines.append("")
    lines.append("Ratio to ours: the way's wall time ÷ ours (above 1: ours is faster).")
    lines.append("")
    if breakdowns:
        part = {key: statistics.median(b[key] for b in breakdowns) for key in breakdowns[0]}
        lines.append("- Ours, where the time went (median): %.2f s until the first item ran "
                     "(both workers booting Blender), %.2f s rendering, at most %.0f ms "
                     "between two items of a worker, %.0f ms from the last item's end to the "
                     "last result back" % (part["boot"], part["rendering"],
                                           part["handoff"] * 1e3, part["result_back"] * 1e3))
    if "per-frame" in median:
        per_frame = SLOTS * median["per-frame"] / len(FRAMES)
        render = meta["scene"]["frame_seconds"]["1"]
        lines.append("- A process per frame costs %.2f s per frame and slot, of which "
                     "rendering with one thread is %.2f s: on %d slots no way of running "
                     "these frames can be more than %.1f× faster than it here"
                     % (per_frame, render, SLOTS, per_frame / render))
    if ours and "per-frame" in median:
        lines.append(_goal("ours ≥ 3× faster than a process per frame", times["per-frame"],
                           times["ours"], lambda r: r >= 3))
    if ours and "single" in median:
        lines.append(_goal("ours within 1.2× of a single process", times["ours"],
                           times["single"], lambda r: r <= 1.2))
    return "\n".join(lines) + "\n"


def _goal(goal: str, numerator: List[float], denominator: List[float], met) -> str:
    """The goal's ratio round by round (each pair ran minutes apart at most, so a machine
    whose load drifts moves both alike), judged on their median."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    ratio = statistics.median(ratios)
    return "- Goal: %s: %.2f×%s — %s" % (
        goal, ratio, " (median of the rounds' %s)" % ", ".join("%.2f" % r for r in ratios)
        if len(ratios) > 1 else "", "met" if met(ratio) else "**missed**")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="a Python that can import bpy 4.2 (default: this one)")
    parser.add_argument("--chunk", type=int, default=6, help="frames per work item (ours)")
    parser.add_argument("--threads", type=int, default=1,
                        help="render threads of each process of ours and per-frame "
                             "(default 1; 0: Blender's, one per core)")
    parser.add_argument("--samples", type=int, default=blender_scene.SAMPLES,
                        help="Cycles samples of the scene (default %(default)s); a frame's "
                             "render time is linear in it")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the ways, report medians")
    parser.add_argument("--ways", default=",".join(WAYS), help="a subset of " + ",".join(WAYS))
    parser.add_argument("--keep", action="store_true", help="keep the renders and logs")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        parser.error("unknown way(s) %s; choose from %s" % (", ".join(unknown), ", ".join(WAYS)))
    if min(args.chunk, args.rounds, args.samples) < 1 or args.threads < 0:
        parser.error("--chunk, --rounds and --samples must be 1 or more, --threads 0 or more")
    probe = subprocess.run([args.python, "-c", "import bpy"], capture_output=True)
    if probe.returncode != 0:
        print("%s cannot import bpy: install PyPI's bpy 4.2 (Python 3.11 only): "
              "pip install 'bpy==4.2.*' (make bench-blender does)" % args.python,
              file=sys.stderr)
        return 2
    # SIGTERM ends the run as Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args.python, args.chunk, args.threads, args.samples, args.keep)
    meta: Dict = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "python": args.python, "rounds": args.rounds, "threads": args.threads,
                  "samples": args.samples,
                  "load_before": list(os.getloadavg())}
    times: Dict[str, List[float]] = {way: [] for way in ways}
    runners = {"ours": bench.ours, "per-frame": bench.per_frame, "single": bench.single}
    try:
        progress("building the scene in %s" % bench.blend)
        meta["scene"] = bench.build()
        progress("one frame: %.2f s (Blender's threads), %.2f s (one thread)"
                 % (meta["scene"]["frame_seconds"]["auto"], meta["scene"]["frame_seconds"]["1"]))
        for round_ in range(args.rounds):
            # Each round starts with the next way: none always runs first, or after another.
            for way in ways[round_ % len(ways):] + ways[:round_ % len(ways)]:
                progress("round %d/%d: %s" % (round_ + 1, args.rounds, way))
                times[way].append(runners[way]())
                progress("  %.2f s" % times[way][-1])
    except KeyboardInterrupt:
        failed = "interrupted"
    except (RuntimeError, TimeoutError, concurrent.futures.TimeoutError) as error:
        failed = "%s (--keep keeps the logs in the temp folder)" % error
    else:
        failed = ""
    finally:
        bench.cleanup()
        if bench.leftovers:
            progress("stopped at the end: %s" % "; ".join(bench.leftovers))
    if failed:
        print("blender_frames: %s" % failed, file=sys.stderr)
        return 1
    meta["load_after"] = list(os.getloadavg())
    sys.stdout.write(render_report(meta, times, args.chunk, bench.breakdowns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
