"""The farm home and what the farm creates are private whatever the umask, a planted symlink
never turns the farm against its own user, the database and logs are checked, mount points are
read right, and Qube workers trust only their own config (issue 12, points 8 to 11).

Tests that need a second user create one (root only) and skip cleanly elsewhere.
"""
import base64
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import uuid

import pytest

from dccfutures import Executor, scene_copies
from dccfutures.cli import main
from dccfutures.errors import FarmError
from dccfutures.farms.local import LocalFarm
from dccfutures.farms.local.home import Home, filesystem_type, parse_mountinfo_line
from tests import workloads
from tests.conftest import stop_farm, wait_until
from tests.test_maya import maya_session  # noqa: F401 (fixture)

ROOT_ONLY = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                               reason="needs root (a second user, a mount)")
PROTECTED_SYMLINKS = "/proc/sys/fs/protected_symlinks"


@pytest.fixture
def umask():
    """Set the process umask for the test (the supervisor and workers inherit it)."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value):
        os.umask(value)
    yield set_umask
    os.umask(old)


@pytest.fixture
def other_user():
    """A second, unprivileged user (removed afterwards)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("creating a second user needs root")
    name = "dccf%s" % uuid.uuid4().hex[:10]
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if made.returncode:
        pytest.skip("cannot create a second user: %s" % made.stdout.decode(errors="replace"))
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_as(user, action):
    """Run ``action()`` in a forked child as ``user``; fail the test if it raised."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            action()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "%s could not act" % user.pw_name


@pytest.fixture
def sticky_folder():
    """A world-writable sticky folder like /tmp, which the second user can reach."""
    folder = tempfile.mkdtemp(prefix="dccf-sticky-", dir="/tmp")
    os.chmod(folder, 0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def unprotected_symlinks():
    """``fs.protected_symlinks=0``, restored afterwards (skip when it cannot be written)."""
    try:
        with open(PROTECTED_SYMLINKS) as handle:
            old = handle.read().strip()
        with open(PROTECTED_SYMLINKS, "w") as handle:
            handle.write("0")
    except OSError as error:
        pytest.skip("cannot set fs.protected_symlinks here: %s" % error)
    yield
    with open(PROTECTED_SYMLINKS, "w") as handle:
        handle.write(old)


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def open_entries(top):
    """Everything under ``top`` (itself included) that others can reach: any group or other
    permission bit."""
    found = []
    for folder, dirs, files in os.walk(str(top)):
        for path in [folder] + [os.path.join(folder, name) for name in files]:
            if mode(path) & 0o077:
                found.append("%s %o" % (path, mode(path)))
    return found


# -- 8. umask --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0o000, 0o002])
def test_whatever_the_umask_everything_the_farm_creates_is_private(value, umask, farm_home,
                                                                    monkeypatch, tmp_path):
    """A new home whose parents do not exist yet, made under umask 000 or 002: the parents
    we create are private, the supervisor accepts the home, and every folder, file and FIFO
    in it (database, logs, start logs, run/ files, scene-copy records) is its user's alone."""
    top = tmp_path / "new"
    home = str(top / "deeper" / "dccfutures")
    monkeypatch.setenv("DCCFUTURES_HOME", home)
    umask(value)
    try:
        ex = Executor()
        gate = str(tmp_path / "gate")
        running = ex.submit(workloads.wait_for_file, gate)
        assert ex.submit(workloads.add, 1, 2).result(60) == 3
        copy = tmp_path / "copy.abcdef12.ma"
        copy.write_text("scene")
        scene_copies.register(str(copy), home)
        wait_until(lambda: running.running(), what="the item to run")
        assert os.listdir(os.path.join(home, "run")) and os.listdir(os.path.join(home, "logs"))
        assert open_entries(top) == []
        open(gate, "w").close()
        running.result(60)
        ex.shutdown()
    finally:
        stop_farm(home)
    assert mode(top) == mode(top / "deeper") == 0o700


