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
   transform, in row strips: :mod:`core.flats_propagate`), so unhinted regions keep their side of a line empty.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from mangacolor_app.core.color import to_float32
from mangacolor_app.core.errors import HintError
from mangacolor_app.core.flats_layer import flats_composite, flats_on_paper, paper_mask
from mangacolor_app.core.flats_background import (
    OpenRegions,
    border_shares,
    gap_radii,
    is_open,
    open_claims,
)
from mangacolor_app.core.flats_propagate import propagate_into_barrier
from mangacolor_app.core.flats_split import split_region
from mangacolor_app.core.hints import paper_key_mask

__all__ = ["PAPER_ROW", "compute_flats", "default_gap_px", "flats_composite", "flats_on_paper", "page_flats",
           "paper_mask"]

log = logging.getLogger(__name__)

#: Gap closed by default at 300 dpi, in pixels.
DEFAULT_GAP_PX_300DPI = 3.0
#: Long side, in pixels, of a page assumed to be scanned at 300 dpi when the dpi is unknown (B5-ish).
REFERENCE_LONG_SIDE_PX = 3000.0
#: Largest ink blob (pixels, at 300 dpi) counted as a screentone dot rather than line art.
TONE_DOT_AREA_300DPI = 48.0
#: Range the automatic (Otsu) ink threshold is clamped to.
OTSU_CLAMP = (0.30, 0.85)
#: Flats row of a region the Paper key keeps blank: white, alpha 0 (an unhinted pixel is all 0).
PAPER_ROW = np.array([1.0, 1.0, 1.0, 0.0], np.float32)
#: Packed-colour code of the Paper key among the 24-bit RGB seed colours.
_PAPER_CODE = 1 << 24


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


def page_flats(line_gray: np.ndarray, hints: np.ndarray, dpi: tuple[float, float] | None, *,
               out_dtype: type[np.floating] | type[np.uint8] = np.float32) -> np.ndarray:
    """:func:`compute_flats` with the defaults scaled to a page's resolution ``dpi`` ((x, y) or None):
    the flats the CLI, the editor and export all compute for a page. Shapes, ranges, ``out_dtype`` and
    errors as :func:`compute_flats`."""
    return compute_flats(line_gray, hints, dpi=dpi[0] if dpi else None, out_dtype=out_dtype)


