"""The Maya bootstraps: what a farm worker does once before its first Maya work item.

mayapy (the default, prototype ``dccfutures_mayapy``): ``maya.standalone.initialize(name=
'python')``, set the workspace, open the scene copy with ``force=True``, then rename the session
back to the artist's scene path so ``<Scene>`` tokens in output paths resolve to the artist's
name, not the copy's. ``uninitialize()`` runs when the worker ends, in a ``finally``.

``maya -batch`` (prototype ``dccfutures_maya``): for tools that need the user's ``userSetup``
and auto-loaded plug-ins. Maya is already up when our code runs (it is started as
``maya -batch -command 'python("…")'``), so only the workspace and the scene are set up.

Either way: one bootstrap per worker process, never per item.
"""
import os
from typing import Any, Dict, List


class MayapyBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec
        self.started = False

    def setup(self) -> None:
        import maya.standalone
        maya.standalone.initialize(name="python")
        self.started = True
        open_scene(self.spec)

    def teardown(self) -> None:
        if self.started:
            import maya.standalone
            maya.standalone.uninitialize()


class MayaBatchBootstrap:
    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec

    def setup(self) -> None:
        open_scene(self.spec)

    def teardown(self) -> None:
        pass  # maya -batch quits when its -command returns


def open_scene(spec: Dict[str, Any]) -> None:
    """Set the workspace, open the scene copy, name it back after the artist's scene.

    The artist's workspace may not exist on the farm machine (a local project, a share
    mounted elsewhere): it is created first, as deadline-cloud-for-maya does, since Maya
    refuses to open a missing one and output paths resolve under it."""
    import maya.cmds as cmds
    workspace = spec.get("workspace")
    if workspace:
        os.makedirs(workspace, exist_ok=True)
        cmds.workspace(workspace, openWorkspace=True)
    scene = spec.get("file")
    if scene:
        cmds.file(scene, open=True, force=True)
        original = spec.get("original")
        if original:
            cmds.file(rename=original)
    # One line per boot in the worker's log: how a TD (and a test) counts Maya boots.
    print("dccfutures: Maya %s bootstrapped in %s (scene %s, workspace %s)"
          % (spec.get("version"), spec.get("kind"), scene or "-", workspace or "-"), flush=True)


def batch_command(maya: str, module: str, args: List[str]) -> List[str]:
    """``maya -batch`` running ``python -m module args`` through its ``-command`` flag, with
    the same clean ``sys.path`` as every Python we start (``bootstrap.SAFE_RUN``).

    The Python goes inside MEL's ``python("…")``: one line, with backslashes and double
    quotes escaped for the MEL string.
    """
    from .bootstrap import SAFE_RUN
    code = "import sys; sys.argv = %r; %s" % (["maya", module] + list(args), SAFE_RUN)
    mel_string = code.replace("\\", "\\\\").replace('"', '\\"')
    return [maya, "-batch", "-command", 'python("%s")' % mel_string]
