"""Exact, memory-bounded overlapping-tile inference over a page (pure numpy).

The page (H, W) is padded at the bottom/right with REFLECT up to multiples of the model's size
multiple, giving (Hp, Wp). Every tile has the same shape (th, tw) and an origin that is a multiple of
the size multiple, so a U-Net sees exactly the context it would see in a whole-page run. Between
consecutive tiles the blending weight is a raised-cosine ramp over the middle half of their actual
overlap; the outer quarter next to each tile's inner edge (where the model's zero padding makes the
output differ from a whole-page run) gets zero weight. With ``overlap // 4 >= receptive radius`` the
tiled output therefore equals the whole-page output up to float rounding.

Memory is bounded by the tile size: tile rows go top to bottom into a float32 (th, Wp) strip whose
finished rows are written into the output (uint8 if asked); page reads use reflect indices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .errors import CancelledError, TilingError

logger = logging.getLogger(__name__)

#: ``fn``: float32 (N, th, tw, C) in [0, 1] -> (N, th, tw, out_channels).
TileFn = Callable[[np.ndarray], np.ndarray]
#: Reads a region of the reflect-padded page: ``(y0, x0, h, w) -> float32 (h, w, C)``.
RegionReader = Callable[[int, int, int, int], np.ndarray]
Source = Union[np.ndarray, RegionReader]
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

_OUT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8))


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


def _round_up(value: int, multiple: int) -> int:
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
        return _round_up(self.height, self.multiple)

    @property
    def padded_width(self) -> int:
        """Page width rounded up to a multiple of ``multiple``."""
        return _round_up(self.width, self.multiple)

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.ys) * len(self.xs)


def _axis_origins(padded: int, tile: int, stride: int) -> tuple[int, ...]:
    if padded <= tile:
        return (0,)
    return (*range(0, padded - tile, stride), padded - tile)


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int) -> TilePlan:
    """Plan fixed-shape tiles over a page of ``height`` x ``width`` pixels.

    Tile shape is (min(tile, Hp), min(tile, Wp)); origins are 0, stride, 2*stride, ... with
    stride = tile - overlap, plus a last one flush with the padded border.

    Raises:
        TilingError: non-positive sizes, ``tile`` or ``overlap`` not a multiple of ``multiple``,
            or ``overlap >= tile``.
    """
    if multiple < 1:
        raise TilingError(f"size multiple must be >= 1, got {multiple}")
    if height < 1 or width < 1:
        raise TilingError(f"page size must be positive, got {width}x{height}")
    if tile < multiple or tile % multiple:
        raise TilingError(f"tile size {tile} must be a positive multiple of the model size multiple {multiple}")
    if overlap < 0 or overlap % multiple or overlap >= tile:
        raise TilingError(f"overlap {overlap} must be a multiple of {multiple} in [0, tile size {tile})")
    hp, wp = _round_up(height, multiple), _round_up(width, multiple)
    th, tw = min(tile, hp), min(tile, wp)
    stride = tile - overlap
    return TilePlan(height, width, th, tw, overlap, multiple, _axis_origins(hp, th, stride), _axis_origins(wp, tw, stride))


def _ramp(overlap: int) -> np.ndarray:
    """Rising weight over an overlap of ``overlap`` px: 0 over the first quarter, a raised cosine
    over the middle half, 1 over the last quarter. float64 (overlap,)."""
    margin = overlap // 4
    length = overlap - 2 * margin
    out = np.zeros(overlap, dtype=np.float64)
    u = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    out[margin : margin + length] = 0.5 - 0.5 * np.cos(np.pi * u)
    out[margin + length :] = 1.0
    return out


def axis_weights(origins: Sequence[int], tile: int) -> np.ndarray:
    """Blending weights of the tiles along one axis, float32 (n_tiles, tile).

    Weight is zero within ``actual_overlap // 4`` of a tile's inner edge, 1 at page borders, and
    the weights of the tiles covering any position sum to 1 (normalised in float64).
    """
    n = len(origins)
    w = np.ones((n, tile), dtype=np.float64)
    for k in range(1, n):
        ov = origins[k - 1] + tile - origins[k]
        rise = _ramp(ov)
        w[k, :ov] *= rise
        w[k - 1, tile - ov :] *= 1.0 - rise
    total = np.zeros(origins[-1] + tile, dtype=np.float64)
    for k, o in enumerate(origins):
        total[o : o + tile] += w[k]
    for k, o in enumerate(origins):
        w[k] /= total[o : o + tile]
    return w.astype(np.float32)


def _array_reader(page: np.ndarray) -> RegionReader:
    """Reader of reflect-padded regions of an (H, W, C) uint8/uint16/float array, as float32 [0, 1]."""
    if page.dtype == np.uint8:
        scale: float | None = 1.0 / 255.0
    elif page.dtype == np.uint16:
        scale = 1.0 / 65535.0
    elif np.issubdtype(page.dtype, np.floating):
        scale = None
    else:
        raise TilingError(f"unsupported page dtype {page.dtype} (expected uint8, uint16 or float)")
    h, w = page.shape[:2]

    def read(y0: int, x0: int, rh: int, rw: int) -> np.ndarray:
        if y0 + rh <= h and x0 + rw <= w:
            region = page[y0 : y0 + rh, x0 : x0 + rw]
        else:
            rows = reflect_indices(h, y0, rh)
            cols = reflect_indices(w, x0, rw)
            region = page[rows[:, None], cols[None, :]]
        if scale is None:
            return region.astype(np.float32)
        return region.astype(np.float32) * np.float32(scale)

    return read


def _make_reader(source: Source, height: int, width: int) -> RegionReader:
    """Wrap ``source`` into a checked region reader of the reflect-padded page."""
    if isinstance(source, np.ndarray):
        page = source[:, :, None] if source.ndim == 2 else source
        if page.ndim != 3 or page.shape[:2] != (height, width):
            raise TilingError(f"source of shape {source.shape} does not match the page {width}x{height}")
        return _array_reader(page)
    if not callable(source):
        raise TilingError(f"source must be an (H, W, C) array or a region reader, got {type(source).__name__}")

    def read(y0: int, x0: int, rh: int, rw: int) -> np.ndarray:
        region = np.asarray(source(y0, x0, rh, rw), dtype=np.float32)
        if region.ndim != 3 or region.shape[:2] != (rh, rw):
            raise TilingError(f"source returned shape {region.shape} for a {rw}x{rh} region at ({y0}, {x0})")
        return region

    return read


def _call_fn(fn: TileFn, batch: np.ndarray, out_channels: int) -> np.ndarray:
    """Run ``fn`` on a batch and check its (N, h, w, out_channels) result; float32."""
    result = np.asarray(fn(batch), dtype=np.float32)
    expected = (*batch.shape[:3], out_channels)
    if result.shape != expected:
        raise TilingError(f"model function returned shape {result.shape}, expected {expected}")
    return result


def _store(out: np.ndarray, y0: int, block: np.ndarray) -> None:
    """Write a float32 block into ``out`` rows from ``y0``, converting IN PLACE in ``block``
    (uint8: clipped to [0, 1], rounded to nearest), so no extra page-wide temporary is made."""
    if out.dtype == np.uint8:
        np.clip(block, 0.0, 1.0, out=block)
        block *= 255.0
        block += 0.5
    out[y0 : y0 + block.shape[0]] = block


def _check_out_dtype(out_dtype: Any) -> np.dtype:
    dtype = np.dtype(out_dtype)
    if dtype not in _OUT_DTYPES:
        raise TilingError(f"out_dtype must be float32 or uint8, got {dtype}")
    return dtype


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        logger.info("tiled run cancelled")
        raise CancelledError()


class _Strip:
    """float32 accumulator for one tile row: (th, Wp, C) weighted sums and (th, Wp, 1) weights."""

    def __init__(self, plan: TilePlan, channels: int) -> None:
        self.plan = plan
        self.acc = np.zeros((plan.tile_h, plan.padded_width, channels), dtype=np.float32)
        self.wsum = np.zeros((plan.tile_h, plan.padded_width, 1), dtype=np.float32)

    def add(self, tile_out: np.ndarray, x0: int, wy: np.ndarray, wx: np.ndarray) -> None:
        """Accumulate one tile result (th, tw, C) at column ``x0`` with separable weights."""
        w2 = wy[:, None, None] * wx[None, :, None]
        tw = self.plan.tile_w
        self.acc[:, x0 : x0 + tw] += tile_out * w2
        self.wsum[:, x0 : x0 + tw] += w2

    def flush(self, out: np.ndarray, y0: int, rows: int) -> None:
        """Write the first ``rows`` strip rows (page rows y0...) into ``out`` and shift the strip up."""
        n = min(rows, self.plan.height - y0)
        if n > 0:
            w = self.plan.width
            block = self.acc[:n, :w]
            block /= self.wsum[:n, :w]
            _store(out, y0, block)
        keep = self.plan.tile_h - rows
        if keep > 0:
            self.acc[:keep] = self.acc[rows:].copy()
            self.wsum[:keep] = self.wsum[rows:].copy()
        self.acc[max(keep, 0) :] = 0.0
        self.wsum[max(keep, 0) :] = 0.0


def run_tiled(
    source: Source,
    fn: TileFn,
    plan: TilePlan,
    out_channels: int,
    *,
    batch_size: int = 1,
    out_dtype: Any = np.float32,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Run ``fn`` tile by tile over a page and blend the results.

    Args:
        source: (H, W, C) uint8/uint16/float array (converted to float32 [0, 1] per tile), or a
            region reader ``(y0, x0, h, w) -> float32 (h, w, C)`` of the reflect-padded page.
        fn: float32 (N, th, tw, C) -> (N, th, tw, out_channels); N <= batch_size.
        plan: from :func:`plan_tiles`, for this page's size.
        out_channels: channels of ``fn``'s output.
        batch_size: tiles per call of ``fn`` (tiles of one tile row).
        out_dtype: np.float32 (unclipped) or np.uint8 (clipped, rounded).
        progress: called as progress(tiles_done, n_tiles) after each batch.
        cancel: polled before each batch; True raises CancelledError.

    Returns:
        (H, W, out_channels) array of ``out_dtype``.

    Raises:
        TilingError: bad arguments, or source/fn returning the wrong shape.
        CancelledError: ``cancel()`` returned True.
    """
    dtype = _check_out_dtype(out_dtype)
    if batch_size < 1 or out_channels < 1:
        raise TilingError(f"batch_size ({batch_size}) and out_channels ({out_channels}) must be >= 1")
    reader = _make_reader(source, plan.height, plan.width)
    wy, wx = axis_weights(plan.ys, plan.tile_h), axis_weights(plan.xs, plan.tile_w)
    out = np.empty((plan.height, plan.width, out_channels), dtype=dtype)
    strip = _Strip(plan, out_channels)
    done = 0
    for i, y0 in enumerate(plan.ys):
        for start in range(0, len(plan.xs), batch_size):
            _check_cancel(cancel)
            cols = list(enumerate(plan.xs))[start : start + batch_size]
            batch = np.stack([reader(y0, x0, plan.tile_h, plan.tile_w) for _, x0 in cols])
            result = _call_fn(fn, batch, out_channels)
            for n, (j, x0) in enumerate(cols):
                strip.add(result[n], x0, wy[i], wx[j])
            done += len(cols)
            if progress is not None:
                progress(done, plan.n_tiles)
        next_y = plan.ys[i + 1] if i + 1 < len(plan.ys) else plan.padded_height
        strip.flush(out, y0, next_y - y0)
    return out


