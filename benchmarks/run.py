#!/usr/bin/env python3
"""dccfutures benchmarks, side by side with ``concurrent.futures.ProcessPoolExecutor``.

    .venv/bin/python benchmarks/run.py                 # everything (about 2 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # smaller sizes, a smoke run
    .venv/bin/python benchmarks/run.py --only map,roundtrip --json /tmp/bench.json

Every measurement runs in a fresh child process (``run.py --child NAME``), so one measure never
pollutes another (warm pollers, memory, imports). Every dccfutures child gets a brand-new private
farm home under a temp dir and a config file ``local: {workers: <cpus>, idle_timeout: 60}``; the
parent stops that farm (supervisor, then any leftover worker) when the child is done.

Progress goes to stderr; the Markdown table goes to stdout. See benchmarks/README.md.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # `workloads` must be importable here and (through sys.path) on workers

CPUS = os.cpu_count() or 1
MEASURES = ("map", "submit", "roundtrip", "cold", "memory", "scaling")
FARM_VARS = ("QBLVL", "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID", "DCCFUTURES_RECURSION_LIMIT",
             "QBFUTURES_RECURSION_LIMIT")

# Sizes: (full, quick)
SIZES = {
    "map_n": (2000, 500), "map_repeats": (3, 2),
    "submit_n": (2000, 500), "submit_repeats": (2, 1),
    "rt_n": (50, 20),
    "cold_repeats": (3, 1),
    "mem_map_n": (10000, 10000), "mem_submit_n": (10000, 1000),
    "scale_ns": ((1000, 5000, 20000), (200, 1000, 4000)), "scale_repeats": (3, 2),
}
WAIT_TIMEOUT = 120.0  # the longest any single wait in a child may take


# =============================================================================================
# Child side: one measurement, in a fresh process. Results go to the --out file as JSON.
# =============================================================================================

def _ensure_library_importable() -> None:
    import importlib.util
    if importlib.util.find_spec("dccfutures") is None and ROOT not in sys.path:
        sys.path.insert(1, ROOT)


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def _percentile(values: List[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


WARM_PAUSE = 0.6


def _open(side: str):
    """The executor under test, warmed by a small map, a pause and another small map.

    The pause matters on the local farm: its client caches the list of worker wake-up FIFOs
    for 0.5 s, so a worker that came up after the first listing is not poked by a submit made
    within that window and only finds the work on its 1 s fallback poll. Measuring a warm farm
    means waiting that out (the stall itself is reported, not measured here).
    """
    import workloads
    if side == "dcc":
        _ensure_library_importable()
        from dccfutures import Executor
        ex = Executor()
    else:
        import concurrent.futures
        ex = concurrent.futures.ProcessPoolExecutor(CPUS)
    for attempt in range(2):
        if attempt:
            time.sleep(WARM_PAUSE)
        warm = list(ex.map(workloads.noop, range(4 * CPUS), timeout=WAIT_TIMEOUT))
        if warm != list(range(4 * CPUS)):
            raise RuntimeError("warm-up map returned wrong results")
    return ex


def _close(side: str, ex) -> None:
    if side == "ppe":
        ex.shutdown(wait=True)
    # dccfutures: the parent stops the farm; nothing is outstanding here.


def _wait_all(futures: List[Any], what: str) -> None:
    import concurrent.futures
    done, not_done = concurrent.futures.wait(futures, timeout=WAIT_TIMEOUT)
    if not_done:
        raise TimeoutError("%d of %d %s futures were not done after %.0f s"
                           % (len(not_done), len(futures), what, WAIT_TIMEOUT))


def _timed_map(ex, n: int) -> float:
    """calls/s of ``list(ex.map(noop, range(n), chunksize=1))``, results checked."""
    import workloads
    start = time.perf_counter()
    out = list(ex.map(workloads.noop, range(n), chunksize=1, timeout=WAIT_TIMEOUT))
    elapsed = time.perf_counter() - start
    if out != list(range(n)):
        raise RuntimeError("map of %d returned wrong results" % n)
    return n / elapsed


def _timed_submits(ex, n: int) -> Tuple[float, float]:
    """(submits/s of the submission phase, end-to-end calls/s) for n separate submits."""
    import workloads
    start = time.perf_counter()
    futures = [ex.submit(workloads.noop, i) for i in range(n)]
    submitted = time.perf_counter()
    _wait_all(futures, "submit")
    finished = time.perf_counter()
    if [f.result() for f in futures] != list(range(n)):
        raise RuntimeError("%d submits returned wrong results" % n)
    return n / (submitted - start), n / (finished - start)


def child_map(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    ex = _open(side)
    out: Dict[str, Any] = {"map": [_timed_map(ex, p["n"]) for _ in range(p["repeats"])]}
    if side == "ppe":
        out["submit"] = [_timed_submits(ex, p["n"])[1] for _ in range(p["repeats"])]
    _close(side, ex)
    return out


def child_submit(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    ex = _open(side)
    runs = [_timed_submits(ex, p["n"]) for _ in range(p["repeats"])]
    _close(side, ex)
    return {"submit_phase": [r[0] for r in runs], "end_to_end": [r[1] for r in runs]}


def child_roundtrip(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    import workloads
    ex = _open(side)
    for _ in range(5):
        ex.submit(workloads.noop).result(timeout=WAIT_TIMEOUT)
    times = []
    for _ in range(p["n"]):
        start = time.perf_counter()
        ex.submit(workloads.noop).result(timeout=WAIT_TIMEOUT)
        times.append(time.perf_counter() - start)
    _close(side, ex)
    return {"seconds": times, "median": statistics.median(times), "p90": _percentile(times, 0.9)}


def child_cold(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    """Import, then construct the executor and wait for the first result: nothing is warm."""
    t0 = time.perf_counter()
    if side == "dcc":
        _ensure_library_importable()
        import dccfutures
        factory = dccfutures.Executor
    else:
        import concurrent.futures
        factory = lambda: concurrent.futures.ProcessPoolExecutor(CPUS)  # noqa: E731
    t1 = time.perf_counter()
    import workloads
    t2 = time.perf_counter()
    ex = factory()
    t3 = time.perf_counter()
    future = ex.submit(workloads.noop, 1)
    t4 = time.perf_counter()
    value = future.result(timeout=WAIT_TIMEOUT)
    t5 = time.perf_counter()
    if value != 1:
        raise RuntimeError("the first call returned %r" % (value,))
    _close(side, ex)
    return {"import": t1 - t0, "first_result": t5 - t2, "construct": t3 - t2,
            "submit_call": t4 - t3, "wait": t5 - t4}


def child_memory(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    """RSS growth of the client while ``n`` futures are outstanding and cannot finish."""
    import gc
    import workloads
    n, mode = p["n"], p["mode"]
    ex = _open(side) if side == "ppe" else None
    if side == "dcc":
        _ensure_library_importable()
        from dccfutures import Executor
        ex = Executor()
        if ex.submit(workloads.noop, 1).result(timeout=WAIT_TIMEOUT) != 1:
            raise RuntimeError("the warm-up call returned a wrong result")
    flag = os.path.join(p["tmp"], "release-%d" % os.getpid())
    notes: List[str] = []
    blockers: List[Any] = []
    gc.collect()
    before = _rss_mb()
    start = time.perf_counter()
    if side == "ppe":
        # Keep every worker busy on a blocker, then queue n no-ops behind them.
        blockers = [ex.submit(workloads.wait_for_file, flag) for _ in range(CPUS)]
        time.sleep(0.2)
        futures = [ex.submit(workloads.noop, i) for i in range(n)]
        method = "%d blockers on a file flag, then %d x submit(noop)" % (CPUS, n)
    elif mode == "map":
        try:
            iterator = ex.map(workloads.noop, range(n), status="blocked")
            method = 'map(noop, range(%d), status="blocked")' % n
        except Exception as error:  # the job field is not supported: block on a file flag
            notes.append('status="blocked" failed (%s: %s); used a file flag' % (
                type(error).__name__, error))
            iterator = ex.map(workloads.wait_for_file, [flag] * n, range(n))
            method = "map(wait_for_file, ...) of %d items blocked on a file flag" % n
        # The map iterator keeps its futures alive; reach them (a private attribute) only to
        # check that none finished. Without it, the check is skipped and said so.
        futures = list(getattr(iterator, "_pending", None) or [])
        if not futures:
            notes.append("the map's futures were not reachable: finished/cancelled not checked")
    else:
        futures = [ex.submit_ext(workloads.noop, [i], status="blocked") for i in range(n)]
        method = 'submit_ext(noop, [i], status="blocked") x %d' % n
    submitted = time.perf_counter()
    time.sleep(1.5)  # let the poller see the jobs
    gc.collect()
    after = _rss_mb()
    done = sum(1 for f in futures if f.done())
    if done:
        notes.append("%d of %d futures finished although they were meant to wait" % (done, n))
    statuses: Dict[str, int] = {}
    if side == "dcc":
        for f in futures:
            statuses[f.status()] = statuses.get(f.status(), 0) + 1
    # PPE's shutdown(wait=False) lets go of its processes: hold on to them to reap them below.
    processes = list((getattr(ex, "_processes", None) or {}).values()) if side == "ppe" else []
    cancel_start = time.perf_counter()
    ex.shutdown(wait=False, cancel_futures=True)
    cancel_seconds = time.perf_counter() - cancel_start
    cancelled = sum(1 for f in futures if f.cancelled())
    if side == "ppe":
        with open(flag, "w"):
            pass
        for b in blockers:
            b.result(timeout=WAIT_TIMEOUT)
        for process in processes:
            process.join(10)
    return {"method": method, "n": n, "rss_before_mb": before, "rss_after_mb": after,
            "growth_mb": after - before, "submit_seconds": submitted - start, "done": done,
            "statuses": statuses, "cancel_seconds": cancel_seconds, "cancelled": cancelled,
            "notes": notes}


def child_scaling(side: str, p: Dict[str, Any]) -> Dict[str, Any]:
    ex = _open(side)
    rates = [_timed_map(ex, p["n"]) for _ in range(p["repeats"])]
    _close(side, ex)
    return {"n": p["n"], "rates": rates, "rate": statistics.median(rates)}


CHILDREN: Dict[str, Callable[[str, Dict[str, Any]], Dict[str, Any]]] = {
    "map": child_map, "submit": child_submit, "roundtrip": child_roundtrip, "cold": child_cold,
    "memory": child_memory, "scaling": child_scaling,
}


def child_main(args) -> None:
    params = json.loads(args.params)
    try:
        result = CHILDREN[args.child](params["side"], params)
        result["ok"] = True
    except BaseException as error:  # report, never crash the parent
        result = {"ok": False, "error": "%s: %s" % (type(error).__name__, error),
                  "traceback": traceback.format_exc()}
    with open(args.out, "w") as handle:
        json.dump(result, handle)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # never wait for farm work or pollers at exit


# =============================================================================================
# Parent side: farms, children, the table.
# =============================================================================================

T0 = time.monotonic()


def progress(message: str) -> None:
    print("[%6.1fs] %s" % (time.monotonic() - T0, message), file=sys.stderr, flush=True)


class Bench:
    def __init__(self, quick: bool):
        self.quick = quick
        self.tmp = tempfile.mkdtemp(prefix="dccfutures-bench-")
        self.config = os.path.join(self.tmp, "config.yaml")
        with open(self.config, "w") as handle:
            handle.write("local: {workers: %d, idle_timeout: 60}\n" % CPUS)
        self.count = 0
        self.leftovers: List[str] = []  # processes stop_supervisor did not end

    def size(self, key: str) -> Any:
        return SIZES[key][1 if self.quick else 0]

    def run(self, name: str, side: str, timeout: float, **params: Any) -> Dict[str, Any]:
        """Run one child; dccfutures children get a brand-new farm home, stopped afterwards."""
        self.count += 1
        folder = os.path.join(self.tmp, "%02d-%s-%s" % (self.count, name, side))
        os.makedirs(folder)
        params.update(side=side, tmp=folder)
        env = dict(os.environ)
        for var in FARM_VARS:
            env.pop(var, None)
        env["DCCFUTURES_CONFIG"] = self.config
        home = os.path.join(folder, "home")
        env["DCCFUTURES_HOME"] = home
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        out = os.path.join(folder, "result.json")
        command = [sys.executable, os.path.abspath(__file__), "--child", name, "--out", out,
                   "--params", json.dumps(params)]
        start = time.monotonic()
        child = subprocess.Popen(command, env=env, cwd=folder, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            child.wait(timeout)
            result = _read_json(out) or {"ok": False, "error": "the child exited with code %s "
                                         "and no result" % child.returncode}
        except subprocess.TimeoutExpired:
            _killpg(child.pid)
            child.wait()
            result = {"ok": False, "error": "timed out after %.0f s" % timeout}
        finally:
            if side == "dcc":
                self.stop_farm(home)
            # The child's own session: anything still in it (a PPE worker) is a leftover.
            if _group_alive(child.pid):
                self.leftovers.append("processes of the %s/%s child outlived it" % (name, side))
                _killpg(child.pid)
        result["wall_seconds"] = time.monotonic() - start
        if not result.get("ok"):
            progress("  %s/%s failed: %s" % (name, side, result.get("error")))
            if result.get("traceback"):
                print(result["traceback"], file=sys.stderr)
            log = os.path.join(home, "logs", "supervisor.log")
            if os.path.exists(log):
                print("  supervisor.log tail:\n" + _tail(log), file=sys.stderr)
        return result

    def stop_farm(self, home: str) -> None:
        """stop_farm of tests/conftest.py, plus a last sweep for any process of this home."""
        if not os.path.isdir(home):
            return
        old = os.environ.get("DCCFUTURES_CONFIG")
        os.environ["DCCFUTURES_CONFIG"] = self.config
        try:
            _ensure_library_importable()
            from dccfutures.farms.local import LocalFarm
            farm = LocalFarm(home=home)
            try:
                if not farm.stop_supervisor(timeout=15):
                    pid = farm.supervisor_pid()
                    self.leftovers.append("supervisor %s of %s did not stop in 15 s" % (pid, home))
                    if pid and pid > 0:
                        _kill(pid)
                for pid, *_ in farm.store.workers():
                    try:
                        os.killpg(pid, signal.SIGKILL)
                        self.leftovers.append("worker %d of %s outlived its supervisor"
                                              % (pid, home))
                    except OSError:
                        pass
            finally:
                farm.close()
        except Exception as error:
            progress("  stopping the farm at %s failed: %s" % (home, error))
        finally:
            if old is None:
                os.environ.pop("DCCFUTURES_CONFIG", None)
            else:
                os.environ["DCCFUTURES_CONFIG"] = old
        for pid in _processes_of_home(home):
            self.leftovers.append("process %d still ran with --home %s" % (pid, home))
            _killpg(pid)

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        _kill(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def _processes_of_home(home: str) -> List[int]:
    """Pids whose command line has ``--home <home>``: only farms this run created."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        for i, arg in enumerate(argv[:-1]):
            if arg == b"--home" and argv[i + 1].decode(errors="replace") == home:
                found.append(int(name))
                break
    return found


