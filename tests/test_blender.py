"""The Blender executor against the real application: PyPI's ``bpy`` (Blender 4.2 as a Python
module) is the artist's session (this test process) and every farm worker."""
import glob
import os
import sys

import pytest

from tests.conftest import wait_until

try:
    import bpy
except ImportError:  # bpy 4.2 wheels exist for CPython 3.11 only
    pytest.skip("needs PyPI's bpy 4.2 (Python 3.11 only): pip install 'bpy==4.2.*' "
                "(make test installs it)", allow_module_level=True)

CONFIG = 'dcc:\n  blender:\n    "4.2": {python: %s}\n' % sys.executable


def build_scene(folder):
    """A tiny saved scene: a camera, a cube, a ``//`` texture, a ``//render/f_####`` output."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.object.camera_add(location=(0, -6, 0), rotation=(1.5708, 0, 0))
    scene.camera = bpy.context.object
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = "//render/f_####"
    os.makedirs(os.path.join(folder, "tex"))
    image = bpy.data.images.new("checker", 4, 4)
    image.filepath_raw = os.path.join(folder, "tex", "checker.png")
    image.file_format = "PNG"
    image.save()
    image.use_fake_user = True   # kept in the .blend without a material using it
    blend = os.path.join(folder, "shot010.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend, relative_remap=True)
    image.filepath = "//tex/checker.png"
    bpy.ops.wm.save_mainfile()
    return blend


@pytest.fixture
def blender_session(farm_home, farm_config, tmp_path):
    farm_config(workers=2, extra=CONFIG)
    shots = tmp_path / "shots"
    shots.mkdir()
    blend = build_scene(str(shots))
    bpy.context.scene["note"] = "unsaved edit"   # only in the session
    bpy.context.scene.frame_end = 2
    yield blend


def session_report():
    scene = bpy.context.scene
    return {"note": scene.get("note"), "frame_end": scene.frame_end,
            "texture": bpy.path.abspath(bpy.data.images["checker"].filepath),
            "output": scene.render.frame_path(frame=1)}


def bake_particles():
    """A particle system baked to the disk cache beside the saved .blend."""
    bpy.ops.mesh.primitive_plane_add(location=(3, 0, 0))
    plane = bpy.context.object
    plane.modifiers.new("particles", "PARTICLE_SYSTEM")
    system = plane.particle_systems[0]
    system.settings.count, system.settings.frame_end = 10, 3
    system.point_cache.use_disk_cache = True
    with bpy.context.temp_override(point_cache=system.point_cache):
        bpy.ops.ptcache.bake(bake=True)
    bpy.ops.wm.save_mainfile()


def particle_height(frame):
    bpy.context.scene.frame_set(frame)
    plane = bpy.data.objects["Plane"].evaluated_get(bpy.context.evaluated_depsgraph_get())
    return round(plane.particle_systems[0].particles[0].location.z, 5)


def render_frames(frames):
    """Render ``frames`` with the scene's own settings; the files written."""
    scene = bpy.context.scene
    for frame in frames:  # write_still would write "f_####.png" itself: no frame number
        scene.frame_start = scene.frame_end = frame
        bpy.ops.render.render(animation=True)
    return [scene.render.frame_path(frame=frame) for frame in frames]


def open_a_missing_file():
    bpy.ops.wm.open_mainfile(filepath="/nowhere/missing.blend")


def boot_lines(farm_home):
    return [open(p).read().count("Blender 4.2 bootstrapped in bpy")
            for p in glob.glob(os.path.join(farm_home, "logs", "worker-*.log"))]


def test_the_farm_opens_a_copy_with_the_unsaved_edits_and_the_sessions_paths(blender_session):
    from dccfutures.blender import Executor
    ex = Executor(clone_environ=True, create_tempfile=True)
    assert ex.version == "4.2"                                  # the session's major.minor
    assert bpy.data.filepath == blender_session and bpy.data.is_dirty   # session untouched
    copy = ex.blendfile
    assert os.path.dirname(copy) == os.path.dirname(blender_session)    # beside it: same //
    assert os.path.basename(copy).startswith(".shot010.dccfutures-")
    report = ex.submit(session_report).result(60)
    assert report == session_report()                           # edits, texture, output path
    assert report["note"] == "unsaved edit" and report["frame_end"] == 2
    assert os.path.isfile(report["texture"])
    wait_until(lambda: not os.path.exists(copy), what="the .blend copy removed")
    ex.shutdown()


def test_frames_render_where_the_sessions_output_path_says(blender_session, farm_home):
    from dccfutures.blender import Executor
    expected = [bpy.context.scene.render.frame_path(frame=f) for f in (1, 2)]
    assert all(path.startswith(os.path.dirname(blender_session) + "/render/")
               for path in expected)
    ex = Executor(clone_environ=True, create_tempfile=True)
    with ex.batch("render") as batch:
        futures = [batch.submit(render_frames, [f]) for f in (1, 2)]
        futures += [batch.submit(session_report) for _ in range(4)]
    assert [f.result(60)[0] for f in futures[:2]] == expected
    assert all(os.path.isfile(path) for path in expected)
    boots = boot_lines(farm_home)
    assert boots and all(count == 1 for count in boots) and len(boots) <= 2   # once a worker
    ex.shutdown()