def compute_flats(
    line_gray: np.ndarray,
    hints: np.ndarray,
    *,
    gap_close_px: float | None = None,
    ink_threshold: float | None = None,
    tones_are_barriers: bool = False,
    dpi: float | None = None,
    open_paper: bool = True,
    out_dtype: type[np.floating] | type[np.uint8] = np.float32,
) -> np.ndarray:
    """Fill every hinted closed region of the line art with its hint colour.

    Hint pixels holding the Paper key (``core.hints.PAPER_KEY_RGBA8``) are seeds of "keep blank".
    Large regions running along enough of the page border (the page background) are coloured whole
    only when one hint stroke covers enough of them; otherwise a hint there colours the room it sits in once larger gaps are
    closed, or a bounded neighbourhood of itself (see :mod:`core.flats_background`).

    Args:
        line_gray: (H, W) float in [0, 1], uint8 or uint16; 1 (the integer maximum) = paper, 0 = ink.
            A uint8 line is used as it is (no float copy).
        hints: (H, W, 4) RGBA, float in [0, 1] or uint8/uint16 (used without a float copy); pixels
            with alpha > 0 are seeds of colour rgb (straight alpha; colours are compared at 8-bit
            precision).
        gap_close_px: ink gaps up to about this many pixels are closed for region finding; 0 closes
            none. Default: :func:`default_gap_px` (3 px at 300 dpi).
        ink_threshold: line values below it are ink. Default: Otsu's threshold clamped to
            ``OTSU_CLAMP``.
        tones_are_barriers: if False (default), isolated small ink blobs (screentone dots, specks)
            do not stop the fill.
        dpi: page resolution, used to scale the default gap and the tone-dot size.
        open_paper: also mark the unhinted rest of large border-touching regions as paper (so the
            model's own colour is not kept there); False leaves them unhinted.
        out_dtype: np.float32 (values in [0, 1]) or np.uint8 (the same values times 255, exact:
            every value is an 8-bit colour, 0 or 1). uint8 takes 4 bytes per pixel instead of 16.

    Returns:
        (H, W, 4) RGBA of ``out_dtype``: rgb = fill colour, alpha = 1 where a hinted region reaches
        (including the ink bounding it); alpha 0 elsewhere, with rgb 1 (white) where the flats keep
        paper (the Paper key's regions, and with ``open_paper`` the unfilled page background; see
        :func:`paper_mask`) and rgb 0 where nothing was decided. No hints -> all zeros.

    Raises:
        HintError: ``hints`` is not (H, W, 4) with the line's H and W.
        ValueError: ``line_gray`` is not a non-empty 2-D array; ``out_dtype`` is not float32 or uint8.
    """
    if out_dtype not in (np.float32, np.uint8):
        raise ValueError(f"out_dtype must be float32 or uint8, got {out_dtype}")
    line, hints = _validate(line_gray, hints)
    h, w = line.shape
    seed_mask = hints[..., 3] > 0
    if not seed_mask.any():
        return np.zeros((h, w, 4), out_dtype)
    scale = _page_scale(h, w, dpi)
    gap = default_gap_px(h, w, dpi) if gap_close_px is None else max(0.0, float(gap_close_px))
    line8 = line if line.dtype == np.uint8 else _to_u8(line)
    del line
    ink = (line8 < _ink_level(line8, ink_threshold)).astype(np.uint8)
    dot_area = max(4, int(round(TONE_DOT_AREA_300DPI * scale * scale)))
    barrier = ink if tones_are_barriers else _drop_small_blobs(ink, dot_area)
    del ink
    radius = int(math.ceil(gap / 2.0)) if gap > 0 else 0
    closed = barrier
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        closed = cv2.dilate(barrier, kernel)
    regions, stats = _label_regions(closed)
    del closed
    palette, seed_index = _seed_colours(hints, seed_mask, paper_key_mask(hints))
    del seed_mask
    levels = OpenRegions(barrier, gap_radii(float(radius), min(h, w)))
    fill = _assign_colours(regions, stats, dot_area, seed_index, line8, levels)
    if open_paper:
        palette = _mark_open_paper(fill, regions, stats, palette)
    del regions, barrier, levels, seed_index
    if not propagate_into_barrier(fill):
        log.warning("flats: the page is all ink after gap closing (gap=%.1f px); nothing filled", gap)
        return np.zeros((h, w, 4), out_dtype)
    out = _gather_rows(palette, fill, out_dtype)
    log.debug("flats: %d regions, %d colours, gap=%.1f px, dot_area=%d", len(stats) - 1, len(palette), gap, dot_area)
    return out


def _gather_rows(palette: np.ndarray, fill: np.ndarray, out_dtype: type) -> np.ndarray:
    """(H, W, 4) RGBA of ``out_dtype``: row ``fill`` of [0; palette] for every pixel, in one gather of
    whole rows (16-byte float32 rows viewed as complex128, 4-byte uint8 rows as uint32)."""
    h, w = fill.shape
    rgba = np.zeros((len(palette) + 1, 4), np.float32)
    rgba[1:] = palette
    if out_dtype == np.uint8:
        rows8 = np.ascontiguousarray(np.floor(rgba * 255.0 + 0.5).astype(np.uint8))
        return rows8.view(np.uint32)[:, 0][fill].view(np.uint8).reshape(h, w, 4)
    return rgba.view(np.complex128)[:, 0][fill].view(np.float32).reshape(h, w, 4)


# ----------------------------------------------------------------------------------------------
# steps


