"""Blender: an Executor whose work runs in a bootstrapped Blender, with the artist's .blend.

    from dccfutures.blender import Executor
    ex = Executor(clone_environ=True, create_tempfile=True, cpus=4)
    futures = [ex.submit(render_frame, frame) for frame in range(1, 25)]

Imports ``bpy`` only inside its methods. The work runs on the farm in a Python that can
``import bpy`` (PyPI's ``bpy`` module build; prototype ``dccfutures_bpy``, the default in the
bpy module: ``dcc.blender.<version>.python`` in the config, else this Python) or in ``blender
-b`` (prototype ``dccfutures_blender``, the default inside the Blender application:
``dcc.blender.<version>.blender``, else this Blender). Each farm worker opens the scene copy
once and then runs many items.

In Blender's UI, done-callbacks run on the main thread (one persistent timer runs what other
threads queue) and :func:`progress` shows progress in the status bar, Esc cancelling the rest.

The copy sits beside the artist's .blend, in the same folder: every ``//`` path (textures,
libraries, and the render output, which Blender does not remap when it saves elsewhere)
resolves on the farm as in the session. A never-saved scene is copied to a private scratch
folder under the farm home.
"""
import concurrent.futures
import itertools
import logging
import os
import queue
import re
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from . import executor, scene_copies
from . import status as status_text
from .dcc import DccExecutor
from .future import set_callback_dispatcher

PROTOTYPE = "dccfutures_bpy"
APPLICATION_PROTOTYPE = "dccfutures_blender"  # the default inside the Blender application
LOGGER = logging.getLogger("dccfutures")
MAIN_THREAD_INTERVAL = 0.05   # seconds between looks at the calls waiting for the main thread
MAIN_THREAD_BUDGET = 0.02     # seconds of such calls per look: the UI stays responsive
PROGRESS_INTERVAL = 0.1       # seconds between redraws of progress()


