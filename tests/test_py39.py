"""Maya 2023 and Houdini 19.5 embed Python 3.9: no ``X | Y`` unions evaluated at runtime.

vermin (``make lint``) checks syntax and the standard library for 3.9; its union heuristic
mistakes bit flags (``os.O_RDWR | os.O_NONBLOCK``) for types, so this precise check looks
only where a union would really be evaluated: annotations (unless postponed) and isinstance.
"""
import ast
import os

from tests.conftest import ROOT

FOLDERS = ("dccfutures", "jobtypes", "maya_plugin", "houdini_plugin", "blender_plugin", "tests", "benchmarks")


def _python_files():
    for folder in FOLDERS:
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if name.endswith(".py"):
                    yield os.path.join(base, name)


def _has_bitor(node):
    return node is not None and any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr)
                                    for n in ast.walk(node))


def runtime_unions(source):
    tree = ast.parse(source)
    postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                    and any(a.name == "annotations" for a in n.names) for n in tree.body)
    found = []
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not postponed:
            args = node.args
            annotations = [a.annotation for a in args.args + args.kwonlyargs + args.posonlyargs]
            annotations += [args.vararg and args.vararg.annotation,
                            args.kwarg and args.kwarg.annotation, node.returns]
        elif isinstance(node, ast.AnnAssign) and not postponed:
            annotations = [node.annotation]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance",
                                                                                "issubclass"):
            annotations = node.args[1:2]
        found += [node.lineno for a in annotations if _has_bitor(a)]
    return found


def test_the_check_catches_unions():
    assert runtime_unions("def f(x: int | None) -> None: pass") == [1]
    assert runtime_unions("isinstance(1, int | str)") == [1]
    assert runtime_unions("from __future__ import annotations\ndef f(x: int | None): pass") == []
    assert runtime_unions("import os\nflags = os.O_RDWR | os.O_NONBLOCK") == []


def test_no_runtime_unions_anywhere():
    offenders = []
    for path in _python_files():
        with open(path, encoding="utf-8") as handle:
            lines = runtime_unions(handle.read())
        offenders += ["%s:%d" % (os.path.relpath(path, ROOT), line) for line in lines]
    assert offenders == []
