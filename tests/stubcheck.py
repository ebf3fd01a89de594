"""The published stubs as judges of our fakes: ``maya-stubs`` for ``tests/fakes/maya`` and
``types-houdini`` for ``tests/fakes/hou.py`` (tests/test_stub_conformance.py runs this).

A fake may do less than the real API, never more. So every public function, class, method,
attribute, keyword and Maya flag a fake implements must be in the stubs, and a fake must not
accept a call that the stub's signature rejects: more positional arguments, a keyword the stub
does not have, a positional argument the stub has as keyword-only, or leaving out an argument
the stub requires.

What the fakes implement is read by importing them in a child interpreter
(``python tests/stubcheck.py FAKES_DIR``; the test's own process keeps its modules and
environment), so classes and functions are seen as Python sees them, including attributes a
fake module serves through ``__getattr__`` (``hou.ui``). A Maya command's flags are the
``{long: short}`` dict it hands to ``_flags(kwargs, ...)`` (tests/fakes/maya/cmds.py). The
stubs are read with ``ast`` from the installed packages.
"""
import ast
import importlib
import inspect
import json
import os
import subprocess
import sys
import sysconfig
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes")
STUB_PACKAGES = {"maya": "maya-stubs", "hou": "hou-stubs"}   # fake top-level -> stub folder
# Dunder methods every class has from object: a fake defining them adds nothing to the API.
OBJECT_DUNDERS = set(dir(object)) - {"__init__"}
CLASS_PLUMBING = {"__module__", "__dict__", "__weakref__", "__slots__", "__qualname__",
                  "__annotations__", "__abstractmethods__", "__firstlineno__",
                  "__static_attributes__"}


# -- what the fakes implement (runs in the child) -----------------------------------------------
def judged_modules(fakes_dir):
    """(module name, file) of every fake module judged by the stubs: ``maya`` and its public
    submodules, and ``hou``. Underscore modules are the fakes' own machinery; ``plug-ins``
    holds fakes of plug-ins, which the stubs do not describe."""
    found = []
    root = os.path.join(fakes_dir, "maya")
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d.isidentifier() and not d.startswith("_"))
        relative = os.path.relpath(folder, root)
        package = ".".join(["maya"] + ([] if relative == "." else relative.split(os.sep)))
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext != ".py" or (stem.startswith("_") and stem != "__init__"):
                continue
            module = package if stem == "__init__" else package + "." + stem
            found.append((module, os.path.join(folder, name)))
    found.append(("hou", os.path.join(fakes_dir, "hou.py")))
    return found


def top_level_names(path):
    """Public names a module defines itself (not the ones it imports)."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    names = []

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            names.append(leaf.id)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", ()):
                    visit(handler.body)
    visit(tree.body)
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def signature_of(function, drop_first):
    """[[name, kind, has_default], ...] with inspect's kind names; None if Python cannot tell."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if drop_first and parameters and parameters[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        parameters = parameters[1:]
    return [[p.name, p.kind.name, p.default is not inspect.Parameter.empty]
            for p in parameters]


def flags_of(function):
    """A Maya command's flags, ``{long: short}``, from its ``_flags(kwargs, spec)`` call; None
    when the function takes no ``**kwargs`` or hands them to nothing we can read."""
    try:
        varkw = inspect.getfullargspec(function).varkw
        source = inspect.getsource(function)
    except (TypeError, OSError):
        return None
    if varkw is None:
        return None
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "_flags" and len(node.args) == 2
                and isinstance(node.args[0], ast.Name) and node.args[0].id == varkw):
            spec = eval(compile(ast.Expression(node.args[1]), "<flags>", "eval"),
                        function.__globals__)
            return dict((str(k), str(v)) for k, v in dict(spec).items())
    return None


def _is_fake(cls, fake_modules):
    return getattr(cls, "__module__", None) in fake_modules


