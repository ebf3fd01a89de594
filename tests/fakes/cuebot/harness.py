"""A fake Cuebot with ONE real RQD process reporting to it, both on 127.0.0.1.

RQD runs from an environment of its own (``.venv-rqd``, made by ``make test`` from
tests/requirements/rqd.txt; ``$DCCFUTURES_TEST_RQD_PYTHON`` names another Python), as on a farm
where the host agent never shares the frames' Python: RQD 1.37 pins psutil 5.9.8, which the
`deadline` library in the test environment cannot live with.

RQD is configured through its config file (``python -m rqd -c <file> --nimbyoff``):
it reports to the fake's port, listens on the loopback interface only
(RQD_NETWORK_INTERFACE=lo; without it RQD binds [::]), names itself 127.0.0.1, keeps nimby off,
uses the machine's cores, tags itself ``general`` (RQD_TAGS: so Cuebot puts it in the
allocation ``cloud.general``, of RQD's default facility ``cloud``, which is also the facility of
a job that names none, and to which the seed show ``testing`` subscribes; an untagged host would
join the seed's default allocation, ``local.general``, where such jobs never run), writes
command files and frame temp dirs under a private TMPDIR, and runs frames as its own user (RQD_BECOME_JOB_USER=False, RQD's default): here, the user running
the tests.
"""
import os
import signal
import subprocess
import sys
import time

import psutil
from opencue_proto.job_pb2 import FINISHED

from . import FakeCuebot

HOST = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def rqd_python():
    """The Python RQD runs in, or None when there is none: ``$DCCFUTURES_TEST_RQD_PYTHON``, the
    repository's ``.venv-rqd``, or this Python if it has RQD itself."""
    named = os.environ.get("DCCFUTURES_TEST_RQD_PYTHON")
    if named:
        return named
    for folder in ("bin", "Scripts"):
        candidate = os.path.join(ROOT, ".venv-rqd", folder,
                                 "python.exe" if folder == "Scripts" else "python")
        if os.path.isfile(candidate):
            return candidate
    try:
        import rqd  # noqa: F401
    except ImportError:
        return None
    return sys.executable

RQD_CONFIG = """[Override]
OVERRIDE_CUEBOT = {host}
CUEBOT_GRPC_PORT = {cuebot_port}
RQD_GRPC_PORT = {rqd_port}
RQD_NETWORK_INTERFACE = lo
RQD_USE_IP_AS_HOSTNAME = True
OVERRIDE_NIMBY = False
RQD_TAGS = general
RQD_BECOME_JOB_USER = False
CONSOLE_LOG_LEVEL = WARNING
"""


