"""Which Python runs plain work.

From a DCC, ``sys.executable`` is the DCC itself (``maya.bin``, ``houdini``), not a Python that
can run ``-m``: plain work then runs in the DCC's own Python found next to it (mayapy, hython),
unless the config names an interpreter. From Houdini (or hython), the plain Python Houdini
ships comes first: hython takes a Houdini licence for each worker, that Python none.
"""
import os
import sys
from typing import Optional

from .config import Config
from .errors import FarmError

_PYTHON_NAMES = ("python", "mayapy", "hython")
_NEXT_TO_DCC = ("mayapy", "hython", "python3", "python")
_HOUDINI_NAMES = ("houdini", "hython", "hbatch", "hindie", "happrentice", "hescape")


def plain_python(config: Optional[Config] = None, executable: Optional[str] = None) -> str:
    """The interpreter for plain-Python work submitted from this process."""
    if config is not None and config.python:
        return config.python
    executable = executable or sys.executable
    name = os.path.basename(executable).lower()
    if name.startswith(_HOUDINI_NAMES):
        bundled = houdini_python(os.path.dirname(os.path.dirname(executable)))
        if bundled:
            return bundled
    if name.startswith(_PYTHON_NAMES):
        return executable
    folder = os.path.dirname(executable)
    suffix = ".exe" if sys.platform == "win32" else ""
    for candidate in _NEXT_TO_DCC:
        path = os.path.join(folder, candidate + suffix)
        if os.access(path, os.X_OK):
            return path
    raise FarmError("cannot tell which Python should run plain work: this process runs %s and no "
                    "mayapy, hython or python is next to it. Set `python:` in the dccfutures "
                    "config" % executable)


def houdini_python(hfs: str) -> Optional[str]:
    """The plain Python a Houdini install (``$HFS``) ships, of this Python's version (the one
    hython runs), or None: ``$HFS/python/bin/python3.X`` on Linux,
    ``$HFS/python3X/python.exe`` on Windows, the ``Python.framework`` beside Houdini's
    framework on macOS (a few folders above ``$HFS``, searched)."""
    version = "%d.%d" % sys.version_info[:2]
    candidates = [os.path.join(hfs, "python", "bin", "python" + version),
                  os.path.join(hfs, "python" + version.replace(".", ""), "python.exe")]
    for up in range(1, 5):
        candidates.append(os.path.join(hfs, *([os.pardir] * up + [
            "Python.framework", "Versions", version, "bin", "python" + version])))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.normpath(candidate)
    return None
