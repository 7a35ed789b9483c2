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

import gc
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.color import to_float32, to_uint8, to_uint16
from mangacolor_app.core.composite import alpha_over, multiply
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.icc import srgb_icc
from mangacolor_app.core.imageio import save_image
from mangacolor_app.core.imagesave import FORMATS, resolve_format

__all__ = ["ExportLayers", "EXPORT_FORMATS", "PSD_LAYER_NAMES", "export_page", "export_flats_png", "composite_layers"]

logger = logging.getLogger(__name__)

#: Accepted format names / extensions -> canonical format: the exportable rows of ``core.imagesave.FORMATS``.
EXPORT_FORMATS: dict[str, str] = {
    alias: name for name, (_, aliases) in FORMATS.items() if name != "bmp" for alias in aliases
}
#: PSD layer names, bottom to top (Flats only when present).
PSD_LAYER_NAMES = ("Flats", "Color", "Ink", "Hints")
_PSD_MAX_SIDE = 30000  # larger documents must be PSB (Photoshop "Large Document Format")


@dataclass
class ExportLayers:
    """The parts of a colorized page.

    Attributes:
        ink: (H, W) float32 in [0, 1] (or uint8), the line art (1 = paper, 0 = ink).
        color: (H, W, 3) float32 in [0, 1], or uint16 / uint8 (the page job's and the project's form: read
            through ``core.color.to_float32``, a row block at a time), the colorization result (without ink).
        flats: (H, W, 4) float32 in [0, 1] (or uint8/uint16) straight-alpha flats layer, or None.
        hints: (H, W, 4) float32 in [0, 1] (or uint8/uint16, as loaded or painted) hint layer (RGB + mask
            as alpha), or None.
        dpi: (x, y) dots per inch to record, or None.
    """

    ink: npt.NDArray[Any]
    color: npt.NDArray[Any]
    flats: npt.NDArray[Any] | None = None
    hints: npt.NDArray[Any] | None = None
    dpi: tuple[float, float] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.color.shape[0]), int(self.color.shape[1])


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
        _export_psd(target, layers, bit_depth=bit_depth, preserve_ink=preserve_ink, release=release)
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
    return save_image(target, _flats_on_paper(arr, line), format="png", dpi=dpi)


def _is_unit_layer(dtype: np.dtype[Any]) -> bool:
    """A float layer in [0, 1] or a uint8 one."""
    return bool(np.issubdtype(dtype, np.floating) or dtype == np.uint8)


