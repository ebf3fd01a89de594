"""qb calls and bytes polled to complete work on Qube: dccfutures against qbfutures' way.

Runs against the fake qb (tests/fakes/qb), whose supervisor really runs our jobtype in subjob
processes. Two workloads: a 1,000-item ``map`` and 200 separate ``submit`` calls.

qbfutures is not installed: its polling is replayed from what this run records. At every poll
cycle dccfutures makes, the replay issues the call qbfutures made each tick — ONE
``qb.jobinfo(id=[the job id of every outstanding future, duplicates included], agenda=True)``
— against the same fake at the same moment, and counts its bytes (``len(repr(result))``, the
fake's stand-in for what Qube sends). Both are counted at the same ticks; qbfutures polled on
a fixed interval of its own, so its real tick count differs. The fake returns each job once
even when its id is repeated; qbfutures asked for one record per future ("duplicates
included"), so the table counts a job's record once per listed id, and shows beside it what
de-duplicated ids would cost.

    .venv/bin/python benchmarks/qube_polling.py [--items 1000] [--submits 200]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "fakes")]


def setup(tmp: str) -> object:
    os.environ["QB_FAKE_ROOT"] = os.path.join(tmp, "qube")
    os.environ["DCCFUTURES_HOME"] = os.path.join(tmp, "home")
    config = os.path.join(tmp, "config.yaml")
    with open(config, "w") as handle:
        handle.write("farm: qube\nqube: {spool_dir: %s, poll_min: 0.1, poll_max: 2.0}\n"
                     % os.path.join(tmp, "spool"))
    os.environ["DCCFUTURES_CONFIG"] = config
    os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    from qb.supervisor import start_supervisor
    return start_supervisor(os.environ["QB_FAKE_ROOT"], [os.path.join(ROOT, "jobtypes")],
                            hosts=2, slots=2)


class Recorder:
    """Wraps the farm's poll: counts our qb traffic and replays qbfutures' call each cycle."""

    def __init__(self, farm, poller, qb):
        self.farm, self.poller, self.qb = farm, poller, qb
        self.reset()
        self._poll, self._results = farm.poll, farm.results
        farm.poll = self.poll
        farm.results = self.results

    def reset(self):
        self.ours = {"calls": 0, "jobinfo": 0, "bytes": 0}
        # bytes: one job record per listed id, as qbfutures asked; dedup: each job once.
        self.theirs = {"jobinfo": 0, "bytes": 0, "dedup": 0}
        self.cycles = 0

    def poll(self, job_ids):
        self.cycles += 1
        with self.poller._lock:
            every_future = [job for job, items in self.poller._jobs.items()
                            for calls in items.values() for _ in calls]
        if every_future:
            jobs = self.qb.jobinfo(id=every_future, agenda=True)  # not counted as ours
            size = {int(job["id"]): len(repr(job)) for job in jobs}
            self.theirs["jobinfo"] += 1
            self.theirs["bytes"] += sum(size.get(job, 0) for job in every_future)
            self.theirs["dedup"] += sum(size.values())
        return self._count(self._poll, job_ids)

    def results(self, items):
        return self._count(self._results, items)

    def _count(self, call, *args):
        calls, info, size = (sum(self.qb.calls.values()), self.qb.calls["jobinfo"],
                             self.qb.jobinfo_bytes)
        result = call(*args)
        self.ours["calls"] += sum(self.qb.calls.values()) - calls
        self.ours["jobinfo"] += self.qb.calls["jobinfo"] - info
        self.ours["bytes"] += self.qb.jobinfo_bytes - size
        return result


def run(name, work, recorder):
    start = time.monotonic()
    work()
    elapsed = time.monotonic() - start
    row = (name, elapsed, recorder.cycles, recorder.ours, recorder.theirs)
    recorder.reset()
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--submits", type=int, default=200)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="dccfutures-qube-bench-")
    handle = setup(tmp)
    try:
        import qb
        from dccfutures import Executor
        sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
        import workloads
        ex = Executor(farm="qube")
        recorder = Recorder(ex.farm, ex._poller, qb)
        rows = [
            run("map of %d items (cpus=2)" % args.items,
                lambda: list(ex.map(workloads.noop, range(args.items), cpus=2)), recorder),
            run("%d separate submits" % args.submits,
                lambda: [f.result() for f in [ex.submit(workloads.noop, i)
                                              for i in range(args.submits)]], recorder),
        ]
        ex.shutdown()
    finally:
        handle.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| workload | wall | poll cycles | dccfutures: qb calls (jobinfo) | dccfutures: bytes "
          "| qbfutures' way: jobinfo calls | bytes, duplicates included | fewer bytes "
          "| bytes if Qube de-duplicated ids | fewer bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, elapsed, cycles, ours, theirs in rows:
        print("| %s | %.1f s | %d | %d (%d) | %s | %d | %s | %.0f× | %s | %.1f× |" % (
            name, elapsed, cycles, ours["calls"], ours["jobinfo"], _mb(ours["bytes"]),
            theirs["jobinfo"], _mb(theirs["bytes"]), _ratio(theirs["bytes"], ours["bytes"]),
            _mb(theirs["dedup"]), _ratio(theirs["dedup"], ours["bytes"])))
    return 0


def _ratio(theirs: int, ours: int) -> float:
    return theirs / ours if ours else float("inf")


def _mb(n: int) -> str:
    return "%.2f MB" % (n / 1e6) if n >= 1e5 else "%d B" % n


if __name__ == "__main__":
    sys.exit(main())
