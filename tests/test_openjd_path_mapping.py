"""Path mapping of the paths inside an OpenJD bundle's payload: the scene copy, the workspace,
the project's ``sys.path`` entries and the ``cwd`` a workstation named, mapped with the
session's path mapping rules (``Session.PathMappingRulesFile``) before the DCC boots. Run for
real under openjd-sessions with rules given to its ``Session``, as the worker agent gives
them from the queue's storage profiles."""
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("openjd.sessions", reason="pip install 'dccfutures[openjd]' "
                    "(openjd-model and openjd-sessions 0.13)")

from dccfutures import payload  # noqa: E402
from dccfutures.farms.base import JobSpec, WorkSpec  # noqa: E402
from dccfutures.farms.openjd import bundle as bundles  # noqa: E402
from tests.openjd_worker import run_one_task  # noqa: E402
from dccfutures.runtime.openjd import map_path, read_path_mapping_rules  # noqa: E402
from tests.conftest import FAKES, ROOT  # noqa: E402

MAYAPY = os.path.join(FAKES, "bin", "mayapy")
SHOW_WINDOWS = "Z:\\projects\\show"
SHOW_POSIX = "/Volumes/projects/show"


def what_the_item_sees():
    """Runs on the worker: the paths the item was given, and a module only the show has."""
    import showtools
    found = {"cwd": os.getcwd(), "tool": showtools.NAME,
             "sys_path": [p for p in sys.path if p.replace("\\", "/").endswith("/python")]}
    if "maya.cmds" in sys.modules:
        import maya.cmds as cmds
        found["scene"] = cmds.file(query=True, sceneName=True)
        found["workspace"] = cmds.workspace(query=True, rootDirectory=True)
    return found


def _show(tmp_path):
    """The show as the worker mounts it: a python folder with a module, a shot folder."""
    show = tmp_path / "mnt" / "show"
    (show / "python").mkdir(parents=True)
    (show / "python" / "showtools.py").write_text("NAME = 'the show tools'\n")
    (show / "shots" / ".dccfutures").mkdir(parents=True)
    return show


def _job(source, sep, bootstrap=None):
    """A job as a workstation whose show lives at ``source`` submits it."""
    calls = payload.encode_calls([(what_the_item_sees, (), {})], 10 ** 8)
    package = {"python": sys.executable, "cwd": sep.join([source, "shots"]),
               "sys_path": [ROOT, sep.join([source, "python"])]}
    if bootstrap:
        package["bootstrap"] = bootstrap
        package["python"] = bootstrap["executable"]
    return JobSpec(name="mapped", prototype="dccfutures", work=[WorkSpec(calls)],
                   package=package)


def _run(tmp_path, job, rules):
    ok, value = run_one_task(bundles.write_bundle(job, str(tmp_path / "bundle")), tmp_path,
                             rules, name="mapping")
    assert ok, value
    return value


def test_a_maya_job_from_a_windows_workstation_opens_the_mapped_scene(tmp_path, monkeypatch):
    monkeypatch.setenv("DCCFUTURES_FAKE_PYTHON", sys.executable)
    show = _show(tmp_path)
    sys.path.insert(0, FAKES)
    try:
        import maya._fake as fake
        fake.write_scene(str(show / "shots" / ".dccfutures" / "sh010.ma"),
                         {"pCube1": "transform"})
    finally:
        sys.path.remove(FAKES)
    spec = {"kind": "mayapy", "executable": MAYAPY, "version": "2025",
            "file": SHOW_WINDOWS + "\\shots\\.dccfutures\\sh010.ma",
            "original": SHOW_WINDOWS + "\\shots\\sh010.ma", "workspace": SHOW_WINDOWS}
    rules = [{"source_path_format": "WINDOWS", "source_path": "z:\\Projects\\SHOW",
              "destination_path": str(show)}]
    seen = _run(tmp_path, _job(SHOW_WINDOWS, "\\", spec), rules)
    assert seen["scene"] == str(show / "shots" / "sh010.ma")  # named back after the artist's
    assert seen["workspace"].rstrip("/") == str(show)
    assert seen["cwd"] == str(show / "shots")
    assert seen["sys_path"] == [str(show / "python")]
    assert seen["tool"] == "the show tools"


def test_a_job_from_a_posix_workstation_gets_its_sys_path_and_cwd_mapped(tmp_path):
    show = _show(tmp_path)
    rules = [{"source_path_format": "POSIX", "source_path": "/Volumes",
              "destination_path": str(tmp_path / "elsewhere")},
             {"source_path_format": "POSIX", "source_path": SHOW_POSIX,
              "destination_path": str(show)}]  # the longer source wins, in any order
    seen = _run(tmp_path, _job(SHOW_POSIX, "/"), rules)
    assert seen["cwd"] == str(show / "shots")
    assert seen["sys_path"] == [str(show / "python")]


