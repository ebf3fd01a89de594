"""Environment cloning: the artist's environment, minus what belongs to this session or DCC.

Why. A farm job must see the same tool versions, studio variables and search paths as the
artist (``SHOW``, ``SHOT``, ``OCIO``, ``PATH``, ``PYTHONPATH``, ``MAYA_MODULE_PATH``...), but not
what only makes sense in the artist's login session or in the running DCC process. No farm
submitter copies everything blindly: OpenCue builds the job environment from an allow-list,
Deadline's ``IncludeEnvironment`` is off by default, AYON passes a fixed list
(``reference/dcc-notes.md``, "Cloning the environment for farm jobs"). We clone everything
*minus* a deny-list, so studio variables nobody listed still reach the job; a studio adds
names to ``environ.deny`` in the YAML config, and ``environ.allow`` wins over every deny-list.

Patterns are :mod:`fnmatch` globs, matched case-sensitively on POSIX and case-insensitively on
Windows (where variable names are case-insensitive).

Where each :data:`DEFAULT_DENY` entry comes from (all from ``reference/dcc-notes.md`` unless
marked *ours*):

* display: ``DISPLAY``, ``WAYLAND_DISPLAY``, ``XAUTHORITY``, ``WINDOWID`` -- the artist's X/Wayland
  server and its cookie; a farm job must run headless.
* login session: ``XDG_RUNTIME_DIR``, ``XDG_SESSION_*``, ``DBUS_SESSION_BUS_ADDRESS``,
  ``SESSION_MANAGER`` (and, *ours*, ``XDG_SEAT``, ``XDG_VTNR``: the same logind session).
* agents: ``SSH_*``, ``GPG_AGENT_INFO`` -- sockets of agents that die with the login.
* terminal and shell: ``TERM``, ``TERM_*``, ``TERMINFO*``, ``COLORTERM``, ``PWD``, ``OLDPWD``,
  ``SHLVL``, ``_``, ``HOSTNAME``.
* Qt: ``QT_*`` -- platform plug-in, scaling and plug-in paths of the artist's Qt (which inside a DCC
  is the DCC's own Qt build).
* per-session temp dirs: ``TMPDIR``, ``TMP``, ``TEMP`` -- often a per-login directory that does not
  exist on the farm node.
* per-user preference dirs: ``MAYA_APP_DIR``, ``HOUDINI_USER_PREF_DIR``.
* ``PYTHONHOME`` -- names one interpreter's standard library; the job runs another interpreter
  (mayapy, hython or the configured Python), which fails to start with a foreign one. Also the
  first variable the notes name among those "the DCC sets when it starts".
* *ours*, per process: ``QBLVL`` (the recursion level is set by the executor for each job, never
  inherited, see :mod:`dccfutures.recursion`), ``DCCFUTURES_JOB_ID``, ``DCCFUTURES_WORK_ID`` and
  Qube's ``QBJOBID``, ``QBSUBID`` -- the ids of the job this code runs in, if any -- and
  ``DCCFUTURES_WORKER``, the local farm worker it runs in (processes carrying it end with that
  worker).

:data:`MAYA_DENY` -- what Maya sets at start-up, which the farm's Maya sets again for itself:

* ``MAYA_LOCATION`` -- the install dir of the *running* Maya; the farm may run another version.
* ``PYTHONHOME`` -- see above.
* ``MAYA_PLUG_IN_PATH``, ``MAYA_SCRIPT_PATH``, ``MAYA_PRESET_PATH``, ``XBMLANGPATH`` -- when Maya
  starts it reads every module file on ``MAYA_MODULE_PATH`` and appends the module's
  ``plug-ins``/``scripts``/``presets``/``icons`` folders to these (Autodesk, "Installing the
  module", help.autodesk.com/cloudhelp/2022/CHS/Maya-SDK/.../InstallingModules.html; Maya 2012+
  "File path variables": modules are appended to "MAYA_PLUG_IN_PATH, MAYA_PRESET_PATH,
  MAYA_SCRIPT_PATH, PYTHONPATH and XBMLANGPATH"), after the install's own default folders. Inside
  Maya these hold the expanded result, pinned to this workstation's modules and install; values
  set in the OS environment also override ``Maya.env`` ("Setting environment variables using
  Maya.env", Maya 2026 docs), so a cloned value would shadow the farm's own set-up. We clone the
  *input*, ``MAYA_MODULE_PATH``, and let the farm's Maya expand it again.
  Trade-off: a launcher that sets one of these four before Maya starts loses that value; put the
  name in ``environ.allow`` (the expanded value is then sent, duplicates and all).
* Kept on purpose: ``PYTHONPATH`` (Maya also appends module ``scripts`` to it, but it carries the
  studio's tools and dccfutures itself; a duplicate ``sys.path`` entry is harmless),
  ``MAYA_MODULE_PATH``, ``MAYA_SHELF_PATH`` and variables set by ``.mod`` lines (unknowable here).

:data:`HOUDINI_DENY` -- what Houdini sets for the running process:

* ``HIP``, ``HIPNAME``, ``HIPFILE`` -- the open scene; the farm side loads its own (issue 5).
* ``HFS`` and the shortcuts ``houdini_setup`` derives from it: ``H``, ``HB``, ``HDSO``, ``HD``,
  ``HH``, ``HHC``, ``HHP``, ``HSB``, ``HT``, ``HTB``, and the ``HOUDINI_MAJOR_RELEASE``,
  ``HOUDINI_MINOR_RELEASE``, ``HOUDINI_BUILD_VERSION``, ``HOUDINI_VERSION`` of this install (an
  old ``houdini_setup`` exporting all of these but ``HHP`` was found by code search; ``HHP``, the
  ``$HH/pythonX.Ylibs`` dir, is from issue 5's list and derives from ``HH`` the same way; SideFX
  "Environment variables", sidefx.com/docs/houdini/basics/config_env: ``$HFS`` is the install
  location). The farm's hython sets them for its own version.
* ``HOUDINI_PATH`` -- packages rewrite it at start-up (SideFX "Houdini Packages",
  sidefx.com/docs/houdini/ref/plugins.html; issue 5 "the package-expanded HOUDINI_PATH"). We
  clone the inputs (``HOUDINI_PACKAGE_DIR``, ``HSITE``) instead. Same trade-off and fix as Maya's
  paths: a studio that sets ``HOUDINI_PATH`` outside packages adds it to ``environ.allow``.
* Kept on purpose: ``JOB`` -- the artist's *project*, set by the artist or the pipeline (AYON
  manages it as a pipeline context variable), not by Houdini; renders resolve ``$JOB/...`` paths
  with it, so it must reach the farm. ``HSITE``, ``HOUDINI_PACKAGE_DIR``, ``HOUDINI_OTLSCAN_PATH``
  and the like are studio inputs and are kept too.

``dcc_root``: entries of ``PATH``, ``PYTHONPATH``, ``LD_LIBRARY_PATH`` and ``DYLD_LIBRARY_PATH``
under the running DCC's install dir are dropped when it is given (e.g. ``$MAYA_LOCATION/lib``
on ``LD_LIBRARY_PATH`` would load this workstation's Maya libraries into another version on the
farm). It is never guessed: the DCC executor passes ``MAYA_LOCATION``/``HFS`` explicitly.
"""
import fnmatch
import os
from typing import Dict, Iterable, Mapping, Optional, Tuple

