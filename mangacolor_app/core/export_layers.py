"""The parts of a colorized page that export writes (:class:`ExportLayers`), shared by flat and PSD export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ExportLayers", "PSD_LAYER_NAMES", "quantize"]

#: PSD layer names, bottom to top (Flats only when present).
PSD_LAYER_NAMES = ("Flats", "Color", "Ink", "Hints")


@dataclass
class ExportLayers:
    """The parts of a colorized page.

    Attributes:
        ink: (H, W) float32 in [0, 1] (or uint8), the line art (1 = paper, 0 = ink).
        color: (H, W, 3) float32 in [0, 1], or uint16 / uint8 (the page job's and the project's form: read
            through ``core.color.to_float32``, a row block at a time), the colorization result (without ink).
        flats: (H, W, 4) float32 in [0, 1] (or uint8/uint16) straight-alpha flats layer, or None.
        hints: (H, W, 4) float32 in [0, 1] (or uint8/uint16, as loaded or painted) hint layer (RGB + mask
            as alpha), or None.
        dpi: (x, y) dots per inch to record, or None.
    """

    ink: npt.NDArray[Any]
    color: npt.NDArray[Any]
    flats: npt.NDArray[Any] | None = None
    hints: npt.NDArray[Any] | None = None
    dpi: tuple[float, float] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.color.shape[0]), int(self.color.shape[1])


def quantize(array: npt.ArrayLike, bit_depth: int) -> np.ndarray:
    """uint8 or uint16 copy of a [0, 1] float array, or of an integer one (the values a file stores)."""
    from mangacolor_app.core.color import to_uint8, to_uint16  # noqa: PLC0415

    return to_uint16(array) if bit_depth == 16 else to_uint8(array)
