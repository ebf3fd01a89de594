"""The wheel carries the asset folders, so a plain `pip install` can install the jobtypes."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


SOURCES = ("pyproject.toml", "README.md", "dccfutures", "jobtypes", "maya_plugin",
           "houdini_plugin", "blender_plugin", "shelves")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The wheel, built from a clean copy of the sources (no stale build/ folder, and no race
    with another build of the checkout), and what the build printed."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy
        copy(os.path.join(ROOT, name), str(source / name),
             **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree
                else {}))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
                             "--no-build-isolation", "-w", str(out), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = [n for n in os.listdir(out) if n.endswith(".whl")]
    assert len(wheels) == 1
    return str(out / wheels[0]), result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(build):
    return build[0]


def test_the_build_is_quiet_about_the_asset_folders(build):
    _, output = build
    assert "running bdist_wheel" in output  # the build's own output is there to look at
    assert "Package would be ignored" not in output, output


def test_ui_extras_leave_the_binding_to_the_dcc_or_pin_a_working_one(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(
        ".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    ui = [r for r in requires if r.endswith('extra == "ui"')]
    standalone = [r for r in requires if r.endswith('extra == "ui-standalone"')]
    assert "Provides-Extra: ui-standalone" in metadata
    assert [r.split(";")[0].replace(" ", "") for r in ui] == ["qtpy>=2.4"]
    assert sorted(r.split(";")[0].replace(" ", "") for r in standalone) == [
        "PySide6-Essentials<6.12,>=6.5", "qtpy>=2.4"]


def test_wheel_carries_jobtypes_and_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for jobtype in ("dccfutures", "dccfutures_mayapy", "dccfutures_maya", "dccfutures_houdini",
                    "dccfutures_bpy", "dccfutures_blender"):
        assert "dccfutures/_assets/jobtypes/%s/job.conf" % jobtype in names
        assert "dccfutures/_assets/jobtypes/%s/execute.py" % jobtype in names
    for asset in ("maya_plugin/dccfutures.mod", "maya_plugin/plug-ins/dccfutures_maya.py",
                  "maya_plugin/scripts/userSetup.py"):
        assert "dccfutures/_assets/%s" % asset in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "dccfutures = dccfutures.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_installed_wheel_installs_jobtypes(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), wheel], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run([sys.executable, "-m", "dccfutures", "qube", "install-jobtypes",
                             str(tmp_path / "types")], env=env, cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "types")) == [
        "dccfutures", "dccfutures_blender", "dccfutures_bpy", "dccfutures_houdini",
        "dccfutures_maya", "dccfutures_mayapy"]
    assert "worker_template_path" in result.stdout
    maya = subprocess.run([sys.executable, "-m", "dccfutures", "maya", "install", "--modules",
                           str(tmp_path / "modules")], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert maya.returncode == 0, maya.stderr
    assert (tmp_path / "modules" / "dccfutures" / "scripts" / "userSetup.py").is_file()


def test_wheel_carries_the_blender_addon_and_installs_it(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    addon = sorted(os.listdir(os.path.join(ROOT, "blender_plugin", "dccfutures_blender")))
    for name in (n for n in addon if n.endswith(".py")):
        assert "dccfutures/_assets/blender_plugin/dccfutures_blender/%s" % name in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), wheel], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(target))
    scripts = tmp_path / "scripts"
    done = subprocess.run([sys.executable, "-m", "dccfutures", "blender", "install",
                           "--scripts", str(scripts)], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for path in ("addons/dccfutures_blender/__init__.py", "addons/dccfutures_blender/menu.py",
                 "modules/dccfutures/_assets/shelves/dccfutures.yaml",
                 "modules/dccfutures/actions/blender.py"):
        assert (scripts / path).is_file(), path
