"""Functions the tests run on the farm. Importable by workers: they see the test's sys.path."""
import os
import sys
import threading
import time

import dccfutures


def add(a, b=0):
    return a + b


def fail(message):
    raise ValueError(message)


def raise_cancelled():
    """A call that itself raises ``concurrent.futures.CancelledError`` (its future is not
    cancelled: the call failed)."""
    import concurrent.futures
    raise concurrent.futures.CancelledError("the tool gave up")


def fail_on(value, unlucky):
    if value == unlucky:
        raise ValueError("%d is unlucky" % value)
    return value


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__("needs two arguments: %s %s" % (a, b))


def raise_unpicklable():
    raise Unpicklable(1, 2)


def return_lock():
    return threading.Lock()


def where_am_i():
    return {"module": __name__, "pid": os.getpid()}


def chatty(i):
    print("out %d" % i)
    print("err %d" % i, file=sys.stderr)
    return i


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def wait_for_file(path, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)
    return os.getpid()


def progress_then_wait(flag):
    dccfutures.report_progress(0.5, "half way")
    wait_for_file(flag)
    return "done"


def append_line(path, text):
    with open(path, "a") as handle:
        handle.write(text + "\n")


def concurrency_probe(folder):
    """Return how many probes ran at once (via marker files)."""
    marker = os.path.join(folder, "probe-%d-%d" % (os.getpid(), time.monotonic_ns()))
    open(marker, "w").close()
    try:
        time.sleep(0.3)
        return len([n for n in os.listdir(folder) if n.startswith("probe-")])
    finally:
        os.unlink(marker)


def set_env(name, value):
    os.environ[name] = value


def get_env(name):
    return os.environ.get(name)


def pid_then_sleep(pid_file, seconds):
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(seconds)
    return "survived"


def spawn_child_and_sleep(pid_file, seconds):
    """Start a grandchild process, record its pid, and sleep: killing must reach both."""
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(%d)" % seconds])
    with open(pid_file, "w") as handle:
        handle.write(str(child.pid))
    time.sleep(seconds)
    return "survived"


