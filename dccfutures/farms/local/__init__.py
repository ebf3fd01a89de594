"""The embedded local farm: one machine, nothing to install."""
from .farm import LocalFarm

__all__ = ["LocalFarm"]
