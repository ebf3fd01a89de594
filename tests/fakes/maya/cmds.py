"""Fake ``maya.cmds``: only the commands and flags dccfutures uses (see ``maya/__init__.py``).

Every command accepts Maya's long and short flag names; any other keyword raises
``TypeError("Invalid flag 'x'")`` as Maya does. Failures Maya reports as errors raise
``RuntimeError`` (``ValueError`` for ``select`` of a missing object, as Maya does)."""
import fnmatch
import json
import os
import sys
import threading

from maya._state import STATE

SCENE_TYPES = ("mayaAscii", "mayaBinary")
MAIN_PROGRESS_BAR = "MainProgressBar"


# -- plumbing ------------------------------------------------------------------------------
def _flags(kwargs, spec):
    """Normalise ``kwargs`` to long flag names; ``spec`` maps long name -> short name."""
    shorts = dict((short, long_) for long_, short in spec.items())
    out = {}
    for key, value in kwargs.items():
        if key in spec:
            name = key
        elif key in shorts:
            name = shorts[key]
        else:
            raise TypeError("Invalid flag '%s'" % key)
        out[name] = value
    return out


def _enter(command, ui=False):
    """Checks every command makes first: standalone initialised, main thread, UI available."""
    STATE.calls["cmds." + command] += 1
    if STATE.mode == "library" and not STATE.standalone_initialized:
        raise RuntimeError("maya.cmds.%s: maya.standalone is not initialized (call "
                           "maya.standalone.initialize() first; after uninitialize() maya.cmds "
                           "is unusable)" % command)
    if (STATE.mode == "interactive" and STATE.strict_threads
            and threading.current_thread() is not STATE.main_thread):
        raise RuntimeError("maya.cmds.%s called from thread %r, not Maya's main thread (the "
                           "real Maya may crash; use maya.utils.executeDeferred)"
                           % (command, threading.current_thread().name))
    if ui and STATE.mode != "interactive":
        raise RuntimeError("%s: command is not available in batch mode" % command)


def _short(name):
    return str(name).rstrip("|").split("|")[-1]


def _full(name):
    parts = []
    while name is not None:
        parts.append(name)
        name = STATE.ui[name]["parent"]
    return "|".join(reversed(parts))


def _unique(base):
    STATE.ui_counter[base] += 1
    name = "%s%d" % (base, STATE.ui_counter[base])
    while name in STATE.ui or name in STATE.nodes:
        STATE.ui_counter[base] += 1
        name = "%s%d" % (base, STATE.ui_counter[base])
    return name


def _run_script(script, *args):
    """A Maya UI/deferred command: a callable, or a string of Python (maya.cmds' default)."""
    if callable(script):
        return script(*args)
    namespace = {"__name__": "__main__"}
    exec(compile(str(script), "<maya console>", "exec"), namespace)
    return None


# -- scene files ----------------------------------------------------------------------------
def _write_scene(path, file_type):
    data = {"fakeMayaScene": 1, "type": file_type or _type_for(path),
            "nodes": [[name, kind] for name, kind in STATE.nodes.items()],
            "selection": list(STATE.selection), "playback": list(STATE.playback)}
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RuntimeError("Cannot save to '%s': the folder does not exist." % path)
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def _read_scene(path):
    if not os.path.isfile(path):
        raise RuntimeError("File not found: %s" % path)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except ValueError:
        raise RuntimeError("Error reading file. %s is not a (fake) Maya scene" % path)
    if not isinstance(data, dict) or data.get("fakeMayaScene") != 1:
        raise RuntimeError("Error reading file. %s is not a (fake) Maya scene" % path)
    return data


def _type_for(path):
    return "mayaBinary" if str(path).lower().endswith(".mb") else "mayaAscii"


def _check_type(file_type):
    if file_type is not None and file_type not in SCENE_TYPES:
        raise RuntimeError("Invalid file type specified: %s" % file_type)


def _norm(path):
    return os.path.abspath(str(path)).replace(os.sep, "/")


