"""Fixtures for OpenCue tests: a fake Cuebot (tests/fakes/cuebot) with one real RQD process,
both on 127.0.0.1, started once per test session.

    def test_something(cue_farm):           # the farm, pycue not touched
    def test_other(cue):                    # the farm, with pycue pointed at it

``cue_farm.address`` is "127.0.0.1:<port>" for pycue (opencue.Cuebot.setHosts or
CUEBOT_HOSTS); ``cue_farm.create_show(name)`` creates a show (Cuebot only knows "testing");
``cue_farm.engine`` is the fake's state (jobs, frames, hosts; ``remove_job``,
``host_down_after``, ``rpc_log``); ``cue_farm.rqd`` is the RQD process (``crash()``,
``start()``, ``frame_processes()``, ``log()``).
"""
import pytest


@pytest.fixture(scope="session")
def cue_farm(tmp_path_factory):
    pytest.importorskip("opencue", reason="pip install -e '.[test]' brings opencue-pycue")
    from tests.fakes.cuebot.harness import CueFarm, rqd_python
    if rqd_python() is None:
        pytest.skip("no RQD: `make test` makes .venv-rqd (tests/requirements/rqd.txt)")
    farm = CueFarm(str(tmp_path_factory.mktemp("cuefarm"))).start()
    yield farm
    farm.stop()


@pytest.fixture
def cue(cue_farm, monkeypatch):
    """The session's fake Cuebot + RQD, with pycue (and CUEBOT_HOSTS) pointed at it."""
    import opencue
    monkeypatch.setenv("CUEBOT_HOSTS", cue_farm.address)
    if opencue.Cuebot.Hosts != [cue_farm.address] or opencue.Cuebot.RpcChannel is None:
        opencue.Cuebot.setHosts([cue_farm.address])
    if cue_farm.rqd.process.poll() is not None:   # a test crashed the host: bring it back
        cue_farm.rqd.start()
    yield cue_farm
    cue_farm.clean()   # kill what the test left running: the next test gets an idle host


@pytest.fixture(scope="session")
def cue_spool(cue_farm, tmp_path_factory):
    """The spool folder the session's render host trusts: RQD gives frames a minimal
    environment, so it is restarted once with ``[UseHostEnvVar] DCCFUTURES_CONFIG`` in its
    rqd.conf and that variable naming a config whose ``opencue.spool_dir`` is this folder (a
    frame reads only that from its host's config). Every OpenCue test's config names it."""
    folder = tmp_path_factory.mktemp("cue-spool")
    spool = str(folder / "spool")
    config = str(folder / "render-host.yaml")
    with open(config, "w") as handle:
        handle.write("opencue: {spool_dir: %s}\n" % spool)
    rqd = cue_farm.rqd
    with open(rqd.config) as handle:
        original = handle.read()
    rqd.stop()
    with open(rqd.config, "w") as handle:
        handle.write(original + "\n[UseHostEnvVar]\nDCCFUTURES_CONFIG\n")
    rqd.env["DCCFUTURES_CONFIG"] = config  # kept when a test's crash makes ``cue`` restart it
    rqd.start()
    return spool
