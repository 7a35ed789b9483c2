"""Palette dock: current colour, stock swatches, recent colours, named project colours, reference image."""

from __future__ import annotations

import copy
import logging

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import (QColorDialog, QDockWidget, QFileDialog, QGridLayout, QHBoxLayout, QInputDialog,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QToolButton, QVBoxLayout, QWidget)

from mangacolor_app.core.color import to_uint8
from mangacolor_app.core.project import NamedColor
from mangacolor_app.qt.canvas import numpy_to_qimage
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.tools import ToolController
from mangacolor_app.qt.workers import Job, start_job

__all__ = ["PaletteDock", "REFERENCE_MAX_SIDE", "STOCK_COLORS", "ReferenceView", "reference_pixels"]

logger = logging.getLogger(__name__)

#: longest side (px) a reference image is kept at
REFERENCE_MAX_SIDE = 2048

#: Stock swatches: skin tones, hair, sky, foliage, cloth basics.
STOCK_COLORS = ("#f6d5c0", "#e8b796", "#c68863", "#8a5a3c", "#2b2b3a", "#f2d16b", "#b33a3a", "#e87a5d",
                "#f7a8b8", "#7fb3e6", "#3d6db5", "#6fbf73", "#2f6b3a", "#9b7fd1", "#d9d9d9", "#6b6b6b")


