"""Flats: every closed region of the line art filled with one solid colour, exactly up to the ink.

This is the paint-bucket / colorize-mask step colourists start from (cf. Krita's colorize mask or
LazyBrush). Hint strokes are seeds; ink is the barrier; small gaps in the ink are closed for region
finding only, so the fill still reaches the real ink; ink pixels take the colour of the region they
bound. Screentone dots (small isolated ink blobs) are not barriers unless asked.

Pure numpy + OpenCV, full resolution. Outline of :func:`compute_flats`:

1. ink = line darker than a threshold (Otsu, clamped to a sane range, unless given);
2. tone dots (ink components smaller than a dpi-scaled area) are removed from the barrier;
3. the barrier is dilated by about half the gap size, and the remaining paper is labelled (4-connected);
4. each region with hint pixels takes their colour; a region holding several hint colours is split
   between them by a watershed on the line darkness (faint lines, then proximity);
5. the dilated halo and the ink take the value of the nearest region pixel (a labelled distance
   transform), so unhinted regions keep their side of a line empty.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from mangacolor_app.core.errors import HintError

__all__ = ["compute_flats", "flats_composite", "default_gap_px", "page_flats"]

log = logging.getLogger(__name__)

#: Gap closed by default at 300 dpi, in pixels.
DEFAULT_GAP_PX_300DPI = 3.0
#: Long side, in pixels, of a page assumed to be scanned at 300 dpi when the dpi is unknown (B5-ish).
REFERENCE_LONG_SIDE_PX = 3000.0
#: Largest ink blob (pixels, at 300 dpi) counted as a screentone dot rather than line art.
TONE_DOT_AREA_300DPI = 48.0
#: Range the automatic (Otsu) ink threshold is clamped to.
OTSU_CLAMP = (0.30, 0.85)
#: Grey level given to region pixels in the watershed image is darkness * this (outside = 255).
_WS_DARKNESS_SPAN = 100.0
#: Regions whose bounding box has more pixels are split between hint colours at a reduced scale.
_WS_MAX_PIXELS = 1 << 20


def default_gap_px(height: int, width: int, dpi: float | None = None) -> float:
    """Default ink gap closed by :func:`compute_flats`, in pixels.

    Args:
        height, width: page size in pixels.
        dpi: the page resolution if known; otherwise the long side is taken as a 300 dpi page of
            ``REFERENCE_LONG_SIDE_PX`` pixels.

    Returns:
        ``3 px x scale`` (scale = dpi / 300), at least 1.0.
    """
    return max(1.0, DEFAULT_GAP_PX_300DPI * _page_scale(height, width, dpi))


def page_flats(line_gray: np.ndarray, hints: np.ndarray, dpi: tuple[float, float] | None) -> np.ndarray:
    """:func:`compute_flats` with the defaults scaled to a page's resolution ``dpi`` ((x, y) or None):
    the flats the CLI, the editor and export all compute for a page. Shapes, ranges and errors as
    :func:`compute_flats`."""
    return compute_flats(line_gray, hints, dpi=dpi[0] if dpi else None)


def compute_flats(
    line_gray: np.ndarray,
    hints: np.ndarray,
    *,
    gap_close_px: float | None = None,
    ink_threshold: float | None = None,
    tones_are_barriers: bool = False,
    dpi: float | None = None,
) -> np.ndarray:
    """Fill every hinted closed region of the line art with its hint colour.

    Args:
        line_gray: (H, W) float32 in [0, 1], 1 = paper, 0 = ink.
        hints: (H, W, 4) float32 RGBA in [0, 1]; pixels with alpha > 0 are seeds of colour rgb
            (straight alpha; colours are compared at 8-bit precision).
        gap_close_px: ink gaps up to about this many pixels are closed for region finding; 0 closes
            none. Default: :func:`default_gap_px` (3 px at 300 dpi).
        ink_threshold: line values below it are ink. Default: Otsu's threshold clamped to
            ``OTSU_CLAMP``.
        tones_are_barriers: if False (default), isolated small ink blobs (screentone dots, specks)
            do not stop the fill.
        dpi: page resolution, used to scale the default gap and the tone-dot size.

    Returns:
        (H, W, 4) float32 RGBA: rgb = fill colour, alpha = 1 where a hinted region reaches
        (including the ink bounding it), 0 elsewhere (rgb 0 there). No hints -> all zeros.

    Raises:
        HintError: ``hints`` is not (H, W, 4) with the line's H and W.
        ValueError: ``line_gray`` is not a non-empty 2-D array.
    """
    line, hints = _validate(line_gray, hints)
    h, w = line.shape
    seed_mask = hints[..., 3] > 0
    if not seed_mask.any():
        return np.zeros((h, w, 4), np.float32)
    scale = _page_scale(h, w, dpi)
    gap = default_gap_px(h, w, dpi) if gap_close_px is None else max(0.0, float(gap_close_px))
    line8 = _to_u8(line)
    ink = (line8 < _ink_level(line8, ink_threshold)).astype(np.uint8)
    dot_area = max(4, int(round(TONE_DOT_AREA_300DPI * scale * scale)))
    barrier = ink if tones_are_barriers else _drop_small_blobs(ink, dot_area)
    radius = int(math.ceil(gap / 2.0)) if gap > 0 else 0
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        barrier = cv2.dilate(barrier, kernel)
    regions, stats = _label_regions(barrier)
    palette, fill = _assign_colours(regions, stats, dot_area, seed_mask, hints, line8)
    del regions, barrier, ink
    if not _propagate_into_barrier(fill):
        log.warning("flats: the page is all ink after gap closing (gap=%.1f px); nothing filled", gap)
        return np.zeros((h, w, 4), np.float32)
    rgba = np.zeros((len(palette) + 1, 4), np.float32)
    rgba[1:, :3] = palette
    rgba[1:, 3] = 1.0
    # one 16-byte gather per pixel: RGBA float32 rows viewed as complex128
    out = rgba.view(np.complex128)[:, 0][fill].view(np.float32).reshape(h, w, 4)
    log.debug("flats: %d regions, %d colours, gap=%.1f px, dot_area=%d", len(stats) - 1, len(palette), gap, dot_area)
    return out


def flats_composite(flats: np.ndarray, line_gray: np.ndarray) -> np.ndarray:
    """Flats multiplied by the line art, white where the flats are empty (flats-only preview/export).

    Args:
        flats: (H, W, 4) float32 RGBA in [0, 1], as returned by :func:`compute_flats`.
        line_gray: (H, W) float32 in [0, 1], 1 = paper.

    Returns:
        (H, W, 3) float32 RGB in [0, 1].

    Raises:
        ValueError: the shapes do not match.
    """
    flats = np.asarray(flats, np.float32)
    line = np.asarray(line_gray, np.float32)
    if flats.ndim != 3 or flats.shape[2] != 4 or flats.shape[:2] != line.shape:
        raise ValueError(f"flats {flats.shape} and line {line.shape} do not match (want (H,W,4) and (H,W))")
    alpha = flats[..., 3:4]
    base = flats[..., :3] * alpha + (1.0 - alpha)
    return np.clip(base * line[..., None], 0.0, 1.0).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------
# steps


def _validate(line_gray: np.ndarray, hints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and return float32 views/copies of the line and the hints."""
    line = np.asarray(line_gray, dtype=np.float32)
    if line.ndim != 2 or line.size == 0:
        raise ValueError(f"line_gray must be a non-empty (H, W) array, got shape {line.shape}")
    hints = np.asarray(hints)
    if hints.ndim != 3 or hints.shape[2] != 4 or hints.shape[:2] != line.shape:
        raise HintError(f"hint layer has shape {hints.shape}; expected {line.shape + (4,)} (RGBA, same size as the page)")
    return line, hints.astype(np.float32, copy=False)


