"""The Blender add-on (blender_plugin/dccfutures_blender) against the real application: PyPI's
bpy 4.2 in this process (register/unregister, the Farm menu, Render Frames on Farm submitting
real renders to a real local farm of bpy workers), and Debian's blender 3.4 (the add-on loads
with `blender -b --addons`; under Xvfb, screenshots of its real UI)."""
import os
import struct
import sys
import threading
import types

import pytest

from tests import real_blender
from tests.conftest import ROOT, wait_until

try:
    import bpy
except ImportError:  # bpy 4.2 wheels exist for CPython 3.11 only
    bpy = None
else:
    from tests.test_blender import CONFIG, blender_session, build_scene  # noqa: F401 (fixtures)

needs_bpy = pytest.mark.skipif(bpy is None, reason="needs PyPI's bpy 4.2 (Python 3.11 only): "
                               "pip install 'bpy==4.2.*' (make test installs it)")
ADDONS = os.path.join(ROOT, "blender_plugin")
ADDON = os.path.join(ADDONS, "dccfutures_blender")
STUDIO = """\
version: 1
actions:
  - id: blender.studio_publish
    label: Studio Publish
    icon: EXPORT
    dcc: [blender]
    callable: "tests.shelf_actions:record"
    dialog: true
    options: {asset: hero}
  - id: blender.studio_note
    label: Studio Note
    icon: NOT_AN_ICON
    dcc: [blender]
    callable: "tests.shelf_actions:record"
    divider_before: true
"""


@pytest.fixture
def addon(monkeypatch):
    """The add-on module, imported from blender_plugin/ as Blender imports it; unregistered
    afterwards (bpy's state is this process's)."""
    monkeypatch.syspath_prepend(ADDONS)
    import dccfutures_blender
    yield dccfutures_blender
    dccfutures_blender.unregister()


@pytest.fixture
def ui_state(tmp_path, monkeypatch):
    """A private file of remembered dialog values."""
    from dccfutures.ui import state
    path = str(tmp_path / "state" / "dialog.json")
    monkeypatch.setenv(state.STATE_VAR, path)
    return path


def blender_state():
    """What an add-on can leave in Blender: classes, operators, top bar entries, handlers,
    and threads (the monitor starts its thread in the UI only, not in background bpy)."""
    return {
        "classes": sorted(name for name in dir(bpy.types) if name.startswith("DCCFUTURES_")),
        "operators": sorted(dir(bpy.ops.dccfutures)),
        "top bar": [getattr(f, "__qualname__", f) for f in
                    bpy.types.TOPBAR_MT_editor_menus._dyn_ui_initialize()],
        "handlers": {name: len(getattr(bpy.app.handlers, name))
                     for name in dir(bpy.app.handlers)
                     if isinstance(getattr(bpy.app.handlers, name), list)},
        "threads": sorted(t.name for t in threading.enumerate() if "dccfutures" in t.name
                          and "blender" in t.name),
    }


class RecordingLayout:
    """Blender's UILayout as a menu's draw() uses it, recording what it is asked to show: in
    background Blender (bpy) no window exists, so no real layout can be made. The real
    drawing is in the screenshots test."""

    def __init__(self):
        self.items = []

    def operator(self, name, text="", icon="NONE"):
        getattr(bpy.ops, name.split(".")[0]).__getattr__(name.split(".")[1]).get_rna_type()
        properties = types.SimpleNamespace()
        self.items.append(("operator", name, text, icon, properties))
        return properties

    def separator(self):
        self.items.append(("separator",))

    def label(self, text="", icon="NONE"):
        self.items.append(("label", text, icon))

    def menu(self, name, text="", icon="NONE"):
        self.items.append(("menu", name))


def draw_farm_menu():
    layout = RecordingLayout()
    bpy.types.DCCFUTURES_MT_farm.draw(types.SimpleNamespace(layout=layout), bpy.context)
    return layout.items


def summary(items):
    return [(item[1], item[2], item[3], vars(item[4])) if item[0] == "operator" else item
            for item in items]


# -- registration -------------------------------------------------------------------------