def swatch_icon(hex_color: str, size: int = 16) -> QIcon:
    """A square icon filled with ``hex_color``."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(hex_color))
    return QIcon(pixmap)


class ReferenceView(QLabel):
    """Shows a reference image; clicking picks its colour (emits ``picked``)."""

    picked = Signal(QColor)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No reference image", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(120)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None

    def set_image(self, rgb_u8: np.ndarray) -> None:
        """Show a (H, W, 3) uint8 image."""
        self._array = np.ascontiguousarray(rgb_u8)
        self._image = numpy_to_qimage(self._array)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is not None:
            scaled = self._image.scaled(self.width(), max(120, self.height()), Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation)
            self.setPixmap(QPixmap.fromImage(scaled))

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        self._rescale()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pixmap = self.pixmap()
        if self._image is None or pixmap is None or pixmap.isNull():
            return
        off = QPoint((self.width() - pixmap.width()) // 2, (self.height() - pixmap.height()) // 2)
        p = event.position().toPoint() - off
        if 0 <= p.x() < pixmap.width() and 0 <= p.y() < pixmap.height():
            x = p.x() * self._image.width() // pixmap.width()
            y = p.y() * self._image.height() // pixmap.height()
            self.picked.emit(self._image.pixelColor(x, y))


class PaletteDock(QDockWidget):
    """Dock for choosing colours; named colours are part of the project (undoable edits)."""

    def __init__(self, doc: Document, tools: ToolController, parent: QWidget | None = None) -> None:
        super().__init__("Palette", parent)
        self.setObjectName("PaletteDock")
        self.doc = doc
        self.tools = tools
        body = QWidget(self)
        layout = QVBoxLayout(body)
        self.current = QPushButton("Colour…")
        self.current.setToolTip("Current hint colour (click to choose)")
        self.current.clicked.connect(self._choose)
        layout.addWidget(self.current)
        layout.addWidget(self._grid(STOCK_COLORS, 8))
        layout.addWidget(QLabel("Recent"))
        self.recent_row = QHBoxLayout()
        recent = QWidget()
        recent.setLayout(self.recent_row)
        layout.addWidget(recent)
        layout.addWidget(QLabel("Project colours"))
        self.named = QListWidget()
        self.named.itemClicked.connect(self._named_clicked)
        self.named.itemDoubleClicked.connect(self._rename_item)
        layout.addWidget(self.named, 1)
        layout.addLayout(self._named_buttons())
        self.reference = ReferenceView()
        self.reference.picked.connect(tools.set_color)
        ref_button = QPushButton("Reference image…")
        ref_button.clicked.connect(self._load_reference)
        layout.addWidget(ref_button)
        layout.addWidget(self.reference)
        self.setWidget(body)
        tools.color_changed.connect(self._show_color)
        doc.palette_changed.connect(self.refresh)
        doc.page_changed.connect(self.refresh)
        self._show_color(tools.color)

    def _grid(self, colors: tuple[str, ...], columns: int) -> QWidget:
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        grid.setSpacing(2)
        for i, hex_color in enumerate(colors):
            grid.addWidget(self._swatch_button(hex_color), i // columns, i % columns)
        return grid_widget

    def _swatch_button(self, hex_color: str) -> QToolButton:
        button = QToolButton()
        button.setIcon(swatch_icon(hex_color, 18))
        button.setToolTip(hex_color)
        button.setAutoRaise(True)
        button.clicked.connect(lambda _=False, c=hex_color: self.tools.set_color(QColor(c)))
        return button

    def _named_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        add = QPushButton("Add current")
        add.setToolTip("Name the current colour for this project (e.g. \"Hero hair\")")
        add.clicked.connect(self._ask_add)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        row.addWidget(add)
        row.addWidget(remove)
        return row

    # ------------------------------------------------------------------ state

    def refresh(self) -> None:
        """Rebuild the recent row and the named list from the project palette."""
        while self.recent_row.count():
            item = self.recent_row.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for hex_color in self.doc.palette.recent[:10]:
            self.recent_row.addWidget(self._swatch_button(hex_color))
        self.recent_row.addStretch(1)
        self.named.clear()
        for color in self.doc.palette.swatches:
            item = QListWidgetItem(swatch_icon(color.hex), f"{color.name}  {color.hex}")
            item.setData(Qt.ItemDataRole.UserRole, color.hex)
            self.named.addItem(item)

    def _show_color(self, color: QColor) -> None:
        self.current.setIcon(swatch_icon(color.name(), 20))
        self.current.setText(f"Colour {color.name()}")

    def _choose(self) -> None:
        color = QColorDialog.getColor(self.tools.color, self, "Hint colour")
        if color.isValid():
            self.tools.set_color(color)

    def _named_clicked(self, item: QListWidgetItem) -> None:
        self.tools.set_color(QColor(item.data(Qt.ItemDataRole.UserRole)))

    # ------------------------------------------------------------------ named colours

    def add_named(self, name: str, hex_color: str) -> None:
        """Add a named project colour (undoable)."""
        palette = copy.deepcopy(self.doc.palette)
        palette.swatches.append(NamedColor(name, hex_color))
        self.doc.edit_palette(palette, f"Add colour {name}")

    def rename_named(self, index: int, name: str) -> None:
        """Rename the named colour at ``index`` (undoable)."""
        palette = copy.deepcopy(self.doc.palette)
        if 0 <= index < len(palette.swatches) and name:
            palette.swatches[index].name = name
            self.doc.edit_palette(palette, f"Rename colour {name}")

    def remove_named(self, index: int) -> None:
        """Remove the named colour at ``index`` (undoable)."""
        palette = copy.deepcopy(self.doc.palette)
        if 0 <= index < len(palette.swatches):
            removed = palette.swatches.pop(index)
            self.doc.edit_palette(palette, f"Remove colour {removed.name}")

    def _ask_add(self) -> None:
        if not self.doc.has_page:
            return
        name, ok = QInputDialog.getText(self, "Project colour", "Name (e.g. Hero hair):")
        if ok and name.strip():
            self.add_named(name.strip(), self.tools.color.name())

    def _rename_item(self, item: QListWidgetItem) -> None:
        index = self.named.row(item)
        old = self.doc.palette.swatches[index].name
        name, ok = QInputDialog.getText(self, "Rename colour", "Name:", text=old)
        if ok and name.strip():
            self.rename_named(index, name.strip())

    def _remove_selected(self) -> None:
        self.remove_named(self.named.currentRow())

    def _load_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference image", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)")
        if path:
            self.load_reference(path)

    def load_reference(self, path: str) -> Job:
        """Decode ``path`` in a worker thread (never on the GUI thread: a reference can be a large
        photo) and show it; an unreadable file gets a message naming it. Returns the started job."""
        from mangacolor_app.qt.dialogs import show_error
        job = Job(lambda _progress, _cancel: reference_pixels(path), name="reference image")
        job.signals.finished.connect(self.reference.set_image)
        job.signals.failed.connect(lambda message: show_error(self, message))
        return start_job(job)


def reference_pixels(path: str, max_side: int = REFERENCE_MAX_SIDE) -> np.ndarray:
    """The reference image at ``path`` as (H, W, 3) uint8 sRGB, area-downscaled so that its longer side
    is at most ``max_side`` (colour picking needs no more; bounds memory for huge photos).

    Raises:
        ImageLoadError: unreadable, unsupported or too large file (the message names it).
    """
    from mangacolor_app.core.imageio import load_image
    from mangacolor_app.core.resize import fit_within

    return fit_within(to_uint8(load_image(path).rgb), max_side)
