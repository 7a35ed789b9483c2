"""The page canvas: layers drawn over each other, zoom/pan, tool input (mouse and tablet), drops.

Layers (bottom to top): sketch, result (left of the before/after compare split), flats, hints.
The hint layer QImage wraps the document's numpy buffer directly, so a stroke only needs a
repaint of the dirty rectangle.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (QColor, QDragEnterEvent, QDropEvent, QImage, QKeyEvent, QMouseEvent, QPainter,
                           QPaintEvent, QPen, QTabletEvent, QWheelEvent)
from PySide6.QtWidgets import QWidget

from mangacolor_app.qt.document import Document
from mangacolor_app.qt.tools import Tool, ToolController
from mangacolor_app.qt.view_state import ViewState

__all__ = ["Canvas", "numpy_to_qimage"]

logger = logging.getLogger(__name__)

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


def numpy_to_qimage(arr: np.ndarray) -> QImage:
    """Wrap a C-contiguous (H, W, 3|4) uint8 array in a QImage without copying (keep ``arr`` alive)."""
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(arr.data, w, h, arr.strides[0], fmt)


class Canvas(QWidget):
    """Displays the document and forwards input to the current tool.

    Signals:
        cursor_info(int, int, QColor): page pixel under the cursor and its displayed colour
            (x = -1 when outside the page).
        zoom_changed(float): new zoom factor.
        files_dropped(list): local file paths dropped on the canvas.
    """

    cursor_info = Signal(int, int, QColor)
    zoom_changed = Signal(float)
    files_dropped = Signal(list)

    def __init__(self, doc: Document, tools: ToolController, parent: QWidget | None = None, *,
                 view: ViewState | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.tools = tools
        #: the view state it draws (layer visibility/opacity, compare, ink); repainted on every change
        self.layers = view if view is not None else ViewState(self)
        self.layers.changed.connect(self._on_view_changed)
        self.zoom = 1.0
        self.offset = QPointF(0.0, 0.0)
        self._images: dict[str, tuple[QImage, np.ndarray]] = {}
        self._pan_from: QPointF | None = None
        self._space = False
        self._active: Tool | None = None
        self._tablet_down = False
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 200)
        doc.page_changed.connect(self._on_page)
        doc.hints_changed.connect(self._on_hints)
        doc.result_changed.connect(self._on_result)
        doc.flats_changed.connect(self._on_flats)
        tools.tool_changed.connect(self._update_cursor)

    # ------------------------------------------------------------------ layers

    def _on_view_changed(self, _name: str, _value: object) -> None:
        self.update()

    def _set_image(self, key: str, arr: np.ndarray | None) -> None:
        if arr is None:
            self._images.pop(key, None)
        else:
            arr = np.ascontiguousarray(arr)
            self._images[key] = (numpy_to_qimage(arr), arr)
        self.update()

    def _on_page(self) -> None:
        self._set_image("sketch", self.doc.page_u8)
        self._set_image("hints", self.doc.hints if self.doc.has_page else None)
        self._on_result()
        self._on_flats()
        self.fit()

    def _on_hints(self, rect: QRect) -> None:
        if "hints" not in self._images or self._images["hints"][1] is not self.doc.hints:
            self._set_image("hints", self.doc.hints)
            return
        self.update(self.page_to_widget_rect(QRectF(rect)).toAlignedRect().adjusted(-2, -2, 2, 2))

    def _on_result(self) -> None:
        self._set_image("result", self.doc.result_u8)

    def _on_flats(self) -> None:
        self._set_image("flats", self.doc.flats_u8)

    # ------------------------------------------------------------------ view transform

    def widget_to_page(self, pos: QPointF) -> QPointF:
        """Widget coordinates -> page pixel coordinates."""
        return (pos - self.offset) / self.zoom

    def page_to_widget_rect(self, rect: QRectF) -> QRectF:
        """Page rectangle -> widget rectangle."""
        return QRectF(rect.topLeft() * self.zoom + self.offset, rect.size() * self.zoom)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` keeping the page point under ``anchor`` (widget coords) fixed."""
        zoom = float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        page_pt = self.widget_to_page(anchor)
        self.zoom = zoom
        self.offset = anchor - page_pt * zoom
        self.zoom_changed.emit(zoom)
        self.update()

    def fit(self) -> None:
        """Zoom so that the whole page is visible, centred."""
        h, w = self.doc.size
        if not w or not h:
            return
        self.zoom = float(np.clip(min(self.width() / w, self.height() / h) * 0.96, MIN_ZOOM, MAX_ZOOM))
        self.offset = QPointF((self.width() - w * self.zoom) / 2, (self.height() - h * self.zoom) / 2)
        self.zoom_changed.emit(self.zoom)
        self.update()

    def actual_size(self) -> None:
        """100 %: one page pixel per screen pixel, centred on the view."""
        self.set_zoom(1.0)

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().color(self.backgroundRole()).darker(130))
        if not self.doc.has_page:
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a page (Ctrl+O) or drop an image here")
            return
        h, w = self.doc.size
        target = self.page_to_widget_rect(QRectF(0, 0, w, h))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1.0)
        self._draw(painter, "sketch", target, 1.0)
        split_x = target.left() + target.width() * self.layers.compare
        if self.layers.result_visible and "result" in self._images and self.layers.compare > 0:
            painter.save()
            painter.setClipRect(QRectF(target.left(), target.top(), split_x - target.left(), target.height()))
            self._draw(painter, "result", target, 1.0)
            if self.layers.preserve_ink:
                painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
                self._draw(painter, "sketch", target, 1.0)
            painter.restore()
        if self.layers.flats_visible:
            self._draw(painter, "flats", target, self.layers.flats_opacity)
        if self.layers.hints_visible:
            self._draw(painter, "hints", target, self.layers.hints_opacity)
        if self.layers.result_visible and "result" in self._images and 0.0 < self.layers.compare < 1.0:
            painter.setPen(QPen(QColor(255, 255, 255, 200), 2))
            painter.drawLine(QPointF(split_x, target.top()), QPointF(split_x, target.bottom()))

    def _draw(self, painter: QPainter, key: str, target: QRectF, opacity: float) -> None:
        entry = self._images.get(key)
        if entry is None or opacity <= 0:
            return
        image = entry[0]
        visible = target.intersected(QRectF(self.rect()))
        if visible.isEmpty():
            return
        sx, sy = image.width() / target.width(), image.height() / target.height()
        source = QRectF((visible.left() - target.left()) * sx, (visible.top() - target.top()) * sy,
                        visible.width() * sx, visible.height() * sy)
        painter.setOpacity(opacity)
        painter.drawImage(visible, image, source)
        painter.setOpacity(1.0)

    # ------------------------------------------------------------------ input

    def _tool_for(self, modifiers: Qt.KeyboardModifier) -> Tool:
        if modifiers & Qt.KeyboardModifier.AltModifier:
            return self.tools.tool("eyedropper")
        return self.tools.current

    def _begin(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None:
        self._active = self._tool_for(modifiers)
        self._active.press(self.widget_to_page(pos), pressure)

    def _end(self, pos: QPointF) -> None:
        if self._active is not None:
            tool, self._active = self._active, None
            tool.release(self.widget_to_page(pos))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif event.button() == Qt.MouseButton.LeftButton and not self._tablet_down:
            self._begin(pos, 1.0, event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._pan_from is not None:
            self.offset += pos - self._pan_from
            self._pan_from = pos
            self.update()
        elif self._active is not None and not self._tablet_down:
            self._active.move(self.widget_to_page(pos), 1.0)
        self._report_cursor(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self._update_cursor()
        elif event.button() == Qt.MouseButton.LeftButton and not self._tablet_down:
            self._end(event.position())

    def tabletEvent(self, event: QTabletEvent) -> None:  # noqa: N802
        """Pen input with pressure; accepted so that Qt does not synthesise mouse events."""
        pos, pressure = event.position(), float(event.pressure())
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress and not self._space:
            self._tablet_down = True
            self._begin(pos, pressure, event.modifiers())
        elif kind == QTabletEvent.Type.TabletMove and self._tablet_down and self._active is not None:
            self._active.move(self.widget_to_page(pos), pressure)
        elif kind == QTabletEvent.Type.TabletRelease and self._tablet_down:
            self._tablet_down = False
            self._end(pos)
        else:
            event.ignore()
            return
        self._report_cursor(pos)
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * (1.25 ** steps), event.position())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
        else:
            super().keyReleaseEvent(event)

    def _update_cursor(self, *_: object) -> None:
        self.setCursor(self.tools.current.cursor)

    def _report_cursor(self, pos: QPointF) -> None:
        p = self.widget_to_page(pos)
        h, w = self.doc.size
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= x < w and 0 <= y < h:
            color = self.tools.sample(QPointF(x, y), "result" if self.layers.result_visible else "sketch")
            self.cursor_info.emit(x, y, color or QColor())
        else:
            self.cursor_info.emit(-1, -1, QColor())

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        first = not getattr(self, "_sized", False)
        self._sized = True
        if first:
            self.fit()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)

    def page_point_to_widget(self, x: float, y: float) -> QPoint:
        """Widget position of page pixel centre (x, y) (tests and overlays)."""
        return (QPointF(x + 0.5, y + 0.5) * self.zoom + self.offset).toPoint()