class Executor(DccExecutor):
    """``dccfutures.Executor`` for Blender work."""

    dcc, title = "blender", "Blender"
    # prototype -> (bootstrap kind, config key): a Python that imports the bpy module, or the
    # Blender executable (blender -b: the user's preferences, add-ons and startup scripts).
    bootstraps = {PROTOTYPE: ("bpy", "python"),
                  APPLICATION_PROTOTYPE: ("blender_batch", "blender")}
    # Saving elsewhere does not remap the render output path (``//render/f_####`` would land
    # next to a copy in a subfolder): the copy must sit in the artist's own folder.
    copy_beside_scene = True

    def __init__(self, clone_environ: Optional[bool] = None, create_tempfile: bool = False,
                 blendfile: Optional[str] = None, version: Optional[str] = None,
                 prototype: Optional[str] = None, **kwargs: Any):
        # Inside the Blender application its own Python cannot import the bpy module, so the
        # default there is blender -b; in the bpy module (or outside Blender), the bpy bootstrap.
        prototype = prototype or (APPLICATION_PROTOTYPE if _binary_path() else PROTOTYPE)
        super().__init__(clone_environ=clone_environ, create_tempfile=create_tempfile,
                         filename=blendfile, version=version or _running_version(),
                         prototype=prototype, **kwargs)

    @property
    def blendfile(self) -> Optional[str]:
        """The .blend the farm opens (the temp copy once ``create_tempfile()`` ran)."""
        return self.filename

    def _session_scene(self) -> Optional[str]:
        import bpy
        return bpy.data.filepath or None

    def _callbacks_on_main_thread(self) -> None:
        """Inside Blender with its UI, done-callbacks run on Blender's main thread (through a
        persistent ``bpy.app.timers`` timer): ``bpy`` is not safe to touch from the poller
        thread. In background Blender (the ``bpy`` module, ``blender -b``) timers never
        fire, so callbacks run directly, where the future ends."""
        callbacks_on_main_thread()

    def _session_executable(self) -> Optional[str]:
        """With nothing in the config, the Blender running this session, for work of its own
        version: the executable
        (``bpy.app.binary_path``) for ``blender -b``; for the bpy bootstrap, this Python when
        it runs the bpy module (``binary_path`` is empty there; inside the application,
        ``sys.executable`` is Blender's bundled Python, which cannot import bpy)."""
        binary = _binary_path()
        if binary is None or self.version != _running_version():
            return None
        key = self.bootstraps[self.prototype][1]
        if key == "blender":
            return binary or None
        if key == "python" and not binary:
            return sys.executable
        return None

    def _bootstrap_options(self) -> Dict[str, Any]:
        # The farm's Blender enables the artist's add-ons it has not (see
        # dccfutures.runtime.blender.enable_session_addons). Not this one: the farm needs no
        # Farm menu, and its watcher has no business in a worker.
        addons = [name for name in _session_addons()
                  if name.rpartition(".")[2] != "dccfutures_blender"]
        return {"addons": addons} if addons else {}

    def _job(self, fields: Dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # Cycles' threads in each of the job's workers (set once, at boot).
        job = super()._job(fields, *args, **kwargs)
        threads = self._threads_per_item(fields)
        if threads:
            job.package["bootstrap"]["render_threads"] = threads
        return job

    def _threads_per_item(self, fields: Dict[str, Any]) -> Optional[int]:
        """Cycles' render threads of one item, or None for the scene's own setting.

        A reservation of ``host.processors=N`` (Qube's, per subjob) gives N. Otherwise
        ``cpus`` is what the whole job may use: on the local farm at most ``cpus`` items run
        at once on this one machine, ``min(cpus, workers)`` of them, which share the ``cpus``
        cores (``cpus=2`` on 2 workers: two items of one thread, not two of two). On another
        farm each item has a machine's share the farm decides: the scene's setting."""
        reservations = str(fields.get("reservations") or "")
        reserved = re.search(r"\bhost\.processors=(\d+)", reservations)
        if reserved:
            return int(reserved.group(1)) or None
        cpus = int(fields.get("cpus") or 0)
        if cpus <= 0 or self.farm.name != "local":
            return None
        return max(1, cpus // min(cpus, self.config.local.workers))

    def _session_version(self) -> str:
        import bpy
        return "%d.%d" % tuple(bpy.app.version[:2])

    def _copy_path(self, scene: Optional[str]) -> str:
        if scene:
            return super()._copy_path(scene)
        # Never saved: nothing relative to resolve. A private folder (the farm home's own
        # 0700), and a name scene_copies recognises as ours to delete.
        from .farms.local.home import Home
        scratch = os.path.join(Home().path, "scratch")
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        return scene_copies.copy_path(os.path.join(scratch, "untitled.blend"))

    def _save_copy(self, path: str) -> None:
        # copy=True: the session keeps its file name and its unsaved-changes flag.
        import bpy
        bpy.ops.wm.save_as_mainfile(filepath=path, copy=True)
        if not os.path.isfile(path):
            raise RuntimeError("Blender wrote no copy of the scene to %s" % path)


def _binary_path() -> Optional[str]:
    """``bpy.app.binary_path``: the Blender executable running this session, ``""`` in the
    bpy module; None outside Blender."""
    try:
        import bpy
    except ImportError:
        return None
    return bpy.app.binary_path


def _session_addons() -> List[str]:
    """The add-ons enabled in this session, in the order they were enabled; none outside
    Blender (work submitted from plain Python)."""
    try:
        import bpy
    except ImportError:
        return []
    return list(bpy.context.preferences.addons.keys())


def _running_version() -> Optional[str]:
    """This Blender's ``"major.minor"``; None outside Blender."""
    try:
        import bpy
    except ImportError:
        return None
    return "%d.%d" % tuple(bpy.app.version[:2])


def in_ui() -> bool:
    """True inside Blender with its UI; False in the bpy module, ``blender -b`` or outside."""
    try:
        import bpy
    except ImportError:
        return False
    return not bpy.app.background


# -- Blender's main thread --------------------------------------------------------------------
#
# Other threads (the poller, the farm watcher) never touch bpy: they queue calls here, and one
# persistent timer runs them on the main thread. Persistent, because Blender drops the other
# timers when a file loads. bpy.app.timers itself is not thread-safe, so the timer is
# installed from the main thread only.

_main_thread_calls: "queue.SimpleQueue[Callable[[], Any]]" = queue.SimpleQueue()
_main_thread_running = False


def callbacks_on_main_thread() -> bool:
    """In Blender's UI, send every future's done-callbacks to Blender's main thread; True when
    they go there. Called by ``Executor()`` and by the add-on when it registers; from the
    main thread (elsewhere it only says whether they already go there)."""
    if not in_ui() or not _start_main_thread_calls():
        return False
    set_callback_dispatcher(call_on_main_thread)
    return True


def call_on_main_thread(fn: Callable[[], Any]) -> None:
    """Run ``fn()`` on Blender's main thread soon; safe from any thread. An ``fn`` that
    raises is logged and the others still run."""
    _main_thread_calls.put(fn)


def _start_main_thread_calls() -> bool:
    global _main_thread_running
    if threading.current_thread() is not threading.main_thread():
        return _main_thread_running
    import bpy
    if not bpy.app.timers.is_registered(_run_main_thread_calls):
        bpy.app.timers.register(_run_main_thread_calls, first_interval=0.0, persistent=True)
    _main_thread_running = True
    return True


def _run_main_thread_calls() -> float:
    """The timer: run what other threads queued, for at most MAIN_THREAD_BUDGET seconds a
    look. A call that raises, even SystemExit, is logged: it must not end this timer (Blender
    unregisters a timer whose function raises), nor keep the next calls from running."""
    deadline = time.monotonic() + MAIN_THREAD_BUDGET
    while time.monotonic() < deadline:
        try:
            fn = _main_thread_calls.get_nowait()
        except queue.Empty:
            return MAIN_THREAD_INTERVAL
        try:
            fn()
        except BaseException:
            LOGGER.exception("dccfutures: a call on Blender's main thread raised")
    return 0.0  # more to do: look again at once, after Blender handled its events


def report(message: str, level: str = "info") -> bool:
    """Show ``message`` as a Blender report: the status bar, then the Info editor; safe from
    any thread. False where there is no UI to show it in (nothing is shown)."""
    kind = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}[level]
    if not in_ui() or not _start_main_thread_calls():
        return False
    call_on_main_thread(lambda: _report_now(message, kind))
    return True


_reports: List[Any] = []  # (kind, message) waiting for the reporting operator, in order


def _report_now(message: str, kind: str) -> None:
    # A report shows in the Info editor only when a running modal operator makes it: the
    # reports of an operator that Python runs to the end are printed and dropped. One such
    # operator at a time reports everything waiting, so the reports keep their order.
    import bpy
    _reports.append((kind, message))
    if len(_reports) > 1:
        return  # the operator already on its way reports this one too
    window = _a_window(bpy)
    if window is None:
        print("dccfutures: " + message)
        _reports.clear()
        return
    _register_operators()
    try:
        with bpy.context.temp_override(window=window):
            bpy.ops.dccfutures.report_message("INVOKE_DEFAULT")
    except BaseException:
        _reports.clear()
        raise


def _a_window(bpy: Any) -> Any:
    return getattr(bpy.context, "window", None) or next(
        iter(bpy.context.window_manager.windows), None)


# -- progress ---------------------------------------------------------------------------------

class Progress(list):
    """The futures :func:`progress` shows (it is a list of them), and what it shows.

    ``text`` is the status bar's text, ``done`` how many futures are done, ``finished``
    whether the display ended, ``cancelled`` whether Esc (or :meth:`cancel`) cancelled the
    futures that were left.
    """

    def __init__(self, futures: Iterable[Any], status: str):
        super().__init__(futures)
        self.status = status
        self.text = ""
        self.finished = False
        self.cancelled = False

    @property
    def done(self) -> int:
        return sum(1 for future in self if future.done())

    def cancel(self) -> int:
        """Cancel (kill on the farm) the futures not done yet, as Esc does; the display ends
        at its next redraw. Returns how many were cancelled."""
        self.cancelled = True
        return executor.cancel_all(future for future in self if not future.done())

    def _cancel_in_background(self) -> threading.Thread:
        """What Esc does: the farm is called from a thread of its own (a slow or unreachable
        farm must not freeze Blender); the outcome is in ``_cancel_outcome`` once it ends:
        ("WARNING", how many were cancelled) or ("ERROR", why the farm refused)."""
        self.cancelled = True

        def cancel() -> None:
            try:
                self._cancel_outcome = ("WARNING", "Esc cancelled %d" % self.cancel())
            except Exception as error:
                self._cancel_outcome = ("ERROR", "Esc could not cancel the rest: %s: %s"
                                        % (type(error).__name__, error))
        thread = threading.Thread(target=cancel, name="dccfutures-cancel", daemon=True)
        thread.start()
        return thread

    def describe(self) -> str:
        """``Waiting for the farm: 2/5  40%, 1 failed``."""
        tally: Dict[str, int] = {}
        for future in self:
            state = _outcome(future)
            tally[state] = tally.get(state, 0) + 1
        fraction = tally.get("complete", 0) / len(self) if self else 1.0
        return "%s: %s" % (self.status, status_text.progress_text(tally, fraction))


def _outcome(future: Any) -> str:
    if future.cancelled():
        return "killed"
    if future.done():
        return "failed" if future.exception() is not None else "complete"
    state = getattr(future, "status", None)
    return state() if callable(state) else "pending"


_progress_shown: Dict[int, Progress] = {}
_progress_tokens = itertools.count(1)  # an operator's IntProperty: 32 bits, not an id()


def progress(futures: Iterable[Any], status: str = "Waiting for the farm") -> Progress:
    """Show how many of ``futures`` are done; Esc cancels (kills) the ones still pending or
    running. Returns a :class:`Progress`, the list of the futures.

    In Blender's UI it cannot wait: a blocking wait would freeze Blender, which gets no
    events meanwhile. It returns at once, while a modal operator on the main thread drives
    the window manager's progress (``progress_begin/update/end``) and the status bar text,
    and reports the outcome when all are done; use done-callbacks (they run on the main
    thread) for the results. Loading a file ends the display, not the work.

    In background Blender (the bpy module, ``blender -b``) and outside Blender it waits for
    all of them and returns them done.
    """
    shown = Progress(futures, status)
    if not in_ui():
        concurrent.futures.wait(shown)
        shown.text, shown.finished = shown.describe(), True
        return shown
    token = next(_progress_tokens)
    _progress_shown[token] = shown
    if threading.current_thread() is threading.main_thread():
        _show_progress(token)
    else:
        call_on_main_thread(lambda: _show_progress(token))
    return shown


def _show_progress(token: int) -> None:
    import bpy
    _register_operators()
    window = _a_window(bpy)
    if window is None:  # no window to show it in: nothing to drive, nothing to cancel
        _progress_shown.pop(token).finished = True
        return
    with bpy.context.temp_override(window=window):
        bpy.ops.dccfutures.farm_progress("INVOKE_DEFAULT", token=token)


# -- the operators behind progress() and report() ------------------------------------------
#
# Registered on first use (the library imports bpy only inside functions); the add-on's
# unregister removes them with unregister().

_operators: List[Any] = []


def _register_operators() -> None:
    import bpy
    if not _operators:
        _operators.extend(_operator_classes(bpy))
    for cls in _operators:
        if not getattr(cls, "is_registered", False):
            bpy.utils.register_class(cls)


def unregister() -> None:
    """Remove the operators this module registered (the add-on's unregister calls it).
    Done-callbacks keep going to the main thread: an executor of the session may still wait."""
    import bpy
    for cls in reversed(_operators):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)


