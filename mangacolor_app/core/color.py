"""Dtype conversions, luma and CIE Lab (sRGB, D65) conversions, and the CIEDE2000 colour difference.

Array contract: float32, HWC, RGB, range [0, 1]. The uint8/uint16 conversions are for the edges
(file IO, Qt); they work on row blocks so that a page never needs a full-size temporary wider
than float32.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

__all__ = [
    "REC601_WEIGHTS",
    "D65_WHITE",
    "to_float32",
    "to_uint8",
    "to_uint16",
    "rgb_to_gray",
    "rgb_to_lab",
    "lab_to_rgb",
    "ciede2000",
]

logger = logging.getLogger(__name__)

#: Rec. 601 luma weights (R, G, B), the ones OpenCV's ``COLOR_RGB2GRAY`` uses.
REC601_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

#: D65 reference white (X, Y, Z), from the sRGB matrix (IEC 61966-2-1), Y normalised to 1.
D65_WHITE: tuple[float, float, float] = (0.95047, 1.0, 1.08883)

_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)

# Lab companding constants (CIE 15): epsilon = (6/29)^3, kappa-based slope 1 / (3 (6/29)^2).
_DELTA = 6.0 / 29.0
_EPS = _DELTA**3
_SLOPE = 1.0 / (3.0 * _DELTA**2)

# Rows per block for the blocked integer conversions (about 4 M values per block for a page).
_BLOCK_VALUES = 1 << 22


def to_float32(a: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Convert an image array to float32 in [0, 1].

    Args:
        a: any shape; uint8 (divided by 255), uint16 (divided by 65535), bool (0 or 1), or a
            floating type (clipped to [0, 1], NaN becomes 0).

    Returns:
        float32 array of the same shape. A float32 input already in range is still copied once
        (the result never aliases the input).

    Raises:
        TypeError: any other dtype (signed or 32-bit integers have no agreed range).
    """
    arr = np.asarray(a)
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        out = arr.astype(np.float32)
        out *= np.float32(1.0 / np.iinfo(arr.dtype).max)
        return out
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32, copy=True)
        np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(out, 0.0, 1.0, out=out)
        return out
    raise TypeError(f"to_float32: unsupported dtype {arr.dtype} (expected uint8, uint16, bool or float)")


