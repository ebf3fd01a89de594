"""Bootstraps: what a worker does once before its first item, and once after its last.

Plain Python needs none. A DCC bootstrap (open the scene copy, set the workspace) is named in
the job package as ``{"kind": …, "executable": …, …}``; the Maya and Houdini bootstraps
register here. A bootstrap also says how its worker process is started: most run
``<interpreter> -m <module>``; ``maya -batch`` takes its Python through ``-command``.
"""
import importlib
from typing import Any, Dict, List, Optional

# kind -> "module:class"; the class takes the spec dict and has setup() and teardown().
BOOTSTRAPS: Dict[str, str] = {
    "mayapy": "dccfutures.runtime.maya:MayapyBootstrap",
    "maya_batch": "dccfutures.runtime.maya:MayaBatchBootstrap",
    "hython": "dccfutures.runtime.houdini:HythonBootstrap",
}


def load_bootstrap(spec: Dict[str, Any]) -> Any:
    kind = spec.get("kind")
    target = BOOTSTRAPS.get(kind)
    if target is None:
        raise RuntimeError("unknown bootstrap %r in the job package (known: %s)"
                           % (kind, ", ".join(sorted(BOOTSTRAPS)) or "none"))
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)


def worker_command(python: str, spec: Optional[Dict[str, Any]], module: str,
                   args: List[str]) -> List[str]:
    """The command line that runs ``python -m module args`` for work with this bootstrap."""
    if spec and spec.get("kind") == "maya_batch":
        from .maya import batch_command
        return batch_command(spec["executable"], module, args)
    return [python, "-m", module] + list(args)