@needs_bpy
def test_registers_twice_and_unregisters_without_leftovers(addon, farm_home):
    before = blender_state()
    assert before["classes"] == [] and before["operators"] == []
    addon.register()
    once = blender_state()
    addon.register()
    assert blender_state() == once                       # idempotent
    assert {"DCCFUTURES_MT_farm", "DCCFUTURES_OT_render_frames", "DCCFUTURES_OT_run_action",
            "DCCFUTURES_OT_submit_action"} <= set(once["classes"])
    assert "render_frames" in once["operators"]
    assert once["top bar"][-1] == "draw_farm_menu" and once["top bar"].count("draw_farm_menu") == 1
    addon.unregister()
    wait_until(lambda: blender_state() == before, timeout=10, what="nothing of the add-on left")
    addon.register()                                     # and back again
    assert blender_state() == once
    addon.unregister()


@needs_bpy
def test_a_reloaded_copy_replaces_what_the_old_one_registered(addon, farm_home):
    """Reload Scripts (F3) re-imports the add-on: the new module must not add a second Farm
    menu or fail on classes the old copy still has registered."""
    import importlib
    addon.register()
    once = blender_state()
    reloaded = importlib.reload(addon)   # the same module object, its state forgotten
    reloaded.register()
    assert blender_state() == once


# -- the Farm menu ------------------------------------------------------------------------

@needs_bpy
def test_the_farm_menu_lists_the_blender_actions_in_the_top_bar(addon, farm_home):
    addon.register()
    top_bar = RecordingLayout()
    bpy.types.TOPBAR_MT_editor_menus._dyn_ui_initialize()[-1](
        types.SimpleNamespace(layout=top_bar), bpy.context)
    assert top_bar.items == [("menu", "DCCFUTURES_MT_farm")]
    assert bpy.types.DCCFUTURES_MT_farm.bl_label == "Farm"
    assert summary(draw_farm_menu()) == [
        ("dccfutures.render_frames", "Render Frames on Farm", "RENDER_ANIMATION", {}),
        ("dccfutures.run_action", "Farm Monitor", "SORTTIME",
         {"action_id": "blender.farm_monitor"}),
        ("separator",),
        ("dccfutures.run_action", "Start Local Farm", "NETWORK_DRIVE",
         {"action_id": "blender.start_local_farm"})]


@needs_bpy
def test_the_studios_blender_actions_join_the_menu_and_run(addon, farm_home, farm_config,
                                                           tmp_path, ui_state):
    from tests import shelf_actions
    del shelf_actions.CALLS[:]
    studio = tmp_path / "studio.yaml"
    studio.write_text(STUDIO)
    farm_config(extra="shelves:\n  extra: [%s]\n" % studio)
    addon.register()
    assert summary(draw_farm_menu())[-3:] == [
        ("dccfutures.submit_action", "Studio Publish", "EXPORT",   # dialog: true
         {"action_id": "blender.studio_publish"}),
        ("separator",),
        ("dccfutures.run_action", "Studio Note", "NONE",           # not one of Blender's icons
         {"action_id": "blender.studio_note"})]
    assert bpy.ops.dccfutures.run_action(action_id="blender.studio_note") == {"FINISHED"}
    assert shelf_actions.CALLS == [{}]
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 3, 8
    # The generic dialog: its fields go to the callable, over the action's options.
    assert bpy.ops.dccfutures.submit_action(action_id="blender.studio_publish", chunk_size=2,
                                            job_name="publish") == {"FINISHED"}
    assert shelf_actions.CALLS[1] == {
        "asset": "hero", "farm": "local", "name": "publish", "frames": "3-8", "chunk_size": 2,
        "cpus": 0, "groups": "", "priority": 9999, "clone_environ": True,
        "create_tempfile": True}


@needs_bpy
def test_a_broken_studio_file_leaves_our_actions_and_says_why(addon, farm_home, farm_config,
                                                              tmp_path):
    studio = tmp_path / "studio.yaml"
    studio.write_text(STUDIO.replace("label: Studio Note", "labl: Studio Note"))
    farm_config(extra="shelves:\n  extra: [%s]\n" % studio)
    addon.register()
    items = draw_farm_menu()
    assert items[0][0] == "label" and items[0][2] == "ERROR"
    assert "studio.yaml" in items[0][1] and "did you mean 'label'" in items[0][1]
    assert [item[2] for item in items[1:] if item[0] == "operator"] == [
        "Render Frames on Farm", "Farm Monitor", "Start Local Farm"]


# -- Render Frames on Farm ----------------------------------------------------------------

def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def the_job():
    from dccfutures import config, farms
    farm = farms.get_farm("local", config.load())
    jobs = farm.jobs()
    assert len(jobs) == 1, jobs
    return farm.job(jobs[0].id)     # with its work items


