"""Numpy painting on the uint8 RGBA hint layer: soft round dabs, strokes, eraser and region fill.

No Qt here. A stroke keeps the *before* copy of every 64x64 tile it touches and a per-tile
coverage mask (max of the dabs, so overlapping dabs never build up past the stroke opacity);
:meth:`Stroke.patches` returns ``(y, x, before, after)`` for the undo stack, i.e. only the changed
region is stored, never whole layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from mangacolor_app.core.hints import PAPER_KEY_RGBA8

__all__ = ["TILE", "Patch", "BrushParams", "Stroke", "composite", "fill_mask", "fill_patch"]

TILE = 64

#: (y, x, before, after): a rectangle of the layer and its contents before and after an edit.
Patch = tuple[int, int, np.ndarray, np.ndarray]


@dataclass
class BrushParams:
    """Brush settings: diameter in page pixels, hardness and opacity in [0, 1], RGB colour."""

    size: float = 24.0
    hardness: float = 0.6
    opacity: float = 1.0
    color: tuple[int, int, int] = (230, 80, 80)
    erase: bool = False
    paper: bool = False  # the Paper ("keep blank") key: hard-edged, exactly core.hints.PAPER_KEY_RGBA8


def _dab_alpha(radius: float, hardness: float, cx: float, cy: float, x0: int, y0: int,
               h: int, w: int) -> np.ndarray:
    """(h, w) float32 coverage of a round dab centred at (cx, cy), box origin (x0, y0)."""
    ys = np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5 - cy
    xs = np.arange(x0, x0 + w, dtype=np.float32)[None, :] + 0.5 - cx
    d = np.sqrt(xs * xs + ys * ys) / max(radius, 0.5)
    inner = min(max(hardness, 0.0), 0.999)
    t = np.clip((1.0 - d) / (1.0 - inner), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def composite(before: np.ndarray, mask: np.ndarray, params: BrushParams) -> np.ndarray:
    """Layer pixels for stroke coverage ``mask`` ((h, w) float32) over ``before`` ((h, w, 4) uint8).

    Painting is straight-alpha "over" with ``params.opacity``; erasing scales alpha down. Pixels
    where ``mask`` is 0 are returned unchanged (byte-exact).
    """
    if params.paper:  # exact key bytes where the dab covers at least half a pixel (no blending)
        return np.where((mask >= 0.5)[..., None], np.asarray(PAPER_KEY_RGBA8, np.uint8), before)
    src_a = mask * np.float32(params.opacity)
    dst = before.astype(np.float32) / 255.0
    out = dst.copy()
    if params.erase:
        out[..., 3] = dst[..., 3] * (1.0 - src_a)
    else:
        color = np.asarray(params.color, np.float32) / 255.0
        keep = dst[..., 3] * (1.0 - src_a)
        out_a = src_a + keep
        safe = np.maximum(out_a, 1e-6)[..., None]
        out[..., :3] = (color * src_a[..., None] + dst[..., :3] * keep[..., None]) / safe
        out[..., 3] = out_a
    new = np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.where((mask > 0)[..., None], new, before)


class Stroke:
    """One brush or eraser stroke on ``layer`` ((H, W, 4) uint8, modified in place)."""

    def __init__(self, layer: np.ndarray, params: BrushParams) -> None:
        self.layer = layer
        self.params = params
        self.before: dict[tuple[int, int], np.ndarray] = {}
        self.mask: dict[tuple[int, int], np.ndarray] = {}
        self._last: tuple[float, float, float] | None = None

    def _tile_box(self, ty: int, tx: int) -> tuple[int, int, int, int]:
        h, w = self.layer.shape[:2]
        y0, x0 = ty * TILE, tx * TILE
        return y0, x0, min(y0 + TILE, h), min(x0 + TILE, w)

    def _ensure_tile(self, key: tuple[int, int]) -> None:
        if key not in self.before:
            y0, x0, y1, x1 = self._tile_box(*key)
            self.before[key] = self.layer[y0:y1, x0:x1].copy()
            self.mask[key] = np.zeros((y1 - y0, x1 - x0), np.float32)

    def dab(self, cx: float, cy: float, pressure: float = 1.0) -> tuple[int, int, int, int] | None:
        """Stamp one dab; return its dirty box (x0, y0, x1, y1) or None when off the layer."""
        box = self._stamp(cx, cy, pressure)
        if box is not None:
            self._composite(box)
        return box

    def _stamp(self, cx: float, cy: float, pressure: float) -> tuple[int, int, int, int] | None:
        """Add one dab to the stroke's coverage masks (the layer is not touched); its box or None."""
        h, w = self.layer.shape[:2]
        radius = max(0.5, self.params.size * max(pressure, 0.05) / 2.0)
        x0, y0 = max(0, int(math.floor(cx - radius))), max(0, int(math.floor(cy - radius)))
        x1, y1 = min(w, int(math.ceil(cx + radius)) + 1), min(h, int(math.ceil(cy + radius)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        alpha = _dab_alpha(radius, self.params.hardness, cx, cy, x0, y0, y1 - y0, x1 - x0)
        for key, (iy0, ix0, iy1, ix1), (ty0, tx0) in self._tiles_in((x0, y0, x1, y1)):
            m = self.mask[key][iy0 - ty0:iy1 - ty0, ix0 - tx0:ix1 - tx0]
            np.maximum(m, alpha[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0], out=m)
        return x0, y0, x1, y1

    def _composite(self, box: tuple[int, int, int, int]) -> None:
        """Recomposite the layer inside ``box`` from the saved pixels and the coverage, once per tile."""
        for key, (iy0, ix0, iy1, ix1), (ty0, tx0) in self._tiles_in(box, create=False):
            m = self.mask[key][iy0 - ty0:iy1 - ty0, ix0 - tx0:ix1 - tx0]
            before = self.before[key][iy0 - ty0:iy1 - ty0, ix0 - tx0:ix1 - tx0]
            self.layer[iy0:iy1, ix0:ix1] = composite(before, m, self.params)

    def _tiles_in(self, box: tuple[int, int, int, int], create: bool = True) -> Iterator[
            tuple[tuple[int, int], tuple[int, int, int, int], tuple[int, int]]]:
        """(tile key, the box's part in it (y0, x0, y1, x1), tile origin (y, x)) for the tiles ``box``
        touches; tiles are saved on first touch (``create``), else tiles never stamped are skipped."""
        x0, y0, x1, y1 = box
        for ty in range(y0 // TILE, (y1 - 1) // TILE + 1):
            for tx in range(x0 // TILE, (x1 - 1) // TILE + 1):
                key = (ty, tx)
                if not create and key not in self.before:
                    continue
                self._ensure_tile(key)
                ty0, tx0, ty1, tx1 = self._tile_box(*key)
                iy0, ix0, iy1, ix1 = max(y0, ty0), max(x0, tx0), min(y1, ty1), min(x1, tx1)
                if iy0 < iy1 and ix0 < ix1:
                    yield key, (iy0, ix0, iy1, ix1), (ty0, tx0)

    def line_to(self, x: float, y: float, pressure: float = 1.0) -> tuple[int, int, int, int] | None:
        """Continue the stroke to (x, y) with dabs every quarter radius; return the dirty box.

        The dabs only extend the coverage; the layer is recomposited once over their union.
        """
        if self._last is None:
            self._last = (x, y, pressure)
            return self.dab(x, y, pressure)
        lx, ly, lp = self._last
        dist = math.hypot(x - lx, y - ly)
        step = max(1.0, self.params.size * max(min(lp, pressure), 0.05) / 8.0)
        n = max(1, int(math.ceil(dist / step)))
        box: tuple[int, int, int, int] | None = None
        for i in range(1, n + 1):
            t = i / n
            b = self._stamp(lx + (x - lx) * t, ly + (y - ly) * t, lp + (pressure - lp) * t)
            box = _union(box, b)
        self._last = (x, y, pressure)
        if box is not None:
            self._composite(box)
        return box

    def patches(self) -> list[Patch]:
        """``(y, x, before, after)`` of every touched tile (after = current layer contents)."""
        out: list[Patch] = []
        for key, before in self.before.items():
            y0, x0, y1, x1 = self._tile_box(*key)
            after = self.layer[y0:y1, x0:x1]
            if not np.array_equal(before, after):
                out.append((y0, x0, before, after.copy()))
        return out


def _union(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
    """Union of two (x0, y0, x1, y1) boxes (None = empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def fill_mask(line_gray: np.ndarray, x: int, y: int, threshold: float = 0.5) -> tuple[int, int, np.ndarray] | None:
    """The line-art region containing (x, y) (paper or ink, 4-connected), cropped to its bounding box.

    Args:
        line_gray: (H, W) float32 in [0, 1], 1 = paper.
        x, y: seed pixel.
        threshold: values below it are ink (barriers when the seed is on paper).

    Returns:
        (y0, x0, mask): the box's top-left corner and a boolean (h, w) mask of the region inside it
        (the flood fill's own rectangle: no page-sized scan); None when (x, y) is outside the page.
    """
    h, w = line_gray.shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    binary = (line_gray >= threshold).view(np.uint8)
    flood = np.zeros((h + 2, w + 2), np.uint8)
    _, _, _, (bx, by, bw, bh) = cv2.floodFill(binary, flood, (int(x), int(y)), 2, 0, 0,
                                              flags=4 | (1 << 8) | cv2.FLOODFILL_MASK_ONLY)
    return by, bx, flood[1 + by : 1 + by + bh, 1 + bx : 1 + bx + bw].astype(bool)


def fill_patch(layer: np.ndarray, region: tuple[int, int, np.ndarray], color: tuple[int, int, int],
               opacity: float = 1.0) -> Patch | None:
    """Fill ``region`` (:func:`fill_mask`'s (y0, x0, mask)) on ``layer`` in place with ``color``;
    return the patch of the changed box."""
    y0, x0, mask = region
    if not mask.any():
        return None
    y1, x1 = y0 + mask.shape[0], x0 + mask.shape[1]
    before = layer[y0:y1, x0:x1].copy()
    params = BrushParams(opacity=opacity, color=color)
    after = composite(before, mask.astype(np.float32), params)
    layer[y0:y1, x0:x1] = after
    return y0, x0, before, after.copy()
