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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from training.data.screentone import texture_patch

log = logging.getLogger(__name__)

SS = 2  # ink supersampling factor
_SHIFT = 4  # cv2 fixed-point bits
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


@dataclass
class _Style:
    """Per-picture drawing style."""

    width: float  # base outline width in px (1x)
    dark: float  # base ink darkness 0..1
    sketchy: float  # probability of an extra jittered pass
    gaps: float  # probability a segment is skipped
    grain: float  # pencil grain strength
    detail: float  # probability of inner detail lines per shape


class _Canvas:
    """Picture under construction: colour (H,W,3) f32, labels (H,W) int32, ink darkness uint8 at SS x,
    hatch/tone darkness (H,W) f32."""

    def __init__(self, h: int, w: int, rng: np.random.Generator, style: _Style) -> None:
        self.h, self.w, self.rng, self.style, self.next_label = h, w, rng, style, 1
        self.color = np.ones((h, w, 3), np.float32)
        self.labels = np.zeros((h, w), np.int32)
        self.ink = np.zeros((h * SS, w * SS), np.uint8)
        self.hatch = np.zeros((h, w), np.float32)


def _fx(pts: np.ndarray, scale: float) -> np.ndarray:
    """Float px points -> cv2 fixed-point int32 (N,1,2) at `scale`."""
    return np.round(pts * scale * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _roi(cv: _Canvas, poly: np.ndarray, pad: float = 0.0) -> tuple[int, int, int, int]:
    """Integer bounding box (x0, y0, x1, y1) of a polygon, padded and clipped to the canvas."""
    x0, y0 = np.floor(poly.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(poly.max(axis=0) + pad).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, cv.w), min(y1, cv.h)


def _mask(poly: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Bool fill of a polygon inside `box` (x0, y0, x1, y1), at 1x: (y1-y0, x1-x0)."""
    x0, y0, x1, y1 = box
    m = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    if m.size:
        cv2.fillPoly(m, [_fx(poly - [x0, y0], 1)], 1, cv2.LINE_8, _SHIFT)
    return m > 0


def _resample(pts: np.ndarray, spacing: float, closed: bool) -> np.ndarray:
    """Points evenly spaced by about `spacing` px along a polyline (closed: back to the start)."""
    p = np.vstack([pts, pts[:1]]) if closed else pts
    seg = np.hypot(*np.diff(p, axis=0).T)
    t = np.concatenate([[0], np.cumsum(seg)])
    n = max(2, int(t[-1] / spacing) + 1)
    s = np.linspace(0, t[-1], n)
    return np.stack([np.interp(s, t, p[:, 0]), np.interp(s, t, p[:, 1])], axis=1)


def _smooth_noise(rng: np.random.Generator, n: int, knots: int = 5) -> np.ndarray:
    """(n,) smooth noise in about [-1, 1] (linear interpolation of random knots)."""
    k = rng.uniform(-1, 1, knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), k)


def stroke(cv: _Canvas, pts: np.ndarray, width: float, dark: float, *, closed: bool = False,
           taper: bool = True) -> None:
    """Draw one hand-like stroke: width/darkness vary with pressure, ends taper, small gaps may appear.

    Args:
        pts: (N,2) float x, y in 1x pixels.
        width: nominal width in 1x px; dark: nominal darkness 0..1.
    """
    rng, st = cv.rng, cv.style
    p = _resample(pts, 2.5, closed)
    n = len(p)
    press = 0.75 + 0.25 * _smooth_noise(rng, n, int(rng.integers(3, 7)))
    if taper and not closed:
        t = np.linspace(0, 1, n)
        press *= np.clip(np.minimum(t, 1 - t) * rng.uniform(4, 10), 0.25, 1)
    q = _fx(p, SS).reshape(-1, 2).tolist()
    thick = np.maximum(1, np.round(width * press * SS)).astype(int).tolist()
    val = (255 * np.clip(dark * (0.55 + 0.45 * press), 0, 1)).astype(int).tolist()
    keep = (rng.random(n) >= st.gaps).tolist()
    ink = cv.ink
    for i in range(n - 1):
        if keep[i]:
            cv2.line(ink, q[i], q[i + 1], val[i], thick[i], cv2.LINE_AA, _SHIFT)


def outline(cv: _Canvas, poly: np.ndarray, *, corners: bool = False, weight: float = 1.0) -> None:
    """Outline a closed shape like an artist: one pressure stroke, maybe a sketchy second pass;
    `corners` draws each edge separately, overshooting past the corners."""
    rng, st = cv.rng, cv.style
    w, d = st.width * weight * rng.uniform(0.8, 1.2), st.dark * rng.uniform(0.85, 1.05)
    if corners:
        m = len(poly)
        for i in range(m):
            a, b = poly[i], poly[(i + 1) % m]
            u = (b - a) / max(np.hypot(*(b - a)), 1e-6)
            ext = rng.uniform(0.0, 2.5) * st.width
            stroke(cv, np.stack([a - u * ext * rng.random(), b + u * ext]), w, d)
    else:
        stroke(cv, poly, w, d, closed=True)
    if rng.random() < st.sketchy:
        jit = _resample(poly, 2.0, True)
        jit = jit + np.stack([_smooth_noise(rng, len(jit), 8), _smooth_noise(rng, len(jit), 8)], 1) * st.width * 1.2
        lo, hi = sorted(rng.integers(0, len(jit), 2))
        if hi - lo > 4:
            stroke(cv, jit[lo:hi], w * 0.7, d * 0.6)


def fill(cv: _Canvas, poly: np.ndarray, color: np.ndarray, *, shade: float = 0.6, ink: bool = True,
         corners: bool = False, weight: float = 1.0, light: tuple[float, float] = (1.0, -1.0)) -> int:
    """Paint a flat region (new label), erase the ink it covers, cel-shade it, and outline it.

    Args:
        poly: (N,2) float px polygon; color: (3,) f32 [0,1].
        shade: probability of a cel-shadow band on the side away from `light`.

    Returns:
        the region's label.
    """
    rng = cv.rng
    lab = cv.next_label
    cv.next_label += 1
    cv2.fillPoly(cv.ink, [_fx(poly, SS)], 0, cv2.LINE_8, _SHIFT)
    box = _roi(cv, poly)
    m = _mask(poly, box)
    if not m.any():
        return lab
    x0, y0, x1, y1 = box
    labels, col = cv.labels[y0:y1, x0:x1], cv.color[y0:y1, x0:x1]
    labels[m] = lab
    col[m] = color
    size = max(np.ptp(poly[:, 0]), np.ptp(poly[:, 1]))
    if rng.random() < shade and size > 6:
        off = np.array(light) * size * rng.uniform(0.06, 0.18)
        lit = _mask(poly + off, box)
        tint = np.array([0.92, 0.86, 1.0], np.float32) if rng.random() < 0.6 else np.ones(3, np.float32)
        col[m & ~lit] = color * tint * rng.uniform(0.7, 0.86)
        if rng.random() < 0.3:
            hi = m & ~_mask(poly - np.array(light) * size * 0.04, box) & lit
            col[hi] = np.clip(color * 1.1 + 0.12, 0, 1)
    if ink:
        outline(cv, poly, corners=corners, weight=weight)
        if size > 24 and rng.random() < cv.style.detail:
            _inner_details(cv, poly, int(rng.integers(1, 4)))
    return lab


def _inner_details(cv: _Canvas, poly: np.ndarray, n: int) -> None:
    """Short open curves from the outline inwards (folds, creases): lines that do not close regions."""
    rng, st = cv.rng, cv.style
    centre = poly.mean(axis=0)
    for _ in range(n):
        a = poly[int(rng.integers(len(poly)))]
        b = a + (centre - a) * rng.uniform(0.15, 0.4) + rng.normal(0, 2, 2)
        stroke(cv, _curve(rng, a, b, 0.25), st.width * rng.uniform(0.5, 0.8), st.dark * rng.uniform(0.5, 0.8))


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 48) -> np.ndarray:
    """(n,2) f32 polygon of an ellipse rotated by `angle` radians."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1).astype(np.float32)


def blob(rng: np.random.Generator, cx: float, cy: float, r: float, *, wobble: float = 0.25,
         spikes: int = 0, n: int = 72) -> np.ndarray:
    """(n,2) radial blob; `spikes` > 0 adds sharp hair-like points."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in range(2, 5):
        rad += wobble / k * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    if spikes:
        rad *= 1 + rng.uniform(0.1, 0.3) * (np.abs(np.sin(spikes * t / 2)) ** 3)
    asp = rng.uniform(0.7, 1.3)
    return np.stack([cx + r * rad * np.cos(t) * asp, cy + r * rad * np.sin(t) / asp], 1).astype(np.float32)


def polygon(rng: np.random.Generator, cx: float, cy: float, r: float, k: int) -> np.ndarray:
    """(k,2) star-shaped random polygon around (cx, cy) of radius ~ r."""
    t = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.55, 1.1, k)
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], 1).astype(np.float32)


def _curve(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, bend: float) -> np.ndarray:
    """Quadratic bezier from a to b whose control point is pushed sideways by `bend` x length."""
    mid = (a + b) / 2 + np.array([-(b - a)[1], (b - a)[0]]) * bend * rng.uniform(-1, 1)
    t = np.linspace(0, 1, 12)[:, None]
    return ((1 - t) ** 2 * a + 2 * (1 - t) * t * mid + t ** 2 * b).astype(np.float32)


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
