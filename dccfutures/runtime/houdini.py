"""The hython bootstrap: what a farm worker does once before its first Houdini work item.

Load the hip file copy (``suppress_save_prompt`` and ``ignore_load_warnings``: a farm has nobody
to answer a prompt, and a warning such as a missing HDA must not stop the work), then name the
session after the artist's hip file so ``$HIPNAME`` and ``$HIPFILE`` in output paths resolve to
the artist's name, not the copy's. The copy sits beside the original, in the same folder: the
load sets ``$HIP`` to that folder, so the assets in ``$HIP/otls`` and ``$HIP/hda`` are found
while the file loads, as in the artist's session. One bootstrap per worker process, never per
item.
"""
from typing import Any, Dict


class HythonBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self) -> None:
        import hou
        hipfile = self.spec.get("file")
        if hipfile:
            hou.hipFile.load(hipfile, suppress_save_prompt=True, ignore_load_warnings=True)
            original = self.spec.get("original")
            if original:
                hou.hipFile.setName(original)
        print("dccfutures: Houdini %s bootstrapped in %s (hip file %s)"
              % (self.spec.get("version"), self.spec.get("kind"), hipfile or "-"), flush=True)

    def teardown(self) -> None:
        pass
