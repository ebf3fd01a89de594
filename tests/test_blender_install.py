"""`dccfutures blender install|uninstall`: the add-on into a Blender user scripts folder, with
dccfutures, cloudpickle and PyYAML in its modules/ (copied: Blender's Python may have no pip),
into every Blender 3.4+ user folder found or the one a `--blender` executable names; uninstall
removes exactly what install put there. With Debian's blender 3.4, the installed add-on loads
and its Farm menu is there."""
import os

import pytest

from dccfutures.cli import main
from tests import real_blender


def tree(root):
    """Every file and folder under ``root``, relative, with each file's content."""
    found = {}
    for folder, dirs, files in os.walk(str(root)):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), str(root)) + "/"] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(root))] = handle.read()
    return found


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private home: Blender's user folders go under its ~/.config/blender."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    for name in ("XDG_CONFIG_HOME", "BLENDER_USER_SCRIPTS", "BLENDER_USER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return folder


def artists_scripts(folder):
    """A scripts folder already in use: another add-on, another module."""
    (folder / "addons" / "other_addon").mkdir(parents=True)
    (folder / "addons" / "other_addon" / "__init__.py").write_text("bl_info = {}\n")
    (folder / "modules").mkdir()
    (folder / "modules" / "studio_tools.py").write_text("X = 1\n")
    return folder


def test_install_is_repeatable_and_uninstall_removes_exactly_what_it_put(tmp_path, capsys):
    scripts = artists_scripts(tmp_path / "scripts")
    before = tree(scripts)
    assert main(["blender", "install", "--scripts", str(scripts)]) == 0
    out = capsys.readouterr().out
    assert "installed the dccfutures add-on in %s" % (scripts / "addons" / "dccfutures_blender") \
        in out and "--addons dccfutures_blender" in out
    for path in ("addons/dccfutures_blender/__init__.py", "addons/dccfutures_blender/menu.py",
                 "addons/dccfutures_blender/render_frames.py",
                 "addons/dccfutures_blender/monitor.py", "modules/dccfutures/__init__.py",
                 "modules/dccfutures/actions/blender.py",
                 "modules/dccfutures/_assets/shelves/dccfutures.yaml",
                 "modules/cloudpickle/__init__.py", "modules/yaml/__init__.py"):
        assert (scripts / path).is_file(), path
    installed = tree(scripts)
    # Pure Python only: a compiled module is for this Python, not necessarily Blender's.
    assert not [name for name in installed if name.endswith((".so", ".pyd", ".pyc"))]
    assert main(["blender", "install", "--scripts", str(scripts)]) == 0   # again: the same
    assert tree(scripts) == installed
    assert main(["blender", "uninstall", "--scripts", str(scripts)]) == 0
    assert tree(scripts) == before
    assert main(["blender", "uninstall", "--scripts", str(scripts)]) == 0
    assert "nothing to remove in %s" % scripts in capsys.readouterr().out


def test_a_dependency_someone_else_put_there_is_kept(tmp_path, capsys):
    scripts = artists_scripts(tmp_path / "scripts")
    (scripts / "modules" / "yaml").mkdir()
    (scripts / "modules" / "yaml" / "__init__.py").write_text("# the studio's own PyYAML\n")
    before = tree(scripts)
    assert main(["blender", "install", "--scripts", str(scripts)]) == 0
    assert "kept the yaml already in %s" % (scripts / "modules") in capsys.readouterr().out
    assert (scripts / "modules" / "yaml" / "__init__.py").read_text() == \
        "# the studio's own PyYAML\n"
    assert (scripts / "modules" / "cloudpickle" / "__init__.py").is_file()
    assert main(["blender", "uninstall", "--scripts", str(scripts)]) == 0
    assert tree(scripts) == before


def test_by_default_every_blender_34_or_later_user_folder_gets_it(home, capsys):
    config = home / ".config" / "blender"
    for version in ("3.3", "3.4", "4.2", "notes"):
        (config / version).mkdir(parents=True)
    before = tree(home)
    assert main(["blender", "install"]) == 0
    out = capsys.readouterr().out
    for version in ("3.4", "4.2"):
        assert (config / version / "scripts" / "addons" / "dccfutures_blender").is_dir()
        assert (config / version / "scripts" / "modules" / "dccfutures").is_dir()
    assert not (config / "3.3" / "scripts").exists()
    assert "left out %s: older than Blender 3.4" % (config / "3.3") in out
    assert main(["blender", "uninstall"]) == 0
    assert tree(home) == before


