"""clone_environ: the artist's environment minus the session's and the DCC's own variables."""
import fnmatch
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dccfutures import environ as env
from dccfutures.config import Config, EnvironConfig
from dccfutures.environ import (DEFAULT_DENY, HOUDINI_DENY, MAYA_DENY, clone_environ,
                                from_config)

# One example of each default category, with a value.
SESSION = {
    "DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XAUTHORITY": "/run/user/1000/xauth",
    "WINDOWID": "1234",
    "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_SESSION_ID": "3", "XDG_SESSION_TYPE": "x11",
    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus", "SESSION_MANAGER": "local/ws:@/t",
    "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1", "SSH_CONNECTION": "1 2 3 4", "SSH_TTY": "/dev/pts/1",
    "GPG_AGENT_INFO": "/run/user/1000/gnupg/S.gpg-agent",
    "TERM": "xterm-256color", "TERM_PROGRAM": "tmux", "TERMINFO": "/usr/share/terminfo",
    "TERMINFO_DIRS": "/a:/b", "COLORTERM": "truecolor",
    "PWD": "/home/ann/shots", "OLDPWD": "/home/ann", "SHLVL": "2", "_": "/usr/bin/maya",
    "HOSTNAME": "ws042",
    "QT_QPA_PLATFORM": "xcb", "QT_PLUGIN_PATH": "/usr/autodesk/maya2025/plugins",
    "TMPDIR": "/tmp/ann-123", "TMP": "/tmp/ann-123", "TEMP": "/tmp/ann-123",
    "MAYA_APP_DIR": "/home/ann/maya", "HOUDINI_USER_PREF_DIR": "/home/ann/houdini20.5",
    "PYTHONHOME": "/usr/autodesk/maya2025",
    "QBLVL": "2", "DCCFUTURES_JOB_ID": "17", "DCCFUTURES_WORK_ID": "3",
    "QBJOBID": "9001", "QBSUBID": "4",
}
STUDIO = {
    "PATH": "/studio/bin:/usr/bin", "HOME": "/home/ann", "USER": "ann", "LOGNAME": "ann",
    "LANG": "en_US.UTF-8", "PYTHONPATH": "/studio/python", "SHOW": "bigshow", "SHOT": "sh010",
    "PIPELINE_ROOT": "/studio/pipeline", "OCIO": "/studio/ocio/config.ocio",
    "MAYA_MODULE_PATH": "/studio/maya/modules", "HOUDINI_PACKAGE_DIR": "/studio/houdini/pkgs",
    "HSITE": "/studio/houdini/site", "JOB": "/shows/bigshow/sh010/fx",
    "DCCFUTURES_RECURSION_LIMIT": "6", "MAYA_SHELF_PATH": "/studio/maya/shelves",
}
MAYA = {
    "MAYA_LOCATION": "/usr/autodesk/maya2025",
    "MAYA_PLUG_IN_PATH": "/studio/maya/modules/x/plug-ins:/usr/autodesk/maya2025/bin/plug-ins",
    "MAYA_SCRIPT_PATH": "/studio/maya/modules/x/scripts", "MAYA_PRESET_PATH": "/m/presets",
    "XBMLANGPATH": "/studio/maya/modules/x/icons/%B",
}
HOUDINI = {
    "HIP": "/shows/bigshow/sh010/fx", "HIPNAME": "fx_v003", "HIPFILE": "/shows/x/fx_v003.hip",
    "HFS": "/opt/hfs20.5", "H": "/opt/hfs20.5", "HB": "/opt/hfs20.5/bin", "HH": "/opt/hfs20.5/houdini",
    "HHP": "/opt/hfs20.5/houdini/python3.11libs", "HSB": "/opt/hfs20.5/houdini/sbin",
    "HT": "/opt/hfs20.5/toolkit", "HDSO": "/opt/hfs20.5/dsolib", "HOUDINI_VERSION": "20.5.370",
    "HOUDINI_PATH": "/studio/houdini/pkgs/x;/opt/hfs20.5/houdini;&",
}
EVERYTHING = dict(SESSION, **STUDIO, **MAYA, **HOUDINI)


@pytest.mark.parametrize("name", sorted(SESSION))
def test_each_default_category_is_dropped(name):
    assert name not in clone_environ(EVERYTHING)


def test_studio_and_user_variables_are_kept_with_their_values():
    out = clone_environ(EVERYTHING)
    assert {name: out[name] for name in STUDIO} == STUDIO


def test_dcc_variables_are_kept_without_a_dcc():
    out = clone_environ(EVERYTHING)
    assert out["MAYA_LOCATION"] == MAYA["MAYA_LOCATION"] and out["HFS"] == HOUDINI["HFS"]


def test_maya_set():
    out = clone_environ(EVERYTHING, dcc="maya")
    assert not set(MAYA) & set(out)
    assert "HFS" in out and "MAYA_MODULE_PATH" in out and out["PYTHONPATH"] == "/studio/python"


def test_houdini_set_keeps_job_and_package_inputs():
    out = clone_environ(EVERYTHING, dcc="houdini")
    assert not set(HOUDINI) & set(out)
    assert out["JOB"] == STUDIO["JOB"]
    assert "HOUDINI_PACKAGE_DIR" in out and "HSITE" in out and "MAYA_LOCATION" in out


