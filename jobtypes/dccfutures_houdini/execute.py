"""Qube back-end of the dccfutures_houdini jobtype: runs dccfutures work (see dccfutures.runtime.qube)."""
import sys

try:
    from dccfutures.runtime.qube import jobtype_main
except ImportError:  # not installed on this worker: the submitter's copy, named in the job
    import qb
    sys.path.insert(0, (qb.jobobj().get("package") or {})["dccfutures_path"])
    from dccfutures.runtime.qube import jobtype_main

if __name__ == "__main__":
    jobtype_main('hython')