def run_whole(
    source: Source,
    fn: TileFn,
    multiple: int,
    out_channels: int,
    *,
    shape_hw: tuple[int, int] | None = None,
    out_dtype: Any = np.float32,
) -> np.ndarray:
    """Reference whole-page run: ``fn`` on the reflect-padded page (1, Hp, Wp, C), cropped.

    ``shape_hw`` (H, W) is required when ``source`` is a region reader. Returns (H, W,
    out_channels) of ``out_dtype``. Raises TilingError on bad arguments or shapes.
    """
    dtype = _check_out_dtype(out_dtype)
    height, width = _page_shape(source, shape_hw)
    reader = _make_reader(source, height, width)
    page = reader(0, 0, _round_up(height, multiple), _round_up(width, multiple))
    result = _call_fn(fn, page[None], out_channels)[0, :height, :width]
    out = np.empty((height, width, out_channels), dtype=dtype)
    _store(out, 0, result.copy())
    return out


def _page_shape(source: Source, shape_hw: tuple[int, int] | None) -> tuple[int, int]:
    if isinstance(source, np.ndarray):
        return int(source.shape[0]), int(source.shape[1])
    if shape_hw is None:
        raise TilingError("shape_hw is required when the source is a region reader")
    return int(shape_hw[0]), int(shape_hw[1])


