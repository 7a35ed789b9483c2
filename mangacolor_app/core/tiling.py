"""Exact, memory-bounded overlapping-tile inference over a page (pure numpy).

Planning lives in :mod:`mangacolor_app.core.tileplan` (aligned tiles of one shape, chosen per page
by :func:`best_plan`) and blending weights in :mod:`mangacolor_app.core.blending` (a raised-cosine
ramp in the middle of each actual overlap, zero weight within ``blend_margin(overlap)`` of a tile's
inner edge, weights summing to 1); both are re-exported here. With
``blend_margin(overlap) >= receptive radius`` the tiled output equals the whole-page output up to
float rounding (see :func:`mangacolor_app.core.receptive.recommended_overlap`).

Memory is bounded by the tile size: tile rows go top to bottom into a float32 (tile_h, Wp, C)
strip whose finished rows are written into the output (uint8 if asked); page reads use reflect
indices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from .blending import axis_weights, blend_margin
from .errors import CancelledError, TilingError
from .tileplan import (
    TilePlan,
    TileSize,
    best_plan,
    best_tile,
    plan_tiles,
    reflect_indices,
    round_up,
    validate_origins,
)

logger = logging.getLogger(__name__)

#: ``fn``: float32 (N, th, tw, C) in [0, 1] -> (N, th, tw, out_channels).
TileFn = Callable[[np.ndarray], np.ndarray]
#: Reads a region of the reflect-padded page: ``(y0, x0, h, w) -> float32 (h, w, C)``.
RegionReader = Callable[[int, int, int, int], np.ndarray]
Source = np.ndarray | RegionReader
ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

_OUT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16))
_round_up = round_up


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
    (uint8/uint16: clipped to [0, 1], rounded to nearest, the values ``core.color.to_uint8``/``to_uint16``
    give), so no extra page-wide temporary is made."""
    if out.dtype in (np.uint8, np.uint16):
        np.clip(block, 0.0, 1.0, out=block)
        block *= np.float32(255.0 if out.dtype == np.uint8 else 65535.0)
        block += np.float32(0.5)
    out[y0 : y0 + block.shape[0]] = block


def _check_out_dtype(out_dtype: Any) -> np.dtype:
    dtype = np.dtype(out_dtype)
    if dtype not in _OUT_DTYPES:
        raise TilingError(f"out_dtype must be float32, uint8 or uint16, got {dtype}")
    return dtype


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        logger.info("tiled run cancelled")
        raise CancelledError()


class _Strip:
    """float32 accumulator of weighted tile results for one tile row: (tile_h, Wp, C).

    The blending weights of the tiles covering a pixel sum to 1, so no weight plane is kept.
    """

    def __init__(self, plan: TilePlan, channels: int) -> None:
        self.plan = plan
        self.acc = np.zeros((plan.tile_h, plan.padded_width, channels), dtype=np.float32)

    def add(self, tile_out: np.ndarray, x0: int, wy: np.ndarray, wx: np.ndarray) -> None:
        """Accumulate one tile result (th, tw, C) float32 at column ``x0`` with separable weights
        ``wy`` (th,) and ``wx`` (tw,). ``tile_out`` is scaled IN PLACE (no tile-sized temporaries)."""
        if not (wy == 1.0).all():
            tile_out *= wy[:, None, None]
        if not (wx == 1.0).all():
            tile_out *= wx[None, :, None]
        self.acc[:, x0 : x0 + self.plan.tile_w] += tile_out

    def flush(self, out: np.ndarray, y0: int, rows: int) -> None:
        """Write the first ``rows`` strip rows (page rows y0...) into ``out`` and shift the strip up."""
        n = min(rows, self.plan.height - y0)
        if n > 0:
            _store(out, y0, self.acc[:n, : self.plan.width])
        keep = self.plan.tile_h - rows
        if keep > 0:
            self.acc[:keep] = self.acc[rows:].copy()
        self.acc[max(keep, 0) :] = 0.0


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
        out_dtype: np.float32 (unclipped), or np.uint8 / np.uint16 (clipped, rounded).
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
            regions = [reader(y0, x0, plan.tile_h, plan.tile_w) for _, x0 in cols]
            batch = regions[0][None] if len(regions) == 1 else np.stack(regions)  # no copy for one tile
            result = _call_fn(fn, batch, out_channels)
            if not result.flags.writeable or np.may_share_memory(result, batch):
                result = result.copy()  # the strip scales results in place: never the caller's data
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
    tile: TileSize,
    overlap: int,
    multiple: int,
    out_channels: int,
    is_oom: Callable[[BaseException], bool] | None = None,
    min_tile: int = 64,
    shape_hw: tuple[int, int] | None = None,
    **kw: Any,
) -> np.ndarray:
    """:func:`run_tiled`, halving the tile after an out-of-memory error.

    ``tile`` is a square side or a (tile_h, tile_w) pair (see :func:`plan_tiles`). An error is
    out-of-memory if it is a MemoryError or ``is_oom(exc)`` is True (e.g. an onnxruntime
    allocation failure). Each tile side is halved (rounded down to a multiple of ``multiple``,
    kept >= overlap + multiple and >= ``min_tile``) and the run restarts.
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
            current = (plan.tile_h, plan.tile_w)
            smaller = tuple(max((side // 2) // multiple * multiple, floor) for side in current)
            if all(new >= old for new, old in zip(smaller, current)):
                raise TilingError(
                    f"out of memory even with {current[1]}x{current[0]} px tiles (smallest allowed {floor} px): {exc}"
                ) from exc
            logger.warning("out of memory with %dx%d px tiles (%s); retrying with %dx%d px",
                           current[1], current[0], exc, smaller[1], smaller[0])
            tile = (min(smaller[0], current[0]), min(smaller[1], current[1]))


#: Name used in DEVELOPERS.md.
tiled_with_oom_retry = run_tiled_with_retry


__all__ = ["TilePlan", "TileSize", "axis_weights", "best_plan", "best_tile", "blend_margin", "plan_tiles", "reflect_indices",
           "run_tiled", "run_tiled_with_retry", "run_whole", "tiled_with_oom_retry", "validate_origins"]
