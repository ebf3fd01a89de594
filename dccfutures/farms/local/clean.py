"""Retention: finished jobs, their payloads and logs are kept for a while, then removed.

The supervisor runs this every hour; ``dccfutures clean`` runs it now. Worker logs of live
workers and FIFOs of live clients are never touched.
"""
import os
import shutil
import time
from typing import Iterable, Optional

from ...scene_copies import pid_alive
from .home import Home
from .store import Store

TOMBSTONE_DAYS = 30
# Folders of the home that hold a folder per job id, removed with the job: the openjd farm's
# bundles (it keeps its jobs in this store).
JOB_FOLDERS = ("openjd",)


def clean(home: Home, store: Store, retention_days: float,
          live_workers: Optional[Iterable[int]] = None) -> int:
    """Remove jobs finished more than ``retention_days`` ago; return how many."""
    cutoff = time.time() - retention_days * 86400
    expired = store.expired_jobs(cutoff)
    removed = store.remove(expired)
    for job_id in expired:  # what a job kept beside the store goes with it
        for folder in JOB_FOLDERS:
            shutil.rmtree(os.path.join(home.path, folder, str(int(job_id))), ignore_errors=True)
    store.forget_tombstones(time.time() - TOMBSTONE_DAYS * 86400)
    live = set(live_workers or ()) | {row[0] for row in store.workers()}
    referenced = store.referenced_logs()
    for name in _listdir(home.log_dir):
        path = os.path.join(home.log_dir, name)
        starter = name.split("-")[1] if name.startswith("start-") else ""
        if starter.isdigit() and not pid_alive(int(starter)):  # see Home.new_start_log
            _remove(path)
            continue
        pid = _pid_of(name, "worker-", ".log")
        if pid is None or pid in live or path in referenced:
            continue
        try:
            if os.path.getmtime(path) < cutoff:
                os.unlink(path)
        except OSError:
            pass
    for name in _listdir(home.run_dir):
        parts = name.split("-")  # w-, i-, f-<pid> (workers), c-<pid>-<token> (clients)
        pid = int(parts[1]) if parts[0] in ("c", "w", "i", "f") and parts[1:] and \
            parts[1].isdigit() else None
        if pid is not None and not pid_alive(pid):
            try:
                os.unlink(os.path.join(home.run_dir, name))
            except OSError:
                pass
    return removed


def _listdir(path: str):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _pid_of(name: str, prefix: str, suffix: str) -> Optional[int]:
    if not name.startswith(prefix) or not name.endswith(suffix):
        return None
    core = name[len(prefix):len(name) - len(suffix) if suffix else None]
    try:
        return int(core)
    except ValueError:
        return None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
