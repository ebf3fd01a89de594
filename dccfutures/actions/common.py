"""Actions every DCC shares: the farm monitor and starting the local farm."""
from typing import Any


def farm_monitor(**_: Any) -> Any:
    """Open the farm monitor: docked in Maya, a floating panel in Houdini, else a window."""
    from ..ui import monitor
    try:
        import maya.cmds  # noqa: F401
        from maya.api import OpenMaya
        if OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive:
            return monitor.dock_in_maya()
    except ImportError:
        pass
    try:
        import hou
        if hou.isUIAvailable():
            return monitor.show_in_houdini()
    except ImportError:
        pass
    return monitor.main([])


def start_local_farm(**_: Any) -> None:
    """Start the local farm's supervisor now (it also starts by itself on the first submit)."""
    from .. import config, farms
    settings = config.load()
    farms.get_farm("local", settings).ensure_running(force=True)
    print("dccfutures: the local farm is running")
