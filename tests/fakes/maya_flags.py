"""Maya's short flag names: command -> {short: long}. Not a fake: a table the stub checks use.

The stubs (maya-stubs) name every flag by its long name only, while Maya, and so our fake
``maya.cmds``, accept both. tests/test_stub_conformance.py maps each short name a fake accepts
to its long name through this one table, and checks every entry here against the stubs (the
long name is a flag of that command; the short name is no other flag's long name).

Source: Autodesk's command reference, "Long name (short name)" (help.autodesk.com,
``Maya-Tech-Docs/CommandsPython/<command>.html``), the same pairs Maya's ``help <command>``
prints. Note that Maya spells a few short names like long ones (``select -add``,
``file -new`` is short for ``-newFile``). Add a command's flags here when a fake starts
accepting them.
"""

SHORT_FLAGS = {
    "about": {"b": "batch", "v": "version"},
    "createNode": {"n": "name", "ss": "skipSelect"},
    "deleteUI": {"ctl": "control", "lay": "layout", "m": "menu", "mi": "menuItem"},
    "evalDeferred": {"en": "evaluateNext", "low": "lowPriority", "lp": "lowestPriority",
                     "ls": "list"},
    "file": {"ea": "exportAll", "es": "exportSelected", "f": "force", "iv": "ignoreVersion",
             "mf": "modified", "new": "newFile", "o": "open", "pr": "preserveReferences",
             "q": "query", "rn": "rename", "s": "save", "sn": "sceneName", "typ": "type"},
    "loadPlugin": {"n": "name", "qt": "quiet"},
    "ls": {"sl": "selection", "typ": "type"},
    "menu": {"aob": "allowOptionBoxes", "dai": "deleteAllItems", "e": "edit", "ex": "exists",
             "ia": "itemArray", "l": "label", "p": "parent", "q": "query", "to": "tearOff"},
    "menuItem": {"ann": "annotation", "c": "command", "d": "divider", "ex": "exists",
                 "l": "label", "p": "parent", "q": "query"},
    "playbackOptions": {"e": "edit", "max": "maxTime", "min": "minTime", "q": "query"},
    "pluginInfo": {"l": "loaded", "ls": "listPlugins", "p": "path", "q": "query"},
    "progressBar": {"bp": "beginProgress", "e": "edit", "ep": "endProgress",
                    "ic": "isCancelled", "ii": "isInterruptable", "imp": "isMainProgressBar",
                    "max": "maxValue", "min": "minValue", "pr": "progress", "q": "query",
                    "s": "step", "st": "status"},
    "select": {"add": "add", "cl": "clear", "d": "deselect", "r": "replace"},
    "shelfButton": {"ann": "annotation", "c": "command", "ex": "exists", "i": "image",
                    "iol": "imageOverlayLabel", "l": "label", "p": "parent",
                    "stp": "sourceType"},
    "shelfLayout": {"ca": "childArray", "ex": "exists", "p": "parent", "q": "query"},
    "unloadPlugin": {"f": "force"},
    "workspace": {"o": "openWorkspace", "q": "query", "rd": "rootDirectory"},
}
