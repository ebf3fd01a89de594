"""Nothing we start imports from the folder it was started in by accident (issue 12, point 2).

``python -m`` puts the current folder first on ``sys.path`` (before it even imports runpy) and
``-c`` puts '' there; ``-P`` only exists from Python 3.11. A shot folder anyone may write to
holds modules named like the ones our processes import, each writing a marker when imported.
The supervisor, the workers (plain, mayapy, hython, maya -batch), the on_done hook, Qube
subjobs and the pip of ``maya|houdini install`` are started from there, and the marker is never
written; the job's own modules (from the submitter's ``sys.path``) still import.
"""
import json
import os
import shutil
import stat
import sys

import pytest

from dccfutures.cli import main
from tests.conftest import FAKES, JOBTYPES, ROOT, wait_until
from tests.test_houdini import HYTHON, houdini_session  # noqa: F401 (fixture)
from tests.test_maya import MAYAPY, maya_session  # noqa: F401 (fixture)

# What our processes import, plus a stdlib module the work imports only after its chdir
# (colorsys), and a look-alike of the job's own module.
PLANTED = ("json", "runpy", "dccfutures", "cloudpickle", "yaml", "sitecustomize", "pip",
           "colorsys", "shot_tools")

PLANT = """\
import os, sys
with open(%r, "a") as _marker:
    _marker.write("%%s imported from the shot folder by pid %%d: %%r\\n"
                  %% (__name__, os.getpid(), sys.argv))
"""

SHOT_TOOLS = """\
import json
import os
import sys


def where(tag):
    import colorsys  # first imported now, in the job's folder
    return {"tag": tag, "cwd": os.getcwd(), "colorsys": colorsys.__file__,
            "accidental": [p for p in sys.path if p in ("", ".", os.getcwd())]}


def hook(info):
    with open(info["name"], "a") as handle:
        handle.write(json.dumps({"id": info["id"], "cwd": os.getcwd()}) + "\\n")
"""


def plant(folder, names, marker):
    for name in names:
        with open(os.path.join(str(folder), name + ".py"), "w") as handle:
            handle.write(PLANT % str(marker))


def planted_imports(marker):
    return open(str(marker)).read() if os.path.exists(str(marker)) else ""


@pytest.fixture
def shot(tmp_path, monkeypatch):
    """The session works in a shot folder full of look-alike modules; its own tools live in a
    project folder on its ``sys.path``. Returns (shot folder, marker file)."""
    folder, project, marker = tmp_path / "shot", tmp_path / "pipeline", tmp_path / "planted.log"
    folder.mkdir()
    project.mkdir()
    plant(folder, PLANTED, marker)
    (project / "shot_tools.py").write_text(SHOT_TOOLS)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(folder)
    sys.modules.pop("shot_tools", None)
    yield str(folder), marker
    sys.modules.pop("shot_tools", None)


def check_work(report, tag, shot_folder):
    assert report["tag"] == tag
    assert report["cwd"] == shot_folder            # the work still runs in the submit folder
    assert report["accidental"] == []
    assert not report["colorsys"].startswith(shot_folder)


def test_supervisor_worker_and_hook_import_nothing_from_the_submit_folder(shot, local_executor,
                                                                          tmp_path):
    import shot_tools
    folder, marker = shot
    record = str(tmp_path / "hook.jsonl")
    future = local_executor.submit_ext(shot_tools.where, ["plain"], name=record,
                                       on_done="shot_tools:hook")
    check_work(future.result(60), "plain", folder)
    line = wait_until(lambda: os.path.exists(record) and open(record).read(), timeout=30,
                      what="the on_done hook")
    assert json.loads(line) == {"id": future.job_id, "cwd": folder}  # run where it was asked
    assert planted_imports(marker) == ""


def test_the_submit_folder_on_the_submitters_sys_path_still_imports(local_executor, tmp_path,
                                                                    monkeypatch):
    """Only the accidental entry goes: a folder the submitter itself imports from stays."""
    folder = tmp_path / "tools"
    folder.mkdir()
    (folder / "shot_local.py").write_text(SHOT_TOOLS)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    record = str(tmp_path / "hook.jsonl")
    try:
        import shot_local
        future = local_executor.submit_ext(shot_local.where, ["own"], name=record,
                                           on_done="shot_local:hook")
        assert future.result(60)["cwd"] == str(folder)
        wait_until(lambda: os.path.exists(record), timeout=30, what="the on_done hook")
    finally:
        sys.modules.pop("shot_local", None)


