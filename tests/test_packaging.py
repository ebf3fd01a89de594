"""The wheel carries the asset folders, so a plain `pip install` can install the jobtypes."""
import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(out), ROOT], check=True,
                   capture_output=True, timeout=300)
    wheels = [n for n in os.listdir(out) if n.endswith(".whl")]
    assert len(wheels) == 1
    return str(out / wheels[0])


def test_wheel_carries_jobtypes_and_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for jobtype in ("dccfutures", "dccfutures_mayapy", "dccfutures_maya", "dccfutures_houdini"):
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
        "dccfutures", "dccfutures_houdini", "dccfutures_maya", "dccfutures_mayapy"]
    assert "worker_template_path" in result.stdout
    maya = subprocess.run([sys.executable, "-m", "dccfutures", "maya", "install", "--modules",
                           str(tmp_path / "modules")], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert maya.returncode == 0, maya.stderr
    assert (tmp_path / "modules" / "dccfutures" / "scripts" / "userSetup.py").is_file()