def test_the_lists_name_what_the_notes_and_issues_name():
    for name in ("DISPLAY", "XDG_SESSION_*", "SSH_*", "QT_*", "TEMP", "_", "QBLVL"):
        assert name in DEFAULT_DENY
    assert {"MAYA_LOCATION", "PYTHONHOME"} <= set(MAYA_DENY)
    assert {"HIP", "HIPNAME", "HIPFILE", "HFS", "HOUDINI_PATH"} <= set(HOUDINI_DENY)
    assert "JOB" not in HOUDINI_DENY


def test_config_deny_with_globs():
    out = clone_environ(EVERYTHING, deny=["SH*", "PIPELINE_?OOT"])
    assert "SHOW" not in out and "SHOT" not in out and "PIPELINE_ROOT" not in out
    assert "OCIO" in out


def test_allow_beats_every_deny_list():
    out = clone_environ(EVERYTHING, deny=["OCIO"], allow=["DISPLAY", "OCIO", "HF?"], dcc="houdini")
    assert out["DISPLAY"] == ":0" and out["OCIO"] == STUDIO["OCIO"] and out["HFS"] == "/opt/hfs20.5"
    assert "HIP" not in out


def test_qblvl_is_never_cloned_by_default():
    for dcc in (None, "maya", "houdini"):
        assert "QBLVL" not in clone_environ({"QBLVL": "3", "SHOW": "x"}, dcc=dcc)


def test_input_is_not_modified_and_result_is_new():
    source = dict(EVERYTHING)
    out = clone_environ(source, deny=["SHOW"], dcc="maya", dcc_root="/usr/autodesk/maya2025")
    assert source == EVERYTHING and out is not source
    out["NEW"] = "1"
    assert "NEW" not in source


def test_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("SHOW", "fromenv")
    monkeypatch.setenv("DISPLAY", ":9")
    out = clone_environ()
    assert out["SHOW"] == "fromenv" and "DISPLAY" not in out
    assert out is not os.environ


def test_matching_is_case_sensitive_on_posix_and_folded_on_windows(monkeypatch):
    monkeypatch.setattr(env, "_FOLD_CASE", False)
    assert "display" in clone_environ({"display": "x"})
    monkeypatch.setattr(env, "_FOLD_CASE", True)
    assert clone_environ({"display": "x", "Show": "y"}, deny=["show"]) == {}


def test_dcc_root_strips_path_like_entries():
    source = {
        "PATH": os.pathsep.join(["/usr/autodesk/maya2025/bin", "/studio/bin", "/usr/bin"]),
        "LD_LIBRARY_PATH": os.pathsep.join(["/usr/autodesk/maya2025/lib"]),
        "PYTHONPATH": os.pathsep.join(["/usr/autodesk/maya2025x/py", "/studio/python"]),
        "OTHER": "/usr/autodesk/maya2025/bin",
    }
    out = clone_environ(source, dcc_root="/usr/autodesk/maya2025/")
    assert out["PATH"] == os.pathsep.join(["/studio/bin", "/usr/bin"])
    assert "LD_LIBRARY_PATH" not in out                       # emptied: dropped
    assert out["PYTHONPATH"] == source["PYTHONPATH"]          # a sibling dir is not "under"
    assert out["OTHER"] == source["OTHER"]                    # only PATH-like variables
    assert clone_environ(source, allow=["PATH"], dcc_root="/usr/autodesk/maya2025")["PATH"] \
        == source["PATH"]                                     # allowed: sent as it is


def test_from_config():
    config = Config(environ=EnvironConfig(deny=("SHOW",), allow=("TERM",)))
    out = from_config(config, dcc="maya", environ=EVERYTHING)
    assert "SHOW" not in out and out["TERM"] == "xterm-256color" and "MAYA_LOCATION" not in out
    assert from_config(Config(), environ={"SHOW": "x", "QBLVL": "1"}) == {"SHOW": "x"}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"deny": ["OK", 42]}, "environ.deny pattern #1 is 42"),
    ({"allow": [None]}, "environ.allow pattern #0 is None"),
    ({"deny": "DISPLAY"}, "environ.deny must be a list"),
    ({"dcc_root": 5}, "dcc_root"),
])
def test_bad_patterns_are_type_errors_naming_them(kwargs, fragment):
    with pytest.raises(TypeError, match=fragment):
        clone_environ({}, **kwargs)


def test_unknown_dcc():
    with pytest.raises(ValueError, match="houdini, maya"):
        clone_environ({}, dcc="nuke")


NAMES = st.one_of(
    st.sampled_from(sorted(EVERYTHING)),
    st.text(alphabet="ABCDEHIOPQSTX_", min_size=1, max_size=8),
)
PATTERNS = st.lists(st.one_of(st.sampled_from(sorted(EVERYTHING)),
                              st.text(alphabet="ABHIST_*?", min_size=1, max_size=5)), max_size=4)


def _any(name, patterns):
    if os.name == "nt":
        return any(fnmatch.fnmatchcase(name.upper(), pattern.upper()) for pattern in patterns)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(NAMES, max_size=20), deny=PATTERNS, allow=PATTERNS,
       dcc=st.sampled_from([None, "maya", "houdini"]))
def test_no_denied_name_survives_unless_allowed(names, deny, allow, dcc):
    source = {name: "v" for name in names}
    out = clone_environ(source, deny=deny, allow=allow, dcc=dcc)
    denied = DEFAULT_DENY + tuple(deny) + (env.DCC_DENY[dcc] if dcc else ())
    for name in source:
        if _any(name, allow):
            assert out[name] == "v"
        elif _any(name, denied):
            assert name not in out
        else:
            assert out[name] == "v"
    assert set(out) <= set(source)