_FILE = {"query": "q", "sceneName": "sn", "rename": "rn", "save": "s", "type": "typ",
         "open": "o", "force": "f", "modified": "mf", "exportAll": "ea",
         "preserveReferences": "pr", "newFile": "new", "ignoreVersion": "iv"}


def file(path=None, /, **kwargs):  # noqa: A001 - Maya's name
    """``file``: query sceneName/modified; rename; save; open; newFile; exportAll."""
    _enter("file")
    flags = _flags(kwargs, _FILE)
    if flags.get("query"):
        if flags.get("sceneName"):
            return STATE.scene
        if flags.get("modified"):
            return STATE.modified
        raise RuntimeError("file: this flag combination cannot be queried: %s" % sorted(flags))
    _check_type(flags.get("type"))
    if "rename" in flags:
        STATE.scene = _norm(flags["rename"])
        return STATE.scene
    if "modified" in flags:
        STATE.modified = bool(flags["modified"])
        return None
    if flags.get("newFile"):
        if STATE.modified and not flags.get("force"):
            raise RuntimeError("Unsaved changes. Use force=True to discard them.")
        STATE.nodes.clear()
        del STATE.selection[:]
        STATE.scene = ""
        STATE.modified = False
        return ""
    if flags.get("open"):
        if path is None:
            raise RuntimeError("file: open needs a file name")
        if STATE.modified and not flags.get("force"):
            raise RuntimeError("Unsaved changes. Use force=True to discard them.")
        data = _read_scene(str(path))
        STATE.nodes.clear()
        STATE.nodes.update((name, kind) for name, kind in data["nodes"])
        STATE.selection[:] = [n for n in data["selection"] if n in STATE.nodes]
        STATE.playback[:] = data.get("playback", [1.0, 120.0])
        STATE.scene = _norm(path)
        STATE.modified = False
        STATE.calls["scene.open"] += 1
        return STATE.scene
    if flags.get("save"):
        if path is not None:
            raise RuntimeError("file: save takes no file name; rename first")
        if not STATE.scene:
            raise RuntimeError("Cannot save an untitled scene; use file(rename=...) first.")
        _write_scene(STATE.scene, flags.get("type"))
        STATE.modified = False
        STATE.calls["scene.save"] += 1
        return STATE.scene
    if flags.get("exportAll"):
        if path is None:
            raise RuntimeError("file: exportAll needs a file name")
        if os.path.exists(str(path)) and not flags.get("force"):
            raise RuntimeError("File already exists: %s. Use force=True to overwrite." % path)
        _write_scene(str(path), flags.get("type"))
        STATE.calls["scene.export"] += 1
        return _norm(path)
    raise RuntimeError("file: no action flag given (%s)" % sorted(flags))


def workspace(folder=None, /, **kwargs):
    """``workspace``: query rootDirectory; openWorkspace a folder."""
    _enter("workspace")
    flags = _flags(kwargs, {"query": "q", "rootDirectory": "rd", "openWorkspace": "o"})
    if flags.get("query") and flags.get("rootDirectory"):
        return STATE.workspace.replace(os.sep, "/").rstrip("/") + "/"
    if flags.get("openWorkspace"):
        if folder is None:
            raise RuntimeError("workspace: openWorkspace needs a folder")
        if not os.path.isdir(str(folder)):
            raise RuntimeError("Workspace '%s' not found." % folder)
        STATE.workspace = os.path.abspath(str(folder))
        return None
    raise RuntimeError("workspace: unsupported flag combination %s" % sorted(flags))


def about(**kwargs):
    """``about``: batch (True under mayapy and maya -batch), version ("2025")."""
    _enter("about")
    flags = _flags(kwargs, {"batch": "b", "version": "v"})
    if len(flags) != 1:
        raise RuntimeError("about: exactly one flag is needed")
    if flags.get("batch"):
        return STATE.mode != "interactive"
    if flags.get("version"):
        return STATE.version
    raise RuntimeError("about: flag must be True")


