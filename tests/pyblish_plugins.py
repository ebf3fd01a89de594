"""Pyblish plug-ins for tests/test_pyblish.py: a plain-Python model publish and a Maya one.

The farm functions are module-level (or staticmethods), importable by farm workers, which see
the test's sys.path. The collectors read ``context.data["work"]`` (folders of the test)."""
import os
import shutil
import time

import pyblish.api

from dccfutures.pyblish import FarmExtractor, FarmIntegrator


def write_model(data):
    """The "heavy" extraction: wait for the test's go-ahead (if any), write the model."""
    flag = data.get("flag")
    deadline = time.monotonic() + 30
    while flag and not os.path.exists(flag):
        if time.monotonic() > deadline:
            raise TimeoutError("no go-ahead at %s" % flag)
        time.sleep(0.02)
    path = os.path.join(data["staging"], "%s.txt" % data["name"])
    with open(path, "w") as handle:
        handle.write(data["geometry"])
    return path


def broken_extract(data):
    raise ValueError("no geometry in %s" % data["name"])


def publish_file(extracted, data):
    """Integration: copy the extracted file into the publish folder."""
    os.makedirs(data["publish"], exist_ok=True)
    return shutil.copy(extracted, os.path.join(data["publish"], os.path.basename(extracted)))


class CollectModel(pyblish.api.ContextPlugin):
    order = pyblish.api.CollectorOrder

    def process(self, context):
        work = context.data["work"]
        instance = context.create_instance("hero", family="model")
        instance.data.update(geometry="cube 1 1 1", staging=work["staging"],
                             publish=work["publish"], flag=work.get("flag"))
        instance.data["node"] = object()  # a session object: must not travel to the farm


class ExtractModel(FarmExtractor):
    families = ["model"]
    job_fields = {"priority": 50}
    extract_on_farm = staticmethod(write_model)


class ExtractModelBroken(FarmExtractor):
    families = ["model"]
    extract_on_farm = "tests.pyblish_plugins:broken_extract"


class IntegrateModel(FarmIntegrator):
    families = ["model"]

    @staticmethod
    def integrate_on_farm(extracted, data):
        return publish_file(extracted, data)


class ValidateNothingPasses(pyblish.api.InstancePlugin):
    order = pyblish.api.ValidatorOrder
    families = ["model"]

    def process(self, instance):
        raise ValueError("%s has non-manifold geometry" % instance)


# -- Maya -----------------------------------------------------------------------------------


def scene_contents(data):
    """Runs in (fake) mayapy on the farm, with the copy of the artist's scene open."""
    import maya.cmds as cmds
    return {"scene": cmds.file(query=True, sceneName=True), "nodes": sorted(cmds.ls()),
            "asked": data["nodes"]}


def summarize(extracted, data):
    return "%s: %d nodes" % (os.path.basename(extracted["scene"]), len(extracted["nodes"]))


class CollectMayaScene(pyblish.api.ContextPlugin):
    order = pyblish.api.CollectorOrder

    def process(self, context):
        import maya.cmds as cmds
        instance = context.create_instance("sceneModel", family="mayaScene")
        instance.data["nodes"] = sorted(cmds.ls())


class ExtractMayaScene(FarmExtractor):
    families = ["mayaScene"]
    dcc = "maya"
    extract_on_farm = staticmethod(scene_contents)


class IntegrateMayaScene(FarmIntegrator):
    families = ["mayaScene"]
    integrate_on_farm = staticmethod(summarize)


MODEL = [CollectModel, ExtractModel, IntegrateModel]
MAYA = [CollectMayaScene, ExtractMayaScene, IntegrateMayaScene]


# -- Houdini --------------------------------------------------------------------------------


def hip_contents(data):
    """Runs in (fake) hython on the farm, with the copy of the artist's hip file loaded."""
    import hou
    return {"hip": hou.hipFile.path(), "f3": hou.node(data["rop"]).parm("f3").eval()}


class CollectRop(pyblish.api.ContextPlugin):
    order = pyblish.api.CollectorOrder

    def process(self, context):
        import hou
        instance = context.create_instance("mantra1", family="houdiniRender")
        instance.data["rop"] = hou.node("/out/mantra1").path()


class ExtractRop(FarmExtractor):
    families = ["houdiniRender"]
    dcc = "houdini"
    job_fields = {"cpus": 1}
    extract_on_farm = staticmethod(hip_contents)


HOUDINI = [CollectRop, ExtractRop]
