"""Hand-like ink drawing on a supersampled canvas: the primitives of :mod:`training.data.procedural`.

A :class:`_Canvas` holds the picture under construction (colour, region labels, ink at ``SS`` x
supersampling, hatch/tone darkness). :func:`stroke` draws one pressure-varying, tapered stroke;
:func:`outline` outlines a closed shape (sketchy second pass, corner overshoots); :func:`fill` paints a
flat labelled region, erases the ink it covers, cel-shades and outlines it. :func:`ellipse`,
:func:`blob`, :func:`polygon` and :func:`_curve` make the (N,2) float32 x, y point lists they draw.

Every random draw comes from the canvas' generator in a fixed order: the pictures, and so the training
data, are a pure function of the seed; do not reorder draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SS = 2  # ink supersampling factor
_SHIFT = 4  # cv2 fixed-point bits


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
