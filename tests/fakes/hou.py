"""A fake of SideFX Houdini's Python module ``hou``, for dccfutures' tests.

Put ``tests/fakes`` on ``sys.path``/``PYTHONPATH`` and ``import hou`` as inside Houdini (the fake
``tests/fakes/bin/hython`` does that, in "hython" mode; ``hou`` is importable at once, with no
initialise step, as in the real hython). The session's state lives in this module (``STATE``):
mode, hip file name and unsaved flag, the nodes of the open scene and their parms, the
selection, the current frame, the variable table (``$HIP``, ``$HIPNAME``, ``$HIPFILE``, ``$JOB``),
the hdefereval queue, messages shown, renders done and progress reported. A fake hip file is
a small JSON document (``{"fakeHoudiniHip": 1, "nodes": [...], "selected": [...], "frame": 1,
"warnings": [...]}``; write one with ``hou_fake.write_hip``), so loading, saving and writing
copies are real on disk.

Only the documented API that dccfutures uses exists, with SideFX's keyword names: an unknown
keyword raises TypeError (as the real SWIG wrappers do), an unknown attribute AttributeError.

Implemented (checked against sidefx.com/docs/houdini/hom and the HDK headers)
------------------------------------------------------------------------------
``hou.hipFile``: ``path()``, ``basename()``, ``name()`` (relative to the current directory),
``load(file_name, suppress_save_prompt=False, ignore_load_warnings=False)`` (hou.OperationFailed
for a missing or unreadable file; the file is loaded and then hou.LoadWarning raised when it has
warnings and ignore_load_warnings is False; ``$HIP`` is the file's folder from the start of the
load, and asset types are looked up in ``$HIP/otls`` and ``$HIP/hda`` at that moment: a node of
an asset type defined in neither is not created, with a "Bad node type found" warning), ``save(file_name=None, save_to_recent_files=True)``
(Save As: renames the session, clears the unsaved flag, creates missing folders),
``setName(file_name)``, ``hasUnsavedChanges()`` (always True in hython, as documented),
``isNewFile()`` (in hython: whether the name is the default ``untitled.hip``, as documented),
``clear(suppress_save_prompt=False)``.
``hou.hscript(command)`` -> ``(stdout, stderr)``: ``mwrite -n <file>`` (a copy; the session keeps
its name and unsaved flag), ``mwrite [<file>]`` (Save As); anything else answers
"Unknown command: ..." on stderr.
``hou.node(path)``, ``hou.selectedNodes()``, ``hou.Node`` (``path``, ``name``, ``type``, ``parm``,
``parmTuple``, ``isSelected``, ``setSelected(on, clear_all_selected=False,
show_asset_if_selected=False)``), ``hou.NodeType`` (``name``, ``category``),
``hou.NodeTypeCategory`` (``name``), ``hou.Parm`` (``name``, ``node``, ``path``, ``eval``,
``evalAsString``, ``unexpandedString``, ``set``), ``hou.ParmTuple`` (``name``, ``node``, ``eval``,
``set``, indexing), ``hou.RopNode.render(frame_range=(), res=(), output_file=None,
output_format=None, to_flipbook=False, quality=2, ignore_inputs=False,
method=hou.renderMethod.RopByRop, ignore_bypass_flags=False, ignore_lock_flags=False,
verbose=False, output_progress=False)`` (HDK ``HOM_RopNode::render``), ``hou.renderMethod``.
``hou.qt.mainWindow()``; ``hou.ui.displayMessage``/``setStatusMessage``; ``hou.severityType``;
``hou.confirmType.NoConfirmType``; ``hou.InterruptableOperation(operation_name,
long_operation_name=None, open_interrupt_dialog=False)`` with ``updateProgress(percentage=-1.0)``
and ``updateLongProgress(percentage=-1.0, long_op_status=None)``; ``hou.isUIAvailable``,
``hou.applicationVersion``, ``hou.applicationVersionString``, ``hou.getenv(name,
default_value=None)``, ``hou.putenv(name, value)``, ``hou.expandString``, ``hou.frame``,
``hou.setFrame``, ``hou.playbar.frameRange`` (a ``hou.Vector2``: ``__getitem__`` with an int,
``__len__``, ``x()``, ``y()``; no slices). Exceptions: ``hou.Error`` (``description()``,
``exceptionTypeName()``, ``instanceMessage()``) and its subclasses ``NotAvailable``,
``ObjectWasDeleted``, ``InvalidInput``, ``OperationFailed``, ``OperationInterrupted``,
``LoadWarning``.

Decisions
---------
* Mode: ``$DCCFUTURES_FAKE_HOU_MODE`` at import ("ui", graphical Houdini, by default; the fake
  ``hython`` sets "hython"); ``hou_fake.reset(mode)`` changes it.
* In hython ``hou.ui`` does not exist (``AttributeError: module 'hou' has no attribute 'ui'``,
  as reported for real hython) and ``hou.qt.mainWindow()`` returns None.
* ``$HIP``/``$HIPNAME``/``$HIPFILE`` follow the session's hip file in the variable table AND in
  ``os.environ`` (Houdini's global variables are exported to child processes); ``$JOB`` defaults
  to ``os.environ["JOB"]`` or the start-up directory.
* A node reference taken before ``load``/``clear`` raises hou.ObjectWasDeleted afterwards.
* Asset types: a namespaced type name (``studio::rock``) is a digital asset's type, defined by
  a fake asset library (a JSON ``.hda``/``.otl`` file, ``hou_fake.write_hda``) in ``$HIP/otls``
  or ``$HIP/hda``; every other type counts as built in.
* ``render`` records each call (``hou_fake.renders()``) and, when
  ``$DCCFUTURES_FAKE_HOU_RENDER_LOG`` names a file, appends one JSON line per call to it, so a
  test can see renders done in another process. A node whose parm ``fail_on_frame`` is set
  raises hou.OperationFailed on that frame (the frames before it are rendered and recorded).
  When ``output_file`` or an output parm (``sopoutput``, ``vm_picture``, ``picture``,
  ``lopoutput``, ``filename``) is given, one small text file per frame is written there.
* ``hou.ui.displayMessage`` answers ``default_choice`` (nobody clicks in a test) and records the
  call; ``load`` without ``suppress_save_prompt`` in "ui" mode with unsaved changes records a
  save prompt in the messages and goes on as if the artist answered "Don't Save".
* An InterruptableOperation used outside its ``with`` block raises hou.OperationFailed.

Test aids (not Houdini API): ``hou_fake`` (and ``hdefereval`` for the main-thread queue).
"""
import json
import os
import re
import shlex
import sys
import threading
import time

