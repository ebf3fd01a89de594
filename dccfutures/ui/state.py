"""The submit dialogs' remembered values: the last values of each action's dialog, per user.

Qt-free, so every dialog shares one store: the Qt submit dialog (Maya, Houdini, standalone)
and Blender's own properties dialogs (Blender ships no Qt). The file is
``<user config dir>/dccfutures/dialog.json`` (``$DCCFUTURES_UI_STATE`` names another),
``{action_id: {field: value}}``, written atomically and 0600.
"""
import json
import os
import tempfile
from typing import Any, Dict, Mapping, Optional

from .. import config as config_module

__all__ = ["STATE_VAR", "state_path", "load_state", "save_state"]

STATE_VAR = "DCCFUTURES_UI_STATE"


def state_path() -> str:
    """Where the dialog keeps its last values: ``$DCCFUTURES_UI_STATE``, else ``dialog.json``
    next to the user's config file (``$XDG_CONFIG_HOME/dccfutures`` or ``~/.config/...``)."""
    named = os.environ.get(STATE_VAR)
    if named:
        return os.path.abspath(os.path.expanduser(named))
    return os.path.join(os.path.dirname(config_module.default_config_path()), "dialog.json")


def load_state(path: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """``{action_id: values}``; an unreadable or malformed file counts as empty."""
    try:
        with open(path or state_path(), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, dict)}


def save_state(action_id: str, values: Mapping[str, Any], path: Optional[str] = None) -> str:
    """Remember ``values`` for ``action_id``, keeping the other actions'. Atomic (a temporary
    file, which ``mkstemp`` creates 0600, renamed over the old one)."""
    path = path or state_path()
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    state = load_state(path)
    state[str(action_id)] = dict(values)
    handle, temporary = tempfile.mkstemp(prefix=".dialog-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(state, stream, indent=2, sort_keys=True, default=str)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path