def crash_once(marker):
    """Die hard the first time (as a DCC crash would), succeed the second."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        print("about to crash", flush=True)
        os._exit(3)
    return "second attempt"


def always_crash():
    print("segfault-like death", flush=True)
    os.kill(os.getpid(), 9)


def nested(depth):
    """Submit one level deeper and wait for it: returns the QBLVL seen at each level."""
    level = os.environ.get("QBLVL")
    if depth <= 1:
        return [level]
    with dccfutures.Executor() as ex:
        return [level] + ex.submit(nested, depth - 1).result()


def nested_until_error():
    """Recurse until the limit refuses: returns the QBLVL at which submit raised."""
    try:
        with dccfutures.Executor() as ex:
            return ex.submit(nested_until_error).result()
    except dccfutures.RecursionLimitError as error:
        return {"level": os.environ.get("QBLVL"), "error": str(error)}


def submit_from_two_clients(n, tag):
    with dccfutures.Executor() as ex:
        return sum(ex.map(add, range(n), [tag] * n))


def timed(value, seconds=0.0):
    """Return ``(value, start, end)`` times: to check that one item ran after another."""
    start = time.time()
    time.sleep(seconds)
    return value, start, time.time()


def total(values):
    """Sum anything nested in lists and dicts (dependency results arrive in place)."""
    if isinstance(values, dict):
        return sum(total(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return sum(total(v) for v in values)
    return values


def record_job_end(info):
    """An on_done hook: append what it was told to the file named by $DCCFUTURES_TEST_HOOK."""
    import json
    with open(os.environ.get("DCCFUTURES_TEST_HOOK") or info["name"], "a") as handle:
        handle.write(json.dumps(info, sort_keys=True) + "\n")


def fail_unless_file(path, value):
    """Fail until ``path`` exists (a fix the artist makes before a retry), then return
    ``(value, start, end)``."""
    if not os.path.exists(path):
        raise ValueError("not fixed yet: %s" % path)
    return timed(value)


def fail_unless_file_then_wait(path, gate, value):
    """Fail until ``path`` exists; then wait for ``gate`` and return ``(value, start, end)``."""
    if not os.path.exists(path):
        raise ValueError("not fixed yet: %s" % path)
    wait_for_file(gate)
    return timed(value)


def print_then_wait(text, gate):
    """Write ``text`` to stdout and stderr, then wait for ``gate``: output of an item that
    will be killed or cancelled while it runs."""
    print("out: " + text, flush=True)
    print("err: " + text, file=sys.stderr, flush=True)
    wait_for_file(gate)
    return text


def print_then_exit(text, code):
    """Write ``text``, then leave the worker process at once (no clean-up, no flush)."""
    print("out: " + text)
    sys.stdout.flush()
    os.write(2, ("err: " + text + "\n").encode())
    os._exit(code)


def print_then_segfault(text):
    """Write ``text``, then crash the interpreter (a null pointer read)."""
    import ctypes
    print("out: " + text, flush=True)
    os.write(2, ("err: " + text + "\n").encode())
    ctypes.string_at(0)


def flood(megabytes, then="return"):
    """Print ``megabytes`` of numbered lines between a first and a last line; ``then``
    'wait' keeps printing forever (a runaway loop)."""
    line = "%08d " + "x" * 90 + "\n"  # 100 bytes
    print("first line", flush=True)
    count = 0
    while then == "wait" or count < megabytes * 10000:
        sys.stdout.write(line % count)
        count += 1
    print("last line", flush=True)
    return count


def wait_for_file_or_value(gate, seconds):
    """Sleep ``seconds`` and return "value" when ``gate`` is None; else wait for ``gate``."""
    if gate is None:
        time.sleep(seconds)
        return "value"
    wait_for_file(gate)
    return gate


def wait_then_mark(gate, marker):
    """Wait for ``gate``; then create ``marker`` (if given) as the very last thing."""
    wait_for_file(gate)
    if marker:
        open(marker, "w").close()
    return gate


INITIALIZED = "not initialized"


def initialize(path, value):
    """An executor's initializer: leaves ``value`` for the job's items and records the
    process and job it ran in (one line each time it runs)."""
    global INITIALIZED
    INITIALIZED = value
    append_line(path, "%d %s" % (os.getpid(), os.environ.get("DCCFUTURES_JOB_ID")))


def initialized(_=None):
    """What the initializer left, and where this call ran."""
    return INITIALIZED, os.getpid()


def initialize_with_scene():
    """An initializer for Maya work: what scene is open when it runs."""
    global INITIALIZED
    import maya.cmds as cmds
    INITIALIZED = cmds.file(query=True, sceneName=True)


def fast_or_hold_gil(seconds):
    """Return at once for 0; else block ``seconds`` in C WITHOUT releasing the GIL, as most
    maya.cmds and hou calls do (``ctypes.PyDLL`` keeps the GIL across the call)."""
    if seconds:
        import ctypes
        ctypes.PyDLL(None).sleep(int(seconds))
    return seconds


def start_sleepers(pid_file, marker=None, in_group=True):
    """Start ``sleep 600`` in the worker's process group (unless ``in_group`` is False) and
    one in a session of its own (setsid), write ``pid start-ticks`` of the worker and of each
    sleeper (one line each, the worker first), then wait. With a ``marker``, only the first
    attempt does so: a retry returns "retried"."""
    import subprocess
    if marker is not None:
        if os.path.exists(marker):
            return "retried"
        open(marker, "w").close()
    children = [subprocess.Popen(["sleep", "600"])] if in_group else []
    children.append(subprocess.Popen(["sleep", "600"], start_new_session=True))
    lines = ["%d %d" % (pid, start_ticks(pid)) for pid in [os.getpid()] +
             [child.pid for child in children]]
    with open(pid_file + ".tmp", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.rename(pid_file + ".tmp", pid_file)
    time.sleep(600)
    return "survived"


def start_ticks(pid):
    """A process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rpartition(")")[2].split()[19])


def exhaust_memory_in(cgroup, megabytes):
    """Move this worker into memory cgroup ``cgroup`` (limited by the test) and use more
    memory than it allows: the kernel's out-of-memory killer ends the worker."""
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
        handle.write(str(os.getpid()))
    hog = bytearray(megabytes << 20)
    for at in range(0, len(hog), 4096):
        hog[at] = 1
    return len(hog)
