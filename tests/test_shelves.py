"""Shelves and Farm menus from one YAML (dccfutures.shelves): the shipped generated files
match the YAML, bad files give errors naming file + action + line, studio files add (or
replace) actions, and run() calls the action's callable with its options."""
import os
import re
import sys
import types
import xml.etree.ElementTree as ET

import pytest

from dccfutures import shelves
from dccfutures.errors import ConfigError
from tests import shelf_actions
from tests.conftest import ROOT

OUR_YAML = os.path.join(ROOT, "shelves", "dccfutures.yaml")
HOUDINI_SHELF = os.path.join(ROOT, *shelves.HOUDINI_SHELF.split("/"))
HOUDINI_MENU = os.path.join(ROOT, *shelves.HOUDINI_MENU.split("/"))

STUDIO = """\
version: 1
actions:
  - id: maya.studio_publish
    label: Studio Publish
    dcc: [maya]
    callable: "tests.shelf_actions:record"
    options: {asset: hero, frames: 10, fast: true, scale: 0.5}
  - id: houdini.studio_cache
    label: Studio Cache
    dcc: [houdini]
    callable: "tests.shelf_actions:record"
    places: [menu]
    divider_before: true
"""


@pytest.fixture(autouse=True)
def no_user_config(farm_config):
    """Every test reads a private config (never the user's), without shelves.extra."""
    return farm_config


@pytest.fixture(autouse=True)
def clear_calls():
    del shelf_actions.CALLS[:]


def studio(tmp_path, farm_config, text=STUDIO, name="studio.yaml"):
    """Write a studio action file and name it in the config's shelves.extra."""
    path = tmp_path / name
    path.write_text(text)
    farm_config(extra="shelves:\n  extra: [%s]\n" % path)
    return str(path)


def ids(actions):
    return [action.id for action in actions]


# --- The shipped files -----------------------------------------------------------------------

def test_shipped_generated_files_match_the_yaml():
    assert shelves.check() == [], "run `dccfutures shelves build` after editing shelves/*.yaml"


def test_check_reports_a_stale_or_missing_file(tmp_path):
    root = str(tmp_path / "out")
    written = shelves.build(root)
    assert sorted(written) == sorted(os.path.join(root, *n.split("/")) for n in shelves.GENERATED)
    assert shelves.check(root) == []
    with open(written[0], "a") as handle:
        handle.write("<!-- hand edit -->\n")
    os.remove(written[1])
    assert shelves.check(root) == [written[0], written[1]]


def test_generation_is_deterministic():
    actions = shelves.load_actions(dcc=None)
    assert shelves.render(actions) == shelves.render(list(actions))
    for text in shelves.render(actions).values():
        assert shelves.HEADER in text
        assert not re.search(r"\d{4}-\d\d-\d\d", text)   # no timestamps


def test_our_actions():
    actions = shelves.load_actions()
    assert ids(actions) == [
        "maya.submit_scene_frames", "maya.run_on_selection", "maya.farm_monitor",
        "maya.start_local_farm", "houdini.cook_selected_rops", "houdini.farm_monitor",
        "houdini.start_local_farm", "blender.render_frames", "blender.farm_monitor",
        "blender.start_local_farm"]
    by_id = {action.id: action for action in actions}
    assert by_id["maya.submit_scene_frames"].dialog
    assert by_id["maya.submit_scene_frames"].options == {
        "function": "dccfutures.actions.maya:export_alembic_chunk"}
    assert by_id["maya.run_on_selection"].options == {"function": "maya.cmds:nodeType"}
    assert not by_id["maya.farm_monitor"].dialog
    assert by_id["maya.start_local_farm"].places == ("menu",)
    assert by_id["houdini.cook_selected_rops"].callable == \
        "dccfutures.actions.houdini:cook_selected_rops"
    for action in actions:
        assert action.id.split(".")[0] in action.dcc and len(action.dcc) == 1
        assert action.source == OUR_YAML


def test_menu_entries():
    maya = shelves.menu_entries("maya")
    assert ids(maya) == ["maya.submit_scene_frames", "maya.run_on_selection",
                         "maya.farm_monitor", "maya.start_local_farm"]
    assert [action.divider_before for action in maya] == [False, False, False, True]
    assert ids(shelves.menu_entries("houdini"))[-1] == "houdini.start_local_farm"
    assert shelves.menu_entries("standalone") == []
    with pytest.raises(ValueError, match="'nuke'"):
        shelves.menu_entries("nuke")


