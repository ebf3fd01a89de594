"""Every ```python block of README.md works as written.

Each block is compiled; each block that can run here runs against a private local farm, with
the names it takes for granted (``export_alembic``, ``nodes``, ``node_type``…) defined by a small
prelude kept below, and every future it leaves behind must end with a result. An expression
line whose comment starts with a value (``frames.join([1, 3, 5, 7, 9])  # "1-9x2"``) must give
that value. Blocks that need Maya, Houdini or Qube are compiled only, and listed with the
reason. A block this file does not know runs with no prelude at all, so a new example either
works as written or fails here until its prelude or its reason is added.
"""
import ast
import builtins
import concurrent.futures
import os
import re
import sys
from typing import Callable, Dict, List, NamedTuple

import pytest

from tests.conftest import ROOT

README = os.path.join(ROOT, "README.md")
_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


class Block(NamedTuple):
    line: int      # README line of the block's first line of code
    heading: str   # the section it is in
    code: str


def _blocks() -> List[Block]:
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start(1)) + 1
        headings = re.findall(r"^#+ (.+)$", text[:match.start()], re.M)
        found.append(Block(line, headings[-1] if headings else "top", match.group(1)))
    return found


BLOCKS = _blocks()

# Blocks that cannot run here: the text that picks each one out, and why.
COMPILE_ONLY = {
    "# in Maya's Script Editor": "runs inside an interactive Maya session (maya.cmds and the "
                                 "artist's selection)",
    "# in Houdini's Python shell": "runs inside an interactive Houdini session "
                                   "(hou.selectedNodes())",
    "# in Blender's Python console": "runs inside a Blender session (bpy and the artist's "
                                     "scene)",
    "class ExtractCache(FarmExtractor)": "Pyblish plug-ins for Maya: publish_on_farm() collects "
                                         "the Maya session's Pyblish context and extracts in "
                                         "mayapy",
}


class Stage:
    """What a prelude may do for its block: define names, write importable modules and files,
    and stand a local path in for a studio path in the block's text."""

    def __init__(self, block: Block, folder: str):
        self.block, self.folder = block, folder
        self.code = block.code
        self.names: Dict[str, object] = {}

    def module(self, relative: str, source: str) -> None:
        """A module importable here and by the farm's workers (they get our sys.path)."""
        path = os.path.join(self.folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)

    def file(self, name: str, text: str) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def replace(self, old: str, new: str) -> None:
        assert old in self.code, "%r is no longer in the block at README line %d" % (
            old, self.block.line)
        self.code = self.code.replace(old, new)

    def run(self, source: str) -> None:
        """Define names the block uses, by running ``source`` where the block will run (so that
        its functions travel to the farm by value, as a script editor's do)."""
        exec(compile(source, "<prelude of README line %d>" % self.block.line, "exec"),
             self.names)


def _api_example(stage: Stage) -> None:
    stage.run('def export_alembic(asset, frames):\n'
              '    return "/cache/%s.%s.abc" % (asset, frames)\n'
              'asset = "chr_hero"\n')


def _batch_example(stage: Stage) -> None:
    stage.run('from dccfutures import Executor\n'
              'ex = Executor()\n'
              'nodes = ["pCube1", "persp"]\n'
              'def node_type(node):\n'
              '    return "transform"\n')


def _initializer_example(stage: Stage) -> None:
    module, _, _ = stage.code.partition("# the session")
    stage.module("studio/__init__.py", "")
    stage.module("studio/color.py", module)
    stage.replace("/show/ocio/config.ocio", stage.file("config.ocio", "ocio_profile_version: 2\n"))


def _dependencies_example(stage: Stage) -> None:
    stage.run('from dccfutures import Executor\n'
              'def export_alembic(asset, frames):\n'
              '    return "/cache/%s.%s.abc" % (asset, frames)\n'
              'def render_frames(cache, frames):\n'
              '    assert cache == "/cache/chr_hero.1-100.abc", cache  # the value, not a future\n'
              '    return "/render/sh010.%s.exr" % frames\n'
              'def make_slate(shot):\n'
              '    return "/render/%s.slate.exr" % shot\n'
              'def publish(render, slate):\n'
              '    return [render, slate]\n')
    stage.module("studio/__init__.py", "")
    stage.module("studio/notify.py", "def shot_published(info):\n    print(info)\n")


