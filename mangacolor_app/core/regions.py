"""Regions of a page for colour matching: the closed areas of the line art, their stats and neighbours.

The same idea as the flats fill (:mod:`mangacolor_app.core.flats`), written independently so that
matching does not depend on the fill's internals: ink = line darker than a clamped Otsu level, small
ink blobs (tone dots, specks) are no barrier, the barrier is dilated to close small gaps, the rest is
labelled 4-connected, regions under a minimum area are dropped (label 0). Every pixel also gets the
nearest region (``owner``), which gives neighbour relations across the ink.

:func:`region_stats` measures per region, with ``np.bincount`` over the whole page (no per-region
loops): area, centroid, second moments, perimeter, mean/std of the page luma and of an optional
colour, bounding box. :func:`adjacency` lists touching region pairs with the length of their border.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "RegionMap", "RegionStats", "label_regions", "region_stats", "region_means", "adjacency", "ink_line_from_colour",
    "colour_edges", "is_toned",
]

log = logging.getLogger(__name__)

#: Ink gap closed at 300 dpi (px) and the long side assumed for a 300 dpi page of unknown dpi.
GAP_PX_300DPI = 3.0
REFERENCE_LONG_SIDE_PX = 3000.0
#: Largest ink blob (px at 300 dpi) that is a tone dot rather than a line.
DOT_AREA_300DPI = 48.0
#: Clamp of the automatic ink level.
OTSU_CLAMP = (0.30, 0.85)
#: Smallest region kept, as a share of the page's pixels (and at least MIN_AREA_PX).
MIN_AREA_SHARE = 2e-5
MIN_AREA_PX = 12
#: Pages with more pixels are measured on a 2x subsample by :func:`region_stats`.
STATS_FULL_PIXELS = 2_500_000
#: Share of mid-grey pixels above which a page is toned (greys, screentones) rather than bare line art.
TONED_SHARE = 0.08


@dataclass
class RegionMap:
    """Regions of one page.

    Attributes:
        labels: (H, W) int32, 0 = ink, gap halo or a dropped tiny region; 1..n = regions.
        owner: (H, W) int32, the nearest region of every pixel (1..n; 0 only if there is no region).
        n: number of regions.
        area: (n+1,) float64 pixels per label (row 0 = label 0).
        bbox: (n+1, 4) int32 x0, y0, x1, y1 (exclusive) per label.
    """

    labels: np.ndarray
    owner: np.ndarray
    n: int
    area: np.ndarray
    bbox: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.labels.shape[0]), int(self.labels.shape[1])


@dataclass
class RegionStats:
    """Per-region measurements; every array has n + 1 rows (row 0 = label 0, unused).

    Attributes:
        area: (n+1,) float64 pixels.
        cx, cy: (n+1,) float64 centroid.
        cov: (n+1, 3) float64 central second moments (xx, yy, xy) per pixel.
        perimeter: (n+1,) float64 count of region pixels bordering another label.
        luma_mean, luma_std: (n+1,) float64 page luma inside the region, [0, 1].
        ink_share: (n+1,) float64 share of the region's territory (its pixels and the ink and gap
            pixels nearest to it) that is ink or gap: outlines, and inner strokes (hair strands, folds).
        bbox: (n+1, 4) int32 x0, y0, x1 (exclusive), y1 (exclusive).
    """

    area: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    cov: np.ndarray
    perimeter: np.ndarray
    luma_mean: np.ndarray
    luma_std: np.ndarray
    bbox: np.ndarray
    ink_share: np.ndarray


def page_scale(height: int, width: int, dpi: float | None = None) -> float:
    """Size of the page's features relative to a 300 dpi page."""
    if dpi is not None and dpi > 0:
        return float(dpi) / 300.0
    return max(height, width) / REFERENCE_LONG_SIDE_PX


def _to_u8(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)


def ink_line_from_colour(rgb: np.ndarray) -> np.ndarray:
    """Line art of a coloured page: (H, W) float32 [0, 1], 1 = paper.

    The largest channel (HSV value) is used rather than luma, so saturated dark colours (a red
    dress) stay paper and only near-black, unsaturated pixels read as ink.

    Args:
        rgb: (H, W, 3) float32 [0, 1].
    """
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) colour image, got shape {rgb.shape}")
    r, g, b = cv2.split(np.ascontiguousarray(rgb))
    return cv2.max(cv2.max(r, g), b)


