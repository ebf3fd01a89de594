"""Which Python runs plain work.

From a DCC, ``sys.executable`` is the DCC itself (``maya.bin``, ``houdini``), not a Python that
can run ``-m``: plain work then runs in the DCC's own Python found next to it (mayapy, hython),
unless the config names an interpreter.
"""
import os
import sys
from typing import Optional

from .config import Config
from .errors import FarmError

_PYTHON_NAMES = ("python", "mayapy", "hython")
_NEXT_TO_DCC = ("mayapy", "hython", "python3", "python")


def plain_python(config: Optional[Config] = None, executable: Optional[str] = None) -> str:
    """The interpreter for plain-Python work submitted from this process."""
    if config is not None and config.python:
        return config.python
    executable = executable or sys.executable
    name = os.path.basename(executable).lower()
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
