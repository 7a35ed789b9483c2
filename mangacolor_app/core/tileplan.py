"""Tile plans: where the fixed-shape, aligned tiles of a page go (pure numpy).

The page (H, W) is padded at the bottom/right with REFLECT up to multiples of the model's size
multiple, giving (Hp, Wp). Every tile has the same shape (tile_h, tile_w), both multiples of the
size multiple, and an origin that is a multiple of it, so a U-Net sees exactly the context it would
see in a whole-page run. :func:`plan_tiles` lays out tiles of a given shape; :func:`best_plan`
chooses, per page, the tile shape that computes the fewest pixels under a tile-area budget.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import TilingError

__all__ = ["TilePlan", "TileSize", "best_plan", "best_tile", "plan_tiles", "reflect_indices", "validate_origins"]

logger = logging.getLogger(__name__)

#: A square tile side, or a (tile_h, tile_w) pair.
TileSize = int | tuple[int, int]

#: Default per-tile cost, in pixel equivalents, that :func:`best_plan` adds for each tile (fixed
#: per-call overhead of an inference session; small tiles also run less efficiently).
TILE_OVERHEAD_PIXELS = 65_536
#: Default blending-strip budget of :func:`best_tile`, in tile-area budgets (the strip is tile_h x page width).
STRIP_AREAS = 8


def reflect_indices(size: int, start: int, count: int) -> np.ndarray:
    """Indices into an axis of length ``size`` for ``count`` positions from ``start`` of its
    reflect-padded extension (``np.pad(mode="reflect")`` semantics, any pad length).

    Returns an int64 array of shape (count,) with values in [0, size).
    """
    idx = np.arange(start, start + count, dtype=np.int64)
    if size == 1:
        return np.zeros_like(idx)
    period = 2 * (size - 1)
    idx %= period
    return np.where(idx >= size, period - idx, idx)


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple`` (both ints, multiple >= 1)."""
    return -(-value // multiple) * multiple


def validate_origins(origins: Sequence[int], tile: int, padded: int, multiple: int, axis: str = "y") -> None:
    """Check that tile origins along one axis are usable for an exact tiled run.

    Raises:
        TilingError: no origins, an origin not a multiple of ``multiple`` (a U-Net would see
            different context there), origins not strictly increasing, not starting at 0, the last
            tile not flush with the padded border, a gap between tiles, or a bad tile size.
    """
    if tile <= 0 or tile % multiple or tile > padded:
        raise TilingError(f"{axis}: tile size {tile} must be a positive multiple of {multiple} and <= {padded}")
    if not origins:
        raise TilingError(f"{axis}: no tile origins")
    bad = [o for o in origins if o % multiple]
    if bad:
        raise TilingError(f"{axis}: tile origins {bad} are not multiples of the model size multiple {multiple}")
    if origins[0] != 0 or origins[-1] + tile != padded:
        raise TilingError(f"{axis}: tiles must start at 0 and end flush with the padded size {padded}")
    for prev, cur in zip(origins, origins[1:]):
        if cur <= prev or cur - prev > tile:
            raise TilingError(f"{axis}: origins {prev} -> {cur} are not increasing or leave a gap (tile {tile})")


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one page go.

    Attributes:
        height, width: page size in pixels.
        tile_h, tile_w: the one tile shape (multiples of ``multiple``).
        overlap: nominal overlap in pixels (actual overlap of the last tile may be larger).
        multiple: model size multiple; origins and the padded size are multiples of it.
        ys, xs: tile origins in the padded page, increasing; the last is flush with the border.

    Raises:
        TilingError: invalid sizes or origins (see :func:`validate_origins`).
    """

    height: int
    width: int
    tile_h: int
    tile_w: int
    overlap: int
    multiple: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1 or self.multiple < 1:
            raise TilingError(f"invalid page {self.width}x{self.height} or multiple {self.multiple}")
        validate_origins(self.ys, self.tile_h, self.padded_height, self.multiple, "y")
        validate_origins(self.xs, self.tile_w, self.padded_width, self.multiple, "x")

    @property
    def padded_height(self) -> int:
        """Page height rounded up to a multiple of ``multiple``."""
        return round_up(self.height, self.multiple)

    @property
    def padded_width(self) -> int:
        """Page width rounded up to a multiple of ``multiple``."""
        return round_up(self.width, self.multiple)

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.ys) * len(self.xs)

    @property
    def computed_pixels(self) -> int:
        """Pixels the model computes for this plan (tiles x tile area)."""
        return self.n_tiles * self.tile_h * self.tile_w

    @property
    def computed_fraction(self) -> float:
        """:attr:`computed_pixels` over the page's own pixels (>= 1; 1 = no waste)."""
        return self.computed_pixels / (self.height * self.width)


def _axis_origins(padded: int, tile: int, stride: int) -> tuple[int, ...]:
    if padded <= tile:
        return (0,)
    return (*range(0, padded - tile, stride), padded - tile)


def _tile_pair(tile: TileSize) -> tuple[int, int]:
    if isinstance(tile, (tuple, list)):
        if len(tile) != 2:
            raise TilingError(f"tile must be an int or a (tile_h, tile_w) pair, got {tile!r}")
        return int(tile[0]), int(tile[1])
    return int(tile), int(tile)


def plan_tiles(height: int, width: int, tile: TileSize, overlap: int, multiple: int) -> TilePlan:
    """Plan fixed-shape tiles over a page of ``height`` x ``width`` pixels.

    Args:
        height, width: page size in pixels (>= 1).
        tile: square tile side, or (tile_h, tile_w); multiples of ``multiple``.
        overlap: nominal overlap between neighbouring tiles, a multiple of ``multiple`` in
            [0, min(tile_h, tile_w)).
        multiple: the model's size multiple (>= 1).

    Tile shape is (min(tile_h, Hp), min(tile_w, Wp)); origins along each axis are 0, stride,
    2*stride, ... with stride = tile side - overlap, plus a last one flush with the padded border.

    Raises:
        TilingError: non-positive sizes, a tile side or ``overlap`` not a multiple of ``multiple``,
            or ``overlap >= `` a tile side.
    """
    if multiple < 1:
        raise TilingError(f"size multiple must be >= 1, got {multiple}")
    if height < 1 or width < 1:
        raise TilingError(f"page size must be positive, got {width}x{height}")
    req_h, req_w = _tile_pair(tile)
    for side in (req_h, req_w):
        if side < multiple or side % multiple:
            raise TilingError(f"tile size {side} must be a positive multiple of the model size multiple {multiple}")
        if overlap < 0 or overlap % multiple or overlap >= side:
            raise TilingError(f"overlap {overlap} must be a multiple of {multiple} in [0, tile size {side})")
    hp, wp = round_up(height, multiple), round_up(width, multiple)
    th, tw = min(req_h, hp), min(req_w, wp)
    ys, xs = _axis_origins(hp, th, req_h - overlap), _axis_origins(wp, tw, req_w - overlap)
    return TilePlan(height, width, th, tw, overlap, multiple, ys, xs)


def _axis_candidates(padded: int, overlap: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile lengths along one axis and their tile counts: for each count n, the shortest aligned
    tile length that covers ``padded`` with n tiles. int64 arrays (k,), (k,)."""
    lengths: dict[int, int] = {padded: 1}
    smallest = min(padded, overlap + multiple)
    for n in range(2, padded // multiple + 2):
        t = round_up(-(-(padded + (n - 1) * overlap) // n), multiple)
        if t < smallest:
            break
        if t >= padded:
            continue
        count = len(_axis_origins(padded, t, t - overlap))
        if t not in lengths or count < lengths[t]:
            lengths[t] = count
    t_arr = np.fromiter(lengths.keys(), dtype=np.int64)
    return t_arr, np.fromiter(lengths.values(), dtype=np.int64)


def best_tile(
    height: int,
    width: int,
    overlap: int,
    multiple: int,
    max_area: int,
    *,
    max_strip_pixels: int | None = None,
    tile_overhead_pixels: int = TILE_OVERHEAD_PIXELS,
) -> tuple[int, int]:
    """The tile shape (tile_h, tile_w) computing the fewest pixels for a page under an area budget.

    Every (tile_h, tile_w) whose counts of tiles cover the padded page tightly is considered; the
    winner minimises ``n_tiles * (tile_h * tile_w + tile_overhead_pixels)`` subject to
    ``tile_h * tile_w <= max_area`` (bounds the model's working memory) and
    ``tile_h * Wp <= max_strip_pixels`` (bounds the blending strip; default ``STRIP_AREAS * max_area``,
    e.g. 100 MB of float32 RGB for a 1024^2 budget, so wide pages are not forced into thin tiles
    whose overlaps waste compute).
    When no shape fits the budgets (an overlap too large for them), the smallest-area shape is used
    and a warning logged. Returns the sides to pass to :func:`plan_tiles` (multiples of
    ``multiple``, each > ``overlap``; a side longer than the padded page means one tile there).

    Args:
        height, width: page size in pixels (>= 1).
        overlap: nominal overlap, a multiple of ``multiple`` (>= 0).
        multiple: the model's size multiple (>= 1).
        max_area: tile-area budget in pixels (> 0).
        max_strip_pixels: strip budget in pixels (tile_h x padded width).
        tile_overhead_pixels: per-tile cost in pixel equivalents (>= 0).

    Raises:
        TilingError: invalid sizes (as :func:`plan_tiles`).
    """
    if multiple < 1 or height < 1 or width < 1 or max_area < 1:
        raise TilingError(f"invalid page {width}x{height}, multiple {multiple} or tile area {max_area}")
    if overlap < 0 or overlap % multiple:
        raise TilingError(f"overlap {overlap} must be a non-negative multiple of {multiple}")
    hp, wp = round_up(height, multiple), round_up(width, multiple)
    strip = STRIP_AREAS * max_area if max_strip_pixels is None else max_strip_pixels
    th, ny = _axis_candidates(hp, overlap, multiple)
    tw, nx = _axis_candidates(wp, overlap, multiple)
    area = th[:, None] * tw[None, :]
    tiles = ny[:, None] * nx[None, :]
    cost = (tiles * (area + tile_overhead_pixels)).astype(np.float64)
    strip_ok = (th * wp <= strip) | (th == th.min())
    ok = (area <= max_area) & strip_ok[:, None]
    if not ok.any():
        logger.warning("no tile shape within %d px fits overlap %d; using the smallest tiles", max_area, overlap)
        ok = area == area.min()
    cost[~ok] = np.inf
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    floor = round_up(overlap + multiple, multiple)  # a single tile along an axis may be shorter
    req_h = int(th[i]) if ny[i] > 1 else max(int(th[i]), floor)
    req_w = int(tw[j]) if nx[j] > 1 else max(int(tw[j]), floor)
    return req_h, req_w


def best_plan(
    height: int,
    width: int,
    overlap: int,
    multiple: int,
    max_area: int,
    *,
    max_strip_pixels: int | None = None,
    tile_overhead_pixels: int = TILE_OVERHEAD_PIXELS,
) -> TilePlan:
    """:func:`plan_tiles` with the tile shape from :func:`best_tile` (same arguments and errors)."""
    tile = best_tile(height, width, overlap, multiple, max_area, max_strip_pixels=max_strip_pixels,
                     tile_overhead_pixels=tile_overhead_pixels)
    return plan_tiles(height, width, tile, overlap, multiple)
