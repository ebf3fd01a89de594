"""The Farm menu in Blender's top bar, after Help: the ``dcc: [blender]`` actions of
``shelves/*.yaml``, ours and the studio's (config ``shelves: {extra: [...]}``).

The actions are read when the add-on registers (``dccfutures.shelves.menu_entries``), as the
Maya plug-in reads them when it loads: Blender draws a menu many times a second, so the draw
only walks that list. Every item runs its action through ``dccfutures.shelves.run``: an
action with ``dialog: true`` first asks with Blender's own properties dialog
(``render_frames``: Blender ships no Qt), the others run at once. Errors are reported in
Blender's status bar and Info editor, one line, never a traceback in the artist's face.
"""
import traceback

import bpy
from bpy.props import StringProperty

PARENT = "TOPBAR_MT_editor_menus"   # File Edit Render Window Help, in 3.4 to 4.5
# Actions whose dialog is an operator of their own; other dialog actions use the generic one.
DIALOG_OPERATORS = {"blender.render_frames": "dccfutures.render_frames"}
SUBMIT_OPERATOR = "dccfutures.submit_action"
RUN_OPERATOR = "dccfutures.run_action"

_entries = []      # the menu's actions (dccfutures.shelves.Action), read by register()
_problem = None    # why they could not be read; the menu shows it


# -- running an action ----------------------------------------------------------------------

def run_action(operator, action_id, values=None):
    """``dccfutures.shelves.run(action_id, dcc="blender", values=values)``, its outcome
    reported through ``operator``; the operator's return value."""
    try:
        from dccfutures import shelves
        result = shelves.run(action_id, dcc="blender", values=values)
    except Exception as error:  # reported, not raised: Blender would show a traceback
        operator.report({"ERROR"}, "%s: %s" % (_label(action_id), describe(error)))
        return {"CANCELLED"}
    summary = _jobs_summary(result)
    if summary:
        operator.report({"INFO"}, "%s: %s" % (_label(action_id), summary))
    return {"FINISHED"}


def describe(error):
    """One line for the artist. Errors we name (bad input, a config or farm error, a file
    that cannot be written) read as they are; anything else gets its type, and its
    traceback goes to the system console for the TD."""
    from_us = isinstance(error, (ValueError, LookupError, OSError, ImportError))
    try:
        from dccfutures.errors import DccFuturesError
        from_us = from_us or isinstance(error, DccFuturesError)
    except ImportError:
        pass
    if from_us:
        return str(error) or type(error).__name__
    traceback.print_exception(type(error), error, error.__traceback__)
    return "%s: %s (traceback in the system console)" % (type(error).__name__, error)


def _jobs_summary(result):
    futures = [item for item in result if hasattr(item, "job_id")] \
        if isinstance(result, (list, tuple)) else []
    jobs = sorted({str(future.job_id) for future in futures})
    if not jobs:
        return None
    items = len({(future.job_id, future.work_id) for future in futures})
    return "submitted job%s %s, %d work item%s" % (
        "" if len(jobs) == 1 else "s", ", ".join(jobs), items, "" if items == 1 else "s")


def _label(action_id):
    for action in _entries:
        if action.id == action_id:
            return action.label
    return action_id


def find_entry(action_id):
    """The menu's action of that id, or None."""
    return next((action for action in _entries if action.id == action_id), None)


class ActionOperator:
    """What an operator that runs one Farm menu action has: the action's id, and the
    action's tooltip as its own."""

    action_id: StringProperty(name="Action", description="The action's id in shelves/*.yaml",
                              options={"SKIP_SAVE"})

    @classmethod
    def description(cls, context, properties):
        action = find_entry(properties.action_id)
        return (action.tooltip or action.label) if action else cls.__doc__


class DCCFUTURES_OT_run_action(ActionOperator, bpy.types.Operator):
    """Run a dccfutures Farm menu action"""

    bl_idname = RUN_OPERATOR
    bl_label = "Run Farm Action"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        return run_action(self, self.action_id)


