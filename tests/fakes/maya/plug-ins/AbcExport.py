"""Fake of Maya's bundled AbcExport plug-in: ``cmds.AbcExport(j="-frameRange 1 10 -root |x
-file /out.abc")`` (``jobArg``, repeatable: one job per flag). Instead of Alembic it writes a
JSON file at ``-file``: the frame range, the roots, the scene's nodes and the scene name, so a
test can see what a farm export really did."""
import json
import os
import shlex

import maya.api.OpenMaya as OpenMaya

maya_useNewAPI = True


class AbcExport(OpenMaya.MPxCommand):
    def doIt(self, args):  # noqa: N802 - Maya's name
        jobs = []
        index = 0
        while index < len(args):
            flag = args.asString(index)
            if flag not in ("-j", "-jobArg") or index + 1 >= len(args):
                raise RuntimeError("AbcExport: unsupported flag %r (the fake knows -jobArg)" % flag)
            jobs.append(args.asString(index + 1))
            index += 2
        if not jobs:
            raise RuntimeError("AbcExport: no -jobArg given")
        for job in jobs:
            _export(job)


def _export(job):
    import maya.cmds as cmds
    words = shlex.split(job)
    frame_range, roots, path = None, [], None
    while words:
        word = words.pop(0)
        if word in ("-frameRange", "-fr"):
            frame_range = [float(words.pop(0)), float(words.pop(0))]
        elif word in ("-root", "-rt"):
            roots.append(words.pop(0))
        elif word in ("-file", "-f"):
            path = words.pop(0)
        elif word in ("-step", "-s"):
            words.pop(0)
        elif word in ("-uvWrite", "-worldSpace", "-writeVisibility", "-stripNamespaces"):
            pass
        else:
            raise RuntimeError("AbcExport: unknown job flag %r" % word)
    if not path:
        raise RuntimeError("AbcExport: the job has no -file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise RuntimeError("AbcExport: cannot write %s: no such folder" % path)
    with open(path, "w") as handle:
        json.dump({"frameRange": frame_range, "roots": roots, "nodes": sorted(cmds.ls()),
                   "scene": cmds.file(query=True, sceneName=True)}, handle)


def _creator():
    return AbcExport()


def initializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin, "Autodesk (fake)", "1.0").registerCommand("AbcExport", _creator)


def uninitializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin).deregisterCommand("AbcExport")
