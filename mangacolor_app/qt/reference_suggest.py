"""Editor: "Colour from reference pages…": suggested hints from coloured pages, shown with confidence.

:class:`ReferenceSuggester` asks for reference pages (``.mcproj`` projects or colour images; in a
chapter the pages coloured before are offered), then loads them and matches the open page in a
worker (:func:`mangacolor_app.core.matching.suggest_hints`; never on the GUI thread). The
:class:`SuggestionDialog` shows the page with the suggested colours, or the confidence of every
region, and a tree of the suggested colours and their regions with check boxes: the artist accepts
all, accepts the checked colours/regions, or discards. Accepted regions become ordinary hints
through the undo stack (one "Colour from references" step); regions holding the artist's own
hints are left unchecked so that nothing already painted is overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from mangacolor_app.core.matching import Suggestion
from mangacolor_app.qt import dialogs
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.workers import Job, start_job

__all__ = ["ReferenceSuggester", "SuggestionDialog", "PreparedSuggestion", "prepare_suggestion", "REFERENCE_FILTER"]

logger = logging.getLogger(__name__)

REFERENCE_FILTER = "Coloured pages and projects (*.mcproj *.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)"
#: Longest side of the dialog's preview images.
PREVIEW_SIDE = 720


@dataclass
class PreparedSuggestion:
    """A suggestion and what the dialog shows of it (all computed in the worker).

    Attributes:
        suggestion: the matcher's :class:`Suggestion`.
        own_touched: (n+1,) bool, regions holding the artist's hints (unchecked by default).
        colours_preview, confidence_preview: (h, w, 3) uint8 small images of the page.
    """

    suggestion: Suggestion
    own_touched: np.ndarray
    colours_preview: np.ndarray
    confidence_preview: np.ndarray


def prepare_suggestion(page_u8: np.ndarray, line: np.ndarray, hints_u8: np.ndarray, references: Sequence[Path],
                       dpi: tuple[float, float] | None, min_confidence: float = 0.5) -> PreparedSuggestion:
    """Worker body: load the references, match the page, draw the previews.

    Raises:
        ReferenceError, ImageLoadError, ProjectError: a reference cannot be used (names the file).
    """
    from mangacolor_app.core.matching import suggest_hints
    from mangacolor_app.core.reference import load_reference

    refs = [load_reference(p) for p in references]
    sug = suggest_hints(line, refs, dpi=dpi[0] if dpi else None, min_confidence=min_confidence)
    h, w = line.shape
    f = min(1.0, PREVIEW_SIDE / max(h, w))
    size = (max(1, int(w * f)), max(1, int(h * f)))
    small_page = cv2.resize(page_u8, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    labels = cv2.resize(sug.regions.owner, size, interpolation=cv2.INTER_NEAREST)
    on = sug.assigned[labels][..., None]
    colours = np.where(on, small_page * sug.region_colour[labels], small_page)
    conf = sug.region_conf[labels]
    heat = cv2.applyColorMap(np.round(conf * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    confidence = np.where(on, 0.45 * small_page + 0.55 * heat.astype(np.float32) / 255, small_page)
    touched = sug.touched(hints_u8[..., 3] > 0)
    return PreparedSuggestion(sug, touched, np.round(colours * 255).astype(np.uint8),
                              np.round(confidence * 255).astype(np.uint8))


def _group_name(key: tuple[int, int, int] | str) -> str:
    """A colour group's label: ``#rrggbb``, or the Paper key's."""
    return "Paper (keep blank)" if key == "paper" else QColor(*key).name()


def _pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class SuggestionDialog(QDialog):
    """Shows a :class:`PreparedSuggestion`; ``accepted_regions()`` are the checked region ids."""

    def __init__(self, prepared: PreparedSuggestion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Colour from reference pages")
        self.prepared = prepared
        sug = prepared.suggestion
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.show_confidence = QCheckBox("Show confidence (dark: unsure, yellow: sure; plain: left for you)")
        self.show_confidence.toggled.connect(self._update_preview)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Colour / region", "Pixels", "Confidence"])
        self.groups: dict[tuple[int, int, int] | str, QTreeWidgetItem] = {}
        self.region_items: dict[int, QTreeWidgetItem] = {}
        self._fill_tree(sug)
        self.summary = QLabel(self._summary_text())
        buttons = QHBoxLayout()
        self.accept_all_button = QPushButton("Accept all")
        self.accept_checked_button = QPushButton("Accept checked")
        self.discard_button = QPushButton("Discard")
        for b in (self.accept_all_button, self.accept_checked_button, self.discard_button):
            buttons.addWidget(b)
        self.accept_all_button.clicked.connect(self.accept_all)
        self.accept_checked_button.clicked.connect(self.accept)
        self.discard_button.clicked.connect(self.reject)
        right = QVBoxLayout()
        right.addWidget(self.summary)
        right.addWidget(self.tree, 1)
        right.addLayout(buttons)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addWidget(self.show_confidence)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)
        self._update_preview()

    def _fill_tree(self, sug: Suggestion) -> None:
        ids = np.flatnonzero(sug.assigned)
        rgb8 = np.round(sug.region_colour * 255).astype(int)
        paper = sug.paper if sug.paper is not None else np.zeros(len(rgb8), bool)
        for r in ids[np.argsort(-sug.regions.area[ids])]:
            key: tuple[int, int, int] | str = "paper" if paper[r] else (int(rgb8[r][0]), int(rgb8[r][1]), int(rgb8[r][2]))
            group = self.groups.get(key)
            if group is None:
                group = QTreeWidgetItem(self.tree, [_group_name(key)])
                swatch = QPixmap(14, 14)
                swatch.fill(QColor(255, 255, 255) if key == "paper" else QColor(*key))
                group.setIcon(0, QIcon(swatch))
                group.setFlags(group.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
                self.groups[key] = group
            item = QTreeWidgetItem(group, [f"region {r}", f"{int(sug.regions.area[r])}",
                                           f"{sug.region_conf[r] * 100:.0f} %"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = not self.prepared.own_touched[r]
            item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            item.setData(0, Qt.ItemDataRole.UserRole, int(r))
            self.region_items[int(r)] = item
        for key, group in self.groups.items():
            ids = [int(group.child(i).data(0, Qt.ItemDataRole.UserRole)) for i in range(group.childCount())]
            group.setText(1, str(int(sug.regions.area[ids].sum())))
            group.setText(2, f"{float(np.average(sug.region_conf[ids], weights=sug.regions.area[ids])) * 100:.0f} %")
            count = group.childCount()
            group.setText(0, f"{_group_name(key)}  ({count} region{'s' if count != 1 else ''})")
        for column in range(3):
            self.tree.resizeColumnToContents(column)

    def _summary_text(self) -> str:
        sug = self.prepared.suggestion
        n, k = sug.regions.n, int(sug.assigned.sum())
        return (f"{k} of {n} regions have a suggested colour ({len(self.groups)} colours); "
                f"{n - k} are left for you.")

    def _update_preview(self) -> None:
        image = self.prepared.confidence_preview if self.show_confidence.isChecked() else self.prepared.colours_preview
        self.preview.setPixmap(_pixmap(image))

    def set_region_checked(self, region: int, checked: bool) -> None:
        """Check or uncheck one region (as a click on its box would)."""
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        self.region_items[region].setCheckState(0, state)

    def accepted_regions(self) -> list[int]:
        """The checked region ids."""
        return [r for r, item in self.region_items.items() if item.checkState(0) == Qt.CheckState.Checked]

    def accept_all(self) -> None:
        """Check every suggested region (also those holding the artist's hints) and accept."""
        for item in self.region_items.values():
            item.setCheckState(0, Qt.CheckState.Checked)
        self.accept()


def hint_patches(hints_u8: np.ndarray, layer: np.ndarray) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Undo patches writing the suggested ``layer`` ((H, W, 4) float32) over ``hints_u8`` where it has
    alpha: one ``(y, x, before, after)`` rectangle around the changed pixels (none if nothing changes)."""
    mask = layer[..., 3] > 0
    if not mask.any():
        return []
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    before = hints_u8[y0:y1, x0:x1].copy()
    new = np.round(np.clip(layer[y0:y1, x0:x1], 0, 1) * 255).astype(np.uint8)
    after = np.where(mask[y0:y1, x0:x1, None], new, before)
    return [(y0, x0, before, after)]


class ReferenceSuggester(QObject):
    """Runs "Colour from reference pages…" for the window's document.

    Signals:
        error(str): a reference could not be used (the message names the file).
        ready(object): a :class:`SuggestionDialog` is shown (tests answer it).
        applied(int): this many regions became hints.
    """

    error = Signal(str)
    ready = Signal(object)
    applied = Signal(int)

    def __init__(self, doc: Document, parent: QWidget) -> None:
        super().__init__(parent)
        self.doc = doc
        self.widget = parent
        self.job: Job | None = None
        self.dialog: SuggestionDialog | None = None
        self.min_confidence = 0.5

    def ask(self, offered: Sequence[Path] = (), folder: str = "") -> None:
        """Ask for reference files; ``offered`` (a chapter's pages hinted or coloured before this one)
        are proposed first, and the artist may choose other files instead."""
        if not self.doc.has_page:
            self.error.emit("open a page first")
            return
        paths = list(offered)
        if paths:
            names = ", ".join(p.stem for p in paths[:4]) + ("…" if len(paths) > 4 else "")
            question = (f"Use the {len(paths)} chapter page(s) coloured before this one as references ({names})?"
                        " Choose No to pick other files.")
            if dialogs.ask(self.widget, "Colour from reference pages", question) != "yes":
                paths = []
        if not paths:
            chosen, _ = QFileDialog.getOpenFileNames(self.widget, "Reference pages", folder, REFERENCE_FILTER)
            paths = [Path(p) for p in chosen]
        if paths:
            self.suggest(paths)

    def suggest(self, references: Sequence[Path]) -> Job | None:
        """Match the open page against ``references`` in a worker, then show the dialog."""
        if not self.doc.has_page or self.doc.line_gray is None or self.doc.page_u8 is None:
            return None
        assert self.doc.project is not None
        args = (self.doc.page_u8, self.doc.line_gray, self.doc.hints.copy(), list(references),
                self.doc.project.dpi, self.min_confidence)
        job = Job(lambda _p, _c: prepare_suggestion(*args), name="colour from references")
        job.signals.finished.connect(self._show)
        job.signals.failed.connect(self.error.emit)
        self.job = start_job(job)
        return job

    def _show(self, prepared: PreparedSuggestion) -> None:
        dialog = SuggestionDialog(prepared, self.widget)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply(prepared, dialog.accepted_regions()))
        self.dialog = dialog
        dialog.open()
        self.ready.emit(dialog)

    def apply(self, prepared: PreparedSuggestion, regions: Sequence[int]) -> None:
        """Write the chosen regions' suggested colours into the hint layer (one undo step)."""
        if not self.doc.has_page or not regions:
            return
        layer = prepared.suggestion.accepted(np.asarray(list(regions), np.int64))
        if layer.shape[:2] != self.doc.size:
            self.error.emit("the page changed since the suggestion was made; ask again")
            return
        patches = hint_patches(self.doc.hints, layer)
        self.doc.write_hint_patches([(y, x, after) for y, x, _, after in patches])
        self.doc.push_hint_edit(patches, "Colour from references")
        self.applied.emit(len(regions))
        logger.info("colour from references: %d regions accepted", len(regions))
