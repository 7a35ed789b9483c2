"""Undo commands. Hint edits store only the changed rectangles (before/after), never whole layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from PySide6.QtGui import QUndoCommand

from mangacolor_app.qt.painting import Patch

__all__ = ["HintLayer", "HintPatchCommand", "ValueCommand"]


class HintLayer(Protocol):
    """What a hint command needs of the document (``qt.document.Document``, which imports this module)."""

    def write_hint_patches(self, patches: list[tuple[int, int, np.ndarray]]) -> None:  # noqa: D102
        ...


class HintPatchCommand(QUndoCommand):
    """A brush stroke, erase or fill already applied to the hint layer.

    Args:
        doc: the document whose hint layer changed (a :class:`HintLayer`).
        patches: ``(y, x, before, after)`` rectangles (uint8 RGBA).
        text: menu text ("Brush stroke", ...).
    """

    def __init__(self, doc: HintLayer, patches: list[Patch], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.patches = patches
        self._applied = True

    def nbytes(self) -> int:
        """Memory held by this command."""
        return sum(b.nbytes + a.nbytes for _, _, b, a in self.patches)

    def redo(self) -> None:  # noqa: D102 - QUndoCommand API
        if self._applied:  # the edit was painted live before being pushed
            self._applied = False
            return
        self.doc.write_hint_patches([(y, x, after) for y, x, _, after in self.patches])

    def undo(self) -> None:  # noqa: D102 - QUndoCommand API
        self.doc.write_hint_patches([(y, x, before) for y, x, before, _ in self.patches])


class ValueCommand(QUndoCommand):
    """Set a value through ``setter`` (palette edits): stores the old and the new value."""

    def __init__(self, setter: Callable[[Any], None], old: Any, new: Any, text: str) -> None:
        super().__init__(text)
        self.setter = setter
        self.old = old
        self.new = new

    def redo(self) -> None:  # noqa: D102
        self.setter(self.new)

    def undo(self) -> None:  # noqa: D102
        self.setter(self.old)
