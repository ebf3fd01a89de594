"""dccfutures.pyblish with the real pyblish-base: validation in the session, extraction and
integration on a real local farm (and in the fake mayapy), the artist told at the end."""
import os
import subprocess
import sys
import threading
import time

import pytest

pyblish_api = pytest.importorskip("pyblish.api")

import dccfutures  # noqa: E402
from dccfutures.pyblish import FarmExtractor, describe, publish_on_farm  # noqa: E402
from tests import pyblish_plugins as plugins  # noqa: E402
from tests.conftest import ROOT, wait_until  # noqa: E402
from tests.test_houdini import houdini_session  # noqa: E402,F401 - the fixture
from tests.test_maya import maya_session  # noqa: E402,F401 - the fixture


class Reports:
    """A reporter hook that records ``(instance_name, future, describe(...))``."""

    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def __call__(self, instance_name, future):
        self.calls.append((instance_name, future, describe(instance_name, future)))
        self.event.set()

    def wait(self, timeout=30):
        assert self.event.wait(timeout), "nothing was reported"
        return self.calls[0]


@pytest.fixture
def reports(monkeypatch):
    recorder = Reports()
    for cls in (plugins.IntegrateModel, plugins.ExtractModel, plugins.ExtractModelBroken,
                plugins.IntegrateMayaScene):
        monkeypatch.setattr(cls, "reporter", staticmethod(recorder))
    return recorder


def model_context(tmp_path, flag=None):
    context = pyblish_api.Context()
    context.data["work"] = {"staging": str(tmp_path), "publish": str(tmp_path / "publish"),
                            "flag": flag}
    return context


def test_publish_returns_at_once_then_extracts_integrates_and_reports(farm_home, tmp_path,
                                                                      reports):
    flag = str(tmp_path / "go")
    context = model_context(tmp_path, flag)
    started = time.monotonic()
    futures = publish_on_farm(context, plugins.MODEL)
    assert time.monotonic() - started < 5
    instance, = context
    state = instance.data["dccfutures"]
    extract, integrate = state["extract"], state["integrate"]
    assert futures == [extract, integrate]
    assert not extract.done() and not integrate.done()  # the extraction waits for the flag
    wait_until(lambda: integrate.status() == "blocked", what="the integration held by the farm")
    farm = extract.farm
    assert farm.job(extract.job_id).name == "Extract hero"
    assert farm.job(integrate.job_id).name == "Integrate hero"
    open(flag, "w").close()
    staged = extract.result(30)
    published = integrate.result(30)
    assert staged == str(tmp_path / "hero.txt")
    assert published == str(tmp_path / "publish" / "hero.txt")
    assert open(published).read() == "cube 1 1 1"
    name, future, (title, message, level) = reports.wait()
    assert (name, future, level) == ("hero", integrate, "info")
    assert "hero" in title and published in message


def test_a_failed_extraction_fails_the_integration_and_is_reported(farm_home, tmp_path,
                                                                    reports):
    context = model_context(tmp_path)
    publish_on_farm(context, [plugins.CollectModel, plugins.ExtractModelBroken,
                              plugins.IntegrateModel])
    state = context[0].data["dccfutures"]
    with pytest.raises(ValueError, match="no geometry in hero"):
        state["extract"].result(30)
    with pytest.raises(dccfutures.DependencyError, match="%d:0" % state["extract"].job_id):
        state["integrate"].result(30)
    name, future, (title, message, level) = reports.wait()
    assert name == "hero" and future is state["integrate"] and level == "error"
    assert message.startswith("extract failed for 'hero'")
    assert "no geometry in hero" in message  # the extraction's own error, not only "failed"


def test_a_failed_validation_sends_nothing_to_the_farm(farm_home, tmp_path, reports):
    context = model_context(tmp_path)
    # Listed last, the validator still runs first: publish_on_farm sorts by order.
    futures = publish_on_farm(context, plugins.MODEL + [plugins.ValidateNothingPasses])
    assert futures == []
    assert "dccfutures" not in context[0].data
    errors = [r["error"] for r in context.data["results"] if r["error"]]
    assert len(errors) == 1 and "non-manifold" in str(errors[0])
    assert dccfutures.Executor().farm.jobs() == []
    assert reports.calls == []


def test_extraction_alone_is_reported_when_it_ends(farm_home, tmp_path, reports):
    context = model_context(tmp_path)
    extract, = publish_on_farm(context, [plugins.CollectModel, plugins.ExtractModel])
    name, future, (title, message, level) = reports.wait()
    assert future is extract and level == "info" and str(tmp_path / "hero.txt") in message


