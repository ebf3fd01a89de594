"""The OpenCue job spec (cjsl XML) we write, and the opencue config section: no Cuebot needed.

The spec is checked three ways: it parses as XML; it passes the fake Cuebot's validator
(tests/fakes/cuebot/spec.py, the DTD's content models restated) and its name rules; and, where
OpenCue's own DTD file and xmllint are at hand, xmllint validates it against that DTD
(``CJSL_DTD=/path/to/cjsl-1.15.dtd``, or a local OpenCue checkout; `apt-get install
libxml2-utils` gives xmllint). OpenCue's DTD is not vendored here.
"""
import os
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from dccfutures import config as config_module
from dccfutures.errors import ConfigError
from dccfutures.farms import opencue as cue
from dccfutures.farms.base import JobSpec, WorkSpec
from tests.fakes.cuebot import spec as fake_spec

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
_MIRROR = "/work/.mirror/AcademySoftwareFoundation+OpenCue/repo"
_DTD_IN_REPO = "cuebot/src/main/resources/public/dtd/cjsl-1.15.dtd"


def _job(n=3, fields=None, depends=None, bootstrap=False, name="submit(tools.cache:export)"):
    package = {"python": "/usr/bin/python3", "callable": "tools.cache:export"}
    if bootstrap:
        package["bootstrap"] = {"kind": "mayapy", "executable": "/opt/maya/bin/mayapy"}
    work = [WorkSpec(b"x", depends_on=list((depends or {}).get(i, ()))) for i in range(n)]
    return JobSpec(name=name, prototype="dccfutures", work=work, fields=dict(fields or {}),
                   package=package)


def _spec(jobs, **kwargs):
    written = [cue.SpecJob(spec, cue.job_name("testing", "sh010", "alice", spec.name, token),
                           token, chunk) for spec, token, chunk in jobs]
    return cue.spec_xml(written, "testing", "sh010", "alice", uid=1000, **kwargs), written


def _root(xml):
    return ET.fromstring(xml.split("?>", 1)[1].split(">", 1)[1])  # past the DOCTYPE


def _layer(xml):
    return _root(xml).find("job/layers/layer")


@pytest.fixture
def dtd(tmp_path):
    """OpenCue's cjsl-1.15.dtd, read from $CJSL_DTD or a local OpenCue checkout."""
    if os.environ.get("CJSL_DTD"):
        return os.environ["CJSL_DTD"]
    if os.path.isdir(_MIRROR) and shutil.which("git"):
        found = subprocess.run(["git", "--git-dir", _MIRROR, "show", "HEAD:" + _DTD_IN_REPO],
                               capture_output=True)
        if found.returncode == 0:
            path = tmp_path / "cjsl-1.15.dtd"
            path.write_bytes(found.stdout)
            return str(path)
    pytest.skip("OpenCue's cjsl-1.15.dtd is not here: set CJSL_DTD to its path")


