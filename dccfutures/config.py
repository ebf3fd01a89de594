"""The YAML config of dccfutures.

The config is where a studio or a user sets things once: the farm to use, the DCC
executables, and the job field defaults. Those defaults have the lowest precedence: an
explicit argument or an environment variable always wins over them.

A config file is often shared by a whole studio and edited by a TD under pressure, so every
error names the file, the line and the dotted key (``local.workers``) and, for a misspelt
key, suggests the right one. The file is composed to a YAML node tree (which keeps line
numbers) and that tree is checked against one small table, :data:`_SCHEMA`.
"""
from __future__ import annotations

import difflib
import math
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from .errors import ConfigError

__all__ = ["Config", "DeadlineConfig", "EnvironConfig", "LocalConfig", "OpenCueConfig",
           "QubeConfig", "default_config_path", "load", "parse"]


def _default_workers() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class LocalConfig:
    """Settings of the local farm (section ``local``)."""

    workers: int = field(default_factory=_default_workers)
    idle_timeout: float = 600.0      # seconds the supervisor stays up with no work
    max_attempts: int = 3
    retention_days: float = 7.0
    heartbeat: float = 2.0           # seconds between worker heartbeats
    lease_timeout: float = 30.0      # seconds without a heartbeat before a worker is lost
    max_log_mb: float = 100.0        # an item's output past this: its head and tail are kept


@dataclass(frozen=True)
class QubeConfig:
    """Settings of the Qube farm (section ``qube``)."""

    spool_dir: Optional[str] = None
    poll_min: float = 0.1
    poll_max: float = 2.0
    spool_threshold_mb: float = 1.0
    max_log_mb: float = 100.0        # an item's output past this: its head and tail are kept


@dataclass(frozen=True)
class OpenCueConfig:
    """Settings of the OpenCue farm (section ``opencue``). ``hosts`` empty: pycue's own
    ``CUEBOT_HOSTS`` or its config file name the Cuebot. ``show`` has no default: jobs are
    filed under a show that must exist in Cuebot."""

    hosts: Tuple[str, ...] = ()
    show: Optional[str] = None
    shot: str = "default"
    facility: Optional[str] = None
    spool_dir: Optional[str] = None
    poll_min: float = 0.1
    poll_max: float = 2.0
    chunk: int = 10                  # work items per frame for DCC work (a DCC boots per frame)
    max_attempts: int = 2            # Cuebot allows at most one retry per frame
    max_log_mb: float = 100.0        # an item's output past this: its head and tail are kept


@dataclass(frozen=True)
class DeadlineConfig:
    """Settings of the AWS Deadline Cloud farm (section ``deadline``). ``farm_id``,
    ``queue_id``, ``profile``, ``region`` and ``storage_profile_id`` left out: the ``deadline``
    CLI's own config (``deadline config set defaults.farm_id ...``) names them."""

    farm_id: Optional[str] = None
    queue_id: Optional[str] = None
    profile: Optional[str] = None        # an AWS profile (credentials and region)
    region: Optional[str] = None
    storage_profile_id: Optional[str] = None
    spool_dir: Optional[str] = None      # shared storage: bundles, payloads and results
    python: Optional[str] = None         # the Python that runs our runtime on the workers
    poll_min: float = 1.0
    poll_max: float = 10.0
    max_attempts: int = 2
    max_log_mb: float = 100.0        # an item's output past this: its head and tail are kept
    # Work items per Deadline Cloud task (OpenJD TASK_CHUNKING); 1: one task per item. Off by
    # default: a queue without the extension refuses a chunked template.
    task_chunking: int = 1


