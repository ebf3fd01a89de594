"""TEST AID, not Houdini API: inspect and drive the fake Houdini session (``hou``) from tests.

``reset(mode=None)`` (a fresh session: "hython" = no UI, "ui" = graphical Houdini; default
``$DCCFUTURES_FAKE_HOU_MODE`` or "ui"), ``mode()``, ``hip_path()``, ``is_modified()`` (the real
unsaved flag, which hython's ``hasUnsavedChanges()`` does not tell), ``nodes()``,
``write_hip``/``read_hip`` (fake hip files), ``write_hda`` (a fake asset library), ``select(paths)``, ``set_main_thread``,
``process_deferred``/``pending`` (the hdefereval queue), ``interrupt_after(n)`` (the artist's
Esc), ``progress()``, ``messages()``, ``renders()``, ``read_render_log(path)``.
"""
import json
import os
import threading

import hou

STATE = hou.STATE


def reset(mode=None):
    """A fresh session: untitled empty scene (``/``, ``/obj``, ``/out``), frame 1, nothing
    queued, no message, no render, main thread = the interpreter's main thread."""
    with STATE.lock:
        STATE.reset(mode)


def mode():
    """"hython" or "ui"."""
    return STATE.mode


def hip_path():
    """The session's hip file path, without going through hou."""
    return STATE.hip


def is_modified():
    """The session's real unsaved-changes flag (hython's hasUnsavedChanges() is always True)."""
    return STATE.modified


def nodes():
    """{path: (type name, category name)} of the session's nodes."""
    return dict((p, (r.kind, r.category)) for p, r in STATE.nodes.items())


def write_hip(path, nodes=None, selected=(), frame=1, warnings=()):
    """Write a fake hip file. ``nodes`` maps an absolute path to a type name or to
    ``{"type": ..., "category": ..., "parms": {...}}``; the category defaults from the path
    (``/out/*`` Driver, ``/obj/x`` Object, ``/obj/x/y`` Sop, ``/stage/*`` Lop). ``warnings``
    make ``hou.hipFile.load`` raise hou.LoadWarning unless ``ignore_load_warnings``."""
    hou._write_hip_data(str(path), hou._node_entries(nodes), selected, frame, warnings)
    return str(path)


def write_hda(path, types):
    """Write a fake digital asset library (``.hda``/``.otl``) defining the asset ``types``
    (namespaced type names, ``studio::rock``): ``hou.hipFile.load`` finds it in ``$HIP/otls``
    or ``$HIP/hda``. Missing folders are created."""
    folder = os.path.dirname(os.path.abspath(str(path)))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    with open(str(path), "w") as handle:
        json.dump({"fakeHoudiniHda": 1, "types": [str(t) for t in types]}, handle)
    return str(path)


def read_hip(path):
    """A fake hip file's content: ``{"nodes": {path: {"type", "category", "parms"}},
    "selected": [...], "frame": f, "warnings": [...]}``."""
    with open(str(path)) as handle:
        data = json.load(handle)
    return {"nodes": dict((n["path"], {"type": n["type"], "category": n["category"],
                                       "parms": n["parms"]}) for n in data["nodes"]),
            "selected": data["selected"], "frame": data["frame"],
            "warnings": data.get("warnings", [])}


def select(paths):
    """Replace the selection by ``paths`` (as the artist clicking in the network editor)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    for path in paths:
        if path not in STATE.nodes:
            raise KeyError("no node %s in the fake scene" % path)
    STATE.selected[:] = paths


def set_main_thread(thread=None):
    """Which thread counts as Houdini's main thread (default: the interpreter's)."""
    STATE.main_thread = thread or threading.main_thread()


def pending():
    """How many hdefereval entries wait."""
    with STATE.lock:
        return len(STATE.deferred)


def process_deferred(max_turns=1000):
    """Run the hdefereval queue on the calling thread as Houdini's event loop would, turn after
    turn, until it is empty (entries queued meanwhile run too). Returns how many ran."""
    count = 0
    for _ in range(max_turns):
        if not pending():
            return count
        count += hou._run_deferred_turn()
    raise RuntimeError("hdefereval queue still busy after %d turns" % max_turns)


def interrupt_after(updates):
    """The artist presses Esc after ``updates`` more progress updates: the next
    ``updateProgress``/``updateLongProgress`` after those raises hou.OperationInterrupted
    (``interrupt_after(0)``: the very next one). One shot. None cancels."""
    with STATE.lock:
        STATE.progress_updates = 0
        STATE.interrupt_after = None if updates is None else int(updates)


def progress():
    """Every InterruptableOperation event: ``(operation_name, kind, percentage, status)``
    with kind "begin", "progress", "long" or "end"."""
    return list(STATE.progress)


def messages():
    """What hou.ui showed: dicts with ``kind`` ("dialog", "status", "save_prompt"),
    ``text``, ``severity``..."""
    return [dict(m) for m in STATE.messages]


def renders():
    """Every ROP render call in this process: dicts with ``node``, ``frame_range`` [start,
    end, inc], ``frames`` rendered, ``hip``, ``pid``, ``output_file``, ``error``."""
    return [dict(r) for r in STATE.renders]


def read_render_log(path):
    """The renders recorded in a ``$DCCFUTURES_FAKE_HOU_RENDER_LOG`` file (any process)."""
    try:
        with open(str(path)) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except IOError:
        return []
