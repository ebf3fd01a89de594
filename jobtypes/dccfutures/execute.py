"""Qube back-end of the dccfutures jobtype: plain Python work.

Qube runs this file with the worker's Python, which imports ``qb`` and talks to Qube for the
whole subjob. Work for this interpreter runs here; work for another one (the submitter's
``python:``) runs in a child started once per subjob and fed every item over a private pipe,
never by importing ``qb`` there or replacing this process (see dccfutures.runtime.qube).
"""
import os
import sys

# Python put the folder of the script Qube runs (this file, or the wrapper Qube writes in the
# job's log folder) first on sys.path, and Qube's working folder may be anyone's: import nothing
# from either by accident, as dccfutures.runtime.bootstrap.SAFE_RUN does for every process
# dccfutures starts (dccfutures itself must not be imported from them either).
_unsafe = (os.getcwd(), os.path.realpath(os.path.dirname(globals().get("__file__", ""))))
sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) not in _unsafe]

try:
    from dccfutures.runtime.qube import jobtype_main
except ImportError:  # not installed on this worker: the submitter's copy, named in the job
    import qb
    sys.path.insert(0, (qb.jobobj().get("package") or {})["dccfutures_path"])
    from dccfutures.runtime.qube import jobtype_main

if __name__ == "__main__":
    jobtype_main('python')