_MODES = ("hython", "ui")
_DEFAULT_VERSION = "20.5.332"
_UNTITLED = "untitled.hip"
_OUTPUT_PARMS = ("sopoutput", "vm_picture", "picture", "lopoutput", "filename")


# -- exceptions -------------------------------------------------------------------------------
class Error(Exception):
    """Base class of every exception hou raises (HOM_Error)."""
    _description = "Error"

    def __init__(self, instance_message="", /):  # positional only, as hou's (*args)
        Exception.__init__(self, instance_message)
        self._instance_message = instance_message

    def description(self):
        """The class's description, independent of this instance."""
        return self._description

    def exceptionTypeName(self):  # noqa: N802 - Houdini's name
        """The exception type's name ("Error" for the base class)."""
        return type(self).__name__

    def instanceMessage(self):  # noqa: N802 - Houdini's name
        """This instance's message."""
        return self._instance_message

    def __str__(self):
        if self._instance_message:
            return "%s.\n%s" % (self._description, self._instance_message)
        return self._description


class NotAvailable(Error):
    """Raised when a function is not available in this context."""
    _description = "Not available in this context"


class ObjectWasDeleted(Error):
    """Raised when a reference to a node that no longer exists is used."""
    _description = "Attempt to access an object that no longer exists in Houdini"


class InvalidInput(Error):
    """Raised for an invalid argument value."""
    _description = "Invalid input"


class OperationFailed(Error):
    """Raised when an operation (load, save, render...) fails."""
    _description = "The attempted operation failed"


class OperationInterrupted(Error):
    """Raised when the user interrupts an operation (Esc)."""
    _description = "The requested operation was interrupted"


class LoadWarning(Error):
    """Raised by hipFile.load when loading produced warnings (the file IS loaded)."""
    _description = "Warnings were generated during load"


# -- enumerations ----------------------------------------------------------------------------
class EnumValue(object):
    """A value of a hou enumeration (``hou.severityType.Warning``...)."""

    def __init__(self, enum, name, index):
        self._enum = enum
        self._name = name
        self._index = index

    def name(self):
        return self._name

    def __repr__(self):
        return "hou.%s.%s" % (self._enum, self._name)

    __str__ = __repr__

    def __eq__(self, other):
        return (isinstance(other, EnumValue) and other._enum == self._enum
                and other._index == self._index)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self._enum, self._index))

    def __lt__(self, other):
        return self._index < other._index


def _enum(name, values):
    attrs = dict((value, EnumValue(name, value, index)) for index, value in enumerate(values))
    attrs["__doc__"] = "hou.%s: %s." % (name, ", ".join(values))
    attrs["__slots__"] = ()
    return type(name, (object,), attrs)


severityType = _enum("severityType", ("Message", "ImportantMessage", "Warning", "Error",  # noqa: N816
                                      "Fatal"))
renderMethod = _enum("renderMethod", ("RopByRop", "FrameByFrame"))  # noqa: N816
confirmType = _enum("confirmType", ("NoConfirmType",))  # noqa: N816


