"""Colour memory on the command line: ``mangacolor colorize PAGES --reference REF [REF...]``.

A :class:`ReferenceBank` holds the reference pages given with ``--reference`` (``.mcproj`` projects
or colour images, any size) and, when carrying is on, the last pages coloured in this run. For each
page it suggests a hint layer (:func:`mangacolor_app.core.matching.suggest_hints`); the page's own
hints (``--hints``, ``<page>.hints.png``, a project beside it) win: a suggested region that holds any
of the artist's hint pixels is dropped. The merged layer is an ordinary hint layer and goes through
the normal flats + model pipeline. After a page succeeds, :meth:`ReferenceBank.remember` adds it as a
reference for the next pages (its confident regions and the artist's hints, exact colours).

A resumed run has no memory of the pages it skips: :meth:`ReferenceBank.catch_up` carries the outputs
of the pages just before the first page it makes instead (as colour-image references; not for flats
or PSD outputs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mangacolor_app.core.errors import MangaColorError
from mangacolor_app.core.matching import Suggestion, suggest_hints
from mangacolor_app.core.reference import Reference, ReferenceError, load_reference, reference_from_hints

__all__ = ["ReferenceBank", "merge_hints"]

logger = logging.getLogger(__name__)

#: Pages of this run kept as references by default.
DEFAULT_CARRY = 2


def merge_hints(suggestion: Suggestion, own: np.ndarray | None) -> np.ndarray:
    """The suggested hint layer with the artist's own hints on top.

    Args:
        suggestion: the page's :class:`Suggestion`.
        own: the page's hint layer (H, W, 4) float32, or None.

    Returns:
        (H, W, 4) float32: suggested regions that hold none of the artist's hint pixels, plus the
        artist's hints unchanged.
    """
    if own is None:
        return suggestion.hints
    labels = suggestion.regions.labels
    keep = suggestion.assigned & ~suggestion.touched(own[..., 3] > 0)
    out = np.where(keep[labels][..., None], suggestion.hints, 0.0).astype(np.float32)
    mine = own[..., 3] > 0
    out[mine] = own[mine]
    return out


@dataclass
class ReferenceBank:
    """Reference pages for a run, plus the last ``carry`` pages coloured in it."""

    fixed: list[Reference]
    carry: int = DEFAULT_CARRY
    min_confidence: float = 0.5
    carried: list[Reference] = field(default_factory=list)
    last: Suggestion | None = None
    caught_up: bool = False

    @classmethod
    def load(cls, paths: Sequence[Path], *, carry: int = DEFAULT_CARRY, min_confidence: float = 0.5) -> ReferenceBank:
        """Read every reference (each error names its file).

        Raises:
            ReferenceError, ImageLoadError, ProjectError: a reference cannot be used.
        """
        refs = []
        for path in paths:
            refs.append(load_reference(path))
            logger.info("reference %s: %d regions", path, refs[-1].features.n)
        return cls(fixed=refs, carry=max(0, carry), min_confidence=min_confidence)

    @property
    def references(self) -> list[Reference]:
        return [*self.fixed, *self.carried]

    def hints_for(self, line: np.ndarray, own: np.ndarray | None, dpi: tuple[float, float] | None) -> np.ndarray:
        """The page's hint layer: suggestions from the references merged with its own hints ``own``.

        Args:
            line: (H, W) float32 [0, 1] page luma; own: (H, W, 4) float32 or None; dpi: (x, y) or None.
        """
        self.last = suggest_hints(line, self.references, dpi=dpi[0] if dpi else None,
                                  min_confidence=self.min_confidence)
        return merge_hints(self.last, own)

    def catch_up(self, outputs: Sequence[Path], current: Path) -> None:
        """Before the first page this run makes: carry the existing outputs of the ``carry`` pages
        before it (a resumed run skipped them), when they are colour images. Unusable ones are logged."""
        if self.caught_up or self.carry == 0 or self.carried:
            self.caught_up = True
            return
        self.caught_up = True
        outputs = list(outputs)
        if current not in outputs:
            return
        k = outputs.index(current)
        for prev in outputs[max(0, k - self.carry) : k]:
            if not prev.is_file() or prev.suffix.lower() == ".psd" or prev.name.endswith(".flats.png"):
                continue
            try:
                self.carried.append(load_reference(prev))
                logger.info("carried %s from the previous run", prev)
            except MangaColorError as exc:
                logger.info("not carried: %s", exc)

    def remember(self, name: str, line: np.ndarray, hints: np.ndarray, dpi: tuple[float, float] | None) -> None:
        """Carry a page just coloured with ``hints`` as a reference for the next pages."""
        if self.carry == 0 or not (hints[..., 3] > 0).any():
            return
        try:
            ref = reference_from_hints(line, hints, dpi=dpi, name=name)
        except ReferenceError as exc:
            logger.info("not carried: %s", exc)
            return
        self.carried.append(ref)
        del self.carried[: -self.carry]
