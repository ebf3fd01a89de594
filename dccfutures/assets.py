"""Where the folders shipped beside the library are: jobtypes, the Maya module, the Houdini
package and the shelves.

In a wheel they are package data under ``dccfutures/_assets/``; in a source checkout (an
editable install) they are the top-level folders of the repository. ``dccfutures qube
install-jobtypes``, ``dccfutures maya install`` and ``dccfutures houdini install`` copy from
here, so they work from a plain ``pip install``.
"""
import os
import shutil
from typing import List

FOLDERS = ("jobtypes", "maya_plugin", "houdini_plugin", "shelves")
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def path(folder: str) -> str:
    """The installed location of ``folder`` (one of :data:`FOLDERS`)."""
    if folder not in FOLDERS:
        raise ValueError("unknown asset folder %r (expected one of: %s)"
                         % (folder, ", ".join(FOLDERS)))
    for candidate in (os.path.join(_PACKAGE, "_assets", folder),
                      os.path.join(os.path.dirname(_PACKAGE), folder)):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError("the %s folder is missing from this dccfutures installation (%s)"
                            % (folder, _PACKAGE))


def install_jobtypes(destination: str) -> List[str]:
    """Copy every dccfutures jobtype into ``destination`` (a folder on Qube's
    ``worker_template_path``); returns the jobtype folders written. Existing copies are
    replaced, so running it again upgrades them."""
    source = path("jobtypes")
    os.makedirs(destination, exist_ok=True)
    written = []
    for name in sorted(os.listdir(source)):
        if not os.path.isfile(os.path.join(source, name, "job.conf")):
            continue
        target = os.path.join(destination, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        shutil.copytree(os.path.join(source, name), target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        written.append(target)
    return written
