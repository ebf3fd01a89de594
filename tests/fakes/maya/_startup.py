"""TEST AID internals (private; tests use ``maya._fake.start``/``quit``): what interactive Maya
does when it starts and when it quits, for the parts a plug-in meets.

Start-up: the module files on MAYA_MODULE_PATH, the shelves of the user's prefs and of
MAYA_SHELF_PATH, every ``userSetup.py`` on ``sys.path``. Quit: the ``kMayaExiting``
callbacks, then every shelf in the shelf bar written to a file (``saveAllShelves``).

Sources: Autodesk's "Distributing Multi-File Modules" and "Maya module paths, folders and
versions" (Maya SDK) for the .mod lines; the ``saveAllShelves`` command reference ("writes all
shelves that are immediate children of the specified control layout to the prefs
directory"), the ``MSceneMessage.kMayaExiting`` reference ("called prior to Maya exit").
"""
import os
import re
import sys

from maya._state import STATE

SHELF_BAR = "ShelfLayout"
PLATFORM = {"win32": "win64", "darwin": "mac"}.get(sys.platform, "linux")
# Module sub-folders Maya adds by itself when they exist, and to which variables.
MODULE_FOLDERS = (("plug-ins", ("MAYA_PLUG_IN_PATH",)), ("scripts", ("MAYA_SCRIPT_PATH",
                                                                      "PYTHONPATH")),
                  ("icons", ("XBMLANGPATH",)), ("presets", ("MAYA_PRESET_PATH",)))
_VARIABLE = re.compile(r"^(\w+)\s*(\+:=|:=|\+=|=)\s*(.*?)\s*$")
_OVERRIDE = re.compile(r"^(?:\[r\]\s*)?(plug-ins|scripts|icons|presets):\s+(.+?)\s*$")


def app_dir():
    """$MAYA_APP_DIR; the fake refuses to guess ~/maya, so a test never writes there."""
    folder = os.environ.get("MAYA_APP_DIR")
    if not folder:
        raise RuntimeError("fake maya: set MAYA_APP_DIR (the fake never touches ~/maya)")
    return folder


def prefs_shelves():
    """Where Maya saves shelves: the user's prefs (``internalVar -userShelfDir``)."""
    return os.path.join(app_dir(), STATE.version, "prefs", "shelves")


def _environ(name):
    return STATE.env.get(name, os.environ.get(name, ""))


def _append(name, value):
    current = [p for p in _environ(name).split(os.pathsep) if p]
    STATE.env[name] = os.pathsep.join(current + [value])


# -- modules --------------------------------------------------------------------------------------

def module_folders():
    """MAYA_MODULE_PATH, then the user's module folders Maya always reads."""
    folders = [p for p in _environ("MAYA_MODULE_PATH").split(os.pathsep) if p]
    return folders + [os.path.join(app_dir(), STATE.version, "modules"),
                      os.path.join(app_dir(), "modules")]


def parse_module_file(text, where):
    """The module entries of a .mod file's ``text`` (``where``: its folder) that this Maya
    (``STATE.version``, this platform) takes, as ``(name, path, body lines)``.

    An entry is ``+ [MAYAVERSION:v] [PLATFORM:p] [LOCALE:l] name version path``: a condition
    left out matches every Maya; a relative path is relative to the file's folder. Its body
    is the lines up to the next ``+`` line; a blank or comment line ends it (the lines after
    it, up to the next entry, are dropped). Fake decision: of entries with the same name,
    the first that matches is taken."""
    entries, current, seen = [], None, set()
    for line in text.splitlines():
        if line.startswith("+"):
            current = None
            words = line[1:].split()
            conditions = dict(w.split(":", 1) for w in words if re.match(r"^[A-Z]+:", w))
            rest = [w for w in words if not re.match(r"^[A-Z]+:", w)]
            if len(rest) != 3:
                continue
            wanted = {"MAYAVERSION": STATE.version, "PLATFORM": PLATFORM, "LOCALE": "en_US"}
            if any(conditions.get(key, value) != value for key, value in wanted.items()):
                continue
            name, _, path = rest
            if name in seen:
                continue
            seen.add(name)
            current = (name, os.path.normpath(os.path.join(where, path)), [])
            entries.append(current)
        elif not line.strip() or line.lstrip().startswith("#"):
            current = None
        elif current is not None:
            current[2].append(line.strip())
    return entries