@pytest.mark.parametrize("prototype", ["dccfutures_mayapy", "dccfutures_maya"])
def test_maya_workers_import_nothing_from_the_submit_folder(shot, maya_session,  # noqa: F811
                                                            prototype):
    import shot_tools
    from dccfutures.maya import Executor
    folder, marker = shot
    ex = Executor(clone_environ=True, create_tempfile=True, prototype=prototype)
    check_work(ex.submit(shot_tools.where, prototype).result(60), prototype, folder)
    ex.shutdown()
    assert planted_imports(marker) == ""


def test_hython_workers_import_nothing_from_the_submit_folder(shot,
                                                              houdini_session):  # noqa: F811
    import shot_tools
    from dccfutures.houdini import Executor
    folder, marker = shot
    ex = Executor(clone_environ=True, create_tempfile=True)
    check_work(ex.submit(shot_tools.where, "hython").result(60), "hython", folder)
    ex.shutdown()
    assert planted_imports(marker) == ""


@pytest.fixture
def planted_qube(tmp_path, monkeypatch, farm_config, farm_home):
    """A fake Qube whose subjobs start in a shot folder others can write to (Qube's working
    folder), from jobtype folders holding look-alikes too. Returns (shot, marker, configure)."""
    folder, marker, types = tmp_path / "shot", tmp_path / "planted.log", tmp_path / "types"
    folder.mkdir()
    project = tmp_path / "pipeline"
    project.mkdir()
    (project / "shot_tools.py").write_text(SHOT_TOOLS)
    shutil.copytree(JOBTYPES, str(types))
    for jobtype in os.listdir(str(types)):
        plant(types / jobtype, ("json", "runpy", "dccfutures", "cloudpickle", "yaml"), marker)
    # Only what the fake Qube itself never imports: it starts in this folder too.
    plant(folder, ("cloudpickle", "yaml", "colorsys", "shot_tools"), marker)
    monkeypatch.setenv("QB_FAKE_ROOT", str(tmp_path / "qube"))
    monkeypatch.setenv("PYTHONPATH", ROOT)
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(folder)
    sys.modules.pop("qb", None)
    sys.modules.pop("shot_tools", None)

    def configure(extra=""):
        farm_config(extra="farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n%s"
                          % (tmp_path / "spool", extra))
    configure()
    from qb.supervisor import start_supervisor
    handle = start_supervisor(str(tmp_path / "qube"), [str(types)])
    yield str(folder), marker, configure
    handle.stop()
    sys.modules.pop("qb", None)
    sys.modules.pop("shot_tools", None)


def _python_wrapper(folder):
    """A studio's ``python`` wrapper: another interpreter than ours, so the subjob starts it
    as its child."""
    path = os.path.join(str(folder), "studio-python")
    with open(path, "w") as handle:
        handle.write('#!/bin/sh\nexec %s "$@"\n' % sys.executable)
    os.chmod(path, stat.S_IRWXU)
    return path


@pytest.mark.parametrize("interpreter", ["this python", "another python"])
def test_qube_subjobs_import_nothing_from_their_folders(planted_qube, tmp_path, interpreter):
    folder, marker, configure = planted_qube
    if interpreter == "another python":
        configure("python: %s\n" % _python_wrapper(tmp_path))
    import shot_tools
    from dccfutures import Executor
    ex = Executor(farm="qube")
    check_work(ex.submit(shot_tools.where, interpreter).result(60), interpreter, folder)
    ex.shutdown(wait=False)
    assert planted_imports(marker) == ""


@pytest.mark.parametrize("dcc", ["maya", "houdini"])
def test_install_runs_pip_without_the_current_folder(shot, tmp_path, monkeypatch, capfd, dcc):
    """``maya install --mayapy`` / ``houdini install --hython`` run the DCC's pip, never a
    pip (or json, or runpy) from the folder the command was typed in."""
    folder, marker = shot
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip runs and finds nothing: no network
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if dcc == "maya":
        argv = ["maya", "install", "--modules", str(tmp_path / "modules"), "--mayapy", MAYAPY]
    else:
        argv = ["houdini", "install", "--prefs", str(tmp_path / "houdini20.5"),
                "--hython", HYTHON]
    code = main(argv)
    out, err = capfd.readouterr()
    assert code != 0 and "cloudpickle" in out + err  # the real pip said it found none
    assert planted_imports(marker) == ""
