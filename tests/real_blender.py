"""The real Blender executable (Debian's ``blender`` 3.4, on the system's Python 3.11) for tests.

Blender runs its scripts in its own Python, which has neither dccfutures nor its dependencies:
:func:`scripts_folder` makes a Blender scripts folder whose ``modules/`` links to exactly
those (Blender puts ``$BLENDER_USER_SCRIPTS/modules`` on ``sys.path`` at start), as
``dccfutures blender install`` does for an artist. Tests that need the executable (or Xvfb)
call :func:`require` and skip with the command that installs them.
"""
import os
import shutil
import subprocess
from typing import Dict, List, Optional

import pytest

import cloudpickle
import dccfutures
import yaml

BLENDER = shutil.which("blender")
XVFB_RUN = shutil.which("xvfb-run")
INSTALL = "apt-get install blender xvfb (.ci/run installs them when it runs as root)"


def require(ui: bool = False) -> str:
    """The blender executable; skips the test when it (or, for the UI, xvfb-run) is missing."""
    if not BLENDER:
        pytest.skip("needs Debian's blender executable: " + INSTALL)
    if ui and not XVFB_RUN:
        pytest.skip("needs xvfb-run for Blender's UI: " + INSTALL)
    return BLENDER


def scripts_folder(path: str) -> str:
    """A Blender user scripts folder at ``path`` whose ``modules/`` holds links to dccfutures,
    cloudpickle and PyYAML (nothing else of this test environment: not its bpy 4.2)."""
    modules = os.path.join(path, "modules")
    os.makedirs(modules, exist_ok=True)
    for package in (dccfutures, cloudpickle, yaml):
        folder = os.path.dirname(package.__file__)
        link = os.path.join(modules, os.path.basename(folder))
        if not os.path.lexists(link):
            os.symlink(folder, link)
    return path


def run(args: List[str], scripts: str, env: Optional[Dict[str, str]] = None,
        timeout: float = 120, ui: bool = False) -> subprocess.CompletedProcess:
    """Run ``blender args`` (under ``xvfb-run`` with ``ui``) with ``scripts`` as its user
    scripts folder; returns the finished process, output captured as text."""
    command = [require(ui)] + list(args)
    if ui:
        command = [XVFB_RUN, "-a", "-s", "-screen 0 1280x800x24"] + command
    full_env = dict(os.environ, BLENDER_USER_SCRIPTS=scripts)
    full_env.update(env or {})
    return subprocess.run(command, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