# -- state -----------------------------------------------------------------------------------
class _State(object):
    """Process-wide state of the fake Houdini session (tests use ``hou_fake``)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self, mode=None):
        mode = mode or os.environ.get("DCCFUTURES_FAKE_HOU_MODE") or "ui"
        if mode not in _MODES:
            raise ValueError("fake hou mode must be one of %s, not %r" % (_MODES, mode))
        self.mode = mode
        self.version = os.environ.get("DCCFUTURES_FAKE_HOUDINI_VERSION") or _DEFAULT_VERSION
        self.cwd = os.getcwd()
        self.variables = {"JOB": os.environ.get("JOB") or self.cwd}
        self.nodes = {}                 # path -> _NodeRecord
        self.selected = []              # paths, in selection order
        self.frame = 1.0
        self.frame_range = (1.0, 240.0)
        self.modified = False
        self.new_file = True
        self.deferred = []              # [(callable, args, kwargs, waiter or None)]
        self.main_thread = threading.main_thread()
        self.interrupt_after = None
        self.progress_updates = 0
        self.progress = []              # (operation_name, kind, percentage, status)
        self.messages = []              # dicts: kind, text, severity, ...
        self.renders = []               # dicts: node, frame_range, frames, hip, ...
        self.window = None
        self._set_hip(os.path.join(self.cwd, _UNTITLED))
        self._default_nodes()

    def _default_nodes(self):
        self.nodes.clear()
        del self.selected[:]
        for path, kind, category in (("/", "root", "Director"), ("/obj", "obj", "Manager"),
                                     ("/out", "out", "Manager")):
            self.nodes[path] = _NodeRecord(path, kind, category, {})

    def _set_hip(self, path):
        path = os.path.abspath(str(path)).replace(os.sep, "/")
        self.hip = path
        hip_dir, base = os.path.dirname(path), os.path.basename(path)
        values = {"HIP": hip_dir, "HIPFILE": path, "HIPNAME": os.path.splitext(base)[0]}
        self.variables.update(values)
        os.environ.update(values)       # Houdini's global variables are exported


class _NodeRecord(object):
    """One node of the scene: path, type, category and parm values."""

    def __init__(self, path, kind, category, parms):
        self.path = path
        self.kind = kind
        self.category = category
        self.parms = dict(parms)


STATE = _State()


# -- hip files ---------------------------------------------------------------------------------
def _category_for(path):
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "Director"
    top = parts[0]
    if len(parts) == 1:
        return "Manager"
    if top == "out":
        return "Driver"
    if top == "obj":
        return "Object" if len(parts) == 2 else "Sop"
    if top == "stage":
        return "Lop"
    if top == "mat":
        return "Vop"
    return "Object"


def _node_entries(nodes):
    """Normalise write_hip's ``nodes``: {path: type} or {path: {"type", "category", "parms"}}."""
    entries = []
    for path, spec in (nodes or {}).items():
        if not str(path).startswith("/"):
            raise ValueError("fake hou: node paths must be absolute, not %r" % (path,))
        if isinstance(spec, str):
            spec = {"type": spec}
        entries.append({"path": str(path).rstrip("/") or "/", "type": spec["type"],
                        "category": spec.get("category") or _category_for(str(path)),
                        "parms": dict(spec.get("parms") or {})})
    return entries


def _write_hip_data(path, entries, selected, frame, warnings=()):
    data = {"fakeHoudiniHip": 1, "version": STATE.version, "nodes": entries,
            "selected": list(selected), "frame": frame, "warnings": list(warnings)}
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def _scene_entries():
    return [{"path": r.path, "type": r.kind, "category": r.category, "parms": dict(r.parms)}
            for r in STATE.nodes.values() if r.path not in ("/", "/obj", "/out")]


def _write_scene(path):
    """Write the session to ``path`` (fake hip format); OperationFailed when impossible."""
    try:
        _write_hip_data(path, _scene_entries(), STATE.selected, STATE.frame)
    except (IOError, OSError) as error:
        raise OperationFailed("Unable to save %s: %s" % (path, error))


def _read_hip(path):
    if not os.path.isfile(path):
        raise OperationFailed("Unable to open file: %s (no such file)" % path)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError) as error:
        raise OperationFailed("Unable to open file: %s (%s)" % (path, error))
    if not isinstance(data, dict) or data.get("fakeHoudiniHip") != 1:
        raise OperationFailed("Unable to open file: %s is not a (fake) hip file" % path)
    return data


def _ask_to_save(action, suppress_save_prompt):
    if STATE.mode == "ui" and not suppress_save_prompt and STATE.modified:
        STATE.messages.append({"kind": "save_prompt", "text": "Save changes to %s before %s?"
                               % (os.path.basename(STATE.hip), action),
                               "answer": "Don't Save"})


def _is_asset_type(type_name):
    """Whether a node type comes from a digital asset: here, a namespaced type name
    (``studio::rock`` or ``studio::rock::2.0``, SideFX's convention for asset types); every
    other type counts as built in."""
    return "::" in str(type_name)


