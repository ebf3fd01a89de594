"""The Farm menu in Maya's main window and the dccfutures shelf, both from ``shelves/*.yaml``.

Built deferred (the main window exists only once Maya is up) and only in interactive Maya.
Building again replaces what is there, so reloading the plug-in never leaves two menus, two
shelves or doubled buttons. Maya also loads ``shelf_dccfutures.mel`` from the module's
``MAYA_SHELF_PATH`` at start-up, and saves a copy of every shelf in the user's prefs on exit;
refilling the shelf from the YAML here keeps a stale saved copy from hiding new buttons.
"""
from typing import Any

MENU = "dccfuturesFarmMenu"
SHELF = "dccfutures"


def build() -> None:
    """Create (or re-create) the Farm menu and the shelf; nothing outside interactive Maya."""
    from maya.api import OpenMaya
    if OpenMaya.MGlobal.mayaState() != OpenMaya.MGlobal.kInteractive:
        return
    build_menu()
    build_shelf()
    _watch_farm()


def remove() -> None:
    """Remove the Farm menu and the shelf (the plug-in's unload)."""
    import maya.cmds as cmds
    from . import notify
    notify.unwatch()
    if cmds.menu(MENU, exists=True):
        cmds.deleteUI(MENU, menu=True)
    if cmds.shelfLayout(SHELF, exists=True):
        cmds.deleteUI(SHELF, layout=True)


def build_menu() -> None:
    import maya.cmds as cmds
    from . import shelves
    if cmds.menu(MENU, exists=True):
        cmds.deleteUI(MENU, menu=True)
    cmds.menu(MENU, parent="MayaWindow", tearOff=True, label="Farm")
    for action in shelves.menu_entries("maya"):
        if action.divider_before:
            cmds.menuItem(divider=True, parent=MENU)
        cmds.menuItem(label=action.label, annotation=action.tooltip or action.label,
                      command=_runner(action.id), parent=MENU)


def build_shelf() -> None:
    """Fill the dccfutures shelf with our buttons, creating it when Maya has not loaded it."""
    import maya.cmds as cmds
    from . import shelves
    if cmds.shelfLayout(SHELF, exists=True):
        for button in cmds.shelfLayout(SHELF, query=True, childArray=True) or []:
            cmds.deleteUI(button, control=True)
    else:
        cmds.shelfLayout(SHELF, parent="ShelfLayout")
    for action in shelves.shelf_actions("maya"):
        image, overlay = shelves.maya_image(action)
        cmds.shelfButton(label=action.label, annotation=action.tooltip or action.label,
                         image=image, imageOverlayLabel=overlay, command=action.command(),
                         sourceType="python", parent=SHELF)


def _runner(action_id: str) -> Any:
    def run(*_: Any) -> None:
        from . import shelves
        shelves.run(action_id, dcc="maya")
    return run


def _watch_farm() -> None:
    """Tell the artist in Maya when their farm jobs end (also those of closed sessions)."""
    from . import notify
    try:
        notify.watch()
    except Exception as error:  # a broken config must not break Maya's start-up
        print("dccfutures: not watching the farm: %s" % error)
