"""The layered PSD export of :mod:`core.export` (see there for the layers and their order).

Layers are stored from integers plane by plane (the bytes psd-tools writes, without its page-sized
float32 copy of each layer); with ``release`` each page-sized array is let go as soon as its layer is
stored, so a large page's layers are not all held beside their stored copies.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.export_layers import PSD_LAYER_NAMES, ExportLayers, quantize
from mangacolor_app.core.icc import srgb_icc

__all__ = ["export_psd", "build_psd", "write_psd_file"]

logger = logging.getLogger(__name__)

_PSD_MAX_SIDE = 30000  # larger documents must be PSB (Photoshop "Large Document Format")
#: Rows of the merged image composited at a time (float32 only for a strip).
_FLAT_ROWS = 256


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
        planes[:, rows] = quantize(merged, bit_depth).transpose(2, 0, 1)
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


def build_psd(layers: ExportLayers, bit_depth: int, preserve_ink: bool,
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
        hints_layer = _add_layer(psd, quantize(_take(layers, "hints", release), bit_depth), "Hints")
        hints_layer.visible = False
    if layers.flats is not None:
        _add_layer(psd, quantize(_take(layers, "flats", release), bit_depth), "Flats")
    color_q = quantize(_take(layers, "color", release), bit_depth)
    _add_layer(psd, color_q, "Color")
    ink_q = quantize(_take(layers, "ink", release), bit_depth)
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


def write_psd_file(psd: object, merged: list[bytes], tmp: Path) -> None:
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


def export_psd(target: Path, layers: ExportLayers, *, bit_depth: int, preserve_ink: bool, release: bool) -> None:
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
        psd, merged = build_psd(layers, bit_depth, preserve_ink, release)
    except (ValueError, TypeError, MemoryError, ImportError) as exc:
        raise ImageSaveError(f"cannot export: building the PSD failed ({exc})", target) from exc
    with atomic_write(target) as tmp:
        try:
            write_psd_file(psd, merged, tmp)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise ImageSaveError(f"cannot export: writing the PSD failed ({exc})", target) from exc
    del psd, merged
    gc.collect()  # psd-tools' layers hold their document in cycles: free its stored layers before the next page