def _validate(line_gray: np.ndarray, hints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes; return the line (uint8 as it is, else float32) and the hints (uint8/uint16 as they
    are, else float32)."""
    line = np.asarray(line_gray)
    if line.dtype == np.uint16:
        line = to_float32(line)
    elif line.dtype != np.uint8:
        line = line.astype(np.float32, copy=False)
    if line.ndim != 2 or line.size == 0:
        raise ValueError(f"line_gray must be a non-empty (H, W) array, got shape {line.shape}")
    hints = np.asarray(hints)
    if hints.ndim != 3 or hints.shape[2] != 4 or hints.shape[:2] != line.shape:
        raise HintError(f"hint layer has shape {hints.shape}; expected {line.shape + (4,)} (RGBA, same size as the page)")
    if hints.dtype in (np.uint8, np.uint16):
        return line, hints
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


def _seed_colours(hints: np.ndarray, seed_mask: np.ndarray, paper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Palette of the seed colours and the (H, W) colour index of every pixel (0 = no seed).

    Colours are compared at 8-bit precision; Paper-key pixels get their own index, whose palette
    row is ``PAPER_ROW`` (white, alpha 0). Returns palette (K, 4) float32 RGBA and the index map
    (uint16 for up to 65,534 colours, else int32).
    """
    ys, xs = np.nonzero(seed_mask)
    rgb8 = _rgb8(hints[ys, xs, :3])
    packed = (rgb8[:, 0] << 16) | (rgb8[:, 1] << 8) | rgb8[:, 2]
    packed[paper[ys, xs]] = _PAPER_CODE
    colours, inverse = np.unique(packed, return_inverse=True)
    palette = np.zeros((len(colours), 4), np.float32)
    palette[:, 0], palette[:, 1], palette[:, 2] = (colours >> 16) & 255, (colours >> 8) & 255, colours & 255
    palette[:, :3] /= 255.0
    palette[:, 3] = 1.0
    palette[colours == _PAPER_CODE] = PAPER_ROW
    index = np.zeros(seed_mask.shape, _index_dtype(len(colours)))  # uint16 (2 B/px) up to 65,534 colours
    index[ys, xs] = inverse.reshape(-1) + 1
    return palette, index


def _index_dtype(n_colours: int) -> type[np.integer]:
    """uint16 for a seed index of ``n_colours`` (plus 0 = no seed) when it fits, else int32."""
    return np.uint16 if n_colours < np.iinfo(np.uint16).max else np.int32


def _rgb8(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) hint colours (float [0, 1], uint8 or uint16) -> int64 8-bit values, as ``core.color``
    rounds (uint16 through float32 v / 65535, as the float layer of that file holds)."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.int64)
    if rgb.dtype == np.uint16:
        rgb = rgb.astype(np.float32) / np.float32(65535.0)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.int64)