# -- the measures -----------------------------------------------------------------------------

Row = Dict[str, str]


def _row(measure: str, dcc: str, ppe: str, ratio: str, goal: str, verdict: str) -> Row:
    return {"measure": measure, "dcc": dcc, "ppe": ppe, "ratio": ratio, "goal": goal,
            "result": verdict}


def _error(measure: str, goal: str, *results: Dict[str, Any]) -> Optional[Row]:
    errors = [r for r in results if not r.get("ok")]
    if not errors:
        return None
    message = "error: " + errors[0].get("error", "?")
    return _row(measure, message if not results[0].get("ok") else "—",
                message if results[0].get("ok") else "—", "—", goal, "error")


def _rate(x: float) -> str:
    return "{:,.0f}/s".format(x)


def _verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def measure_map(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    n, reps = b.size("map_n"), b.size("map_repeats")
    progress("map: %d no-ops x %d, dccfutures" % (n, reps))
    dcc = b.run("map", "dcc", 120, n=n, repeats=reps)
    progress("map: ProcessPoolExecutor map and submit")
    ppe = b.run("map", "ppe", 120, n=n, repeats=reps)
    raw["map"] = {"dcc": dcc, "ppe": ppe}
    goal = "≥ 0.5× PPE submit"
    measure = "map of %s no-ops, calls/s (median of %d)" % ("{:,}".format(n), reps)
    failed = _error(measure, goal, dcc, ppe)
    if failed:
        return [failed]
    d, ps, pm = (statistics.median(dcc["map"]), statistics.median(ppe["submit"]),
                 statistics.median(ppe["map"]))
    progress("  dccfutures %s, PPE submit %s, PPE map %s" % (_rate(d), _rate(ps), _rate(pm)))
    return [_row(measure, _rate(d), "%s (submit)" % _rate(ps), "%.2f×" % (d / ps), goal,
                 _verdict(d / ps >= 0.5)),
            _row("  … same, against PPE's own map", _rate(d), "%s (map)" % _rate(pm),
                 "%.2f×" % (d / pm), "—", "info")]


def measure_submit(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    n, reps = b.size("submit_n"), b.size("submit_repeats")
    progress("submit: %d separate submits x %d, dccfutures" % (n, reps))
    dcc = b.run("submit", "dcc", 180, n=n, repeats=reps)
    progress("submit: ProcessPoolExecutor")
    ppe = b.run("submit", "ppe", 120, n=n, repeats=reps)
    raw["submit"] = {"dcc": dcc, "ppe": ppe}
    goal = "≥ 2,000/s end to end"
    measure = "%s separate submits, end to end, calls/s" % "{:,}".format(n)
    failed = _error(measure, goal, dcc, ppe)
    if failed:
        return [failed]
    de, pe = statistics.median(dcc["end_to_end"]), statistics.median(ppe["end_to_end"])
    ds, psub = statistics.median(dcc["submit_phase"]), statistics.median(ppe["submit_phase"])
    progress("  dccfutures %s submits, %s end to end; PPE %s, %s" % (
        _rate(ds), _rate(de), _rate(psub), _rate(pe)))
    return [_row(measure, _rate(de), _rate(pe), "%.2f×" % (de / pe), goal, _verdict(de >= 2000)),
            _row("  … submission phase only, submits/s", _rate(ds), _rate(psub),
                 "%.2f×" % (ds / psub), "—", "info")]


def measure_roundtrip(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    n = b.size("rt_n")
    progress("roundtrip: %d sequential submit().result(), dccfutures" % n)
    dcc = b.run("roundtrip", "dcc", 120, n=n)
    progress("roundtrip: ProcessPoolExecutor")
    ppe = b.run("roundtrip", "ppe", 60, n=n)
    raw["roundtrip"] = {"dcc": dcc, "ppe": ppe}
    goal = "≤ 25× PPE median"
    measure = "round trip, median of %d" % n
    failed = _error(measure, goal, dcc, ppe)
    if failed:
        return [failed]
    ratio = dcc["median"] / ppe["median"]
    progress("  dccfutures %.2f ms (p90 %.2f), PPE %.3f ms (p90 %.3f)" % (
        dcc["median"] * 1e3, dcc["p90"] * 1e3, ppe["median"] * 1e3, ppe["p90"] * 1e3))
    return [_row(measure, "%.2f ms" % (dcc["median"] * 1e3), "%.3f ms" % (ppe["median"] * 1e3),
                 "%.1f×" % ratio, goal, _verdict(ratio <= 25)),
            _row("  … p90", "%.2f ms" % (dcc["p90"] * 1e3), "%.3f ms" % (ppe["p90"] * 1e3),
                 "%.1f×" % (dcc["p90"] / ppe["p90"]), "—", "info")]


def measure_cold(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    reps = b.size("cold_repeats")
    dcc, ppe = [], []
    for i in range(reps):
        progress("cold: fresh process, empty farm home (%d/%d)" % (i + 1, reps))
        dcc.append(b.run("cold", "dcc", 60))
    for i in range(reps):
        progress("cold: fresh process, ProcessPoolExecutor (%d/%d)" % (i + 1, reps))
        ppe.append(b.run("cold", "ppe", 60))
    raw["cold"] = {"dcc": dcc, "ppe": ppe}
    goal = "≤ 0.5 s"
    measure = "cold start: Executor() to first result (median of %d)" % reps
    failed = _error(measure, goal, *(dcc + ppe))
    if failed:
        return [failed]
    d = statistics.median(r["first_result"] for r in dcc)
    p = statistics.median(r["first_result"] for r in ppe)
    di = statistics.median(r["import"] for r in dcc)
    pi = statistics.median(r["import"] for r in ppe)
    parts = ", ".join("%s %.0f ms" % (k, statistics.median(r[k] for r in dcc) * 1e3)
                      for k in ("construct", "submit_call", "wait"))
    progress("  dccfutures %.3f s (%s), import %.0f ms; PPE %.3f s, import %.0f ms"
             % (d, parts, di * 1e3, p, pi * 1e3))
    return [_row(measure, "%.3f s" % d, "%.3f s" % p, "%.1f×" % (d / p), goal, _verdict(d <= 0.5)),
            _row("  … split: " + parts, "", "", "", "—", "info"),
            _row("  … import dccfutures / concurrent.futures", "%.0f ms" % (di * 1e3),
                 "%.0f ms" % (pi * 1e3), "%.1f×" % (di / pi) if pi else "—", "—", "info")]


def measure_memory(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    n_map, n_sub = b.size("mem_map_n"), b.size("mem_submit_n")
    progress("memory: %d outstanding futures of one blocked map, dccfutures" % n_map)
    dcc_map = b.run("memory", "dcc", 120, n=n_map, mode="map")
    progress("memory: %d outstanding futures of separate blocked submit_ext, dccfutures" % n_sub)
    dcc_sub = b.run("memory", "dcc", 180, n=n_sub, mode="submit")
    progress("memory: %d queued futures behind busy workers, ProcessPoolExecutor" % n_map)
    ppe = b.run("memory", "ppe", 120, n=n_map, mode="submit")
    raw["memory"] = {"dcc_map": dcc_map, "dcc_submit_ext": dcc_sub, "ppe": ppe}
    goal = "≤ 50 MB"
    rows = []
    for measure, dcc in (("client RSS growth, %s futures of one map" % "{:,}".format(n_map),
                          dcc_map),
                         ("client RSS growth, %s separate submit_ext" % "{:,}".format(n_sub),
                          dcc_sub)):
        failed = _error(measure, goal, dcc, ppe)
        if failed:
            rows.append(failed)
            continue
        scale = n_map / float(dcc["n"])  # PPE figure is for n_map; compare per future
        ppe_growth = ppe["growth_mb"] / scale
        progress("  %s: %.1f MB (submitted in %.2f s, cancelled in %.2f s, statuses %s%s); "
                 "PPE %.1f MB" % (measure, dcc["growth_mb"], dcc["submit_seconds"],
                                  dcc["cancel_seconds"], dcc["statuses"],
                                  "; " + "; ".join(dcc["notes"]) if dcc["notes"] else "",
                                  ppe["growth_mb"]))
        ok = dcc["growth_mb"] <= 50 * dcc["n"] / 10000.0 and not dcc["done"]
        rows.append(_row(measure, "%.1f MB" % dcc["growth_mb"],
                         "%.1f MB%s" % (ppe_growth, "" if scale == 1 else " (scaled)"),
                         "%.1f×" % (dcc["growth_mb"] / ppe_growth) if ppe_growth > 0.05 else "—",
                         goal if dcc["n"] == 10000 else "≤ %.0f MB (50 MB per 10k)"
                         % (50 * dcc["n"] / 10000.0), _verdict(ok)))
    if dcc_map.get("ok") and dcc_sub.get("ok"):
        rows.append(_row("  … submit / cancel time (map; submit_ext)",
                         "%.2f / %.2f s; %.2f / %.2f s" % (
                             dcc_map["submit_seconds"], dcc_map["cancel_seconds"],
                             dcc_sub["submit_seconds"], dcc_sub["cancel_seconds"]),
                         "%.2f / %.2f s" % (ppe["submit_seconds"], ppe["cancel_seconds"])
                         if ppe.get("ok") else "—", "", "—", "info"))
    return rows


def measure_scaling(b: Bench, raw: Dict[str, Any]) -> List[Row]:
    sizes, reps = b.size("scale_ns"), b.size("scale_repeats")
    dcc, ppe = {}, {}
    for n in sizes:
        progress("scaling: map of %d no-ops x %d, dccfutures" % (n, reps))
        dcc[n] = b.run("scaling", "dcc", 60 + reps * n / 100.0, n=n, repeats=reps)
        progress("scaling: map of %d no-ops x %d, ProcessPoolExecutor" % (n, reps))
        ppe[n] = b.run("scaling", "ppe", 60 + reps * n / 200.0, n=n, repeats=reps)
    raw["scaling"] = {"dcc": {str(n): r for n, r in dcc.items()},
                      "ppe": {str(n): r for n, r in ppe.items()}}
    rows = []
    for n in sizes:
        measure = "map of %s no-ops (chunksize=1), calls/s (median of %d)" % (
            "{:,}".format(n), reps)
        failed = _error(measure, "—", dcc[n], ppe[n])
        if failed:
            rows.append(failed)
            continue
        d, p = dcc[n]["rate"], ppe[n]["rate"]
        progress("  %d: dccfutures %s, PPE %s" % (n, _rate(d), _rate(p)))
        rows.append(_row(measure, _rate(d), _rate(p), "%.2f×" % (d / p), "—", "info"))
    measure = "map throughput spread over %s" % "/".join("{:,}".format(n) for n in sizes)
    goal = "within ±25% of the mean"
    if all(dcc[n].get("ok") for n in sizes):
        rates = [dcc[n]["rate"] for n in sizes]
        mean = statistics.mean(rates)
        hi, lo = max(rates) / mean - 1, min(rates) / mean - 1
        ppe_text = "—"
        if all(ppe[n].get("ok") for n in sizes):
            prates = [ppe[n]["rate"] for n in sizes]
            pmean = statistics.mean(prates)
            ppe_text = "%+.0f%% / %+.0f%%" % ((max(prates) / pmean - 1) * 100,
                                              (min(prates) / pmean - 1) * 100)
        rows.append(_row(measure, "%+.0f%% / %+.0f%%" % (hi * 100, lo * 100), ppe_text, "—", goal,
                         _verdict(max(hi, -lo) <= 0.25)))
    else:
        rows.append(_row(measure, "error: a size failed", "—", "—", goal, "error"))
    return rows


RUNNERS = {"map": measure_map, "submit": measure_submit, "roundtrip": measure_roundtrip,
           "cold": measure_cold, "memory": measure_memory, "scaling": measure_scaling}


# -- the report -------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dccfutures"], cwd=ROOT,
                               text=True, capture_output=True, timeout=10).stdout.strip()
        return (rev + (" (dccfutures/ has local changes)" if dirty else "")) or "unknown"
    except Exception:
        return "unknown"


def header(quick: bool) -> Dict[str, Any]:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": CPUS,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "revision": git_revision(),
        "mode": "quick" if quick else "full",
        "load_average_before": list(os.getloadavg()),
    }


def render(meta: Dict[str, Any], rows: List[Row]) -> str:
    lines = [
        "# dccfutures benchmarks (%s run)" % meta["mode"],
        "",
        "- Date: %s" % meta["date"],
        "- Platform: %s" % meta["platform"],
        "- CPU: %s, %d cores" % (meta["cpu"], meta["cores"]),
        "- Python: %s (%s)" % (meta["python"], meta["python_executable"]),
        "- dccfutures revision: %s" % meta["revision"],
        "- Load average before / after: %s / %s" % (
            " ".join("%.2f" % x for x in meta["load_average_before"]),
            " ".join("%.2f" % x for x in meta.get("load_average_after", []))),
        "- Wall time: %.0f s; local farm: %d workers, a fresh farm home per measurement"
        % (meta.get("wall_seconds", 0), meta["cores"]),
        "",
        "| Measure | dccfutures | ProcessPoolExecutor(%d) | Ratio | Goal | Result |" % CPUS,
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s |" % tuple(
            r[k].replace("|", "\\|") for k in ("measure", "dcc", "ppe", "ratio", "goal", "result")))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--only", help="comma-separated measures: %s" % ",".join(MEASURES))
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers there")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    selected = list(MEASURES)
    if args.only:
        selected = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in selected if s not in MEASURES]
        if unknown:
            parser.error("unknown measure(s) %s; choose from %s"
                         % (", ".join(unknown), ", ".join(MEASURES)))
    meta = header(args.quick)
    progress("dccfutures benchmarks (%s): %s on %s, %d cores, Python %s" % (
        meta["mode"], ", ".join(selected), meta["cpu"], CPUS, meta["python"]))
    bench = Bench(args.quick)
    rows: List[Row] = []
    raw: Dict[str, Any] = {}
    try:
        for name in selected:
            try:
                rows += RUNNERS[name](bench, raw)
            except Exception as error:  # a harness bug in one measure must not lose the others
                traceback.print_exc()
                rows.append(_row(name, "error: %s: %s" % (type(error).__name__, error), "—", "—",
                                 "—", "error"))
    finally:
        bench.cleanup()
    meta["load_average_after"] = list(os.getloadavg())
    meta["wall_seconds"] = time.monotonic() - T0
    meta["leftover_processes"] = bench.leftovers
    if bench.leftovers:
        progress("leftover processes (killed): %s"
                 % "; ".join(bench.leftovers))
    progress("done in %.0f s" % meta["wall_seconds"])
    table = render(meta, rows)
    sys.stdout.write(table)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "rows": rows, "raw": raw}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
