"""Side panels: tool options, layers (visibility, opacity, compare), colorize (model, device, modes)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFormLayout, QLabel, QPushButton, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from mangacolor_app.qt.canvas import Canvas
from mangacolor_app.qt.render import RenderController
from mangacolor_app.qt.tools import PICK_SOURCES, ToolController
from mangacolor_app.qt.view_state import ViewState

__all__ = ["ToolOptionsDock", "LayersDock", "ColorizeDock", "percent_slider"]

logger = logging.getLogger(__name__)


def percent_slider(value: float, on_change: Callable[[float], None], maximum: int = 100) -> QSlider:
    """A horizontal slider showing ``value`` (0..1 scaled to 0..maximum) and reporting floats."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, maximum)
    slider.setValue(int(round(value * maximum)))
    slider.valueChanged.connect(lambda v: on_change(v / maximum))
    return slider


class ToolOptionsDock(QDockWidget):
    """Brush/eraser size, hardness, opacity; eyedropper source."""

    def __init__(self, tools: ToolController, parent: QWidget | None = None) -> None:
        super().__init__("Tool options", parent)
        self.setObjectName("ToolOptionsDock")
        self.tools = tools
        body = QWidget()
        form = QFormLayout(body)
        self.size = QSlider(Qt.Orientation.Horizontal)
        self.size.setRange(1, 500)
        self.size.valueChanged.connect(lambda v: self._set(size=v))
        self.hardness = percent_slider(0.6, lambda v: self._set(hardness=v))
        self.opacity = percent_slider(1.0, lambda v: self._set(opacity=v))
        self.source = QComboBox()
        self.source.addItems([s.capitalize() for s in PICK_SOURCES])
        self.source.currentIndexChanged.connect(lambda i: setattr(tools, "pick_source", PICK_SOURCES[i]))
        self.size_box = QSpinBox()
        self.size_box.setRange(1, 500)
        self.size_box.setSuffix(" px")
        self.size_box.valueChanged.connect(lambda v: self._set(size=v))
        self.tool_label = QLabel()
        form.addRow(self.tool_label)
        form.addRow("Size", self.size)
        form.addRow("", self.size_box)
        form.addRow("Hardness", self.hardness)
        form.addRow("Opacity", self.opacity)
        form.addRow("Pick from", self.source)
        self.setWidget(body)
        tools.tool_changed.connect(self.sync)
        tools.params_changed.connect(self.sync)
        self.sync()

    def _name(self) -> str:
        name = self.tools.current.name
        return name if name in ("eraser", "paper") else "brush"

    def _set(self, **values: float) -> None:
        self.tools.set_param(self._name(), **values)

    def sync(self, *_: object) -> None:
        """Show the current tool's parameters."""
        params = self.tools.params_for(self._name())
        for widget, value in ((self.size, params.size), (self.size_box, params.size), (self.hardness, params.hardness * 100),
                              (self.opacity, params.opacity * 100)):
            widget.blockSignals(True)
            widget.setValue(int(round(value)))
            widget.blockSignals(False)
        self.tool_label.setText(f"<b>{self.tools.current.name.capitalize()}</b>")


