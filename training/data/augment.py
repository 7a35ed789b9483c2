"""Augmentations for training pairs: geometric (crop, scale, flip) and line-only (weight, contrast, JPEG).

Geometric functions take a list of aligned arrays (HWC or HW, float32) and apply the same transform to
all of them. Line functions take and return (H,W) float32 [0,1], 1 = paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)


def random_resized_crop(arrays: Sequence[np.ndarray], rng: np.random.Generator, size: int,
                        scale: tuple[float, float] = (0.35, 1.0)) -> list[np.ndarray]:
    """Crop the same random square from each array and resize it to `size` x `size`.

    The crop side is a random fraction `scale` of the short side (so the model sees pages at many
    zoom levels); images smaller than `size` are upscaled. Downscaling uses INTER_AREA (keeps thin
    lines grey rather than dropping them), upscaling INTER_LINEAR.

    Args:
        arrays: aligned (H,W) or (H,W,C) float32 arrays of equal H, W.
        rng: random generator.
        size: output side in px.
        scale: range of crop side / short side.

    Returns:
        list of (size,size[,C]) float32 arrays.

    Raises:
        ValueError: arrays of different height/width or an empty list.
    """
    if not arrays:
        raise ValueError("random_resized_crop needs at least one array")
    h, w = arrays[0].shape[:2]
    if any(a.shape[:2] != (h, w) for a in arrays):
        raise ValueError("random_resized_crop: arrays differ in height/width")
    side = min(h, w)
    lo = min(1.0, max(scale[0], min(size / side, 1.0) * 0.5))
    crop = int(round(side * rng.uniform(lo, max(lo, scale[1]))))
    crop = max(8, min(crop, side))
    y0 = int(rng.integers(0, h - crop + 1))
    x0 = int(rng.integers(0, w - crop + 1))
    interp = cv2.INTER_AREA if crop > size else cv2.INTER_LINEAR
    out = []
    for a in arrays:
        c = np.ascontiguousarray(a[y0:y0 + crop, x0:x0 + crop])
        out.append(c if crop == size else cv2.resize(c, (size, size), interpolation=interp))
    return out


def random_flip(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Flip all arrays left-right with probability 0.5 (never up-down: faces and gravity have a top)."""
    if rng.random() < 0.5:
        return [np.ascontiguousarray(a[:, ::-1]) for a in arrays]
    return list(arrays)


def line_weight(line: np.ndarray, rng: np.random.Generator, max_px: int = 1) -> np.ndarray:
    """Thicken (erode the paper) or thin (dilate the paper) lines by a random fractional amount.

    Returns (H,W) f32 [0,1]; the amount is a blend between the line and its 3x3 erosion/dilation.
    """
    amount = rng.uniform(-max_px, max_px)
    if abs(amount) < 0.1:
        return line
    kernel = np.ones((3, 3), np.uint8)
    op = cv2.erode if amount > 0 else cv2.dilate
    moved = line
    whole = int(abs(amount))
    for _ in range(whole):
        moved = op(moved, kernel)
    frac = abs(amount) - whole
    if frac > 0:
        moved = (1 - frac) * moved + frac * op(moved, kernel)
    return moved.astype(np.float32)


def contrast_gamma(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma (0.6-1.6) and ink level / paper level (slightly grey paper, not-quite-black ink)."""
    g = rng.uniform(0.6, 1.6)
    out = np.power(np.clip(line, 0, 1), g)
    paper = rng.uniform(0.9, 1.0) if rng.random() < 0.3 else 1.0
    ink = rng.uniform(0.0, 0.25)
    return (ink + out * (paper - ink)).astype(np.float32)


def paper_noise(line: np.ndarray, rng: np.random.Generator, strength: float = 0.03) -> np.ndarray:
    """Add low-amplitude grain (scan/paper texture): (H,W) f32 -> (H,W) f32 clipped to [0,1]."""
    s = rng.uniform(0, strength)
    if s < 1e-3:
        return line
    noise = rng.standard_normal(line.shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(line + s * noise, 0, 1).astype(np.float32)


def jpeg_noise(line: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (30, 95)) -> np.ndarray:
    """Round-trip through JPEG at a random quality (ringing and blocks like web-sourced sketches)."""
    q = int(rng.integers(quality[0], quality[1] + 1))
    u8 = (np.clip(line, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        log.warning("JPEG encoding failed; line left unchanged")
        return line
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def augment_line(line: np.ndarray, rng: np.random.Generator, *, weight_prob: float = 0.4,
                 contrast_prob: float = 0.5, noise_prob: float = 0.4, jpeg_prob: float = 0.3) -> np.ndarray:
    """The line-only augmentations, each applied with its probability; (H,W) f32 [0,1] in and out."""
    if rng.random() < weight_prob:
        line = line_weight(line, rng)
    if rng.random() < contrast_prob:
        line = contrast_gamma(line, rng)
    if rng.random() < noise_prob:
        line = paper_noise(line, rng)
    if rng.random() < jpeg_prob:
        line = jpeg_noise(line, rng)
    return line.astype(np.float32)
