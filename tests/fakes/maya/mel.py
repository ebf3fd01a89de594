"""Fake ``maya.mel``: ``eval`` of the two MEL globals UI code reads, nothing else."""
import re

from maya._state import STATE

_GLOBALS = {"gMainWindow": "MayaWindow", "gMainProgressBar": "MainProgressBar"}


def eval(command):  # noqa: A001 - Maya's name
    """``mel.eval('$tmp = $gMainWindow')`` (or ``'$gMainProgressBar'``): the global's value.

    Only the GUI start-up declares these globals: in ``maya -batch`` and mayapy reading one
    raises RuntimeError ("... is an undeclared variable"), as Maya does, unless the command
    declares it first (``global string $gMainWindow; ...``), which gives "". Any other MEL
    raises RuntimeError."""
    STATE.calls["mel.eval"] += 1
    names = set(re.findall(r"\$(g\w+)", str(command)))
    if len(names) != 1 or not names.issubset(_GLOBALS):
        raise RuntimeError("fake maya.mel.eval: unsupported MEL: %r" % (command,))
    name = names.pop()
    if STATE.mode == "interactive":
        return _GLOBALS[name]
    if re.search(r"\bglobal\s+string\s+\$%s\s*;" % name, str(command)):
        return ""
    raise RuntimeError('Error occurred during execution of MEL script\nline 1: "$%s" is an '
                       'undeclared variable.' % name)
