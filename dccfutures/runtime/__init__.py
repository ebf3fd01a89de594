"""The farm side: bootstrap an interpreter once, then run work items in a loop.

This is Qube's back-end protocol (``jobobj`` / ``requestwork`` / ``reportwork``) reduced to
what every farm shares: a :class:`WorkSource` hands out items and takes reports, a bootstrap
prepares the interpreter (nothing for plain Python; open the scene for a DCC), and
:func:`serve` runs the loop. The local farm's worker and the Qube jobtypes are thin adapters
around it, so an item runs the same way on both.
"""
from .context import current_item, report_progress
from .loop import Item, WorkSource, exit_process, run_item, serve

__all__ = ["Item", "WorkSource", "current_item", "exit_process", "report_progress", "run_item",
           "serve"]
