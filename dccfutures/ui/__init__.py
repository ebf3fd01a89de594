"""Qt dialogs for artists: the submit dialog and the farm monitor.

    from dccfutures.ui import dialog, monitor
    values = dialog.ask(action)          # None when cancelled
    monitor.show()                       # or dock_in_maya() / show_in_houdini()

Qt comes through qtpy (``pip install dccfutures[ui]``) and whichever binding the DCC ships;
importing this package does not import Qt, its modules do (``dccfutures.ui.qt``).
"""