def _asset_types_on_scan_path():
    """The asset types defined by the fake asset libraries (``.hda``/``.otl`` files, see
    ``hou_fake.write_hda``) in ``$HIP/otls`` and ``$HIP/hda``, with ``$HIP`` as it is now: the
    default HOUDINI_OTLSCAN_PATH is ``@/otls:$HIP/otls:$HIP/hda``, and $HIP is on the Houdini
    path (SideFX, "Houdini path": it looks for assets in its hda and otls folders)."""
    defined = set()
    hip = STATE.variables["HIP"]
    for folder in (os.path.join(hip, "otls"), os.path.join(hip, "hda")):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if os.path.splitext(name)[1].lower() not in (".hda", ".otl", ".hdalc", ".hdanc"):
                continue
            try:
                with open(os.path.join(folder, name)) as handle:
                    library = json.load(handle)
            except (IOError, OSError, ValueError):
                continue
            if isinstance(library, dict) and library.get("fakeHoudiniHda") == 1:
                defined.update(str(t) for t in library.get("types", []))
    return defined


class hipFile(object):  # noqa: N801 - Houdini's name
    """``hou.hipFile``: the current scene file of the session."""

    def __init__(self):
        raise TypeError("hou.hipFile is a module, not a class to instantiate")

    @staticmethod
    def path():
        """The absolute path of the current hip file (it may not exist yet)."""
        return STATE.hip

    @staticmethod
    def basename():
        """The file name of the current hip file, with its ``.hip`` extension."""
        return os.path.basename(STATE.hip)

    @staticmethod
    def name():
        """The current hip file's path relative to the current directory."""
        return os.path.relpath(STATE.hip, os.getcwd()).replace(os.sep, "/")

    @staticmethod
    def load(file_name, suppress_save_prompt=False, ignore_load_warnings=False):
        """Replace the session with ``file_name``. OperationFailed if it cannot be read;
        LoadWarning (after loading) if it has warnings and ignore_load_warnings is False.
        ``$HIP`` is the file's folder from the start of the load, and the asset types its
        nodes need are looked up in ``$HIP/otls`` and ``$HIP/hda`` then: a node whose type
        none defines is not created (a "Bad node type" warning)."""
        path = os.path.abspath(os.path.expanduser(str(file_name)))
        data = _read_hip(path)
        _ask_to_save("loading %s" % os.path.basename(path), suppress_save_prompt)
        warnings = list(data.get("warnings") or [])
        with STATE.lock:
            STATE.nodes.clear()
            STATE._default_nodes()
            STATE._set_hip(path)
            defined = _asset_types_on_scan_path()
            skipped = []
            for entry in data.get("nodes", []):
                if any(entry["path"].startswith(parent + "/") for parent in skipped):
                    continue  # inside a node that could not be created
                if _is_asset_type(entry["type"]) and entry["type"] not in defined:
                    skipped.append(entry["path"])
                    warnings.append("Bad node type found: %s in %s."
                                    % (entry["type"], entry["path"]))
                    continue
                STATE.nodes[entry["path"]] = _NodeRecord(entry["path"], entry["type"],
                                                         entry["category"], entry["parms"])
            STATE.selected[:] = [p for p in data.get("selected", []) if p in STATE.nodes]
            STATE.frame = float(data.get("frame", 1))
            STATE.modified = False
            STATE.new_file = False
        if warnings and not ignore_load_warnings:
            raise LoadWarning("\n".join(str(w) for w in warnings))

    @staticmethod
    def save(file_name=None, save_to_recent_files=True):
        """Save the session (Save As when ``file_name`` is given: the session takes that
        name). Missing folders are created; OperationFailed when the file cannot be written."""
        path = STATE.hip if file_name is None else os.path.abspath(str(file_name))
        folder = os.path.dirname(path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder)
        except OSError as error:
            raise OperationFailed("Unable to create %s: %s" % (folder, error))
        _write_scene(path)
        STATE._set_hip(path)
        STATE.modified = False
        STATE.new_file = False

    @staticmethod
    def setName(file_name):  # noqa: N802 - Houdini's name
        """Rename the session without saving it ($HIP & co. follow)."""
        STATE._set_hip(str(file_name))

    @staticmethod
    def hasUnsavedChanges():  # noqa: N802 - Houdini's name
        """Whether the session changed since it was last saved. As documented, only a
        graphical session knows: in hython this is always True."""
        return True if STATE.mode == "hython" else STATE.modified

    @staticmethod
    def isNewFile():  # noqa: N802 - Houdini's name
        """Whether the session is a new file. In hython (as documented) this is whether the
        name is the default file name."""
        if STATE.mode == "hython":
            return os.path.basename(STATE.hip) == _UNTITLED
        return STATE.new_file

    @staticmethod
    def clear(suppress_save_prompt=False):
        """Start a new, empty, untitled session."""
        _ask_to_save("clearing the session", suppress_save_prompt)
        with STATE.lock:
            STATE._default_nodes()
            STATE._set_hip(os.path.join(os.getcwd(), _UNTITLED))
            STATE.modified = False
            STATE.new_file = True


