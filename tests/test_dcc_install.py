"""`dccfutures maya install --mayapy` and `dccfutures houdini install --hython` through the
fake mayapy and hython: the DCC's own pip really installs what our menus, dialogs and the Farm
Monitor import (cloudpickle, PyYAML and qtpy) into the module's or package's python/ folder,
and each ~/houdiniX.Y gets them from the hython of that Houdini.

pip runs offline: the wheels it finds are made here from the distributions this test Python
has installed (what pip would download, without the network)."""
import base64
import hashlib
import importlib.metadata
import os
import stat
import sys
import zipfile

import pytest

from dccfutures.cli import main
from tests.conftest import FAKES

MAYAPY = os.path.join(FAKES, "bin", "mayapy")
HYTHON = os.path.join(FAKES, "bin", "hython")
# What each DCC's Python must import, by the distribution that provides it.
MODULES = {"cloudpickle": "cloudpickle", "PyYAML": "yaml", "QtPy": "qtpy"}


def wheel_of_installed(name, folder):
    """A wheel of the installed distribution ``name``, written into ``folder``."""
    dist = importlib.metadata.distribution(name)
    tag = next(line.split(":", 1)[1].strip() for line in dist.read_text("WHEEL").splitlines()
               if line.startswith("Tag:"))
    info = next(str(f).split("/")[0] for f in dist.files if str(f).endswith(".dist-info/METADATA"))
    path = os.path.join(str(folder), "%s-%s-%s.whl" % (
        dist.metadata["Name"].replace("-", "_"), dist.version, tag))
    records = []
    with zipfile.ZipFile(path, "w") as wheel:
        for entry in dist.files:
            relative = str(entry)
            if relative.startswith("..") or "__pycache__" in relative or \
                    relative in ("%s/RECORD" % info, "%s/INSTALLER" % info,
                                 "%s/REQUESTED" % info, "%s/direct_url.json" % info):
                continue
            data = entry.locate().read_bytes()
            wheel.writestr(relative, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append("%s,sha256=%s,%d" % (relative, digest.decode(), len(data)))
        wheel.writestr("%s/RECORD" % info, "\n".join(records + ["%s/RECORD,," % info]) + "\n")
    return path


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheelhouse")
    for name in list(MODULES) + ["packaging"]:  # qtpy requires packaging
        wheel_of_installed(name, folder)
    return str(folder)


@pytest.fixture
def offline_pip(wheelhouse, monkeypatch):
    """The DCC's pip finds our dependencies in the wheelhouse, and nothing on the network."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", wheelhouse)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)


def installed(python_folder):
    """The distributions of MODULES whose module is in ``python_folder``."""
    return sorted(name for name, module in MODULES.items()
                  if os.path.isfile(os.path.join(python_folder, module, "__init__.py")))


def hython_of(folder, version, log):
    """A fake hython of Houdini ``version`` (a full X.Y.Z) that notes each run in ``log``."""
    path = os.path.join(str(folder), "hfs%s" % version, "bin", "hython")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write('#!/bin/sh\necho "%s $*" >> "%s"\nDCCFUTURES_FAKE_HOUDINI_VERSION=%s '
                     'exec "%s" "$@"\n' % (version, log, version, HYTHON))
    os.chmod(path, stat.S_IRWXU)
    return path


def pip_runs(log):
    """(Houdini version, --target folder) of every pip the fake hythons ran."""
    runs = []
    for line in open(log).read().splitlines():
        words = line.split()
        if "pip" in words:
            runs.append((words[0], words[words.index("--target") + 1]))
    return runs


def test_maya_install_gives_mayapy_qtpy_too(offline_pip, tmp_path, capsys):
    modules = tmp_path / "modules"
    assert main(["maya", "install", "--modules", str(modules), "--mayapy", MAYAPY]) == 0
    assert installed(str(modules / "dccfutures" / "python")) == ["PyYAML", "QtPy", "cloudpickle"]
    assert "qtpy" in capsys.readouterr().out


def test_houdini_install_gives_each_houdini_its_own_hythons_packages(offline_pip, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HOUDINI_USER_PREF_DIR", raising=False)
    for version in ("20.5", "21.0", "20.0"):
        (tmp_path / ("houdini%s" % version)).mkdir()
    log = str(tmp_path / "hython.log")
    hython205 = hython_of(tmp_path, "20.5.332", log)
    hython210 = hython_of(tmp_path, "21.0.440", log)
    assert main(["houdini", "install", "--hython", hython210, "--hython", hython205]) == 0
    out = capsys.readouterr().out

    def package_python(version):
        return str(tmp_path / ("houdini%s" % version) / "packages" / "dccfutures" / "python")
    assert sorted(pip_runs(log)) == [("20.5.332", package_python("20.5")),
                                     ("21.0.440", package_python("21.0"))]
    assert installed(package_python("20.5")) == installed(package_python("21.0")) == [
        "PyYAML", "QtPy", "cloudpickle"]
    # Houdini 20.0 gets the package, and says how to give its Python the packages.
    assert installed(package_python("20.0")) == []
    assert os.path.isfile(os.path.join(package_python("20.0"), "dccfutures", "houdini.py"))
    assert "Houdini 20.0" in out and "--hython" in out and "qtpy" in out


def test_a_hython_with_no_preferences_folder_of_its_version_installs_nothing(
        offline_pip, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HOUDINI_USER_PREF_DIR", raising=False)
    (tmp_path / "houdini20.5").mkdir()
    log = str(tmp_path / "hython.log")
    assert main(["houdini", "install", "--hython", hython_of(tmp_path, "21.0.440", log)]) == 2
    err = capsys.readouterr().err
    assert "Houdini 21.0" in err and "houdini21.0" in err and "--prefs" in err
    assert not (tmp_path / "houdini20.5" / "packages").exists()
    # A folder named after another version is refused too.
    assert main(["houdini", "install", "--prefs", str(tmp_path / "houdini20.5"),
                 "--hython", hython_of(tmp_path, "21.0.441", log)]) == 2
    assert "Houdini 21.0" in capsys.readouterr().err
    assert pip_runs(log) == []


def test_a_hython_on_python_3_7_is_refused(tmp_path, monkeypatch, capsys):
    """Houdini 19.5 also ships builds on Python 3.7, which cannot run dccfutures."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "houdini19.5").mkdir()
    old = tmp_path / "hython3.7"
    # What such a hython answers when asked for its versions (Houdini, then Python).
    old.write_text('#!/bin/sh\necho "dccfutures-versions 19.5 3.7"\n')
    old.chmod(0o700)
    assert main(["houdini", "install", "--hython", str(old)]) == 2
    err = capsys.readouterr().err
    assert "Python 3.7" in err and "3.9" in err
    assert not (tmp_path / "houdini19.5" / "packages").exists()


def test_the_dependencies_are_those_of_the_library_and_its_ui():
    """What install puts in a DCC's Python is what dccfutures needs there: its own
    requirements and the `ui` extra's (the dialogs and the Farm Monitor), no Qt binding."""
    import ast
    import re
    from dccfutures.cli import DCC_DEPENDENCIES
    from tests.conftest import ROOT
    text = open(os.path.join(ROOT, "pyproject.toml")).read()

    def requirement_list(key):
        return ast.literal_eval(re.search(r"(?m)^%s = (\[.*\])" % key, text).group(1))
    assert list(DCC_DEPENDENCIES) == requirement_list("dependencies") + requirement_list("ui")
