"""Fake ``maya.mel``: ``eval`` of the two MEL globals UI code reads, nothing else."""
import re

from maya._state import STATE

_GLOBALS = {"gMainWindow": "MayaWindow", "gMainProgressBar": "MainProgressBar"}


def eval(command):  # noqa: A001 - Maya's name
    """``mel.eval('$tmp = $gMainWindow')`` (or ``'$gMainProgressBar'``, with or without a
    ``global string $g...;`` declaration): the global's value; "" outside interactive Maya,
    where no UI exists. Any other MEL raises RuntimeError."""
    STATE.calls["mel.eval"] += 1
    names = set(re.findall(r"\$(g\w+)", str(command)))
    if len(names) == 1 and names.issubset(_GLOBALS):
        return _GLOBALS[names.pop()] if STATE.mode == "interactive" else ""
    raise RuntimeError("fake maya.mel.eval: unsupported MEL: %r" % (command,))