# -- hscript ---------------------------------------------------------------------------------
def hscript(command):
    """Run an HScript command; returns ``(stdout, stderr)``. Only ``mwrite`` exists here:
    ``mwrite -n file`` writes a copy and keeps the session's name and unsaved flag;
    ``mwrite [file]`` is Save As."""
    if not isinstance(command, str):
        raise TypeError("hscript: expected a str, got %r" % (command,))
    try:
        # HScript quoting, as csh's: variables expand unquoted and inside "double quotes",
        # not inside 'single quotes'. Each word: (text, expands).
        words, expands = [], []
        for raw in shlex.split(command, posix=False):
            quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
            words.append(raw[1:-1] if quoted else raw)
            expands.append(not (quoted and raw[0] == "'"))
    except ValueError as error:
        return "", "Syntax error: %s\n" % error
    if not words:
        return "", ""
    if words[0] != "mwrite":
        return "", "Unknown command: %s\n" % words[0]
    copy, files = False, []
    for word, expand in zip(words[1:], expands[1:]):
        if word == "-n":
            copy = True
        elif word.startswith("-"):
            return "", "mwrite: option %s is not supported by the fake hou\n" % word
        else:
            files.append(expandString(word) if expand else word)
    if len(files) > 1:
        return "", "mwrite: too many arguments\n"
    path = os.path.abspath(files[0]) if files else STATE.hip
    if not os.path.isdir(os.path.dirname(path)):
        return "", "Unable to save %s: No such file or directory\n" % path
    try:
        _write_scene(path)
    except OperationFailed as error:
        return "", "%s\n" % error.instanceMessage()
    if not copy:
        STATE._set_hip(path)
        STATE.modified = False
        STATE.new_file = False
    return "", ""


# -- variables, frames, application ------------------------------------------------------------
def getenv(name, default_value=None):
    """A variable of Houdini's table ($HIP, $JOB...) or of the environment."""
    if name in STATE.variables:
        return STATE.variables[name]
    return os.environ.get(name, default_value)


def putenv(name, value):
    """Set a global variable (exported to the environment, as Houdini's are)."""
    STATE.variables[str(name)] = str(value)
    os.environ[str(name)] = str(value)


def _format_frame(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def expandString(str):  # noqa: A002,N802 - Houdini's names
    """Expand ``$VAR``/``${VAR}`` from the variable table and the environment, plus ``$F``
    (current frame), ``$F<n>`` (zero-padded to n digits) and ``$FF`` (float frame). Unknown
    variables are left as they are."""
    text = str

    def replace(match):
        name = match.group(1) or match.group(2)
        frame_match = re.match(r"^F(\d*)$", name)
        if name == "FF":
            return "%g" % STATE.frame
        if frame_match:
            digits = frame_match.group(1)
            value = int(round(STATE.frame))
            return ("%0*d" % (int(digits), value)) if digits else _format_frame(STATE.frame)
        value = getenv(name)
        return match.group(0) if value is None else value
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", replace, text)


def frame():
    """The current frame (a float)."""
    return STATE.frame


def setFrame(frame):  # noqa: N802 - Houdini's name
    """Set the current frame."""
    STATE.frame = float(frame)


class Vector2(object):
    """``hou.Vector2``: two floats, read by index (``v[0]``, ``v[1]``) or ``x()``/``y()``.
    As the real one: no slices (an index must be an int), IndexError past the end (so
    ``start, end = v`` and ``tuple(v)`` work through the old sequence protocol), equal only to
    another Vector2."""

    def __init__(self, x=0.0, y=0.0):
        if isinstance(x, (Vector2, list, tuple)):
            if len(x) != 2:
                raise InvalidInput("a hou.Vector2 needs 2 values, not %d" % len(x))
            x, y = x[0], x[1]
        self._values = [float(x), float(y)]

    def __getitem__(self, index):
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("hou.Vector2 indices must be integers, not %s"
                            % type(index).__name__)
        if not 0 <= index < 2:
            raise IndexError("Invalid index")
        return self._values[index]

    def __setitem__(self, index, value):
        self[index]  # the same checks
        self._values[index] = float(value)

    def __len__(self):
        return 2

    def x(self):
        return self._values[0]

    def y(self):
        return self._values[1]

    def __eq__(self, other):
        return isinstance(other, Vector2) and other._values == self._values

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(tuple(self._values))

    def __repr__(self):
        return "<hou.Vector2 [%s, %s]>" % (_format_frame(self._values[0]),
                                           _format_frame(self._values[1]))


class playbar(object):  # noqa: N801 - Houdini's name
    """``hou.playbar`` (only ``frameRange``)."""

    def __init__(self):
        raise TypeError("hou.playbar is a module, not a class to instantiate")

    @staticmethod
    def frameRange():  # noqa: N802 - Houdini's name
        """The global frame range (start, end), as a hou.Vector2."""
        return Vector2(STATE.frame_range)


def isUIAvailable():  # noqa: N802 - Houdini's name
    """True in graphical Houdini, False in hython."""
    return STATE.mode == "ui"


def applicationVersionString():  # noqa: N802 - Houdini's name
    """"20.5.332" (or ``$DCCFUTURES_FAKE_HOUDINI_VERSION``)."""
    return STATE.version


def applicationVersion():  # noqa: N802 - Houdini's name
    """The version as a tuple of ints: (20, 5, 332)."""
    return tuple(int(part) for part in STATE.version.split("."))


# -- nodes and parms ---------------------------------------------------------------------------
class NodeTypeCategory(object):
    """A node type category: "Driver" (ROPs), "Object", "Sop", "Lop", "Manager"..."""

    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name

    def __eq__(self, other):
        return isinstance(other, NodeTypeCategory) and other._name == self._name

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return "<hou.NodeTypeCategory %s>" % self._name


class NodeType(object):
    """A node's type: ``name()`` ("ifd", "geometry"...) and ``category()``."""

    def __init__(self, name, category):
        self._name = name
        self._category = NodeTypeCategory(category)

    def name(self):
        return self._name

    def category(self):
        return self._category

    def __eq__(self, other):
        return (isinstance(other, NodeType) and other._name == self._name
                and other._category == self._category)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self._name, self._category.name()))

    def __repr__(self):
        return "<hou.NodeType for %s %s>" % (self._category.name(), self._name)


