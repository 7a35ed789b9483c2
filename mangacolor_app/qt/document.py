"""The open document: a :class:`~mangacolor_app.core.project.Project` plus editor state and signals.

Widgets observe a :class:`Document`; they never own the data. The hint layer is edited in place
(the canvas wraps its buffer in a QImage without copying) and every edit goes through the
document's ``QUndoStack``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QUndoStack

from mangacolor_app.core.color import to_uint8
from mangacolor_app.core.lineart import page_line
from mangacolor_app.core.project import Palette, Project
from mangacolor_app.qt.painting import Patch
from mangacolor_app.qt.undo import HintPatchCommand, ValueCommand

__all__ = ["Document"]

logger = logging.getLogger(__name__)


def page_views(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """The arrays the editor derives from a project's page: (line luma float32 (H, W) in [0, 1],
    page uint8 (H, W, 3)). Pure numpy: file workers compute them off the GUI thread."""
    return page_line(project.page), np.ascontiguousarray(to_uint8(project.page))


class Document(QObject):
    """Editor-side state of one project.

    Signals:
        page_changed: a new page/project was loaded (all layers replaced).
        hints_changed(QRect): the hint layer changed inside the rectangle (page pixels).
        result_changed: the colorization (preview or full) changed.
        flats_changed: the flats layer changed.
        palette_changed: the project palette changed.
        modified_changed(bool): the unsaved-changes state changed.
        path_changed: the project file path changed.
    """

    page_changed = Signal()
    hints_changed = Signal(QRect)
    result_changed = Signal()
    flats_changed = Signal()
    palette_changed = Signal()
    modified_changed = Signal(bool)
    path_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.path: Path | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(200)
        self.line_gray: np.ndarray | None = None
        self.page_u8: np.ndarray | None = None
        self.result_u8: np.ndarray | None = None
        self.result_is_preview = False
        self.flats_u8: np.ndarray | None = None
        self._dirty = False
        #: returns (model name, settings dict) of the editor, stored with every save
        self.state_hook: Callable[[], tuple[str | None, dict[str, Any]]] | None = None
        self.undo_stack.cleanChanged.connect(self._emit_modified)

    # ------------------------------------------------------------------ loading

    def set_project(self, project: Project, path: Path | None = None, *, result_u8: np.ndarray | None = None,
                    views: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Replace everything with ``project`` (``path``: its file, None when unsaved).

        ``views``: the page's :func:`page_views`, when a worker computed them already (so that a big
        page's conversions do not run on the GUI thread); computed here otherwise.
        """
        self.project = project
        self.path = path
        self.line_gray, self.page_u8 = views if views is not None else page_views(project)
        if result_u8 is None and project.result is not None:
            result_u8 = to_uint8(project.result)
        self.result_u8 = result_u8
        self.result_is_preview = False
        self.flats_u8 = None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._dirty = False
        self.page_changed.emit()
        self.path_changed.emit()
        self._emit_modified()

    @property
    def has_page(self) -> bool:
        """Whether a page is loaded."""
        return self.project is not None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the page, (0, 0) without one."""
        return self.project.size if self.project else (0, 0)

    @property
    def hints(self) -> np.ndarray:
        """The live (H, W, 4) uint8 hint layer. Raises RuntimeError without a page."""
        if self.project is None:
            raise RuntimeError("no page loaded")
        return self.project.hints

    # ------------------------------------------------------------------ hint edits

    def push_hint_edit(self, patches: list[Patch], text: str) -> None:
        """Record an edit already painted on the hint layer (no-op when nothing changed)."""
        if patches:
            self.undo_stack.push(HintPatchCommand(self, patches, text))

    def write_hint_patches(self, patches: list[tuple[int, int, np.ndarray]]) -> None:
        """Write ``(y, x, pixels)`` rectangles into the hint layer and announce the change."""
        rect = QRect()
        for y, x, pixels in patches:
            h, w = pixels.shape[:2]
            self.hints[y:y + h, x:x + w] = pixels
            rect = rect.united(QRect(x, y, w, h))
        self.hints_changed.emit(rect)

    def notify_hints(self, box: tuple[int, int, int, int] | None) -> None:
        """Announce a live change of the box (x0, y0, x1, y1) during a stroke."""
        if box is not None:
            x0, y0, x1, y1 = box
            self.hints_changed.emit(QRect(x0, y0, x1 - x0, y1 - y0))

    # ------------------------------------------------------------------ palette

    @property
    def palette(self) -> Palette:
        """The project palette (an empty one without a project)."""
        return self.project.palette if self.project else Palette()

    def edit_palette(self, new: Palette, text: str) -> None:
        """Replace the palette through the undo stack."""
        if self.project is None:
            return
        old = copy.deepcopy(self.project.palette)
        self.undo_stack.push(ValueCommand(self._set_palette, old, copy.deepcopy(new), text))

    def _set_palette(self, palette: Palette) -> None:
        if self.project is not None:
            self.project.palette = copy.deepcopy(palette)
            self.palette_changed.emit()

    def push_recent_color(self, hex_color: str) -> None:
        """Remember a used colour (not an undoable edit)."""
        if self.project is not None and (not self.palette.recent or self.palette.recent[0] != hex_color):
            self.project.palette.push_recent(hex_color)
            self.palette_changed.emit()

    # ------------------------------------------------------------------ results

    def set_result(self, result_u16: np.ndarray, display_u8: np.ndarray) -> None:
        """Store a full-resolution result ((H, W, 3) uint16) and its 8-bit display copy."""
        if self.project is None:
            return
        self.project.result = result_u16
        self.result_u8 = display_u8
        self.result_is_preview = False
        self.mark_dirty()
        self.result_changed.emit()

    def set_preview(self, display_u8: np.ndarray) -> None:
        """Show a preview-resolution result ((h, w, 3) uint8, drawn stretched over the page)."""
        self.result_u8 = display_u8
        self.result_is_preview = True
        self.result_changed.emit()

    def set_flats(self, flats_u8: np.ndarray | None) -> None:
        """Replace the flats layer ((H, W, 4) uint8 or None)."""
        self.flats_u8 = flats_u8
        self.flats_changed.emit()

    # ------------------------------------------------------------------ saving state

    @property
    def is_modified(self) -> bool:
        """Whether there are unsaved changes."""
        return self._dirty or not self.undo_stack.isClean()

    def mark_dirty(self) -> None:
        """Flag a change that is not on the undo stack (a new result, settings)."""
        self._dirty = True
        self._emit_modified()

    def mark_saved(self, path: Path) -> None:
        """Record a successful save to ``path``."""
        self.path = path
        self._dirty = False
        self.undo_stack.setClean()
        self.path_changed.emit()
        self._emit_modified()

    def snapshot(self) -> Project:
        """A copy of the project safe to save from another thread (layers copied)."""
        if self.project is None:
            raise RuntimeError("no page loaded")
        p = self.project
        if self.state_hook is not None:
            p.model_name, settings = self.state_hook()
            p.settings.update(settings)
        return Project(page=p.page, hints=p.hints.copy(), palette=copy.deepcopy(p.palette),
                       model_name=p.model_name, settings=dict(p.settings), result=p.result,
                       source_path=p.source_path, dpi=p.dpi)

    def _emit_modified(self, *_: object) -> None:
        self.modified_changed.emit(self.is_modified)