def colour_edges(lab: np.ndarray, threshold: float, sigma: float = 1.0) -> np.ndarray:
    """(H, W) bool: pixels where a CIELAB image (H, W, 3) or L plane (H, W) float32 changes by more
    than ``threshold`` units per pixel (Sobel / 8 after a Gaussian blur of ``sigma`` px)."""
    planes = [lab] if lab.ndim == 2 else [lab[..., c] for c in range(lab.shape[2])]
    mag = np.zeros(lab.shape[:2], np.float32)
    for plane in planes:
        smooth = cv2.GaussianBlur(np.ascontiguousarray(plane, np.float32), (0, 0), sigma)
        gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) * np.float32(1 / 8)
        gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) * np.float32(1 / 8)
        mag += gx * gx + gy * gy
    return mag > np.float32(threshold * threshold)


def is_toned(line_gray: np.ndarray) -> bool:
    """Whether a page has grey tones (mid greys over more than ``TONED_SHARE`` of it), not bare line art."""
    sample = np.asarray(line_gray, np.float32)[::4, ::4]
    return float(((sample > 0.2) & (sample < 0.9)).mean()) > TONED_SHARE


def label_regions(
    line_gray: np.ndarray,
    *,
    dpi: float | None = None,
    ink_threshold: float | None = None,
    extra_barrier: np.ndarray | None = None,
    min_area: int | None = None,
) -> RegionMap:
    """Divide a page into the closed regions of its line art.

    Args:
        line_gray: (H, W) float32 [0, 1], 1 = paper.
        dpi: page resolution (scales gap and dot sizes); default from the long side.
        ink_threshold: line values below it are ink; default clamped Otsu.
        extra_barrier: optional (H, W) bool, more pixels that separate regions (colour edges).
        min_area: smallest region kept in px; default ``MIN_AREA_SHARE`` of the page.

    Returns:
        the :class:`RegionMap`.

    Raises:
        ValueError: ``line_gray`` is not a non-empty 2-D array, or ``extra_barrier`` does not match.
    """
    line = np.asarray(line_gray, np.float32)
    if line.ndim != 2 or line.size == 0:
        raise ValueError(f"line_gray must be a non-empty (H, W) array, got shape {line.shape}")
    h, w = line.shape
    scale = page_scale(h, w, dpi)
    line8 = _to_u8(line)
    if ink_threshold is None:
        otsu, _ = cv2.threshold(line8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        level = int(round(float(np.clip(otsu / 255.0, *OTSU_CLAMP)) * 255))
    else:
        level = int(round(float(np.clip(ink_threshold, 0, 1)) * 255))
    ink = (line8 < level).view(np.uint8)
    dot_area = max(4, int(round(DOT_AREA_300DPI * scale * scale)))
    n_ink, ink_lab, ink_stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_32S)
    keep = (ink_stats[:, cv2.CC_STAT_AREA] > dot_area).astype(np.uint8)
    keep[0] = 0
    barrier = keep[ink_lab]
    del ink_lab
    if extra_barrier is not None:
        if extra_barrier.shape != line.shape:
            raise ValueError(f"extra_barrier {extra_barrier.shape} does not match the line {line.shape}")
        barrier |= extra_barrier.astype(np.uint8)
    radius = int(math.ceil(max(1.0, GAP_PX_300DPI * scale) / 2.0))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    barrier = cv2.dilate(barrier, kernel)
    free = (barrier == 0).view(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
    floor = max(MIN_AREA_PX, int(MIN_AREA_SHARE * h * w)) if min_area is None else int(min_area)
    big = stats[:, cv2.CC_STAT_AREA] >= floor
    big[0] = False
    relabel = np.zeros(n, np.int32)
    relabel[big] = np.arange(1, int(big.sum()) + 1, dtype=np.int32)
    labels = relabel[labels]
    count = int(big.sum())
    owner = _owner_map(labels) if count else np.zeros_like(labels)
    kept = np.concatenate([[0], np.flatnonzero(big)])
    area = stats[kept, cv2.CC_STAT_AREA].astype(np.float64)
    area[0] = float(h * w - area[1:].sum())
    x0, y0 = stats[kept, cv2.CC_STAT_LEFT], stats[kept, cv2.CC_STAT_TOP]
    bbox = np.stack([x0, y0, x0 + stats[kept, cv2.CC_STAT_WIDTH], y0 + stats[kept, cv2.CC_STAT_HEIGHT]], 1)
    log.debug("regions: %d kept of %d (min area %d px, gap radius %d)", count, n - 1, floor, radius)
    return RegionMap(labels=labels, owner=owner, n=count, area=area, bbox=bbox.astype(np.int32))


def _owner_map(labels: np.ndarray) -> np.ndarray:
    """Every pixel's nearest region label (labelled distance transform over the non-region pixels)."""
    gaps = (labels == 0).view(np.uint8)
    values = labels[gaps == 0]  # raster order = DIST_LABEL_PIXEL numbering
    _, nearest = cv2.distanceTransformWithLabels(gaps, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    owner = labels.copy()
    idx = np.flatnonzero(gaps)
    owner.flat[idx] = values[nearest.flat[idx] - 1]
    return owner


def region_stats(rmap: RegionMap, line_gray: np.ndarray) -> RegionStats:
    """Measure every region (see :class:`RegionStats`). ``line_gray``: (H, W) float32 [0, 1].

    Pages over ``STATS_FULL_PIXELS`` are measured on every second row and column (moments, grey
    levels and perimeter, rescaled); areas and boxes are exact.
    """
    step = 2 if rmap.labels.size > STATS_FULL_PIXELS else 1
    labels = rmap.labels[::step, ::step]
    h, w = labels.shape
    m = rmap.n + 1
    lab = labels.ravel()
    count = np.bincount(lab, minlength=m).astype(np.float64)
    safe = np.maximum(count, 1.0)
    xs = np.broadcast_to(np.arange(w, dtype=np.float32) * np.float32(step), (h, w)).ravel()
    ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None] * np.float32(step), (h, w)).ravel()
    cx = np.bincount(lab, xs, m) / safe
    cy = np.bincount(lab, ys, m) / safe
    sxx = np.bincount(lab, xs * xs, m) / safe - cx * cx
    syy = np.bincount(lab, ys * ys, m) / safe - cy * cy
    sxy = np.bincount(lab, xs * ys, m) / safe - cx * cy
    cov = np.maximum(np.stack([sxx, syy, sxy], 1), [0.0, 0.0, -np.inf])
    luma = np.asarray(line_gray, np.float32)[::step, ::step].ravel()
    lm = np.bincount(lab, luma, m) / safe
    lv = np.bincount(lab, luma * luma, m) / safe - lm * lm
    edge = np.zeros((h, w), bool)
    dx = labels[:, :-1] != labels[:, 1:]
    dy = labels[:-1, :] != labels[1:, :]
    edge[:, :-1] |= dx
    edge[:, 1:] |= dx
    edge[:-1, :] |= dy
    edge[1:, :] |= dy
    perimeter = np.bincount(lab[edge.ravel()], minlength=m).astype(np.float64) * step
    owned_ink = np.bincount(rmap.owner[::step, ::step][labels == 0], minlength=m).astype(np.float64)
    ink_share = owned_ink / np.maximum(owned_ink + count, 1.0)
    area = rmap.area.copy()
    area[0] = 0.0
    missed = (count == 0) & (area > 0)  # tiny regions the subsample skipped: centred in their box
    cx[missed] = (rmap.bbox[missed, 0] + rmap.bbox[missed, 2]) / 2
    cy[missed] = (rmap.bbox[missed, 1] + rmap.bbox[missed, 3]) / 2
    lm[missed] = 1.0
    return RegionStats(area=area, cx=cx, cy=cy, cov=cov, perimeter=np.maximum(perimeter, 1.0),
                       luma_mean=lm, luma_std=np.sqrt(np.maximum(lv, 0.0)), bbox=rmap.bbox, ink_share=ink_share)