class Node(object):
    """A node of the scene. References die (hou.ObjectWasDeleted) when the scene is replaced."""

    def __init__(self, record):
        self._record = record
        self._path = record.path

    def _live(self):
        if STATE.nodes.get(self._path) is not self._record:
            raise ObjectWasDeleted("Node %s no longer exists" % self._path)
        return self._record

    def path(self):
        return self._live().path

    def name(self):
        path = self._live().path
        return path.rsplit("/", 1)[-1] if path != "/" else "/"

    def type(self):
        record = self._live()
        return NodeType(record.kind, record.category)

    def parm(self, parm_path):
        """The parm called ``parm_path`` on this node, or None."""
        record = self._live()
        if parm_path not in record.parms:
            return None
        return Parm(self, parm_path)

    def parmTuple(self, parm_path):  # noqa: N802 - Houdini's name
        """The parm tuple ``parm_path`` (components ``<name>1``, ``<name>2``... such as
        ``f1 f2 f3`` for ``f``), or None."""
        record = self._live()
        names = []
        index = 1
        while "%s%d" % (parm_path, index) in record.parms:
            names.append("%s%d" % (parm_path, index))
            index += 1
        if not names:
            return None
        return ParmTuple(self, parm_path, names)

    def isSelected(self):  # noqa: N802 - Houdini's name
        return self._live().path in STATE.selected

    def setSelected(self, on, clear_all_selected=False, show_asset_if_selected=False):  # noqa: N802
        """Select or deselect this node; ``clear_all_selected`` deselects the others first."""
        path = self._live().path
        if clear_all_selected:
            del STATE.selected[:]
        if on and path not in STATE.selected:
            STATE.selected.append(path)
        elif not on and path in STATE.selected:
            STATE.selected.remove(path)

    def __eq__(self, other):
        return isinstance(other, Node) and other._record is self._record

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._path)

    def __repr__(self):
        return "<hou.%s of type %s at %s>" % (type(self).__name__, self._record.kind,
                                               self._path)


class Parm(object):
    """One parameter of a node."""

    def __init__(self, node, name):
        self._node = node
        self._name = name

    def _record(self):
        return self._node._live()

    def name(self):
        return self._name

    def node(self):
        return self._node

    def path(self):
        return "%s/%s" % (self._record().path, self._name)

    def unexpandedString(self):  # noqa: N802 - Houdini's name
        """The raw value, without variable expansion."""
        return str(self._record().parms[self._name])

    def eval(self):
        """The value; a string value has its variables expanded."""
        value = self._record().parms[self._name]
        return expandString(value) if isinstance(value, str) else value

    def evalAsString(self):  # noqa: N802 - Houdini's name
        value = self.eval()
        if isinstance(value, float) and value.is_integer():
            return "%d" % value
        return str(value)

    def set(self, value):
        """Set the value (dirties the scene)."""
        if not isinstance(value, (int, float, str)):
            raise TypeError("Parm.set: expected an int, float or str, got %r" % (value,))
        self._record().parms[self._name] = value
        STATE.modified = True

    def __repr__(self):
        return "<hou.Parm %s in %s>" % (self._name, self._node._path)


class ParmTuple(object):
    """A tuple of parms (``f`` = ``f1 f2 f3``)."""

    def __init__(self, node, name, names):
        self._node = node
        self._name = name
        self._names = names

    def name(self):
        return self._name

    def node(self):
        return self._node

    def eval(self):
        return tuple(Parm(self._node, n).eval() for n in self._names)

    def set(self, values, /):  # positional only: hou names it "value"
        values = tuple(values)
        if len(values) != len(self._names):
            raise InvalidInput("Expected %d values" % len(self._names))
        for name, value in zip(self._names, values):
            Parm(self._node, name).set(value)

    def __len__(self):
        return len(self._names)

    def __getitem__(self, index):
        return Parm(self._node, self._names[index])


