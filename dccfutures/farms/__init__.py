"""Farm registry: a farm name resolves to one shared instance (and poller) per process."""
import importlib
import threading
from typing import TYPE_CHECKING, Dict, Optional, Tuple

from .base import Farm

if TYPE_CHECKING:  # the config (and YAML) load only when a farm is made
    from ..config import Config

FARMS = {
    "local": "dccfutures.farms.local:LocalFarm",
    "qube": "dccfutures.farms.qube:QubeFarm",
    "opencue": "dccfutures.farms.opencue:OpenCueFarm",
    "deadline": "dccfutures.farms.deadline:DeadlineFarm",
    "openjd": "dccfutures.farms.openjd.farm:OpenJDFarm",
}

_instances: Dict[Tuple[str, str], Farm] = {}
_pollers: Dict[int, object] = {}
_lock = threading.Lock()


def get_farm(name: str, config: "Config") -> Farm:
    """The process-wide instance of farm ``name``."""
    if isinstance(name, Farm):
        return name
    if name not in FARMS:
        raise ValueError("unknown farm %r (expected one of: %s)" % (name, ", ".join(sorted(FARMS))))
    from .local.home import default_home
    key = (name, default_home() if name in ("local", "openjd") else "")
    with _lock:
        farm = _instances.get(key)
        if farm is None:
            module_name, _, class_name = FARMS[name].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            farm = _instances[key] = cls(config)
        return farm


def poller_for(farm: Farm):
    """The one poller thread of ``farm`` in this process."""
    from ..poller import Poller
    with _lock:
        poller = _pollers.get(id(farm))
        if poller is None:
            poller = _pollers[id(farm)] = Poller(farm)
        return poller


def forget(farm: Optional[Farm] = None) -> None:
    """Drop cached farm instances (tests switch farm homes)."""
    with _lock:
        for key, instance in list(_instances.items()):
            if farm is None or instance is farm:
                poller = _pollers.pop(id(instance), None)
                if poller is not None:
                    poller.stop()
                instance.close()
                del _instances[key]