__all__ = ["DEFAULT_DENY", "MAYA_DENY", "HOUDINI_DENY", "BLENDER_DENY", "DCC_DENY", "PATH_VARS",
           "clone_environ", "from_config"]

DEFAULT_DENY: Tuple[str, ...] = (
    # display
    "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "WINDOWID",
    # login session
    "XDG_RUNTIME_DIR", "XDG_SESSION_*", "XDG_SEAT", "XDG_VTNR", "DBUS_SESSION_BUS_ADDRESS",
    "SESSION_MANAGER",
    # agents
    "SSH_*", "GPG_AGENT_INFO",
    # terminal and shell
    "TERM", "TERM_*", "TERMINFO*", "COLORTERM", "PWD", "OLDPWD", "SHLVL", "_", "HOSTNAME",
    # Qt
    "QT_*",
    # per-session temp dirs
    "TMPDIR", "TMP", "TEMP",
    # per-user preference dirs
    "MAYA_APP_DIR", "HOUDINI_USER_PREF_DIR",
    # one interpreter's stdlib
    "PYTHONHOME",
    # ours and Qube's, per process
    "QBLVL", "DCCFUTURES_JOB_ID", "DCCFUTURES_WORK_ID", "DCCFUTURES_WORKER", "QBJOBID",
    "QBSUBID",
)

