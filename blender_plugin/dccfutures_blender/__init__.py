"""dccfutures for Blender: a Farm menu in the top bar, Render Frames on Farm, and the Farm
Monitor panel.

A legacy add-on (``bl_info``; Blender 3.4 to 4.5 load it from ``<scripts>/addons/``). It
imports ``dccfutures`` only when it draws a menu or runs an action, from Blender's Python
(``dccfutures blender install`` puts the library, cloudpickle and PyYAML in
``<scripts>/modules/``), so a missing library is a message in the Farm menu, never a failed
add-on.

``register()`` is idempotent: it first takes out what an earlier ``register()`` (of this
module, or of a copy reloaded since) left, and ``unregister()`` removes every class and menu
entry the add-on added (the monitor removes its own handlers and timers).
"""

bl_info = {
    "name": "dccfutures",
    "author": "dccfutures",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Top bar > Farm",
    "description": "Render frames and run farm actions on a dccfutures farm (local or Qube)",
    "category": "Render",
}

if "menu" in locals():  # Reload Scripts: take in edits of the modules too
    import importlib
    menu = importlib.reload(menu)  # noqa: F821 - defined by the first import below
    render_frames = importlib.reload(render_frames)  # noqa: F821
    monitor = importlib.reload(monitor)  # noqa: F821
else:
    from . import menu, monitor, render_frames

_registered = False


def register():
    global _registered
    if _registered:
        unregister()
    render_frames.register()
    menu.register()
    monitor.register()
    _registered = True


def unregister():
    global _registered
    monitor.unregister()
    menu.unregister()
    render_frames.unregister()
    _registered = False
