"""The in-memory project: one page, its hint layer, palette, model choice, settings and last result.

The hint layer is kept as uint8 and the result as uint16 (the edit/storage buffers, i.e. the edges of the
float32 array contract); :meth:`Project.hints_float` and :meth:`Project.result_float` give the contract
form. Reading and writing ``.mcproj`` files is :mod:`mangacolor_app.core.project_archive`; everything
here is re-exported by :mod:`mangacolor_app.core.project`, the public import path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mangacolor_app.core.color import to_float32

__all__ = ["NamedColor", "Palette", "Project"]

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass
class NamedColor:
    """A palette colour: a display name (e.g. "Hero hair") and ``#rrggbb``."""

    name: str
    hex: str

    def __post_init__(self) -> None:
        if not _HEX.match(self.hex):
            raise ValueError(f"not a #rrggbb colour: {self.hex!r}")
        self.hex = self.hex.lower()


@dataclass
class Palette:
    """Per-project colours: named swatches and most-recently-used colours (newest first)."""

    swatches: list[NamedColor] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)
    max_recent: int = 12

    def push_recent(self, hex_color: str) -> None:
        """Move ``hex_color`` (``#rrggbb``) to the front of the recent colours."""
        hex_color = NamedColor("", hex_color).hex
        if hex_color in self.recent:
            self.recent.remove(hex_color)
        self.recent.insert(0, hex_color)
        del self.recent[self.max_recent :]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "swatches": [{"name": c.name, "hex": c.hex} for c in self.swatches],
            "recent": list(self.recent),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Palette:
        """Inverse of :meth:`to_dict`. Raises ``ValueError``/``KeyError``/``TypeError`` on bad data."""
        swatches = [NamedColor(str(s["name"]), str(s["hex"])) for s in data.get("swatches", [])]
        recent = [NamedColor("", str(h)).hex for h in data.get("recent", [])]
        return cls(swatches=swatches, recent=recent)


@dataclass
class Project:
    """Everything the editor saves about one page.

    Attributes:
        page: (H, W, 3) float32 RGB in [0, 1].
        hints: (H, W, 4) uint8 RGBA hint layer (straight alpha; alpha 0 = no hint).
        palette: project colours.
        model_name: the chosen model's name, or None for the default.
        settings: small JSON-able editor settings (hint opacity, preserve ink, ...).
        result: (H, W, 3) uint16 last colorization, or None.
        source_path: where the page was loaded from (informative).
        dpi: the page's (x, y) resolution, or None.
    """

    page: np.ndarray
    hints: np.ndarray
    palette: Palette = field(default_factory=Palette)
    model_name: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    result: np.ndarray | None = None
    source_path: str | None = None
    dpi: tuple[float, float] | None = None

    @classmethod
    def new(cls, page: np.ndarray, **kwargs: Any) -> Project:
        """A project for ``page`` ((H, W, 3) float32) with an empty hint layer."""
        h, w = page.shape[:2]
        return cls(page=page, hints=np.zeros((h, w, 4), np.uint8), **kwargs)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the page."""
        return int(self.page.shape[0]), int(self.page.shape[1])

    def hints_float(self) -> np.ndarray:
        """The hint layer as (H, W, 4) float32 RGBA in [0, 1] (the array contract form)."""
        return to_float32(self.hints)

    def result_float(self) -> np.ndarray | None:
        """The result as (H, W, 3) float32 in [0, 1], or None."""
        if self.result is None:
            return None
        return to_float32(self.result)

    def set_result_float(self, rgb: np.ndarray | None) -> None:
        """Store a float32 (H, W, 3) result, quantised to the uint16 storage form."""
        if rgb is None:
            self.result = None
            return
        self.result = np.round(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)