def describe(qualname, obj, fake_modules, items):
    """Append what ``obj`` (reached as ``qualname``) implements to ``items``."""
    if inspect.isclass(obj):
        items.append({"name": qualname, "kind": "class"})
        members = {}
        for klass in reversed(obj.__mro__):
            if klass is object or not _is_fake(klass, fake_modules):
                continue
            for member in vars(klass):
                members[member] = klass
        for member in sorted(members):
            if member in CLASS_PLUMBING or member in OBJECT_DUNDERS or (
                    member.startswith("_") and not member.startswith("__")):
                continue
            raw = inspect.getattr_static(obj, member)
            name = "%s.%s" % (qualname, member)
            if isinstance(raw, (staticmethod, classmethod)):
                function = raw.__func__
                items.append({"name": name, "kind": "function",
                              "static": isinstance(raw, staticmethod),
                              "params": signature_of(function, isinstance(raw, classmethod)),
                              "flags": flags_of(function)})
            elif inspect.isfunction(raw):
                items.append({"name": name, "kind": "function", "static": False,
                              "params": signature_of(raw, True), "flags": flags_of(raw),
                              "dunder": member.startswith("__")})
            else:
                items.append({"name": name, "kind": "attribute"})
    elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
        items.append({"name": qualname, "kind": "function", "static": True,
                      "params": signature_of(obj, False), "flags": flags_of(obj)})
    elif not inspect.ismodule(obj):
        items.append({"name": qualname, "kind": "attribute"})


def collect(fakes_dir, stub_names):
    """Everything the judged fakes implement, as a list of dicts (see ``describe``)."""
    sys.path.insert(0, fakes_dir)
    os.environ["DCCFUTURES_FAKE_MAYA_MODE"] = "interactive"   # every command and UI exists
    os.environ["DCCFUTURES_FAKE_HOU_MODE"] = "ui"             # hou.ui exists
    modules = judged_modules(fakes_dir)
    fake_modules = set(name for name, _ in modules)
    items = []
    for module_name, path in modules:
        module = importlib.import_module(module_name)
        fake_modules.update(m for m in list(sys.modules) if m.split(".")[0] in ("maya", "hou"))
        items.append({"name": module_name, "kind": "module"})
        names = top_level_names(path)
        own = set(vars(module))
        # Attributes served by a module __getattr__ (PEP 562), such as hou.ui.
        names += [n for n in stub_names.get(module_name, ()) if n not in own
                  and not n.startswith("_") and _has(module, n)]
        for name in names:
            describe("%s.%s" % (module_name, name), getattr(module, name), fake_modules,
                     items)
    return items


def _has(module, name):
    try:
        getattr(module, name)
    except Exception:
        return False
    return True


# -- the stubs ---------------------------------------------------------------------------------
def site_dirs():
    paths = sysconfig.get_paths()
    return [p for p in dict.fromkeys([paths["purelib"], paths["platlib"]] + sys.path)
            if p and os.path.isdir(p)]


def stub_file(module_name):
    """The installed .pyi of ``module_name`` ("maya.cmds" -> .../maya-stubs/cmds/__init__.pyi)."""
    parts = module_name.split(".")
    package = STUB_PACKAGES[parts[0]]
    for site in site_dirs():
        base = os.path.join(site, package, *parts[1:])
        for candidate in (os.path.join(base, "__init__.pyi"), base + ".pyi"):
            if os.path.isfile(candidate):
                return candidate
    return None


class Signature(object):
    """What calls a signature accepts (from inspect's or ast's parameters)."""

    def __init__(self, params):
        self.positional = []            # (name, positional_only, has_default)
        self.varargs = False
        self.keywords = {}              # name -> has_default, for every keyword accepted
        self.varkw = False
        for name, kind, has_default in params:
            if kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"):
                self.positional.append((name, kind == "POSITIONAL_ONLY", has_default))
                if kind == "POSITIONAL_OR_KEYWORD":
                    self.keywords[name] = has_default
            elif kind == "VAR_POSITIONAL":
                self.varargs = True
            elif kind == "KEYWORD_ONLY":
                self.keywords[name] = has_default
            else:
                self.varkw = True

    def accepts_keyword(self, name):
        return self.varkw or name in self.keywords

    def max_positional(self):
        return float("inf") if self.varargs else len(self.positional)


