"""Hint tools (brush, eraser, paper, eyedropper, fill) and the controller holding the current tool state.

Tools receive page coordinates (floats, pixels) and a pen pressure in [0, 1] from the canvas;
painting itself is numpy (:mod:`mangacolor_app.qt.painting`), undo goes through the document.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor

from mangacolor_app.qt.document import Document
from mangacolor_app.qt.painting import BrushParams, Stroke, fill_mask, fill_patch

__all__ = ["Tool", "BrushTool", "EyedropperTool", "FillTool", "ToolController", "TOOL_NAMES", "PICK_SOURCES"]

logger = logging.getLogger(__name__)

TOOL_NAMES = ("brush", "eraser", "paper", "eyedropper", "fill")
PICK_SOURCES = ("result", "hints", "sketch")
MIN_SIZE, MAX_SIZE = 1.0, 500.0


class Tool:
    """Base tool: receives press/move/release in page coordinates."""

    name = "tool"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctl: ToolController) -> None:
        self.ctl = ctl

    @property
    def doc(self) -> Document:
        """The edited document."""
        return self.ctl.doc

    def press(self, pos: QPointF, pressure: float) -> None:
        """Button/pen down at ``pos``."""

    def move(self, pos: QPointF, pressure: float) -> None:
        """Drag to ``pos`` (only between press and release)."""

    def release(self, pos: QPointF) -> None:
        """Button/pen up."""


class BrushTool(Tool):
    """Soft round brush, eraser, or Paper brush (marks areas that must stay blank paper: the
    ``core.hints.PAPER_KEY_RGBA8`` key, hard-edged) on the hint layer; one undo step per stroke."""

    def __init__(self, ctl: ToolController, erase: bool, paper: bool = False) -> None:
        super().__init__(ctl)
        self.erase = erase
        self.paper = paper and not erase
        self.name = "eraser" if erase else ("paper" if self.paper else "brush")
        self._stroke: Stroke | None = None

    def press(self, pos: QPointF, pressure: float) -> None:  # noqa: D102
        if not self.doc.has_page:
            return
        params = replace(self.ctl.params_for(self.name), color=self.ctl.color_rgb(), erase=self.erase,
                         paper=self.paper)
        self._stroke = Stroke(self.doc.hints, params)
        self.doc.notify_hints(self._stroke.line_to(pos.x(), pos.y(), pressure))

    def move(self, pos: QPointF, pressure: float) -> None:  # noqa: D102
        if self._stroke is not None:
            self.doc.notify_hints(self._stroke.line_to(pos.x(), pos.y(), pressure))

    def release(self, pos: QPointF) -> None:  # noqa: D102
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return
        label = "Erase" if self.erase else ("Paper stroke" if self.paper else "Brush stroke")
        self.doc.push_hint_edit(stroke.patches(), label)
        if not self.erase and not self.paper:
            self.doc.push_recent_color(self.ctl.color.name())
        self.ctl.stroke_finished.emit()


class EyedropperTool(Tool):
    """Pick a colour from the result, the hint layer or the sketch (``ToolController.pick_source``)."""

    name = "eyedropper"

    def press(self, pos: QPointF, pressure: float) -> None:  # noqa: D102
        color = self.ctl.sample(pos, self.ctl.pick_source)
        if color is not None:
            self.ctl.set_color(color)

    move = press


class FillTool(Tool):
    """Fill the line-art region under the cursor on the hint layer with the current colour."""

    name = "fill"
    cursor = Qt.CursorShape.PointingHandCursor

    def press(self, pos: QPointF, pressure: float) -> None:  # noqa: D102
        doc = self.doc
        if doc.line_gray is None:
            return
        region = fill_mask(doc.line_gray, int(pos.x()), int(pos.y()))
        if region is None:
            return
        patch = fill_patch(doc.hints, region, self.ctl.color_rgb(), self.ctl.params_for("brush").opacity)
        if patch is not None:
            doc.notify_hints((patch[1], patch[0], patch[1] + patch[2].shape[1], patch[0] + patch[2].shape[0]))
            doc.push_hint_edit([patch], "Fill")
            doc.push_recent_color(self.ctl.color.name())
            self.ctl.stroke_finished.emit()


class ToolController(QObject):
    """Current tool, colour and per-tool brush settings.

    Signals:
        tool_changed(str), color_changed(QColor), params_changed(): for the panels.
        stroke_finished(): an edit of the hint layer was completed (schedule previews).
    """

    tool_changed = Signal(str)
    color_changed = Signal(QColor)
    params_changed = Signal()
    stroke_finished = Signal()

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.color = QColor(230, 80, 80)
        self.pick_source = "result"
        self._params = {"brush": BrushParams(), "eraser": BrushParams(size=40.0, hardness=0.8),
                        "paper": BrushParams(size=40.0, hardness=1.0)}
        self._tools: dict[str, Tool] = {
            "brush": BrushTool(self, erase=False), "eraser": BrushTool(self, erase=True),
            "paper": BrushTool(self, erase=False, paper=True),
            "eyedropper": EyedropperTool(self), "fill": FillTool(self),
        }
        self.current = self._tools["brush"]

    def tool(self, name: str) -> Tool:
        """The tool named ``name`` (one of TOOL_NAMES)."""
        return self._tools[name]

    def set_tool(self, name: str) -> None:
        """Make ``name`` the current tool."""
        if name in self._tools and self.current.name != name:
            self.current = self._tools[name]
            self.tool_changed.emit(name)

    def params_for(self, name: str) -> BrushParams:
        """Brush parameters of the brush, the eraser or the Paper brush (other tools use the brush's)."""
        return self._params.get(name, self._params["brush"])

    def set_param(self, name: str, **values: float) -> None:
        """Update brush/eraser parameters (size, hardness, opacity)."""
        params = self.params_for(name)
        for key, value in values.items():
            setattr(params, key, float(value))
        params.size = float(np.clip(params.size, MIN_SIZE, MAX_SIZE))
        self.params_changed.emit()

    def adjust_size(self, factor: float) -> None:
        """Scale the current brush/eraser size ([ and ] shortcuts)."""
        name = self.current.name if self.current.name in self._params else "brush"
        self.set_param(name, size=max(MIN_SIZE, round(self.params_for(name).size * factor)))

    def set_color(self, color: QColor) -> None:
        """Change the painting colour."""
        if color.isValid() and color.rgb() != self.color.rgb():
            self.color = QColor(color.red(), color.green(), color.blue())
            self.color_changed.emit(self.color)

    def color_rgb(self) -> tuple[int, int, int]:
        """The painting colour as an (r, g, b) uint8 tuple."""
        return self.color.red(), self.color.green(), self.color.blue()

    def sample(self, pos: QPointF, source: str) -> QColor | None:
        """The colour at page position ``pos`` in ``source`` (result, hints or sketch), or None."""
        doc = self.doc
        h, w = doc.size
        x, y = int(pos.x()), int(pos.y())
        if not (0 <= x < w and 0 <= y < h):
            return None
        if source == "result" and doc.result_u8 is not None:
            rh, rw = doc.result_u8.shape[:2]
            px = doc.result_u8[min(rh - 1, y * rh // h), min(rw - 1, x * rw // w)]
        elif source == "hints" and doc.hints[y, x, 3] > 0:
            px = doc.hints[y, x, :3]
        elif source in ("sketch", "result") and doc.page_u8 is not None:
            px = doc.page_u8[y, x]
        else:
            return None
        return QColor(int(px[0]), int(px[1]), int(px[2]))
