"""The submit dialog: what an artist fills in before an action sends work to the farm.

    from dccfutures.ui import dialog
    values = dialog.ask(action)     # a dict, or None when the artist cancelled
    if values:
        ex = Executor(farm=values["farm"], **dialog.job_fields(values))
        ex.map(export_chunk, frames.chunk(values["chunk_size"], values["frames"]))

``action`` is any object with ``id``, ``label``, ``tooltip`` and ``options`` (a dict of option
name -> default), such as a shelf action. Each option gets a widget by the type of its default
(bool: check box, int: spin box, float: double spin box, list/tuple: combo of its items,
anything else: text). An option named like a built-in field (``frames``, ``chunk_size``,
``cpus``, ``groups``, ``priority``, ``name``, ``farm``, ``clone_environ``, ``create_tempfile``)
sets that field's default instead of adding a widget.

In Maya and Houdini the frame range starts as the scene's playback range, and "clone
environment" and "temp copy of the scene" start checked (a farm DCC needs both to see what
the artist sees). The frame range is checked by :mod:`dccfutures.frames` as it is typed: a
bad range shows the parser's error under the field and disables OK. The values of the last
submission are kept per user and per action in ``<user config dir>/dccfutures/dialog.json``
(``$DCCFUTURES_UI_STATE`` names another file), written 0600, and come back the next time
that action's dialog opens.
"""
import logging
import os
import sys
from typing import Any, Dict, List, Mapping, Optional

from .. import config as config_module
from .. import farms as farms_module
from .. import frames as frames_module
from .qt import QtWidgets, application, exec_, main_window
from .state import STATE_VAR, load_state, save_state, state_path

__all__ = ["SubmitDialog", "ask", "job_fields", "state_path", "load_state", "save_state",
           "in_dcc", "scene_frame_range", "FIELDS", "STATE_VAR"]

LOGGER = logging.getLogger("dccfutures")
FIELDS = ("farm", "name", "frames", "chunk_size", "cpus", "groups", "priority",
          "clone_environ", "create_tempfile")
DEFAULT_FRAMES = "1-100"
MAX_INT = 2 ** 31 - 1


# -- remembered values: dccfutures.ui.state (Qt-free, shared with Blender's dialogs) ------

def job_fields(values: Mapping[str, Any]) -> Dict[str, Any]:
    """The Executor job fields among the dialog's values (empty name/groups and 0 cpus are left
    to the farm's defaults): ``Executor(farm=values["farm"], **job_fields(values))``."""
    fields: Dict[str, Any] = {}
    if values.get("name"):
        fields["name"] = values["name"]
    if values.get("cpus"):
        fields["cpus"] = int(values["cpus"])
    if values.get("groups"):
        fields["groups"] = values["groups"]
    if values.get("priority") is not None:
        fields["priority"] = int(values["priority"])
    return fields


def in_dcc() -> bool:
    """Whether this Python runs inside Maya or Houdini (their modules are loaded)."""
    return "maya" in sys.modules or "hou" in sys.modules


def scene_frame_range() -> Optional[str]:
    """The open scene's playback range in Maya or Houdini (``"1001-1100"``), else None. Only a
    DCC already loaded is asked: nothing is imported that the session has not."""
    try:
        if "maya" in sys.modules:
            import maya.cmds as cmds
            first = cmds.playbackOptions(query=True, minTime=True)
            last = cmds.playbackOptions(query=True, maxTime=True)
        elif "hou" in sys.modules:
            frame_range = sys.modules["hou"].playbar.frameRange()  # a hou.Vector2: no slices
            first, last = frame_range[0], frame_range[1]
        else:
            return None
        return frames_module.join(frames_module.split("%d-%d" % (int(first), int(last))))
    except Exception:  # batch Maya, hython without a scene, an odd range: no default
        return None


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() + ":"


def _groups(text: str) -> str:
    return ",".join(part.strip() for part in text.split(",") if part.strip())


