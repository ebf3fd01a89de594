"""dccfutures plug-in for Maya: adds the Farm menu and the dccfutures shelf (interactive only).

Load it from the Plug-in Manager, or let the module's userSetup.py load it. Unloading removes
the menu and the shelf; loading again never duplicates them. Maya saves every shelf when it
quits: the plug-in takes its shelf out first, so the shelf is never saved (it is rebuilt
from the YAML each session).
"""
import maya.api.OpenMaya as OpenMaya

maya_useNewAPI = True
VENDOR = "dccfutures"
VERSION = "0.1.0"
_callbacks = []  # MMessage ids: Maya requires a plug-in to remove its callbacks on unload


def _interactive() -> bool:
    return OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive


def initializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin, VENDOR, VERSION)
    if _interactive():
        import maya.utils
        from dccfutures import maya_menu
        maya.utils.executeDeferred(maya_menu.build)  # once the main window exists
        _callbacks.append(OpenMaya.MSceneMessage.addCallback(
            OpenMaya.MSceneMessage.kMayaExiting, maya_menu.remove_shelf))


def uninitializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin)
    while _callbacks:
        OpenMaya.MMessage.removeCallback(_callbacks.pop())
    if _interactive():
        from dccfutures import maya_menu
        maya_menu.remove()
