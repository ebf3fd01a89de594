"""Where the folders shipped beside the library are: jobtypes, the Maya module, the Houdini
package, the Blender add-on and the shelves.

In a wheel they are package data under ``dccfutures/_assets/``; in a source checkout (an
editable install) they are the top-level folders of the repository. ``dccfutures qube
install-jobtypes``, ``dccfutures maya install``, ``dccfutures houdini install`` and
``dccfutures blender install`` copy from here, so they work from a plain ``pip install``.
"""
import importlib
import os
import re
import shutil
import sys
from typing import List, Optional

FOLDERS = ("jobtypes", "maya_plugin", "houdini_plugin", "blender_plugin", "shelves")
# Through links: a dccfutures linked into a DCC's modules folder finds the checkout's assets.
_PACKAGE = os.path.dirname(os.path.realpath(__file__))


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


def maya_modules_dir() -> str:
    """The user's Maya modules folder, which is on Maya's default MAYA_MODULE_PATH."""
    if os.environ.get("MAYA_APP_DIR"):
        base = os.environ["MAYA_APP_DIR"]
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Preferences/Autodesk/maya")
    elif sys.platform == "win32":
        base = os.path.join(os.path.expanduser("~"), "Documents", "maya")
    else:
        base = os.path.expanduser("~/maya")
    return os.path.join(base, "modules")


def install_maya_module(modules: str) -> str:
    """Install the Maya module into ``modules`` (a folder on MAYA_MODULE_PATH): the module
    folder ``dccfutures/`` with this dccfutures package in its ``python/`` folder, and a
    ``dccfutures.mod`` whose paths point at it. Running it again upgrades in place."""
    # The module folder's own .mod says "." (itself); the copy beside it names the folder.
    return _install("maya_plugin", modules, "dccfutures.mod",
                    lambda text, target: text.replace(" .\n", " %s\n" % target))


def uninstall_maya_module(modules: str) -> List[str]:
    """Remove what :func:`install_maya_module` wrote; returns the paths removed."""
    return _remove_all([os.path.join(modules, "dccfutures.mod"),
                        os.path.join(modules, "dccfutures")])


def _install(asset: str, parent: str, descriptor: str, rewrite) -> str:
    """Copy the ``asset`` folder to ``parent/dccfutures`` with this library in its
    ``python/``, and write its ``descriptor`` (.mod, package .json) beside it, rewritten by
    ``rewrite(text, target)`` to point at the copy."""
    target = os.path.join(parent, "dccfutures")
    _remove_all([os.path.join(parent, descriptor), target])
    shutil.copytree(path(asset), target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".keep"))
    _copy_library(os.path.join(target, "python"))
    with open(os.path.join(path(asset), descriptor)) as handle:
        text = handle.read()
    with open(os.path.join(parent, descriptor), "w") as handle:
        handle.write(rewrite(text, target))
    os.remove(os.path.join(target, descriptor))
    return target


