"""Export a colorized page: flat PNG (8/16-bit), TIFF, JPEG, WebP, or a layered PSD.

Flat formats get the composite: the colour with the ink (line art) multiplied on top when
``preserve_ink``. A PSD keeps the parts as layers, bottom to top::

    Flats   only when there are flats (straight alpha; covered by the opaque colour)
    Color   opaque colorization result
    Ink     the line art as grey, blend mode Multiply (hidden when not ``preserve_ink``)
    Hints   hidden, the artist's colour hints (straight alpha), on top so that turning it on shows them

so the visible composite is ``Color x Ink``, the same image as the flat export (within the 1/255
of 8-bit storage). The file's merged image is that composite, DPI is recorded in the resolution
resource, the sRGB ICC profile is embedded (``core.icc``; without it Krita reads a 16-bit PSD as linear
light), and the document is 8- or 16-bit RGB at full resolution. Every file is written
atomically (a failed export leaves an existing file untouched).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mangacolor_app.core.color import to_float32, to_uint8, to_uint16
from mangacolor_app.core.composite import multiply
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.export_layers import PSD_LAYER_NAMES, ExportLayers
from mangacolor_app.core.flats_layer import flats_on_paper
from mangacolor_app.core.imageio import save_image
from mangacolor_app.core.imagesave import FORMATS, resolve_format

__all__ = ["ExportLayers", "EXPORT_FORMATS", "PSD_LAYER_NAMES", "export_page", "export_flats_png", "composite_layers"]

logger = logging.getLogger(__name__)

#: Accepted format names / extensions -> canonical format: the exportable rows of ``core.imagesave.FORMATS``.
EXPORT_FORMATS: dict[str, str] = {
    alias: name for name, (_, aliases) in FORMATS.items() if name != "bmp" for alias in aliases
}


def _check_layers(layers: ExportLayers, path: Path) -> None:
    """Raise ImageSaveError naming ``path`` unless every layer has the documented shape and size."""
    h, w = layers.size
    expected = {"ink": ((h, w), layers.ink), "color": ((h, w, 3), layers.color)}
    if layers.flats is not None:
        expected["flats"] = ((h, w, 4), layers.flats)
    if layers.hints is not None:
        expected["hints"] = ((h, w, 4), layers.hints)
    for name, (shape, array) in expected.items():
        arr = np.asarray(array)
        int_ok = arr.dtype in ((np.uint8,) if name == "ink" else (np.uint8, np.uint16))
        if arr.shape != shape or not (int_ok or np.issubdtype(arr.dtype, np.floating)):
            raise ImageSaveError(
                f"cannot export: the {name} layer is {arr.dtype} {arr.shape}, expected float {shape}", path
            )
    if h < 1 or w < 1:
        raise ImageSaveError("cannot export an empty page", path)


def _resolve_format(path: Path, fmt: str | None) -> str:
    """Canonical format (png, tiff, jpeg, webp, psd) from ``fmt`` or the extension."""
    return resolve_format(path, fmt, set(EXPORT_FORMATS.values()), "export", "png, tif, jpg, webp or psd")


def composite_layers(layers: ExportLayers, preserve_ink: bool = True) -> npt.NDArray[np.float32]:
    """The flat image of a page: ``color * ink`` (multiply) when ``preserve_ink``, else ``color``.

    Returns:
        (H, W, 3) float32 in [0, 1] (a new array).
    """
    color = to_float32(layers.color) if layers.color.dtype in (np.uint8, np.uint16) else layers.color
    if preserve_ink:
        return multiply(color, to_float32(layers.ink) if layers.ink.dtype == np.uint8 else layers.ink)
    return np.array(color, dtype=np.float32, copy=True)


#: Rows of a page composited at a time by :func:`_flat_quantized` (bounded float32 temporaries).
_FLAT_ROWS = 256


def _flat_quantized(layers: ExportLayers, preserve_ink: bool, bit_depth: int) -> np.ndarray:
    """:func:`composite_layers` quantised to ``bit_depth`` (uint8/uint16), computed ``_FLAT_ROWS`` rows at a
    time: the same values as quantising the whole float composite, without a page-sized float32 copy."""
    h, w = layers.size
    out = np.empty((h, w, 3), np.uint16 if bit_depth == 16 else np.uint8)
    quantize = to_uint16 if bit_depth == 16 else to_uint8
    for y in range(0, h, _FLAT_ROWS):
        rows = slice(y, y + _FLAT_ROWS)
        part = ExportLayers(ink=layers.ink[rows], color=layers.color[rows])
        out[rows] = quantize(composite_layers(part, preserve_ink))
    return out


def export_page(
    path: str | os.PathLike[str],
    layers: ExportLayers,
    *,
    format: str | None = None,  # noqa: A002 - public API name fixed by DEVELOPERS.md
    bit_depth: int = 8,
    quality: int = 95,
    preserve_ink: bool = True,
    release: bool = False,
) -> Path:
    """Export a page, atomically.

    Args:
        path: destination file.
        layers: the page's parts (see :class:`ExportLayers`).
        format: "png", "tif"/"tiff", "jpg"/"jpeg", "webp", "psd" (or "psb"); default from the
            extension of ``path``.
        bit_depth: 8, or 16 for PNG, TIFF and PSD.
        quality: JPEG/WebP quality, 1..100.
        preserve_ink: multiply the ink over the colour (flat formats); in a PSD the Ink layer
            is visible when True and hidden when False, so the PSD shows what a flat export shows.
        release: a PSD export sets each field of ``layers`` to None once that layer is stored (the
            caller passes the only references and no longer needs them), so a large page's layers are
            not all held beside their stored copies (the CLI's peak memory).

    Returns:
        ``Path(path)``.

    Raises:
        ImageSaveError (naming the file): unknown format, unsupported bit depth for the format,
            quality out of range, layers of the wrong shape or size, a PSD larger than 30000 px
            on a side (use ``.psb``), folder missing or unwritable, encoder failure.
    """
    target = Path(path)
    fmt = _resolve_format(target, format)
    _check_layers(layers, target)
    if bit_depth not in (8, 16) or (bit_depth == 16 and fmt not in ("png", "tiff", "psd")):
        raise ImageSaveError(f"cannot export: {bit_depth}-bit {fmt.upper()} is not supported", target)
    if not 1 <= quality <= 100:
        raise ImageSaveError(f"cannot export: quality must be in 1..100, got {quality}", target)
    if fmt == "psd":
        from mangacolor_app.core.psd_export import export_psd  # noqa: PLC0415 - psd-tools only for PSD export

        export_psd(target, layers, bit_depth=bit_depth, preserve_ink=preserve_ink, release=release)
    else:
        flat = _flat_quantized(layers, preserve_ink, bit_depth)
        save_image(target, flat, format=fmt, quality=quality, bit_depth=bit_depth, dpi=layers.dpi)
    logger.info("exported %s (%s, %d-bit)", target, fmt, bit_depth)
    return target


def export_flats_png(
    path: str | os.PathLike[str],
    flats: npt.NDArray[np.float32],
    ink: npt.NDArray[np.float32] | None,
    *,
    dpi: tuple[float, float] | None = None,
) -> Path:
    """Export the flats alone as a PNG, atomically (for flatting in another program).

    Args:
        path: destination ``.png``.
        flats: (H, W, 4) float32 in [0, 1], straight alpha (0 where no region was filled).
        ink: (H, W) float32 in [0, 1] line art, or None. With ink, the flats are laid on white
            paper and the ink multiplied on top: an opaque RGB PNG to check the flats against the
            lines. Without, the flats layer itself is written as RGBA (transparent where unfilled).
        dpi: (x, y) dots per inch to record, or None.

    Returns:
        ``Path(path)``.

    Raises:
        ImageSaveError (naming the file): wrong shapes, folder missing or unwritable.
    """
    target = Path(path)
    arr = np.asarray(flats)
    if arr.ndim != 3 or arr.shape[2] != 4 or not _is_unit_layer(arr.dtype):
        raise ImageSaveError(f"cannot export flats: expected float or uint8 (H, W, 4), got {arr.dtype} {arr.shape}",
                             target)
    if ink is None:
        return save_image(target, arr, format="png", dpi=dpi)
    line = np.asarray(ink)
    if line.shape != arr.shape[:2] or not _is_unit_layer(line.dtype):
        message = f"cannot export flats: ink is {line.dtype} {line.shape}, expected float or uint8 {arr.shape[:2]}"
        raise ImageSaveError(message, target)
    return save_image(target, flats_on_paper(arr, line, out_dtype=np.uint8), format="png", dpi=dpi)


def _is_unit_layer(dtype: np.dtype[Any]) -> bool:
    """A float layer in [0, 1] or a uint8 one."""
    return bool(np.issubdtype(dtype, np.floating) or dtype == np.uint8)