def results(job_id):
    from dccfutures import Executor
    ex = Executor()
    try:
        return [future.result(90) for future in ex.attach(job_id)]
    finally:
        ex.shutdown(wait=False)


@needs_bpy
def test_render_frames_renders_real_pngs_where_the_scene_says(addon, blender_session,
                                                              ui_state, capfd):
    addon.register()
    scene = bpy.context.scene
    expected = [scene.render.frame_path(frame=frame) for frame in (1, 2)]
    assert bpy.ops.dccfutures.render_frames("EXEC_DEFAULT", chunk_size=1) == {"FINISHED"}
    job = the_job()
    assert "submitted job %s, 2 work items" % job.id in capfd.readouterr().out
    assert job.prototype == "dccfutures_bpy" and len(job.work) == 2   # one item per chunk
    assert results(job.id) == [[expected[0]], [expected[1]]]         # the files each wrote
    assert [png_size(path) for path in expected] == [(32, 24), (32, 24)]
    assert bpy.data.is_dirty and bpy.data.filepath == blender_session   # session untouched
    folder = os.path.dirname(blender_session)
    wait_until(lambda: not [n for n in os.listdir(folder) if ".dccfutures-" in n],
               what="the scene copy removed")
    assert not os.path.exists(ui_state)     # a script's call is not the artist's dialog


@needs_bpy
def test_the_dialog_starts_from_the_scene_range_and_the_last_values(addon, blender_session,
                                                                    ui_state):
    """Background Blender has no window: ``INVOKE_DEFAULT`` skips invoke() and its dialog
    (the screenshots test opens it in the real UI). Here: what the dialog starts with, and
    that submitting from it remembers the values."""
    from dccfutures.ui import state
    state.save_state("blender.render_frames", {
        "frames": "7-9", "chunk_size": 1, "name": "remembered", "priority": 42,
        "cpus": "not a number", "groups": ["a", "b"]})   # a stale value is skipped
    addon.register()
    render_frames = sys.modules["dccfutures_blender.render_frames"]
    start, problem = render_frames.dialog_values("blender.render_frames", bpy.context)
    assert problem is None
    assert start == {"farm": "local", "name": "remembered", "frames": "1-2", "chunk_size": 1,
                     "cpus": 0, "groups": "a,b", "priority": 42, "clone_environ": True,
                     "create_tempfile": True}                  # the scene's frames, 1-2
    given = dict(start, job_name=start.pop("name"), priority=43)
    assert bpy.ops.dccfutures.render_frames(from_dialog=True, **given) == {"FINISHED"}
    job = the_job()
    assert (job.name, job.priority, len(job.work)) == ("remembered", 43, 2)
    assert [len(files) for files in results(job.id)] == [1, 1]
    assert state.load_state()["blender.render_frames"]["priority"] == 43


@needs_bpy
@pytest.mark.parametrize("given, message", [
    ({"frames": "abc"}, "Frames: bad frame range token 'abc'"),
    ({"chunk_size": 0}, "Chunk size must be 1 or more, got 0"),
    ({"farm": "nope"},
     "Unknown farm 'nope' (expected one of: deadline, local, opencue, openjd, qube)"),
    ({"priority": -1}, "Priority must be 0 or more"),
])
def test_bad_input_is_reported_and_nothing_is_submitted(addon, farm_home, ui_state, given,
                                                       message):
    addon.register()
    with pytest.raises(RuntimeError) as caught:   # how bpy.ops hands a script an ERROR report
        bpy.ops.dccfutures.render_frames("EXEC_DEFAULT", **given)
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert the_jobs_count() == 0


def the_jobs_count():
    from dccfutures import config, farms
    return len(farms.get_farm("local", config.load()).jobs())


@needs_bpy
def test_a_scene_without_camera_is_refused_before_submitting(addon, blender_session,
                                                             ui_state):
    addon.register()
    bpy.context.scene.camera = None
    with pytest.raises(RuntimeError, match="has no active camera"):
        bpy.ops.dccfutures.render_frames("EXEC_DEFAULT")
    assert the_jobs_count() == 0


# -- Debian's blender 3.4 -----------------------------------------------------------------

def scripts_with_addon(tmp_path):
    """A Blender user scripts folder with dccfutures in modules/ and the add-on in addons/."""
    scripts = real_blender.scripts_folder(str(tmp_path / "scripts"))
    os.makedirs(os.path.join(scripts, "addons"), exist_ok=True)
    os.symlink(ADDON, os.path.join(scripts, "addons", "dccfutures_blender"))
    return scripts


