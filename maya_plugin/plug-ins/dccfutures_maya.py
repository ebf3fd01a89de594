"""dccfutures plug-in for Maya: adds the Farm menu to the main window (interactive only).

Load it from the Plug-in Manager, or let the module's userSetup.py load it. Unloading removes
the menu; loading again never duplicates it.
"""
import maya.api.OpenMaya as OpenMaya

maya_useNewAPI = True
VENDOR = "dccfutures"
VERSION = "0.1.0"


def _interactive() -> bool:
    return OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive


def initializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin, VENDOR, VERSION)
    if _interactive():
        import maya.utils
        from dccfutures import maya_menu
        maya.utils.executeDeferred(maya_menu.build)  # once the main window exists


def uninitializePlugin(plugin):  # noqa: N802 - Maya's name
    OpenMaya.MFnPlugin(plugin)
    if _interactive():
        from dccfutures import maya_menu
        maya_menu.remove()
