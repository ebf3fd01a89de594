"""The Maya bootstraps: what a farm worker does once before its first Maya work item.

mayapy: ``maya.standalone.initialize(name='python')``, set the workspace, open the scene copy
with ``force=True``, then rename the session back to the artist's scene path so ``<Scene>``
tokens in output paths resolve to the artist's name, not the copy's. ``uninitialize()`` runs
when the worker ends, in a ``finally``. One bootstrap per worker process, never per item.
"""
from typing import Any, Dict


class MayapyBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec
        self.started = False

    def setup(self) -> None:
        import maya.standalone
        maya.standalone.initialize(name="python")
        self.started = True
        import maya.cmds as cmds
        workspace = self.spec.get("workspace")
        if workspace:
            cmds.workspace(workspace, openWorkspace=True)
        scene = self.spec.get("file")
        if scene:
            cmds.file(scene, open=True, force=True)
            original = self.spec.get("original")
            if original:
                cmds.file(rename=original)
        # One line per boot in the worker's log: how a TD (and a test) counts Maya boots.
        print("dccfutures: Maya %s bootstrapped (scene %s, workspace %s)"
              % (self.spec.get("version"), scene or "-", workspace or "-"), flush=True)

    def teardown(self) -> None:
        if self.started:
            import maya.standalone
            maya.standalone.uninitialize()
