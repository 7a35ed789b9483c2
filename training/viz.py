"""Training pictures: sample grids (line | hints | output | target) and loss/metric curves as PNG.

Drawn with numpy + OpenCV (matplotlib is not a dependency); files are written atomically (``core.imagesave``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from torch import Tensor

from mangacolor_app.core.color import to_uint8
from mangacolor_app.core.imagesave import save_image

__all__ = ["sample_grid", "save_png", "draw_curves"]

logger = logging.getLogger(__name__)

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image as PNG, atomically (``core.imagesave.save_image``),
    creating the parent folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return save_image(target, rgb, format="png")


def sample_grid(inputs: Tensor, outputs: Tensor, targets: Tensor, slices: Mapping[str, slice]) -> np.ndarray:
    """One row per sample: line art | hints over the faded line | output | target.

    Args:
        inputs: ``(N, C, H, W)`` model inputs in [0, 1].
        outputs, targets: ``(N, 3, H, W)`` RGB in [0, 1].
        slices: token -> channel slice (``core.model_inputs.token_slices``).

    Returns:
        ``(N * H, 4 * W, 3)`` uint8 RGB.
    """
    x = inputs.detach().float().cpu().numpy()
    n, _, h, w = x.shape
    line = x[:, slices["line"]] if "line" in slices else np.ones((n, 1, h, w), np.float32)
    line3 = np.repeat(line, 3, axis=1)
    hints = 0.5 + 0.5 * line3
    if "hint_rgb" in slices and "hint_mask" in slices:
        m = x[:, slices["hint_mask"]]
        hints = x[:, slices["hint_rgb"]] + (1 - m) * hints
    cols = [line3, hints, outputs.detach().float().cpu().numpy(), targets.detach().float().cpu().numpy()]
    grid = np.concatenate([np.concatenate(list(c), axis=1) for c in cols], axis=2)  # (3, N*H, 4*W)
    return to_uint8(grid.transpose(1, 2, 0))


def _panel(title: str, series: Mapping[str, Sequence[tuple[int, float]]], size: tuple[int, int]) -> np.ndarray:
    """One plot panel: each series as a polyline over (step, value), with min/max labels."""
    h, w = size
    img = np.full((h, w, 3), 255, np.uint8)
    pts_all = [p for s in series.values() for p in s]
    cv2.putText(img, title, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if len(pts_all) < 2:
        return img
    steps = np.array([p[0] for p in pts_all], np.float64)
    vals = np.array([p[1] for p in pts_all], np.float64)
    lo, hi = np.percentile(vals, 1), np.percentile(vals, 99)
    hi = hi if hi > lo else lo + 1e-6
    x0, x1, y0, y1 = 50, w - 10, 28, h - 22
    cv2.rectangle(img, (x0, y0), (x1, y1), (200, 200, 200), 1)
    for label, v in ((f"{hi:.3g}", y0 + 4), (f"{lo:.3g}", y1)):
        cv2.putText(img, label, (2, v), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(img, f"step {int(steps.max())}", (x1 - 90, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1)
    smin, smax = steps.min(), max(steps.max(), steps.min() + 1)
    for k, (name, s) in enumerate(series.items()):
        if not s:
            continue
        a = np.array(s, np.float64)
        xs = x0 + (a[:, 0] - smin) / (smax - smin) * (x1 - x0)
        ys = y1 - (np.clip(a[:, 1], lo, hi) - lo) / (hi - lo) * (y1 - y0)
        colour = _COLOURS[k % len(_COLOURS)]
        cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32).reshape(-1, 1, 2)], False, colour, 1, cv2.LINE_AA)
        cv2.putText(img, name, (x0 + 6 + 110 * k, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return img


def draw_curves(panels: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]], path: str | Path,
                size: tuple[int, int] = (220, 480)) -> Path:
    """Stack one panel per entry of ``panels`` (title -> {series name -> [(step, value)]}) into a PNG."""
    images = [_panel(title, series, size) for title, series in panels.items()] or [np.full((*size, 3), 255, np.uint8)]
    return save_png(path, np.concatenate(images, axis=0))