LOADED = """
import bpy, addon_utils
from dccfutures_blender import menu
print("ENABLED", addon_utils.check("dccfutures_blender"))
print("MENU", bpy.types.DCCFUTURES_MT_farm.bl_label, "|".join(a.label for a in menu._entries))
print("OPERATORS", sorted(dir(bpy.ops.dccfutures)))
print("TOP BAR", [f.__name__ for f in bpy.types.TOPBAR_MT_editor_menus._dyn_ui_initialize()])
addon_utils.disable("dccfutures_blender")
print("AFTER", sorted(n for n in dir(bpy.types) if n.startswith("DCCFUTURES_")),
      [f.__name__ for f in bpy.types.TOPBAR_MT_editor_menus._dyn_ui_initialize()])
"""


def test_the_addon_loads_in_debians_blender_3_4(tmp_path, farm_home):
    scripts = scripts_with_addon(tmp_path)
    # Not --factory-startup: it leaves <scripts>/modules off sys.path. A private config
    # folder instead, so no preferences of this machine's user are read.
    done = real_blender.run(["-b", "--addons", "dccfutures_blender", "--python-exit-code", "1",
                             "--python-expr", LOADED], scripts,
                            env={"BLENDER_USER_CONFIG": str(tmp_path / "config")})
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "ENABLED (True, True)" in out, out
    assert "MENU Farm Render Frames on Farm|Farm Monitor|Start Local Farm" in out, out
    assert "'render_frames'" in out and "'run_action'" in out
    assert "TOP BAR ['draw', 'draw_farm_menu']" in out
    assert "AFTER [] ['draw']" in out, out
    assert "Traceback" not in out + done.stderr, out + done.stderr


# -- the real UI: Blender 3.4 under Xvfb ------------------------------------------------------

SCREENSHOTS = os.path.join(ROOT, ".test-artifacts", "screenshots")
# Runs in Blender's UI. Blender's own event simulation (--enable-event-simulate) drives its
# real menus: it clicks the first menu of the top bar and moves right along the bar until the
# Farm menu draws (whatever the font, the Farm menu is found by being drawn), then picks its
# first item with the keyboard, and screenshots each step with Blender's own screenshot
# operator (the window as drawn, popups included). Return submits the dialog.
ARTIST = r'''
import json, os, bpy
OUT, RESULT = os.environ["SHOTS"], os.environ["UI_RESULT"]
drawn, log = [], []
bpy.types.DCCFUTURES_MT_farm.append(lambda menu, context: drawn.append(True))

def window():
    return bpy.context.window_manager.windows[0]

mouse = [0, 0]

def event(kind, value="NOTHING", x=None, y=None):
    # Every event carries the mouse position: a key pressed "at 0, 0" would be a mouse
    # that left the open menu, which closes it.
    if x is not None:
        mouse[:] = [x, y]
    window().event_simulate(type=kind, value=value, x=mouse[0], y=mouse[1])

def click(x, y):
    event("MOUSEMOVE", x=x, y=y)
    event("LEFTMOUSE", "PRESS")
    event("LEFTMOUSE", "RELEASE")

def press(key):
    event(key, "PRESS")
    event(key, "RELEASE")

def screenshot(name):
    win = window()
    path = os.path.join(OUT, name)
    with bpy.context.temp_override(window=win, screen=win.screen, area=win.screen.areas[0]):
        bpy.ops.screen.screenshot(filepath=path)
    log.append(path)

def the_artists_scene():
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False    # a farm's Blender may have no OIDN (bpy has none)
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = os.environ["OUTPUT"]
    scene.frame_start, scene.frame_end = 1, 2
    for space in view3d_spaces():
        space.show_region_ui = False          # the sidebar, where the Farm Monitor is

def view3d_spaces():
    return [area.spaces.active for area in window().screen.areas if area.type == "VIEW_3D"]

state = {"step": "splash", "x": 10}

def finish(problem=None):
    import addon_utils, threading
    sidebar = [space.show_region_ui for space in view3d_spaces()]
    running = sorted(t.name for t in threading.enumerate() if "blender-monitor" in t.name)
    addon_utils.disable("dccfutures_blender")      # what disabling it in Preferences does
    left = sorted(n for n in dir(bpy.types) if n.startswith("DCCFUTURES_"))
    left += [f.__name__ for f in bpy.types.TOPBAR_MT_editor_menus._dyn_ui_initialize()
             if f.__name__ != "draw"]
    left += [t.name for t in threading.enumerate() if "blender-monitor" in t.name]
    with open(RESULT, "w") as handle:
        json.dump({"screenshots": log, "problem": problem, "sidebar": sidebar,
                   "monitor threads": running, "left after disabling": left}, handle)
    bpy.ops.wm.quit_blender()

def step():
    win, x = window(), state["x"]
    bar = win.height - 12                  # the top bar's middle
    current = state["step"]
    if current == "splash":
        the_artists_scene()
        click(win.width // 2, 60)          # away from the splash screen: it closes
        state["step"] = "open"
    elif current == "open":
        click(x, bar)                      # the first menu of the top bar
        state["step"] = "find"
    elif current == "find":
        if drawn:
            state["step"] = "menu"
        elif x > win.width // 2:
            finish("the Farm menu never opened along the top bar")
            return None
        else:
            state["x"] += 8
            event("MOUSEMOVE", x=state["x"], y=bar)
            return 0.05
    elif current == "menu":
        screenshot("blender_farm_menu.png")
        press("DOWN_ARROW")                # highlights Render Frames on Farm
        press("RET")
        state["step"] = "dialog"
    elif current == "dialog":
        screenshot("blender_render_dialog.png")
        press("RET")                       # Submit
        state["step"] = "monitor"
    elif current == "monitor":
        click(x, bar)                      # the Farm menu again: Farm Monitor, third item
        for key in ("DOWN_ARROW", "DOWN_ARROW", "RET"):
            press(key)
        state["step"] = "done"
    elif current == "done":
        finish()
        return None
    return 0.3

bpy.app.timers.register(step, first_interval=1.0)
'''


