"""Colour-hint layer: fitting to the page and encodings fed to the colorization model.

A hint layer is RGBA float32 (H, W, 4) in [0, 1]; ``alpha > 0`` marks a hint of that RGB colour
(the magnitude of alpha is ignored by the encodings).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from .color import to_float32
from .errors import HintError

logger = logging.getLogger(__name__)

#: Relative aspect-ratio difference under which a hint layer is resized to the page.
ASPECT_TOLERANCE = 0.01
#: Smallest Gaussian sigma (px) at which the blur is computed on a downscaled copy.
MIN_LOWRES_SIGMA = 8.0
#: Gaussian-weighted hint coverage at the centre of a fully hinted disc of radius sigma/2; the
#: confidence channel is coverage / this, clipped to 1.
CONF_REFERENCE = 1.0 - math.exp(-1.0 / 8.0)


def empty_hints(h: int, w: int) -> np.ndarray:
    """A hint layer with no hints: zeros, float32 (h, w, 4). Raises HintError for sizes < 1."""
    if h < 1 or w < 1:
        raise HintError(f"hint layer size must be positive, got {w}x{h}")
    return np.zeros((h, w, 4), dtype=np.float32)


_INT_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def _check_hints(hints: np.ndarray, path: str | Path | None = None, *, integers: bool = False) -> np.ndarray:
    """Validate an (H, W, 4) float hint layer; returns it as float32 (no copy if already). With
    ``integers``, uint8/uint16 layers are accepted and returned as they are."""
    if not isinstance(hints, np.ndarray) or hints.ndim != 3 or hints.shape[2] != 4:
        shape = getattr(hints, "shape", None)
        raise HintError(f"hint layer must be an (H, W, 4) RGBA array, got shape {shape}", path)
    if integers and hints.dtype in _INT_DTYPES:
        if hints.shape[0] < 1 or hints.shape[1] < 1:
            raise HintError(f"hint layer is empty ({hints.shape[1]}x{hints.shape[0]})", path)
        return hints
    if not np.issubdtype(hints.dtype, np.floating):
        raise HintError(f"hint layer must be float in [0, 1], got dtype {hints.dtype}", path)
    if hints.shape[0] < 1 or hints.shape[1] < 1:
        raise HintError(f"hint layer is empty ({hints.shape[1]}x{hints.shape[0]})", path)
    return hints.astype(np.float32, copy=False)


def fit_hints(hints: np.ndarray, shape_hw: tuple[int, int], path: str | Path | None = None) -> np.ndarray:
    """Fit a hint layer to a page of ``shape_hw`` = (H, W).

    Same size: returned as is (float32, or uint8/uint16 as given). Same aspect ratio within 1% (hints
    painted at preview resolution): nearest-neighbour resize to (H, W, 4), same dtype. Otherwise HintError.

    Args:
        hints: (h, w, 4) float RGBA in [0, 1], or uint8/uint16 RGBA (kept integer: page-sized layers
            stay 4 or 8 bytes a pixel).
        shape_hw: the page's (H, W).
        path: the hint file, named in error messages.

    Raises:
        HintError: malformed layer, or a size that does not fit the page (message names both sizes).
    """
    hints = _check_hints(hints, path, integers=True)
    page_h, page_w = int(shape_hw[0]), int(shape_hw[1])
    if page_h < 1 or page_w < 1:
        raise HintError(f"page size must be positive, got {page_w}x{page_h}", path)
    h, w = hints.shape[:2]
    if (h, w) == (page_h, page_w):
        return hints
    ratio = (w / h) / (page_w / page_h)
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        raise HintError(
            f"hint layer is {w}x{h} px but the page is {page_w}x{page_h} px (different aspect ratio)", path
        )
    logger.debug("resizing hints %dx%d -> %dx%d (nearest)", w, h, page_w, page_h)
    return cv2.resize(hints, (page_w, page_h), interpolation=cv2.INTER_NEAREST)


def encode_hint_mask(hints: np.ndarray) -> np.ndarray:
    """Model input encoding: float32 (H, W, 4) = (rgb * mask, mask), mask = (alpha > 0) in {0, 1}.

    Raises HintError for a malformed layer.
    """
    hints = _check_hints(hints)
    out = np.zeros(hints.shape, dtype=np.float32)
    step = _block_rows(hints.shape[1])
    for y in range(0, hints.shape[0], step):
        block = _premultiplied(hints[y : y + step])
        if block is not None:
            out[y : y + step] = block
    return out


def _block_rows(width: int, factor: int = 1) -> int:
    """Rows per processing block (a multiple of ``factor``) so blocks stay around 2M pixels."""
    return factor * max(1, (1 << 21) // (width * factor))


def _premultiplied(block: np.ndarray) -> np.ndarray | None:
    """(rgb * mask, mask) float32 (h, w, 4) of a block of hint rows (mask = alpha > 0), or None
    when the block holds no hint."""
    mask = block[..., 3] > 0
    if not mask.any():
        return None
    out = block * mask[..., None].astype(np.float32)
    out[..., 3] = mask
    return out


def _downscale_premultiplied(hints: np.ndarray, factor: int) -> np.ndarray:
    """Average of the premultiplied hints over a grid of factor x factor cells, float32
    (ceil(H/f), ceil(W/f), 4); pixels beyond the page count as zero (like the blur's constant
    border). Computed in row blocks so no full-size temporary is made."""
    h, w = hints.shape[:2]
    col_starts = np.arange(0, w, factor)
    out = np.zeros((-(-h // factor), len(col_starts), 4), dtype=np.float32)
    rows = _block_rows(w, factor)
    for y in range(0, h, rows):
        block = _premultiplied(hints[y : y + rows])
        if block is None:
            continue
        row_starts = np.arange(0, block.shape[0], factor)
        sums = np.add.reduceat(np.add.reduceat(block, row_starts, axis=0), col_starts, axis=1)
        out[y // factor : y // factor + len(row_starts)] = sums / float(factor * factor)
    return out


def _upscale(small: np.ndarray, factor: int, shape_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear upsample of cell-centred (h', w', C) data back to (H, W, C), cells aligned."""
    offset = 0.5 / factor - 0.5
    matrix = np.array([[1.0 / factor, 0.0, offset], [0.0, 1.0 / factor, offset]])
    return cv2.warpAffine(
        small,
        matrix,
        (shape_hw[1], shape_hw[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def encode_hint_blur(hints: np.ndarray, sigma_frac: float = 0.05) -> np.ndarray:
    """Blurred colour-cue encoding (normalised convolution), float32 (H, W, 4) in [0, 1].

    Channels 0-2: the hint colours spread by a Gaussian of sigma = ``sigma_frac`` x the short side,
    ``G*(rgb*mask) / G*mask`` (0 where no hint is within reach). Channel 3: confidence, the
    Gaussian-weighted hint coverage ``G*mask`` divided by CONF_REFERENCE and clipped to [0, 1]
    (1 inside hinted blobs of radius >= sigma/2, decaying with distance). Resolution independent.
    For sigma >= MIN_LOWRES_SIGMA px the blur is computed on a downscaled copy and upsampled
    bilinearly, so large pages stay fast.

    Raises:
        HintError: malformed layer or ``sigma_frac <= 0``.
    """
    hints = _check_hints(hints)
    if not sigma_frac > 0:
        raise HintError(f"hint blur sigma_frac must be > 0, got {sigma_frac}")
    h, w = hints.shape[:2]
    if not np.any(hints[..., 3] > 0):
        return np.zeros((h, w, 4), dtype=np.float32)
    sigma = sigma_frac * min(h, w)
    factor = max(1, int(sigma // MIN_LOWRES_SIGMA))
    small = _downscale_premultiplied(hints, factor) if factor > 1 else encode_hint_mask(hints)
    blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / factor, borderType=cv2.BORDER_CONSTANT)
    coverage = blurred[..., 3:4]
    colour = blurred[..., :3] / np.maximum(coverage, 1e-12)
    colour[np.broadcast_to(coverage <= 1e-12, colour.shape)] = 0.0
    small = np.concatenate([np.clip(colour, 0.0, 1.0), np.clip(coverage / CONF_REFERENCE, 0.0, 1.0)], axis=2)
    if factor == 1:
        return small.astype(np.float32, copy=False)
    return _upscale(small.astype(np.float32, copy=False), factor, (h, w))


def coverage_reach(mask: np.ndarray, sigma_frac: float) -> np.ndarray:
    """How close each pixel is to the marked area of ``mask``: float32 (H, W) in [0, 1].

    The Gaussian-weighted coverage of ``mask`` (sigma = ``sigma_frac`` x the short side) divided by
    CONF_REFERENCE and clipped: 1 inside and near marked blobs of radius >= sigma/2, decaying to 0
    a few sigmas away; all 0 for an empty mask. Computed on a downscaled copy (cells of
    ``sigma // MIN_LOWRES_SIGMA`` pixels, borders counted as unmarked) and upsampled bilinearly, as
    :func:`encode_hint_blur` does.

    Args:
        mask: (H, W) bool or numeric array; non-zero = marked.
        sigma_frac: blur sigma as a fraction of the short side, > 0.

    Raises:
        HintError: not a 2-D mask, or ``sigma_frac <= 0``.
    """
    if mask.ndim != 2:
        raise HintError(f"reach mask must be (H, W), got shape {mask.shape}")
    if not sigma_frac > 0:
        raise HintError(f"reach sigma_frac must be > 0, got {sigma_frac}")
    h, w = mask.shape
    marked = mask if mask.dtype == np.bool_ else mask != 0
    if not marked.any():
        return np.zeros((h, w), dtype=np.float32)
    sigma = sigma_frac * min(h, w)
    factor = max(1, int(sigma // MIN_LOWRES_SIGMA))
    hc, wc = -(-h // factor), -(-w // factor)
    padded = np.zeros((hc * factor, wc * factor), dtype=np.uint8)
    padded[:h, :w] = marked
    small = padded.reshape(hc, factor, wc, factor).mean(axis=(1, 3), dtype=np.float32)
    blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / factor, borderType=cv2.BORDER_CONSTANT)
    conf = np.clip(blurred / CONF_REFERENCE, 0.0, 1.0).astype(np.float32)
    if factor == 1:
        return conf
    return _upscale(conf[:, :, None], factor, (h, w)).reshape(h, w)


__all__ = ["empty_hints", "fit_hints", "encode_hint_mask", "encode_hint_blur", "coverage_reach", "CONF_REFERENCE"]


#: The Paper ("keep blank") key in an 8-bit hint layer: RGBA (255, 255, 255, 254). Any other pixel
#: with alpha > 0 is a colour hint of its RGB, white ones included (alpha 255 or any alpha but 254).
PAPER_KEY_RGBA8 = (255, 255, 255, 254)


def paper_key_mask(hints: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of a hint layer (H, W, 4) (float in [0, 1], or uint8/uint16) holding the
    Paper key (:data:`PAPER_KEY_RGBA8` at 8-bit precision). Raises HintError for a malformed layer."""
    hints = _check_hints(hints, integers=True)
    if hints.dtype == np.uint8:  # the exact bytes (= the float test on to_float32 of them)
        mask = hints[..., 3] == PAPER_KEY_RGBA8[3]
        if mask.any():
            mask &= (hints[..., :3] == 255).all(axis=2)
        return mask
    if hints.dtype == np.uint16:  # one plane at a time in float32, as to_float32 of the layer gives
        alpha = to_float32(hints[..., 3])
    else:
        alpha = hints[..., 3]
    level = PAPER_KEY_RGBA8[3]
    mask = alpha > np.float32((level - 0.5) / 255.0)
    mask &= alpha < np.float32((level + 0.5) / 255.0)
    if mask.any():
        rgb = to_float32(hints[..., :3]) if hints.dtype == np.uint16 else hints[..., :3]
        mask &= (rgb >= 254.5 / 255.0).all(axis=2)
    return mask


def colour_hint_mask(hints: np.ndarray) -> np.ndarray:
    """(H, W) bool: the colour hints of a hint layer, float or uint8/uint16 (alpha > 0 and not the Paper key)."""
    return (np.asarray(hints)[..., 3] > 0) & ~paper_key_mask(hints)


__all__ += ["PAPER_KEY_RGBA8", "paper_key_mask", "colour_hint_mask"]