@pytest.mark.parametrize("scene_mode, expected", [
    (0o750, 0o750),    # the group may read the copy, as it reads the scene
    (0o2775, 0o2775),  # a shared shot folder: the group may write, new files keep its group
    (0o777, 0o775),    # never world-writable, even next to a scene that is
    (0o700, 0o700),
])
def test_a_scene_copy_folder_is_no_more_open_than_the_scene_folder(scene_mode, expected, umask,
                                                                     farm_home, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    os.chmod(shots, scene_mode)
    umask(0o000)
    copy = scene_copies.copy_path(str(shots / "sh010.ma"))
    assert mode(shots / ".dccfutures") == expected
    with open(copy, "w") as handle:  # the DCC saves the copy under the artist's umask
        handle.write("scene")
    scene_copies.register(copy)
    assert not mode(copy) & stat.S_IWOTH
    record, = os.listdir(os.path.join(farm_home, "scene_copies"))
    assert mode(os.path.join(farm_home, "scene_copies", record)) == 0o600


def test_an_existing_scene_copy_folder_keeps_its_mode(umask, farm_home, tmp_path):
    shots = tmp_path / "shots"
    (shots / ".dccfutures").mkdir(parents=True)
    os.chmod(shots / ".dccfutures", 0o755)
    os.chmod(shots, 0o700)
    scene_copies.copy_path(str(shots / "sh010.ma"))
    assert mode(shots / ".dccfutures") == 0o755  # not ours to change


def test_a_maya_scene_copy_under_umask_000_is_not_world_writable(maya_session,  # noqa: F811
                                                                    umask):
    fake, scene, workspace = maya_session
    os.chmod(os.path.dirname(scene), 0o755)
    umask(0o000)
    from dccfutures.maya import Executor as MayaExecutor
    ex = MayaExecutor(clone_environ=True, create_tempfile=True)
    assert mode(os.path.dirname(ex.filename)) == 0o755
    assert not mode(ex.filename) & 0o022
    ex.shutdown()


# -- 9. symlinks and folders we did not create ---------------------------------------------

@ROOT_ONLY
def test_a_home_that_is_a_symlink_planted_by_another_user_is_refused(
        other_user, sticky_folder, unprotected_symlinks, tmp_path):
    victim = tmp_path / "victim"  # a folder of our own, not a farm home
    victim.mkdir()
    os.chmod(victim, 0o755)
    (victim / "notes.txt").write_text("mine")
    planted = os.path.join(sticky_folder, "dccfutures")
    run_as(other_user, lambda: os.symlink(str(victim), planted))
    with pytest.raises(FarmError, match=re.escape(planted) + ".*symlink.*another user"):
        Home(planted)
    assert mode(victim) == 0o755 and os.listdir(str(victim)) == ["notes.txt"]


@ROOT_ONLY
def test_a_home_that_passes_through_a_planted_symlink_is_refused(
        other_user, sticky_folder, unprotected_symlinks, tmp_path, monkeypatch, capsys,
        farm_config):
    victim = tmp_path / "victim"
    victim.mkdir()
    os.chmod(victim, 0o755)
    planted = os.path.join(sticky_folder, "scratch")
    run_as(other_user, lambda: os.symlink(str(victim), planted))
    monkeypatch.setenv("DCCFUTURES_HOME", os.path.join(planted, "dccfutures"))
    assert main(["farm", "status"]) != 0
    err = capsys.readouterr().err
    assert "symlink" in err and planted in err and "Traceback" not in err
    assert os.listdir(str(victim)) == [] and mode(victim) == 0o755


def test_a_home_behind_a_symlink_of_our_own_is_fine(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(str(real), str(tmp_path / "link"))
    home = Home(str(tmp_path / "link" / "dccfutures"))
    assert home.path == str(real / "dccfutures") and mode(home.path) == 0o700


def test_an_open_folder_of_ours_that_is_not_a_farm_home_is_refused_not_chmodded(tmp_path):
    documents = tmp_path / "documents"
    documents.mkdir()
    os.chmod(documents, 0o755)
    (documents / "letter.txt").write_text("dear")
    with pytest.raises(FarmError, match=re.escape(str(documents)) + ".*chmod 700"):
        Home(str(documents))
    assert mode(documents) == 0o755 and sorted(os.listdir(str(documents))) == ["letter.txt"]


def test_an_open_farm_home_of_ours_is_made_private(tmp_path):
    home = Home(str(tmp_path / "farm"))
    LocalFarm(home=home.path).close()  # a farm.db in it
    os.chmod(home.path, 0o755)
    Home(home.path)
    assert mode(home.path) == 0o700


# -- 10. the database, logs, mount points ----------------------------------------------------

def test_a_database_open_to_others_is_refused_on_every_open(farm_home, capsys):
    LocalFarm().close()
    db = os.path.join(farm_home, "farm.db")
    os.chmod(db, 0o644)
    with pytest.raises(FarmError, match=re.escape(db) + ".*0644.*chmod 600"):
        LocalFarm()
    assert main(["farm", "status"]) != 0
    err = capsys.readouterr().err
    assert db in err and "chmod 600" in err and "Traceback" not in err
    os.chmod(db, 0o600)
    LocalFarm().close()


@ROOT_ONLY
def test_a_database_of_another_user_is_refused(farm_home, other_user):
    LocalFarm().close()
    db = os.path.join(farm_home, "farm.db")
    os.chown(db, other_user.pw_uid, other_user.pw_gid)
    try:
        with pytest.raises(FarmError, match=re.escape(db) + ".*belongs to another user"):
            LocalFarm()
    finally:
        os.chown(db, os.geteuid(), os.getegid())


@pytest.mark.parametrize("escaped, decoded", [
    (r"/mnt/studio\040shots", "/mnt/studio shots"),
    (r"/mnt/a\011tab", "/mnt/a\ttab"),
    (r"/mnt/a\012newline", "/mnt/a\nnewline"),
    (r"/mnt/back\134slash", "/mnt/back\\slash"),
    (r"/mnt\040scène", "/mnt scène"),
    ("/mnt/日本\\040語", "/mnt/日本 語"),
    (os.fsdecode(b"/mnt/caf\xe9\\040x"), os.fsdecode(b"/mnt/caf\xe9 x")),  # not UTF-8
])
def test_mountinfo_mount_points_are_decoded(escaped, decoded):
    line = "36 25 0:32 / %s rw,relatime shared:1 - nfs4 server:/export rw" % escaped
    assert parse_mountinfo_line(line) == (decoded, "nfs4")


@ROOT_ONLY
def test_the_filesystem_of_a_real_mount_point_with_a_space_and_an_accent(tmp_path):
    kind = "ramfs" if filesystem_type(str(tmp_path)) == "tmpfs" else "tmpfs"
    point = tmp_path / "mnt scène \\ x"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", kind, kind, str(point)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    if mounted.returncode:
        pytest.skip("cannot mount %s here: %s" % (kind, mounted.stdout.decode(errors="replace")))
    try:
        assert filesystem_type(str(point)) == kind
        assert filesystem_type(str(point / "dccfutures")) == kind
    finally:
        subprocess.run(["umount", str(point)])


# -- 11. Qube: spool names and whose config a worker trusts ----------------------------------

def test_a_spool_reference_with_a_trailing_newline_is_not_ours(tmp_path):
    from dccfutures.runtime.qube import in_spool, unpack_blob
    spool = tmp_path / "spool"
    spool.mkdir()
    name = "dccfutures-%s.bin\n" % uuid.uuid4().hex
    (spool / name).write_bytes(b"not ours")
    assert not in_spool(str(spool / name), str(spool))
    with pytest.raises(ValueError, match="not a dccfutures file"):
        unpack_blob({"spool": str(spool / name)}, remove=True, spool_dir=str(spool))
    assert (spool / name).exists()


def test_names_with_a_trailing_newline_are_not_accepted(farm_home, tmp_path):
    copy = tmp_path / ".dccfutures" / "sh010.abcdef12\n"
    copy.parent.mkdir()
    copy.write_text("not a copy of ours")
    assert not scene_copies.remove(str(copy)) and copy.exists()
    with pytest.raises(TypeError, match="package.module:function"):
        Executor().submit("tests.workloads:add\n", 1, 2)
    from dccfutures import shelves
    from dccfutures.errors import ConfigError
    action = 'version: 1\nactions:\n  - {id: %s, label: One, dcc: [maya], callable: "%s"}\n'
    assert shelves.parse(action % ("maya.one", "pkg.mod:one"))
    for bad in (action % ('"maya.one\\n"', "pkg.mod:one"), action % ("maya.one", "pkg.mod:one\\n")):
        with pytest.raises(ConfigError):
            shelves.parse(bad)


def test_a_qube_subjob_reads_the_spool_of_its_own_config_not_the_packages(qube_root, tmp_path):
    """A job whose package names another spool folder, with a payload there: the subjob
    refuses it (the spool of its own config is the only one it trusts), nothing runs."""
    import qb
    from dccfutures.runtime.qube import unpack_blob
    marker = str(tmp_path / "ran")
    ex = Executor(farm="qube")
    held = ex.submit_ext(workloads.append_line, [marker, "ran"], status="blocked")
    job, = qb.jobinfo(id=[held.job_id], agenda=True)
    calls = unpack_blob(job["agenda"][0]["package"]["calls"], spool_dir=str(tmp_path / "spool"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = elsewhere / ("dccfutures-%s.bin" % uuid.uuid4().hex)
    planted.write_bytes(calls)
    package = dict(job["package"], spool_dir=str(elsewhere))
    work = {"name": "0", "package": {"index": 0, "ncalls": 1, "calls": {"spool": str(planted)}}}
    crafted, = qb.submit([qb.Job({"name": "crafted", "prototype": job["prototype"],
                                  "package": package, "env": job["env"], "agenda": [work]})])
    wait_until(lambda: qb.jobinfo(id=[crafted["id"]])[0]["status"] in ("complete", "failed"),
               timeout=60, what="the crafted job to end")
    ex.farm.kill(held.job_id)
    assert not os.path.exists(marker)
    work, = qb.jobinfo(id=[crafted["id"]], agenda=True)[0]["agenda"]
    assert work["status"] == "failed"
    outcomes = base64.b64decode(work["resultpackage"]["outcomes"]["b64"])
    assert b"not a dccfutures file in the spool folder" in outcomes
    assert str(tmp_path / "spool").encode() in outcomes
