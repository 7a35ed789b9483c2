"""The line art of a page: its luma, or the lines drawn out of a colour picture loaded as the page.

A sketch or a manga page is paper with dark lines (and screentone or grey tones): its luma is its
line art, and the app fills, colours and multiplies its ink with that. A colour illustration loaded
as the "sketch" is not: its luma is a painting in grey, so the fill finds no closed regions (a hint
floods whole tone areas) and the ink multiplied back keeps every shade of the old colours. Such a
page's line art is drawn out of it, as a colourist tracing it would: each pixel's luma relative to
the lightest luma within ``LINE_RADIUS_FRAC`` of the long side (dark lines and edges stay, flat
paint and soft shading turn to paper), with ratios from ``PAPER_RATIO`` up kept as paper.

A page counts as a colour picture when at least ``COLOUR_FRAC`` of it is clearly coloured and at
least ``SMOOTH_TONE_FRAC`` of it is smooth mid-tone (flat paint, soft shading: luma between the
``MID_TONE`` bounds, local standard deviation under ``SMOOTH_STD``). Grey manga pages (no colour)
and coloured line art (no smooth tone) keep their luma. Both shares are measured on the page reduced
to at most ``PROBE_PIXELS`` pixels.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from mangacolor_app.core.color import rgb_to_gray

__all__ = ["COLOUR_FRAC", "SMOOTH_TONE_FRAC", "extract_line", "is_colour_picture", "page_line"]

log = logging.getLogger(__name__)

#: Share of the page that must be clearly coloured (chroma, see ``CHROMA``) for a colour picture.
COLOUR_FRAC = 0.05
#: Smallest max-min spread of a pixel's RGB (0..1) counted as clearly coloured.
CHROMA = 0.2
#: Share of the page that must be smooth mid-tone for a colour picture.
SMOOTH_TONE_FRAC = 0.10
#: Luma range (0..1) of a mid-tone: neither paper nor solid ink.
MID_TONE = (0.1, 0.85)
#: Local standard deviation (luma 0..1, 5 x 5 window of the probe) under which a pixel is smooth.
SMOOTH_STD = 0.03
#: Largest number of pixels the page is reduced to for the measurement.
PROBE_PIXELS = 1 << 20
#: Radius (fraction of the long side) of the neighbourhood whose lightest luma is a pixel's paper.
LINE_RADIUS_FRAC = 0.002
#: Luma ratio to the local paper from which a pixel is paper in the drawn-out line art.
PAPER_RATIO = 0.9


def page_line(rgb: np.ndarray) -> np.ndarray:
    """The line art of a page: (H, W, 3) float32 RGB in [0, 1] -> (H, W) float32 in [0, 1], 1 = paper.

    Its luma (:func:`core.color.rgb_to_gray`), or for a colour picture (:func:`is_colour_picture`)
    the lines drawn out of that luma (:func:`extract_line`).

    Raises:
        ValueError: ``rgb`` is not (..., 3).
    """
    gray = rgb_to_gray(rgb)
    if gray.ndim != 2 or gray.size == 0 or not is_colour_picture(rgb):
        return gray
    log.info("page is a colour picture, not line art: drawing its lines out of it")
    return extract_line(gray)


def is_colour_picture(rgb: np.ndarray) -> bool:
    """Whether an (H, W, 3) RGB page (float32 in [0, 1], or uint8) is a colour illustration rather
    than line art (see the module docstring)."""
    rgb = np.asarray(rgb)
    h, w = rgb.shape[:2]
    f = max(1.0, math.sqrt(h * w / PROBE_PIXELS))
    small = rgb if f == 1.0 else cv2.resize(np.ascontiguousarray(rgb), (max(1, round(w / f)), max(1, round(h / f))),
                                            interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32) * np.float32(1 / 255) if small.dtype == np.uint8 else small.astype(np.float32)
    chroma = small.max(axis=2) - small.min(axis=2)
    if float((chroma >= CHROMA).mean()) < COLOUR_FRAC:
        return False
    small = rgb_to_gray(small)
    mean = cv2.blur(small, (5, 5))
    var = cv2.blur(small * small, (5, 5)) - mean * mean
    lo, hi = MID_TONE
    smooth = (small >= lo) & (small <= hi) & (var < SMOOTH_STD * SMOOTH_STD)
    return float(smooth.mean()) >= SMOOTH_TONE_FRAC


def extract_line(gray: np.ndarray) -> np.ndarray:
    """Lines drawn out of a picture's luma: (H, W) float32 [0, 1] -> (H, W) float32 [0, 1], 1 = paper.

    Each pixel's luma divided by the lightest luma within ``LINE_RADIUS_FRAC`` of the long side
    (at least 1 px), scaled so that ratios of ``PAPER_RATIO`` and more are paper.
    """
    gray = np.asarray(gray, np.float32)
    radius = max(1, round(LINE_RADIUS_FRAC * max(gray.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    light = cv2.dilate(gray, kernel)
    np.maximum(light, np.float32(1e-3), out=light)
    line = gray / light
    line *= np.float32(1.0 / PAPER_RATIO)
    np.clip(line, 0.0, 1.0, out=line)
    return line.astype(np.float32, copy=False)