# Blocks that run, with what they take for granted: the text that picks each one out.
PRELUDES: Dict[str, Callable[[Stage], None]] = {
    'fut = ex.submit(export_alembic, asset, frames="1-100")': _api_example,
    'with ex.batch(name="Get node types", cpus=4) as batch:': _batch_example,
    "initializer=color.load_ocio": _initializer_example,
    "depends_on=[render]": _dependencies_example,
}


def _matches(signature: str) -> List[Block]:
    return [block for block in BLOCKS if signature in block.code]


def test_each_listed_block_is_in_the_readme_once():
    for signature in list(COMPILE_ONLY) + list(PRELUDES):
        assert len(_matches(signature)) == 1, (
            "%r picks out %d README blocks, not 1: update tests/test_readme.py"
            % (signature, len(_matches(signature))))
    assert len(BLOCKS) >= 8


@pytest.fixture
def farm(farm_home, tmp_path, monkeypatch):
    """A private farm, and a folder on sys.path for the modules a prelude writes; the
    modules it imported are forgotten afterwards."""
    folder = str(tmp_path / "site")
    os.makedirs(folder)
    monkeypatch.syspath_prepend(folder)
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", None) and \
                sys.modules[name].__file__.startswith(folder):
            del sys.modules[name]


def _compile(block: Block, code: str):
    """Compiled so that a traceback names README.md and the block's own lines."""
    return compile("\n" * (block.line - 1) + code, README, "exec")


def _prelude(block: Block):
    preludes = [prelude for signature, prelude in PRELUDES.items() if signature in block.code]
    return preludes[0] if preludes else None


def _compile_only(block: Block):
    reasons = [reason for signature, reason in COMPILE_ONLY.items() if signature in block.code]
    return reasons[0] if reasons else None


def _ids(blocks: List[Block]) -> List[str]:
    """``<section>[-n]-run`` or ``…-compile-only``: stable while lines move."""
    ids: List[str] = []
    for block in blocks:
        section = re.sub(r"\W+", "_", block.heading).strip("_")
        count = sum(1 for other in blocks[:len(ids)] if other.heading == block.heading)
        ids.append("%s%s-%s" % (section, "-%d" % (count + 1) if count else "",
                                "compile-only" if _compile_only(block) else "run"))
    return ids


@pytest.mark.parametrize("block", BLOCKS, ids=_ids(BLOCKS))
def test_readme_python_block(block, request):
    _compile(block, block.code)  # every block is valid Python
    if _compile_only(block):
        return
    folder = request.getfixturevalue("farm")
    stage = Stage(block, folder)
    stage.names.update(__name__="readme_example", __builtins__=builtins)
    prelude = _prelude(block)
    if prelude is not None:
        prelude(stage)
    exec(_compile(block, stage.code), stage.names)
    for future in _futures(stage.names):
        future.result(60)  # every call the example made worked
    _check_commented_values(block, stage.code, stage.names)


def _futures(names: Dict[str, object]) -> List[concurrent.futures.Future]:
    """The futures a block left in its names, directly, in lists or in a batch."""
    found = []
    for value in names.values():
        values = getattr(value, "futures", value)  # a Batch
        for item in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(item, concurrent.futures.Future):
                found.append(item)
    return found


def _check_commented_values(block: Block, code: str, names: Dict[str, object]) -> None:
    """``expression  # value, then words``: the expression gives the value."""
    for offset, line in enumerate(code.splitlines()):
        expression, _, comment = line.partition("  #")
        expected = _leading_value(comment.strip())
        if expected is _NOTHING or not _is_expression(expression):
            continue
        assert eval(expression, names) == expected, (
            "README line %d: %s gives %r" % (block.line + offset, expression.strip(),
                                             eval(expression, names)))


_NOTHING = object()


def _leading_value(text: str):
    """The Python value a comment starts with (``[1, 3]  (duplicates removed)``), if any."""
    if not text or text[0] not in "[{(\"'":
        return _NOTHING
    for end in range(len(text), 0, -1):
        try:
            return ast.literal_eval(text[:end])
        except (ValueError, SyntaxError):
            continue
    return _NOTHING


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    return bool(text.strip())