class LayersDock(QDockWidget):
    """Layer toggles and opacities, and the before/after compare split: views of the canvas's
    :class:`~mangacolor_app.qt.view_state.ViewState` (they write the model and show its changes)."""

    def __init__(self, canvas: Canvas, render: RenderController, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self.setObjectName("LayersDock")
        self.canvas = canvas
        self.render = render
        self.view = view = canvas.layers
        body = QWidget()
        form = QFormLayout(body)
        self.hints = self._check("Hints", view.hints_visible, lambda on: view.set("hints_visible", on))
        self.hints_opacity = percent_slider(view.hints_opacity, lambda v: view.set("hints_opacity", v))
        form.addRow(self.hints, self.hints_opacity)
        self.flats = self._check("Flats", view.flats_visible, lambda on: view.set("flats_visible", on))
        self.flats_opacity = percent_slider(view.flats_opacity, lambda v: view.set("flats_opacity", v))
        form.addRow(self.flats, self.flats_opacity)
        self.result = self._check("Result", view.result_visible, lambda on: view.set("result_visible", on))
        form.addRow(self.result, QLabel("(colorization)"))
        self.ink = self._check("Ink over result", view.preserve_ink, lambda on: view.set("preserve_ink", on))
        form.addRow(self.ink)
        self.compare = percent_slider(view.compare, lambda v: view.set("compare", v), maximum=1000)
        self.compare.setToolTip("Before/after: the result is shown left of the split, the sketch right of it")
        form.addRow("After | before", self.compare)
        self.setWidget(body)
        self._widgets: dict[str, tuple[QCheckBox | QSlider, int]] = {
            "hints_visible": (self.hints, 0), "hints_opacity": (self.hints_opacity, 100),
            "flats_visible": (self.flats, 0), "flats_opacity": (self.flats_opacity, 100),
            "result_visible": (self.result, 0), "preserve_ink": (self.ink, 0), "compare": (self.compare, 1000),
        }  # fmt: skip
        view.changed.connect(self._show)

    def sync(self) -> None:
        """Show every field of the view state (the widgets also follow each change as it happens)."""
        for name in self._widgets:
            self._show(name, self.view.get(name))

    def _show(self, name: str, value: object) -> None:
        """Show a changed field in its widget without writing it back."""
        if name not in self._widgets:
            return
        widget, scale = self._widgets[name]
        widget.blockSignals(True)
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setValue(int(round(float(value) * scale)))  # type: ignore[arg-type]
        widget.blockSignals(False)

    @staticmethod
    def _check(text: str, on: bool, slot: Callable[[bool], None]) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(on)
        box.toggled.connect(slot)
        return box


class ColorizeDock(QDockWidget):
    """Model picker (with descriptions), device in use, preview and flats-only modes, render button."""

    def __init__(self, render: RenderController, on_render: Callable[[], None], parent: QWidget | None = None,
                 *, view: ViewState | None = None) -> None:
        super().__init__("Colorize", parent)
        self.setObjectName("ColorizeDock")
        self.render = render
        self.view = view if view is not None else ViewState(self)
        body = QWidget()
        layout = QVBoxLayout(body)
        self.model = QComboBox()
        self.model.currentIndexChanged.connect(self._model_chosen)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.device = QLabel(render.device_text)
        self.device.setWordWrap(True)
        self.live = LayersDock._check("Live preview", render.live_preview, self._live)
        self.flats_only = LayersDock._check("Flats only (no model)", self.view.flats_only,
                                            lambda on: self.view.set("flats_only", on))
        self.view.flats_mode_changed.connect(self._show_flats_mode)
        self.auto = LayersDock._check("Auto colour (hints steer it)", render.auto_color, render.set_auto)
        self.auto.setToolTip("The model colours the whole page, hinted or not (Ctrl+Shift+A).\n"
                             "Off: only what your hints reach is coloured.")
        render.auto_changed.connect(self.auto.setChecked)
        self.button = QPushButton("Colorize full resolution  (Ctrl+Enter)")
        self.button.clicked.connect(on_render)
        for widget in (QLabel("Model"), self.model, self.description, self.device, self.live, self.auto,
                       self.flats_only, self.button):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setWidget(body)
        render.models_changed.connect(self.sync_models)
        render.device_changed.connect(self.device.setText)
        render.device_changed.connect(lambda _text: self.device.setToolTip(render.device_tooltip))
        self.sync_models()

    def sync_models(self) -> None:
        """Fill the picker from the registry list (name, source; description as tooltip)."""
        self.model.blockSignals(True)
        self.model.clear()
        for info in self.render.models:
            self.model.addItem(f"{info.name}  [{info.source}]", info.name)
            self.model.setItemData(self.model.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        if not self.render.models:
            self.model.addItem("(no model installed: flats only)", None)
        index = max(0, self.model.findData(self.render.model_name))
        self.model.setCurrentIndex(index)
        self.model.blockSignals(False)
        self._show_description()

    def _model_chosen(self, index: int) -> None:
        self.render.set_model(self.model.itemData(index))
        self._show_description()

    def _show_description(self) -> None:
        info = next((m for m in self.render.models if m.name == self.model.currentData()), None)
        self.description.setText(info.description if info else "Install a model or use flats-only mode.")

    def _live(self, on: bool) -> None:
        self.render.live_preview = on
        self.render.schedule()

    def _show_flats_mode(self, on: bool) -> None:
        self.flats_only.blockSignals(True)
        self.flats_only.setChecked(on)
        self.flats_only.blockSignals(False)