def _copy_library(python_dir: str) -> None:
    """This dccfutures package into ``python_dir``, with the shelves' YAML its menus read."""
    os.makedirs(python_dir, exist_ok=True)
    library = os.path.join(python_dir, "dccfutures")
    shutil.copytree(_PACKAGE, library,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_assets"))
    shutil.copytree(path("shelves"), os.path.join(library, "_assets", "shelves"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _remove_all(items: List[str]) -> List[str]:
    """Remove each file or folder that exists; a symbolic link (a TD's checkout linked in, or
    a link left dangling) is removed as a link, never what it points at."""
    removed = []
    for item in items:
        if os.path.isdir(item) and not os.path.islink(item):
            shutil.rmtree(item)
            removed.append(item)
        elif os.path.lexists(item):
            os.remove(item)
            removed.append(item)
    return removed


HOUDINI_PACKAGE = "dccfutures"


def houdini_pref_dirs() -> List[str]:
    """Where ``dccfutures houdini install`` puts the package by default: $HOUDINI_USER_PREF_DIR,
    else every ``~/houdiniX.Y`` of Houdini 19.5 or later found on this machine."""
    pattern = _houdini_pref_pattern()
    if "__HVER__" not in pattern:
        return [pattern]
    # __HVER__ stands for the version (X.Y): every existing folder of Houdini 19.5 or later.
    folder, name = os.path.split(pattern)
    before, _, after = name.partition("__HVER__")
    found = []
    for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not (entry.startswith(before) and entry.endswith(after)) or \
                len(entry) <= len(before) + len(after):
            continue
        parts = entry[len(before):len(entry) - len(after)].split(".")
        if len(parts) == 2 and all(p.isdigit() for p in parts) and \
                (int(parts[0]), int(parts[1])) >= (19, 5):
            found.append(os.path.join(folder, entry))
    return found


def houdini_pref_dir_for(version: str) -> str:
    """The preferences folder Houdini ``version`` (X.Y) uses for this user."""
    return _houdini_pref_pattern().replace("__HVER__", version)


def houdini_pref_version(folder: str) -> Optional[str]:
    """The Houdini version (X.Y) a preferences folder is for, from its name (``houdini20.5``,
    macOS's ``houdini/20.5``, or $HOUDINI_USER_PREF_DIR's ``__HVER__`` part); None when its
    name does not say (one folder for every version)."""
    pattern = _houdini_pref_pattern()
    if "__HVER__" in pattern:
        head, _, tail = pattern.partition("__HVER__")
        if folder.startswith(head) and folder.endswith(tail) and \
                re.match(r"\d+\.\d+\Z", folder[len(head):len(folder) - len(tail)]):
            return folder[len(head):len(folder) - len(tail)]
    found = re.search(r"(?:^|houdini)(\d+\.\d+)\Z", os.path.basename(folder.rstrip(os.sep)))
    return found.group(1) if found else None


def _houdini_pref_pattern() -> str:
    """$HOUDINI_USER_PREF_DIR, else Houdini's default (``__HVER__`` stands for X.Y)."""
    pattern = os.environ.get("HOUDINI_USER_PREF_DIR")
    if pattern:
        return os.path.expanduser(pattern)
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Preferences/houdini/__HVER__")
    if sys.platform == "win32":
        return os.path.join(os.path.expanduser("~"), "Documents", "houdini__HVER__")
    return os.path.join(os.path.expanduser("~"), "houdini__HVER__")


def install_houdini_package(packages: str) -> str:
    """Install the Houdini package into ``packages`` (a folder Houdini scans for package
    files): the package folder ``dccfutures/`` with this dccfutures in its ``python/`` folder,
    and ``dccfutures.json`` beside it pointing at that folder. Running it again upgrades."""
    # The package folder's own file says $HOUDINI_PACKAGE_PATH (itself); the copy in the
    # packages folder names the package folder beside it.
    return _install("houdini_plugin", packages, "dccfutures.json",
                    lambda text, target: text.replace(
                        '"$HOUDINI_PACKAGE_PATH"', '"$HOUDINI_PACKAGE_PATH/%s"' % HOUDINI_PACKAGE))


def uninstall_houdini_package(packages: str) -> List[str]:
    """Remove what :func:`install_houdini_package` wrote; returns the paths removed."""
    return _remove_all([os.path.join(packages, "dccfutures.json"),
                        os.path.join(packages, HOUDINI_PACKAGE)])


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


# -- Blender ---------------------------------------------------------------------------------

BLENDER_ADDON = "dccfutures_blender"
BLENDER_OLDEST = (3, 4)   # the oldest Blender the add-on is tested with (bl_info says it)
# What the add-on's Python needs, copied from this installation (pure Python: Blender's
# Python may be another version, and may have no pip).
BLENDER_DEPENDENCIES = ("cloudpickle", "yaml")
BLENDER_RECORD = ".dccfutures-install.json"   # in <scripts>/modules: what install put there
_COMPILED = ("__pycache__", "*.pyc", "*.so", "*.pyd", "*.dylib")


def blender_config_root() -> str:
    """The folder holding Blender's per-version user folders (``<root>/4.2/scripts``)."""
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/Blender")
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData",
                                                           "Roaming")
        return os.path.join(appdata, "Blender Foundation", "Blender")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                              ".config")
    return os.path.join(config, "blender")


def blender_scripts_dirs() -> List[str]:
    """Where ``dccfutures blender install`` goes by default: ``$BLENDER_USER_SCRIPTS``, else
    the ``scripts`` folder of every Blender 3.4 or later whose user folder exists here."""
    named = os.environ.get("BLENDER_USER_SCRIPTS")
    if named:
        return [os.path.abspath(os.path.expanduser(named))]
    root = blender_config_root()
    found = []
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        version = _blender_version(entry)
        if version and version >= BLENDER_OLDEST and os.path.isdir(os.path.join(root, entry)):
            found.append((version, os.path.join(root, entry, "scripts")))
    return [folder for _, folder in sorted(found)]


def blender_skipped_dirs() -> List[str]:
    """The user folders of Blenders older than 3.4 (default install leaves them alone)."""
    root = blender_config_root()
    entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return [os.path.join(root, entry) for entry in entries
            if (_blender_version(entry) or BLENDER_OLDEST) < BLENDER_OLDEST]


def _blender_version(name: str) -> Optional[tuple]:
    found = re.match(r"(\d+)\.(\d+)\Z", name)
    return (int(found.group(1)), int(found.group(2))) if found else None


def install_blender_addon(scripts: str) -> List[str]:
    """Install the add-on into the Blender user scripts folder ``scripts``: the add-on in
    ``addons/dccfutures_blender``, and in ``modules/`` (which Blender puts on ``sys.path``)
    this dccfutures with the shelves' YAML, cloudpickle and PyYAML (their pure-Python code; a
    copy someone else put there is kept). What was written is recorded in
    ``modules/.dccfutures-install.json`` for :func:`uninstall_blender_addon`. Running it
    again upgrades in place. Returns the paths written."""
    addons, modules = os.path.join(scripts, "addons"), os.path.join(scripts, "modules")
    record = _blender_record(scripts)
    created = list(record.get("folders", []))
    for folder in _missing_ancestors(scripts) + [scripts, addons, modules]:
        if not os.path.isdir(folder):
            os.mkdir(folder)
            created.append(os.path.relpath(folder, scripts))
    ours = set(record.get("paths", []))
    written = []
    target = os.path.join(addons, BLENDER_ADDON)
    _remove_all([target])
    shutil.copytree(os.path.join(path("blender_plugin"), BLENDER_ADDON), target,
                    ignore=shutil.ignore_patterns(*_COMPILED))
    written.append(target)
    _remove_all([os.path.join(modules, "dccfutures")])
    _copy_library(modules)
    written.append(os.path.join(modules, "dccfutures"))
    for name in BLENDER_DEPENDENCIES:
        target = os.path.join(modules, name)
        if os.path.exists(target) and os.path.relpath(target, scripts) not in ours:
            continue   # someone else's: kept
        _remove_all([target])
        module = importlib.import_module(name)
        shutil.copytree(os.path.dirname(os.path.realpath(module.__file__)), target,
                        ignore=shutil.ignore_patterns(*_COMPILED))
        written.append(target)
    _write_blender_record(scripts, [os.path.relpath(p, scripts) for p in written], created)
    return written


def uninstall_blender_addon(scripts: str) -> List[str]:
    """Remove what :func:`install_blender_addon` put in ``scripts`` (and the folders it made,
    when they are empty); returns the paths removed."""
    record = _blender_record(scripts)
    items = [os.path.join("addons", BLENDER_ADDON), os.path.join("modules", "dccfutures")]
    items += [item for item in record.get("paths", []) if item not in items]
    removed = _remove_all([os.path.join(scripts, item) for item in items
                           if _inside(scripts, item)])
    removed += _remove_all([os.path.join(scripts, "modules", BLENDER_RECORD)])
    folders = [os.path.normpath(os.path.join(scripts, name))
               for name in record.get("folders", []) if _made_by_install(name)]
    for folder in sorted(folders, key=len, reverse=True):   # the deepest first
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
            removed.append(folder)
    return [item for item in removed if not item.endswith(BLENDER_RECORD)]


def _missing_ancestors(folder: str) -> List[str]:
    """The folders above ``folder`` that do not exist yet, the outermost first."""
    missing = []
    parent = os.path.dirname(os.path.abspath(folder))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing[::-1]


def _made_by_install(name: str) -> bool:
    """A recorded folder install may have made: ``addons``, ``modules``, the scripts folder
    or one above it (only ever removed when empty)."""
    return name in ("addons", "modules") or all(part in (".", "..")
                                               for part in name.split(os.sep))


def _inside(scripts: str, relative: str) -> bool:
    """A recorded path names something in ``scripts`` (a hand-edited record cannot send
    uninstall elsewhere)."""
    full = os.path.normpath(os.path.join(scripts, relative))
    return full == os.path.normpath(scripts) or full.startswith(os.path.join(
        os.path.normpath(scripts), ""))


def _blender_record(scripts: str) -> dict:
    import json
    try:
        with open(os.path.join(scripts, "modules", BLENDER_RECORD), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_blender_record(scripts: str, paths: List[str], folders: List[str]) -> None:
    import json
    with open(os.path.join(scripts, "modules", BLENDER_RECORD), "w", encoding="utf-8") as handle:
        json.dump({"paths": paths, "folders": sorted(set(folders))}, handle, indent=2)
        handle.write("\n")