def playbackOptions(**kwargs):  # noqa: N802 - Maya's name
    """``playbackOptions``: query or edit ``minTime``/``maxTime`` (saved with the scene)."""
    _enter("playbackOptions")
    flags = _flags(kwargs, {"query": "q", "edit": "e", "minTime": "min", "maxTime": "max"})
    if flags.pop("query", False):
        if len(flags) != 1 or not any(flags.get(k) for k in ("minTime", "maxTime")):
            raise RuntimeError("playbackOptions: query one of minTime, maxTime")
        return STATE.playback[0 if flags.get("minTime") else 1]
    flags.pop("edit", None)
    if not flags:
        raise RuntimeError("playbackOptions: nothing to edit")
    if "minTime" in flags:
        STATE.playback[0] = float(flags["minTime"])
    if "maxTime" in flags:
        STATE.playback[1] = float(flags["maxTime"])
    STATE.modified = True
    return None


# -- nodes -----------------------------------------------------------------------------------
def ls(*args, **kwargs):
    """``ls``: all nodes, names/patterns, ``selection``, ``type`` (a name or a list)."""
    _enter("ls")
    flags = _flags(kwargs, {"selection": "sl", "type": "typ"})
    names = list(STATE.selection) if flags.get("selection") else list(STATE.nodes)
    if args:
        patterns = []
        for arg in args:
            patterns.extend([arg] if isinstance(arg, str) else list(arg))
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if "type" in flags:
        kinds = flags["type"]
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        names = [n for n in names if STATE.nodes[n] in kinds]
    return names


def nodeType(name, /):  # noqa: N802 - Maya's name
    _enter("nodeType")
    name = _short(name)
    if name not in STATE.nodes:
        raise RuntimeError("No object matches name: %s" % name)
    return STATE.nodes[name]


def select(*args, **kwargs):
    """``select``: names (replace), ``add``, ``deselect``, ``clear``."""
    _enter("select")
    flags = _flags(kwargs, {"clear": "cl", "add": "add", "deselect": "d", "replace": "r"})
    names = []
    for arg in args:
        names.extend([arg] if isinstance(arg, str) else list(arg))
    names = [_short(n) for n in names]
    for name in names:
        if name not in STATE.nodes:
            raise ValueError("No object matches name: %s" % name)
    if flags.get("clear"):
        del STATE.selection[:]
        return None
    if not names:
        raise RuntimeError("select: no objects given (use clear=True to clear the selection)")
    if flags.get("deselect"):
        STATE.selection[:] = [n for n in STATE.selection if n not in names]
    elif flags.get("add"):
        STATE.selection.extend(n for n in names if n not in STATE.selection)
    else:
        STATE.selection[:] = []
        STATE.selection.extend(n for n in names if n not in STATE.selection)
    return None


def createNode(node_type, /, **kwargs):  # noqa: N802 - Maya's name
    """``createNode``: ``name``, ``skipSelect``; selects the new node and dirties the scene."""
    _enter("createNode")
    flags = _flags(kwargs, {"name": "n", "skipSelect": "ss"})
    base = flags.get("name") or str(node_type)
    name = base
    if name in STATE.nodes or not flags.get("name"):
        number = 1
        stem = base.rstrip("0123456789") or base
        name = "%s%d" % (stem, number)
        while name in STATE.nodes:
            number += 1
            name = "%s%d" % (stem, number)
    STATE.nodes[name] = str(node_type)
    STATE.modified = True
    if not flags.get("skipSelect"):
        STATE.selection[:] = [name]
    return name


# -- UI: menus, shelves ------------------------------------------------------------------------
def _ui(name, kinds):
    short = _short(name)
    record = STATE.ui.get(short)
    if record is None or record["kind"] not in kinds:
        return None, short
    return record, short


def _children(parent, kinds=None):
    return [n for n, r in STATE.ui.items()
            if r["parent"] == parent and (kinds is None or r["kind"] in kinds)]


def _delete_tree(name):
    for child in _children(name):
        _delete_tree(child)
    del STATE.ui[name]
    if STATE.current_menu == name:
        STATE.current_menu = None
    if STATE.current_shelf == name:
        STATE.current_shelf = None