def run_tiled_with_retry(
    source: Source,
    fn: TileFn,
    *,
    tile: int,
    overlap: int,
    multiple: int,
    out_channels: int,
    is_oom: Callable[[BaseException], bool] | None = None,
    min_tile: int = 64,
    shape_hw: tuple[int, int] | None = None,
    **kw: Any,
) -> np.ndarray:
    """:func:`run_tiled`, halving the tile after an out-of-memory error.

    An error is out-of-memory if it is a MemoryError or ``is_oom(exc)`` is True (e.g. an
    onnxruntime allocation failure). The tile is halved (rounded down to a multiple of
    ``multiple``, kept >= overlap + multiple and >= ``min_tile``) and the run restarts.
    ``kw`` goes to :func:`run_tiled`; ``shape_hw`` is required for a region-reader source.

    Raises:
        TilingError: out of memory at the smallest allowed tile (chained to the last error).
        CancelledError: as run_tiled. Other errors from ``fn`` propagate unchanged.
    """
    height, width = _page_shape(source, shape_hw)
    floor = max(_round_up(max(min_tile, 1), multiple), overlap + multiple)
    while True:
        plan = plan_tiles(height, width, tile, overlap, multiple)
        try:
            return run_tiled(source, fn, plan, out_channels, **kw)
        except CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - filtered just below, re-raised if not OOM
            if not (isinstance(exc, MemoryError) or (is_oom is not None and is_oom(exc))):
                raise
            current = max(plan.tile_h, plan.tile_w)
            smaller = max((current // 2) // multiple * multiple, floor)
            if smaller >= current:
                raise TilingError(
                    f"out of memory even with {current} px tiles (smallest allowed {floor} px): {exc}"
                ) from exc
            logger.warning("out of memory with %d px tiles (%s); retrying with %d px", current, exc, smaller)
            tile = smaller


#: Name used in DEVELOPERS.md.
tiled_with_oom_retry = run_tiled_with_retry


__all__ = ["TilePlan", "axis_weights", "plan_tiles", "reflect_indices", "run_tiled", "run_tiled_with_retry",
           "run_whole", "tiled_with_oom_retry", "validate_origins"]
