#!/usr/bin/env python3
"""What polling costs on OpenCue, next to Qube: calls and bytes per poll cycle.

Two workloads, each through ``dccfutures.Executor(farm=...)`` with the work really run:
a ``map`` of 1,000 no-ops (one job) and 200 separate ``submit`` calls (200 jobs).

* OpenCue: the fake Cuebot of ``tests/fakes/cuebot`` (a gRPC server on 127.0.0.1, in the
  measuring process) and ONE real RQD process running every frame (``python -m rqd``), talked
  to by the real pycue. The fake records every RPC with the size of its request and response
  (``engine.rpc_calls``: protobuf message sizes, without gRPC/HTTP/2 framing); RQD's own
  reports (``RqdReportInterface``) are not the client's and are left out.
* Qube: the fake ``qb`` of ``tests/fakes/qb`` with its supervisor (2 hosts x 2 slots)
  running our jobtype in subjob processes, set up as ``benchmarks/qube_polling.py`` does.
  ``qb.calls`` counts calls; bytes are the fake's stand-in for what Qube sends,
  ``len(repr(result))`` of every ``jobinfo``.

A poll cycle is one ``farm.poll`` call of the executor's poller; the calls and bytes of a
cycle are the polling calls made from its start to the next cycle's start (the poller's
``results`` included). Calls that launch jobs (``LaunchSpec*``, ``qb.submit``) and pycue's
check of a new channel (``GetSystemStats``) are counted apart. Wall time is from the first submit to the last result back.

    .venv/bin/python benchmarks/opencue_polling.py [--items 1000] [--submits 200]
    .venv/bin/python benchmarks/opencue_polling.py --farms opencue --json /tmp/cue.json

Each farm runs in a fresh child process with its own temp folder. Every process started is
stopped at the end, on an error or Ctrl-C too: the child stops RQD (and its frames) and the
fake Cuebot, or the fake Qube supervisor (and its subjobs); then the parent kills any process
still running in, or naming, that temp folder. Progress goes to stderr, the table to stdout.
"""
import argparse
import collections
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FARMS = ("opencue", "qube")
USER = "artist"  # Cuebot refuses jobs from root; frames run as RQD's user anyway
WAIT_TIMEOUT = 1800.0  # the longest a workload may take to return all its results
# Calls that are not polling: launching jobs, and pycue's one check of a new channel.
NOT_POLLING = {"opencue": {"LaunchSpec", "LaunchSpecAndWait", "GetSystemStats"},
               "qube": {"submit"}}
RQD_SERVANT = "ReportServant"  # RQD's calls home (RqdReportInterface), not the client's


def progress(message: str) -> None:
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


# =============================================================================================
# Child side: one farm, both workloads. Results go to the --out file as JSON.
# =============================================================================================

class CycleMeter(object):
    """Splits a farm's counted calls into poll cycles by wrapping ``farm.poll``.

    ``read()`` returns the calls made so far as (Counter of method -> calls, Counter of
    method -> bytes), cumulative; each poll start closes the cycle before it."""

    def __init__(self, farm: Any, read: Callable[[], Any], not_polling: set):
        self.read = read
        self.not_polling = not_polling
        self._poll = farm.poll
        farm.poll = self.poll
        self.begin()

    def begin(self) -> None:
        self.marks = [self.read()]   # the counters when the workload began, then at each poll
        self.started = time.monotonic()

    def poll(self, job_ids):
        self.marks.append(self.read())
        return self._poll(job_ids)

    def end(self) -> Dict[str, Any]:
        """The workload's figures; call when its last result is back."""
        wall = time.monotonic() - self.started
        marks = self.marks + [self.read()]

        def polling(counter):
            return collections.Counter({m: n for m, n in counter.items()
                                        if m not in self.not_polling})
        cycles = []
        for before, after in zip(marks[1:-1], marks[2:]):   # one per poll call
            calls, size = polling(after[0] - before[0]), polling(after[1] - before[1])
            cycles.append({"calls": sum(calls.values()), "bytes": sum(size.values())})
        first, last = marks[0], marks[-1]
        calls, size = last[0] - first[0], last[1] - first[1]
        return {
            "wall": wall,
            "cycles": len(cycles),
            "calls": dict(polling(calls)),
            "bytes": dict(polling(size)),
            "other_calls": {m: n for m, n in calls.items() if m in self.not_polling},
            "before_first_poll": sum(polling(marks[1][0] - first[0]).values())
            if len(marks) > 2 else 0,
            "per_cycle": cycles,
        }