def ast_params(arguments, drop_first):
    """inspect-style parameters of an ``ast.arguments``."""
    positional = [(a, "POSITIONAL_ONLY") for a in arguments.posonlyargs]
    positional += [(a, "POSITIONAL_OR_KEYWORD") for a in arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    params = [[a.arg, kind, index >= first_default]
              for index, (a, kind) in enumerate(positional)]
    if drop_first:
        params = params[1:]
    if arguments.vararg is not None:
        params.append([arguments.vararg.arg, "VAR_POSITIONAL", False])
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        params.append([arg.arg, "KEYWORD_ONLY", default is not None])
    if arguments.kwarg is not None:
        params.append([arguments.kwarg.arg, "VAR_KEYWORD", False])
    return params


def _decorators(node):
    return set(ast.unparse(d).split(".")[-1] for d in node.decorator_list)


class StubScope(object):
    """The members of a stub module or class: name -> [ast nodes] (overloads are several)."""

    def __init__(self, body):
        self.members = {}
        self._read(body)

    def _read(self, body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.members.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.members.setdefault(target.id, []).append(node)
            elif isinstance(node, ast.If):
                self._read(node.body)
                self._read(node.orelse)


class Stubs(object):
    """The installed stubs of the fake modules, parsed once."""

    def __init__(self):
        self.modules = {}

    def module(self, module_name):
        if module_name not in self.modules:
            path = stub_file(module_name)
            if path is None:
                self.modules[module_name] = None
            else:
                with open(path) as handle:
                    self.modules[module_name] = StubScope(ast.parse(handle.read(), path).body)
        return self.modules[module_name]

    def lookup(self, module_name, path):
        """The stub nodes of ``path`` (["hipFile", "load"]) in ``module_name``, searching the
        stub class's bases defined in the same module; [] when the stubs do not have it."""
        scope = self.module(module_name)
        if scope is None:
            return []
        nodes = scope.members.get(path[0], [])
        for member in path[1:]:
            classes = [n for n in nodes if isinstance(n, ast.ClassDef)]
            nodes = []
            for cls in self._mro(scope, classes[:1]):
                found = StubScope(cls.body).members.get(member)
                if found:
                    nodes = found
                    break
        return nodes

    def _mro(self, scope, classes):
        order, queue = [], list(classes)
        while queue:
            cls = queue.pop(0)
            if cls in order:
                continue
            order.append(cls)
            for base in cls.bases:
                name = ast.unparse(base).split("[")[0].split(".")[-1]
                queue += [n for n in scope.members.get(name, []) if isinstance(n, ast.ClassDef)]
        return order

    def command_keywords(self, command):
        """The keywords (long flags) ``maya.cmds.<command>`` accepts; None if no such command."""
        nodes = [n for n in self.lookup("maya.cmds", [command])
                 if isinstance(n, ast.FunctionDef)]
        if not nodes:
            return None
        names = set()
        for node in nodes:
            names.update(n for n, kind, _ in ast_params(node.args, False)
                         if kind in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"))
        return names

    def all_names(self, module_name):
        scope = self.module(module_name)
        return sorted(scope.members) if scope is not None else []


# -- judging -----------------------------------------------------------------------------------
class Finding(object):
    """One way a fake does more than the stubs allow. ``key`` is what the allow-list names."""

    def __init__(self, key, message):
        self.key = key
        self.message = message

    def __repr__(self):
        return "%s: %s" % (self.key, self.message)


def module_of(qualname, modules):
    """Split "maya.api.OpenMaya.MGlobal.mayaState" into ("maya.api.OpenMaya", [...])."""
    best = max((m for m in modules if qualname == m or qualname.startswith(m + ".")), key=len)
    rest = qualname[len(best) + 1:]
    return best, (rest.split(".") if rest else [])


def stub_signature(nodes, in_class):
    """(Signature accepting every call one of the stub's overloads accepts, whether it is a
    staticmethod); (None, None) when the stub is no function (an attribute, a property)."""
    functions = [n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    functions = [n for n in functions if "property" not in _decorators(n)
                 and not any(d.endswith("setter") for d in _decorators(n))]
    if not functions:
        return None, None
    stub_static = "staticmethod" in _decorators(functions[0])
    signatures = [Signature(ast_params(n.args, drop_first=in_class and not stub_static))
                  for n in functions]
    return _merge(signatures), stub_static


def _merge(signatures):
    """One Signature accepting what any of ``signatures`` accepts; an argument is required
    only where every one of them requires it."""
    merged = Signature([])
    merged.varargs = any(s.varargs for s in signatures)
    merged.varkw = any(s.varkw for s in signatures)
    for index in range(max(len(s.positional) for s in signatures)):
        entries = [s.positional[index] if index < len(s.positional) else None
                   for s in signatures]
        present = [e for e in entries if e is not None]
        merged.positional.append((present[0][0], all(e[1] for e in present),
                                  any(e is None or e[2] for e in entries)))
    for name in set().union(*(s.keywords for s in signatures)):
        merged.keywords[name] = any(s.keywords.get(name, True) for s in signatures)
    return merged


def judge_signature(name, fake, stub, flags, short_flags, command):
    """Findings for a fake signature (``fake``: inspect-style params) against ``stub``."""
    findings = []
    sig = Signature(fake)
    if sig.varargs and not stub.varargs:
        findings.append(Finding("%s(*)" % name, "the fake takes any number of positional "
                                "arguments; the stub at most %d" % stub.max_positional()))
    elif len(sig.positional) > stub.max_positional():
        findings.append(Finding("%s(*)" % name, "the fake takes %d positional arguments; the "
                                "stub at most %d" % (len(sig.positional),
                                                     stub.max_positional())))
    for index, (param, positional_only, _) in enumerate(sig.positional):
        if positional_only:
            continue
        if not stub.accepts_keyword(param):
            if index < stub.max_positional():
                message = ("the fake accepts argument %d as the keyword %r; the stub takes it "
                           "by position only (in the fake: ``%s, /``)" % (index + 1, param,
                                                                          param))
            else:
                message = "keyword %r is not in the stub" % param
            findings.append(Finding("%s(%s=)" % (name, param), message))
        elif index < len(stub.positional) and stub.positional[index][0] != param \
                and not stub.positional[index][1]:
            findings.append(Finding("%s(%s=)" % (name, param), "argument %d is %r in the fake "
                                    "but %r in the stub" % (index + 1, param,
                                                            stub.positional[index][0])))
    for param in sig.keywords:
        if param not in [p[0] for p in sig.positional] and not stub.accepts_keyword(param):
            findings.append(Finding("%s(%s=)" % (name, param), "keyword %r is not in the stub"
                                    % param))
    if sig.varkw and flags is None and not stub.varkw:
        findings.append(Finding("%s(**)" % name, "the fake accepts any keyword (its flags are "
                                "not read from a _flags(kwargs, {...}) call); the stub does not"))
    for long_name, short in sorted((flags or {}).items()):
        if not stub.accepts_keyword(long_name):
            findings.append(Finding("%s(%s=)" % (name, long_name), "flag %r (short %r) is not "
                                    "in the stub" % (long_name, short)))
        table = short_flags.get(command, {})
        if command is not None and short != long_name and table.get(short) != long_name:
            findings.append(Finding("%s(%s=)" % (name, short), "the fake's short flag %r means "
                                    "%r; the flag table (tests/fakes/maya_flags.py) says %r"
                                    % (short, long_name, table.get(short))))
    for index, (param, _, has_default) in enumerate(stub.positional):
        if has_default:
            continue
        if index >= len(sig.positional) or sig.positional[index][2]:
            findings.append(Finding("%s(!%s)" % (name, param), "the stub requires argument "
                                    "%d (%r); the fake lets it out" % (index + 1, param)))
    for param, has_default in stub.keywords.items():
        if has_default or param in [p[0] for p in stub.positional]:
            continue
        if sig.keywords.get(param, True):
            findings.append(Finding("%s(!%s)" % (name, param), "the stub requires keyword %r; "
                                    "the fake lets it out" % param))
    return findings


def judge(items, stubs, short_flags):
    """All findings for ``items`` (from ``collect``) against ``stubs``."""
    modules = [i["name"] for i in items if i["kind"] == "module"]
    findings = []
    for item in items:
        name = item["name"]
        if item["kind"] == "module":
            if stubs.module(name) is None:
                findings.append(Finding(name, "no stub module (looked for %s)"
                                        % _expected_stub(name)))
            continue
        module_name, path = module_of(name, modules)
        if stubs.module(module_name) is None:
            continue
        nodes = stubs.lookup(module_name, path)
        if not nodes:
            if item.get("dunder"):
                # A protocol method the stub class lacks (len(), with, [] ...).
                findings.append(Finding(name, "the fake defines %s; the stub class does not"
                                        % path[-1]))
            else:
                findings.append(Finding(name, "not in the stubs"))
            continue
        kind_finding = _kind_mismatch(item, nodes)
        if kind_finding:
            findings.append(Finding(name, kind_finding))
            continue
        if item["kind"] != "function" or item.get("dunder") and path[-1] != "__init__":
            continue
        stub, stub_static = stub_signature(nodes, len(path) > 1)
        if stub is None:
            continue
        if len(path) > 1 and path[-1] != "__init__" and bool(stub_static) != bool(item["static"]):
            findings.append(Finding(name, "a %s in the fake, a %s in the stub"
                                    % _kinds(item["static"], stub_static)))
            continue
        if item["params"] is None:
            findings.append(Finding(name, "the fake's signature cannot be read"))
            continue
        command = path[0] if module_name == "maya.cmds" and len(path) == 1 else None
        findings += judge_signature(name, item["params"], stub, item.get("flags"),
                                    short_flags, command)
    return findings


# Stub annotations of attributes that cannot be called (``version: str``).
DATA_TYPES = {"str", "int", "float", "bool", "bytes", "tuple", "Tuple", "list", "List", "dict",
              "Dict", "None"}


def _kind_mismatch(item, nodes):
    """Why a fake callable is a data attribute in the stub, or the other way round; "" if not."""
    functions = [n for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.ClassDef))
                 and "property" not in _decorators(n)]
    annotations = [ast.unparse(n.annotation) for n in nodes
                   if isinstance(n, ast.AnnAssign)]
    data = [a for a in annotations if a.split("[")[0].split(".")[-1] in DATA_TYPES]
    if item["kind"] == "function" and data and not functions:
        return ("callable in the fake; in the stub an attribute of type %s (calling it fails "
                "in the real API)" % data[0])
    if item["kind"] == "attribute" and functions and not annotations:
        return "a data attribute in the fake; a function or class in the stub"
    return ""


def _kinds(fake_static, stub_static):
    word = {True: "staticmethod", False: "instance method"}
    return word[bool(fake_static)], word[bool(stub_static)]


def _expected_stub(module_name):
    parts = module_name.split(".")
    return "/".join([STUB_PACKAGES[parts[0]]] + parts[1:]) + "(.pyi|/__init__.pyi)"


def judge_flag_table(table, stubs):
    """Findings for the short -> long flag table itself: every long name in the command's
    stub, one short name per flag, and no short name that is another flag's long name."""
    findings = []
    for command, shorts in sorted(table.items()):
        keywords = stubs.command_keywords(command)
        if keywords is None:
            findings.append(Finding("maya_flags:%s" % command, "maya.cmds has no command %r "
                                    "in the stubs" % command))
            continue
        for short, long_name in sorted(shorts.items()):
            key = "maya_flags:%s.%s" % (command, short)
            if long_name not in keywords:
                findings.append(Finding(key, "%s has no flag %r in the stubs"
                                        % (command, long_name)))
            if short != long_name and short in keywords:
                findings.append(Finding(key, "short name %r is another %s flag's long name"
                                        % (short, command)))
        longs = list(shorts.values())
        for long_name in sorted(set(l for l in longs if longs.count(l) > 1)):
            findings.append(Finding("maya_flags:%s.%s" % (command, long_name),
                                    "two short names for %r" % long_name))
    return findings


# -- running the collector in a child ---------------------------------------------------------
def fake_items(fakes_dir, stubs):
    """``collect(fakes_dir)`` run in a fresh interpreter."""
    stub_names = dict((m, stubs.all_names(m)) for m in ("hou", "maya.cmds"))
    env = dict(os.environ)
    for name in ("PYTHONPATH", "DCCFUTURES_FAKE_MAYA_MODE", "DCCFUTURES_FAKE_HOU_MODE"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, os.path.abspath(__file__), fakes_dir],
                            input=json.dumps(stub_names), capture_output=True, text=True,
                            env=env, timeout=60)
    if result.returncode != 0:
        raise RuntimeError("collecting the fakes failed:\n%s" % result.stderr)
    return json.loads(result.stdout)


if __name__ == "__main__":
    names = json.loads(sys.stdin.read() or "{}")
    json.dump(collect(os.path.abspath(sys.argv[1]), names), sys.stdout)
