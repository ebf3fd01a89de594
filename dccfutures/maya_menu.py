"""The Farm menu in Maya's main window and the dccfutures shelf, both from ``shelves/*.yaml``.

Built deferred (the main window exists only once Maya is up) and only in interactive Maya.
Building again replaces what is there, so reloading the plug-in never leaves two menus, two
shelves or doubled buttons.

The plug-in is the shelf's only owner: the shelf is built afresh each session and is never
saved. Maya writes every shelf in its shelf bar to a file when it quits (``saveAllShelves``),
so the plug-in takes the shelf out just before (:func:`remove_shelf` on
``MSceneMessage.kMayaExiting``). A saved copy would hide later buttons, outlive an
uninstall, or be written into the module itself.
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
    remove_shelf()


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
    """The dccfutures shelf with our buttons. A shelf of that name Maya loaded at start-up
    (a copy it saved before dccfutures stopped it) is replaced."""
    import maya.cmds as cmds
    from . import shelves
    remove_shelf()
    cmds.shelfLayout(SHELF, parent="ShelfLayout")
    for action in shelves.shelf_actions("maya"):
        image, overlay = shelves.maya_image(action)
        # maya-stubs types command= as a callable only; Maya documents a script string too.
        cmds.shelfButton(label=action.label, annotation=action.tooltip or action.label,
                         image=image, imageOverlayLabel=overlay,
                         command=action.command(),  # type: ignore[arg-type]
                         sourceType="python", parent=SHELF)


def remove_shelf(*_: Any) -> None:
    """Take the shelf out (unload, and Maya's exit: ``kMayaExiting`` passes client data)."""
    import maya.cmds as cmds
    if cmds.shelfLayout(SHELF, exists=True):
        cmds.deleteUI(SHELF, layout=True)


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