@dataclass(frozen=True)
class EnvironConfig:
    """Glob patterns of environment variables never sent (``deny``) or always sent (``allow``)."""

    deny: Tuple[str, ...] = ()
    allow: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole config; ``Config()`` is all defaults. ``path`` is None when no file was read."""

    path: Optional[str] = None
    farm: str = "local"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    local: LocalConfig = field(default_factory=LocalConfig)
    qube: QubeConfig = field(default_factory=QubeConfig)
    opencue: OpenCueConfig = field(default_factory=OpenCueConfig)
    deadline: DeadlineConfig = field(default_factory=DeadlineConfig)
    python: Optional[str] = None
    max_payload_mb: float = 64.0
    dcc: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    environ: EnvironConfig = field(default_factory=EnvironConfig)
    shelves_extra: Tuple[str, ...] = ()

    def dcc_executable(self, dcc: str, version: str, kind: str) -> Optional[str]:
        """The configured path of ``kind`` (``mayapy``, ``hython``...) for a DCC version, or None."""
        return self.dcc.get(dcc, {}).get(str(version), {}).get(kind)


# --- The schema -----------------------------------------------------------------------------
#
# A schema is a dict of key -> rule or nested schema dict. A rule is called as
# rule(checker, value_node, dotted_key, line) and returns the Python value, or raises.

_Rule = Callable[["_Checker", yaml.Node, str, int], Any]
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VERSION_TAGS = (_STR_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _scalar(describe: str, accept: Callable[[Any], bool],
            convert: Callable[[Any], Any] = lambda value: value) -> _Rule:
    """A rule for one scalar value: ``'<key>' must be <describe>, got <value>`` otherwise."""

    def rule(checker: _Checker, node: yaml.Node, key: str, line: int) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value = checker.value(node)
            if accept(value):
                return convert(value)
        raise checker.error("'%s' must be %s, got %s" % (key, describe, checker.show(node)),
                            line, key)

    return rule


def _integer(low: int) -> _Rule:
    return _scalar("an integer >= %d" % low,
                   lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low)


def _number(low: float, strict: bool = False) -> _Rule:
    if strict:
        return _scalar("a number > %g" % low, lambda v: _is_number(v) and v > low, float)
    return _scalar("a number >= %g" % low, lambda v: _is_number(v) and v >= low, float)


def _one_of(*choices: str) -> _Rule:
    return _scalar("one of: " + ", ".join(choices), lambda v: isinstance(v, str) and v in choices)


_STRING = _scalar("a string", lambda v: isinstance(v, str))
_CUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*\Z")  # what Cuebot keeps in a job name


def _is_host(value: Any) -> bool:
    """``host`` or ``host:port``, as pycue's ``CUEBOT_HOSTS`` takes them."""
    if not isinstance(value, str):
        return False
    host, colon, port = value.rpartition(":") if ":" in value else (value, "", "")
    if not re.match(r"^[A-Za-z0-9_.\-]+\Z", host):
        return False
    return not colon or (port.isdigit() and 1 <= int(port) <= 65535)
def _aws_id(prefix: str, describe: str) -> _Rule:
    """An AWS Deadline Cloud resource id: ``<prefix>-<32 hex>``."""
    pattern = re.compile(r"^%s-[0-9a-f]{32}\Z" % prefix)
    return _scalar("%s (%s-<32 hex>)" % (describe, prefix),
                   lambda v: isinstance(v, str) and bool(pattern.match(v)))


_PATH = _scalar("a path (a non-empty string)", lambda v: isinstance(v, str) and v != "", _expand)
_OPTIONAL_PATH = _scalar("a path or null", lambda v: v is None or (isinstance(v, str) and v != ""),
                         lambda v: None if v is None else _expand(v))


def _list_of(item: _Rule) -> _Rule:
    """A rule for a list (null means empty) whose items all follow ``item``; gives a tuple."""

    def rule(checker: _Checker, node: yaml.Node, key: str, line: int) -> Tuple[Any, ...]:
        if _is_null(node):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise checker.error("'%s' must be a list, got %s" % (key, checker.show(node)),
                                line, key)
        return tuple(item(checker, child, "%s[%d]" % (key, index), _line(child))
                     for index, child in enumerate(node.value))

    return rule