def test_session_objects_stay_in_the_session(tmp_path):
    context = model_context(tmp_path)
    instance = context.create_instance("hero", family="model", geometry="x")
    instance.data["node"] = object()
    data = plugins.ExtractModel().farm_data(instance)
    assert data["geometry"] == "x" and data["name"] == "hero" and "node" not in data


def test_a_plain_method_is_refused_before_submitting(farm_home, tmp_path):
    class ExtractWithMethod(FarmExtractor):
        families = ["model"]

        def extract_on_farm(self, data):
            return data

    context = model_context(tmp_path)
    publish_on_farm(context, [plugins.CollectModel, ExtractWithMethod])
    error, = [r["error"] for r in context.data["results"] if r["error"]]
    assert "make it a @staticmethod" in str(error)
    assert dccfutures.Executor().farm.jobs() == []


def test_the_base_classes_process_nothing(farm_home, tmp_path):
    """A plug-in file importing the base classes makes pyblish discover them too."""
    import pyblish.plugin
    from dccfutures import pyblish as module
    found = pyblish.plugin.plugins_from_module(module)
    assert {p.__name__ for p in found} == {"FarmExtractor", "FarmIntegrator"}
    context = model_context(tmp_path)
    assert publish_on_farm(context, [plugins.CollectModel] + found) == []
    assert not [r for r in context.data["results"] if r["error"]]


def test_extraction_runs_in_maya_with_the_artists_scene(maya_session, reports):  # noqa: F811
    fake, scene, workspace = maya_session
    context = pyblish_api.Context()
    extract, integrate = publish_on_farm(context, plugins.MAYA)
    contents = extract.result(60)
    assert contents["scene"] == scene                   # mayapy opened the artist's scene
    assert "unsaved_change" in contents["nodes"]        # a copy with the unsaved edit
    assert "unsaved_change" in contents["asked"]        # collected in the session
    assert integrate.result(60) == "sh010.ma: %d nodes" % len(contents["nodes"])
    bootstrap = extract.farm.job(extract.job_id)
    assert bootstrap.name == "Extract sceneModel"

    def reported():  # done-callbacks run on Maya's main thread, at its idle moments
        fake.process_idle_events()
        return reports.calls
    (name, future, (title, message, level)), = wait_until(reported, what="the report")
    assert name == "sceneModel" and level == "info" and "sh010.ma" in message


def test_extraction_runs_in_houdini_with_the_artists_hip_file(houdini_session):  # noqa: F811
    fake, hip, _ = houdini_session
    import hou
    hou.node("/out/mantra1").parm("f3").set(3)  # unsaved: only in the session
    extract, = publish_on_farm(pyblish_api.Context(), plugins.HOUDINI)
    assert extract.result(60) == {"hip": hip, "f3": 3}


def test_the_default_reporter_tells_the_artist(farm_home, tmp_path, monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)  # no desktop here: the message goes to stderr
    for name in ("maya", "maya.cmds", "hou"):   # nor a DCC (the fakes of other tests)
        monkeypatch.delitem(sys.modules, name, raising=False)
    context = model_context(tmp_path)
    extract, integrate = publish_on_farm(context, plugins.MODEL)
    published = integrate.result(30)
    err = []
    wait_until(lambda: err.append(capsys.readouterr().err) or published in "".join(err),
               timeout=10, what="the message on stderr")
    assert "dccfutures: Publish hero: 'hero' published: " in "".join(err)


DETACHED = """
import sys
sys.path.insert(0, {root!r})
import pyblish.api
from dccfutures.pyblish import publish_on_farm
from tests import pyblish_plugins as plugins
context = pyblish.api.Context()
context.data["work"] = {work!r}
futures = publish_on_farm(context, plugins.MODEL)
print(" ".join(str(f.job_id) for f in futures))
"""


def test_the_publish_completes_after_the_session_exits(farm_home, tmp_path):
    flag = str(tmp_path / "go")
    work = {"staging": str(tmp_path), "publish": str(tmp_path / "publish"), "flag": flag}
    out = subprocess.run([sys.executable, "-c", DETACHED.format(root=ROOT, work=work)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    extract_job, integrate_job = (int(j) for j in out.stdout.split())
    open(flag, "w").close()  # the extraction only starts once the session is gone
    published = tmp_path / "publish" / "hero.txt"
    wait_until(published.exists, timeout=30, what="the published file")
    futures = dccfutures.Executor().attach(integrate_job)
    assert [f.result(30) for f in futures] == [str(published)]
