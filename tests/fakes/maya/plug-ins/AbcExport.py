"""Fake of Maya's bundled AbcExport plug-in: ``cmds.AbcExport(j="-frameRange 1 10 -root |x
-file /out.abc")`` (``jobArg``, repeatable: one job per flag). Instead of Alembic it writes a
JSON file at ``-file``: the frame range, the roots, the scene's nodes and the scene name, so a
test can see what a farm export really did.

The job string is split as AbcExport.cpp splits it: on spaces, a word starting with a double
or single quote running to the closing quote (backslash escapes inside). So an unquoted path
with a space is cut there: the file is the first piece, and the rest are unsupported flags,
which AbcExport only warns about. Flags are compared case-insensitively, as there. A relative
``-file`` is relative to the workspace's ``cache/alembic``."""
import json
import os
import sys

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


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def split_job(job):
    """AbcExport.cpp's job argument parser, in Python."""
    words, buffer, quote, index = [], "", None, 0
    while index < len(job):
        char = job[index]
        if quote is None:
            if char == " ":
                if buffer:
                    words.append(buffer)
                    buffer = ""
            elif char in "\"'" and not buffer:
                quote = char
            else:
                buffer += char
        elif char == quote:
            words.append(buffer)
            buffer, quote = "", None
        elif char == "\\":
            index += 1
            following = job[index] if index < len(job) else "\\"
            buffer += _ESCAPES.get(following, following)
        else:
            buffer += char
        index += 1
    if buffer:
        words.append(buffer)
    return words


def _export(job):
    import maya.cmds as cmds
    words = split_job(job)
    frame_range, roots, path = None, [], None
    while words:
        word = words.pop(0)
        flag = word.lower()
        if flag in ("-framerange", "-fr"):
            frame_range = [float(words.pop(0)), float(words.pop(0))]
        elif flag in ("-root", "-rt"):
            roots.append(words.pop(0))
        elif flag in ("-file", "-f"):
            path = words.pop(0)
        elif flag in ("-step", "-s"):
            words.pop(0)
        elif flag in ("-uvwrite", "-uv", "-worldspace", "-ws", "-writevisibility", "-wv",
                      "-stripnamespaces", "-sn"):
            pass
        else:
            sys.stdout.write("# Warning: Ignoring unsupported flag: %s\n" % word)
    if not path:
        raise RuntimeError("AbcExport: -file not specified.")
    if not os.path.isabs(path):
        path = os.path.join(cmds.workspace(query=True, rootDirectory=True), "cache", "alembic",
                            path)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise RuntimeError("AbcExport: Path %s does not exist!" % os.path.dirname(path))
    with open(path, "w") as handle:
        json.dump({"frameRange": frame_range, "roots": roots, "nodes": sorted(cmds.ls()),
                   "scene": cmds.file(query=True, sceneName=True)}, handle)


def _creator():
    return AbcExport()


def initializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin, "Autodesk (fake)", "1.0").registerCommand("AbcExport", _creator)


def uninitializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin).deregisterCommand("AbcExport")
