"""Empirical receptive radius of a model function, and the tile overlap that makes tiling exact.

The model function has the tiling signature: float32 (N, H, W, C) in [0, 1] -> (N, H, W, C_out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from .blending import MARGIN_DEN, MARGIN_NUM
from .errors import TilingError

logger = logging.getLogger(__name__)

TileFn = Callable[[np.ndarray], np.ndarray]


def _run(fn: TileFn, image: np.ndarray) -> np.ndarray:
    """Run ``fn`` on one (H, W, C) image; returns float32 (H, W, C_out)."""
    out = np.asarray(fn(image[None]), dtype=np.float32)
    if out.ndim != 4 or out.shape[:3] != (1, *image.shape[:2]):
        raise TilingError(f"model function returned shape {out.shape} for input {(1, *image.shape)}")
    return out[0]


def _moved_radius(base: np.ndarray, moved: np.ndarray, y: int, x: int, threshold: float) -> int:
    """Max Chebyshev distance from (y, x) of pixels where any channel changed by > threshold (-1 if none)."""
    changed = np.abs(moved - base).max(axis=2) > threshold
    ys, xs = np.nonzero(changed)
    if ys.size == 0:
        return -1
    return int(np.maximum(np.abs(ys - y), np.abs(xs - x)).max())


def measure_receptive_radius(
    fn: TileFn,
    in_channels: int,
    size: int = 256,
    multiple: int = 16,
    threshold: float = 0.5 / 255,
    seed: int = 0,
) -> int:
    """Measure how far (Chebyshev, in pixels) one input pixel's influence reaches in the output.

    A seeded random input of ``size`` x ``size`` (rounded up to ``multiple``) is run, then one pixel
    near the centre is pushed strongly (all channels moved by >= 0.5) and the farthest output pixel
    that moved by more than ``threshold`` in any channel gives the radius. Models with pooling
    reach differently depending on the pixel's phase within a ``multiple`` cell, so this is done at
    both ends of the centre cell (phases 0 and multiple - 1) and the larger radius returned.

    Returns:
        the radius in pixels (0: pointwise model; also when nothing moved, which is logged).

    Raises:
        TilingError: bad arguments or a function returning the wrong shape.
    """
    if in_channels < 1 or size < 1 or multiple < 1 or threshold < 0:
        raise TilingError(f"invalid receptive-field probe: channels={in_channels} size={size} multiple={multiple}")
    side = -(-size // multiple) * multiple
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.0, 1.0, size=(side, side, in_channels)).astype(np.float32)
    base = _run(fn, image)
    centre = (side // 2) // multiple * multiple
    radius = -1
    for pos in sorted({centre, min(centre + multiple - 1, side - 1)}):
        probe = image.copy()
        probe[pos, pos] = np.where(image[pos, pos] < 0.5, 1.0, 0.0)
        radius = max(radius, _moved_radius(base, _run(fn, probe), pos, pos, threshold))
    if radius < 0:
        logger.warning("receptive-field probe: no output moved by more than %g; returning 0", threshold)
        return 0
    if radius >= side // 2 - multiple:
        logger.warning("receptive radius %d reaches the %d px probe's border; use a larger size", radius, side)
    logger.info("measured receptive radius: %d px", radius)
    return radius


def recommended_overlap(radius: int, multiple: int) -> int:
    """Smallest tile overlap (a multiple of ``multiple``) with ``blend_margin(overlap) >= radius``.

    The tiler gives zero weight within ``blend_margin(actual_overlap)`` (``2 * overlap // 5``) of a
    tile's inner edge and ramps over the middle fifth of the overlap (see ``core.blending``), so every
    pixel that contributes is then at least ``radius`` from its tile's inner edge and a tiled run
    equals a whole-page run. The result is about 2.5 x ``radius`` (0 for a pointwise model).

    Raises:
        TilingError: radius < 0 or multiple < 1.
    """
    if radius < 0 or multiple < 1:
        raise TilingError(f"invalid radius {radius} or multiple {multiple}")
    overlap = -(-radius * MARGIN_DEN // MARGIN_NUM)  # smallest ov with MARGIN_NUM * ov // MARGIN_DEN >= radius
    overlap = -(-overlap // multiple) * multiple
    return overlap


#: smallest preferred tile side written into manifests (px)
MIN_PREFERRED_TILE = 1024
#: preferred tile side per pixel of overlap, as an exact fraction (64 / 5 = 12.8): a tile 12.8 overlaps
#: wide recomputes at most (12.8 / 10.8)^2 = 1.40x its own pixels (interior tiles, both axes), and about
#: 1.15-1.2x a large page's pixels
TILE_PER_OVERLAP = (64, 5)


def preferred_tile(overlap: int, multiple: int, minimum: int = MIN_PREFERRED_TILE) -> int:
    """Tile side a manifest should prefer: ``max(minimum, 12.8 * overlap, 2 * overlap + multiple)``
    rounded up to ``multiple``, so the overlap that every tile recomputes stays a small share of the work
    (1024 for an 80 px overlap, 2048 for 160 px). Memory is bounded by this side, not by the page.

    Raises:
        TilingError: overlap < 0, multiple < 1 or minimum < 1.
    """
    if overlap < 0 or multiple < 1 or minimum < 1:
        raise TilingError(f"invalid overlap {overlap}, multiple {multiple} or minimum {minimum}")
    num, den = TILE_PER_OVERLAP
    side = max(minimum, -(-overlap * num // den), 2 * overlap + multiple)
    return -(-side // multiple) * multiple


__all__ = ["MIN_PREFERRED_TILE", "TILE_PER_OVERLAP", "measure_receptive_radius", "preferred_tile",
           "recommended_overlap"]
