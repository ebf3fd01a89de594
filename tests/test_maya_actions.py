"""The built-in Maya actions (what the shelf buttons run once the dialog is filled in),
end to end: the fake Maya session here, the fake mayapy on the local farm."""
import json
import os

import pytest

from tests.conftest import wait_until
from tests.test_maya import maya_session  # noqa: F401 - the fixture


def test_submit_scene_frames_exports_alembic_per_chunk(maya_session):  # noqa: F811
    fake, scene, workspace = maya_session
    import maya.cmds as cmds
    from dccfutures.actions.maya import submit_scene_frames
    cmds.playbackOptions(minTime=1, maxTime=25)
    futures = submit_scene_frames(chunk_size=10, cpus=1)
    written = [f.result(60) for f in futures]
    cache = os.path.join(workspace, "cache", "alembic")
    assert written == [[os.path.join(cache, "sh010.%s.abc" % part)]
                       for part in ("0001-0010", "0011-0020", "0021-0025")]
    export = json.load(open(written[2][0]))
    assert export["frameRange"] == [21, 25]
    assert export["scene"] == scene and "unsaved_change" in export["nodes"]


def test_alembic_files_land_in_a_workspace_with_spaces(maya_session, tmp_path):  # noqa: F811
    """AbcExport splits its job string on spaces unless a value is quoted."""
    fake, scene, workspace = maya_session
    import maya.cmds as cmds
    from dccfutures.actions.maya import submit_scene_frames
    spaced = tmp_path / "my project"
    spaced.mkdir()
    cmds.workspace(str(spaced), openWorkspace=True)
    cmds.playbackOptions(minTime=1, maxTime=5)
    expected = os.path.join(str(spaced), "cache", "alembic", "sh010.0001-0005.abc")
    assert [f.result(60) for f in submit_scene_frames(chunk_size=10)] == [[expected]]
    assert json.load(open(expected))["frameRange"] == [1, 5]


def test_submit_scene_frames_takes_a_frame_range_and_a_function(maya_session):  # noqa: F811
    from dccfutures.actions.maya import submit_scene_frames
    futures = submit_scene_frames(function="dccfutures.frames:split", frames="1-9x2",
                                  chunk_size=2, name="odd frames")
    assert [f.result(60) for f in futures] == [[1, 3], [5, 7], [9]]
    job = futures[0].farm.job(futures[0].job_id)
    assert job.name == "odd frames"


def test_submit_scene_frames_refuses_a_bad_function_before_submitting(maya_session):  # noqa: F811
    from dccfutures.actions.maya import submit_scene_frames
    with pytest.raises(TypeError, match="package.module:function"):
        submit_scene_frames(function="not a reference", frames="1-5")
    from dccfutures.frames import FrameRangeError
    with pytest.raises(FrameRangeError):
        submit_scene_frames(function="dccfutures.frames:split", frames="1-x")


def test_run_on_selection_one_item_per_node(maya_session, capsys):  # noqa: F811
    fake, scene, workspace = maya_session
    import maya.cmds as cmds
    from dccfutures.actions.maya import run_on_selection
    cmds.select("pCube1", "pCubeShape1")
    futures = run_on_selection()
    assert [f.result(60) for f in futures] == ["transform", "mesh"]
    assert len({f.job_id for f in futures}) == 1  # one batch
    out = []

    def printed():  # results are printed on Maya's main thread, at its idle moments
        fake.process_idle_events()
        out.append(capsys.readouterr().out)
        return "pCube1: 'transform'" in "".join(out) and "pCubeShape1: 'mesh'" in "".join(out)
    wait_until(printed, what="both results printed")


def test_run_on_selection_needs_a_selection(maya_session):  # noqa: F811
    import maya.cmds as cmds
    from dccfutures.actions.maya import run_on_selection
    cmds.select(clear=True)
    with pytest.raises(ValueError, match="select the nodes"):
        run_on_selection()