def test_without_rules_the_paths_are_left_as_submitted(tmp_path):
    show = _show(tmp_path)
    seen = _run(tmp_path, _job(str(show), "/"), None)
    assert seen["cwd"] == str(show / "shots")
    assert seen["sys_path"] == [str(show / "python")]


def test_a_path_no_rule_covers_is_left_alone(tmp_path):
    show = _show(tmp_path)
    rules = [{"source_path_format": "WINDOWS", "source_path": "Y:\\other",
              "destination_path": str(tmp_path / "other")},
             {"source_path_format": "POSIX", "source_path": str(show) + "-not",
              "destination_path": str(tmp_path / "other")}]
    seen = _run(tmp_path, _job(str(show), "/"), rules)
    assert seen["cwd"] == str(show / "shots")
    assert seen["sys_path"] == [str(show / "python")]


# -- the mapping function itself ----------------------------------------------------------------

def _rule(fmt, source, destination):
    return {"source_path_format": fmt, "source_path": source, "destination_path": destination}


@pytest.mark.parametrize("path, rules, expected", [
    ("Z:\\projects\\show\\a.ma", [_rule("WINDOWS", "Z:\\projects", "/mnt/p")], "/mnt/p/show/a.ma"),
    ("z:/PROJECTS/show/a.ma", [_rule("WINDOWS", "Z:\\projects", "/mnt/p")], "/mnt/p/show/a.ma"),
    ("Z:\\projects", [_rule("WINDOWS", "Z:\\projects\\", "/mnt/p")], "/mnt/p"),
    ("Z:\\projectsX\\a", [_rule("WINDOWS", "Z:\\projects", "/mnt/p")], "Z:\\projectsX\\a"),
    ("/home/me/show/", [_rule("POSIX", "/home/me", "/mnt/me")], "/mnt/me/show/"),
    ("/home/ME/show", [_rule("POSIX", "/home/me", "/mnt/me")], "/home/ME/show"),
    ("/a/b/c", [_rule("POSIX", "/a", "/x"), _rule("POSIX", "/a/b", "/y")], "/y/c"),
    ("relative/a", [_rule("POSIX", "/", "/x")], "relative/a"),
    ("s3://bucket/a", [_rule("URI", "s3://bucket", "/x")], "s3://bucket/a"),
])
def test_map_path(path, rules, expected):
    assert map_path(path, rules) == expected


_part = st.text(alphabet="abAB1_.- ", min_size=1, max_size=4).filter(
    lambda p: p.strip(" .") == p and p not in (".", ".."))
_posix = st.lists(_part, max_size=4).map(lambda ps: "/" + "/".join(ps))
_windows = st.tuples(st.sampled_from(["C:", "c:", "Z:", "\\\\server\\share"]),
                     st.lists(_part, max_size=4), st.sampled_from(["\\", "/"])).map(
    lambda t: t[0] + t[2] + t[2].join(t[1]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_map_path_is_what_openjd_sessions_does(data):
    """Our mapping (the worker's Python may not have openjd-sessions) agrees with the reference
    runtime's: its rules sorted as its Session sorts them, the first match applied."""
    from openjd.sessions import PathMappingRule
    rules = data.draw(st.lists(st.one_of(
        st.builds(_rule, st.just("POSIX"), _posix, _posix),
        st.builds(_rule, st.just("WINDOWS"), _windows, _posix)), max_size=3))
    path = data.draw(st.one_of(_posix, _windows, st.builds(
        lambda r, tail: r["source_path"].rstrip("/\\") + "/" + tail,
        st.sampled_from(rules), _part) if rules else _posix))
    theirs = sorted((PathMappingRule.from_dict(rule) for rule in rules),
                    key=lambda rule: -rule._source_path_component_count())
    expected = path
    for rule in theirs:
        matched, mapped = rule.apply(path=path)
        if matched:
            expected = mapped
            break
    assert map_path(path, rules) == expected


def test_the_rules_file_is_read_as_the_spec_writes_it(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert read_path_mapping_rules(str(empty)) == []
    rules = tmp_path / "rules.json"
    rules.write_text('{"version": "pathmapping-1.0", "path_mapping_rules": [%s]}'
                     % '{"source_path_format": "POSIX", "source_path": "/a", '
                       '"destination_path": "/b"}')
    assert map_path("/a/c", read_path_mapping_rules(str(rules))) == "/b/c"
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"version": "pathmapping-9.0", "path_mapping_rules": []}')
    with pytest.raises(ValueError, match="pathmapping-9.0.*pathmapping-1.0"):
        read_path_mapping_rules(str(wrong))
    partial = tmp_path / "partial.json"
    partial.write_text('{"version": "pathmapping-1.0", "path_mapping_rules": [{"source_path":'
                       ' "/a"}]}')
    with pytest.raises(ValueError, match="a rule without a source_path_format"):
        read_path_mapping_rules(str(partial))
