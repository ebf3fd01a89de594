"""The Blender side of ``blender_frames.py``: the scene it renders and the render call.

Imported inside a Python that has PyPI's ``bpy``: by the farm workers (through the client's
``sys.path``), by each process of the process-per-frame way and by the single process, so the
three ways render the same frames with the same code.

    python blender_scene.py BLEND RESULT.json [SAMPLES]   # build the scene, time a frame
"""
import json
import os
import sys
import time
from typing import List, Optional, Sequence

# The scene's settings: small enough that one frame renders in about 0.1-0.3 s on 2 cores
# (0.17 s with 16 samples on this project's 2-core machine; the time is linear in samples).
RESOLUTION = (160, 120)
SAMPLES = 16


def build(blend: str, samples: int = SAMPLES) -> None:
    """Save a small animated Cycles scene at ``blend``: a ground plane, a cube that turns, a
    smooth sphere that moves, Suzanne, a sun and a camera; Cycles on the CPU, ``samples``
    samples without adaptive sampling or denoising, ``RESOLUTION`` at 100 %, PNG, frames
    1-48. Render threads are left to Blender (one per core)."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=12)
    bpy.ops.mesh.primitive_cube_add(location=(-1.8, 0, 1))
    cube = bpy.context.object
    bpy.ops.mesh.primitive_uv_sphere_add(location=(1.8, 0, 1))
    bpy.ops.object.shade_smooth()
    sphere = bpy.context.object
    bpy.ops.mesh.primitive_monkey_add(location=(0, 1.8, 1))
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.2, 0.5))
    bpy.ops.object.camera_add(location=(0, -8, 4), rotation=(1.15, 0, 0))
    scene.camera = bpy.context.object
    scene.frame_start, scene.frame_end = 1, 48
    for frame, turn, height in ((1, 0.0, 1.0), (48, 3.1416, 2.5)):
        cube.rotation_euler.z = turn
        cube.keyframe_insert("rotation_euler", index=2, frame=frame)
        sphere.location.z = height
        sphere.keyframe_insert("location", index=2, frame=frame)
    render = scene.render
    render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    render.resolution_x, render.resolution_y = RESOLUTION
    render.resolution_percentage = 100
    render.image_settings.file_format = "PNG"
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def render_frames(frames: Sequence[int], folder: str,
                  threads: Optional[int] = None) -> List[str]:
    """Render ``frames`` of the open scene into ``folder/f_####.png`` with ``write_still``;
    the files written. ``threads``: Cycles' render threads (None: the scene's setting)."""
    import bpy
    scene = bpy.context.scene
    if threads:
        scene.render.threads_mode, scene.render.threads = "FIXED", threads
    written = []
    for frame in frames:
        scene.frame_set(frame)
        scene.render.filepath = os.path.join(folder, "f_%04d.png" % frame)
        bpy.ops.render.render(write_still=True)
        written.append(scene.render.filepath)
    return written


def _time_one_frame(folder: str, threads: Optional[int]) -> float:
    render_frames([1], folder, threads)  # the first render of a process loads Cycles' kernels
    start = time.perf_counter()
    render_frames([2], folder, threads)
    return time.perf_counter() - start


def main(blend: str, result: str, samples: str = str(SAMPLES)) -> None:
    import bpy
    build(blend, int(samples))
    scratch = os.path.join(os.path.dirname(blend), "calibration")
    seconds = {"auto": _time_one_frame(scratch, None), "1": _time_one_frame(scratch, 1)}
    bpy.ops.wm.revert_mainfile()  # the scene as saved: no threads setting of the timing above
    with open(result, "w") as handle:
        json.dump({"bpy": bpy.app.version_string, "frame_seconds": seconds}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
