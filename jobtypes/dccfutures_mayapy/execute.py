"""Qube back-end of the ``dccfutures_mayapy`` jobtype: work in mayapy, Maya bootstrapped once per subjob.

Qube runs this file in each subjob. All the work is in ``dccfutures.runtime.qube``; dccfutures
must be importable by the worker's Python (install it on the workers, or on shared storage
on their PYTHONPATH). The submitter's copy is tried too, through the job package.
"""
import os
import sys


def _import_dccfutures():
    try:
        import dccfutures.runtime.qube  # noqa: F401
    except ImportError:
        import qb
        path = (qb.jobobj().get("package") or {}).get("dccfutures_path")
        if not path:
            raise
        sys.path.insert(0, path)


_import_dccfutures()
from dccfutures.runtime.qube import jobtype_main  # noqa: E402

if __name__ == "__main__":
    jobtype_main('mayapy')
