"""The dccfutures_bpy and dccfutures_blender Qube jobtypes against the fake qb, whose supervisor
runs their execute.py in real subjob processes: each subjob starts the real Blender as its
child (PyPI's bpy through this Python; Debian's ``blender -b``) and feeds it items over a pipe.
"""
import importlib.util
import os
import sys

import cloudpickle
import pytest

from tests import blender_scenes, real_blender
from tests.blender_scenes import pid_and_parent, render_frames, save_a_copy_then_fail

# The work travels by value: Blender's Python finds no ``tests`` package of this checkout.
cloudpickle.register_pickle_by_value(blender_scenes)

HAS_BPY = importlib.util.find_spec("bpy") is not None
NEEDS_BPY = pytest.mark.skipif(not HAS_BPY, reason="needs PyPI's bpy 4.2 (Python 3.11 only): "
                               "pip install 'bpy==4.2.*' (make test installs it)")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """A Blender scripts folder whose modules/ gives Blender's Python dccfutures and its
    dependencies (what ``dccfutures blender install`` does on a worker)."""
    return real_blender.scripts_folder(str(tmp_path_factory.mktemp("worker-scripts")))


@pytest.fixture(scope="module")
def blender_shot(tmp_path_factory, scripts):
    folder = str(tmp_path_factory.mktemp("blender-shot"))
    made = real_blender.run(["-b", "--python-exit-code", "1", "--python-expr",
                             blender_scenes.BUILD, "--", folder], scripts)
    assert made.returncode == 0, made.stdout + made.stderr
    return os.path.join(folder, "shot010.blend")


@pytest.fixture(scope="module")
def bpy_shot(tmp_path_factory):
    if not HAS_BPY:
        pytest.skip("needs PyPI's bpy 4.2")
    return blender_scenes.build_with_bpy(str(tmp_path_factory.mktemp("bpy-shot")))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Subjobs start in the fake supervisor's working folder: not this checkout, which is no
    Qube working folder (every process dccfutures starts drops its working folder from
    ``sys.path``, and with it this checkout's dccfutures)."""
    monkeypatch.chdir(str(tmp_path))


@pytest.fixture
def qube(elsewhere, qube_root, farm_config, tmp_path):
    """The fake Qube, with Blender 4.2 as a bpy Python (a studio wrapper: another
    interpreter than the jobtype's, so it runs as the subjob's child) and 3.4 as Debian's
    executable. Returns the fake ``qb`` and the executors to shut down."""
    wrapper = tmp_path / "bpy-python"
    wrapper.write_text('#!/bin/sh\nexec %s "$@"\n' % sys.executable)
    wrapper.chmod(0o755)
    farm_config(extra='farm: qube\nqube: {spool_dir: %s, poll_min: 0.02, poll_max: 0.2}\n'
                      'dcc:\n  blender:\n    "4.2": {python: %s}\n    "3.4": {blender: %s}\n'
                % (tmp_path / "spool", wrapper, real_blender.BLENDER or "/usr/bin/blender"))
    import qb
    made = []
    yield qb, made
    for executor in made:
        executor.shutdown(wait=False, cancel_futures=True)


def executor(qube, **fields):
    from dccfutures.blender import Executor
    made = Executor(farm="qube", cpus=1, **fields)
    qube[1].append(made)
    return made


def job_output(qb, job_id):
    return "".join(record["data"] for record in qb.stdout(job_id))


def render_in_one_child(qube, ex, shot, tmp_path, jobtype, booted):
    """Two frames, a failing item and a look at the process tree in one job on one subjob:
    the real Blender child renders where the scene says, boots once, and a failing item's log
    holds what Blender itself printed."""
    qb = qube[0]
    with ex.batch("render") as batch:
        renders = [batch.submit(render_frames, [frame]) for frame in (1, 2)]
        failing = batch.submit(save_a_copy_then_fail, str(tmp_path / "probe.blend"))
        where = batch.submit(pid_and_parent)
    expected = [os.path.join(os.path.dirname(shot), "render", "f_%04d.png" % f) for f in (1, 2)]
    assert [future.result(120)[0] for future in renders] == expected
    assert all(blender_scenes.png_size(path) == (32, 24) for path in expected)
    with pytest.raises(ValueError, match="failed after Blender saved"):
        failing.result(60)
    assert 'Info: Saved "probe.blend"' in failing.log(), failing.log()
    child, subjob, command = where.result(60)
    assert child != subjob and command.endswith("/jobtypes/%s/execute.py " % jobtype)
    assert job_output(qb, where.job_id).count(booted) == 1


@NEEDS_BPY
def test_the_bpy_jobtype_runs_a_bpy_child_once_per_subjob(qube, bpy_shot, tmp_path):
    ex = executor(qube, blendfile=bpy_shot, version="4.2")
    assert ex.prototype == "dccfutures_bpy"
    render_in_one_child(qube, ex, bpy_shot, tmp_path, "dccfutures_bpy",
                        "Blender 4.2 bootstrapped in bpy (blend file %s)" % bpy_shot)


def test_the_blender_jobtype_runs_blender_b_once_per_subjob(qube, blender_shot, scripts,
                                                             tmp_path):
    real_blender.require()
    ex = executor(qube, blendfile=blender_shot, version="3.4", prototype="dccfutures_blender",
                  env={"BLENDER_USER_SCRIPTS": scripts})
    render_in_one_child(qube, ex, blender_shot, tmp_path, "dccfutures_blender",
                        "Blender 3.4 bootstrapped in blender_batch (blend file %s)"
                        % blender_shot)


def test_a_scene_blender_cannot_read_fails_the_qube_work_with_its_reason(qube, blender_shot,
                                                                         scripts):
    real_blender.require()
    ex = executor(qube, blendfile=os.path.join(os.path.dirname(blender_shot), "missing.blend"),
                  version="3.4", prototype="dccfutures_blender",
                  env={"BLENDER_USER_SCRIPTS": scripts})
    with pytest.raises(RuntimeError, match=r"Cannot read file.*missing\.blend"):
        ex.submit(pid_and_parent).result(120)


def test_a_blender_without_cloudpickle_fails_the_work_naming_the_install(qube, blender_shot,
                                                                        tmp_path):
    blender = real_blender.require()
    bare = tmp_path / "scripts-without-modules"
    bare.mkdir()
    ex = executor(qube, blendfile=blender_shot, version="3.4", prototype="dccfutures_blender",
                  env={"BLENDER_USER_SCRIPTS": str(bare)})
    with pytest.raises(RuntimeError, match="cannot import cloudpickle.*`dccfutures blender "
                                           "install --blender %s`" % blender):
        ex.submit(pid_and_parent).result(120)
