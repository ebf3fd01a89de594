"""The Farm menu in Maya's main window.

Built deferred (the main window exists only once Maya is up) and only in interactive Maya;
building it again replaces it, so reloading the plug-in never leaves two menus. The shelves
issue fills it from the shared YAML of actions; for now it gives the farm's job table.
"""
MENU = "dccfuturesFarmMenu"


def build() -> None:
    """Create (or re-create) the Farm menu; does nothing outside interactive Maya."""
    import maya.cmds as cmds
    from maya.api import OpenMaya
    if OpenMaya.MGlobal.mayaState() != OpenMaya.MGlobal.kInteractive:
        return
    remove()
    cmds.menu(MENU, parent="MayaWindow", tearOff=True, label="Farm")
    cmds.menuItem(label="Farm Jobs", command=show_jobs, parent=MENU)
    cmds.menuItem(divider=True, parent=MENU)
    cmds.menuItem(label="Start Local Farm", command=start_local_farm, parent=MENU)


def remove() -> None:
    import maya.cmds as cmds
    if cmds.menu(MENU, exists=True):
        cmds.deleteUI(MENU, menu=True)


def show_jobs(*_: object) -> None:
    """Print the farm's recent jobs (the `dccfutures jobs` table) to the Script Editor."""
    from . import config, farms
    from .cli import format_jobs
    settings = config.load()
    farm = farms.get_farm(settings.farm, settings)
    print(format_jobs(farm.jobs(limit=20)))


def start_local_farm(*_: object) -> None:
    from . import config, farms
    settings = config.load()
    farms.get_farm("local", settings).ensure_running(force=True)
    print("dccfutures: the local farm is running")
