"""Layer compositing: multiply, ink preservation and straight-alpha "over".

Array contract: float32, HWC, RGB(A), range [0, 1]; greyscale line art is (H, W) with 1 = white
paper and 0 = black ink. Alpha is straight (not premultiplied).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from mangacolor_app.core.color import to_float32, to_uint8, to_uint16

__all__ = ["multiply", "preserve_ink", "alpha_over", "has_alpha", "paper_with_ink"]

logger = logging.getLogger(__name__)


def _as_f32(a: npt.ArrayLike, name: str) -> np.ndarray:
    """Return ``a`` as a float32 array (no copy when it already is one).

    Raises:
        TypeError: ``a`` is not a floating-point array (integer images must go through
            ``color.to_float32`` first, so that their range is explicit).
    """
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{name}: expected a float array in [0, 1], got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _check_hw(a: np.ndarray, b: np.ndarray, name: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same height and width."""
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"{name}: size mismatch, {a.shape[:2]} vs {b.shape[:2]} (H, W)")


def multiply(base: npt.ArrayLike, top: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Multiply blend ``base * top`` (a white top leaves the base unchanged).

    Args:
        base: (H, W, 3) or (H, W) float32 in [0, 1].
        top: same shape as ``base``, or (H, W) to multiply every channel of an (H, W, 3) base.

    Returns:
        float32 array shaped like ``base``, in [0, 1] (a new array).

    Raises:
        ValueError: the shapes do not match.
        TypeError: an input is not floating point.
    """
    b = _as_f32(base, "multiply")
    t = _as_f32(top, "multiply")
    _check_hw(b, t, "multiply")
    if t.ndim == 2 and b.ndim == 3:
        t = t[..., None]
    if b.ndim < t.ndim or (t.ndim == b.ndim and t.shape[-1] not in (1, b.shape[-1])):
        raise ValueError(f"multiply: cannot multiply {b.shape} by {t.shape}")
    return np.multiply(b, t, dtype=np.float32)


def preserve_ink(
    color: npt.ArrayLike, line_gray: npt.ArrayLike, strength: float = 1.0
) -> npt.NDArray[np.float32]:
    """Darken ``color`` by the darkness of the line art, so lines and lettering stay crisp black.

    Each pixel is multiplied by ``1 - strength * (1 - line)``: with ``strength`` 1 this is a
    multiply blend of the full-resolution line art over the colour (pure ink -> black, paper ->
    unchanged); with 0 the colour is returned unchanged (as a copy).

    Args:
        color: (H, W, 3) float32 in [0, 1], at the same resolution as the line art.
        line_gray: (H, W) float32 in [0, 1] (1 = paper, 0 = ink).
        strength: in [0, 1].

    Returns:
        (H, W, 3) float32 in [0, 1] (a new array).

    Raises:
        ValueError: shapes do not match, or ``strength`` is outside [0, 1].
        TypeError: an input is not floating point.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"preserve_ink: strength must be in [0, 1], got {strength}")
    c = _as_f32(color, "preserve_ink")
    line = _as_f32(line_gray, "preserve_ink")
    if c.ndim != 3 or c.shape[2] != 3 or line.ndim != 2:
        raise ValueError(f"preserve_ink: expected (H, W, 3) colour and (H, W) line art, got {c.shape} and {line.shape}")
    _check_hw(c, line, "preserve_ink")
    # factor = 1 - s * (1 - line) = (1 - s) + s * line
    factor = np.clip(line, 0.0, 1.0) * np.float32(strength)
    factor += np.float32(1.0 - strength)
    return np.multiply(c, factor[..., None], dtype=np.float32)


def alpha_over(
    dst: npt.ArrayLike, src_rgba: npt.ArrayLike, opacity: float = 1.0
) -> npt.NDArray[np.float32]:
    """Composite a straight-alpha RGBA layer over an opaque RGB image.

    ``out = src_rgb * a + dst * (1 - a)`` with ``a = src_alpha * opacity``.

    Args:
        dst: (H, W, 3) float32 in [0, 1], the opaque background.
        src_rgba: (H, W, 4) float32 in [0, 1], straight (not premultiplied) alpha.
        opacity: layer opacity in [0, 1].

    Returns:
        (H, W, 3) float32 in [0, 1] (a new array; ``dst`` is not modified).

    Raises:
        ValueError: shapes do not match, or ``opacity`` is outside [0, 1].
        TypeError: an input is not floating point.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"alpha_over: opacity must be in [0, 1], got {opacity}")
    d = _as_f32(dst, "alpha_over")
    s = _as_f32(src_rgba, "alpha_over")
    if d.ndim != 3 or d.shape[2] != 3 or s.ndim != 3 or s.shape[2] != 4:
        raise ValueError(f"alpha_over: expected (H, W, 3) and (H, W, 4), got {d.shape} and {s.shape}")
    _check_hw(d, s, "alpha_over")
    alpha = np.clip(s[..., 3], 0.0, 1.0)
    alpha *= np.float32(opacity)
    alpha = alpha[..., None]
    # dst + a * (src - dst): one full-size temporary besides the result.
    out = np.subtract(s[..., :3], d, dtype=np.float32)
    out *= alpha
    out += d
    return out


def has_alpha(layer: np.ndarray | None) -> bool:
    """True when an (H, W, 4) RGBA layer has any pixel with alpha > 0."""
    return layer is not None and bool((layer[..., 3] > 0).any())


def paper_with_ink(line: np.ndarray, preserve_ink: bool, out_dtype: Any) -> np.ndarray:
    """(H, W, 3) white paper, times the line luma with ``preserve_ink``: what the colorize pipeline
    gives with no hint anywhere when unhinted colour is faded out.

    Args:
        line: (H, W) luma, uint8/uint16 or float in [0, 1] (1 = paper).
        preserve_ink: multiply the paper by the line (else plain white).
        out_dtype: np.float32 (range [0, 1]), or np.uint8 / np.uint16 (rounded to nearest, as the tiling
            core does).

    Raises:
        ValueError: another ``out_dtype``.
    """
    dtype = np.dtype(out_dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"out_dtype must be float32, uint8 or uint16, got {dtype}")
    if not preserve_ink:
        white = 255 if dtype == np.uint8 else 65535 if dtype == np.uint16 else 1.0
        return np.full((*line.shape, 3), white, dtype=dtype)
    luma: np.ndarray = to_uint8(line) if dtype == np.uint8 else to_uint16(line) if dtype == np.uint16 else to_float32(line)
    return np.repeat(luma[:, :, None], 3, axis=2)