class RqdProcess(object):
    """One real RQD (``python -m rqd``) and every frame process it starts."""

    def __init__(self, cuebot, workdir):
        self.cuebot = cuebot
        self.workdir = workdir
        self.tmpdir = os.path.join(workdir, "tmp")
        self.config = os.path.join(workdir, "rqd.conf")
        self.log_path = os.path.join(workdir, "rqd.log")
        self.process = None
        self.env = {}  # set for RQD at every start (a restart after a crash too)
        os.makedirs(self.tmpdir, exist_ok=True)
        with open(self.config, "w") as handle:
            handle.write(RQD_CONFIG.format(host=HOST, cuebot_port=cuebot.port,
                                           rqd_port=cuebot.rqd_port))

    def start(self, timeout=60.0):
        """Start RQD and wait until its boot report reached the fake Cuebot."""
        booted_before = self._boot_time()
        env = dict(os.environ, TMPDIR=self.tmpdir, PYTHONUNBUFFERED="1", **self.env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [rqd_python(), "-m", "rqd", "-c", self.config, "--nimbyoff"],
                cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("RQD exited with %s; its log:\n%s"
                                   % (self.process.returncode, self.log()))
            if self._boot_time() != booted_before:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("RQD did not report to the fake Cuebot within %ss; its log:\n%s"
                           % (timeout, self.log()))

    def _boot_time(self):
        with self.cuebot.engine.lock:
            host = self.cuebot.engine.hosts.get(HOST)
            return host.boot_count if host is not None else 0

    def log(self):
        try:
            with open(self.log_path) as handle:
                return handle.read()[-5000:]
        except OSError:
            return ""

    def frame_processes(self):
        """Every process RQD started (frames run in their own sessions, as RQD's children)."""
        if self.process is None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def crash(self):
        """The host dies: RQD, then every frame it ran, are killed (SIGKILL); RQD reports
        nothing."""
        children = self.frame_processes()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._kill_frames(children)

    def stop(self):
        """Stop RQD and every frame process it started."""
        self._kill_frames()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def _kill_frames(self, children=None):
        if children is None:
            children = self.frame_processes()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(children, timeout=5)


class CueFarm(object):
    """What the fixture yields: the fake Cuebot, its RQD and how to reach them."""

    def __init__(self, workdir, host_down_after=300.0):
        self.workdir = workdir
        self.log_root = os.path.join(workdir, "logs")
        os.makedirs(self.log_root, exist_ok=True)
        self.cuebot = FakeCuebot(self.log_root, host_down_after=host_down_after)
        self.rqd = None

    @property
    def host(self):
        return HOST

    @property
    def port(self):
        return self.cuebot.port

    @property
    def address(self):
        return self.cuebot.address

    @property
    def engine(self):
        return self.cuebot.engine

    def create_show(self, name):
        return self.cuebot.create_show(name)

    def create_subscription(self, show, allocation, size, burst):
        """Let ``show`` book on ``allocation`` (core points; the host is in cloud.general)."""
        return self.engine.create_subscription(show, allocation, size, burst)

    def clean(self, timeout=15.0):
        """Kill every pending job (as `job.kill()` does) and wait until RQD runs nothing, so
        the next test finds the host idle."""
        engine = self.engine
        if self.rqd.process.poll() is not None:   # a crashed host comes back (boot report)
            self.rqd.start()
        with engine.lock:
            pending = [job for job in engine.jobs.values() if job.state != FINISHED]
            started = [proc.frame.start_time for proc in engine.procs.values() if proc.frame]
        # RQD 1.37 kills process group 0 (itself) when a kill reaches a frame it has not
        # forked yet (RunningFrame.pid is 0, not None): let fresh frames start first.
        if started:
            time.sleep(max(0.0, max(started) + 1.0 - time.time()))
        for job in pending:
            engine.kill_job(job, "test cleanup")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.rqd.process.poll() == -signal.SIGKILL:
                # RQD 1.37's own bug despite the pause above (a loaded machine forks late):
                # it SIGKILLs its own process group. It comes back; its boot report frees
                # what Cuebot still booked on it, as Cuebot does for a host that restarted.
                self.rqd.start()
            with engine.lock:
                busy = bool(engine.procs)
            if not busy and not self.rqd.frame_processes():
                break
            time.sleep(0.05)
        else:
            with engine.lock:
                procs = sorted(proc.frame.name if proc.frame else "?"
                               for proc in engine.procs.values())
            raise RuntimeError("host not idle %.0f s after cleanup: Cuebot still books %s, "
                               "RQD still runs %s; RQD's log:\n%s"
                               % (timeout, procs, self.rqd.frame_processes(),
                                  self.rqd.log()[-4000:]))
        code = self.rqd.process.poll()
        if code is not None:
            log = self.rqd.log()
            self.rqd.start()
            if code != -signal.SIGKILL:  # not RQD 1.37's kill of its own group (see above)
                raise RuntimeError("RQD died during the test (status %s; restarted); its "
                                   "log:\n%s" % (code, log))

    def start(self):
        self.cuebot.start()
        self.rqd = RqdProcess(self.cuebot, os.path.join(self.workdir, "rqd")).start()
        return self

    def stop(self):
        if self.rqd is not None:
            self.rqd.stop()
        self.cuebot.stop()