def _job_fields(checker: _Checker, node: yaml.Node, key: str, line: int) -> Dict[str, Any]:
    """``defaults``: job fields, checked by the executor's own rules, but here, so that a bad
    one names the file and the line when the config is read, not at the first submit."""
    from .executor import JOB_FIELDS, _check_fields  # imported late: the executor imports us
    result = {}
    for key_node, value_node in checker.pairs(node, key, line):
        if key_node.tag != _STR_TAG:
            raise checker.error("keys of '%s' must be strings, got %s"
                                % (key, checker.show(key_node)), _line(key_node), key)
        value = checker.value(value_node)
        try:
            _check_fields({key_node.value: value}, JOB_FIELDS, "job")
        except (TypeError, ValueError) as error:
            raise checker.error("in '%s': %s" % (key, error), _line(key_node),
                                _join(key, key_node.value)) from None
        result[key_node.value] = value
    return result


def _versions(schema: Dict[str, Any]) -> _Rule:
    """A mapping of DCC version -> ``schema``. A version written as a number keeps its text."""

    def rule(checker: _Checker, node: yaml.Node, key: str, line: int) -> Dict[str, Any]:
        result = {}
        for key_node, value_node in checker.pairs(node, key, line):
            if key_node.tag not in _VERSION_TAGS or not key_node.value:
                raise checker.error("versions in '%s' must look like 2025 or \"20.5\", got %s"
                                    % (key, checker.show(key_node)), _line(key_node), key)
            version = key_node.value   # "20.50" stays "20.50", as str(float) would not
            result[version] = checker.section(schema, value_node, "%s.%s" % (key, version),
                                              _line(key_node))
        return result

    return rule


_SCHEMA: Dict[str, Any] = {
    "farm": _one_of("local", "qube", "opencue", "deadline", "openjd"),
    "defaults": _job_fields,
    "local": {
        "workers": _integer(1),
        "idle_timeout": _number(0),
        "max_attempts": _integer(1),
        "retention_days": _number(0),
        "heartbeat": _number(0, strict=True),
        "lease_timeout": _number(0, strict=True),
        "max_log_mb": _number(0),
    },
    "qube": {
        "spool_dir": _OPTIONAL_PATH,
        "poll_min": _number(0, strict=True),
        "poll_max": _number(0, strict=True),
        "spool_threshold_mb": _number(0),
        "max_log_mb": _number(0),
    },
    "opencue": {
        "hosts": _list_of(_scalar("'host' or 'host:port' (port 1-65535)", lambda v: _is_host(v))),
        "show": _scalar("an OpenCue show name (letters, digits, '_' and '.')",
                        lambda v: isinstance(v, str) and bool(_CUE_NAME.match(v))),
        "shot": _scalar("an OpenCue shot name (3 or more letters, digits, '_' and '.')",
                        lambda v: isinstance(v, str) and bool(_CUE_NAME.match(v)) and len(v) >= 3),
        "facility": _scalar("a facility name", lambda v: isinstance(v, str) and v != ""),
        "spool_dir": _OPTIONAL_PATH,
        "poll_min": _number(0, strict=True),
        "poll_max": _number(0, strict=True),
        "chunk": _integer(1),
        "max_attempts": _integer(1),
        "max_log_mb": _number(0),
    },
    "deadline": {
        "farm_id": _aws_id("farm", "a Deadline Cloud farm id"),
        "queue_id": _aws_id("queue", "a Deadline Cloud queue id"),
        "profile": _scalar("an AWS profile name", lambda v: isinstance(v, str) and v != ""),
        "region": _scalar("an AWS region (us-west-2)", lambda v: isinstance(v, str) and bool(
            re.match(r"^[a-z]{2}(-[a-z]+)+-[0-9]+\Z", v))),
        "storage_profile_id": _aws_id("sp", "a storage profile id"),
        "spool_dir": _OPTIONAL_PATH,
        "python": _PATH,
        "poll_min": _number(0, strict=True),
        "poll_max": _number(0, strict=True),
        "max_attempts": _integer(1),
        "max_log_mb": _number(0),
        "task_chunking": _scalar("a number of work items per task, 1 or more (1: off, one "
                                 "task per item)", lambda v: isinstance(v, int)
                                 and not isinstance(v, bool) and v >= 1),
    },
    "python": _OPTIONAL_PATH,
    "max_payload_mb": _number(0, strict=True),
    "dcc": {
        "maya": _versions({"mayapy": _PATH, "maya": _PATH}),
        "houdini": _versions({"hython": _PATH}),
        "blender": _versions({"python": _PATH, "blender": _PATH}),
    },
    "environ": {"deny": _list_of(_STRING), "allow": _list_of(_STRING)},
    "shelves": {"extra": _list_of(_PATH)},
}


