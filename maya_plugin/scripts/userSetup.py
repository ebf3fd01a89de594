"""Loads the dccfutures plug-in once interactive Maya is up.

userSetup.py also runs under mayapy and ``maya -batch`` (farm workers): there it does
nothing, quietly.
"""


def _load_dccfutures_plugin():
    import maya.cmds as cmds
    if not cmds.pluginInfo("dccfutures_maya", query=True, loaded=True):
        cmds.loadPlugin("dccfutures_maya", quiet=True)


def _dccfutures_setup():
    try:
        from maya.api import OpenMaya
        import maya.cmds as cmds
    except ImportError:
        return
    if OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive:
        cmds.evalDeferred(_load_dccfutures_plugin, lowestPriority=True)


_dccfutures_setup()
