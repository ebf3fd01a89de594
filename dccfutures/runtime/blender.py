"""The Blender bootstraps: what a farm worker does once before its first Blender work item.

``bpy`` (the default, prototype ``dccfutures_bpy``): the worker is a Python that imports
``bpy`` (PyPI's Blender-as-a-module). ``blender -b`` (prototype ``dccfutures_blender``): the
worker runs inside the Blender executable, started by :func:`batch_command`, so the user's
preferences, their enabled add-ons and the startup scripts load first, as in the artist's
Blender. Then both set up the same way (:meth:`BpyBootstrap.setup`):

* the add-ons the artist's session had enabled and this Blender has not are enabled
  (:func:`enable_session_addons`), before the scene loads, so data of their types loads
  as in the session;
* the scene copy is opened with ``load_ui=False`` and ``use_scripts=True``: the artist opened
  the file with its drivers and scripted expressions evaluating (they trusted it), so the farm
  does too. The copy is opened here, not on Blender's command line: a file Blender cannot
  read raises here and fails the worker's set-up with Blender's reason (on the command line
  Blender says so and quits with status 0). The copy sits beside the artist's .blend, so
  ``//`` paths, the render output among them, resolve to the artist's folder. Disk point
  caches are the exception: Blender finds them in ``blendcache_<name of the open .blend>/``,
  so the copy's are pointed at the artist's folder (see :func:`read_the_artists_point_caches`);
* the job's cpus cap Cycles' render threads.

One bootstrap per worker process, never per item; each prints one line in the worker's log.
"""
import os
from typing import Any, Dict, Iterable, Iterator, List, Tuple


class BpyBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self) -> None:
        import bpy
        enable_session_addons(self.spec.get("addons") or ())
        blendfile = self.spec.get("file")
        if blendfile:
            bpy.ops.wm.open_mainfile(filepath=blendfile, load_ui=False, use_scripts=True)
            original = self.spec.get("original")
            if original:
                read_the_artists_point_caches(original)
        threads = self.spec.get("render_threads")
        if threads:  # the job's cpus; without it, the artist's own setting
            for scene in bpy.data.scenes:
                scene.render.threads_mode, scene.render.threads = "FIXED", threads
        # One line per boot in the worker's log: how a TD (and a test) counts Blender boots.
        print("dccfutures: Blender %s bootstrapped in %s (blend file %s)"
              % (self.spec.get("version"), self.spec.get("kind"), blendfile or "-"), flush=True)

    def teardown(self) -> None:
        pass


class BlenderBatchBootstrap(BpyBootstrap):
    """``blender -b``: Blender is up, with the user's preferences, add-ons and startup
    scripts, when our code runs (see :func:`batch_command`); the set-up is the same."""


def batch_command(blender: str, module: str, args: List[str]) -> List[str]:
    """``blender -b`` running ``python -m module args`` through ``--python-expr``, with the
    same clean ``sys.path`` as every Python we start (``bootstrap.SAFE_RUN``).

    ``-y`` trusts the scripts of every file the work opens, as the bootstrap trusts the
    scene's. ``--python-exit-code 1``: without it Blender answers a Python error (dccfutures
    missing from its Python, an error at import) with exit status 0. The module's arguments
    go in the code itself, so Blender never reads them as its own.

    Blender's own builds ignore ``PYTHONPATH`` (as in the artist's Blender, the studio's
    stays out), and Blender puts the user's ``scripts/modules`` first on ``sys.path``, where
    ``dccfutures blender install`` may have left an older dccfutures. So the first entry of
    ``PYTHONPATH``, where the farm puts its own dccfutures for every worker it starts (the
    local farm's supervisor, a Qube subjob), goes first: the worker runs the farm's
    dccfutures. cloudpickle and PyYAML come from Blender's own install."""
    from .bootstrap import SAFE_RUN
    code = ("import sys; sys.argv = %r; import os; sys.path[:0] = [p for p in os.environ.get("
            "'PYTHONPATH', '').split(os.pathsep)[:1] if os.path.isabs(p)]; del os; %s"
            % (["blender", module] + list(args), SAFE_RUN))
    return [blender, "-b", "-y", "--python-exit-code", "1", "--python-expr", code]


def enable_session_addons(names: Iterable[str]) -> None:
    """Enable the add-ons the artist's session had enabled (``spec["addons"]``) that this
    Blender has not: PyPI's ``bpy`` loads no user preferences, and the farm user's
    preferences (``blender -b``) may enable others than the artist's. ``persistent``: they
    stay enabled whatever file an item loads. One line in the log for each that cannot be
    enabled here (not installed on this machine, or its ``register()`` fails); the work runs
    without it."""
    import addon_utils
    for name in names:
        if addon_utils.check(name)[1]:
            continue
        errors: List[BaseException] = []
        if addon_utils.enable(name, default_set=False, persistent=True,
                              handle_error=errors.append) is None:
            reason = ("%s: %s" % (type(errors[-1]).__name__, errors[-1]) if errors
                      else "Blender did not load it")
            print("dccfutures: the add-on %r enabled in the artist's session could not be "
                  "enabled here (%s); the work runs without it" % (name, reason), flush=True)


def read_the_artists_point_caches(original: str) -> None:
    """Point every disk cache of the open copy at the artist's ``blendcache_<name>/``.

    ``bpy.data.filepath`` cannot be set, and a disk cache is found by the open file's folder
    and name: the copy would read "0 frames on disk" and simulate again. As an external cache
    (``use_external``) Blender reads the folder given, with files named after ``cache.name``;
    an unnamed disk cache's files are named after its owner's name in hex, as Blender does."""
    folder = os.path.join(os.path.dirname(original),
                          "blendcache_" + os.path.splitext(os.path.basename(original))[0])
    for owner, cache in _disk_caches():
        cache.name = cache.name or owner.name.encode("utf-8").hex().upper()
        cache.use_external = True
        cache.filepath = folder


def _disk_caches() -> Iterator[Tuple[Any, Any]]:
    """(owner, point cache) of the scene's local disk caches: particles, cloth, soft bodies
    and rigid body worlds."""
    import bpy
    found = []
    for ob in bpy.data.objects:
        if ob.library is None:
            found += [(ob, system.point_cache) for system in ob.particle_systems]
            found += [(ob, modifier.point_cache) for modifier in ob.modifiers
                      if getattr(modifier, "point_cache", None) is not None]
    for scene in bpy.data.scenes:
        world = scene.rigidbody_world
        if world is not None and world.point_cache is not None:
            found.append((scene, world.point_cache))
    return iter([(owner, cache) for owner, cache in found
                 if cache.use_disk_cache and not cache.use_external])