def test_the_farm_reads_the_artists_baked_point_cache(blender_session):
    from dccfutures.blender import Executor
    bake_particles()
    cache = os.path.join(os.path.dirname(blender_session), "blendcache_shot010")
    baked = sorted(os.listdir(cache))
    expected = particle_height(4)           # read from the bake: the frames after it differ
    assert expected != 0
    ex = Executor(create_tempfile=True, version="4.2")
    assert ex.submit(particle_height, 4).result(60) == expected
    assert sorted(os.listdir(cache)) == baked   # read, not rewritten
    ex.shutdown()


def test_a_failing_item_shows_blenders_output_in_its_log(blender_session):
    from dccfutures.blender import Executor
    ex = Executor(create_tempfile=True, version="4.2")
    future = ex.submit(open_a_missing_file)
    with pytest.raises(RuntimeError):
        future.result(60)
    assert "Cannot read file \"/nowhere/missing.blend\"" in future.log(), future.log()
    assert "Blender 4.2 bootstrapped in bpy" not in future.log()  # only this item's output
    ex.shutdown()


def test_a_never_saved_scene_is_copied_to_a_private_scratch_folder(blender_session,
                                                                    farm_home):
    from dccfutures.blender import Executor
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene["note"] = "never saved"
    ex = Executor(clone_environ=True, create_tempfile=True)
    copy = ex.blendfile
    assert copy.startswith(os.path.join(os.path.realpath(farm_home), "scratch") + os.sep) or \
        copy.startswith(os.path.join(farm_home, "scratch") + os.sep)
    assert os.stat(os.path.dirname(os.path.dirname(copy))).st_mode & 0o077 == 0
    assert bpy.data.filepath == ""
    assert ex.submit(lambda: bpy.context.scene.get("note")).result(60) == "never saved"
    wait_until(lambda: not os.path.exists(copy), what="the scratch copy removed")
    ex.shutdown()


def test_a_missing_python_names_the_version_and_the_key(blender_session):
    from dccfutures.blender import Executor
    ex = Executor(version="9.9")
    with pytest.raises(Exception, match=r'dcc\.blender\."9\.9"\.python'):
        ex.submit(session_report).result(60)
    ex.shutdown()


def test_cloned_environment_leaves_blenders_own_folders_behind(blender_session, monkeypatch):
    from dccfutures.blender import Executor
    monkeypatch.setenv("BLENDER_USER_SCRIPTS", "/home/artist/.config/blender/4.2/scripts")
    monkeypatch.setenv("BLENDER_SYSTEM_PYTHON", "/opt/blender/4.2/python")
    monkeypatch.setenv("SHOT", "sh010")
    ex = Executor(clone_environ=True)
    assert ex.environ["SHOT"] == "sh010"
    assert not [name for name in ex.environ if name.startswith("BLENDER_")]
    assert ex.blendfile == blender_session   # not copied: the farm opens the saved file
    ex.shutdown()


def render_threads():
    render = bpy.context.scene.render
    return render.threads_mode, render.threads


def test_a_jobs_cpus_is_shared_by_the_cycles_threads_of_the_items_running_at_once(
        blender_session):
    """``cpus`` is what the job may use: on the local farm (2 workers here) at most ``cpus``
    items run at once, and Cycles' threads are set so that together they use no more than
    ``cpus`` cores (``cpus=2``: two items of one thread, never two of two)."""
    from dccfutures.blender import Executor
    render = bpy.context.scene.render
    render.threads_mode, render.threads = "FIXED", 3      # the artist's own setting
    executors = {cpus: Executor(create_tempfile=True, version="4.2", cpus=cpus)
                 for cpus in (1, 2, 5, None)}
    threads = {cpus: ex.submit(render_threads) for cpus, ex in executors.items()}
    assert {cpus: future.result(60) for cpus, future in threads.items()} == {
        1: ("FIXED", 1), 2: ("FIXED", 1), 5: ("FIXED", 2), None: ("FIXED", 3)}
    for ex in executors.values():
        ex.shutdown()


def test_a_reservation_of_processors_sets_the_threads_of_each_item(blender_session):
    """Qube's ``host.processors=N`` reservation is per item (subjob): it wins over ``cpus``."""
    from dccfutures.blender import Executor
    ex = Executor(create_tempfile=True, version="4.2", cpus=2,
                  reservations="host.processors=3,host.memory=1024")
    assert ex.submit(render_threads).result(60) == ("FIXED", 3)
    ex.shutdown()


def test_done_callbacks_run_without_blenders_timers_and_progress_waits(blender_session):
    import threading
    from dccfutures.blender import Executor, progress
    assert bpy.app.background
    ex = Executor(create_tempfile=True, version="4.2")
    called = threading.Event()
    futures = [ex.submit(session_report) for _ in range(2)]
    futures[0].add_done_callback(lambda f: called.set())
    assert progress(futures) == futures and all(f.done() for f in futures)
    assert called.wait(10)                    # no timer had to fire for it
    late = []
    futures[1].add_done_callback(late.append)  # already done: runs at once
    assert late == [futures[1]]
    ex.shutdown()