def region_means(rmap: RegionMap, values: np.ndarray) -> np.ndarray:
    """Mean of a per-pixel (H, W, C) float array inside every region: (n+1, C) float64 (row 0: the rest)."""
    lab = rmap.labels.ravel()
    vals = values.reshape(-1, values.shape[-1])
    m = rmap.n + 1
    out = np.stack([np.bincount(lab, vals[:, c], m) for c in range(vals.shape[1])], 1)
    return out / np.maximum(rmap.area, 1.0)[:, None]


def adjacency(rmap: RegionMap) -> tuple[np.ndarray, np.ndarray]:
    """Touching region pairs (through the ink: the ``owner`` map) and their border length.

    Returns:
        pairs (P, 2) int32 with a < b, both in 1..n; length (P,) float64 border pixels.
    """
    own = rmap.owner
    m = np.int64(rmap.n + 1)
    keys = []
    for a, b in ((own[:, :-1], own[:, 1:]), (own[:-1, :], own[1:, :])):
        diff = a != b
        lo = np.minimum(a[diff], b[diff]).astype(np.int64)
        hi = np.maximum(a[diff], b[diff]).astype(np.int64)
        keys.append(lo * m + hi)
    if not keys or not sum(len(k) for k in keys):
        return np.zeros((0, 2), np.int32), np.zeros(0, np.float64)
    allk = np.concatenate(keys)
    allk = allk[(allk // m > 0)]
    uniq, counts = np.unique(allk, return_counts=True)
    pairs = np.stack([uniq // m, uniq % m], 1).astype(np.int32)
    return pairs, counts.astype(np.float64)