def _rpc_reader(engine: Any) -> Callable[[], Any]:
    """Cumulative client RPCs of the fake Cuebot, read incrementally from ``rpc_calls``."""
    state = {"seen": 0, "calls": collections.Counter(), "bytes": collections.Counter()}

    def read():
        with engine.lock:
            new = engine.rpc_calls[state["seen"]:]
            state["seen"] += len(new)
        for call in new:
            if call.servant == RQD_SERVANT:
                continue
            state["calls"][call.method] += 1
            state["bytes"][call.method] += call.request_bytes + call.response_bytes
        return collections.Counter(state["calls"]), collections.Counter(state["bytes"])
    return read


def _qb_reader(qb: Any) -> Callable[[], Any]:
    def read():
        return (collections.Counter(qb.calls),
                collections.Counter({"jobinfo": qb.jobinfo_bytes}))
    return read


def _workloads(ex: Any, meter: CycleMeter, items: int, submits: int,
               map_fields: Dict[str, Any]) -> List[Dict[str, Any]]:
    sys.path.insert(0, HERE)
    import concurrent.futures
    import workloads
    rows = []
    label = "map of %s items" % "{:,}".format(items)
    progress("  %s%s" % (label, "".join(" (%s=%s)" % kv for kv in map_fields.items())))
    meter.begin()
    out = list(ex.map(workloads.noop, range(items), timeout=WAIT_TIMEOUT, **map_fields))
    row = meter.end()
    if out != list(range(items)):
        raise RuntimeError("the map returned wrong results")
    rows.append(dict(row, workload=label, fields=map_fields))
    progress("    %.1f s, %d poll cycles" % (row["wall"], row["cycles"]))

    label = "%s separate submits" % "{:,}".format(submits)
    progress("  " + label)
    meter.begin()
    futures = [ex.submit(workloads.noop, i) for i in range(submits)]
    done, not_done = concurrent.futures.wait(futures, timeout=WAIT_TIMEOUT)
    row = meter.end()
    if not_done:
        raise TimeoutError("%d of %d submits not done after %.0f s"
                           % (len(not_done), submits, WAIT_TIMEOUT))
    if [f.result() for f in futures] != list(range(submits)):
        raise RuntimeError("the submits returned wrong results")
    rows.append(dict(row, workload=label, fields={}))
    progress("    %.1f s, %d poll cycles" % (row["wall"], row["cycles"]))
    return rows


def _config(path: str, text: str) -> str:
    with open(path, "w") as handle:
        handle.write(text)
    os.environ["DCCFUTURES_CONFIG"] = path
    return path


def child_opencue(workdir: str, items: int, submits: int) -> List[Dict[str, Any]]:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # not a line per closed connection
    from tests.fakes.cuebot.harness import CueFarm, RqdProcess
    os.environ.update(USER=USER, LOGNAME=USER, DCCFUTURES_HOME=os.path.join(workdir, "home"))
    farm = CueFarm(os.path.join(workdir, "cuefarm"))
    ex = None
    try:
        farm.cuebot.start()
        _config(os.path.join(workdir, "config.yaml"),
                "farm: opencue\nopencue: {hosts: [\"%s\"], show: testing, spool_dir: %s, "
                "poll_min: 0.1, poll_max: 2.0}\n" % (farm.address, os.path.join(workdir, "spool")))
        # RQD gives frames a minimal environment: pass the config on (rqd.conf [UseHostEnvVar]).
        farm.rqd = RqdProcess(farm.cuebot, os.path.join(farm.workdir, "rqd"))
        with open(farm.rqd.config, "a") as handle:
            handle.write("\n[UseHostEnvVar]\nDCCFUTURES_CONFIG\n")
        farm.rqd.start()
        progress("opencue: fake Cuebot on %s, RQD pid %d" % (farm.address, farm.rqd.process.pid))
        from dccfutures import Executor
        ex = Executor(farm="opencue")
        meter = CycleMeter(ex.farm, _rpc_reader(farm.engine), NOT_POLLING["opencue"])
        rows = _workloads(ex, meter, items, submits, {"cpus": 2})
        _let_frames_end(farm.engine)
        return rows
    finally:
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)
            ex._poller.stop()
        progress("opencue: stopping RQD (and its frames) and the fake Cuebot")
        farm.stop()


