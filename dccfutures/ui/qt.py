"""The one module of dccfutures that imports Qt, through qtpy.

Maya ships PySide2 (2023-2024) or PySide6 (2025+), Houdini PySide2 or PySide6 depending on the
build; qtpy picks whichever is there, so the dialogs run unchanged in both and standalone. Every
other UI module does ``from .qt import QtCore, QtGui, QtWidgets``.

Maya and Houdini are imported only when they are already loaded (inside the DCC): importing
``hou`` from a plain Python would start a Houdini session and take a licence.
"""
import sys
from typing import Any, Optional

_HINT = ("the dccfutures dialogs need Qt for Python: install them with "
         "'pip install dccfutures[ui]' (qtpy) and a Qt binding (PySide6, or the PySide2/PySide6 "
         "your DCC ships)")

try:
    import qtpy
    from qtpy import QtCore, QtGui, QtWidgets
except ImportError as error:   # no qtpy at all
    raise ImportError("%s: %s" % (_HINT, error)) from None
except Exception as error:     # qtpy.QtBindingsNotFoundError (a PythonQtError): no binding
    raise ImportError("%s: %s" % (_HINT, error)) from None

Signal = QtCore.Signal
Slot = QtCore.Slot
Qt = QtCore.Qt
API_NAME = getattr(qtpy, "API_NAME", "?")

__all__ = ["QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "Qt", "API_NAME", "application",
           "exec_", "main_window", "pointer_of"]

_app = None  # the QApplication made by application(), kept alive for the whole process


def application() -> "QtWidgets.QApplication":
    """The running QApplication, or a new one for standalone use (``dccfutures monitor``)."""
    global _app
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = _app = QtWidgets.QApplication(sys.argv[:1] or ["dccfutures"])
        app.setApplicationName("dccfutures")
    return app


def exec_(obj: Any) -> int:
    """``obj.exec()`` (Qt 6 bindings) or ``obj.exec_()`` (PySide2)."""
    method = getattr(obj, "exec", None) or getattr(obj, "exec_")
    return method()


def pointer_of(widget: Any) -> Optional[int]:
    """The C++ address of a Qt object, or None if the binding cannot tell."""
    try:
        from qtpy import shiboken
        return int(shiboken.getCppPointer(widget)[0])
    except Exception:
        pass
    try:
        from qtpy import sip
        return int(sip.unwrapinstance(widget))
    except Exception:
        return None


def _widget_at(address: Any) -> Optional["QtWidgets.QWidget"]:
    """The live top-level widget at ``address`` (an int-convertible pointer), else None.

    This is what ``shiboken.wrapInstance(address, QWidget)`` gives for a real main window, but
    it never wraps an address that is not a widget of this application, which would crash.
    """
    try:
        wanted = int(address)
    except (TypeError, ValueError):
        return None
    if not wanted or QtWidgets.QApplication.instance() is None:
        return None
    for widget in QtWidgets.QApplication.topLevelWidgets():
        if pointer_of(widget) == wanted:
            return widget
    return None


def _maya_main_window() -> Optional["QtWidgets.QWidget"]:
    if "maya" not in sys.modules:
        return None
    try:
        from maya import OpenMayaUI
        address = OpenMayaUI.MQtUtil.mainWindow()
    except Exception:  # mayapy, maya -batch, or a Maya without UI
        return None
    return None if address is None else _widget_at(address)


def _houdini_main_window() -> Optional["QtWidgets.QWidget"]:
    hou = sys.modules.get("hou")
    if hou is None:
        return None
    try:
        return hou.qt.mainWindow()
    except Exception:  # hython: no UI
        return None


def main_window() -> Optional["QtWidgets.QWidget"]:
    """The DCC's main window, to parent dialogs to: Maya's (``MQtUtil.mainWindow()``),
    Houdini's (``hou.qt.mainWindow()``), else None (standalone, batch, mayapy, hython)."""
    return _maya_main_window() or _houdini_main_window()
