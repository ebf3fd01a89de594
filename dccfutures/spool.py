"""Job folders in a shared spool: OpenCue's and Deadline Cloud's jobs keep their payloads,
results and logs in ``<spool_dir>/dccfutures-<32 hex>/``, which outlive the job (items of
later jobs may read their results). :func:`remove_old_job_folders` is what ``dccfutures
clean`` does with them; :func:`write_whole` is how every file of theirs is written."""
import os
import re
import shutil
import uuid

JOB_FOLDER = re.compile(r"\Adccfutures-[0-9a-f]{32}\Z")


def write_whole(path: str, data: bytes, mode: int = 0o666) -> None:
    """Write ``path`` whole: readers (another host polling a shared spool) never see half a
    file, and writers at once (two attempts of an item) never share a temporary file."""
    temporary = "%s.%s.tmp" % (path, uuid.uuid4().hex[:8])
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def remove_old_job_folders(spool_dir: str, cutoff: float) -> int:
    """Remove the job folders in ``spool_dir`` whose newest entry is older than ``cutoff``
    (a time), of this user; returns how many went. Only real folders named as ours: not a
    link (its target is someone else's), not a name that is only close."""
    removed = 0
    for name in os.listdir(spool_dir) if os.path.isdir(spool_dir) else []:
        path = os.path.join(spool_dir, name)
        try:
            if not JOB_FOLDER.match(name) or os.path.islink(path) or not os.path.isdir(path) \
                    or os.lstat(path).st_uid != os.getuid():
                continue
            newest = max([os.lstat(os.path.join(path, entry)).st_mtime
                          for entry in os.listdir(path)] + [os.lstat(path).st_mtime])
            if newest < cutoff:
                shutil.rmtree(path)
                removed += 1
        except OSError:
            pass  # another user's, or gone meanwhile: left alone
    return removed
