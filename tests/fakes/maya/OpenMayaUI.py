"""Fake ``maya.OpenMayaUI``: ``MQtUtil.mainWindow()`` only."""
from maya._state import STATE

_HANDLE = 0x7F0000001000


class MQtUtil(object):
    @staticmethod
    def mainWindow():  # noqa: N802 - Maya's name
        """An int-convertible pointer to the main window in interactive Maya; None in batch
        and mayapy. There is no Qt behind it: wrapping it with shiboken is not supported."""
        return _HANDLE if STATE.mode == "interactive" else None
