"""Run by the real Blender with its UI (``xvfb-run blender --enable-event-simulate --python
THIS -- OUT.json``) for tests/test_blender_session.py: an artist's session that submits to a
local farm (``$DCCFUTURES_HOME``, ``$DCCFUTURES_CONFIG``), lets Blender's event loop run, and
writes what it saw to OUT.json; then Blender quits. Nothing here asserts: the test does.

Steps run one after the other from a timer on Blender's main thread, each until it says it is
done; whatever raises, or a step that takes too long, is written down and ends the run.
``--enable-event-simulate`` lets ``Window.event_simulate`` put real events (Esc, clicks) in
the window's queue (Blender then ignores the X server's input, of which there is none here).
"""
import json
import os
import sys
import threading
import time
import traceback

import bpy

OUT = sys.argv[sys.argv.index("--") + 1]
sys.path.insert(0, os.environ["DCCFUTURES_TEST_ADDONS"])  # blender_plugin/: the add-on package

STEP_TIMEOUT = 25.0
results = {"errors": [], "callbacks": [], "farm_calls": [], "panel_draws": [], "loads": 0,
           "steps": []}
state = {}


# -- what the farm runs ---------------------------------------------------------------------

def where():
    """On the farm: which Blender runs this."""
    import bpy
    return {"binary": bpy.app.binary_path, "background": bpy.app.background,
            "version": bpy.app.version_string}


def nap(seconds):
    time.sleep(seconds)
    return seconds


# -- watching which thread calls the farm ---------------------------------------------------

def profile(frame, event, arg):
    """Every outermost call into a farm module: which thread, and whether the monitor
    panel's draw() is on the stack."""
    if event != "call":
        return
    code = frame.f_code
    if code.co_name == "draw" and code.co_filename.endswith("dccfutures_blender/monitor.py"):
        results["panel_draws"].append(threading.current_thread().name)
    if "/dccfutures/farms/" not in code.co_filename:
        return
    caller = frame.f_back
    if caller is not None and "/dccfutures/farms/" in caller.f_code.co_filename:
        return
    in_draw = False
    while caller is not None:
        if (caller.f_code.co_name == "draw"
                and caller.f_code.co_filename.endswith("dccfutures_blender/monitor.py")):
            in_draw = True
        caller = caller.f_back
    results["farm_calls"].append([threading.current_thread().name, frame.f_code.co_name,
                                  in_draw])


def on_load(*_):
    results["loads"] += 1


on_load._bpy_persistent = True  # what bpy.app.handlers.persistent sets


# -- helpers --------------------------------------------------------------------------------

def window():
    return bpy.context.window_manager.windows[0]


def record(name):
    def callback(future):
        results["callbacks"].append({
            "name": name, "main": threading.current_thread() is threading.main_thread(),
            "thread": threading.current_thread().name, "loads": results["loads"],
            "result": None if future.cancelled() or future.exception() else future.result()})
    return callback


def raise_system_exit(future):
    results["system_exit_raised"] = True
    raise SystemExit("a done-callback that raises SystemExit")


def raise_value_error(future):
    raise ValueError("a done-callback that raises")


def names():
    return [c["name"] for c in results["callbacks"]]


def row(job_id):
    from dccfutures_blender import monitor
    for shown in monitor.rows():
        if shown.job_id == job_id:
            return shown
    return None


def info_reports():
    """The Info editor's reports, as its Copy command copies them."""
    area = window().screen.areas[0]
    kept = area.type
    area.type = "INFO"
    space = area.spaces[0]
    space.show_report_info = space.show_report_warning = space.show_report_error = True
    region = [r for r in area.regions if r.type == "WINDOW"][0]
    with bpy.context.temp_override(window=window(), area=area, region=region):
        bpy.ops.info.select_all(action="SELECT")
        bpy.ops.info.report_copy()
    area.type = kept
    return bpy.context.window_manager.clipboard


# -- the steps ------------------------------------------------------------------------------

def start():
    import dccfutures
    import dccfutures.blender as dccfutures_blender
    from dccfutures_blender import monitor
    sys.setprofile(profile)
    threading.setprofile(profile)
    bpy.app.handlers.load_post.append(on_load)
    monitor.register()
    state["plain"] = plain = dccfutures.Executor()
    state["blender"] = ex = dccfutures_blender.Executor()   # all defaults, no dcc: config
    results["default"] = {"prototype": ex.prototype, "version": ex.version,
                          "binary_path": bpy.app.binary_path,
                          "session_version": bpy.app.version_string}
    state["where"] = ex.submit(where)
    state["where"].add_done_callback(record("where"))
    first = plain.submit(sum, [1, 2])
    first.add_done_callback(raise_value_error)
    first.add_done_callback(record("after ValueError"))
    first.add_done_callback(raise_system_exit)
    state["first"] = first
    return True


def callbacks_ran():
    if "after ValueError" not in names() or not results.get("system_exit_raised"):
        return False
    state["second"] = state["plain"].submit(sum, [3, 4])  # after one that raised SystemExit
    state["second"].add_done_callback(record("after SystemExit"))
    return True


