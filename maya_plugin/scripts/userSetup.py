"""Loads the dccfutures plug-in once interactive Maya is up.

userSetup.py also runs under mayapy and ``maya -batch`` (farm workers): there it does
nothing, quietly. The module is read by every Maya version; one older than 2023 (Python
3.7) cannot run dccfutures, and gets one line saying so.
"""
import sys


def _load_dccfutures_plugin():
    import maya.cmds as cmds
    if not cmds.pluginInfo("dccfutures_maya", query=True, loaded=True):
        # A Python plug-in is named with its ".py": without it Maya looks for a compiled one.
        cmds.loadPlugin("dccfutures_maya.py", quiet=True)


def _dccfutures_setup():
    try:
        from maya.api import OpenMaya
        import maya.cmds as cmds
    except ImportError:
        return
    if OpenMaya.MGlobal.mayaState() != OpenMaya.MGlobal.kInteractive:
        return
    if sys.version_info < (3, 9):
        print("dccfutures: needs Maya 2023 or later (Python 3.9+); not loaded in this Maya")
        return
    cmds.evalDeferred(_load_dccfutures_plugin, lowestPriority=True)


_dccfutures_setup()
