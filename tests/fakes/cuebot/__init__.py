"""A fake Cuebot: a real gRPC server on loopback, built from opencue_proto's servicers, that the
real pycue talks to and that dispatches frames to a real RQD.

    cuebot = FakeCuebot(log_root="/tmp/logs")
    cuebot.start()                    # listens on 127.0.0.1:<free port>
    opencue.Cuebot.setHosts([cuebot.address])
    ...
    cuebot.stop()

RQD must be told to report to ``cuebot.port`` and to listen on ``cuebot.rqd_port`` (Cuebot dials
every host on one configured RQD port); ``tests/fakes/cuebot/harness.py`` starts one so.
"""
import concurrent.futures
import socket

import grpc

from .engine import CuebotError, Engine  # noqa: F401
from .servicers import add_servants
from .spec import SpecError  # noqa: F401

__all__ = ["FakeCuebot", "CuebotError", "SpecError", "free_port"]


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeCuebot(object):
    """The server and its engine; ``engine`` holds the state tests may look at or change
    (``engine.remove_job``, ``engine.host_down_after``, ``engine.rpc_log``)."""

    def __init__(self, log_root, rqd_port=None, host_down_after=300.0):
        self.rqd_port = rqd_port or free_port()
        self.engine = Engine(log_root, self.rqd_port, host_down_after=host_down_after)
        self.server = None
        self.port = None
        self._manage_queue = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=32))
        self._manage_queue = add_servants(self.server, self.engine)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.engine.start()
        return self

    def stop(self):
        self.engine.stop()
        if self.server is not None:
            self.server.stop(grace=None).wait(5)
        if self._manage_queue is not None:
            self._manage_queue.shutdown(wait=False)

    def create_show(self, name):
        """Create a show, as an OpenCue administrator does (cueadmin -create-show)."""
        return self.engine.create_show(name).name
