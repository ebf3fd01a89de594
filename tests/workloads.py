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