# --- Checking the node tree -----------------------------------------------------------------

def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _place(where: str) -> str:
    return "'%s'" % where if where else "the top level"


class _Checker:
    """Walks a composed node tree; knows the file for errors and records the line of each key."""

    def __init__(self, loader: yaml.SafeLoader, path: Optional[str]):
        self.loader = loader
        self.path = path
        self.lines: Dict[str, int] = {}

    def error(self, message: str, line: Optional[int], key: Optional[str]) -> ConfigError:
        return ConfigError(message, path=self.path, line=line, key=key)

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def show(self, node: yaml.Node) -> str:
        """How a wrong value reads in an error message."""
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        value = self.value(node)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "a boolean (%s)" % node.value
        return repr(value) if isinstance(value, str) else node.value

    def pairs(self, node: yaml.Node, where: str, line: int) -> List[Tuple[yaml.Node, yaml.Node]]:
        """The (key node, value node) pairs of a mapping; null is empty, ``<<`` merges work."""
        if _is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.error("%s must be a mapping, got %s" % (_place(where), self.show(node)),
                             line, where or None)
        seen: Dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error("keys in %s must be strings, got %s"
                                 % (_place(where), self.show(key_node)), _line(key_node),
                                 where or None)
            if key_node.value in seen:
                raise self.error("duplicate key %r in %s (first on line %d)"
                                 % (key_node.value, _place(where), seen[key_node.value]),
                                 _line(key_node), _join(where, key_node.value))
            seen[key_node.value] = _line(key_node)
        self.loader.flatten_mapping(node)
        # After flattening, merged pairs come first and the mapping's own pairs override them.
        return list({key.value: (key, value) for key, value in node.value}.values())

    def section(self, schema: Dict[str, Any], node: yaml.Node, where: str,
                line: int) -> Dict[str, Any]:
        """Check a mapping against ``schema``; gives the values of the keys present."""
        result = {}
        for key_node, value_node in self.pairs(node, where, line):
            name = key_node.value
            key = _join(where, name)
            rule = schema.get(name)
            if rule is None:
                raise self.error(_unknown_key(name, schema, where), _line(key_node), key)
            self.lines[key] = _line(key_node)
            if isinstance(rule, dict):
                result[name] = self.section(rule, value_node, key, _line(key_node))
                continue
            try:
                result[name] = rule(self, value_node, key, _line(key_node))
            except yaml.YAMLError as error:   # an unknown tag such as !foo: name the key too
                raise _yaml_error(error, self.path, "", key) from None
        return result


def _join(where: str, name: str) -> str:
    return "%s.%s" % (where, name) if where else name


def _unknown_key(name: str, schema: Dict[str, Any], where: str) -> str:
    message = "unknown key %r %s (expected one of: %s)" % (
        name, "in '%s'" % where if where else "at the top level", ", ".join(sorted(schema)))
    close = difflib.get_close_matches(name, list(schema), n=1)
    if close:
        message += "; did you mean %r?" % close[0]
    return message


