"""The YAML config: defaults, the design's example, and errors that name file, line and key."""
import os
import textwrap

import pytest

from dccfutures import config
from dccfutures.config import Config, ConfigError, EnvironConfig, LocalConfig, QubeConfig

EXAMPLE = textwrap.dedent("""\
    farm: local                    # str, one of: local, qube
    defaults: {cpus: 4, groups: farm, priority: 100}
    local:
      workers: 2
      idle_timeout: 600
      max_attempts: 3
      retention_days: 7
      heartbeat: 2.0
      lease_timeout: 30
    qube:
      spool_dir: /studio/qube/spool
      poll_min: 0.1
      poll_max: 2.0
      spool_threshold_mb: 1
    python: /usr/bin/python3
    max_payload_mb: 64
    dcc:
      maya:
        "2025": {mayapy: /usr/autodesk/maya2025/bin/mayapy, maya: /usr/autodesk/maya2025/bin/maya}
      houdini:
        "20.5": {hython: /opt/hfs20.5/bin/hython}
    environ: {deny: [STUDIO_SECRET, "LOCAL_*"], allow: []}
    shelves: {extra: [/studio/shelves/tools.yaml]}
    """)


@pytest.fixture
def no_user_config(monkeypatch, tmp_path):
    """No $DCCFUTURES_CONFIG, and a default location that holds no file."""
    monkeypatch.delenv("DCCFUTURES_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(config.sys, "platform", "linux")


def error_of(text):
    with pytest.raises(ConfigError) as info:
        config.parse(text, "/studio/dccfutures.yaml")
    return info.value


# --- Defaults and the full example ----------------------------------------------------------

def test_no_file_gives_all_defaults(no_user_config):
    loaded = config.load()
    assert loaded == Config()
    assert loaded.path is None
    assert loaded.farm == "local"
    assert loaded.local.workers == (os.cpu_count() or 1)
    assert (loaded.local.idle_timeout, loaded.local.max_attempts) == (600, 3)
    assert (loaded.local.retention_days, loaded.local.heartbeat, loaded.local.lease_timeout) == \
        (7, 2.0, 30.0)
    assert loaded.qube == QubeConfig(spool_dir=None, poll_min=0.1, poll_max=2.0,
                                     spool_threshold_mb=1.0)
    assert loaded.python is None
    assert loaded.max_payload_mb == 64
    assert loaded.dcc == {} and loaded.defaults == {}
    assert loaded.environ == EnvironConfig(deny=(), allow=())
    assert loaded.shelves_extra == ()


@pytest.mark.parametrize("text", ["", "# all commented out\n", "---\n", "local:\n"])
def test_empty_file_or_section_gives_defaults(text):
    assert config.parse(text) == Config()


def test_default_config_path_follows_xdg(no_user_config, tmp_path):
    assert config.default_config_path() == str(tmp_path / "xdg" / "dccfutures" / "config.yaml")


def test_default_config_path_on_macos_and_windows(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(config.sys, "platform", "darwin")
    assert config.default_config_path() == os.path.join(
        str(tmp_path), "Library", "Application Support", "dccfutures", "config.yaml")
    monkeypatch.setattr(config.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert config.default_config_path() == os.path.join(
        str(tmp_path / "Roaming"), "dccfutures", "config.yaml")


def test_full_example_parses():
    parsed = config.parse(EXAMPLE, "/studio/dccfutures.yaml")
    assert parsed.path == "/studio/dccfutures.yaml"
    assert parsed.farm == "local"
    assert parsed.defaults == {"cpus": 4, "groups": "farm", "priority": 100}
    assert parsed.local == LocalConfig(workers=2, idle_timeout=600, max_attempts=3,
                                       retention_days=7, heartbeat=2.0, lease_timeout=30)
    assert parsed.qube == QubeConfig(spool_dir="/studio/qube/spool", poll_min=0.1, poll_max=2.0,
                                     spool_threshold_mb=1)
    assert parsed.python == "/usr/bin/python3"
    assert parsed.max_payload_mb == 64
    assert parsed.dcc == {
        "maya": {"2025": {"mayapy": "/usr/autodesk/maya2025/bin/mayapy",
                          "maya": "/usr/autodesk/maya2025/bin/maya"}},
        "houdini": {"20.5": {"hython": "/opt/hfs20.5/bin/hython"}},
    }
    assert parsed.environ == EnvironConfig(deny=("STUDIO_SECRET", "LOCAL_*"), allow=())
    assert parsed.shelves_extra == ("/studio/shelves/tools.yaml",)


def test_paths_expand_user_and_environment_variables(monkeypatch):
    monkeypatch.setenv("HOME", "/home/td")
    monkeypatch.setenv("STUDIO", "/mnt/studio")
    parsed = config.parse(textwrap.dedent("""\
        python: ~/venv/bin/python
        qube: {spool_dir: $STUDIO/spool}
        dcc: {houdini: {"20.5": {hython: "${STUDIO}/hfs/bin/hython"}}}
        shelves: {extra: [~/shelf.yaml]}
        """))
    assert parsed.python == "/home/td/venv/bin/python"
    assert parsed.qube.spool_dir == "/mnt/studio/spool"
    assert parsed.dcc_executable("houdini", "20.5", "hython") == "/mnt/studio/hfs/bin/hython"
    assert parsed.shelves_extra == ("/home/td/shelf.yaml",)


def test_numeric_version_keys_keep_their_text():
    parsed = config.parse(textwrap.dedent("""\
        dcc:
          maya:
            2025: {mayapy: /maya2025/bin/mayapy}
          houdini:
            20.5: {hython: /hfs20.5/bin/hython}
            20.50: {hython: /hfs20.50/bin/hython}
        """))
    assert parsed.dcc == {"maya": {"2025": {"mayapy": "/maya2025/bin/mayapy"}},
                          "houdini": {"20.5": {"hython": "/hfs20.5/bin/hython"},
                                      "20.50": {"hython": "/hfs20.50/bin/hython"}}}


def test_dcc_executable_lookup():
    parsed = config.parse(EXAMPLE)
    assert parsed.dcc_executable("maya", "2025", "mayapy") == "/usr/autodesk/maya2025/bin/mayapy"
    assert parsed.dcc_executable("maya", "2025", "maya") == "/usr/autodesk/maya2025/bin/maya"
    assert parsed.dcc_executable("houdini", "20.5", "hython") == "/opt/hfs20.5/bin/hython"
    assert parsed.dcc_executable("maya", "2024", "mayapy") is None
    assert parsed.dcc_executable("houdini", "20.5", "mayapy") is None
    assert parsed.dcc_executable("nuke", "15", "nuke") is None
    assert Config().dcc_executable("maya", "2025", "mayapy") is None


def test_yaml_anchors_and_merge_keys_work():
    parsed = config.parse(textwrap.dedent("""\
        dcc:
          maya:
            "2025": &maya {mayapy: /maya/bin/mayapy, maya: /maya/bin/maya}
            "2026": {<<: *maya, maya: /maya2026/bin/maya}
        """))
    assert parsed.dcc["maya"]["2026"] == {"mayapy": "/maya/bin/mayapy", "maya": "/maya2026/bin/maya"}


# --- Where the config is read from, and the cache -------------------------------------------

def test_dccfutures_config_variable_is_honoured(no_user_config, monkeypatch, tmp_path):
    path = tmp_path / "studio.yaml"
    path.write_text("farm: qube\nlocal: {workers: 5}\n")
    monkeypatch.setenv("DCCFUTURES_CONFIG", str(path))
    loaded = config.load()
    assert loaded.path == str(path)
    assert (loaded.farm, loaded.local.workers) == ("qube", 5)


def test_default_location_is_read_when_present(no_user_config, tmp_path):
    path = tmp_path / "xdg" / "dccfutures" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("max_payload_mb: 8\n")
    assert config.load().max_payload_mb == 8


def test_missing_file_named_by_the_variable_is_an_error(monkeypatch, tmp_path):
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("DCCFUTURES_CONFIG", str(missing))
    with pytest.raises(ConfigError) as info:
        config.load()
    assert str(missing) in str(info.value)
    assert "DCCFUTURES_CONFIG" in str(info.value)
    assert info.value.path == str(missing)


def test_missing_explicit_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found") as info:
        config.load(str(tmp_path / "nope.yaml"))
    assert info.value.path == str(tmp_path / "nope.yaml")


def test_load_rereads_a_changed_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("local: {workers: 2}\n")
    first = config.load(str(path))
    assert first.local.workers == 2
    assert config.load(str(path)) is first          # unchanged: served from the cache
    path.write_text("local: {workers: 16, max_attempts: 5}\n")
    second = config.load(str(path))
    assert (second.local.workers, second.local.max_attempts) == (16, 5)


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("farm: local\nlocal:\n  workers: 0\n")
    with pytest.raises(ConfigError) as info:
        config.load(str(path))
    assert str(info.value).startswith("%s, line 3: " % path)


# --- Errors ---------------------------------------------------------------------------------

def test_error_message_format():
    error = error_of("farm: local\nlocal:\n  workers: two\n")
    assert str(error) == ("/studio/dccfutures.yaml, line 3: "
                          "'local.workers' must be an integer >= 1, got 'two'")
    assert (error.path, error.line, error.key) == ("/studio/dccfutures.yaml", 3, "local.workers")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("text, line", [
    ("farm: local\nlocal:\n  workers: 2\n   idle_timeout: 5\n", 4),
    ("farm: local\nenviron: {deny: [A, B}\n", 2),
    ("farm: local\npython: !custom /usr/bin/python\n", 2),
    ("farm: local\nlocal: {}\n---\nfarm: qube\n", 3),
])
def test_invalid_yaml_names_the_file_and_the_line(text, line):
    error = error_of(text)
    assert str(error).startswith("/studio/dccfutures.yaml, line %d: invalid YAML" % line)
    assert error.line == line


def test_unknown_top_level_key_suggests_the_close_match():
    error = error_of("farm: local\nmax_payload: 10\n")
    assert (error.line, error.key) == (2, "max_payload")
    assert "unknown key 'max_payload' at the top level" in str(error)
    assert "did you mean 'max_payload_mb'?" in str(error)


def test_unknown_nested_key_names_the_dotted_key_and_suggests_the_close_match():
    error = error_of("farm: local\nlocal:\n  workers: 2\n  workerz: 3\n")
    assert (error.line, error.key) == (4, "local.workerz")
    assert str(error) == (
        "/studio/dccfutures.yaml, line 4: unknown key 'workerz' in 'local' (expected one of: "
        "heartbeat, idle_timeout, lease_timeout, max_attempts, max_log_mb, retention_days, "
        "workers); did you mean 'workers'?")


def test_unknown_key_without_a_close_match_has_no_hint():
    error = error_of("dcc:\n  nuke: {}\n")
    assert error.key == "dcc.nuke"
    assert "expected one of: blender, houdini, maya)" in str(error)
    assert "did you mean" not in str(error)


def test_unknown_key_under_a_dcc_version():
    error = error_of('dcc:\n  maya:\n    "2025":\n      mayapyy: /x\n')
    assert (error.line, error.key) == (4, "dcc.maya.2025.mayapyy")
    assert "did you mean 'mayapy'?" in str(error)


@pytest.mark.parametrize("text, key, line, expected", [
    ("local:\n  workers: two\n", "local.workers", 2, "must be an integer >= 1, got 'two'"),
    ("local:\n  workers: true\n", "local.workers", 2, "must be an integer >= 1, got a boolean"),
    ("local:\n  workers: -1\n", "local.workers", 2, "must be an integer >= 1, got -1"),
    ("local:\n  workers: 2.5\n", "local.workers", 2, "must be an integer >= 1, got 2.5"),
    ("local:\n  heartbeat: 0\n", "local.heartbeat", 2, "must be a number > 0, got 0"),
    ("local:\n  idle_timeout: yes\n", "local.idle_timeout", 2, "must be a number >= 0"),
    ("farm: qbue\n", "farm", 1, "must be one of: local, qube, opencue, deadline, openjd, got 'qbue'"),
    ("max_payload_mb: .nan\n", "max_payload_mb", 1, "must be a number > 0"),
    ("python: [a]\n", "python", 1, "must be a path or null, got a list"),
    ("defaults: [cpus]\n", "defaults", 1, "'defaults' must be a mapping, got a list"),
    ("local: 4\n", "local", 1, "'local' must be a mapping, got 4"),
    ("environ:\n  deny: SECRET\n", "environ.deny", 2, "must be a list, got 'SECRET'"),
    ("environ:\n  deny:\n    - A\n    - 3\n", "environ.deny[1]", 4, "must be a string, got 3"),
    ("dcc:\n  houdini:\n    '20.5': {hython: 20}\n", "dcc.houdini.20.5.hython", 3,
     "must be a path"),
    ("local:\n  workers: 2\n  workers: 3\n", "local.workers", 3,
     "duplicate key 'workers' in 'local' (first on line 2)"),
    ("farm: local\ndefaults: {cpu: 4}\n", "defaults.cpu", 2,
     "in 'defaults': unknown job field 'cpu' (did you mean 'cpus'?)"),
    ("defaults:\n  groups: farm\n  cpus: -1\n", "defaults.cpus", 3,
     "in 'defaults': job field 'cpus' must be an integer >= 0, got -1"),
    ("defaults:\n  cpus: four\n", "defaults.cpus", 2, "must be an integer >= 0, got 'four'"),
    ("defaults:\n  priority: 1.5\n", "defaults.priority", 2, "must be an integer >= 0"),
    ("defaults:\n  status: running\n", "defaults.status", 2, "'pending' or 'blocked'"),
    ("defaults:\n  name: [a]\n", "defaults.name", 2, "must be a string"),
])
def test_wrong_values_name_the_key_and_the_line(text, key, line, expected):
    error = error_of(text)
    assert (error.key, error.line) == (key, line)
    assert expected in str(error)


def test_poll_max_below_poll_min_is_an_error():
    error = error_of("qube:\n  poll_min: 1.0\n  poll_max: 0.5\n")
    assert (error.key, error.line) == ("qube.poll_max", 3)
    assert "'qube.poll_max' (0.5) must be >= 'qube.poll_min' (1)" in str(error)
    # The default poll_max (2.0) is below a poll_min of 5: the key given is the one named.
    error = error_of("qube:\n  poll_min: 5\n")
    assert (error.key, error.line) == ("qube.poll_min", 2)


def test_top_level_must_be_a_mapping():
    error = error_of("- farm: local\n")
    assert error.line == 1
    assert "the top level must be a mapping, got a list" in str(error)


def test_ints_are_accepted_where_numbers_are_expected():
    parsed = config.parse("local: {heartbeat: 1, idle_timeout: 0}\nmax_payload_mb: 1\n")
    assert (parsed.local.heartbeat, parsed.local.idle_timeout, parsed.max_payload_mb) == (1, 0, 1)
    assert isinstance(parsed.local.heartbeat, float)