def _operator_classes(bpy: Any) -> List[Any]:
    class DCCFUTURES_OT_farm_progress(bpy.types.Operator):
        """Show how much farm work is done; Esc cancels what is left"""

        bl_idname = "dccfutures.farm_progress"
        bl_label = "Farm Progress"
        bl_options = {"INTERNAL"}
        token: bpy.props.IntProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore

        def invoke(self, context: Any, event: Any) -> Any:
            shown = _progress_shown.get(self.token)
            if shown is None:
                return {"CANCELLED"}
            manager = context.window_manager
            self._timer = manager.event_timer_add(PROGRESS_INTERVAL, window=context.window)
            manager.modal_handler_add(self)
            manager.progress_begin(0, max(1, len(shown)))
            self._redraw(context, shown)
            return {"RUNNING_MODAL"}

        def modal(self, context: Any, event: Any) -> Any:
            shown = _progress_shown.get(self.token)
            if shown is None:
                return {"CANCELLED"}
            cancelling = getattr(self, "_cancelling", None)
            if event.type == "ESC" and event.value == "PRESS" and cancelling is None:
                self._cancelling = shown._cancel_in_background()
                return {"RUNNING_MODAL"}
            if event.type == "TIMER" and cancelling is not None:
                if cancelling.is_alive():
                    return {"PASS_THROUGH"}
                self._end(context, shown)
                kind, text = shown._cancel_outcome
                self.report({kind}, "%s (%s)" % (shown.text, text))
                return {"CANCELLED"}
            if event.type == "TIMER":
                self._redraw(context, shown)
                if shown.cancelled or shown.done == len(shown):
                    self._end(context, shown)
                    self.report({"INFO"}, shown.text)
                    return {"FINISHED"}
            return {"PASS_THROUGH"}

        def cancel(self, context: Any) -> None:
            # Blender ends it (a file loads, the window closes): the work goes on.
            shown = _progress_shown.get(self.token)
            if shown is not None:
                self._end(context, shown)

        def _redraw(self, context: Any, shown: Progress) -> None:
            shown.text = shown.describe()
            context.window_manager.progress_update(shown.done)
            if context.workspace is not None:
                context.workspace.status_text_set(shown.text + "    Esc: cancel the rest")

        def _end(self, context: Any, shown: Progress) -> None:
            manager = context.window_manager
            manager.event_timer_remove(self._timer)
            manager.progress_end()
            if context.workspace is not None:
                context.workspace.status_text_set(None)
            shown.text, shown.finished = shown.describe(), True
            _progress_shown.pop(self.token, None)

    class DCCFUTURES_OT_report_message(bpy.types.Operator):
        """Show dccfutures' messages in the status bar and the Info editor"""

        bl_idname = "dccfutures.report_message"
        bl_label = "dccfutures Message"
        bl_options = {"INTERNAL"}

        def invoke(self, context: Any, event: Any) -> Any:
            self._timer = context.window_manager.event_timer_add(0.0, window=context.window)
            context.window_manager.modal_handler_add(self)
            return {"RUNNING_MODAL"}

        def modal(self, context: Any, event: Any) -> Any:
            if event.type != "TIMER":
                return {"PASS_THROUGH"}
            context.window_manager.event_timer_remove(self._timer)
            waiting = list(_reports)
            _reports.clear()
            for kind, message in waiting:
                self.report({kind}, message)
            return {"FINISHED"}

        def cancel(self, context: Any) -> None:
            # Blender ends it first (a file loads): the messages go to the terminal.
            for kind, message in _reports:
                print("dccfutures: %s: %s" % (kind.lower(), message))
            _reports.clear()

    return [DCCFUTURES_OT_farm_progress, DCCFUTURES_OT_report_message]