def _let_frames_end(engine: Any, timeout: float = 15.0) -> None:
    """A result is read from the spool before Cuebot hears that its frame ended: let the last
    frames end before RQD is stopped (a frame killed then is put back to waiting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.lock:
            if not engine.procs:
                return
        time.sleep(0.05)


def child_qube(workdir: str, items: int, submits: int) -> List[Dict[str, Any]]:
    sys.path.insert(0, HERE)
    import qube_polling   # its set-up: the fake qb, its supervisor, poll_min 0.1, poll_max 2
    handle = qube_polling.setup(workdir)
    ex = None
    try:
        progress("qube: fake qb supervisor pid %d" % handle.pid)
        import qb
        from dccfutures import Executor
        ex = Executor(farm="qube")
        meter = CycleMeter(ex.farm, _qb_reader(qb), NOT_POLLING["qube"])
        return _workloads(ex, meter, items, submits, {"cpus": 2})
    finally:
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)
            ex._poller.stop()
        progress("qube: stopping the fake qb supervisor (and its subjobs)")
        handle.stop()


CHILDREN = {"opencue": child_opencue, "qube": child_qube}


def child_main(args: argparse.Namespace) -> int:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _interrupt_once)
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "fakes")]
    for name in ("QBLVL", "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID",
                 "DCCFUTURES_RECURSION_LIMIT", "CUEBOT_HOSTS"):
        os.environ.pop(name, None)
    try:
        out = {"ok": True, "rows": CHILDREN[args.child](args.workdir, args.items, args.submits)}
    except KeyboardInterrupt:
        out = {"ok": False, "error": "interrupted"}
    except BaseException as error:
        traceback.print_exc()
        out = {"ok": False, "error": "%s: %s" % (type(error).__name__, error)}
    with open(args.out, "w") as handle:
        json.dump(out, handle)
    return 0 if out["ok"] else 1


def _interrupt_once(signum, frame):
    """Ctrl-C or SIGTERM: stop the workload; a second signal must not cut the farm's stop
    short (the parent kills what is left after a minute)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    raise KeyboardInterrupt("signal %d" % signum)


CURRENT_CHILD: List[subprocess.Popen] = []


def _terminate(signum, frame):
    """SIGTERM to the parent: passed on to the child (Ctrl-C reaches both by itself)."""
    for child in CURRENT_CHILD:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    raise KeyboardInterrupt("signal %d" % signum)


# =============================================================================================
# Parent side: a child per farm, the sweep, the table.
# =============================================================================================

def run_child(farm: str, workdir: str, items: int, submits: int) -> Dict[str, Any]:
    os.makedirs(workdir)
    out = os.path.join(workdir, "result.json")
    command = [sys.executable, os.path.abspath(__file__), "--child", farm, "--workdir", workdir,
               "--out", out, "--items", str(items), "--submits", str(submits)]
    child = subprocess.Popen(command, cwd=ROOT)
    CURRENT_CHILD[:] = [child]
    try:
        child.wait()
    except BaseException:
        # The child got the Ctrl-C (or the SIGTERM) too: let it stop its farm.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    finally:
        CURRENT_CHILD[:] = []
    try:
        with open(out) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {"ok": False, "error": "the child exited with %s and wrote no result"
                % child.returncode}


def sweep(folder: str) -> List[str]:
    """Kill every process still running in ``folder`` or naming it (cwd, command line,
    environment): RQD, its frames, the qb supervisor, subjobs that outlived their stops."""
    import psutil
    me = os.getpid()
    found = []
    for process in psutil.process_iter():
        if process.pid == me:
            continue
        try:   # a process may end while we look (psutil 5.9 lets FileNotFoundError through)
            command = " ".join(process.cmdline())
            if folder in command or process.cwd().startswith(folder) or \
                    any(folder in value for value in process.environ().values()):
                found.append((process, command))
        except (psutil.Error, OSError):
            continue
    for process, _ in found:
        try:
            process.kill()
        except (psutil.Error, OSError):
            pass
    psutil.wait_procs([process for process, _ in found], timeout=5)
    return ["%d %s" % (process.pid, command[:200]) for process, command in found]


