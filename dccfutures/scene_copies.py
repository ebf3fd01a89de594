"""Temp copies of the artist's scene: where they go, and who removes them.

A DCC executor's ``create_tempfile()`` saves the scene to ``<scene folder>/.dccfutures/
<name>.<8 hex><ext>`` (next to the scene, so relative paths still resolve), or, for Houdini,
beside it as the hidden ``<scene folder>/.<name>.dccfutures-<8 hex><ext>``: Houdini sets
``$HIP`` to the folder of the file it loads, and finds the assets in ``$HIP/otls`` and
``$HIP/hda`` during the load, so the copy must be in the artist's own folder. The copy is
recorded in the user's private farm home. Three things remove a copy, whichever comes first:

* the submitting session, once every future that uses it is done;
* the local farm's supervisor, once every job that uses it has ended and the session that made
  it has gone (while it runs, it may submit more work with the same copy);
* ``dccfutures clean``, for copies left by crashes, once older than the retention time, not
  used by a job still active on the local farm and not made by a session still running.

Only files that look like our copies (in a ``.dccfutures`` folder with our name pattern, or
named ``.<name>.dccfutures-<8 hex><ext>``) are ever deleted, whatever a record or a job package
says.
"""
import hashlib
import os
import re
import stat
import time
import uuid
from typing import Iterable, List, Optional, Tuple

FOLDER = ".dccfutures"
_COPY_NAME = re.compile(r"^.+\.[0-9a-f]{8}(\.[A-Za-z0-9]+)?\Z")
_BESIDE_NAME = re.compile(r"^\..+\.dccfutures-[0-9a-f]{8}(\.[A-Za-z0-9]+)?\Z")


def copy_path(scene: str, beside: bool = False) -> str:
    """A new copy's path for ``scene``: in its ``.dccfutures`` folder, created (see
    :func:`_make_folder`); with ``beside``, in the scene's own folder as a hidden file."""
    scene_folder = os.path.dirname(os.path.abspath(scene))
    stem, ext = os.path.splitext(os.path.basename(scene))
    token = uuid.uuid4().hex[:8]
    if beside:
        return os.path.join(scene_folder, ".%s.dccfutures-%s%s" % (stem, token, ext))
    return os.path.join(_make_folder(scene_folder), "%s.%s%s" % (stem, token, ext))


def _make_folder(scene_folder: str) -> str:
    """The ``.dccfutures`` folder next to a scene. Made here, it is as open as the scene's
    folder, whatever the umask: the group (and its setgid bit) as the folder's, so farm users
    of the shot's group read the copy as they read the scene, but never writable by others.
    One that exists is left as it is: not ours to change."""
    folder = os.path.join(scene_folder, FOLDER)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return folder
    os.chmod(folder, stat.S_IMODE(os.stat(scene_folder).st_mode) & 0o2775 | 0o700)
    return folder


def is_scene_copy(path: str) -> bool:
    name = os.path.basename(path)
    if _BESIDE_NAME.match(name):
        return True
    return os.path.basename(os.path.dirname(path)) == FOLDER and bool(_COPY_NAME.match(name))


def register(copy: str, home: Optional[str] = None) -> None:
    """Remember ``copy`` (and that this process made it) in the user's farm home, so the
    farm and ``dccfutures clean`` find it later. The DCC saved the copy under the artist's
    umask: it is made no more writable than its folder, and never by others (the farm opens
    it, and a scene can hold code)."""
    try:
        folder_mode = os.stat(os.path.dirname(copy)).st_mode
        os.chmod(copy, stat.S_IMODE(os.stat(copy).st_mode) & ~(0o022 & ~folder_mode) & ~0o002)
    except OSError:
        pass  # not saved (a test, a failed save): nothing to protect
    folder = _records(home, create=True)
    fd = os.open(os.path.join(folder, _key(copy)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w") as handle:
        handle.write("%s\n%d\n%d\n" % (copy, os.getpid(), _start_time(os.getpid()) or 0))


def owner_alive(copy: str, home: Optional[str] = None) -> bool:
    """Whether the session that made ``copy`` still runs: it may submit more work with it,
    so only it decides when the copy goes."""
    folder = _records(home)
    record = _read(os.path.join(folder, _key(copy))) if folder else None
    return record is not None and record[1] is not None and pid_alive(record[1], record[2])


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
        if copy in in_use or (found[1] is not None and pid_alive(found[1], found[2])):
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


def _read(record: str) -> Optional[Tuple[str, Optional[int], Optional[int]]]:
    """``(copy, pid, start time)`` of the session that made it, from its record."""
    try:
        with open(record) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    pid = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None
    started = int(lines[2]) if len(lines) > 2 and lines[2].isdigit() else None
    return lines[0], pid, started or None


def pid_alive(pid: int, started: Optional[int] = None) -> bool:
    """Whether process ``pid`` exists (ours or not); with its start time, whether it is still
    that process, and not a later one that got its pid."""
    if started:
        return _start_time(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> Optional[int]:
    from .farms.local.processes import start_time
    return start_time(pid)


def _key(copy: str) -> str:
    return hashlib.sha1(os.path.abspath(copy).encode("utf-8", "surrogateescape")).hexdigest()


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False