def _yaml_error(error: yaml.YAMLError, path: Optional[str], text: str,
                key: Optional[str] = None) -> ConfigError:
    if isinstance(error, yaml.reader.ReaderError):   # a control character; no mark, a position
        code = error.character if isinstance(error.character, int) else ord(error.character)
        problem = "unacceptable character #x%04x: %s" % (code, error.reason)
        return ConfigError("invalid YAML: " + problem, path=path,
                           line=text.count("\n", 0, error.position) + 1, key=key)
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    message = "invalid YAML: %s" % (getattr(error, "problem", None) or error)
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        message += " (%s on line %d)" % (context, context_mark.line + 1)
    elif context:
        message += " (%s)" % context
    return ConfigError(message, path=path, line=line, key=key)


# --- Public API -----------------------------------------------------------------------------

def check_document(text: str, path: Optional[str], schema: Dict[str, Any],
                   checker_class: Any = None) -> Tuple[Dict[str, Any], "_Checker"]:
    """One YAML document checked against ``schema`` (errors name file, line and key).
    Returns the checked values and the checker (which knows each key's line). A YAML
    syntax error is raised as ``yaml.YAMLError``, for the caller to word."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        checker = (checker_class or _Checker)(loader, path)
        raw = checker.section(schema, root, "", _line(root)) if root is not None else {}
    finally:
        loader.dispose()
    return raw, checker


def parse(text: str, path: Optional[str] = None) -> Config:
    """Parse config text; ``path`` only names the file in errors and in ``Config.path``."""
    try:
        raw, checker = check_document(text, path, _SCHEMA)
    except yaml.YAMLError as error:
        raise _yaml_error(error, path, text) from None

    values = {name: raw[name] for name in ("farm", "defaults", "python", "max_payload_mb", "dcc")
              if name in raw}
    for name, cls in (("local", LocalConfig), ("qube", QubeConfig), ("opencue", OpenCueConfig),
                      ("deadline", DeadlineConfig), ("environ", EnvironConfig)):
        if name in raw:
            values[name] = cls(**raw[name])
    if "extra" in raw.get("shelves", {}):
        values["shelves_extra"] = raw["shelves"]["extra"]
    config = Config(path=path, **values)

    for section in ("qube", "opencue", "deadline"):
        settings = getattr(config, section)
        if settings.poll_max < settings.poll_min:
            key = section + (".poll_max" if section + ".poll_max" in checker.lines
                             else ".poll_min")
            raise ConfigError("'%s.poll_max' (%g) must be >= '%s.poll_min' (%g)"
                              % (section, settings.poll_max, section, settings.poll_min),
                              path=path, line=checker.lines[key], key=key)
    return config


def default_config_path() -> str:
    """Where the config lives when neither a path nor ``$DCCFUTURES_CONFIG`` names one."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData",
                                                         "Roaming")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME", "")
        if not os.path.isabs(base):   # the XDG spec says to ignore a relative value
            base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "dccfutures", "config.yaml")


_cache: Dict[str, Tuple[Tuple[int, int], Config]] = {}
_cache_lock = threading.Lock()


def load(path: Optional[str] = None) -> Config:
    """Read the config from ``path``, else ``$DCCFUTURES_CONFIG``, else the default location.

    A missing file at the default location gives all defaults; a missing file named by
    ``path`` or ``$DCCFUTURES_CONFIG`` is a :class:`ConfigError`. The result is cached until
    the file's modification time or size changes.
    """
    named = path or os.environ.get("DCCFUTURES_CONFIG") or None
    filename = os.path.abspath(os.path.expanduser(named or default_config_path()))
    try:
        info = os.stat(filename)
    except FileNotFoundError:
        if named is None:
            return Config()
        how = "" if path else " (named by $DCCFUTURES_CONFIG)"
        raise ConfigError("config file not found%s" % how, path=filename) from None
    except OSError as error:
        raise ConfigError("cannot read the config file: %s" % error.strerror,
                          path=filename) from None

    resolved = os.path.realpath(filename)
    signature = (info.st_mtime_ns, info.st_size)
    with _cache_lock:
        cached = _cache.get(resolved)
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        with open(filename, encoding="utf-8") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("cannot read the config file: %s" % error, path=filename) from None
    config = parse(text, filename)
    with _cache_lock:
        _cache[resolved] = (signature, config)
    return config