def _flats_on_paper(flats: np.ndarray, line: np.ndarray) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8: the flats laid on white paper with the ink multiplied, ``_FLAT_ROWS`` rows at a
    time (float32 only for a strip)."""
    h, w = line.shape
    out = np.empty((h, w, 3), np.uint8)
    paper = np.ones((min(h, _FLAT_ROWS), w, 3), np.float32)
    for y in range(0, h, _FLAT_ROWS):
        rows = slice(y, y + _FLAT_ROWS)
        block = to_float32(flats[rows])
        over = alpha_over(paper[: block.shape[0]], block)
        out[rows] = to_uint8(multiply(over, to_float32(line[rows])))
    return out


# ------------------------------------------------------------------------------------ PSD


def _quantize(array: npt.ArrayLike, bit_depth: int) -> np.ndarray:
    """uint8 or uint16 copy of a [0, 1] float array (the values the PSD will store)."""
    return to_uint16(array) if bit_depth == 16 else to_uint8(array)


def _merged_planes(color_q: np.ndarray, ink_q: np.ndarray | None, bit_depth: int) -> list[bytes]:
    """The PSD merged image (visible composite of the stored layer values) as big-endian planes,
    computed ``_FLAT_ROWS`` rows at a time (float32 only for a strip)."""
    maxval = 65535.0 if bit_depth == 16 else 255.0
    h, w = color_q.shape[:2]
    planes = np.empty((3, h, w), ">u2" if bit_depth == 16 else ">u1")
    for y in range(0, h, _FLAT_ROWS):
        rows = slice(y, y + _FLAT_ROWS)
        merged = color_q[rows].astype(np.float32) / np.float32(maxval)
        if ink_q is not None:
            merged *= ink_q[rows, :, None].astype(np.float32) / np.float32(maxval)
        planes[:, rows] = _quantize(merged, bit_depth).transpose(2, 0, 1)
    return [planes.tobytes()]  # the three planes back to back: one item, so psd-tools' join copies nothing


def _resolution_resource(dpi: tuple[float, float]) -> object:
    """A PSD ResolutionInfo (1005) image resource: pixels per inch as 16.16 fixed point."""
    from psd_tools.constants import Resource  # noqa: PLC0415 - psd-tools only for PSD export
    from psd_tools.psd.image_resources import ImageResource, ResoulutionInfo  # noqa: PLC0415

    horizontal, vertical = (max(1, round(float(v) * 65536)) for v in dpi)
    info = ResoulutionInfo(horizontal, 1, 1, vertical, 1, 1)  # 1 = pixels/inch, 1 = inches
    return ImageResource(key=Resource.RESOLUTION_INFO, data=info)  # type: ignore[arg-type]  # psd-tools encodes it


def _icc_resource() -> object:
    """A PSD ICC_PROFILE (1039) image resource holding the sRGB profile."""
    from psd_tools.constants import Resource  # noqa: PLC0415
    from psd_tools.psd.image_resources import ImageResource  # noqa: PLC0415

    return ImageResource(key=Resource.ICC_PROFILE, data=srgb_icc())


def _add_layer(psd: Any, array: np.ndarray, name: str, **kwargs: Any) -> Any:
    """``psd.create_pixel_layer_from_array(array, name=name, **kwargs)`` for an integer array at the
    document's depth (uint8 at 8 bits, uint16 at 16), without psd-tools' page-sized float32 copy of the
    layer: each plane is stored as the integers it holds (the bytes psd-tools writes for them, since
    they round-trip its float scaling exactly), one plane at a time. An (H, W) array is a grey layer
    (the plane in R, G and B). Falls back to the public call when psd-tools' layer assembly is not there.
    """
    from psd_tools.api.layers import PixelLayer  # noqa: PLC0415
    from psd_tools.constants import Compression  # noqa: PLC0415

    header: Any = getattr(getattr(psd, "_record", None), "header", None)
    assemble = getattr(PixelLayer, "_assemble", None)
    depth: Any = getattr(header, "depth", None)
    expected = {8: np.uint8, 16: np.uint16}.get(depth) if depth in (8, 16) else None
    if assemble is None or expected is None or array.dtype != expected or not hasattr(psd, "append"):
        full = np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array
        return psd.create_pixel_layer_from_array(full, name=name, **kwargs)
    h, w = array.shape[:2]
    big_endian = ">u2" if depth == 16 else ">u1"
    planes = [array] * 3 if array.ndim == 2 else [array[..., c] for c in range(array.shape[2])]
    if len(planes) == 4:
        transparency = _plane_bytes(planes[3], big_endian)
    else:
        from psd_tools.api.pil_io import encode_opaque_channel  # noqa: PLC0415

        transparency = encode_opaque_channel(w, h, depth)
    colours = (_plane_bytes(plane, big_endian) for plane in planes[:3])
    layer_record, channels = assemble(transparency, colours, name, 0, 0, w, h, Compression.RLE,
                                      header.version, depth)
    layer = PixelLayer(psd, layer_record, channels)
    psd.append(layer)
    for key, value in kwargs.items():
        setattr(layer, key, value)
    owner = getattr(psd, "_psd", psd)
    if hasattr(owner, "mark_updated"):
        owner.mark_updated()
    return layer


def _plane_bytes(plane: np.ndarray, big_endian: str) -> bytes:
    """A plane's stored bytes: uint8 as it is (one copy, from a strided view too), uint16 big-endian."""
    return plane.tobytes() if plane.dtype == np.uint8 else plane.astype(big_endian).tobytes()


def _build_psd(layers: ExportLayers, bit_depth: int, preserve_ink: bool,
               release: bool = False) -> tuple[object, list[bytes]]:
    """Build the layered document; returns it with the merged-image planes to store. With ``release``,
    each field of ``layers`` is set to None once its layer is stored (see :func:`export_page`)."""
    from psd_tools import PSDImage  # noqa: PLC0415
    from psd_tools.constants import BlendMode, Resource  # noqa: PLC0415

    psd = _new_document(PSDImage, layers.size, bit_depth)
    if not hasattr(psd, "create_pixel_layer_from_array"):
        import psd_tools  # noqa: PLC0415

        version = psd_tools.__version__
        raise ImportError(f"PSD export needs a newer psd-tools (with create_pixel_layer_from_array), not {version}")
    # the layers that need no quantised copy (uint8 at 8 bits) first, so they are let go before the colour's
    if layers.hints is not None:
        hints_layer = _add_layer(psd, _quantize(_take(layers, "hints", release), bit_depth), "Hints")
        hints_layer.visible = False
    if layers.flats is not None:
        _add_layer(psd, _quantize(_take(layers, "flats", release), bit_depth), "Flats")
    color_q = _quantize(_take(layers, "color", release), bit_depth)
    _add_layer(psd, color_q, "Color")
    ink_q = _quantize(_take(layers, "ink", release), bit_depth)
    ink_layer = _add_layer(psd, ink_q, "Ink", blend_mode=BlendMode.MULTIPLY)
    ink_layer.visible = preserve_ink
    _order_layers(psd)
    if layers.dpi is not None:
        psd.image_resources[Resource.RESOLUTION_INFO] = _resolution_resource(layers.dpi)
    psd.image_resources[Resource.ICC_PROFILE] = _icc_resource()
    return psd, _merged_planes(color_q, ink_q if preserve_ink else None, bit_depth)


