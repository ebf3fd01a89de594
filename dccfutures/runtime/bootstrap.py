"""Bootstraps: what a worker does once before its first item, and once after its last.

Plain Python needs none. A DCC bootstrap (open the scene copy, set the workspace) is named in
the job package as ``{"kind": …, …}``; the Maya and Houdini bootstraps register here.
"""
import importlib
from typing import Any, Dict

# kind -> "module:class"; the class takes the spec dict and has setup() and teardown().
BOOTSTRAPS: Dict[str, str] = {
    "mayapy": "dccfutures.runtime.maya:MayapyBootstrap",
}


def load_bootstrap(spec: Dict[str, Any]) -> Any:
    kind = spec.get("kind")
    target = BOOTSTRAPS.get(kind)
    if target is None:
        raise RuntimeError("unknown bootstrap %r in the job package (known: %s)"
                           % (kind, ", ".join(sorted(BOOTSTRAPS)) or "none"))
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)
