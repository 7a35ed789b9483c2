"""Synthetic screentones: dot tones and line tones, laid over mid-tones of a line image.

Black-and-white manga renders mid greys with printed screentone. Teaching the model that a patch of
dots or parallel lines means "a mid-tone area" lets real screentoned pages colourise sensibly.
Patterns are computed analytically (cosine fields, smooth threshold), so they are anti-aliased and cheap.

Arrays: (H,W) float32 [0,1], 1 = paper.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: grey band (of the colour image) that gets tone; outside it the line image is left untouched
MID_TONE_BAND: tuple[float, float] = (0.25, 0.8)


def _rotated_coords(shape: tuple[int, int], angle_deg: float, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by `angle_deg` and divided by `pitch` (in pattern periods)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(angle_deg)
    u = (x * np.cos(a) + y * np.sin(a)) / pitch
    v = (-x * np.sin(a) + y * np.cos(a)) / pitch
    return u, v


def dot_tone(shape: tuple[int, int], level: float | np.ndarray, pitch: float, angle_deg: float) -> np.ndarray:
    """Halftone dots (AM screen): darker `level` -> bigger dots.

    Args:
        shape: (H, W).
        level: grey to render, scalar or (H,W) f32 in [0,1] (1 = white, no dots).
        pitch: dot spacing in px (> 1).
        angle_deg: screen angle.

    Returns:
        (H,W) f32 [0,1] tone, 1 = paper, anti-aliased dot edges.
    """
    u, v = _rotated_coords(shape, angle_deg, pitch)
    field = 0.5 + 0.25 * (np.cos(2 * np.pi * u) + np.cos(2 * np.pi * v))  # 0..1, peaks at dot centres
    lev = np.asarray(level, np.float32)
    return np.clip(0.5 + (lev - field) * pitch * 0.9, 0, 1).astype(np.float32)


def line_tone(shape: tuple[int, int], level: float | np.ndarray, pitch: float, angle_deg: float) -> np.ndarray:
    """Parallel-line tone: darker `level` -> thicker lines. Same arguments/returns as `dot_tone`."""
    u, _ = _rotated_coords(shape, angle_deg, pitch)
    field = 0.5 + 0.5 * np.cos(2 * np.pi * u)
    lev = np.asarray(level, np.float32)
    return np.clip(0.5 + (lev - field) * pitch * 0.9, 0, 1).astype(np.float32)


def random_tone(shape: tuple[int, int], level: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dot tone (80%) or line tone (20%) with random pitch (3-8 px) and angle."""
    pitch = float(rng.uniform(3.0, 8.0))
    if rng.random() < 0.8:
        return dot_tone(shape, level, pitch, float(rng.choice([45.0, 0.0, 30.0, rng.uniform(0, 90)])))
    return line_tone(shape, level, pitch * 0.8, float(rng.uniform(0, 180)))


def hatch_pattern(shape: tuple[int, int], rng: np.random.Generator, pitch: float | None = None) -> np.ndarray:
    """Thin parallel hatch lines (cross-hatched 30% of the time) as ink darkness: (H,W) f32 [0,1], 1 = ink."""
    pitch = pitch if pitch is not None else rng.uniform(2.5, 5.0) * max(1.0, min(shape) / 256)
    dark = 1 - line_tone(shape, rng.uniform(0.75, 0.9), pitch, rng.uniform(0, 180))
    if rng.random() < 0.3:
        dark = np.maximum(dark, 1 - line_tone(shape, rng.uniform(0.75, 0.9), pitch, rng.uniform(0, 180)))
    return dark


def texture_patch(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Hatching (55%) or a light dot/line tone, as ink darkness (H,W) f32 [0,1] (1 = ink)."""
    if rng.random() < 0.55:
        return hatch_pattern(shape, rng)
    maker = dot_tone if rng.random() < 0.7 else line_tone
    return 1 - maker(shape, rng.uniform(0.5, 0.85), rng.uniform(3, 7), rng.uniform(0, 90))


def mid_tone_mask(color_gray: np.ndarray, band: tuple[float, float] = MID_TONE_BAND) -> np.ndarray:
    """(H,W) bool: pixels whose colour grey lies strictly inside `band`."""
    return (color_gray > band[0]) & (color_gray < band[1])


def apply_tones(line: np.ndarray, color_gray: np.ndarray, rng: np.random.Generator, *,
                band: tuple[float, float] = MID_TONE_BAND, max_tones: int = 3) -> np.ndarray:
    """Lay screentone over the mid-tone areas of a line image.

    Mid-tone pixels (colour grey inside `band`) are quantised into 1..`max_tones` grey levels; each level
    gets its own tone (constant dot size, like a sheet of screentone, or following the grey, like a
    printed halftone). Tone is combined with the line by `min`, so lines stay on top.

    Args:
        line: (H,W) f32 [0,1] line art, 1 = paper.
        color_gray: (H,W) f32 [0,1] grey of the colour image.
        rng: random generator.
        band: grey band that gets tone.
        max_tones: number of distinct tones at most.

    Returns:
        (H,W) f32 [0,1]; identical to `line` outside the band.

    Raises:
        ValueError: shapes differ.
    """
    if line.shape != color_gray.shape:
        raise ValueError(f"line {line.shape} and color_gray {color_gray.shape} differ in shape")
    mask = mid_tone_mask(color_gray, band)
    if not mask.any():
        return line.astype(np.float32)
    n = int(rng.integers(1, max_tones + 1))
    edges = np.linspace(band[0], band[1], n + 1)
    out = line.astype(np.float32).copy()
    for i in range(n):
        sel = mask & (color_gray >= edges[i]) & (color_gray < edges[i + 1] if i < n - 1 else True)
        if not sel.any() or rng.random() < 0.25:
            continue
        level = float(np.clip(0.5 * (edges[i] + edges[i + 1]) + rng.uniform(0.1, 0.35), 0.45, 0.92))
        tone = random_tone(line.shape, level if rng.random() < 0.7 else np.clip(color_gray + 0.2, 0, 1), rng)
        out[sel] = np.minimum(out[sel], tone[sel])
    return out


def soften(tone: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a tone image slightly (print/scan softness); (H,W) f32 -> (H,W) f32."""
    return cv2.GaussianBlur(tone, (0, 0), sigma) if sigma > 0 else tone
