"""Render Frames on Farm, and the same dialog for any ``dialog: true`` Blender action.

Blender ships no Qt, so the submit dialog is Blender's own properties dialog
(``invoke_props_dialog``) with the fields of the Qt one: farm, job name, frames, chunk size,
cpus, groups, priority, clone environment, temp copy of the scene. It opens with the scene's
frame range and, for the other fields, the values last submitted with that action, kept in
the store the Qt dialogs of Maya and Houdini use (``dccfutures.ui.state``: per user, per
action id). The frame range always starts as the scene's: a range typed for another shot
would render the wrong frames.

    bpy.ops.dccfutures.render_frames("INVOKE_DEFAULT")             # the dialog
    bpy.ops.dccfutures.render_frames(frames="1-48", chunk_size=8)   # a script: no dialog

Submitting runs the action (``dccfutures.shelves.run(id, values=...)``); Render Frames'
callable, ``dccfutures.actions.blender.render_frames``, sends one job with one work item per
chunk. Bad input (a frame range that does not parse, a chunk size of 0, an unknown farm) is
reported in one line and nothing is submitted. Without the dialog (``EXEC_DEFAULT``), a field
not given takes the scene's range or the config's default, never a remembered value.
"""
import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from .menu import (ActionOperator, find_entry, register_classes, run_action,
                   unregister_classes)

DEFAULT_CHUNK = 10
DEFAULT_PRIORITY = 9999     # the Qt dialog's default when the config names none
# The dialog's values (the Qt dialog's names) and the property each is shown in: operators
# have a read-only ``name`` of their own, so the job name is ``job_name``.
FIELDS = (("farm", "farm"), ("name", "job_name"), ("frames", "frames"),
          ("chunk_size", "chunk_size"), ("cpus", "cpus"), ("groups", "groups"),
          ("priority", "priority"), ("clone_environ", "clone_environ"),
          ("create_tempfile", "create_tempfile"))


def _farm_names(self, context, edit_text):
    try:
        from dccfutures import farms
    except ImportError:
        return []
    return sorted(farms.FARMS)


class SubmitFields:
    """The dialog's properties, defaults, checks and layout, shared by its operators."""

    farm: StringProperty(name="Farm", description="The farm to send the job to (empty: the "
                         "config's farm)", search=_farm_names, options={"SKIP_SAVE"})
    job_name: StringProperty(name="Job Name", description="The job's name on the farm "
                             "(empty: the file, scene and frames)", options={"SKIP_SAVE"})
    frames: StringProperty(name="Frames", description="Frame range: N, A-B or A-BxS, "
                           "comma-separated (empty: the scene's frame range)",
                           options={"SKIP_SAVE"})
    chunk_size: IntProperty(name="Chunk Size", description="Frames per work item",
                            default=DEFAULT_CHUNK, soft_min=1, options={"SKIP_SAVE"})
    cpus: IntProperty(name="CPUs", description="CPUs per work item: Cycles renders with this "
                      "many threads (0: the farm's default)", default=0, soft_min=0,
                      options={"SKIP_SAVE"})
    groups: StringProperty(name="Groups", description="Farm groups, comma-separated",
                           options={"SKIP_SAVE"})
    priority: IntProperty(name="Priority", default=DEFAULT_PRIORITY, soft_min=0,
                          options={"SKIP_SAVE"})
    clone_environ: BoolProperty(name="Clone Environment", description="Send this session's "
                                "environment to the farm", default=True, options={"SKIP_SAVE"})
    create_tempfile: BoolProperty(name="Temp Copy of Scene", description="Send a copy of the "
                                  "scene as it is now, unsaved edits included", default=True,
                                  options={"SKIP_SAVE"})
    from_dialog: BoolProperty(options={"HIDDEN", "SKIP_SAVE"})

    def target_action(self):
        raise NotImplementedError

    # -- values ------------------------------------------------------------------------

    def invoke(self, context, event):
        start, problem = dialog_values(self.target_action(), context)
        for field, prop in FIELDS:
            if not self.properties.is_property_set(prop):   # a caller's value stays
                try:
                    setattr(self, prop, start[field])
                except (TypeError, ValueError, OverflowError):  # e.g. a priority past 2**31
                    pass
        if problem:
            self.report({"WARNING"}, problem)
        self.from_dialog = True
        kwargs = {"width": 440}
        if bpy.app.version >= (4, 1, 0):
            kwargs.update(title=self.title(), confirm_text="Submit")
        return context.window_manager.invoke_props_dialog(self, **kwargs)

    def values(self, context):
        """The dialog's values by the Qt dialog's names; a property not set (a script's
        call) takes the scene's range or the config's default."""
        values = {field: getattr(self, prop) for field, prop in FIELDS
                  if self.properties.is_property_set(prop)}
        for key in ("frames", "farm", "name"):
            if not values.get(key, "").strip():
                values.pop(key, None)
        if len(values) < len(FIELDS):   # the config is read only when needed: draw() runs often
            initial, _ = initial_values(context)
            values = dict(initial, **values)
        values["frames"], values["farm"], values["name"] = (
            values["frames"].strip(), values["farm"].strip(), values["name"].strip())
        values["groups"] = _groups(values["groups"])
        return values

    def execute(self, context):
        values = self.values(context)
        problem = problems(values)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        if self.from_dialog:
            _remember(self, self.target_action(), values)
        return run_action(self, self.target_action(), values)

    # -- layout ------------------------------------------------------------------------

    def title(self):
        action = find_entry(self.target_action())
        return action.label if action else self.bl_label

    def draw(self, context):
        layout = self.layout
        action = find_entry(self.target_action())
        if action and bpy.app.version < (4, 1, 0) and action.label != self.bl_label:
            layout.label(text=action.label)   # the title says "Submit to Farm" before 4.1
        column = layout.column()
        column.use_property_split = True
        column.use_property_decorate = False
        for _, prop in FIELDS:
            column.prop(self, prop)
        values = self.values(context)
        problem = problems(values)
        row = layout.row()
        if problem:
            row.alert = True
            row.label(text=problem, icon="ERROR")
        else:
            row.label(text=_work_summary(values), icon="INFO")


