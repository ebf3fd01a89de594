"""Actions every DCC shares: the farm monitor and starting the local farm."""
import sys
from typing import Any


def farm_monitor(**_: Any) -> Any:
    """Open the farm monitor: docked in Maya, a floating panel in Houdini, else a window."""
    from ..ui import monitor
    if "maya" in sys.modules:
        from maya.api import OpenMaya
        if OpenMaya.MGlobal.mayaState() == OpenMaya.MGlobal.kInteractive:
            return monitor.dock_in_maya()
    if "hou" in sys.modules:  # never import hou here: outside Houdini it starts a session
        import hou
        if hou.isUIAvailable():
            return monitor.show_in_houdini()
    return monitor.main([])


def start_local_farm(**_: Any) -> None:
    """Start the local farm's supervisor now (it also starts by itself on the first submit)."""
    from .. import config, farms
    settings = config.load()
    # get_farm("local") is a LocalFarm, whose ensure_running takes force (Farm's does not).
    farms.get_farm("local", settings).ensure_running(force=True)  # type: ignore[call-arg]
    print("dccfutures: the local farm is running")