def _apply_module(path, body):
    folders = dict((name, os.path.join(path, name)) for name, _ in MODULE_FOLDERS)
    for line in body:
        override = _OVERRIDE.match(line)
        if override:
            folders[override.group(1)] = os.path.normpath(os.path.join(path, override.group(2)))
            continue
        variable = _VARIABLE.match(line)
        if variable is None:
            continue
        name, operator, value = variable.groups()
        if ":" in operator:
            value = os.path.normpath(os.path.join(path, value))
        if operator.startswith("+"):
            _append(name, value)
        else:
            STATE.env[name] = value
        if name == "PYTHONPATH":
            sys.path.append(value)
    for name, variables in MODULE_FOLDERS:
        if os.path.isdir(folders[name]):
            for variable in variables:
                _append(variable, folders[name])
            if name == "scripts":
                sys.path.append(folders[name])


def load_modules():
    """Read every file in the module folders (Maya reads them whatever their extension) and
    apply the entries this Maya takes: variables in ``STATE.env`` (what the fake's commands
    read), PYTHONPATH and ``scripts`` folders on ``sys.path``. Returns the module names."""
    loaded = []
    for folder in module_folders():
        if not os.path.isdir(folder):
            continue
        for file_name in sorted(os.listdir(folder)):
            path = os.path.join(folder, file_name)
            if not os.path.isfile(path):
                continue
            with open(path) as handle:
                text = handle.read()
            for name, module_path, body in parse_module_file(text, folder):
                if name not in loaded:
                    _apply_module(module_path, body)
                    loaded.append(name)
    return loaded


# -- shelves --------------------------------------------------------------------------------------
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_BUTTON_FLAGS = {"label": "label", "annotation": "annotation", "image": "image",
                 "image1": "image", "imageOverlayLabel": "imageOverlayLabel",
                 "command": "command", "sourceType": "sourceType"}


def _mel_unquote(text):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def _mel_quote(text):
    return '"%s"' % (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))


def read_shelf_file(path):
    """The buttons of a shelf file Maya wrote (``shelfButton -flag value ... ;`` blocks), as
    dicts of the flags the fake keeps."""
    with open(path) as handle:
        text = handle.read()
    buttons = []
    for block in re.findall(r"\bshelfButton\b(.*?);\s*$", text, re.S | re.M):
        button, flag = {}, None
        for quoted, word in _TOKEN.findall(block):
            if quoted == "" and re.match(r"^-[A-Za-z]", word):
                flag = word[1:]
            elif flag in _BUTTON_FLAGS and _BUTTON_FLAGS[flag] not in button:
                button[_BUTTON_FLAGS[flag]] = _mel_unquote(quoted) if word == "" else word
        buttons.append(button)
    return buttons


def write_shelf_file(path, name, buttons):
    """A shelf file in the layout Maya writes (the flags the fake keeps)."""
    lines = ["global proc shelf_%s () {" % name, "    global string $gBuffStr;",
             "    global string $gBuffStr0;", "    global string $gBuffStr1;", "", ""]
    for button in buttons:
        lines.append("    shelfButton")
        for flag in ("annotation", "label", "imageOverlayLabel", "image", "command",
                     "sourceType"):
            if button.get(flag) is not None:
                lines.append("        -%s %s " % (flag, _mel_quote(button[flag])))
        lines.append("    ;")
    lines += ["", "} ", ""]
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def load_shelves():
    """Each ``shelf_<name>.mel`` of the user's prefs, then of MAYA_SHELF_PATH (a name already
    loaded is skipped), becomes a shelf in the shelf bar; Maya remembers where it came from."""
    from maya import cmds
    folders = [prefs_shelves()] + [p for p in _environ("MAYA_SHELF_PATH").split(os.pathsep)
                                   if p]
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for file_name in sorted(os.listdir(folder)):
            match = re.match(r"^shelf_(\w+)\.mel$", file_name)
            if match is None or match.group(1) in STATE.shelf_files:
                continue
            name, path = match.group(1), os.path.join(folder, file_name)
            cmds.shelfLayout(name, parent=SHELF_BAR)
            for button in read_shelf_file(path):
                cmds.shelfButton(parent=name, **button)
            STATE.shelf_files[name] = path


def save_shelves():
    """``saveAllShelves``: every shelf in the shelf bar written to a file: back to the file it
    was loaded from when that can be written (a module on MAYA_SHELF_PATH included), else,
    and for shelves made in this session, to the user's prefs. Returns the files written."""
    written = []
    for name, record in list(STATE.ui.items()):
        if record["kind"] != "shelfLayout" or record["parent"] != SHELF_BAR:
            continue
        source = STATE.shelf_files.get(name)
        if source is None or not os.access(os.path.dirname(source), os.W_OK) or (
                os.path.exists(source) and not os.access(source, os.W_OK)):
            source = os.path.join(prefs_shelves(), "shelf_%s.mel" % name)
        buttons = [dict((k, r.get(k)) for k in set(_BUTTON_FLAGS.values()))
                   for r in STATE.ui.values()
                   if r["kind"] == "shelfButton" and r["parent"] == name]
        write_shelf_file(source, name, buttons)
        written.append(source)
    return written