def initial_values(context):
    """The fields' defaults: the config's farm and job defaults, the scene's frame range;
    and why the config could not be read (None when it could)."""
    scene = context.scene
    values = {"farm": "local", "name": "", "frames": "%d-%d" % (scene.frame_start,
                                                              scene.frame_end),
              "chunk_size": DEFAULT_CHUNK, "cpus": 0, "groups": "",
              "priority": DEFAULT_PRIORITY, "clone_environ": True, "create_tempfile": True}
    try:
        from dccfutures import config as config_module
        from dccfutures.actions.blender import scene_frame_range
    except ImportError as error:
        return values, "dccfutures is not importable in Blender's Python (%s)" % error
    values["frames"] = scene_frame_range(scene)
    try:
        config = config_module.load()
    except Exception as error:   # a broken config must not stop the artist: say so
        return values, "the dccfutures config could not be read, defaults are used: %s" % error
    groups = config.defaults.get("groups") or ""
    values.update(farm=config.farm, cpus=int(config.defaults.get("cpus") or 0),
                  groups=groups if isinstance(groups, str) else ",".join(map(str, groups)),
                  priority=int(config.defaults.get("priority", DEFAULT_PRIORITY)))
    return values, None


def dialog_values(action_id, context):
    """What the dialog of ``action_id`` starts with: the values last submitted with it over
    the defaults (:func:`initial_values`), but always the scene's frame range; and a problem
    to show (None). A remembered value of another type (the store is shared with other
    versions and the Qt dialogs) is skipped."""
    values, problem = initial_values(context)
    for field, value in _remembered(action_id).items():
        if field == "frames" or field not in values:   # the scene says which frames
            continue
        if field == "groups" and isinstance(value, (list, tuple)):
            value = ",".join(str(item) for item in value)
        default = values[field]
        if isinstance(value, type(default)) and isinstance(value, bool) == isinstance(default,
                                                                                       bool):
            values[field] = value
    return values, problem


def problems(values):
    """What is wrong with the values, in one line; None when they can be submitted."""
    try:
        from dccfutures import farms, frames
    except ImportError as error:
        return "dccfutures is not importable in Blender's Python (%s): run `dccfutures " \
               "blender install`" % error
    if values["chunk_size"] < 1:
        return "Chunk size must be 1 or more, got %d" % values["chunk_size"]
    try:
        frames.split(values["frames"])
    except frames.FrameRangeError as error:
        return "Frames: %s" % error
    if values["farm"] not in farms.FARMS:
        return "Unknown farm %r (expected one of: %s)" % (values["farm"],
                                                          ", ".join(sorted(farms.FARMS)))
    if values["cpus"] < 0:
        return "CPUs must be 0 (the farm's default) or more, got %d" % values["cpus"]
    if values["priority"] < 0:
        return "Priority must be 0 or more, got %d" % values["priority"]
    return None


def _work_summary(values):
    from dccfutures import frames
    count = frames.count(values["frames"])
    items = -(-count // values["chunk_size"])
    return "%d frame%s in %d work item%s" % (count, "" if count == 1 else "s",
                                              items, "" if items == 1 else "s")


def _groups(text):
    return ",".join(part.strip() for part in text.split(",") if part.strip())


def _remembered(action_id):
    try:
        from dccfutures.ui import state
    except ImportError:
        return {}
    return dict(state.load_state().get(action_id, {}))


def _remember(operator, action_id, values):
    try:
        from dccfutures.ui import state
        state.save_state(action_id, values)
    except (ImportError, OSError) as error:   # a read-only home must not lose the submission
        operator.report({"WARNING"}, "could not remember the dialog's values: %s" % error)


# -- the operators --------------------------------------------------------------------------

class DCCFUTURES_OT_render_frames(SubmitFields, bpy.types.Operator):
    """Render this scene's frames on the farm in chunks, with its own render settings and
    output path"""

    bl_idname = "dccfutures.render_frames"
    bl_label = "Render Frames on Farm"
    ACTION = "blender.render_frames"

    def target_action(self):
        return self.ACTION


class DCCFUTURES_OT_submit_action(ActionOperator, SubmitFields, bpy.types.Operator):
    """Ask with the submit dialog, then run a dccfutures Farm menu action"""

    bl_idname = "dccfutures.submit_action"
    bl_label = "Submit to Farm"
    bl_options = {"INTERNAL"}

    def target_action(self):
        return self.action_id


CLASSES = (DCCFUTURES_OT_render_frames, DCCFUTURES_OT_submit_action)


def register():
    register_classes(CLASSES)


def unregister():
    unregister_classes(CLASSES)