def _size(n: float) -> str:
    if n >= 1e6:
        return "%.2f MB" % (n / 1e6)
    if n >= 1e4:
        return "%.1f kB" % (n / 1e3)
    return "%d B" % n


def _methods(counter: Dict[str, int], cycles: int) -> str:
    return ", ".join("%s %.2f" % (m, n / float(cycles)) for m, n in
                     sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def render(meta: Dict[str, Any], results: Dict[str, Dict[str, Any]]) -> str:
    lines = [
        "- Date: %s; load average before / after: %s / %s" % (
            meta["date"], " ".join("%.2f" % x for x in meta["load_before"]),
            " ".join("%.2f" % x for x in meta["load_after"])),
        "- Python %s, %d cores" % (meta["python"], meta["cores"]),
        "",
        "| farm | workload | wall to all results | poll cycles | polling calls per cycle, by "
        "method | calls per cycle (in all) | bytes per cycle (mean / max) | polling bytes in all | "
        "other calls (launch, connect) |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for farm in meta["farms"]:
        result = results[farm]
        if not result.get("ok"):
            lines.append("| %s | error: %s | | | | | | | |"
                         % (farm, result.get("error", "?").replace("|", "\\|")))
            continue
        for row in result["rows"]:
            cycles = max(row["cycles"], 1)
            per = row["per_cycle"] or [{"calls": 0, "bytes": 0}]
            total_bytes = sum(row["bytes"].values())
            name = row["workload"] + "".join(" (%s=%s)" % kv for kv in row["fields"].items())
            calls = sum(row["calls"].values())
            lines.append("| %s | %s | %.1f s | %d | %s | %.2f (%d) | %s / %s | %s | %d |" % (
                farm, name, row["wall"], row["cycles"], _methods(row["calls"], cycles),
                calls / float(cycles), calls, _size(total_bytes / float(cycles)),
                _size(max(c["bytes"] for c in per)), _size(total_bytes),
                sum(row["other_calls"].values())))
    lines += ["", "Bytes: OpenCue, the protobuf request + response of each RPC as the fake Cuebot "
              "records them (no gRPC/HTTP/2 framing); Qube, `len(repr(result))` of each "
              "`jobinfo`, the fake qb's stand-in for what Qube sends (requests not counted)."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items of the map (1000)")
    parser.add_argument("--submits", type=int, default=200, help="separate submits (200)")
    parser.add_argument("--farms", default=",".join(FARMS),
                        help="comma-separated, in this order: %s" % ",".join(FARMS))
    parser.add_argument("--json", metavar="PATH", help="write the raw figures there")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)
    farms = [f.strip() for f in args.farms.split(",") if f.strip()]
    unknown = [f for f in farms if f not in FARMS]
    if unknown or not farms:
        parser.error("unknown farm(s) %s; choose from %s" % (", ".join(unknown) or "(none)",
                                                             ", ".join(FARMS)))
    if args.items < 1 or args.submits < 1:
        parser.error("--items and --submits must be 1 or more")
    signal.signal(signal.SIGTERM, _terminate)
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "cores": os.cpu_count() or 1, "farms": farms,
            "load_before": list(os.getloadavg()), "items": args.items,
            "submits": args.submits}
    tmp = tempfile.mkdtemp(prefix="dccfutures-polling-bench-")
    results: Dict[str, Dict[str, Any]] = {}
    leftovers: List[str] = []
    try:
        for farm in farms:
            progress("%s: map of %d, %d submits (child process, folder %s)"
                     % (farm, args.items, args.submits, os.path.join(tmp, farm)))
            try:
                results[farm] = run_child(farm, os.path.join(tmp, farm), args.items,
                                          args.submits)
            finally:
                leftovers += sweep(os.path.join(tmp, farm))
    except KeyboardInterrupt:
        progress("interrupted: every farm stopped")
        return 130
    finally:
        leftovers += sweep(tmp)
        if leftovers:
            progress("leftover processes (killed): %s" % "; ".join(leftovers))
        shutil.rmtree(tmp, ignore_errors=True)
    meta["load_after"] = list(os.getloadavg())
    meta["leftovers"] = leftovers
    sys.stdout.write(render(meta, results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "results": results}, handle, indent=1)
    return 0 if all(r.get("ok") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