def test_spec_is_valid_against_the_real_dtd_with_xmllint(dtd, tmp_path):
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is missing: apt-get install libxml2-utils")
    xml, _ = _spec([(_job(4, {"cpus": 2, "priority": 10, "groups": "farm,gpu",
                              "reservations": "host.memory=2048", "timelimit": 90,
                              "max_attempts": 2}, depends={1: [(None, 0)]}), TOKEN, 1),
                    (_job(2, {"status": "blocked"}), OTHER, 1)], facility="local")
    path = tmp_path / "spec.xml"
    path.write_text(xml)
    checked = subprocess.run(["xmllint", "--noout", "--dtdvalid", dtd, str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    # And a spec xmllint must refuse, so the check above can fail: elements out of order.
    bad = xml.replace("<maxretries>1</maxretries><autoeat>False</autoeat>",
                      "<autoeat>False</autoeat><maxretries>1</maxretries>")
    assert bad != xml
    path.write_text(bad)
    assert subprocess.run(["xmllint", "--noout", "--dtdvalid", dtd, str(path)],
                          capture_output=True).returncode != 0


def test_spec_passes_the_fake_cuebots_validation_and_name_rules():
    xml, written = _spec([(_job(3, {"cpus": 4}), TOKEN, 1)])
    root = fake_spec.parse(xml)  # raises SpecError when it does not validate
    name = root.find("job").get("name")
    assert fake_spec.conform_job_name(name, "testing", "sh010", "alice") == name.lower()
    assert name.lower().startswith("testing-sh010-alice_submit_tools.cache_export.")
    assert name.endswith("." + TOKEN)


def test_job_name_keeps_opencues_convention_for_odd_labels():
    for label in ("My Job--v2 (final)!", "__x__", "ünïcode", ""):
        name = cue.job_name("Testing", "SH010", "Bob", label, TOKEN)
        assert fake_spec.conform_job_name(name, "Testing", "sh010", "Bob") == name.lower()


def test_one_layer_whose_frames_are_the_items_and_the_command_runs_our_runtime():
    xml, _ = _spec([(_job(5), TOKEN, 1)])
    layer = _layer(xml)
    assert layer.get("name") == "items" and layer.get("type") == "Render"
    assert layer.findtext("range") == "0-4" and layer.findtext("chunk") == "1"
    command = shlex.split(layer.findtext("cmd"))
    assert command[0] == "/usr/bin/python3" and command[1] == "-c"
    assert command[3:] == ["dccfutures.runtime.opencue", "--job", TOKEN, "--first",
                           "#FRAME_START#", "--last", "#FRAME_END#"]
    env = {key.get("name"): key.text for key in _root(xml).find("job/env")}
    assert os.path.isfile(os.path.join(env["PYTHONPATH"], "dccfutures", "__init__.py"))
    single, _ = _spec([(_job(1), TOKEN, 1)])
    assert _layer(single).findtext("range") == "0"


def test_priority_lower_runs_first_becomes_opencues_higher_runs_first():
    assert cue.opencue_priority(None) is None
    assert cue.opencue_priority(0) == 101
    assert cue.opencue_priority(50) == 51
    assert cue.opencue_priority(99) == 2
    assert cue.opencue_priority(100) == 1 and cue.opencue_priority(9999) == 1
    ours = [0, 1, 10, 50, 99, 100]
    theirs = [cue.opencue_priority(p) for p in ours]
    assert theirs == sorted(theirs, reverse=True)  # what ran first still runs first
    assert [cue.our_priority(p) for p in theirs[:-1]] == ours[:-1]
    xml, _ = _spec([(_job(1, {"priority": 10}), TOKEN, 1)])
    assert _root(xml).findtext("job/priority") == "91"
    xml, _ = _spec([(_job(1), TOKEN, 1)])
    assert _root(xml).find("job/priority") is None  # OpenCue's default


def test_cpus_caps_the_jobs_cores_and_reservations_are_per_frame():
    """``cpus`` is how many items run at once, as on every farm: the job's ``<maxcores>``
    (whole cores) is ``cpus`` frames' worth; a frame reserves one core (the service's) or
    Qube's per-subjob ``host.processors``."""
    xml, _ = _spec([(_job(1, {"cpus": 4, "groups": "farm,gpu", "timelimit": 61}), TOKEN, 1)])
    layer = _layer(xml)
    assert _root(xml).findtext("job/maxcores") == "4"
    assert layer.find("cores") is None       # the service's one core a frame
    assert layer.findtext("tags") == "farm | gpu"
    assert layer.findtext("timeout") == "2"  # minutes, rounded up
    xml, _ = _spec([(_job(1, {"cpus": 4, "groups": ["render"],
                              "reservations": "host.processors=2,host.memory=4096"}),
                     TOKEN, 1)])
    layer = _layer(xml)
    assert _root(xml).findtext("job/maxcores") == "8"  # 4 frames of 2 cores at once
    assert (layer.findtext("cores"), layer.findtext("memory"), layer.findtext("tags")) == \
        ("2.0", "4096m", "render")  # "2" would be 2 hundredths of a core to Cuebot
    xml, _ = _spec([(_job(1), TOKEN, 1)])
    assert _root(xml).find("job/maxcores") is None
    assert _layer(xml).find("cores") is None and _layer(xml).find("tags") is None


def test_bad_groups_and_reservations_name_the_field():
    with pytest.raises(ValueError, match="'groups'.*'ab'"):
        _spec([(_job(1, {"groups": "farm,ab"}), TOKEN, 1)])
    with pytest.raises(ValueError, match="host.memory"):
        _spec([(_job(1, {"reservations": "host.memory=lots"}), TOKEN, 1)])


def test_max_attempts_becomes_retries_and_blocked_becomes_paused():
    xml, _ = _spec([(_job(1, {"max_attempts": 1}), TOKEN, 1)])
    assert _root(xml).findtext("job/maxretries") == "0"
    xml, _ = _spec([(_job(1), TOKEN, 1)], max_attempts=2)
    assert _root(xml).findtext("job/maxretries") == "1"
    assert _root(xml).findtext("job/paused") == "False"
    xml, _ = _spec([(_job(1, {"status": "blocked"}), TOKEN, 1)])
    assert _root(xml).findtext("job/paused") == "True"


def test_dependencies_become_frame_on_frame_depends():
    # items 1 and 2 wait for item 0; item 3 for item 4 of a running job, item 4 for one that
    # ended (its result is read by the runtime: Cuebot cannot depend on a finished job).
    running = "3f2c1c5e-0000-4000-8000-000000000001"
    ended = "3f2c1c5e-0000-4000-8000-000000000002"
    spec = _job(5, depends={1: [(None, 0)], 2: [(None, 0), (running, 2)], 3: [(running, 4)],
                            4: [(ended, 0)]})
    xml, written = _spec([(spec, TOKEN, 1)],
                         external={running: ("testing-sh010-alice_other." + OTHER, 1)})
    fake_spec.parse(xml)
    found = [(d.get("type"), d.findtext("depframe"), d.findtext("onjob"), d.findtext("onframe"))
             for d in _root(xml).find("depends")]
    me = written[0].name
    other = "testing-sh010-alice_other." + OTHER
    assert found == [("FRAME_ON_FRAME", "0001-items", me, "0000-items"),
                     ("FRAME_ON_FRAME", "0002-items", me, "0000-items"),
                     # Cuebot refuses equal frame names in a depend, other job or not:
                     ("FRAME_ON_LAYER", "0002-items", other, None),
                     ("FRAME_ON_FRAME", "0003-items", other, "0004-items")]
    assert all(d.findtext("depjob") == me and d.findtext("deplayer") == "items"
               for d in _root(xml).find("depends"))


def test_dcc_chunks_share_their_frames_depends():
    spec = _job(6, depends={1: [(None, 0)], 4: [(None, 1)], 5: [(None, 2)]}, bootstrap=True)
    xml, _ = _spec([(spec, TOKEN, 3)])
    assert _layer(xml).findtext("chunk") == "3"
    found = [(d.findtext("depframe"), d.findtext("onframe")) for d in _root(xml).find("depends")]
    assert found == [("0003-items", "0000-items")]  # 1 on 0: one frame runs them in order


# -- config ----------------------------------------------------------------------------------

def test_opencue_config_section_and_its_errors_name_the_key():
    config = config_module.parse("farm: opencue\nopencue:\n  hosts: [cuebot1:8443, cuebot2]\n"
                                 "  show: testing\n  shot: sh010\n  facility: local\n"
                                 "  spool_dir: /studio/cue/spool\n")
    assert config.farm == "opencue"
    assert config.opencue.hosts == ("cuebot1:8443", "cuebot2")
    assert (config.opencue.show, config.opencue.shot, config.opencue.spool_dir) == \
        ("testing", "sh010", "/studio/cue/spool")
    for text, key in (("opencue: {hosts: [\"cuebot:99999\"]}", "opencue.hosts[0]"),
                      ("opencue: {hosts: [\"http://cuebot\"]}", "opencue.hosts[0]"),
                      ("opencue: {hosts: cuebot:8443}", "opencue.hosts"),
                      ("opencue: {show: \"my show\"}", "opencue.show"),
                      ("opencue: {shot: ab}", "opencue.shot"),
                      ("opencue: {chunk: 0}", "opencue.chunk"),
                      ("opencue: {sho: x}", "opencue.sho")):
        with pytest.raises(ConfigError) as caught:
            config_module.parse(text, "/studio/config.yaml")
        assert caught.value.key == key, text
        assert "/studio/config.yaml" in str(caught.value)
        assert key.rpartition(".")[2].split("[")[0] in str(caught.value)


def test_a_farm_without_show_or_spool_says_which_key_is_missing(tmp_path):
    config = config_module.parse("opencue: {spool_dir: %s}\n" % tmp_path, "/studio/c.yaml")
    farm = cue.OpenCueFarm(config)
    with pytest.raises(ConfigError, match="opencue.show") as caught:
        farm.submit([_job(1)])
    assert caught.value.key == "opencue.show"
    farm = cue.OpenCueFarm(config_module.parse("opencue: {show: testing}\n", "/studio/c.yaml"))
    with pytest.raises(ConfigError, match="opencue.spool_dir"):
        farm.submit([_job(1)])
    assert not os.listdir(tmp_path)  # nothing was written
