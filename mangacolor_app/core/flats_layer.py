"""What the rest of the app reads off a flats layer of :mod:`core.flats`: where it keeps paper, and the
flats laid on paper (with or without the ink) for flats-only pages and their export.

A flats layer is (H, W, 4) RGBA, float32 in [0, 1] or uint8 (``compute_flats(..., out_dtype=...)``):
alpha 1 where a hinted region reaches, alpha 0 elsewhere, with rgb white where the flats keep paper.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mangacolor_app.core.color import to_float32, to_uint8, to_uint16

__all__ = ["flats_composite", "flats_on_paper", "paper_mask"]

#: Rows laid on paper at a time by :func:`flats_on_paper` (float32 only for a strip).
_ROWS = 256


def paper_mask(flats: np.ndarray) -> np.ndarray:
    """(H, W) bool: where a flats layer (float or integer) keeps paper (alpha 0, rgb white)."""
    flats = np.asarray(flats)
    half = 0.5 if np.issubdtype(flats.dtype, np.floating) else np.iinfo(flats.dtype).max // 2
    return (flats[..., 3] <= 0) & (flats[..., 0] > half)


def flats_on_paper(flats: np.ndarray, line_gray: np.ndarray | None = None, *, out_dtype: Any = np.float32) -> np.ndarray:
    """The flats over white paper, times the line art when given, ``_ROWS`` rows at a time.

    Args:
        flats: (H, W, 4) flats layer, float in [0, 1] or uint8/uint16 (straight alpha).
        line_gray: (H, W) line, float in [0, 1] or uint8 (1 = paper), or None for no ink.
        out_dtype: np.float32 (in [0, 1]), np.uint8 or np.uint16 (``core.color`` rounding).

    Returns:
        (H, W, 3) RGB of ``out_dtype``.

    Raises:
        ValueError: the shapes do not match.
    """
    if flats.ndim != 3 or flats.shape[2] != 4 or (line_gray is not None and flats.shape[:2] != line_gray.shape):
        line_shape = None if line_gray is None else line_gray.shape
        raise ValueError(f"flats {flats.shape} and line {line_shape} do not match (want (H,W,4) and (H,W))")
    h, w = flats.shape[:2]
    out = np.empty((h, w, 3), out_dtype)
    convert = {np.dtype(np.uint8): to_uint8, np.dtype(np.uint16): to_uint16}.get(np.dtype(out_dtype))
    for y in range(0, h, _ROWS):
        block = _unit(flats[y : y + _ROWS])
        alpha = block[..., 3:4]
        base = block[..., :3] * alpha + (1.0 - alpha)
        if line_gray is not None:
            base *= _unit(line_gray[y : y + _ROWS])[..., None]
        np.clip(base, 0.0, 1.0, out=base)
        out[y : y + _ROWS] = base if convert is None else convert(base)
    return out


def flats_composite(flats: np.ndarray, line_gray: np.ndarray) -> np.ndarray:
    """Flats multiplied by the line art, white where the flats are empty (flats-only preview/export):
    (H, W, 3) float32 in [0, 1] (:func:`flats_on_paper` with the line). Raises ValueError on shapes."""
    return flats_on_paper(np.asarray(flats), np.asarray(line_gray))


def _unit(a: np.ndarray) -> np.ndarray:
    """A block as float32 in [0, 1]: integers through ``core.color.to_float32``, floats as they are."""
    return to_float32(a) if a.dtype.kind in "ub" else np.asarray(a, np.float32)