def _create(kind, name, parent, parent_kinds, record):
    if name is None:
        name = _unique(kind)
    name = _short(name)
    if name in STATE.ui:
        raise RuntimeError("Object's name '%s' is not unique." % name)
    parent_record, parent = _ui(parent, parent_kinds)
    if parent_record is None:
        raise RuntimeError("%s: parent '%s' not found." % (kind, parent))
    record.update(kind=kind, parent=parent)
    STATE.ui[name] = record
    return name


_MENU = {"exists": "ex", "parent": "p", "tearOff": "to", "label": "l", "deleteAllItems": "dai",
         "edit": "e", "query": "q", "itemArray": "ia", "allowOptionBoxes": "aob"}


def menu(name=None, /, **kwargs):
    """``menu``: create (``parent``, ``label``, ``tearOff``, ``allowOptionBoxes``); ``exists``;
    edit ``label``/``deleteAllItems``; query ``label``/``tearOff``/``itemArray``."""
    _enter("menu", ui=True)
    flags = _flags(kwargs, _MENU)
    if flags.get("exists"):
        return _ui(name, ("menu",))[0] is not None
    if flags.get("edit") or flags.get("query"):
        record, short = _ui(name, ("menu",))
        if record is None:
            raise RuntimeError("Object '%s' not found." % name)
        if flags.get("query"):
            if flags.get("itemArray"):
                return _children(short, ("menuItem",))
            for key in ("label", "tearOff"):
                if flags.get(key):
                    return record.get(key, "" if key == "label" else False)
            raise RuntimeError("menu: nothing to query")
        if flags.get("deleteAllItems"):
            for child in _children(short):
                _delete_tree(child)
        if "label" in flags:
            record["label"] = flags["label"]
        return _full(short)
    if "deleteAllItems" in flags or "itemArray" in flags:
        raise RuntimeError("menu: deleteAllItems/itemArray need edit/query")
    record = {"label": flags.get("label", ""), "tearOff": bool(flags.get("tearOff")),
              "allowOptionBoxes": bool(flags.get("allowOptionBoxes"))}
    short = _create("menu", name, flags.get("parent", "MayaWindow"), ("window",), record)
    if not record["label"]:
        record["label"] = short
    STATE.current_menu = short
    return _full(short)