# -- the dialog ------------------------------------------------------------------------------

class SubmitDialog(QtWidgets.QDialog):
    """The submit dialog of one action. ``defaults`` (e.g. the scene's frame range) fill the
    fields below the remembered values; ``remember=False`` ignores and keeps no state."""

    def __init__(self, action: Any, parent: Optional[QtWidgets.QWidget] = None,
                 defaults: Optional[Mapping[str, Any]] = None, remember: bool = True,
                 config: Optional[config_module.Config] = None):
        super().__init__(parent)
        self.action = action
        self.action_id = str(getattr(action, "id", "") or "")
        self.remember = remember
        self._config_error = None
        if config is None:
            try:
                config = config_module.load()
            except Exception as error:  # a broken config must not stop the artist; say so
                self._config_error = str(error)
                config = config_module.Config()
        self.config = config
        options = dict(getattr(action, "options", None) or {})
        self.option_defaults = {k: v for k, v in options.items() if k not in FIELDS}

        self.setObjectName("dccfuturesSubmitDialog")
        label = getattr(action, "label", None) or self.action_id or "work"
        self.setWindowTitle("Submit to farm: %s" % label)
        tooltip = getattr(action, "tooltip", None)
        if tooltip:
            self.setToolTip(str(tooltip))
        self._build(label, tooltip)
        self.set_values(self._initial(options, defaults))
        if self.remember and self.action_id:   # over the defaults: a stale value is skipped
            self.set_values(load_state().get(self.action_id, {}))
        self.frames_edit.textChanged.connect(self._validate)
        self.chunk_spin.valueChanged.connect(self._validate)
        self._validate()

    # -- building ----------------------------------------------------------------------

    def _build(self, label: str, tooltip: Optional[str]) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        if tooltip:
            intro = QtWidgets.QLabel(str(tooltip))
            intro.setWordWrap(True)
            layout.addWidget(intro)
        if self._config_error:
            warning = QtWidgets.QLabel("The config could not be read, defaults are used: %s"
                                       % self._config_error)
            warning.setWordWrap(True)
            warning.setStyleSheet("color: #c0392b;")
            layout.addWidget(warning)

        form = QtWidgets.QFormLayout()
        self.farm_combo = QtWidgets.QComboBox()
        self.farm_combo.addItems(sorted(farms_module.FARMS))
        form.addRow("Farm:", self.farm_combo)

        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText(label)
        form.addRow("Job name:", self.name_edit)

        self.frames_edit = QtWidgets.QLineEdit()
        self.frames_edit.setPlaceholderText("e.g. 1-100, 1-100x2, 1,5,10-20")
        self.frames_edit.setToolTip("Qube frame range: N, A-B or A-BxS, comma-separated")
        self.frames_error = QtWidgets.QLabel()
        self.frames_error.setObjectName("framesError")
        self.frames_error.setWordWrap(True)
        frames_box = QtWidgets.QVBoxLayout()
        frames_box.setContentsMargins(0, 0, 0, 0)
        frames_box.setSpacing(2)
        frames_box.addWidget(self.frames_edit)
        frames_box.addWidget(self.frames_error)
        form.addRow("Frame range:", frames_box)

        self.chunk_spin = QtWidgets.QSpinBox()
        self.chunk_spin.setRange(1, 1000000)
        self.chunk_spin.setToolTip("Frames per work item")
        form.addRow("Chunk size:", self.chunk_spin)

        self.cpus_spin = QtWidgets.QSpinBox()
        self.cpus_spin.setRange(0, 100000)
        self.cpus_spin.setSpecialValueText("farm default")
        self.cpus_spin.setToolTip("How many work items may run at once (0: the farm's default)")
        form.addRow("CPUs:", self.cpus_spin)

        self.groups_edit = QtWidgets.QLineEdit()
        self.groups_edit.setPlaceholderText("comma-separated, e.g. farm,gpu")
        form.addRow("Groups:", self.groups_edit)

        self.priority_spin = QtWidgets.QSpinBox()
        self.priority_spin.setRange(0, MAX_INT)
        form.addRow("Priority:", self.priority_spin)

        self.clone_check = QtWidgets.QCheckBox("Clone my environment")
        self.tempfile_check = QtWidgets.QCheckBox("Send a temporary copy of the scene")
        form.addRow("", self.clone_check)
        form.addRow("", self.tempfile_check)
        layout.addLayout(form)

        self.option_widgets: Dict[str, QtWidgets.QWidget] = {}
        if self.option_defaults:
            box = QtWidgets.QGroupBox("Options")
            options_form = QtWidgets.QFormLayout(box)
            for name, default in self.option_defaults.items():
                widget = self._option_widget(name, default)
                self.option_widgets[name] = widget
                options_form.addRow(_label(name), widget)
            layout.addWidget(box)

        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Submit")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def _option_widget(self, name: str, default: Any) -> QtWidgets.QWidget:
        if isinstance(default, bool):
            widget: QtWidgets.QWidget = QtWidgets.QCheckBox()
        elif isinstance(default, int):
            widget = QtWidgets.QSpinBox()
            widget.setRange(-MAX_INT - 1, MAX_INT)
        elif isinstance(default, float):
            widget = QtWidgets.QDoubleSpinBox()
            widget.setRange(-1e12, 1e12)
            widget.setDecimals(3)
        elif isinstance(default, (list, tuple)):
            widget = QtWidgets.QComboBox()
            widget.addItems([str(item) for item in default])
        else:
            widget = QtWidgets.QLineEdit()
        widget.setObjectName("option_" + name)
        return widget

    # -- values ------------------------------------------------------------------------

    def _initial(self, options: Mapping[str, Any],
                 defaults: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        job = self.config.defaults
        values: Dict[str, Any] = {
            "farm": self.config.farm, "name": "",
            "frames": scene_frame_range() or DEFAULT_FRAMES, "chunk_size": 1,
            "cpus": job.get("cpus") or 0, "groups": job.get("groups") or "",
            "priority": job.get("priority", 9999), "clone_environ": in_dcc(),
            "create_tempfile": in_dcc(),
        }
        values.update({k: v for k, v in options.items() if k in FIELDS})
        values.update({k: (v[0] if isinstance(v, (list, tuple)) and v else v)
                       for k, v in self.option_defaults.items()})
        values.update(defaults or {})
        return values

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Fill the fields from ``values`` (unknown keys and values of a wrong type are skipped:
        the remembered file may come from another version of the action)."""
        for key, value in values.items():
            try:
                self._set(key, value)
            except (TypeError, ValueError, OverflowError):
                pass

    def _set(self, key: str, value: Any) -> None:
        if key == "farm":
            index = self.farm_combo.findText(str(value))
            if index >= 0:
                self.farm_combo.setCurrentIndex(index)
        elif key == "name":
            self.name_edit.setText(str(value or ""))
        elif key == "frames":
            self.frames_edit.setText(str(value))
        elif key == "chunk_size":
            self.chunk_spin.setValue(int(value))
        elif key == "cpus":
            self.cpus_spin.setValue(int(value or 0))
        elif key == "groups":
            text = value if isinstance(value, str) else ",".join(str(v) for v in value or ())
            self.groups_edit.setText(text)
        elif key == "priority":
            self.priority_spin.setValue(int(value))
        elif key == "clone_environ":
            self.clone_check.setChecked(bool(value))
        elif key == "create_tempfile":
            self.tempfile_check.setChecked(bool(value))
        elif key in self.option_widgets:
            widget = self.option_widgets[key]
            default = self.option_defaults[key]
            if isinstance(widget, QtWidgets.QCheckBox):
                if not isinstance(value, bool):
                    raise TypeError(value)
                widget.setChecked(value)
            elif isinstance(widget, QtWidgets.QSpinBox):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(value)
                widget.setValue(value)
            elif isinstance(widget, QtWidgets.QDoubleSpinBox):
                widget.setValue(float(value))
            elif isinstance(widget, QtWidgets.QComboBox):
                index = widget.findText(str(value))
                if index >= 0:
                    widget.setCurrentIndex(index)
            else:
                widget.setText("" if value is None and default is None else str(value))

    def values(self) -> Dict[str, Any]:
        """``{farm, name, frames, chunk_size, cpus, groups, priority, clone_environ,
        create_tempfile, **options}`` as the fields show them now."""
        values: Dict[str, Any] = {
            "farm": self.farm_combo.currentText(),
            "name": self.name_edit.text().strip(),
            "frames": self.frames_edit.text().strip(),
            "chunk_size": self.chunk_spin.value(),
            "cpus": self.cpus_spin.value(),
            "groups": _groups(self.groups_edit.text()),
            "priority": self.priority_spin.value(),
            "clone_environ": self.clone_check.isChecked(),
            "create_tempfile": self.tempfile_check.isChecked(),
        }
        for name, widget in self.option_widgets.items():
            if isinstance(widget, QtWidgets.QCheckBox):
                values[name] = widget.isChecked()
            elif isinstance(widget, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
                values[name] = widget.value()
            elif isinstance(widget, QtWidgets.QComboBox):
                values[name] = widget.currentText()
            else:
                values[name] = widget.text()
        return values

    def chunks(self) -> List[str]:
        """The frame chunks the values give (``frames.chunk``); FrameRangeError if invalid."""
        return frames_module.chunk(self.chunk_spin.value(), self.frames_edit.text())

    # -- validation ----------------------------------------------------------------------

    def frames_problem(self) -> Optional[str]:
        """The frame parser's error for the current range, or None when it is valid."""
        try:
            frames_module.split(self.frames_edit.text())
        except (frames_module.FrameRangeError, TypeError) as error:
            return str(error)
        return None

    def is_valid(self) -> bool:
        return self.frames_problem() is None

    def _validate(self, *_: Any) -> None:
        problem = self.frames_problem()
        if problem is None:
            count = frames_module.count(self.frames_edit.text())
            items = -(-count // self.chunk_spin.value())
            self.frames_error.setText("%d frame%s in %d work item%s" % (
                count, "" if count == 1 else "s", items, "" if items == 1 else "s"))
            self.frames_error.setStyleSheet("color: palette(mid);")
            self.frames_edit.setStyleSheet("")
        else:
            self.frames_error.setText(problem)
            self.frames_error.setStyleSheet("color: #e74c3c;")
            self.frames_edit.setStyleSheet("border: 1px solid #e74c3c;")
        self.ok_button.setEnabled(problem is None)
        self._fit()

    def _fit(self) -> None:
        """Grow to show a message that wraps onto more lines (a layout does not by itself)."""
        layout = self.layout()
        layout.activate()
        needed = (layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth()
                  else layout.totalSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def accept(self) -> None:
        if not self.is_valid():   # Enter in a field must not get past a bad range either
            return
        if self.remember and self.action_id:
            try:
                save_state(self.action_id, self.values())
            except OSError as error:   # a read-only home must not lose the submission
                LOGGER.warning("could not remember the dialog values in %s: %s",
                               state_path(), error)
        super().accept()


def ask(action: Any, parent: Optional[QtWidgets.QWidget] = None,
        defaults: Optional[Mapping[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """Show the submit dialog of ``action`` modally; its values, or None when cancelled.

    The dialog is parented to ``parent``, else the DCC's main window; standalone, a
    QApplication is made if there is none.
    """
    application()
    if parent is None:
        parent = main_window()
    dialog = SubmitDialog(action, parent, defaults=defaults)
    try:
        accepted = bool(exec_(dialog))   # QDialog.Accepted is 1, Rejected 0
        return dialog.values() if accepted else None
    finally:
        dialog.deleteLater()