def _take(layers: ExportLayers, name: str, release: bool) -> np.ndarray:
    """``layers.<name>``, set to None on ``layers`` when ``release``."""
    array: np.ndarray = getattr(layers, name)
    if release:
        setattr(layers, name, None)
    return array


def _new_document(psd_image: Any, size: tuple[int, int], bit_depth: int) -> Any:
    """An empty white RGB document of ``size`` (h, w). ``PSDImage.new`` builds its merged image at full
    size (6 B/px while it is joined); ours replaces it on write, so the document is made at 1 x 1 and
    its header resized, when the header is reachable (else the full-size ``new``)."""
    h, w = size
    psd = psd_image.new("RGB", (1, 1), color=(255, 255, 255), depth=bit_depth)
    header = getattr(getattr(psd, "_record", None), "header", None)
    if header is not None and hasattr(header, "width") and hasattr(header, "height"):
        header.width, header.height = w, h
        if psd.size == (w, h):
            return psd
    return psd_image.new("RGB", (w, h), color=(255, 255, 255), depth=bit_depth)


def _order_layers(psd: Any) -> None:
    """Put the layers in the documented bottom-to-top order (:data:`PSD_LAYER_NAMES`); they are stored
    in the order that lets each page-sized array go soonest."""
    rank = {name: k for k, name in enumerate(PSD_LAYER_NAMES)}
    layers = sorted(psd, key=lambda layer: rank.get(layer.name, len(rank)))
    if [layer.name for layer in layers] != [layer.name for layer in psd]:
        for layer in layers:
            psd.remove(layer)
            psd.append(layer)


def _write_psd_file(psd: object, merged: list[bytes], tmp: Path) -> None:
    """Write ``psd`` to ``tmp`` with ``merged`` as its merged image.

    psd-tools' ``save()`` re-renders the merged image with its generic compositor (seconds for a
    full page) although we already have it exactly; when its low-level record is reachable we store
    our planes and write the record, otherwise we fall back to ``save()``.
    """
    record = getattr(psd, "_record", None)
    if record is not None and hasattr(record, "image_data") and hasattr(record, "write"):
        record.image_data.set_data(merged, record.header)
        with open(tmp, "wb") as handle:
            record.write(handle)
    else:
        logger.debug("psd-tools record not reachable; saving with its own compositor")
        psd.save(tmp)  # type: ignore[attr-defined]


def _export_psd(target: Path, layers: ExportLayers, *, bit_depth: int, preserve_ink: bool, release: bool) -> None:
    """Write the layered PSD (see the module docstring) atomically.

    Raises:
        ImageSaveError: too large for PSD, psd-tools failure, or the file cannot be written.
    """
    h, w = layers.size
    if max(h, w) > _PSD_MAX_SIDE and target.suffix.lower() != ".psb":
        raise ImageSaveError(
            f"cannot export: {w}x{h} is larger than PSD allows ({_PSD_MAX_SIDE} px a side); "
            "save as .psb or TIFF",
            target,
        )
    try:
        psd, merged = _build_psd(layers, bit_depth, preserve_ink, release)
    except (ValueError, TypeError, MemoryError, ImportError) as exc:
        raise ImageSaveError(f"cannot export: building the PSD failed ({exc})", target) from exc
    with atomic_write(target) as tmp:
        try:
            _write_psd_file(psd, merged, tmp)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise ImageSaveError(f"cannot export: writing the PSD failed ({exc})", target) from exc
    del psd, merged
    gc.collect()  # psd-tools' layers hold their document in cycles: free its stored layers before the next page
