"""Blending weights of overlapping tiles along one axis (pure numpy).

Between two consecutive tiles whose actual overlap is ``ov`` pixels, the overlap is split into three
parts: a zero-weight margin of :func:`blend_margin` (``2 * ov // 5``) pixels next to each tile's inner
edge (where the model's zero padding makes a tile's output differ from a whole-page run), and a
raised-cosine ramp over the remaining middle ``ov - 2 * margin`` (about ``ov / 5``) pixels. A tiled
run is therefore exact (equal to a whole-page run up to float rounding) when
``blend_margin(overlap) >= receptive radius``; :func:`mangacolor_app.core.receptive.recommended_overlap`
returns the smallest such overlap (about 2.5 x the radius). The last tile along an axis may overlap
its neighbour by more than the nominal overlap; its margins then grow with that actual overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MARGIN_DEN", "MARGIN_NUM", "axis_weights", "blend_margin", "ramp"]

#: The zero-weight margin is ``MARGIN_NUM * overlap // MARGIN_DEN`` on each side of the ramp.
MARGIN_NUM, MARGIN_DEN = 2, 5


def blend_margin(overlap: int) -> int:
    """Zero-weight margin (pixels, >= 0) next to a tile's inner edge for an actual ``overlap`` >= 0."""
    return MARGIN_NUM * max(int(overlap), 0) // MARGIN_DEN


def ramp(overlap: int) -> np.ndarray:
    """Rising weight of the later tile over an overlap of ``overlap`` pixels: float64 (overlap,).

    0 over the first :func:`blend_margin` pixels, a raised cosine over the middle, 1 over the last
    margin. ``ramp(ov) + ramp(ov)[::-1] == 1`` (the two tiles' weights are symmetric).
    """
    margin = blend_margin(overlap)
    length = overlap - 2 * margin
    out = np.zeros(overlap, dtype=np.float64)
    u = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    out[margin : margin + length] = 0.5 - 0.5 * np.cos(np.pi * u)
    out[margin + length :] = 1.0
    return out


def axis_weights(origins: Sequence[int], tile: int) -> np.ndarray:
    """Blending weights of the tiles along one axis, float32 (n_tiles, tile) in [0, 1].

    Args:
        origins: increasing tile origins (as in a :class:`~mangacolor_app.core.tiling.TilePlan`);
            consecutive tiles must overlap or touch.
        tile: tile length along the axis.

    Weight is zero within ``blend_margin(actual_overlap)`` of a tile's inner edge, 1 at the page
    borders, and the weights of the tiles covering any position sum to 1 (normalised in float64, so
    the float32 sums are 1 within 1e-6).
    """
    n = len(origins)
    w = np.ones((n, tile), dtype=np.float64)
    for k in range(1, n):
        ov = origins[k - 1] + tile - origins[k]
        rise = ramp(ov)
        w[k, :ov] *= rise
        w[k - 1, tile - ov :] *= 1.0 - rise
    total = np.zeros(origins[-1] + tile, dtype=np.float64)
    for k, o in enumerate(origins):
        total[o : o + tile] += w[k]
    for k, o in enumerate(origins):
        w[k] /= total[o : o + tile]
    return w.astype(np.float32)
