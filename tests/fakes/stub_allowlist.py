"""Every exception to the stub checks (tests/test_stub_conformance.py), one entry each, with why.

Not a fake: the one list of what our fakes of Maya and Houdini may have that the published
stubs (maya-stubs 0.4.2, types-houdini 21.0.512.3) do not. A key is what the test prints
before the colon of a finding:

* ``maya.cmds.SCENE_TYPES``: a name the stubs do not have;
* ``hou.getenv(flag=)``: a keyword (for a Maya command: a flag) the stub does not accept;
* ``maya.cmds.menu(*)``: more positional arguments than the stub takes;
* ``hou.hscript(!command)``: an argument the stub requires and the fake lets out.

An entry that matches no finding any more fails the test as well: remove it with the fix.
"""

# Machinery of the fakes that happens to have a public name. Our code cannot come to rely on
# one unnoticed: `make lint` type-checks it against the stubs, which do not have them.
FAKE_ONLY = {
    "hou.STATE": "the fake session's state, driven by the test aids hou_fake and hdefereval",
    "maya.cmds.SCENE_TYPES": "the scene types the fake's file(type=) accepts",
    "maya.cmds.MAIN_PROGRESS_BAR": "the name of the one progress bar the fake has",
    "maya.cmds.BINARY_EXTENSION": "the platform's plug-in extension the fake's loadPlugin "
                                  "appends, as Maya does",
    "maya.cmds.BUILT_IN_PLUGINS": "the plug-ins the fake ships as Maya's own "
                                  "(tests/fakes/maya/plug-ins)",
    "maya.standalone.run_user_setups": "runs every userSetup.py as mayapy does at start-up; "
                                       "the fake `maya -batch` (maya/_batch.py) calls it too",
}

# The stubs are wrong or incomplete; the vendor's documentation is the authority. (None for
# the fakes so far. The stub mistakes mypy meets in our own code are typed ignores there.)
STUB_MISTAKES = {}

# Houdini 19.5 differs from the 21.0 stubs. SideFX, hou.Node (20.0 onwards): "As of Houdini
# 20, this class no longer exclusively refers to Houdini 'OP' nodes ... The old hou.Node class
# is now hou.OpNode"; parm()/parmTuple() moved to hou.OpNode. hou.node() returns the node's
# own class (hou.RopNode, hou.SopNode... all OpNodes) in every version, so calling them works
# in 19.5 to 21.0; the fake's Node is the 19.5 class.
HOUDINI_VERSIONS = {
    "hou.Node.parm": "on hou.Node in 19.5, on hou.OpNode since 20.0 (see above)",
    "hou.Node.parmTuple": "on hou.Node in 19.5, on hou.OpNode since 20.0 (see above)",
}

ALLOWED = {}
for _group in (FAKE_ONLY, STUB_MISTAKES, HOUDINI_VERSIONS):
    for _key, _why in _group.items():
        ALLOWED[_key] = ALLOWED[_key] + "; " + _why if _key in ALLOWED else _why

# Houdini calls the fake implements whose signature in 19.5-20.5 differs from the 21.0 stubs
# although no finding shows it. mypy accepts the 21.0 form: do not use these arguments.
HOUDINI_NOTES = {
    "hou.InterruptableOperation.__init__": "timeout_ms is in the 21.0 stubs and HDK header, not "
                                           "in 18.0's documentation; not confirmed for 19.5-20.5",
    "hou.frame": "full_precision is documented in 20.5, not in 18.0; not confirmed for 19.5",
    "hou.node": "returns hou.Node in the stubs; a hou.OpNode subclass (hou.RopNode for a "
                "Driver) at run time, so render_chunk narrows it with isinstance(, hou.RopNode)",
    "hou.playbar.frameRange": "a hou.Vector2 in every version (the stubs agree)",
}

# Everything in tests/fakes that the stubs do not judge, and why.
NOT_JUDGED = {
    "hou_fake.py": "test aid driving the fake hou (not Houdini API)",
    "hdefereval.py": "Houdini's hdefereval module: types-houdini has no stub for it",
    "qb": "Qube's qb module: no published stub",
    "qb_types": "fake Qube jobtypes for the fake supervisor",
    "cuebot": "Cuebot as a gRPC server: opencue_proto's servicers are its stubs, and the "
              "real pycue and the real RQD judge it on the wire",
    "bin": "fake executables (mayapy, maya, hython)",
    "maya_flags.py": "the short -> long flag table (checked against the stubs)",
    "stub_allowlist.py": "this file",
    "maya/_*.py": "the fake Maya's private machinery (state, test aids, start-up)",
    "maya/plug-ins": "fakes of Maya's bundled plug-ins (AbcExport): no stub describes them",
}
