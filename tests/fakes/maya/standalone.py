"""Fake ``maya.standalone``: ``initialize``/``uninitialize`` for mayapy (library mode)."""
import os
import sys

from maya._state import STATE


def initialize(name="python"):
    """Start "Maya" in this mayapy process: maya.cmds becomes usable and every
    ``userSetup.py`` on ``sys.path`` runs, as in mayapy. Only in library mode (mayapy);
    a second call, or a call after ``uninitialize()``, raises RuntimeError (fake decision:
    a bootstrap that initialises twice is a bug)."""
    STATE.calls["standalone.initialize"] += 1
    if STATE.mode != "library":
        raise RuntimeError("maya.standalone.initialize: Maya is already running (%s mode); "
                           "only mayapy initialises standalone" % STATE.mode)
    if STATE.standalone_initialized:
        raise RuntimeError("maya.standalone.initialize: already initialized")
    if STATE.standalone_done:
        raise RuntimeError("maya.standalone.initialize: cannot re-initialize after "
                           "uninitialize()")
    STATE.standalone_initialized = True
    run_user_setups()


def uninitialize():
    """Shut "Maya" down; maya.cmds is unusable afterwards. A no-op when not initialised
    (so a ``finally`` after a failed initialize is harmless)."""
    STATE.calls["standalone.uninitialize"] += 1
    if STATE.standalone_initialized:
        STATE.standalone_initialized = False
        STATE.standalone_done = True


def run_user_setups():
    """Run each ``userSetup.py`` found on ``sys.path`` (once per file, in path order);
    an error is printed and start-up goes on, as Maya does."""
    import runpy
    import traceback
    seen = set()
    for folder in list(sys.path):
        path = os.path.join(folder or os.getcwd(), "userSetup.py")
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(path):
            continue
        seen.add(real)
        STATE.calls["userSetup"] += 1
        try:
            runpy.run_path(path, run_name="__main__")
        except Exception:
            sys.stderr.write("# Error: %s failed\n%s" % (path, traceback.format_exc()))