class RopNode(Node):
    """A render (ROP) node, category "Driver"."""

    def render(self, frame_range=(), res=(), output_file=None, output_format=None,
               to_flipbook=False, quality=2, ignore_inputs=False,
               method=renderMethod.RopByRop, ignore_bypass_flags=False,
               ignore_lock_flags=False, verbose=False, output_progress=False):
        """Render this ROP (signature of HDK ``HOM_RopNode::render``). An empty
        ``frame_range`` uses the node's ``trange``/``f1 f2 f3`` parms (the current frame when
        ``trange`` is 0 or there is no range). Recorded in ``hou_fake.renders()`` and in
        ``$DCCFUTURES_FAKE_HOU_RENDER_LOG``."""
        record = self._live()
        start, end, inc = self._frames(record, frame_range)
        if res and len(tuple(res)) != 2:
            raise InvalidInput("res must be (xres, yres)")
        if not isinstance(method, EnumValue) or method._enum != "renderMethod":
            raise TypeError("method must be a hou.renderMethod value, not %r" % (method,))
        frames = []
        value = start
        while value <= end + 1e-9:
            frames.append(int(value) if float(value).is_integer() else value)
            value += inc
        entry = {"node": record.path, "frame_range": [_num(start), _num(end), _num(inc)],
                 "frames": [], "hip": STATE.hip, "pid": os.getpid(), "time": time.time(),
                 "output_file": output_file, "res": list(res), "error": None}
        fail = record.parms.get("fail_on_frame")
        target = output_file
        if target is None:
            for name in _OUTPUT_PARMS:
                if name in record.parms:
                    target = str(record.parms[name])
                    break
        saved_frame = STATE.frame
        try:
            for index, each in enumerate(frames):
                STATE.frame = float(each)
                if fail not in (None, "") and float(fail) == float(each):
                    entry["error"] = "render of %s failed on frame %s" % (record.path, each)
                    raise OperationFailed("Error: %s" % entry["error"])
                if target:
                    self._write_output(expandString(target), each)
                entry["frames"].append(each)
                if verbose:
                    sys.stdout.write("Rendering %s frame %s\n" % (record.path, each))
                if output_progress:
                    sys.stdout.write("ALF_PROGRESS %d%%\n"
                                     % int(100.0 * (index + 1) / len(frames)))
                    sys.stdout.flush()
        finally:
            STATE.frame = saved_frame
            STATE.renders.append(entry)
            log = os.environ.get("DCCFUTURES_FAKE_HOU_RENDER_LOG")
            if log:
                with open(log, "a") as handle:
                    handle.write(json.dumps(entry, sort_keys=True) + "\n")

    @staticmethod
    def _frames(record, frame_range):
        frame_range = tuple(frame_range)
        if frame_range:
            if len(frame_range) not in (2, 3):
                raise InvalidInput("frame_range must be (start, end) or (start, end, inc)")
            start, end = float(frame_range[0]), float(frame_range[1])
            inc = float(frame_range[2]) if len(frame_range) == 3 else 1.0
        elif record.parms.get("trange", 1) and "f1" in record.parms and "f2" in record.parms:
            start, end = float(record.parms["f1"]), float(record.parms["f2"])
            inc = float(record.parms.get("f3", 1))
        else:
            start = end = STATE.frame
            inc = 1.0
        if inc <= 0 or end < start:
            raise InvalidInput("Invalid frame range %s" % (frame_range or (start, end, inc),))
        return start, end, inc

    @staticmethod
    def _write_output(path, frame_value):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            os.makedirs(folder)
        with open(path, "w") as handle:
            handle.write("fake render of frame %s\n" % frame_value)


def _num(value):
    return int(value) if float(value).is_integer() else value


def _wrap(record):
    return RopNode(record) if record.category == "Driver" else Node(record)


def node(path):
    """The node at ``path`` (absolute, or relative to "/"), or None."""
    path = str(path)
    if not path.startswith("/"):
        path = "/" + path
    path = path.rstrip("/") or "/"
    record = STATE.nodes.get(path)
    return None if record is None else _wrap(record)


def selectedNodes():  # noqa: N802 - Houdini's name
    """The selected nodes, in selection order (a tuple)."""
    return tuple(_wrap(STATE.nodes[p]) for p in STATE.selected if p in STATE.nodes)


# -- the main-thread queue (hdefereval) ------------------------------------------------------
def _run_deferred_turn():
    """One turn of the event loop over the hdefereval queue (see ``hdefereval``): entries
    ``[callable, args, kwargs, waiter or None, waits left]``. Returns how many ran."""
    import traceback
    with STATE.lock:
        queue = list(STATE.deferred)
        del STATE.deferred[:]
        ready = []
        for entry in queue:
            if entry[4] > 0:
                entry[4] -= 1
                STATE.deferred.append(entry)
            else:
                ready.append(entry)
    for function, args, kwargs, waiter, _ in ready:
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            if waiter is not None:
                waiter.error = error
                waiter.event.set()
            else:
                sys.stderr.write("Error running deferred code:\n" + traceback.format_exc())
            continue
        if waiter is not None:
            waiter.result = result
            waiter.event.set()
    return len(ready)


