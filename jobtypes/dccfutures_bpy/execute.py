"""Qube back-end of the dccfutures_bpy jobtype: work in a Python that imports ``bpy``.

Qube runs this file with the worker's Python, which imports ``qb`` and talks to Qube for the
whole subjob. It starts the Python that imports ``bpy`` (PyPI's Blender as a module) as its
child once per subjob and feeds it every item the subjob takes over a private pipe: that
Python never imports the worker's ``qb`` and never replaces this process (see
dccfutures.runtime.qube). A job naming the worker's own Python runs in this process.
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
    jobtype_main('bpy')