def test_the_first_menu_entry_has_no_divider(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace("dcc: [houdini]", "dcc: [standalone]"))
    entries = shelves.menu_entries("standalone")
    assert ids(entries) == ["houdini.studio_cache"] and not entries[0].divider_before


# --- The generated formats -------------------------------------------------------------------

def test_houdini_shelf_parses():
    root = ET.parse(HOUDINI_SHELF).getroot()
    assert root.tag == "shelfDocument"
    wanted = [a for a in shelves.load_actions(dcc="houdini") if "shelf" in a.places]
    tools = root.findall("tool")
    assert len(tools) == len(wanted) == 2
    members = [m.get("name") for m in root.find("toolshelf").findall("memberTool")]
    assert members == [t.get("name") for t in tools]
    for tool, action in zip(tools, wanted):
        assert tool.get("label") == action.label and tool.get("icon")
        script = tool.find("script")
        assert script.get("scriptType") == "python"
        assert 'dccfutures.shelves.run("%s")' % action.id in script.text
        compile(script.text, "<tool>", "exec")


def test_houdini_main_menu_parses():
    root = ET.parse(HOUDINI_MENU).getroot()
    assert root.tag == "mainMenu"
    menu = root.find("menuBar/subMenu")
    assert menu.get("id") == "dccfutures_farm_menu"
    assert menu.find("label").text == "Farm"
    assert menu.find("insertBefore").text == "help_menu"
    wanted = shelves.menu_entries("houdini")
    items = menu.findall("scriptItem")
    assert len(items) == len(wanted) == 3
    for item, action in zip(items, wanted):
        assert item.find("label").text == action.label
        assert 'dccfutures.shelves.run("%s")' % action.id in item.find("scriptCode").text
    kinds = [child.tag for child in menu if child.tag in ("scriptItem", "separatorItem")]
    assert kinds == ["scriptItem", "scriptItem", "separatorItem", "scriptItem"]


def test_xml_text_is_escaped():
    action = shelves.Action(id="houdini.x", label="A & <B>", callable="a.b:c",
                            dcc=("houdini",), tooltip="ends ]]> here")
    for text in (shelves.render_houdini_shelf([action]), shelves.render_houdini_menu([action])):
        root = ET.fromstring(text.encode())
        assert "A & <B>" in [e.get("label") for e in root.iter()] + [e.text for e in root.iter()]
    help_text = ET.fromstring(shelves.render_houdini_shelf([action]).encode()).find("tool/helpText")
    assert help_text.text == "ends ]]> here"


# --- Bad files -------------------------------------------------------------------------------

GOOD = """\
version: 1
actions:
  - id: maya.one
    label: One
    dcc: [maya]
    callable: "pkg.mod:one"
  - id: maya.two
    label: Two
    dcc: [maya]
    callable: "pkg.mod:two"
"""