# -- interruptable operations ------------------------------------------------------------------
class InterruptableOperation(object):
    """Context manager for a long operation: progress updates are where the artist's Esc is
    noticed (``hou_fake.interrupt_after``), raising hou.OperationInterrupted."""

    def __init__(self, operation_name, long_operation_name=None, open_interrupt_dialog=False):
        self._name = str(operation_name)
        self._long_name = long_operation_name
        self._open_dialog = bool(open_interrupt_dialog)
        self._entered = False

    def __enter__(self):
        self._entered = True
        STATE.progress.append((self._name, "begin", None, self._long_name))
        return self

    def __exit__(self, exc_type, exc, tb):
        self._entered = False
        STATE.progress.append((self._name, "end", None, None))
        return False

    def _update(self, kind, percentage, status):
        if not self._entered:
            raise OperationFailed("InterruptableOperation %r used outside its with block"
                                  % self._name)
        percentage = float(percentage)
        if percentage != -1.0 and not 0.0 <= percentage <= 1.0:
            raise InvalidInput("percentage must be between 0.0 and 1.0 (or -1), not %r"
                               % percentage)
        with STATE.lock:
            STATE.progress_updates += 1
            interrupt = (STATE.interrupt_after is not None
                         and STATE.progress_updates > STATE.interrupt_after)
            if interrupt:
                STATE.interrupt_after = None
        STATE.progress.append((self._name, kind, percentage, status))
        if interrupt:
            raise OperationInterrupted("%s interrupted by the user" % self._name)

    def updateProgress(self, percentage=-1.0):  # noqa: N802 - Houdini's name
        """Report progress (0.0-1.0, or -1 for unknown) and check for Esc."""
        self._update("progress", percentage, None)

    def updateLongProgress(self, percentage=-1.0, long_op_status=None):  # noqa: N802
        """Report the long (outer) operation's progress and status, and check for Esc."""
        self._update("long", percentage, long_op_status)

    def __repr__(self):
        return "<hou.InterruptableOperation %s>" % self._name


# -- UI -----------------------------------------------------------------------------------------
class _MainWindowSentinel(object):
    """Stands for Houdini's main window when no QApplication exists."""

    def windowTitle(self):  # noqa: N802 - Qt's name
        return "Houdini FX %s - %s" % (STATE.version, os.path.basename(STATE.hip))

    def objectName(self):  # noqa: N802 - Qt's name
        return "HoudiniMainWindow"


def _qt_main_window():
    try:
        from qtpy import QtWidgets
    except Exception:
        return None
    if QtWidgets.QApplication.instance() is None:
        return None
    if STATE.window is None:
        window = QtWidgets.QMainWindow()
        window.setObjectName("HoudiniMainWindow")
        window.setWindowTitle("Houdini FX %s" % STATE.version)
        STATE.window = window
    return STATE.window


class qt(object):  # noqa: N801 - Houdini's name
    """``hou.qt`` (only ``mainWindow``)."""

    def __init__(self):
        raise TypeError("hou.qt is a module, not a class to instantiate")

    @staticmethod
    def mainWindow():  # noqa: N802 - Houdini's name
        """Houdini's main window: a real QMainWindow when qtpy and a QApplication exist, else
        a sentinel with ``windowTitle()``; None in hython."""
        if STATE.mode != "ui":
            return None
        return _qt_main_window() or _SENTINEL_WINDOW


_SENTINEL_WINDOW = _MainWindowSentinel()


class _ui(object):  # noqa: N801
    """``hou.ui`` (graphical Houdini only; absent in hython)."""

    def __init__(self):
        raise TypeError("hou.ui is a module, not a class to instantiate")

    @staticmethod
    def displayMessage(text, buttons=("OK",), severity=severityType.Message,  # noqa: N802
                       default_choice=0, close_choice=None, help=None, title=None,  # noqa: A002
                       details=None, details_label=None, details_expanded=False,
                       suppress=confirmType.NoConfirmType):
        """Show a message dialog; returns the index of the button "clicked" (here always
        ``default_choice``). Recorded in ``hou_fake.messages()``."""
        buttons = tuple(buttons)
        if not buttons or not 0 <= default_choice < len(buttons):
            raise InvalidInput("default_choice %r is not a button index" % (default_choice,))
        STATE.messages.append({"kind": "dialog", "text": str(text), "buttons": buttons,
                               "severity": severity, "title": title, "details": details,
                               "answer": default_choice})
        return default_choice

    @staticmethod
    def setStatusMessage(message, severity=severityType.Message):  # noqa: N802
        """Show ``message`` in the status bar. Recorded in ``hou_fake.messages()``."""
        STATE.messages.append({"kind": "status", "text": str(message), "severity": severity})


def __getattr__(name):
    """``hou.ui`` exists only in graphical Houdini (PEP 562 module attribute)."""
    if name == "ui":
        if STATE.mode == "ui":
            return _ui
        raise AttributeError("module 'hou' has no attribute 'ui'")
    raise AttributeError("module 'hou' has no attribute %r" % (name,))
