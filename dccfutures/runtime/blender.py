"""The ``bpy`` bootstrap: what a farm worker does once before its first Blender work item.

Import ``bpy`` (PyPI's Blender-as-a-module) and open the scene copy with
``load_ui=False`` and ``use_scripts=True``: the artist opened the file with its drivers and
scripted expressions evaluating (they trusted it), so the farm does too. The copy sits beside
the artist's .blend, so ``//`` paths, the render output among them, resolve to the artist's
folder. Disk point caches are the exception: Blender finds them in ``blendcache_<name of the
open .blend>/``, so the copy's are pointed at the artist's folder (see
:func:`read_the_artists_point_caches`). One bootstrap per worker process, never per item.
"""
import os
from typing import Any, Dict, Iterator, Tuple


class BpyBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self) -> None:
        import bpy
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
