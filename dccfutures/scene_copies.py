"""Temp copies of the artist's scene: where they go, and who removes them.

A DCC executor's ``create_tempfile()`` saves the scene to ``<scene folder>/.dccfutures/
<name>.<8 hex><ext>`` (next to the scene, so relative paths and ``$HIP`` still resolve) and
records it in the user's private farm home. Three things remove a copy, whichever comes first:

* the submitting session, once every future that uses it is done;
* the local farm's supervisor, once every job that uses it has ended and the session that made
  it has gone (while it runs, it may submit more work with the same copy);
* ``dccfutures clean``, for copies left by crashes, once older than the retention time, not
  used by a job still active on the local farm and not made by a session still running.

Only files that look like our copies (in a ``.dccfutures`` folder, with our name pattern) are
ever deleted, whatever a record or a job package says.
"""
import hashlib
import os
import re
import time
import uuid
from typing import Iterable, List, Optional, Tuple

FOLDER = ".dccfutures"
_COPY_NAME = re.compile(r"^.+\.[0-9a-f]{8}(\.[A-Za-z0-9]+)?$")


def copy_path(scene: str) -> str:
    """A new copy's path for ``scene``, its folder created."""
    folder = os.path.join(os.path.dirname(os.path.abspath(scene)), FOLDER)
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(scene))
    return os.path.join(folder, "%s.%s%s" % (stem, uuid.uuid4().hex[:8], ext))


def is_scene_copy(path: str) -> bool:
    return (os.path.basename(os.path.dirname(path)) == FOLDER
            and bool(_COPY_NAME.match(os.path.basename(path))))


def register(copy: str, home: Optional[str] = None) -> None:
    """Remember ``copy`` (and that this process made it) in the user's farm home, so the
    farm and ``dccfutures clean`` find it later."""
    folder = _records(home, create=True)
    with open(os.path.join(folder, _key(copy)), "w") as handle:
        handle.write("%s\n%d\n" % (copy, os.getpid()))


def owner_alive(copy: str, home: Optional[str] = None) -> bool:
    """Whether the session that made ``copy`` still runs: it may submit more work with it,
    so only it decides when the copy goes."""
    folder = _records(home)
    record = _read(os.path.join(folder, _key(copy))) if folder else None
    return record is not None and record[1] is not None and pid_alive(record[1])


def remove(copy: str, home: Optional[str] = None) -> bool:
    """Delete a scene copy and its record; True when a file was deleted."""
    if not is_scene_copy(copy):
        return False
    deleted = _unlink(copy)
    folder = _records(home)
    if folder:
        _unlink(os.path.join(folder, _key(copy)))
    return deleted


def remove_orphans(max_age: float, in_use: Iterable[str] = (), home: Optional[str] = None,
                   now: Optional[float] = None) -> List[str]:
    """Delete recorded copies older than ``max_age`` seconds that no active job uses; drop
    the records of copies already gone. Returns the copies deleted."""
    folder = _records(home)
    if not folder:
        return []
    in_use = set(in_use)
    cutoff = (time.time() if now is None else now) - max_age
    deleted = []
    for name in os.listdir(folder):
        record = os.path.join(folder, name)
        found = _read(record)
        if found is None:
            continue
        copy = found[0]
        if copy in in_use or (found[1] is not None and pid_alive(found[1])):
            continue  # a job, or the live session that made it, may still open it
        try:
            old = os.path.getmtime(copy) < cutoff
        except OSError:  # already gone
            _unlink(record)
            continue
        if old and remove(copy, home):
            deleted.append(copy)
    return deleted


def _records(home: Optional[str], create: bool = False) -> Optional[str]:
    from .farms.local.home import Home, default_home
    if create:
        home = Home(home).path  # checked private (0700), created if needed
    folder = os.path.join(home or default_home(), "scene_copies")
    if create:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    elif not os.path.isdir(folder):
        return None
    return folder


def _read(record: str) -> Optional[Tuple[str, Optional[int]]]:
    try:
        with open(record) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    pid = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None
    return lines[0], pid


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _key(copy: str) -> str:
    return hashlib.sha1(os.path.abspath(copy).encode("utf-8", "surrogateescape")).hexdigest()


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
