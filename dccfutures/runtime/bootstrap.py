"""Bootstraps: what a worker does once before its first item, and once after its last.

Plain Python needs none. A DCC bootstrap (open the scene copy, set the workspace) is named in
the job package as ``{"kind": …, "executable": …, …}``; the Maya and Houdini bootstraps
register here. A bootstrap also says how its worker process is started: most run
``<interpreter> -c SAFE_RUN <module>`` (see :data:`SAFE_RUN`); ``maya -batch`` takes the same
Python through ``-command``, ``blender -b`` through ``--python-expr`` (:data:`COMMANDS`).
"""
import importlib
from typing import Any, Dict, List, Optional, Sequence

# kind -> "module:class"; the class takes the spec dict and has setup() and teardown().
BOOTSTRAPS: Dict[str, str] = {
    "mayapy": "dccfutures.runtime.maya:MayapyBootstrap",
    "maya_batch": "dccfutures.runtime.maya:MayaBatchBootstrap",
    "hython": "dccfutures.runtime.houdini:HythonBootstrap",
    "bpy": "dccfutures.runtime.blender:BpyBootstrap",
    "blender_batch": "dccfutures.runtime.blender:BlenderBatchBootstrap",
}

# kind -> "module:function(executable, module, args)" for the DCCs started as an application
# running our Python rather than as a Python interpreter.
COMMANDS: Dict[str, str] = {
    "maya_batch": "dccfutures.runtime.maya:batch_command",
    "blender_batch": "dccfutures.runtime.blender:batch_command",
}


def load_bootstrap(spec: Dict[str, Any]) -> Any:
    kind = spec.get("kind")
    target = BOOTSTRAPS.get(kind)
    if target is None:
        raise RuntimeError("unknown bootstrap %r in the job package (known: %s)"
                           % (kind, ", ".join(sorted(BOOTSTRAPS)) or "none"))
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(spec)


# How every Python we start runs its module (supervisor, workers, hooks, Qube subjobs, the
# DCCs' pip): ``python -m`` puts the folder it starts in first on sys.path (before it even
# imports runpy) and ``-c`` puts '' there (the current folder at each later import), so a
# json.py or runpy.py in a shot folder would run as the farm's user. ``-P`` and
# PYTHONSAFEPATH only exist from 3.11 (Maya 2023 and Houdini 19.5 run 3.9), and ``-I`` would
# drop the PYTHONPATH studios rely on. So the first statement drops '', '.' and the folder the
# process started in (found with the built-in posix/nt module: nothing is imported before),
# then ``sys.argv[1]`` runs as ``-m`` would run it. One line: it also goes in MEL's python().
SAFE_RUN = ("import sys; _cwd = __import__('nt' if sys.platform == 'win32' else 'posix')"
            ".getcwd(); sys.path[:] = [p for p in sys.path if p not in ('', '.', _cwd)]; "
            "del _cwd; import runpy; sys.argv[:] = sys.argv[1:]; "
            "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def python_command(python: str, module: str, args: Sequence[str] = ()) -> List[str]:
    """``python -m module args``, without the current folder on ``sys.path``."""
    return [python, "-c", SAFE_RUN, module] + list(args)


def worker_command(python: str, spec: Optional[Dict[str, Any]], module: str,
                   args: List[str]) -> List[str]:
    """The command line that runs ``python -m module args`` for work with this bootstrap."""
    spec = spec or {}
    target = COMMANDS.get(spec.get("kind", ""))
    if target is None:
        return python_command(python, module, args)
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)(spec["executable"], module,
                                                                   args)
