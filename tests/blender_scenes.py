"""A tiny shot for the farm tests, made by the very Blender that opens it on the farm (3.4
cannot be trusted to open a 4.2 file): a cube, a camera, Cycles at 1 sample and 32x24, the
output path ``//render/f_####``, frames 1-3, and a driver that only evaluates where the file's
scripts are trusted: a registered text block puts ``shot_lift`` in the driver namespace and
the cube's height is ``shot_lift(frame)`` (10 units a frame)."""
import os
import struct
import subprocess
import sys

BUILD = r"""
import os, sys
import bpy
folder = sys.argv[-1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.mesh.primitive_cube_add()
cube = bpy.context.object
bpy.ops.object.camera_add(location=(0, -6, 0), rotation=(1.5708, 0, 0))
scene.camera = bpy.context.object
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.cycles.use_denoising = False  # Debian's Blender is built without OpenImageDenoise
scene.render.resolution_x, scene.render.resolution_y = 32, 24
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = "//render/f_####"
scene.frame_start, scene.frame_end = 1, 3
text = bpy.data.texts.new("shot_drivers.py")
text.write("import bpy\nbpy.app.driver_namespace['shot_lift'] = lambda frame: frame * 10.0\n")
text.use_module = True
driver = cube.driver_add("location", 2).driver
driver.type = "SCRIPTED"
driver.expression = "shot_lift(frame)"
os.makedirs(folder, exist_ok=True)
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(folder, "shot010.blend"))
"""


def build_with_bpy(folder: str) -> str:
    """The shot saved by PyPI's bpy (this Python); returns its path. (The bpy module may
    crash in its own exit once a driver namespace holds a function: the process ends first.)"""
    subprocess.run([sys.executable, "-c", BUILD + "os._exit(0)\n", folder], check=True,
                   capture_output=True, timeout=120, cwd=folder)
    return os.path.join(folder, "shot010.blend")


def png_size(path: str):
    """(width, height) of a PNG file; raises if it is not one."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise AssertionError("%s is not a PNG" % path)
    return struct.unpack(">II", head[16:24])


# -- work for the farm (this module imports in Blender's own Python: no pytest here) --------

def render_frames(frames):
    """Render ``frames`` with the scene's own settings; the files written."""
    import bpy
    scene = bpy.context.scene
    for frame in frames:  # write_still would write "f_####.png" itself: no frame number
        scene.frame_start = scene.frame_end = frame
        bpy.ops.render.render(animation=True)
    return [scene.render.frame_path(frame=frame) for frame in frames]


def shot_report():
    """What the farm's Blender made of the shot: which Blender, the driver's value at frame
    3, the user's startup script and add-on, the render threads."""
    import sys
    import addon_utils
    import bpy
    scene = bpy.context.scene
    scene.frame_set(3)
    startup = sys.modules.get("studio_startup")
    return {"version": tuple(bpy.app.version[:2]), "binary": bpy.app.binary_path,
            "file": bpy.data.filepath, "lift": round(bpy.data.objects["Cube"].location.z, 3),
            "startup": getattr(startup, "LOADED", None),
            "probe_addon": bool(addon_utils.check("dcc_probe_addon")[1]),
            "threads": (scene.render.threads_mode, scene.render.threads)}


def save_a_copy_then_fail(path):
    """Blender writes a line of its own (``Info: Saved "…"``), then the item fails."""
    import bpy
    bpy.ops.wm.save_as_mainfile(filepath=path, copy=True)
    raise ValueError("failed after Blender saved %s" % path)


def addons_enabled(names):
    import addon_utils
    return {name: bool(addon_utils.check(name)[1]) for name in names}


def fresh_stdlib_module():
    """Where a standard module first imported by the item comes from, and where this
    Python's own standard library is."""
    import sysconfig
    import wave
    return wave.__file__, sysconfig.get_paths()["stdlib"]


def pid_and_parent(_=None):
    """This process, its parent, and the parent's command line."""
    import os
    with open("/proc/%d/cmdline" % os.getppid(), "rb") as handle:
        command = handle.read().replace(b"\0", b" ").decode()
    return os.getpid(), os.getppid(), command


STARTUP = '''"""A studio's startup script: Blender imports it at start and calls register()."""
LOADED = []


def register():
    LOADED.append("registered")


def unregister():
    pass
'''

ADDON = '''bl_info = {"name": "%(name)s", "blender": (2, 80, 0), "category": "System"}
import bpy


def register():
    bpy.types.Scene.%(name)s = bpy.props.IntProperty(default=7)


def unregister():
    del bpy.types.Scene.%(name)s
'''


def write_addon(folder: str, name: str) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".py")
    with open(path, "w") as handle:
        handle.write(ADDON % {"name": name})
    return path
