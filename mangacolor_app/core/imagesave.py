"""Saving page images atomically: PNG and TIFF in 8 or 16 bit, JPEG, WebP and BMP, DPI kept.

Images follow the array contract (float32 [0, 1], (H, W), (H, W, 3) or (H, W, 4)); uint8 and uint16
arrays are accepted too. 16-bit colour goes through OpenCV, the rest through Pillow.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Collection
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.color import to_float32, to_uint8, to_uint16
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.icc import png_with_icc, srgb_icc, tiff_with_icc

__all__ = ["FORMATS", "SAVE_FORMATS", "format_name", "resolve_format", "save_image"]

logger = logging.getLogger(__name__)

#: THE table of file formats: canonical name -> (extension written, names and extensions accepted).
#: Saving, export and the CLI's output planning all resolve a format through :func:`format_name`.
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "png": (".png", ("png",)), "tiff": (".tif", ("tif", "tiff")), "jpeg": (".jpg", ("jpg", "jpeg")),
    "webp": (".webp", ("webp",)), "bmp": (".bmp", ("bmp",)), "psd": (".psd", ("psd", "psb")),
}  # fmt: skip
#: Formats :func:`save_image` writes (Pillow's name is the canonical name upper-cased).
SAVE_FORMATS = ("png", "tiff", "jpeg", "webp", "bmp")


def format_name(name: str, allowed: Collection[str] | None = None) -> str | None:
    """The canonical format of a name or extension (``"JPG"``, ``".tif"``, ``"psb"``), or None when it
    is unknown or not in ``allowed`` (canonical names)."""
    key = name.lower().lstrip(".")
    for canonical, (_, aliases) in FORMATS.items():
        if key in aliases:
            return canonical if allowed is None or canonical in allowed else None
    return None


def resolve_format(path: Path, fmt: str | None, allowed: Collection[str], action: str, choices: str) -> str:
    """The canonical format (in ``allowed``) of ``fmt`` or, without one, of the file extension of ``path``.

    Raises:
        ImageSaveError: unknown format, e.g. "cannot save: unknown image file extension '.gif' (use ...)".
    """
    found = format_name(fmt or path.suffix, allowed)
    if found is None:
        what = f"format {fmt!r}" if fmt else f"file extension {path.suffix!r}"
        raise ImageSaveError(f"cannot {action}: unknown {what} (use {choices})", path)
    return found


def _resolve_format(path: Path, fmt: str | None) -> str:
    """Pillow format name from ``fmt`` or the file extension; ImageSaveError when unknown."""
    return resolve_format(path, fmt, SAVE_FORMATS, "save", "png, tif, jpg, webp or bmp").upper()


def _check_save_args(target: Path, image: np.ndarray, fmt: str, quality: int, bit_depth: int) -> None:
    """Validate ``save_image`` arguments (ValueError for caller bugs, ImageSaveError for choices)."""
    ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    if not ok or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"save_image: expected (H, W), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    if not 1 <= quality <= 100:
        raise ValueError(f"save_image: quality must be in 1..100, got {quality}")
    if bit_depth not in (8, 16) or (bit_depth == 16 and fmt not in ("PNG", "TIFF")):
        raise ImageSaveError(f"cannot save: {bit_depth}-bit {fmt} is not supported (16 bits: PNG or TIFF only)", target)


def _pil_params(fmt: str, quality: int, lossless: bool, dpi: tuple[float, float] | None) -> dict[str, object]:
    """Encoder keyword arguments for Pillow's ``Image.save``."""
    params: dict[str, object] = {}
    if fmt != "BMP":
        params["icc_profile"] = srgb_icc()  # our pixels are sRGB: say so (see core.icc)
    if dpi is not None and fmt != "WEBP":
        params["dpi"] = dpi
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=False)
    elif fmt == "WEBP":
        params.update(quality=quality, lossless=lossless, method=4)
    elif fmt == "TIFF":
        params["compression"] = "tiff_lzw"
    elif fmt == "PNG":
        params["compress_level"] = 6
    return params