MAYA_DENY: Tuple[str, ...] = (
    "MAYA_LOCATION", "PYTHONHOME",
    "MAYA_PLUG_IN_PATH", "MAYA_SCRIPT_PATH", "MAYA_PRESET_PATH", "XBMLANGPATH",
)

HOUDINI_DENY: Tuple[str, ...] = (
    "HIP", "HIPNAME", "HIPFILE",
    "HFS", "H", "HB", "HDSO", "HD", "HH", "HHC", "HHP", "HSB", "HT", "HTB",
    "HOUDINI_MAJOR_RELEASE", "HOUDINI_MINOR_RELEASE", "HOUDINI_BUILD_VERSION", "HOUDINI_VERSION",
    "HOUDINI_PATH",
)

# Blender's own per-session folders and its bundled Python's home (docs.blender.org, "Command
# Line Arguments: Environment Variables").
BLENDER_DENY: Tuple[str, ...] = ("BLENDER_USER_*", "BLENDER_SYSTEM_*", "PYTHONHOME")

DCC_DENY: Dict[str, Tuple[str, ...]] = {"maya": MAYA_DENY, "houdini": HOUDINI_DENY,
                                        "blender": BLENDER_DENY}

PATH_VARS: Tuple[str, ...] = ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")

# Windows variable names are case-insensitive; a module constant so tests can flip it.
_FOLD_CASE = os.name == "nt"


def _patterns(value: Iterable[str], what: str) -> Tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise TypeError("%s must be a list of patterns, not the single %s %r"
                        % (what, type(value).__name__, value))
    result = tuple(value)
    for index, pattern in enumerate(result):
        if not isinstance(pattern, str):
            raise TypeError("%s pattern #%d is %r (%s), not a string"
                            % (what, index, pattern, type(pattern).__name__))
    return result


def _matches(name: str, patterns: Tuple[str, ...]) -> bool:
    if _FOLD_CASE:
        name = name.upper()
        return any(fnmatch.fnmatchcase(name, pattern.upper()) for pattern in patterns)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _under(entry: str, root: str) -> bool:
    if not entry or not os.path.isabs(entry):
        return False
    entry = os.path.normcase(os.path.normpath(entry))
    return entry == root or entry.startswith(root.rstrip(os.sep) + os.sep)


def clone_environ(environ: Optional[Mapping[str, str]] = None, deny: Iterable[str] = (),
                  allow: Iterable[str] = (), dcc: Optional[str] = None,
                  dcc_root: Optional[str] = None) -> Dict[str, str]:
    """A new dict: ``environ`` (default ``os.environ``) minus every name matching
    :data:`DEFAULT_DENY`, the ``dcc``'s deny set or ``deny``, except names matching ``allow``.

    With ``dcc_root``, entries under it are dropped from :data:`PATH_VARS` (a variable left
    empty is dropped); an allowed variable is always sent exactly as it is.
    """
    deny = _patterns(deny, "environ.deny")
    allow = _patterns(allow, "environ.allow")
    if dcc is not None:
        if dcc not in DCC_DENY:
            raise ValueError("unknown dcc %r; expected one of: %s"
                             % (dcc, ", ".join(sorted(DCC_DENY))))
        deny = DCC_DENY[dcc] + deny
    denied = DEFAULT_DENY + deny
    root = None
    if dcc_root is not None:
        if not isinstance(dcc_root, str) or not os.path.isabs(dcc_root):
            raise TypeError("dcc_root must be an absolute path string, not %r" % (dcc_root,))
        root = os.path.normcase(os.path.normpath(dcc_root))

    source = os.environ if environ is None else environ
    result: Dict[str, str] = {}
    for name, value in source.items():
        if _matches(name, allow):
            result[name] = value
            continue
        if _matches(name, denied):
            continue
        if root is not None and _matches(name, PATH_VARS):
            kept = [entry for entry in value.split(os.pathsep) if not _under(entry, root)]
            value = os.pathsep.join(kept)
            if not value:
                continue
        result[name] = value
    return result


def from_config(config, dcc: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                dcc_root: Optional[str] = None) -> Dict[str, str]:
    """:func:`clone_environ` with ``config.environ.deny``/``allow`` (a :class:`~.config.Config`)."""
    return clone_environ(environ, deny=config.environ.deny, allow=config.environ.allow,
                         dcc=dcc, dcc_root=dcc_root)