BAD = {
    "unknown key": (GOOD.replace('    callable: "pkg.mod:two"', '    callabel: "pkg.mod:two"'),
                    "maya.two", 10, ["unknown key 'callabel'", "did you mean 'callable'"]),
    "missing callable": (GOOD.replace('    callable: "pkg.mod:two"\n', ""),
                         "maya.two", 7, ["missing 'callable'"]),
    "missing label": (GOOD.replace("    label: One\n", ""), "maya.one", 3, ["missing 'label'"]),
    "missing id": (GOOD.replace("  - id: maya.two\n    label", "  - label"),
                   "action #2 (it has no id)", 7, ["missing 'id'"]),
    "bad callable": (GOOD.replace('"pkg.mod:two"', '"pkg.mod.two"'), "maya.two", 10,
                     ["'package.module:function'", "'pkg.mod.two'"]),
    "unknown dcc": (GOOD.replace("dcc: [maya]\n    callable: \"pkg.mod:two\"",
                                 "dcc: [maya, nuke]\n    callable: \"pkg.mod:two\""),
                    "maya.two", 9, ["one of: maya, houdini, blender, standalone", "'nuke'"]),
    "unknown place": (GOOD + "    places: [shelf, toolbar]\n", "maya.two", 11,
                      ["one of: shelf, menu", "'toolbar'"]),
    "wrong type": (GOOD + "    dialog: \"yes\"\n", "maya.two", 11, ["true or false", "'yes'"]),
    "bad option": (GOOD + "    options: {frames: [1, 2]}\n", "maya.two", 11,
                   ["option 'actions[1].options.frames'", "a list"]),
    "bad id": (GOOD.replace("id: maya.two", "id: Maya.Two"), "Maya.Two", 7, ["lowercase"]),
    "duplicate id": (GOOD.replace("id: maya.two", "id: maya.one"), "maya.one", 7,
                     ["duplicate id, already defined in", "line 3"]),
    "yaml syntax": (GOOD.replace("label: Two", "label: [Two"), "maya.two", None,
                    ["invalid YAML"]),
    "top-level typo": (GOOD.replace("actions:", "action:"), None, 2,
                       ["unknown key 'action'", "did you mean 'actions'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_yaml_names_file_action_line_and_problem(tmp_path, case):
    text, action, line, fragments = BAD[case]
    path = tmp_path / "studio.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        shelves._merge([str(path)])
    message = str(caught.value)
    assert message.startswith(str(path) + ", line "), message
    if line is not None:
        assert caught.value.line == line and "line %d:" % line in message, message
    else:
        assert caught.value.line
    if action is not None:
        assert action in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_an_empty_or_listless_file_is_refused(tmp_path):
    for text in ("", "version: 1\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="no 'actions' list"):
            shelves.load_file(str(path))


# --- Studio files ----------------------------------------------------------------------------

def test_studio_files_add_actions(tmp_path, farm_config):
    path = studio(tmp_path, farm_config)
    actions = shelves.load_actions()
    assert ids(actions)[-2:] == ["maya.studio_publish", "houdini.studio_cache"]
    assert actions[-1].source == path
    assert ids(shelves.menu_entries("maya"))[-1] == "maya.studio_publish"
    assert "maya.studio_publish" not in ids(shelves.load_actions(dcc="houdini"))


def test_a_relative_studio_path_is_relative_to_the_config(tmp_path, farm_config):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "extra.yaml").write_text(STUDIO)
    farm_config(extra="shelves:\n  extra: [tools/extra.yaml]\n")
    assert "maya.studio_publish" in ids(shelves.load_actions())


def test_a_missing_studio_file_is_named(tmp_path, farm_config):
    farm_config(extra="shelves:\n  extra: [%s]\n" % (tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="nope.yaml.*not found"):
        shelves.load_actions()


def test_a_duplicate_id_across_files_names_both(tmp_path, farm_config):
    path = studio(tmp_path, farm_config, STUDIO.replace("maya.studio_publish", "maya.farm_monitor"))
    with pytest.raises(ConfigError) as caught:
        shelves.load_actions()
    message = str(caught.value)
    assert message.startswith(path + ", line 3")
    assert "'maya.farm_monitor'" in message and OUR_YAML in message
    assert "replaces: maya.farm_monitor" in message


def test_replaces_takes_the_place_of_our_action(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace(
        "    label: Studio Publish\n",
        "    label: Studio Publish\n    replaces: maya.run_on_selection\n"))
    actions = shelves.load_actions(dcc="maya")
    assert ids(actions) == ["maya.submit_scene_frames", "maya.studio_publish",
                            "maya.farm_monitor", "maya.start_local_farm"]


def test_replaces_with_the_same_id(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace(
        "    label: Studio Publish\n",
        "    label: Studio Monitor\n    replaces: maya.farm_monitor\n").replace(
        "maya.studio_publish", "maya.farm_monitor"))
    actions = shelves.load_actions(dcc="maya")
    assert ids(actions).count("maya.farm_monitor") == 1
    assert [a.label for a in actions if a.id == "maya.farm_monitor"] == ["Studio Monitor"]


def test_replaces_an_unknown_id(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace(
        "    label: Studio Publish\n", "    label: X\n    replaces: maya.farm_monitr\n"))
    with pytest.raises(ConfigError, match="no known action 'maya.farm_monitr'; did you mean "
                                          "'maya.farm_monitor'"):
        shelves.load_actions()


def test_build_with_studio_actions_goes_to_the_studio_folder(tmp_path, farm_config):
    studio(tmp_path, farm_config)
    with pytest.raises(ValueError, match="out_root"):
        shelves.build(config=os.environ["DCCFUTURES_CONFIG"])
    out = str(tmp_path / "site")
    shelves.build(out, config=os.environ["DCCFUTURES_CONFIG"])
    assert shelves.check(out, config=os.environ["DCCFUTURES_CONFIG"]) == []
    menu = ET.parse(os.path.join(out, *shelves.HOUDINI_MENU.split("/"))).getroot()
    assert menu.findall(".//scriptItem")[-1].get("id") == "dccfutures_houdini_studio_cache"
    # The shipped files still hold only our actions.
    assert shelves.check() == []
    assert "studio_cache" not in open(HOUDINI_MENU).read()


# --- run() -----------------------------------------------------------------------------------

def test_run_calls_the_callable_with_the_options(tmp_path, farm_config):
    studio(tmp_path, farm_config)
    result = shelves.run("maya.studio_publish")
    expected = {"asset": "hero", "frames": 10, "fast": True, "scale": 0.5}
    assert shelf_actions.CALLS == [expected]
    assert result == ("recorded", expected)


def fake_dialog(monkeypatch, answer):
    asked = []
    dialog = types.ModuleType("dccfutures.ui.dialog")
    dialog.ask = lambda action: asked.append(action) or answer
    ui = types.ModuleType("dccfutures.ui")
    ui.dialog = dialog
    monkeypatch.setitem(sys.modules, "dccfutures.ui", ui)
    monkeypatch.setitem(sys.modules, "dccfutures.ui.dialog", dialog)
    return asked


def test_run_asks_with_the_dialog_first(tmp_path, farm_config, monkeypatch):
    studio(tmp_path, farm_config, STUDIO.replace("    options:", "    dialog: true\n    options:"))
    asked = fake_dialog(monkeypatch, {"frames": 20, "cpus": 4})
    shelves.run("maya.studio_publish")
    assert [a.id for a in asked] == ["maya.studio_publish"]
    assert shelf_actions.CALLS == [{"asset": "hero", "frames": 20, "fast": True, "scale": 0.5,
                                    "cpus": 4}]


def test_a_cancelled_dialog_runs_nothing(tmp_path, farm_config, monkeypatch):
    studio(tmp_path, farm_config, STUDIO.replace("    options:", "    dialog: true\n    options:"))
    fake_dialog(monkeypatch, None)
    assert shelves.run("maya.studio_publish") is None
    assert shelf_actions.CALLS == []


def test_a_dialog_that_does_not_import_is_a_clear_error(tmp_path, farm_config, monkeypatch):
    studio(tmp_path, farm_config, STUDIO.replace("    options:", "    dialog: true\n    options:"))
    monkeypatch.setitem(sys.modules, "dccfutures.ui", None)
    with pytest.raises(shelves.ActionError, match="needs the submit dialog.*dccfutures.ui.dialog"):
        shelves.run("maya.studio_publish")
    assert shelf_actions.CALLS == []


def test_run_of_an_unknown_id_names_the_known_ids():
    with pytest.raises(shelves.UnknownActionError) as caught:
        shelves.run("maya.farm_monitr")
    message = str(caught.value)
    assert "'maya.farm_monitr'" in message and "did you mean 'maya.farm_monitor'" in message
    for known in ("maya.submit_scene_frames", "houdini.cook_selected_rops"):
        assert known in message
    assert isinstance(caught.value, LookupError)


def test_run_reports_a_callable_that_does_not_import(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace('"tests.shelf_actions:record"\n    options',
                                                 '"tests.shelf_actions:missing"\n    options'))
    with pytest.raises(shelves.ActionError, match="maya.studio_publish.*tests.shelf_actions:"
                                                  "missing"):
        shelves.run("maya.studio_publish")


def test_the_callable_is_imported_only_when_run(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace('"tests.shelf_actions:record"\n    options',
                                                 '"no_such_package.mod:func"\n    options'))
    assert "maya.studio_publish" in ids(shelves.load_actions())
    with pytest.raises(shelves.ActionError, match="no_such_package"):
        shelves.run("maya.studio_publish")


def test_run_refuses_another_dccs_action():
    with pytest.raises(shelves.ActionError, match="for maya, not houdini"):
        shelves.run("maya.farm_monitor", dcc="houdini")


def test_run_raises_what_the_callable_raises(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace("tests.shelf_actions:record",
                                                 "tests.shelf_actions:boom"))
    with pytest.raises(RuntimeError, match="boom with"):
        shelves.run("maya.studio_publish")


def test_run_refuses_a_callable_that_is_not_callable(tmp_path, farm_config):
    studio(tmp_path, farm_config, STUDIO.replace("tests.shelf_actions:record",
                                                 "tests.shelf_actions:not_callable"))
    with pytest.raises(shelves.ActionError, match="not callable"):
        shelves.run("maya.studio_publish")


# --- The command -----------------------------------------------------------------------------

def test_cli_check_list_and_build(tmp_path, farm_config, capsys):
    assert shelves.cli_main(["build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    studio(tmp_path, farm_config)
    out = str(tmp_path / "site")
    assert shelves.cli_main(["build", "--check", "--out", out]) == 1
    assert "out of date" in capsys.readouterr().out
    assert shelves.cli_main(["build", "--out", out]) == 0
    assert capsys.readouterr().out.count("wrote ") == len(shelves.GENERATED)
    assert shelves.cli_main(["build", "--check", "--out", out]) == 0
    assert shelves.cli_main(["list", "--dcc", "maya"]) == 0
    listing = capsys.readouterr().out
    assert "maya.studio_publish" in listing and "houdini.farm_monitor" not in listing
    assert shelves.cli_main(["nonsense"]) == 2


def test_cli_reports_a_bad_file(tmp_path, farm_config, capsys):
    studio(tmp_path, farm_config, STUDIO.replace("label: Studio Publish", "labl: Studio Publish"))
    assert shelves.cli_main(["list"]) == 1
    assert "did you mean 'label'" in capsys.readouterr().err


# --- Blender ---------------------------------------------------------------------------------

BLENDER_STUDIO = """\
version: 1
actions:
  - id: blender.studio_playblast
    label: Studio Playblast
    icon: RENDER_ANIMATION
    dcc: [blender]
    callable: "tests.shelf_actions:record"
    dialog: true
    options: {quality: 90}
"""


def test_blenders_farm_menu():
    entries = shelves.menu_entries("blender")
    assert [(a.id, a.label) for a in entries] == [
        ("blender.render_frames", "Render Frames on Farm"),
        ("blender.farm_monitor", "Farm Monitor"),
        ("blender.start_local_farm", "Start Local Farm")]
    assert [a.divider_before for a in entries] == [False, False, True]
    render = entries[0]
    # Blender ships no Qt: the add-on asks with Blender's own dialog, then runs the action.
    assert render.dialog and render.callable == "dccfutures.actions.blender:render_frames"
    assert ids(shelves.load_actions(dcc="blender")) == ids(entries)


def test_blenders_callables_import_without_blender():
    """The actions module imports bpy only when an action runs: the library and `shelves
    list` work in any Python."""
    import subprocess
    code = ("import sys; from dccfutures import shelves, payload\n"
            "for action in shelves.load_actions(dcc='blender'):\n"
            "    assert callable(payload.resolve(action.callable)), action.id\n"
            "assert 'bpy' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr


def test_a_studios_blender_action_joins_blenders_menu(tmp_path, farm_config, capsys):
    studio(tmp_path, farm_config, BLENDER_STUDIO)
    assert ids(shelves.menu_entries("blender"))[-1] == "blender.studio_playblast"
    assert "blender.studio_playblast" not in ids(shelves.menu_entries("maya"))
    assert shelves.cli_main(["list", "--dcc", "blender"]) == 0
    listing = capsys.readouterr().out
    assert "blender.studio_playblast" in listing and "blender.render_frames" in listing
    assert "maya." not in listing


def test_values_asked_by_the_dccs_own_dialog_skip_the_qt_dialog(tmp_path, farm_config,
                                                                 monkeypatch):
    studio(tmp_path, farm_config, BLENDER_STUDIO)
    asked = fake_dialog(monkeypatch, {"frames": "1-5"})
    result = shelves.run("blender.studio_playblast", dcc="blender",
                         values={"frames": "7-9", "chunk_size": 2})
    assert asked == []
    assert shelf_actions.CALLS == [{"quality": 90, "frames": "7-9", "chunk_size": 2}]
    assert result[0] == "recorded"


def test_shelves_check_reads_blenders_actions(tmp_path, monkeypatch):
    """Blender's menu is built by the add-on from the YAML (no generated file), so what
    `shelves build --check` checks for Blender is that its actions parse."""
    broken = tmp_path / "shelves"
    broken.mkdir()
    text = open(OUR_YAML).read().replace("    dcc: [blender]\n    callable: \"dccfutures."
                                         "actions.blender:render_frames\"",
                                         "    dcc: [blender]\n    callable: render_frames")
    assert text != open(OUR_YAML).read()
    (broken / "dccfutures.yaml").write_text(text)
    from dccfutures import assets
    real_path = assets.path
    monkeypatch.setattr(assets, "path", lambda name: str(broken) if name == "shelves"
                        else real_path(name))
    with pytest.raises(ConfigError, match="blender.render_frames.*'package.module:function'"):
        shelves.check()
    assert shelves.cli_main(["build", "--check"]) == 1
