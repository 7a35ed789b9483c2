"""Procedural illustrations: anime/manga-like colour pictures we own, with their ink layer and regions.

The shipped model must not depend on scraped art, so this module draws its own: white paper, character-
like compositions (head, face, eyes, spiky hair, clothes polygons), background blobs and polygons, speech
bubbles, sky gradients, cel shading (shadow side and highlight), hatching and screentone patches, in
palettes of skin tones, hair colours, clothing and many whites and pastels.

Line realism matters more than shapes: a model trained on clean black vector outlines learns that every
line is heavy ink. Strokes are therefore drawn like a hand would: pressure (width and darkness) varying
along the stroke with tapered ends, grey pencil or dark ink per picture, sketchy double passes, small
gaps, overshoots past polygon corners, pencil grain, detail lines (hair strands, folds) that do not
close regions; everything is rendered at 2x and area-downsampled for anti-aliasing.

Shapes are painted back to front; each new fill erases the ink it covers (occlusion), then is outlined.
The drawing primitives (canvas, strokes, fills, shape polygons) live in :mod:`training.data.drawing`;
this module holds the palettes, the figures and the composition.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .drawing import _Canvas, _curve, _Style, blob, ellipse, fill, polygon, stroke
from .screentone import texture_patch

log = logging.getLogger(__name__)

_SKIN = [(255, 230, 214), (252, 220, 198), (246, 208, 182), (255, 238, 226), (234, 192, 162), (196, 142, 108)]
_HAIR = [(44, 38, 52), (72, 52, 42), (124, 84, 54), (232, 202, 124), (250, 232, 176), (240, 164, 184),
         (204, 204, 218), (182, 54, 54), (64, 94, 172), (124, 84, 164), (248, 248, 248), (94, 142, 96), (240, 144, 64)]
_CLOTH = [(250, 250, 252), (246, 246, 240), (252, 252, 252), (42, 48, 74), (34, 34, 40), (202, 44, 54),
          (122, 162, 222), (250, 204, 214), (182, 222, 192), (242, 222, 152), (152, 112, 82), (92, 62, 124),
          (232, 124, 64), (62, 122, 162), (236, 236, 246)]
_EYE = [(62, 112, 202), (42, 152, 122), (152, 62, 52), (142, 82, 172), (202, 142, 42), (202, 62, 82), (92, 72, 62)]
_LIGHT = [(255, 255, 255), (255, 255, 255), (236, 244, 255), (255, 246, 232), (240, 252, 240), (250, 236, 242),
          (216, 230, 250), (255, 250, 214), (230, 230, 236)]


def _pick(rng: np.random.Generator, palette: list[tuple[int, int, int]]) -> np.ndarray:
    """A palette colour with slight per-channel jitter: (3,) f32 [0,1]."""
    c = np.array(palette[int(rng.integers(len(palette)))], np.float32) / 255.0
    return np.clip(c * rng.uniform(0.94, 1.04, 3) + rng.uniform(-0.02, 0.02), 0, 1).astype(np.float32)


def _eye(cv: _Canvas, x: float, y: float, rx: float, ry: float, iris: np.ndarray) -> None:
    """Anime eye: white, coloured iris, dark pupil, highlight, heavy upper lid."""
    rng, st = cv.rng, cv.style
    fill(cv, ellipse(x, y, rx, ry), np.ones(3, np.float32), shade=0.0, weight=0.6)
    fill(cv, ellipse(x, y + ry * 0.1, rx * 0.72, ry * 0.85), iris, shade=0.8, light=(0, 1), weight=0.7)
    fill(cv, ellipse(x, y + ry * 0.15, rx * 0.35, ry * 0.42), iris * 0.35, shade=0.0, ink=False)
    fill(cv, ellipse(x - rx * 0.3, y - ry * 0.3, rx * 0.22, rx * 0.22), np.ones(3, np.float32), shade=0, ink=False)
    lid = ellipse(x, y, rx * 1.15, ry * 1.0, n=24)[13:23]
    stroke(cv, lid, st.width * rng.uniform(1.8, 2.8), min(1.0, st.dark * 1.2))


def _face(cv: _Canvas, cx: float, cy: float, rx: float, ry: float) -> None:
    """Head (pointed chin), eyes, nose, mouth."""
    rng, st = cv.rng, cv.style
    head = ellipse(cx, cy, rx, ry, n=56)
    low = head[:, 1] > cy
    k = ((head[:, 1] - cy) / ry).clip(0, 1)
    head[low, 0] = cx + (head[low, 0] - cx) * (1 - 0.4 * k[low] ** 2)
    head[low, 1] = cy + (head[low, 1] - cy) * 1.15
    skin = _pick(rng, _SKIN)
    fill(cv, head, skin, shade=0.3, light=(-1, -1))
    ey, ex = cy + ry * 0.2, rx * 0.42
    erx, ery = rx * rng.uniform(0.15, 0.22), ry * rng.uniform(0.18, 0.26)
    iris = _pick(rng, _EYE)
    for sx in (-1, 1):
        _eye(cv, cx + sx * ex, ey, erx, ery, iris)
    stroke(cv, np.array([[cx, cy + ry * 0.5], [cx - rx * 0.03, cy + ry * 0.56]]), st.width * 0.7, st.dark * 0.7)
    m0 = np.array([cx - rx * 0.15, cy + ry * 0.78])
    stroke(cv, _curve(rng, m0, m0 + [rx * 0.3, 0], 0.3), st.width * 0.8, st.dark * 0.8)


def _hair(cv: _Canvas, cx: float, cy: float, rx: float, ry: float, color: np.ndarray, back: bool) -> int:
    """Back hair (a spiky blob behind the head) or bangs (arc on top, zigzag spikes below)."""
    rng, st = cv.rng, cv.style
    if back:
        long = rng.uniform(1.1, 2.6)
        poly = blob(rng, cx, cy + ry * (long - 1) * 0.8, rx * 1.25, wobble=0.15, spikes=int(rng.integers(5, 12)))
        poly[:, 1] = cy + (poly[:, 1] - cy) * np.where(poly[:, 1] > cy, long, 1.0)
        lab = fill(cv, poly, color, shade=0.7, light=(-1, -1))
        for _ in range(int(rng.integers(2, 8))):
            a = np.array([cx + rx * rng.uniform(-1.1, 1.1), cy + ry * rng.uniform(0.2, long)])
            b = a + [rx * rng.uniform(-0.2, 0.2), ry * rng.uniform(0.3, 0.8)]
            stroke(cv, _curve(rng, a, b, 0.2), st.width * 0.6, st.dark * 0.7)
        return lab
    top = ellipse(cx, cy - ry * 0.05, rx * 1.12, ry * 1.12, n=40)[20:]  # upper half, left to right
    n = int(rng.integers(4, 8))
    xs = np.linspace(cx + rx * 1.1, cx - rx * 1.1, 2 * n + 1)
    ys = np.where(np.arange(2 * n + 1) % 2 == 1, cy + ry * rng.uniform(-0.05, 0.2, 2 * n + 1),
                  cy - ry * rng.uniform(0.25, 0.45, 2 * n + 1))
    ys[0] = ys[-1] = cy + ry * 0.3
    poly = np.vstack([top, np.stack([xs, ys], 1)]).astype(np.float32)
    lab = fill(cv, poly, color, shade=0.6, light=(-1, -1))
    for _ in range(int(rng.integers(3, 12))):  # strands: detail lines that do not close regions
        a = np.array([cx + rx * rng.uniform(-0.8, 0.8), cy - ry * rng.uniform(0.5, 1.0)])
        b = a + [rx * rng.uniform(-0.3, 0.3), ry * rng.uniform(0.3, 0.7)]
        stroke(cv, _curve(rng, a, b, 0.3), st.width * 0.6, st.dark * 0.7)
    return lab


def _body(cv: _Canvas, cx: float, cy: float, rx: float, ry: float, skin: np.ndarray) -> None:
    """Neck, torso/clothes polygon with collar and folds, optional ribbon."""
    rng, st = cv.rng, cv.style
    nk = rx * 0.3
    fill(cv, np.array([[cx - nk, cy + ry * 0.6], [cx + nk, cy + ry * 0.6], [cx + nk, cy + ry * 1.4],
                       [cx - nk, cy + ry * 1.4]], np.float32), skin, shade=0.8, light=(0, -1))
    sy, sw = cy + ry * 1.3, rx * rng.uniform(1.6, 2.4)
    torso = np.array([[cx - sw, sy + ry * 0.4], [cx - sw * 0.5, sy], [cx + sw * 0.5, sy],
                      [cx + sw, sy + ry * 0.4], [cx + sw * 1.1, sy + ry * 4], [cx - sw * 1.1, sy + ry * 4]], np.float32)
    fill(cv, torso, _pick(rng, _CLOTH), shade=0.8, corners=True, light=(-1, -0.5))
    if rng.random() < 0.7:
        c = np.array([[cx - rx * 0.9, sy], [cx, sy + ry * rng.uniform(0.6, 1.0)], [cx + rx * 0.9, sy],
                      [cx + rx * 0.5, sy - ry * 0.05], [cx, sy + ry * 0.3], [cx - rx * 0.5, sy - ry * 0.05]], np.float32)
        fill(cv, c, _pick(rng, _CLOTH), shade=0.4, corners=True)
    if rng.random() < 0.5:
        fill(cv, polygon(rng, cx, sy + ry * 0.7, rx * 0.25, 5), _pick(rng, _CLOTH), shade=0.3)
    for _ in range(int(rng.integers(1, 5))):  # folds
        a = np.array([cx + sw * rng.uniform(-0.9, 0.9), sy + ry * rng.uniform(1.0, 2.5)])
        stroke(cv, _curve(rng, a, a + rng.uniform(-1, 1, 2) * ry * 0.5, 0.3), st.width * 0.6, st.dark * 0.7)


def character(cv: _Canvas, cx: float, cy: float, scale: float) -> None:
    """A character-like composition with its head centred at (cx, cy), head half-height `scale`."""
    rng = cv.rng
    rx, ry = scale * rng.uniform(0.75, 0.9), scale
    hair = _pick(rng, _HAIR)
    skin = _pick(rng, _SKIN)
    _hair(cv, cx, cy, rx, ry, hair, back=True)
    _body(cv, cx, cy, rx, ry, skin)
    _face(cv, cx, cy, rx, ry)
    _hair(cv, cx, cy, rx, ry, hair, back=False)


def bubble(cv: _Canvas, cx: float, cy: float, r: float) -> None:
    """A white speech-bubble ellipse with a tail and grey text-like squiggles."""
    rng, st = cv.rng, cv.style
    rx, ry = r * rng.uniform(1.0, 1.6), r
    tail = np.array([[cx - rx * 0.2, cy + ry * 0.8], [cx + rx * rng.uniform(-0.6, 0.6), cy + ry * 1.6],
                     [cx + rx * 0.2, cy + ry * 0.8]], np.float32)
    fill(cv, tail, np.ones(3, np.float32), shade=0.0, corners=True)
    fill(cv, ellipse(cx, cy, rx, ry), np.ones(3, np.float32), shade=0.0)
    for row in np.arange(-0.45, 0.5, 0.3):
        x = np.arange(cx - rx * 0.55, cx + rx * 0.55, max(2.0, r * 0.12))
        y = cy + ry * row + rng.uniform(-1, 1, len(x)) * r * 0.05
        if len(x) > 1:
            stroke(cv, np.stack([x, y], 1), st.width * 0.6, st.dark * 0.6)


def _style(rng: np.random.Generator, side: int) -> _Style:
    """Random per-picture style: grey pencil (55%) or dark ink (45%)."""
    unit = side / 256
    if rng.random() < 0.55:
        return _Style(width=unit * rng.uniform(0.7, 1.6), dark=rng.uniform(0.35, 0.75),
                      sketchy=rng.uniform(0.3, 0.9), gaps=rng.uniform(0.0, 0.08), grain=rng.uniform(0.2, 0.6),
                      detail=rng.uniform(0.3, 0.8))
    return _Style(width=unit * rng.uniform(1.0, 2.4), dark=rng.uniform(0.8, 1.0),
                  sketchy=rng.uniform(0.0, 0.3), gaps=rng.uniform(0.0, 0.02), grain=rng.uniform(0.0, 0.15),
                  detail=rng.uniform(0.1, 0.5))


def _background(cv: _Canvas) -> None:
    """White paper (most often), a sky-like vertical gradient, or a light flat colour."""
    rng, r = cv.rng, cv.rng.random()
    if r < 0.25:
        top, bottom = _pick(rng, [(150, 200, 245), (120, 170, 235), (250, 200, 170), (200, 180, 240)]), _pick(rng, _LIGHT)
        t = np.linspace(0, 1, cv.h, dtype=np.float32)[:, None, None] ** rng.uniform(0.6, 1.5)
        cv.color[:] = (1 - t) * top + t * bottom
    elif r < 0.4:
        cv.color[:] = _pick(rng, _LIGHT)


def _scatter_shape(cv: _Canvas) -> int:
    """A background blob, ellipse or polygon anywhere on the canvas; returns its label."""
    rng, side = cv.rng, min(cv.h, cv.w)
    x, y, r = rng.uniform(0, cv.w), rng.uniform(0, cv.h), side * rng.uniform(0.08, 0.35)
    kind = rng.random()
    if kind < 0.4:
        poly = blob(rng, x, y, r)
    elif kind < 0.7:
        poly = ellipse(x, y, r, r * rng.uniform(0.4, 1), rng.uniform(0, 3))
    else:
        poly = polygon(rng, x, y, r, int(rng.integers(3, 8)))
    return fill(cv, poly, _pick(rng, _LIGHT + _CLOTH + _HAIR), corners=kind >= 0.7)


def _finish(cv: _Canvas) -> tuple[np.ndarray, np.ndarray]:
    """Downsample ink, add grain and hatching, draw ink over colour: (colour (H,W,3), ink (H,W))."""
    rng = cv.rng
    dark = cv2.resize(cv.ink, (cv.w, cv.h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
    dark = np.maximum(dark, cv.hatch)
    if cv.style.grain > 0:
        g = cv2.GaussianBlur(rng.standard_normal((cv.h, cv.w), dtype=np.float32), (0, 0), 0.7)
        dark = dark * np.clip(1 - cv.style.grain * 0.5 * (1 + g), 0.2, 1)
    dark = np.clip(dark, 0, 1)
    ink_rgb = np.array([0.08, 0.07, 0.1], np.float32) if rng.random() < 0.7 else _pick(rng, [(60, 40, 34)])
    d3 = dark[..., None]
    color = cv.color + d3 * (ink_rgb - cv.color)
    return np.clip(color, 0, 1, out=color), (1 - dark).astype(np.float32)


def generate_illustration(rng: np.random.Generator, size: tuple[int, int] = (256, 256)
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one procedural illustration.

    Args:
        rng: random generator (the picture is a pure function of its state).
        size: (H, W) in px, each >= 32.

    Returns:
        color: (H,W,3) float32 [0,1] RGB, ink drawn over the fills;
        ink: (H,W) float32 [0,1] line layer, 1 = paper;
        regions: (H,W) int32 flat-region labels (0 = background).

    Raises:
        ValueError: size below 32 px.
    """
    h, w = int(size[0]), int(size[1])
    if h < 32 or w < 32:
        raise ValueError(f"generate_illustration needs at least 32x32 px, got {h}x{w}")
    side = min(h, w)
    cv = _Canvas(h, w, rng, _style(rng, side))
    _background(cv)
    shapes = [_scatter_shape(cv) for _ in range(int(rng.integers(1, 6)))]
    for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
        character(cv, rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.6) * h, side * rng.uniform(0.12, 0.3))
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        bubble(cv, rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.7) * h, side * rng.uniform(0.06, 0.14))
    for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):  # hatching / screentone patches over shapes
        region = cv.labels == shapes[int(rng.integers(len(shapes)))]
        cv.hatch = np.maximum(cv.hatch, texture_patch((h, w), rng) * region * cv.style.dark * rng.uniform(0.6, 1))
    for _ in range(int(rng.integers(0, 4)) if cv.style.dark < 0.8 else 0):  # faint stray strokes
        a, b = rng.uniform(0, 1, 2) * [w, h], rng.uniform(0, 1, 2) * [w, h]
        stroke(cv, _curve(rng, a, a + (b - a) * rng.uniform(0.1, 0.4), 0.2), cv.style.width * 0.6,
               cv.style.dark * rng.uniform(0.2, 0.45))
    color, ink = _finish(cv)
    return color, ink, cv.labels