# -- the menu -------------------------------------------------------------------------------

class DCCFUTURES_MT_farm(bpy.types.Menu):
    """The Farm menu: dccfutures' Blender actions and the studio's"""

    bl_idname = "DCCFUTURES_MT_farm"
    bl_label = "Farm"

    def draw(self, context):
        layout = self.layout
        if _problem:
            layout.label(text=_problem, icon="ERROR")
        for action in _entries:
            if action.divider_before:
                layout.separator()
            name, generic = operator_for(action)
            item = layout.operator(name, text=action.label, icon=icon_for(action))
            if generic:
                item.action_id = action.id


def operator_for(action):
    """The operator a menu item calls, and whether it is a generic one taking ``action_id``."""
    if action.id in DIALOG_OPERATORS:
        return DIALOG_OPERATORS[action.id], False
    return (SUBMIT_OPERATOR if action.dialog else RUN_OPERATOR), True


def icon_for(action):
    """The action's icon when it names one of Blender's own icons (the YAML's icon is a file
    name for Maya and Houdini), else none."""
    icons = bpy.types.UILayout.bl_rna.functions["operator"].parameters["icon"].enum_items
    return action.icon if action.icon and action.icon in icons else "NONE"


def draw_farm_menu(self, context):
    self.layout.menu(DCCFUTURES_MT_farm.bl_idname)


draw_farm_menu.dccfutures_farm_menu = True   # found again after a reload of this module


def load_entries():
    """(the Blender menu's actions, a problem to show or None). A config or studio file that
    cannot be read leaves our own actions in the menu, under the problem."""
    try:
        from dccfutures import config, shelves
    except ImportError as error:
        return [], ("dccfutures is not importable in Blender's Python (%s): run "
                    "`dccfutures blender install`" % error)
    try:
        return shelves.menu_entries("blender"), None
    except Exception as error:  # a broken studio file must not stop the add-on
        problem = "Only dccfutures' own farm actions: %s" % describe(error)
    try:
        return shelves.menu_entries("blender", config.Config()), problem
    except Exception as error:
        return [], "The farm actions could not be read: %s" % describe(error)


# -- registration ---------------------------------------------------------------------------

CLASSES = (DCCFUTURES_OT_run_action, DCCFUTURES_MT_farm)


def register_classes(classes):
    """Register ``classes``, replacing a class of the same name still registered (by this
    module before a reload, which forgot it)."""
    for cls in classes:
        stale = getattr(bpy.types, cls.__name__, None)
        if stale is not None and getattr(stale, "is_registered", False):
            bpy.utils.unregister_class(stale)
        bpy.utils.register_class(cls)


def unregister_classes(classes):
    for cls in reversed(classes):
        current = getattr(bpy.types, cls.__name__, None)
        if current is not None and getattr(current, "is_registered", False):
            bpy.utils.unregister_class(current)


def _remove_draw_functions(parent):
    """Take every Farm menu entry out of ``parent``: ours, and one a reloaded copy of this
    module added (another function object)."""
    listed = getattr(parent, "_dyn_ui_initialize", None)
    functions = list(listed()) if listed else [draw_farm_menu]
    for function in functions:
        if getattr(function, "dccfutures_farm_menu", False):
            parent.remove(function)


def register():
    global _entries, _problem
    _entries, _problem = load_entries()
    if _problem:
        print("dccfutures: %s" % _problem)
    register_classes(CLASSES)
    parent = getattr(bpy.types, PARENT)
    _remove_draw_functions(parent)
    parent.append(draw_farm_menu)


def unregister():
    global _entries, _problem
    parent = getattr(bpy.types, PARENT, None)
    if parent is not None:
        _remove_draw_functions(parent)
    unregister_classes(CLASSES)
    _entries, _problem = [], None