def menuItem(name=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``menuItem``: ``label``, ``command``, ``annotation``, ``parent`` (default: the last menu created),
    ``divider``; ``exists``; query ``label``/``command``/``divider``."""
    _enter("menuItem", ui=True)
    flags = _flags(kwargs, {"label": "l", "command": "c", "parent": "p", "divider": "d",
                            "exists": "ex", "query": "q", "annotation": "ann"})
    if flags.get("exists"):
        return _ui(name, ("menuItem",))[0] is not None
    if flags.get("query"):
        record, _ = _ui(name, ("menuItem",))
        if record is None:
            raise RuntimeError("Object '%s' not found." % name)
        for key in ("label", "command", "divider"):
            if flags.get(key):
                return record.get(key)
        raise RuntimeError("menuItem: nothing to query")
    parent = flags.get("parent", STATE.current_menu)
    if parent is None:
        raise RuntimeError("menuItem: no menu to add to (give parent=)")
    record = {"label": flags.get("label", ""), "command": flags.get("command"),
              "divider": bool(flags.get("divider")), "annotation": flags.get("annotation")}
    return _full(_create("menuItem", name, parent, ("menu",), record))


def shelfLayout(name=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``shelfLayout``: create (``parent``, default the main ``ShelfLayout``); ``exists``;
    query ``childArray``."""
    _enter("shelfLayout", ui=True)
    flags = _flags(kwargs, {"exists": "ex", "parent": "p", "query": "q", "childArray": "ca"})
    if flags.get("exists"):
        return _ui(name, ("shelfLayout",))[0] is not None
    if flags.get("query"):
        record, short = _ui(name, ("shelfLayout",))
        if record is None:
            raise RuntimeError("Object '%s' not found." % name)
        if flags.get("childArray"):
            return _children(short) or None   # Maya answers None for an empty layout
        raise RuntimeError("shelfLayout: nothing to query")
    short = _create("shelfLayout", name, flags.get("parent", "ShelfLayout"), ("layout",), {})
    STATE.current_shelf = short
    return _full(short)


def shelfButton(name=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``shelfButton``: ``label``, ``command``, ``image``, ``imageOverlayLabel``, ``annotation``,
    ``sourceType``
    ("python"/"mel"), ``parent`` (default: the last shelf created); ``exists``."""
    _enter("shelfButton", ui=True)
    flags = _flags(kwargs, {"label": "l", "command": "c", "image": "i", "annotation": "ann",
                            "sourceType": "stp", "parent": "p", "exists": "ex",
                            "imageOverlayLabel": "iol"})
    if flags.get("exists"):
        return _ui(name, ("shelfButton",))[0] is not None
    if flags.get("sourceType", "mel") not in ("mel", "python"):
        raise RuntimeError("shelfButton: sourceType must be 'mel' or 'python'")
    parent = flags.get("parent", STATE.current_shelf)
    if parent is None:
        raise RuntimeError("shelfButton: no shelf to add to (give parent=)")
    record = dict((k, flags.get(k)) for k in ("label", "command", "image", "annotation",
                                              "imageOverlayLabel"))
    record["sourceType"] = flags.get("sourceType", "mel")
    return _full(_create("shelfButton", name, parent, ("shelfLayout",), record))


_DELETABLE = ("menu", "menuItem", "shelfLayout", "shelfButton")


def deleteUI(*args, **kwargs):  # noqa: N802 - Maya's name
    """``deleteUI``: menus, menu items, shelves, shelf buttons (with their children)."""
    _enter("deleteUI", ui=True)
    flags = _flags(kwargs, {"menu": "m", "menuItem": "mi", "layout": "lay", "control": "ctl"})
    kinds = []
    if flags.get("menu"):
        kinds.append("menu")
    if flags.get("menuItem"):
        kinds.append("menuItem")
    if flags.get("layout"):
        kinds.append("shelfLayout")
    if flags.get("control"):
        kinds.append("shelfButton")
    kinds = tuple(kinds) or _DELETABLE
    names = []
    for arg in args:
        names.extend([arg] if isinstance(arg, str) else list(arg))
    if not names:
        raise RuntimeError("deleteUI: no object given")
    for name in names:
        if _ui(name, kinds)[0] is None:
            raise RuntimeError("Object '%s' not found." % name)
    for name in names:
        _delete_tree(_short(name))


# -- deferred evaluation ------------------------------------------------------------------------
def evalDeferred(script=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``evalDeferred``: queue a string of Python or a callable for the next idle time;
    ``lowestPriority`` runs when nothing else is queued; ``evaluateNext`` jumps the queue;
    ``list`` returns the pending entries."""
    _enter("evalDeferred")
    flags = _flags(kwargs, {"lowestPriority": "lp", "lowPriority": "low",
                            "evaluateNext": "en", "list": "ls"})
    if flags.get("list"):
        with STATE.lock:
            pending = list(STATE.deferred) + list(STATE.deferred_lowest)
        return [repr(entry[0]) for entry in pending]
    if script is None:
        raise TypeError("evalDeferred takes one script or callable")
    entry = (_run_script, (script,), {})
    with STATE.lock:
        if flags.get("evaluateNext"):
            STATE.deferred.appendleft(entry)
        elif flags.get("lowestPriority"):
            STATE.deferred_lowest.append(entry)
        else:
            STATE.deferred.append(entry)
    return []


# -- plug-ins -------------------------------------------------------------------------------------
BINARY_EXTENSION = {"win32": ".mll", "darwin": ".bundle"}.get(sys.platform, ".so")
# Maya's own plug-ins ($MAYA_LOCATION/bin/plug-ins) are compiled; the fake's stand-ins for
# them are Python files here, found by the name without extension as Maya finds its own.
BUILT_IN_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plug-ins")


def _environ(name):
    """A variable as Maya sees it: what its start-up set (modules), else the process's."""
    return STATE.env.get(name, os.environ.get(name, ""))


def _find_plugin(name):
    """Where ``loadPlugin(name)`` finds a plug-in, as Autodesk's loadPlugin documents it: a
    path is taken as it is; a name without extension gets the platform's binary extension
    (.so, .mll, .bundle), so a Python plug-in is found only when named with ".py"; the
    folders are those of MAYA_PLUG_IN_PATH (the current directory, searched first by Maya,
    is not), then Maya's own plug-ins."""
    name = str(name)
    if os.path.isabs(name) or os.sep in name or "/" in name:
        return name if os.path.isfile(name) else None
    extension = os.path.splitext(name)[1]
    wanted = name if extension else name + BINARY_EXTENSION
    for folder in [p for p in _environ("MAYA_PLUG_IN_PATH").split(os.pathsep) if p]:
        path = os.path.join(folder, wanted)
        if os.path.isfile(path):
            if not path.endswith(".py"):
                raise RuntimeError("fake maya: %s is a compiled plug-in; the fake loads Python "
                                   "plug-ins only" % path)
            return path
    built_in = os.path.join(BUILT_IN_PLUGINS, name + ".py")
    return built_in if not extension and os.path.isfile(built_in) else None


def _plugin_name(name):
    return os.path.splitext(os.path.basename(str(name)))[0]


def loadPlugin(*args, **kwargs):  # noqa: N802 - Maya's name
    """``loadPlugin``: a file name found on ``MAYA_PLUG_IN_PATH`` (a Python plug-in with its
    ``.py``) or a path; runs its ``initializePlugin(MObject)``. Loading a loaded plug-in is a
    no-op (``quiet`` only silences Maya's warning about that); one not found raises
    RuntimeError, ``quiet`` or not."""
    _enter("loadPlugin")
    _flags(kwargs, {"quiet": "qt"})
    from maya.api import OpenMaya
    loaded = []
    for arg in args:
        short = _plugin_name(arg)
        if short in STATE.plugins:
            continue
        path = _find_plugin(arg)
        if path is None:
            raise RuntimeError("Plug-in, \"%s\", was not found on MAYA_PLUG_IN_PATH." % arg)
        import importlib.util
        spec = importlib.util.spec_from_file_location("_fake_maya_plugin_" + short, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "maya_useNewAPI"):
            raise RuntimeError("%s: not an API 2.0 plug-in (no maya_useNewAPI); the fake "
                               "supports API 2.0 plug-ins only" % path)
        obj = OpenMaya.MObject()
        obj._plugin = short
        STATE.plugins[short] = {"path": os.path.abspath(path), "module": module, "object": obj}
        try:
            module.initializePlugin(obj)
        except Exception as error:
            del STATE.plugins[short]
            raise RuntimeError("initializePlugin function failed (%s): %s" % (short, error))
        STATE.calls["plugin.load"] += 1
        loaded.append(short)
    return loaded


def unloadPlugin(name, /, **kwargs):  # noqa: N802 - Maya's name
    """``unloadPlugin``: runs ``uninitializePlugin``; commands it leaves are deregistered."""
    _enter("unloadPlugin")
    _flags(kwargs, {"force": "f"})
    short = _plugin_name(name)
    record = STATE.plugins.get(short)
    if record is None:
        raise RuntimeError("Plug-in, \"%s\", is not loaded." % name)
    try:
        record["module"].uninitializePlugin(record["object"])
    except Exception as error:
        raise RuntimeError("uninitializePlugin function failed (%s): %s" % (short, error))
    finally:
        for command, owner in list(STATE.commands.items()):
            if owner[0] == short:
                del STATE.commands[command]
    del STATE.plugins[short]
    STATE.calls["plugin.unload"] += 1
    return [short]


def pluginInfo(name=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``pluginInfo(name, query=True, loaded|path=True)``; ``pluginInfo(q=True, listPlugins=True)``."""
    _enter("pluginInfo")
    flags = _flags(kwargs, {"query": "q", "loaded": "l", "path": "p", "listPlugins": "ls"})
    if not flags.get("query"):
        raise RuntimeError("pluginInfo: only query mode is supported")
    if flags.get("listPlugins"):
        return list(STATE.plugins) or None
    if name is None:
        raise RuntimeError("pluginInfo: one plug-in name is needed")
    record = STATE.plugins.get(_plugin_name(name))
    if flags.get("loaded"):
        return record is not None
    if flags.get("path"):
        if record is None:
            raise RuntimeError("Plug-in, \"%s\", is not loaded." % name)
        return record["path"]
    raise RuntimeError("pluginInfo: nothing to query")


# -- the main progress bar ---------------------------------------------------------------------------
_PROGRESS = {"edit": "e", "query": "q", "beginProgress": "bp", "endProgress": "ep",
             "isInterruptable": "ii", "isCancelled": "ic", "status": "st", "maxValue": "max",
             "minValue": "min", "progress": "pr", "step": "s", "isMainProgressBar": "imp"}


def progressBar(name=None, /, **kwargs):  # noqa: N802 - Maya's name
    """``progressBar`` on Maya's main progress bar (``mel.eval('$t=$gMainProgressBar')``).
    Esc is simulated with ``maya._fake.press_escape()``."""
    _enter("progressBar", ui=True)
    flags = _flags(kwargs, _PROGRESS)
    if name is None or _short(name) != MAIN_PROGRESS_BAR:
        raise RuntimeError("progressBar: the fake has only the main progress bar, '%s'"
                           % MAIN_PROGRESS_BAR)
    bar = STATE.progress
    if flags.get("query"):
        if flags.get("isCancelled"):
            if STATE.escape_after is not None:
                STATE.escape_after -= 1
                if STATE.escape_after <= 0:
                    STATE.escape_after = None
                    _press_escape()
            return bar["cancelled"]
        for key, field in (("progress", "value"), ("status", "status"), ("maxValue", "max"),
                           ("minValue", "min"), ("isInterruptable", "interruptable")):
            if flags.get(key):
                return bar[field]
        if flags.get("isMainProgressBar"):
            return True
        raise RuntimeError("progressBar: nothing to query")
    if not flags.get("edit"):
        raise RuntimeError("progressBar: the main progress bar exists; use edit=True")
    if flags.get("beginProgress"):
        bar.update(active=True, cancelled=False, value=bar["min"])
    for key, field in (("isInterruptable", "interruptable"), ("status", "status"),
                       ("maxValue", "max"), ("minValue", "min")):
        if key in flags:
            bar[field] = flags[key]
    if "progress" in flags:
        bar["value"] = max(bar["min"], min(bar["max"], int(flags["progress"])))
    if "step" in flags:
        bar["value"] = max(bar["min"], min(bar["max"], bar["value"] + int(flags["step"])))
    if flags.get("endProgress"):
        bar.update(active=False, cancelled=False)
    return _full(MAIN_PROGRESS_BAR) if MAIN_PROGRESS_BAR in STATE.ui else MAIN_PROGRESS_BAR


def _press_escape():
    bar = STATE.progress
    if bar["active"] and bar["interruptable"]:
        bar["cancelled"] = True
    return bar["cancelled"]


# -- commands registered by plug-ins (MFnPlugin.registerCommand) -----------------------------------
def __getattr__(name):
    entry = STATE.commands.get(name)
    if entry is None:
        raise AttributeError("module 'maya.cmds' has no attribute '%s'" % name)
    plugin, creator = entry

    def command(*args, **flags):
        # Maya hands a plug-in command its flags as "-flag value" pairs (a list repeats it).
        from maya.api import OpenMaya
        _enter(name)
        arguments = list(args)
        for flag, value in flags.items():
            for one in (value if isinstance(value, (list, tuple)) else [value]):
                arguments += ["-" + flag, one]
        instance = creator()
        return instance.doIt(OpenMaya.MArgList(arguments))
    command.__name__ = name
    return command