def _assign_colours(
    regions: np.ndarray,
    stats: np.ndarray,
    min_area: int,
    seed_index: np.ndarray,
    line8: np.ndarray,
    levels: OpenRegions,
) -> np.ndarray:
    """Palette index of every region pixel; regions under ``min_area`` px count as barrier.

    Returns:
        fill (H, W) int16 (int32 from 32,767 colours): -1 = barrier (to be propagated into), 0 =
        unhinted, k >= 1 = palette[k - 1].
    """
    shape = regions.shape
    shares = border_shares(regions, len(stats))
    is_region = stats[:, cv2.CC_STAT_AREA] >= min_area
    is_region[0] = False  # label 0 is the barrier itself
    ys, xs = np.nonzero(seed_index)
    reg = regions[ys, xs]
    on_paper = is_region[reg]  # seed pixels on (dilated) ink or in tiny holes seed nothing
    ys, xs, reg = ys[on_paper], xs[on_paper], reg[on_paper].astype(np.int64)
    col = seed_index[ys, xs].astype(np.int64)
    n_col = int(seed_index.max()) + 1
    pairs = np.unique(reg * n_col + col)
    pair_reg, pair_col = pairs // n_col, pairs % n_col
    n_colours = np.bincount(pair_reg, minlength=len(stats))
    large = np.array([is_open(_box(stats[r]), int(stats[r, 4]), shape, float(shares[r])) for r in pair_reg], bool)
    lut = np.where(is_region, 0, -1).astype(np.int16 if n_col < np.iinfo(np.int16).max else np.int32)
    single = (n_colours[pair_reg] == 1) & ~large
    lut[pair_reg[single]] = pair_col[single]
    fill = lut[regions]
    special = np.unique(pair_reg[~single])
    for r in special:
        x0, y0, bw, bh = _box(stats[r])
        box = np.s_[y0 : y0 + bh, x0 : x0 + bw]
        inside = regions[box] == r
        seeds = np.where(inside, seed_index[box], 0).astype(np.int32)
        if is_open((x0, y0, bw, bh), int(stats[r, 4]), shape, float(shares[r])):
            claims = open_claims(inside, (y0, x0), seeds, levels, shape, True)
            _split_claims(claims, seeds, line8[box])
            np.copyto(fill[box], claims, where=claims > 0)
            continue
        if len(np.unique(seeds[seeds > 0])) > 1:
            result = split_region(inside, seeds, line8[box])
        else:
            result = np.full(inside.shape, int(seeds.max()), np.int32)
        np.copyto(fill[box], result, where=inside)
    log.debug("flats: %d regions split or open", len(special))
    return fill


def _mark_open_paper(fill: np.ndarray, regions: np.ndarray, stats: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Set the unfilled pixels (0) of open regions to a paper palette entry, in place in ``fill``;
    returns the palette (with a paper row appended when it had none)."""
    shape = fill.shape
    shares = border_shares(regions, len(stats))
    open_ids = [r for r in range(1, len(stats)) if is_open(_box(stats[r]), int(stats[r, 4]), shape, float(shares[r]))]
    if not open_ids:
        return palette
    rows = np.flatnonzero((palette == PAPER_ROW).all(axis=1))
    if len(rows):
        paper = int(rows[0]) + 1
    else:
        palette = np.vstack([palette, PAPER_ROW[None]])
        paper = len(palette)
    lut = np.zeros(len(stats), bool)
    lut[open_ids] = True
    fill[lut[regions] & (fill == 0)] = paper
    return palette


def _split_claims(claims: np.ndarray, seeds: np.ndarray, line8: np.ndarray) -> None:
    """Split, in place, each connected piece of a large region's claims (int32 colour index, 0 =
    unclaimed) that holds several colours between the seeds in it (see :func:`split_region`)."""
    n, pieces, st, _ = cv2.connectedComponentsWithStats((claims > 0).view(np.uint8), connectivity=4,
                                                        ltype=cv2.CV_32S)
    ys, xs = np.nonzero(claims)
    sy, sx = np.nonzero(seeds)
    ys, xs = np.r_[ys, sy], np.r_[xs, sx]
    colour = np.r_[claims[claims > 0], seeds[sy, sx]].astype(np.int64)
    piece = pieces[ys, xs].astype(np.int64)
    k = int(colour.max()) + 1 if len(colour) else 1
    pairs = np.unique(piece[piece > 0] * k + colour[piece > 0])
    multi = np.flatnonzero(np.bincount(pairs // k, minlength=n) > 1).tolist()
    for p in multi:
        x0, y0, bw, bh = _box(st[p])
        box = np.s_[y0 : y0 + bh, x0 : x0 + bw]
        inside = pieces[box] == p
        sub = np.where(inside, seeds[box], 0)
        if not (sub > 0).any() or len(np.unique(sub[sub > 0])) < 2:
            sub = np.where(inside, claims[box], 0)
        np.copyto(claims[box], split_region(inside, sub, line8[box]), where=inside)


def _box(stat: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an OpenCV component stats row."""
    return int(stat[0]), int(stat[1]), int(stat[2]), int(stat[3])