def test_blender_user_scripts_is_the_default_when_set(home, tmp_path, monkeypatch):
    scripts = tmp_path / "studio_scripts"
    monkeypatch.setenv("BLENDER_USER_SCRIPTS", str(scripts))
    assert main(["blender", "install"]) == 0
    assert (scripts / "addons" / "dccfutures_blender" / "__init__.py").is_file()
    assert main(["blender", "uninstall"]) == 0
    assert not scripts.exists()       # install made it, uninstall takes it away


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_no_blender_folder_is_one_line_naming_the_options(home, capsys):
    assert main(["blender", "install"]) == 2
    err = one_line_error(capsys)
    assert str(home / ".config" / "blender") in err
    assert "--scripts DIR" in err and "--blender PATH" in err


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert main(["blender", "install", "--scripts", str(tmp_path / "a_file" / "scripts")]) == 1
    err = one_line_error(capsys)
    assert "cannot install the Blender add-on in" in err and "Not a directory" in err


def test_a_blender_that_does_not_answer_is_one_line(tmp_path, capsys):
    assert main(["blender", "install", "--blender", str(tmp_path / "nope")]) == 1
    assert "cannot run %s" % (tmp_path / "nope") in one_line_error(capsys)
    assert main(["blender", "install", "--blender", "/bin/true"]) == 1
    assert "/bin/true did not say which Blender it is" in one_line_error(capsys)


LOADED = """
import bpy, dccfutures
from dccfutures_blender import menu
print("LIBRARY", dccfutures.__file__)
print("MENU", bpy.types.DCCFUTURES_MT_farm.bl_label, "|".join(a.label for a in menu._entries))
"""


def test_blender_34_asked_for_its_folder_loads_what_was_installed(home, tmp_path, capsys):
    blender = real_blender.require()
    assert main(["blender", "install", "--blender", blender]) == 0
    scripts = home / ".config" / "blender" / "3.4" / "scripts"   # as Blender 3.4 said
    assert "installed the dccfutures add-on in %s" % (scripts / "addons" / "dccfutures_blender") \
        in capsys.readouterr().out
    done = real_blender.run(["-b", "--addons", "dccfutures_blender", "--python-exit-code", "1",
                             "--python-expr", LOADED], str(scripts))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LIBRARY %s" % (scripts / "modules" / "dccfutures" / "__init__.py") in done.stdout
    assert "MENU Farm Render Frames on Farm|Farm Monitor|Start Local Farm" in done.stdout, \
        done.stdout
    assert main(["blender", "uninstall", "--blender", blender]) == 0
    assert not (scripts / "addons" / "dccfutures_blender").exists()
    assert not (scripts / "modules" / "dccfutures").exists()


def test_install_over_symlinked_folders_replaces_the_links_and_keeps_what_they_point_at(
        tmp_path, capsys):
    """A TD who linked their checkout into Blender's scripts folder (the usual way to develop
    an add-on), or left a link to a folder since deleted, installs over it: the links are
    replaced by the copies and the checkout they pointed at is left as it was."""
    scripts = artists_scripts(tmp_path / "scripts")
    checkout = tmp_path / "checkout"
    (checkout / "dccfutures").mkdir(parents=True)
    (checkout / "dccfutures" / "__init__.py").write_text("# the TD's working copy\n")
    (checkout / "dccfutures_blender").mkdir()
    (checkout / "dccfutures_blender" / "__init__.py").write_text("# the TD's add-on\n")
    os.symlink(str(checkout / "dccfutures"), str(scripts / "modules" / "dccfutures"))
    (scripts / "addons" / "dccfutures_blender").symlink_to(checkout / "gone")   # dangling
    before = tree(checkout)
    assert main(["blender", "install", "--scripts", str(scripts)]) == 0
    for link in (scripts / "modules" / "dccfutures", scripts / "addons" / "dccfutures_blender"):
        assert not link.is_symlink() and (link / "__init__.py").is_file(), link
    assert "the TD's" not in (scripts / "modules" / "dccfutures" / "__init__.py").read_text()
    assert tree(checkout) == before
    assert main(["blender", "uninstall", "--scripts", str(scripts)]) == 0
    assert tree(checkout) == before
