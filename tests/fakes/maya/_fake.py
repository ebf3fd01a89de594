"""TEST AID, not Maya API: inspect and drive the fake Maya session from tests.

``reset(mode=None)`` (a fresh session; mode defaults to ``$DCCFUTURES_FAKE_MAYA_MODE`` or
"interactive"), ``set_mode``/``mode``, ``scene_path``, ``is_modified``, ``nodes``,
``write_scene``/``read_scene`` (fake scene files), ``ui`` (a copy of the UI table),
``menu_items``, ``click`` (run a menu item's or shelf button's command), ``pending``,
``process_idle_events``, ``press_escape``/``press_escape_after``, ``progress_state``,
``set_main_thread``/``set_strict_threads``, ``calls`` (a Counter: ``cmds.<name>``,
``standalone.initialize``, ``scene.open``/``save``/``export``, ``plugin.load``/``unload``,
``utils.executeDeferred``, ``idle.run``, ``userSetup``, ...), ``start``/``quit`` (interactive
Maya's start-up and exit: modules, shelves, userSetup; exit callbacks, shelves saved) and
``callbacks`` (the MMessage callbacks registered)."""
import copy
import json
import threading

from maya._state import MODES, STATE

calls = STATE.calls


def reset(mode=None):
    """A fresh session (untitled empty scene, no UI but the main window, nothing queued, no
    plug-in, standalone not initialised, main thread = the interpreter's main thread)."""
    with STATE.lock:
        STATE.reset(mode)


def set_mode(mode):
    """Switch between "interactive" (GUI Maya), "batch" (``maya -batch``) and "library"
    (mayapy); keeps the scene, resets nothing else."""
    if mode not in MODES:
        raise ValueError("mode must be one of %s" % (MODES,))
    STATE.mode = mode


def mode():
    return STATE.mode


def scene_path():
    """The current scene's name ("" when untitled), without going through maya.cmds."""
    return STATE.scene


def is_modified():
    return STATE.modified


def nodes():
    return dict(STATE.nodes)


def write_scene(path, nodes=None, selection=()):
    """Write a fake scene file: ``nodes`` maps name -> node type."""
    data = {"fakeMayaScene": 1, "type": "mayaAscii",
            "nodes": [[n, t] for n, t in (nodes or {}).items()], "selection": list(selection)}
    with open(str(path), "w") as handle:
        json.dump(data, handle, indent=1)
    return str(path)


def read_scene(path):
    """A fake scene file's content: ``{"nodes": {name: type}, "selection": [...]}``."""
    with open(str(path)) as handle:
        data = json.load(handle)
    return {"nodes": dict((n, t) for n, t in data["nodes"]), "selection": data["selection"]}


def ui():
    return copy.deepcopy(dict(STATE.ui))


def menu_items(menu):
    """Labels of a menu's items, in order (dividers as "---")."""
    return [("---" if r.get("divider") else r.get("label")) for r in STATE.ui.values()
            if r["kind"] == "menuItem" and r["parent"] == menu.split("|")[-1]]


def click(name):
    """Run a menu item's or a shelf button's command as Maya would (a callable gets the
    checkbox state, False; a string runs as Python for menu items and python shelf
    buttons)."""
    from maya.cmds import _run_script
    record = STATE.ui[name.split("|")[-1]]
    command = record.get("command")
    if command is None:
        raise RuntimeError("%s has no command" % name)
    if record["kind"] == "shelfButton" and record.get("sourceType") != "python":
        raise RuntimeError("fake maya: MEL shelf commands are not supported")
    return _run_script(command, False) if callable(command) else _run_script(command)


def pending():
    """How many deferred entries wait (all priorities)."""
    with STATE.lock:
        return len(STATE.deferred) + len(STATE.deferred_lowest)


def process_idle_events():
    """Run the deferred queue on the calling thread (= ``maya.utils.processIdleEvents``)."""
    from maya.utils import processIdleEvents
    return processIdleEvents()


def press_escape():
    """The artist presses Esc: cancels an interruptable main progress bar in progress.
    Returns whether the bar is now cancelled."""
    from maya.cmds import _press_escape
    return _press_escape()


def press_escape_after(queries):
    """Press Esc when ``progressBar(q=True, isCancelled=True)`` has been asked ``queries``
    times (deterministic cancellation for tests)."""
    STATE.escape_after = int(queries)


def progress_state():
    return dict(STATE.progress)


def set_main_thread(thread=None):
    """Which thread counts as Maya's main thread (default: the interpreter's)."""
    STATE.main_thread = thread or threading.main_thread()


def set_strict_threads(strict):
    """When True (default), maya.cmds called off the main thread in interactive mode raises."""
    STATE.strict_threads = bool(strict)


def start():
    """Interactive Maya starts (after ``reset("interactive")``): the module files on
    MAYA_MODULE_PATH and in $MAYA_APP_DIR's module folders are applied (their variables are
    what the fake's commands read; PYTHONPATH and ``scripts`` go on ``sys.path``), the
    shelves of $MAYA_APP_DIR/<version>/prefs/shelves and MAYA_SHELF_PATH fill the shelf bar,
    and every ``userSetup.py`` on ``sys.path`` runs. Deferred work waits for
    ``process_idle_events()``. Needs MAYA_APP_DIR. Returns the modules loaded."""
    from maya import _startup, standalone
    if STATE.mode != "interactive":
        raise RuntimeError("fake maya: start() is interactive Maya's start-up")
    modules = _startup.load_modules()
    _startup.load_shelves()
    standalone.run_user_setups()
    return modules


def quit():  # noqa: A001 - the artist quits Maya
    """Interactive Maya quits: the ``kMayaExiting`` callbacks run, then every shelf in the
    shelf bar is written to a file (the one it was loaded from when writable, else the user's
    prefs). Plug-ins are not unloaded. Returns the shelf files written."""
    from maya import _startup
    from maya.api.OpenMaya import MSceneMessage
    for message, function, data in list(STATE.callbacks.values()):
        if message == MSceneMessage.kMayaExiting:
            function(data)
    return _startup.save_shelves()


def callbacks():
    """The MMessage callbacks still registered: ``{id: (message, function, clientData)}``."""
    return dict(STATE.callbacks)
