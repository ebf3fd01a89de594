"""Back-end of the ``echo`` test jobtype (runs under the fake supervisor).

Loops on ``qb.requestwork()`` and reports each item ``complete`` with
``resultpackage={'echo': work['package']}``. A work package may ask for more:

* ``sleep``: seconds to sleep first (a long-running item, to kill);
* ``crash``: ``'always'``: ``os._exit(3)`` while holding the item; ``'first'``: only on the
  item's first attempt, i.e. ``work['count'] == 1``;
* ``fail``: ``'always'``: report the item ``failed``; ``'first'``: only on its first attempt;
* ``progress``: ``'yes'``: report mid-item progress (status still ``running``), then wait
  ``hold`` seconds, before completing.

A job package ``{'crash_at_start': 'yes'}`` makes every subjob die before asking for work.
(Flags are strings: Qube's packages hold no booleans.)
"""
import os
import sys
import time

import qb


def main():
    job = qb.jobobj()
    if (job.get("package") or {}).get("crash_at_start"):
        print("echo: crashing at start", flush=True)
        os._exit(5)
    print("echo: subjob %d.%d of %r starts (pid %d)" % (qb.jobid(), qb.subid(), job["name"],
                                                         os.getpid()), flush=True)
    while True:
        work = qb.requestwork()
        status = work["status"]
        if status == "waiting":
            time.sleep(0.02)
            continue
        if status != "running":
            print("echo: no more work (%s)" % status, flush=True)
            qb.reportjob(status)
            return
        package = work["package"]
        print("echo: item %s attempt %d: %r" % (work["name"], work["count"], package), flush=True)
        print("echo-err: item %s" % work["name"], file=sys.stderr, flush=True)
        crash = package.get("crash")
        if crash == "always" or (crash == "first" and work["count"] == 1):
            os._exit(3)
        if package.get("sleep"):
            time.sleep(float(package["sleep"]))
        if package.get("progress"):
            work["resultpackage"] = {"progress": 0.5}
            qb.reportwork(work)
            time.sleep(float(package.get("hold", 0)))
        fail = package.get("fail")
        failed = fail == "always" or (fail == "first" and work["count"] == 1)
        work["status"] = "failed" if failed else "complete"
        work["resultpackage"] = {"echo": package, "pid": os.getpid()}
        qb.reportwork(work)


if __name__ == "__main__":
    main()