def load_a_file():
    if "after SystemExit" not in names():
        return False
    path = os.path.join(os.path.dirname(OUT), "shot.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    return True


def after_the_load():
    if not results["loads"]:
        return False
    import dccfutures.blender as dccfutures_blender
    from dccfutures_blender import monitor
    results["timers_after_load"] = {
        "callbacks": bpy.app.timers.is_registered(dccfutures_blender._run_main_thread_calls),
        "monitor": bpy.app.timers.is_registered(monitor._take_reading)}
    late = state["plain"].submit(sum, [5, 6])
    late.add_done_callback(record("after the load"))
    return True


def show_progress():
    if "after the load" not in names():
        return False
    import dccfutures.blender as dccfutures_blender
    futures = [state["plain"].submit(nap, 0)] + [state["plain"].submit(nap, 60)
                                                 for _ in range(2)]
    began = time.monotonic()
    shown = dccfutures_blender.progress(futures, "Rendering")
    results["progress"] = {"returned_in": time.monotonic() - began,
                           "is_the_futures": shown == futures, "texts": []}
    state["progress"], state["progress_futures"] = shown, futures
    return True


def press_esc():
    shown = state["progress"]
    texts = results["progress"]["texts"]
    if shown.text and shown.text not in texts:
        texts.append(shown.text)
    # Esc once the status bar has shown the first one done, while the others still run.
    if not shown.text.startswith("Rendering: 1/3") or not state["progress_futures"][1].running():
        return False
    win = window()
    win.event_simulate(type="ESC", value="PRESS")
    win.event_simulate(type="ESC", value="RELEASE")
    return True


def progress_ended():
    shown, futures = state["progress"], state["progress_futures"]
    if not shown.finished:
        return False
    results["progress"].update({
        "cancelled": shown.cancelled, "final_text": shown.text,
        "futures": [[f.cancelled(), f.status()] for f in futures],
        "job_ids": [f.job_id for f in futures]})
    return True


def default_executable_ran():
    if not state["where"].done():
        return False
    results["where"] = state["where"].result()
    results["where_job"] = state["where"].job_id
    return True


def a_long_job_runs():
    if "long" not in state:
        state["long"] = state["plain"].submit(nap, 60)
    shown = row(state["long"].job_id)
    return shown is not None and shown.status == "running"


def kill_from_the_panel():
    job = state["long"].job_id
    results["long_job"] = job
    bpy.ops.dccfutures.kill_job(job=str(job))
    return True


def killed_in_the_panel():
    shown = row(state["long"].job_id)
    if shown is None or shown.status != "killed":
        return False
    results["after_kill"] = list(shown)
    bpy.ops.dccfutures.retry_job(job=str(state["long"].job_id))
    return True


def retried_in_the_panel():
    shown = row(state["long"].job_id)
    if shown is None or shown.status not in ("pending", "running"):
        return False
    results["after_retry"] = list(shown)
    bpy.ops.dccfutures.kill_job(job=str(state["long"].job_id))  # nothing left running
    return True


def open_the_farm_tab():
    """Show the sidebar and click down its tab strip until the Farm tab's panel draws, as
    an artist would."""
    win = window()
    area = [a for a in win.screen.areas if a.type == "VIEW_3D"][0]
    if results["panel_draws"]:
        return True
    if not area.spaces[0].show_region_ui:
        area.spaces[0].show_region_ui = True
        return False
    region = [r for r in area.regions if r.type == "UI"][0]
    clicks = state["clicks"] = state.get("clicks", 0) + 1
    x = region.x + region.width - 8   # the tabs run down the sidebar's right edge
    y = region.y + region.height - 8 - 12 * clicks
    if y < region.y:
        raise RuntimeError("no tab of the sidebar showed the Farm Monitor panel")
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
    return False


def panel_drawn():
    """Draw the window now, a few times, with the Farm tab open."""
    for _ in range(3):
        bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
    from dccfutures_blender import monitor
    results["rows"] = [list(r) for r in monitor.rows()]
    return True


def job_end_messages():
    text = info_reports()
    # Jobs that ended after the file load: loading a file empties the Info editor.
    wanted = ["dccfutures job %s complete" % results["progress"]["job_ids"][0],
              "dccfutures job %s killed" % results["progress"]["job_ids"][1]]
    results["info"] = text
    return all(w in text for w in wanted) or time.monotonic() - state["step_began"] > 10


def unregister():
    from dccfutures_blender import monitor
    import dccfutures.blender as dccfutures_blender
    for ex in (state["plain"], state["blender"]):
        ex.shutdown(wait=False, cancel_futures=True)
    monitor.unregister()
    time.sleep(0.5)
    results["after_unregister"] = {
        "threads": [t.name for t in threading.enumerate()],
        "monitor_timer": bpy.app.timers.is_registered(monitor._take_reading),
        "classes": [name for name in dir(bpy.types) if name.startswith("DCCFUTURES_")],
        "progress_operator": hasattr(bpy.types, "DCCFUTURES_OT_farm_progress"),
        "callbacks_timer": bpy.app.timers.is_registered(
            dccfutures_blender._run_main_thread_calls)}
    return True


STEPS = [start, callbacks_ran, load_a_file, after_the_load, show_progress, press_esc,
         progress_ended, default_executable_ran, a_long_job_runs, kill_from_the_panel,
         killed_in_the_panel, retried_in_the_panel, open_the_farm_tab, panel_drawn,
         job_end_messages, unregister]


def finish():
    sys.setprofile(None)
    threading.setprofile(None)
    with open(OUT, "w") as handle:
        json.dump(results, handle, indent=1, default=repr)
    bpy.ops.wm.quit_blender()


def tick():
    steps = state.setdefault("left", list(STEPS))
    state.setdefault("step_began", time.monotonic())
    try:
        step = steps[0]
        if step():
            results["steps"].append([step.__name__, round(time.monotonic()
                                                          - state["step_began"], 2)])
            steps.pop(0)
            state["step_began"] = time.monotonic()
        elif time.monotonic() - state["step_began"] > STEP_TIMEOUT:
            raise RuntimeError("step %s did not end in %.0f s" % (step.__name__, STEP_TIMEOUT))
    except BaseException:
        results["errors"].append(traceback.format_exc())
        steps.clear()
    if not steps:
        finish()
        return None
    return 0.05


bpy.app.timers.register(tick, first_interval=0.2, persistent=True)
