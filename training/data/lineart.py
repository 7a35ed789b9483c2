"""Line-art extraction from colour images, by several methods with random parameters.

Real inputs are pencil sketches, inked line art and lines extracted from coloured pages by whatever tool
the artist used; training on one extractor teaches the model that extractor's look. Each sample
therefore picks one of: XDoG, colour dodge (the classic "pencil sketch"), morphological gradient,
adaptive threshold, soft Sobel edges; then normalises the result to a random ink darkness so lines are
often grey rather than black.

Inputs are (H,W,3) float32 RGB [0,1]; outputs are (H,W) float32 [0,1], 1 = paper, 0 = ink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

log = logging.getLogger(__name__)

Extractor = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def to_gray(color: np.ndarray) -> np.ndarray:
    """(H,W,3) f32 RGB [0,1] -> (H,W) f32 luma [0,1] (Rec. 601 weights, as OpenCV)."""
    return cv2.cvtColor(np.ascontiguousarray(color, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def _channel_max_edges(color: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply an edge operator to each RGB channel and keep the strongest response: (H,W) f32."""
    return np.max(np.stack([fn(np.ascontiguousarray(color[..., c])) for c in range(3)]), axis=0)


def xdog(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Extended difference of Gaussians (Winnemoeller 2012) with a soft tanh threshold."""
    g = to_gray(color)
    sigma = rng.uniform(0.4, 1.2)
    k, p = 1.6, rng.uniform(15.0, 40.0)
    eps, phi = rng.uniform(-0.02, 0.02), rng.uniform(20.0, 80.0)
    g1 = cv2.GaussianBlur(g, (0, 0), sigma)
    g2 = cv2.GaussianBlur(g, (0, 0), sigma * k)
    d = (1 + p) * g1 - p * g2
    out = np.where(d >= eps, 1.0, 1.0 + np.tanh(phi * (d - eps)))
    return np.clip(out, 0, 1).astype(np.float32)


def dodge(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour-dodge of the grey image by its blurred inverse, i.e. grey / blur(grey): a pencil sketch."""
    g = to_gray(color)
    sigma = rng.uniform(1.0, 4.0)
    blur = cv2.GaussianBlur(g, (0, 0), sigma)
    out = np.clip(g / np.maximum(blur, 1e-3), 0, 1)
    return np.power(out, rng.uniform(2.0, 6.0)).astype(np.float32)


def morph_gradient(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Morphological gradient (dilate - erode) of each channel, strongest channel, inverted."""
    size = int(rng.choice([2, 3, 3]))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    grad = _channel_max_edges(color, lambda c: cv2.morphologyEx(c, cv2.MORPH_GRADIENT, kernel))
    gain = rng.uniform(1.5, 4.0)
    return (1.0 - np.clip(grad * gain, 0, 1) ** rng.uniform(0.7, 1.3)).astype(np.float32)


def adaptive_threshold(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Adaptive mean threshold of the grey image, softened by a small blur (anti-aliased edges)."""
    g8 = (to_gray(color) * 255 + 0.5).astype(np.uint8)
    block = int(rng.choice([5, 7, 9, 11, 15]))
    c = float(rng.uniform(2.0, 8.0))
    t = cv2.adaptiveThreshold(g8, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, c)
    return cv2.GaussianBlur(t.astype(np.float32) / 255.0, (0, 0), rng.uniform(0.4, 0.9))


def soft_edges(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soft Sobel magnitude (Canny-like after light smoothing) of the strongest channel, inverted."""
    pre = cv2.GaussianBlur(np.ascontiguousarray(color, dtype=np.float32), (0, 0), rng.uniform(0.5, 1.2))

    def mag(c: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(c, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(c, cv2.CV_32F, 0, 1, ksize=3)
        return cv2.magnitude(gx, gy)

    m = _channel_max_edges(pre, mag)
    low = rng.uniform(0.05, 0.15)
    edge = np.clip((m - low) / rng.uniform(0.3, 0.8), 0, 1)
    return (1.0 - edge ** rng.uniform(0.6, 1.2)).astype(np.float32)


METHODS: dict[str, Extractor] = {
    "xdog": xdog,
    "dodge": dodge,
    "morph": morph_gradient,
    "adaptive": adaptive_threshold,
    "sobel": soft_edges,
}


def normalize_ink(line: np.ndarray, rng: np.random.Generator, darkest: tuple[float, float] = (0.0, 0.45)
                  ) -> np.ndarray:
    """Rescale a line image so its ink reaches a random darkness (grey pencil to black ink).

    Args:
        line: (H,W) f32 [0,1], 1 = paper.
        darkest: range for the value the darkest ink is mapped to.

    Returns:
        (H,W) f32 [0,1]; paper stays 1.
    """
    lo = float(np.percentile(line, 0.5))
    if lo >= 0.999:
        return line.astype(np.float32)
    target = rng.uniform(*darkest)
    t = np.clip((1.0 - line) / (1.0 - lo), 0, 1)
    return (1.0 - t * (1.0 - target)).astype(np.float32)


def extract_lines(color: np.ndarray, rng: np.random.Generator, method: str | None = None) -> np.ndarray:
    """Line art of a colour image by `method` (random among METHODS when None), random parameters.

    Args:
        color: (H,W,3) float32 [0,1] RGB.
        rng: random generator.
        method: a key of METHODS or None.

    Returns:
        (H,W) float32 [0,1], 1 = paper.

    Raises:
        KeyError: unknown method name.
    """
    name = method if method is not None else str(rng.choice(list(METHODS)))
    line = METHODS[name](color, rng)
    return normalize_ink(line, rng)


def mix_with_ink(extracted: np.ndarray, ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Combine an extracted line image with a generator's own ink layer (both (H,W) f32 [0,1], 1 = paper).

    Picks one of: ink alone, extracted alone, their product (ink over extracted edges), or a weighted
    blend, so the model sees both the drawn lines and extractor artefacts.
    """
    mode = rng.choice(["ink", "extracted", "multiply", "blend"], p=[0.4, 0.2, 0.2, 0.2])
    if mode == "ink":
        return ink.astype(np.float32)
    if mode == "extracted":
        return extracted.astype(np.float32)
    if mode == "multiply":
        return (ink * extracted).astype(np.float32)
    a = rng.uniform(0.3, 0.7)
    return (a * ink + (1 - a) * extracted).astype(np.float32)
