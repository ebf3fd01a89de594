"""Shared helpers of the Qt tests (tests/test_ui_*.py), and the functions they run on the farm.

This module imports no Qt at import time: farm workers import it to run the functions below.
"""
import os
import sys
import time

# As tests/conftest.py has it (not imported from there: farm workers import this module).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOTS = os.path.join(ROOT, ".test-artifacts", "screenshots")


class Action:
    """An action as the shelves give it: id, label, tooltip and options (name -> default)."""

    def __init__(self, id, label="Test action", tooltip="", options=None):
        self.id = id
        self.label = label
        self.tooltip = tooltip
        self.options = dict(options or {})


# -- on the farm -------------------------------------------------------------------------------

def scaled_frames(chunk, scale=1):
    """A work item of the dialog's submission: the frames of one chunk, times ``scale``."""
    from dccfutures import frames
    return [frame * scale for frame in frames.split(chunk)]


def chatty_then_wait(flag, lines=3, timeout=60):
    """Print some lines, report half way, then wait for ``flag`` to exist."""
    import dccfutures
    for index in range(lines):
        print("rendering frame %d" % (index + 1))
    print("to stderr too", file=sys.stderr)
    sys.stdout.flush()
    dccfutures.report_progress(0.5, "half way")
    deadline = time.time() + timeout
    while not os.path.exists(flag):
        if time.time() > deadline:
            raise TimeoutError(flag)
        time.sleep(0.01)
    print("done")
    return "done"


def item_index():
    from dccfutures.runtime.context import current_item
    item = current_item()
    return None if item is None else item.work_id


# -- in the test process -----------------------------------------------------------------------

def _dcc_modules():
    return [name for name in sys.modules if name in ("maya", "hou", "hou_fake", "hdefereval")
            or name.startswith(("maya.", "hou."))]


def without_dcc(monkeypatch):
    """A fixture (``no_dcc = pytest.fixture(without_dcc, name="no_dcc")`` in a test module:
    workers import this module, so it does not import pytest): take maya and hou (and their
    fakes' helpers) out of sys.modules for the test, and whatever the test imported of them
    after it; what was there before comes back. The fakes start in their UI modes."""
    monkeypatch.delenv("DCCFUTURES_FAKE_MAYA_MODE", raising=False)
    monkeypatch.delenv("DCCFUTURES_FAKE_HOU_MODE", raising=False)
    for name in _dcc_modules():
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in _dcc_modules():
        sys.modules.pop(name, None)


def screenshot(widget, name):
    """Save ``widget`` as ``.test-artifacts/screenshots/<name>`` and check it is not blank."""
    from qtpy import QtWidgets
    os.makedirs(SCREENSHOTS, exist_ok=True)
    QtWidgets.QApplication.processEvents()
    path = os.path.join(SCREENSHOTS, name)
    assert widget.grab().save(path), "could not save %s" % path
    assert_not_blank(path)
    return path


def distinct_colours(path, step=2):
    from qtpy import QtGui
    image = QtGui.QImage(path)
    assert not image.isNull(), "%s is not an image" % path
    return {image.pixel(x, y) for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)}


def assert_not_blank(path, minimum=16):
    colours = distinct_colours(path)
    assert len(colours) >= minimum, "%s looks blank: %d distinct colours" % (path, len(colours))
