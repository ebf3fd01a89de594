"""The built-in actions behind our shelf buttons and Farm menu entries (``shelves/*.yaml``).

Each action is a plain function taking the submit dialog's values as keywords (farm, name,
frames, chunk_size, cpus, groups, priority, clone_environ, create_tempfile) plus its own options,
so a TD can call it from the Script Editor just as the button does. Actions submit and return
their futures at once: the artist's session is never blocked waiting for the farm.
"""
from typing import Any, Dict, Optional

JOB_OPTIONS = ("cpus", "groups", "priority")


def executor_options(farm: Optional[str] = None, cpus: Optional[int] = None,
                     groups: Any = None, priority: Optional[int] = None,
                     clone_environ: bool = True, create_tempfile: bool = True) -> Dict[str, Any]:
    """The dialog's values as DCC executor keywords (empty values left to the config)."""
    options: Dict[str, Any] = {"clone_environ": clone_environ, "create_tempfile": create_tempfile}
    if farm:
        options["farm"] = farm
    if cpus:
        options["cpus"] = int(cpus)
    if groups:
        options["groups"] = groups
    if priority is not None and priority != "":
        options["priority"] = int(priority)
    return options