def _row_blocks(arr: np.ndarray) -> list[slice | tuple[()]]:
    """Index blocks along the first axis of about ``_BLOCK_VALUES`` values each (``[()]`` for 0-d)."""
    if arr.ndim == 0:
        return [()]
    row_values = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)))
    rows = max(1, _BLOCK_VALUES // row_values)
    return [slice(i, i + rows) for i in range(0, arr.shape[0], rows)]


def _scale_to_int(arr: np.ndarray, scale: float, dtype: type[np.integer]) -> np.ndarray:
    """Return ``round(clip(arr * scale, 0, max))`` as ``dtype``, computed in float32 row blocks."""
    maxval = float(np.iinfo(dtype).max)
    out = np.empty(arr.shape, dtype=dtype)
    for block in _row_blocks(arr):
        tmp = np.multiply(arr[block], np.float32(scale), dtype=np.float32)
        np.nan_to_num(tmp, copy=False, nan=0.0, posinf=maxval, neginf=0.0)
        tmp += np.float32(0.5)
        np.clip(tmp, 0.0, maxval, out=tmp)
        out[block] = tmp
    return out


def to_uint8(a: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Convert an image array to uint8 with rounding and clipping.

    Args:
        a: any shape; float in [0, 1] (scaled by 255, rounded half up, clipped; NaN becomes 0),
            uint8 (returned as is, not copied), uint16 (divided by 257 and rounded) or bool.

    Returns:
        uint8 array of the same shape.

    Raises:
        TypeError: any other dtype.
    """
    arr = np.asarray(a)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return _scale_to_int(arr, 1.0 / 257.0, np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.floating):
        return _scale_to_int(arr, 255.0, np.uint8)
    raise TypeError(f"to_uint8: unsupported dtype {arr.dtype} (expected float, uint8, uint16 or bool)")


def to_uint16(a: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """Convert an image array to uint16 with rounding and clipping.

    Args:
        a: any shape; float in [0, 1] (scaled by 65535, rounded half up, clipped; NaN becomes 0),
            uint16 (returned as is), uint8 (multiplied by 257, so 255 -> 65535) or bool.

    Returns:
        uint16 array of the same shape.

    Raises:
        TypeError: any other dtype.
    """
    arr = np.asarray(a)
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype == np.uint8:
        out = arr.astype(np.uint16)
        out *= np.uint16(257)
        return out
    if arr.dtype == np.bool_:
        return arr.astype(np.uint16) * np.uint16(65535)
    if np.issubdtype(arr.dtype, np.floating):
        return _scale_to_int(arr, 65535.0, np.uint16)
    raise TypeError(f"to_uint16: unsupported dtype {arr.dtype} (expected float, uint8, uint16 or bool)")


def _check_last_axis(a: np.ndarray, channels: int, name: str) -> None:
    """Raise ValueError unless ``a`` has ``channels`` values on its last axis."""
    if a.ndim < 1 or a.shape[-1] != channels:
        raise ValueError(f"{name}: expected shape (..., {channels}), got {a.shape}")


def rgb_to_gray(rgb: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rec. 601 luma of an RGB image (same weights as OpenCV's ``COLOR_RGB2GRAY``).

    Args:
        rgb: (H, W, 3) (or (..., 3)) float32 in [0, 1]; an alpha channel must be removed first.

    Returns:
        (H, W) float32 in [0, 1] (1 = white paper, 0 = black ink).

    Raises:
        ValueError: the last axis is not 3.
    """
    arr = np.asarray(rgb, dtype=np.float32)
    _check_last_axis(arr, 3, "rgb_to_gray")
    _, g, b = (np.float32(w) for w in REC601_WEIGHTS)
    # r + g_w (G - R) + b_w (B - R): the same luma (the weights sum to 1), and exactly R on grey pixels,
    # so a grey page's luma is its own values (what core.color.to_float32 gives for its integers)
    red = arr[..., 0]
    gray = arr[..., 1] - red
    gray *= g
    gray += (arr[..., 2] - red) * b
    gray += red
    return gray


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB transfer function inverse, float32 in [0, 1] -> linear light (new array)."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / np.float32(12.92), ((c + np.float32(0.055)) / np.float32(1.055)) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """sRGB transfer function, linear light -> sRGB, clipped to [0, 1] (new array)."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * np.float32(12.92), np.float32(1.055) * c ** (1.0 / 2.4) - np.float32(0.055))


def rgb_to_lab(rgb: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Convert sRGB to CIE L*a*b* (D65 white).

    Args:
        rgb: (..., 3) float in [0, 1] (values outside are clipped), sRGB-encoded.

    Returns:
        (..., 3) float32: L in [0, 100], a and b roughly in [-128, 127]. Computed in row
        blocks, so a page needs no full-size temporaries besides the result.

    Raises:
        ValueError: the last axis is not 3.
    """
    arr = np.asarray(rgb, dtype=np.float32)
    _check_last_axis(arr, 3, "rgb_to_lab")
    if arr.ndim == 1:
        return _rgb_to_lab_block(arr)
    out = np.empty(arr.shape, dtype=np.float32)
    for block in _row_blocks(arr):
        out[block] = _rgb_to_lab_block(arr[block])
    return out


def _rgb_to_lab_block(arr: np.ndarray) -> np.ndarray:
    """``rgb_to_lab`` on one block, (..., 3) float32 -> (..., 3) float32."""
    lin = _srgb_to_linear(arr)
    matrix = (_RGB_TO_XYZ / np.asarray(D65_WHITE)[:, None]).astype(np.float32)
    xyz = lin @ matrix.T
    del lin
    f = np.where(xyz > _EPS, np.cbrt(xyz), xyz * np.float32(_SLOPE) + np.float32(4.0 / 29.0))
    del xyz
    lab = np.empty(f.shape, dtype=np.float32)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_rgb(lab: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Convert CIE L*a*b* (D65 white) to sRGB.

    Args:
        lab: (..., 3) float: L in [0, 100], a, b.

    Returns:
        (..., 3) float32 sRGB in [0, 1]; out-of-gamut colours are clipped per channel.

    Raises:
        ValueError: the last axis is not 3.
    """
    arr = np.asarray(lab, dtype=np.float32)
    _check_last_axis(arr, 3, "lab_to_rgb")
    if arr.ndim == 1:
        return _lab_to_rgb_block(arr)
    out = np.empty(arr.shape, dtype=np.float32)
    for block in _row_blocks(arr):
        out[block] = _lab_to_rgb_block(arr[block])
    return out


def _lab_to_rgb_block(arr: np.ndarray) -> np.ndarray:
    """``lab_to_rgb`` on one block, (..., 3) float32 -> (..., 3) float32."""
    f = np.empty(arr.shape, dtype=np.float32)
    f[..., 1] = (arr[..., 0] + 16.0) / 116.0
    f[..., 0] = f[..., 1] + arr[..., 1] / 500.0
    f[..., 2] = f[..., 1] - arr[..., 2] / 200.0
    xyz = np.where(f > _DELTA, f**3, (f - np.float32(4.0 / 29.0)) / np.float32(_SLOPE))
    del f
    matrix = (_XYZ_TO_RGB * np.asarray(D65_WHITE)[None, :]).astype(np.float32)
    lin = xyz @ matrix.T
    del xyz
    return _linear_to_srgb(lin).astype(np.float32, copy=False)


def _hue_degrees(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Hue angle atan2(b, a) in degrees, in [0, 360); 0 where a = b = 0."""
    h = np.degrees(np.arctan2(b, a))
    return np.where(h < 0.0, h + 360.0, h)


def _mean_hue(h1: np.ndarray, h2: np.ndarray, chroma_product: np.ndarray) -> np.ndarray:
    """CIEDE2000 mean hue h-bar' (degrees), Sharma et al. 2005 eq. (14)."""
    total = h1 + h2
    far = np.abs(h1 - h2) > 180.0
    mean = np.where(far, np.where(total < 360.0, total + 360.0, total - 360.0), total) / 2.0
    return np.where(chroma_product == 0.0, total, mean)


def _hue_difference(h1: np.ndarray, h2: np.ndarray, chroma_product: np.ndarray) -> np.ndarray:
    """CIEDE2000 hue difference delta h' (degrees), Sharma et al. 2005 eq. (10)."""
    dh = h2 - h1
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    return np.where(chroma_product == 0.0, 0.0, dh)


def ciede2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """CIEDE2000 colour difference (kL = kC = kH = 1), vectorised.

    Follows Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation
    notes, supplementary test data, and mathematical observations". Computed in float64 for
    accuracy (it is a metric, not a per-frame operation), returned as float32.

    Args:
        lab1: (..., 3) L*a*b* values, e.g. (H, W, 3) from ``rgb_to_lab``.
        lab2: (..., 3) L*a*b* values, broadcastable against ``lab1``.

    Returns:
        (...) float32 non-negative differences, e.g. (H, W).

    Raises:
        ValueError: the last axis of an input is not 3.
    """
    x1 = np.asarray(lab1, dtype=np.float64)
    x2 = np.asarray(lab2, dtype=np.float64)
    _check_last_axis(x1, 3, "ciede2000")
    _check_last_axis(x2, 3, "ciede2000")
    l1, a1, b1 = x1[..., 0], x1[..., 1], x1[..., 2]
    l2, a2, b2 = x2[..., 0], x2[..., 1], x2[..., 2]

    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = a1 * (1.0 + g), a2 * (1.0 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = _hue_degrees(b1, a1p), _hue_degrees(b2, a2p)
    cprod = c1p * c2p

    d_l = l2 - l1
    d_c = c2p - c1p
    d_h = 2.0 * np.sqrt(cprod) * np.sin(np.radians(_hue_difference(h1p, h2p, cprod)) / 2.0)

    l_bar = (l1 + l2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_bar = _mean_hue(h1p, h2p, cprod)
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    tl, tc, th = d_l / s_l, d_c / s_c, d_h / s_h
    de2 = tl**2 + tc**2 + th**2 + r_t * tc * th
    return np.sqrt(np.maximum(de2, 0.0)).astype(np.float32)
