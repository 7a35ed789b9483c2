"""Message boxes and the export dialog.

Every user-facing failure goes through :func:`show_error` (the MangaColorError text, never a
traceback; the traceback is logged at debug level by whoever caught it). Questions go through
:func:`ask` so that tests can answer them by monkeypatching.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QMessageBox, QPushButton, QWidget)

__all__ = ["show_error", "ask", "ExportDialog", "ExportChoice", "EXPORT_FORMATS", "SAVE", "DISCARD", "CANCEL"]

logger = logging.getLogger(__name__)

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"

#: (label, format key for core.export, suffix, bit depth)
EXPORT_FORMATS: tuple[tuple[str, str, str, int], ...] = (
    ("PNG 8-bit", "png", ".png", 8),
    ("PNG 16-bit", "png", ".png", 16),
    ("TIFF 16-bit", "tiff", ".tif", 16),
    ("JPEG", "jpeg", ".jpg", 8),
    ("WebP", "webp", ".webp", 8),
    ("PSD (layers)", "psd", ".psd", 8),
)


def show_error(parent: QWidget | None, message: str, title: str = "MangaColor") -> QMessageBox:
    """Show ``message`` in a warning box without blocking the event loop; return the box."""
    logger.warning("error shown to the user: %s", message)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("errorBox")
    if parent is not None and hasattr(parent, "window") and hasattr(parent.window(), "errors"):
        parent.window().errors.append(message)
    box.open()
    return box


def ask(parent: QWidget | None, title: str, text: str, choices: tuple[str, ...] = ("yes", "no")) -> str:
    """Ask a modal question; return one of ``choices`` ("yes"/"no" or SAVE/DISCARD/CANCEL)."""
    buttons = {
        "yes": QMessageBox.StandardButton.Yes, "no": QMessageBox.StandardButton.No,
        SAVE: QMessageBox.StandardButton.Save, DISCARD: QMessageBox.StandardButton.Discard,
        CANCEL: QMessageBox.StandardButton.Cancel,
    }
    flags = QMessageBox.StandardButton.NoButton
    for choice in choices:
        flags |= buttons[choice]
    answer = QMessageBox.question(parent, title, text, flags, buttons[choices[0]])
    for choice in choices:
        if answer == buttons[choice]:
            return choice
    return choices[-1]


@dataclass
class ExportChoice:
    """What the export dialog returns."""

    path: Path
    format: str
    bit_depth: int
    preserve_ink: bool
    include_hints: bool


class ExportDialog(QDialog):
    """Choose the export file, format, bit depth and whether the ink is preserved."""

    def __init__(self, parent: QWidget | None, suggested: Path, preserve_ink: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export page")
        form = QFormLayout(self)
        self.format = QComboBox()
        for label, *_ in EXPORT_FORMATS:
            self.format.addItem(label)
        self.format.currentIndexChanged.connect(self._fix_suffix)
        self.path = QLineEdit(str(suggested.with_suffix(".png")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.ink = QCheckBox("Preserve ink (multiply the line art over the colour)")
        self.ink.setChecked(preserve_ink)
        self.hints = QCheckBox("Include the hint layer (PSD)")
        form.addRow("Format", self.format)
        form.addRow("File", row)
        form.addRow(self.ink)
        form.addRow(self.hints)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _fix_suffix(self, index: int) -> None:
        suffix = EXPORT_FORMATS[index][2]
        self.path.setText(str(Path(self.path.text()).with_suffix(suffix)))
        self.hints.setEnabled(EXPORT_FORMATS[index][1] == "psd")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text())
        if path:
            self.path.setText(path)

    def choice(self) -> ExportChoice:
        """The chosen options (valid after the dialog was accepted)."""
        _, fmt, _, depth = EXPORT_FORMATS[self.format.currentIndex()]
        return ExportChoice(Path(self.path.text()).expanduser(), fmt, depth, self.ink.isChecked(),
                            self.hints.isChecked())
