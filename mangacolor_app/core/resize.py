"""Fitting an image inside a longest-side limit (previews, reference images): pure numpy/OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["fit_shape", "fit_within"]


def fit_shape(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) of a ``height`` x ``width`` image scaled down so its longer side is <= ``max_side``
    (unchanged when already small or ``max_side`` is None or 0); each side is at least 1."""
    if not max_side or max_side >= max(height, width):
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_within(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Area-downscale an (H, W) or (H, W, C) image (any dtype OpenCV resizes) to :func:`fit_shape`;
    returns ``image`` itself when it already fits."""
    h, w = image.shape[:2]
    shape = fit_shape(h, w, max_side)
    if shape == (h, w):
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