def _png_phys_chunk(dpi: tuple[float, float]) -> bytes:
    """A PNG pHYs chunk for ``dpi`` (dots per inch -> pixels per metre)."""
    body = b"pHYs" + struct.pack(">IIB", round(dpi[0] / 0.0254), round(dpi[1] / 0.0254), 1)
    return struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))


def _encode_16bit(image: np.ndarray, fmt: str, dpi: tuple[float, float] | None, path: Path) -> bytes:
    """Encode a 16-bit PNG/TIFF with OpenCV (grey, RGB or RGBA); returns the file bytes."""
    arr: np.ndarray = to_uint16(image)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    params: list[int] = []
    if fmt == "TIFF":
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 5]  # LZW
        if dpi is not None:
            params += [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, round(dpi[0]), cv2.IMWRITE_TIFF_YDPI, round(dpi[1])]
    ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tiff", arr, params)
    if not ok:
        raise ImageSaveError(f"cannot save: the 16-bit {fmt} encoder failed", path)
    data = buf.tobytes()
    if fmt == "PNG" and dpi is not None:
        ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
        data = data[:ihdr_end] + _png_phys_chunk(dpi) + data[ihdr_end:]
    return png_with_icc(data) if fmt == "PNG" else tiff_with_icc(data)


def _to_pil(image: np.ndarray, fmt: str) -> Image.Image:
    """8-bit Pillow image from an (H, W) / (H, W, 3) / (H, W, 4) array; JPEG and BMP get RGBA
    flattened onto white paper (our loader reads no BMP alpha)."""
    if image.ndim == 3 and image.shape[2] == 4 and fmt in ("JPEG", "BMP"):
        rgba = to_float32(image)
        alpha = rgba[..., 3:]
        image = rgba[..., :3] * alpha
        image += 1.0 - alpha
    return Image.fromarray(np.ascontiguousarray(to_uint8(image)))


def save_image(
    path: str | os.PathLike[str],
    image: npt.ArrayLike,
    *,
    format: str | None = None,  # noqa: A002 - public API name fixed by DEVELOPERS.md
    quality: int = 95,
    bit_depth: int = 8,
    dpi: tuple[float, float] | None = None,
    lossless: bool = False,
) -> Path:
    """Save an image atomically (a failed save leaves any existing file intact).

    Args:
        path: destination; its extension picks the format unless ``format`` is given.
        image: (H, W), (H, W, 3) or (H, W, 4) float in [0, 1], or uint8 / uint16 arrays.
        format: "png", "tif"/"tiff", "jpg"/"jpeg", "webp" or "bmp" (case-insensitive).
        quality: JPEG/WebP quality 1..100 (JPEG at 90 or more keeps full chroma resolution).
        bit_depth: 8, or 16 for PNG and TIFF (16-bit colour is encoded with OpenCV).
        dpi: (x, y) resolution to record (PNG, TIFF, JPEG, BMP; WebP has no DPI field).
        lossless: WebP lossless mode.

    Returns:
        ``Path(path)``.

    Raises:
        ImageSaveError: unknown format, 16 bits requested for another format, folder missing or
            not writable, encoder failure, disk full.
        ValueError: bad array shape or quality out of range.
    """
    target = Path(path)
    fmt = _resolve_format(target, format)
    arr = np.asarray(image)
    _check_save_args(target, arr, fmt, quality, bit_depth)
    with atomic_write(target) as tmp:
        try:
            if bit_depth == 16:
                tmp.write_bytes(_encode_16bit(arr, fmt, dpi, target))
            else:
                _to_pil(arr, fmt).save(tmp, format=fmt, **_pil_params(fmt, quality, lossless, dpi))
        except (ValueError, KeyError, TypeError, cv2.error) as exc:
            raise ImageSaveError(f"cannot save: the {fmt} encoder failed ({exc})", target) from exc
    logger.debug("saved %s (%s, %d-bit)", target, fmt, bit_depth)
    return target