def _page_scale(height: int, width: int, dpi: float | None) -> float:
    """Size of the page's features relative to a 300 dpi page."""
    if dpi is not None and dpi > 0:
        return float(dpi) / 300.0
    return max(height, width) / REFERENCE_LONG_SIDE_PX


def _to_u8(gray: np.ndarray) -> np.ndarray:
    """(H, W) float32 [0, 1] -> uint8 [0, 255] (rounded, clipped)."""
    out = np.empty(gray.shape, np.float32)
    np.multiply(gray, 255.0, out=out)
    np.add(out, 0.5, out=out)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


def _ink_level(line8: np.ndarray, ink_threshold: float | None) -> int:
    """uint8 level below which a pixel is ink: the given threshold, or clamped Otsu."""
    if ink_threshold is not None:
        return int(round(float(np.clip(ink_threshold, 0.0, 1.0)) * 255.0))
    otsu, _ = cv2.threshold(line8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    lo, hi = OTSU_CLAMP
    return int(round(float(np.clip(otsu / 255.0, lo, hi)) * 255.0))


def _drop_small_blobs(ink: np.ndarray, max_area: int) -> np.ndarray:
    """Ink (uint8 0/1) without its 8-connected components of at most ``max_area`` pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_32S)
    keep = (stats[:, cv2.CC_STAT_AREA] > max_area).astype(np.uint8)
    keep[0] = 0
    log.debug("flats: %d ink blobs, %d kept as barrier", n - 1, int(keep.sum()))
    return keep[labels]


def _label_regions(barrier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the 4-connected non-barrier areas.

    Returns:
        labels (H, W) int32 (0 = barrier), stats (N, 5) int32 from OpenCV (row 0 = barrier).
    """
    free = (barrier == 0).view(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
    return labels, stats


def _assign_colours(
    regions: np.ndarray,
    stats: np.ndarray,
    min_area: int,
    seed_mask: np.ndarray,
    hints: np.ndarray,
    line8: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Palette index of every region pixel; regions under ``min_area`` px count as barrier.

    Returns:
        palette (K, 3) float32 RGB, fill (H, W) int32: -1 = barrier (to be propagated into),
        0 = unhinted, k in [1, K] = palette[k - 1].
    """
    is_region = stats[:, cv2.CC_STAT_AREA] >= min_area
    is_region[0] = False  # label 0 is the barrier itself
    ys, xs = np.nonzero(seed_mask)
    reg = regions[ys, xs]
    on_paper = is_region[reg]  # seed pixels on (dilated) ink or in tiny holes seed nothing
    ys, xs, reg = ys[on_paper], xs[on_paper], reg[on_paper].astype(np.int64)
    rgb8 = np.clip(hints[ys, xs, :3] * 255.0 + 0.5, 0, 255).astype(np.int64)
    packed = (rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]
    colours, colour_idx = np.unique(packed, return_inverse=True)
    palette = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1)
    palette = palette.astype(np.float32) / 255.0
    colour_idx = colour_idx.reshape(-1).astype(np.int64) + 1  # 0 = empty
    pairs = np.unique(reg * (len(colours) + 1) + colour_idx)
    pair_reg, pair_col = pairs // (len(colours) + 1), pairs % (len(colours) + 1)
    n_colours = np.bincount(pair_reg, minlength=len(stats))
    lut = np.where(is_region, 0, -1).astype(np.int32)
    single = n_colours[pair_reg] == 1
    lut[pair_reg[single]] = pair_col[single]
    fill = lut[regions]
    multi = np.flatnonzero(n_colours > 1)
    if len(multi):
        order = np.argsort(reg, kind="stable")
        seeds = (ys[order], xs[order], reg[order], colour_idx[order])
        for r in multi:
            _split_region(int(r), stats[r], regions, seeds, line8, fill)
        log.debug("flats: %d regions split between several hint colours", len(multi))
    return palette, fill


def _split_region(
    r: int,
    box: np.ndarray,
    regions: np.ndarray,
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    line8: np.ndarray,
    fill: np.ndarray,
) -> None:
    """Split region ``r`` between its hint colours by a watershed on line darkness, in place in ``fill``.

    Regions whose box exceeds ``_WS_MAX_PIXELS`` are split at a reduced scale (block minimum of the
    line, so faint lines survive). ``seeds`` = (ys, xs, region, colour index), sorted by region.
    """
    x0, y0, bw, bh = (int(v) for v in box[:4])
    inside = regions[y0 : y0 + bh, x0 : x0 + bw] == r
    f = max(1, math.ceil(math.sqrt(bw * bh / _WS_MAX_PIXELS)))
    line_crop = line8[y0 : y0 + bh, x0 : x0 + bw]
    if f > 1:
        line_crop = cv2.erode(line_crop, np.ones((f, f), np.uint8), anchor=(0, 0))[::f, ::f]
        inside_s = cv2.dilate(inside.view(np.uint8), np.ones((f, f), np.uint8), anchor=(0, 0))[::f, ::f] > 0
    else:
        inside_s = inside
    ys, xs, reg, col = seeds
    lo, hi = np.searchsorted(reg, [r, r + 1])
    colours, local = np.unique(col[lo:hi], return_inverse=True)
    sentinel = len(colours) + 1
    sh, sw = inside_s.shape
    markers = np.full((sh + 2, sw + 2), sentinel, np.int32)  # 1-px frame: watershed overwrites it
    markers[1:-1, 1:-1][inside_s] = 0
    markers[(ys[lo:hi] - y0) // f + 1, (xs[lo:hi] - x0) // f + 1] = local.reshape(-1) + 1
    grey = np.full((sh + 2, sw + 2), 255, np.uint8)
    dark = (255 - line_crop[inside_s]).astype(np.float32) * (_WS_DARKNESS_SPAN / 255.0)
    grey[1:-1, 1:-1][inside_s] = dark.astype(np.uint8)
    cv2.watershed(cv2.merge([grey, grey, grey]), markers)
    result = markers[1:-1, 1:-1]
    good = (result > 0) & (result < sentinel)
    # watershed lines, pixels the outside claimed and the rest of the box: nearest seeded pixel
    _, nearest = cv2.distanceTransformWithLabels(
        (~good).view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    result = np.concatenate([[0], colours]).astype(np.int32)[result[good]][nearest - 1]
    if f > 1:
        result = cv2.resize(result, (sw * f, sh * f), interpolation=cv2.INTER_NEAREST)[:bh, :bw]
    np.copyto(fill[y0 : y0 + bh, x0 : x0 + bw], result, where=inside)


def _propagate_into_barrier(fill: np.ndarray) -> bool:
    """Give every barrier pixel (fill < 0) the value of the nearest region pixel, in place.

    Returns:
        False if there is no region pixel at all (``fill`` is then left as is).
    """
    barrier = (fill < 0).view(np.uint8)
    values = fill[barrier == 0]  # raster order = OpenCV's DIST_LABEL_PIXEL numbering
    if len(values) == 0:
        return False
    _, nearest = cv2.distanceTransformWithLabels(barrier, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    idx = np.flatnonzero(barrier)
    fill.flat[idx] = values[nearest.flat[idx] - 1]
    return True