def not_blank(path):
    """A real screenshot: a PNG of Blender's 1280x800 window."""
    assert png_size(path) == (1280, 800), path
    assert os.path.getsize(path) > 20000, path   # a drawn UI, not one flat colour


def test_screenshots_of_the_farm_menu_and_the_render_dialog_in_blender_34(
        tmp_path, farm_home, farm_config, ui_state):
    """The artist's flow in the real UI: Farm menu, Render Frames on Farm, the dialog with the
    last values, Submit; the job renders on the farm (blender -b) after Blender has quit."""
    import json
    from dccfutures.ui import state
    real_blender.require(ui=True)
    farm_config(extra='dcc:\n  blender:\n    "3.4": {blender: %s}\n' % real_blender.BLENDER)
    state.save_state("blender.render_frames", {"name": "sh010 beauty", "chunk_size": 1,
                                               "priority": 50, "groups": "cycles"})
    os.makedirs(SCREENSHOTS, exist_ok=True)
    script = tmp_path / "artist.py"
    script.write_text(ARTIST)
    result = str(tmp_path / "result.json")
    output = str(tmp_path / "renders" / "f_####")
    done = real_blender.run(
        ["--enable-event-simulate", "--addons", "dccfutures_blender", "--python", str(script)],
        scripts_with_addon(tmp_path), ui=True, timeout=180,
        env={"BLENDER_USER_CONFIG": str(tmp_path / "config"), "SHOTS": SCREENSHOTS,
             "UI_RESULT": result, "OUTPUT": output,
             "TMPDIR": str(tmp_path)})   # Blender's quit.blend goes there, not in /tmp
    assert os.path.isfile(result), done.stdout + done.stderr
    with open(result) as handle:
        outcome = json.load(handle)
    assert outcome["problem"] is None, done.stdout
    assert outcome["sidebar"] == [True], "Farm Monitor did not open the 3D view's sidebar"
    assert len(outcome["monitor threads"]) == 1       # the Farm Monitor's reader, in the UI
    assert outcome["left after disabling"] == []
    assert [os.path.basename(p) for p in outcome["screenshots"]] == [
        "blender_farm_menu.png", "blender_render_dialog.png"]
    for path in outcome["screenshots"]:
        not_blank(path)
    # Submit sent the dialog's values: the scene's frames, the remembered name and priority.
    assert "Render Frames on Farm: submitted job" in done.stdout, done.stdout
    job = the_job()
    assert (job.name, job.priority, len(job.work)) == ("sh010 beauty", 50, 2)
    assert job.prototype == "dccfutures_blender"     # rendered by blender -b, the default here
    assert [os.path.basename(files[0]) for files in results(job.id)] == ["f_0001.png",
                                                                         "f_0002.png"]
    assert png_size(str(tmp_path / "renders" / "f_0002.png")) == (32, 24)
