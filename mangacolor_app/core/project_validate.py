"""Checks of a project file's contents before anything is decoded: every manifest field, and the
PNG header of every layer against the size the manifest declares.

A damaged or hand-edited ``project.json`` must never reach the editor half-valid (an opacity stored
as a string, a dpi of ``inf``), and a layer must never be decoded when its header announces another
size than the page's (a small PNG claiming a huge image is a decompression bomb). Everything here
raises :class:`~mangacolor_app.core.errors.ProjectError` with a message naming the file and the field.
The manifest layout is described in :mod:`mangacolor_app.core.project`.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

from mangacolor_app.core.errors import ProjectError

__all__ = ["LAYER_SPECS", "check_layer_data", "check_layer_header", "layer_byte_bound", "validate_manifest"]

#: Layer kind -> (PNG colour types allowed, bit depths allowed, channels).
LAYER_SPECS: dict[str, tuple[tuple[int, ...], tuple[int, ...], int]] = {
    "page": ((2,), (8, 16), 3),
    "hints": ((6,), (8,), 4),
    "result": ((2,), (16,), 3),
}
#: Largest page side stored in a project (the pixel limit applies as well).
MAX_SIDE = 1_000_000
#: Accepted dpi range.
DPI_RANGE = (1.0, 100_000.0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SCALARS = (str, int, float, bool, type(None))
#: Editor settings checked by name: keys ending like this must be booleans / numbers in [0, 1].
_BOOL_SETTINGS = ("_visible", "preserve_ink", "flats_only")
_UNIT_SETTINGS = ("_opacity", "compare", "unhinted")


def _fail(path: Path, field: str, problem: str) -> ProjectError:
    return ProjectError(f"the manifest field {field!r} {problem} (the project file is damaged or was edited)", path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_str(data: dict[str, Any], key: str, field: str, path: Path) -> None:
    if data.get(key) is not None and not isinstance(data[key], str):
        raise _fail(path, field, f"must be text or null, not {type(data[key]).__name__}")


def _check_json_value(value: Any, field: str, path: Path, depth: int = 0) -> None:
    """Settings values: JSON scalars (finite numbers), lists and objects of them, at most 8 deep."""
    if depth > 8:
        raise _fail(path, field, "is nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(path, field, f"is {value}, not a finite number")
    if isinstance(value, list):
        for item in value:
            _check_json_value(item, field, path, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_value(item, f"{field}.{key}", path, depth + 1)
    elif not isinstance(value, _SCALARS):
        raise _fail(path, field, f"has an unexpected {type(value).__name__} value")


def _check_settings(settings: Any, path: Path) -> None:
    """``settings``: an object of JSON values; visibility flags boolean, opacities numbers in [0, 1]."""
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise _fail(path, "settings", "must be an object")
    for key, value in settings.items():
        field = f"settings.{key}"
        _check_json_value(value, field, path)
        if key.endswith(_BOOL_SETTINGS) and not isinstance(value, bool):
            raise _fail(path, field, f"must be true or false, not {value!r}")
        if key.endswith(_UNIT_SETTINGS) and value is not None and not (_is_number(value) and 0 <= value <= 1):
            raise _fail(path, field, f"must be a number from 0 to 1, not {value!r}")


def _check_layer_entry(entry: Any, field: str, path: Path, optional: bool = False) -> None:
    if entry is None and optional:
        return
    if not isinstance(entry, dict) or not isinstance(entry.get("member"), str) or not entry["member"]:
        raise _fail(path, field, "must be an object with a member name")


def _check_page(page: Any, path: Path) -> None:
    if not isinstance(page, dict):
        raise _fail(path, "page", "must be an object")
    _check_layer_entry(page, "page", path)
    for key in ("width", "height"):
        value = page.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIDE:
            raise _fail(path, f"page.{key}", f"must be a whole number from 1 to {MAX_SIDE}, not {value!r}")
    _optional_str(page, "source_path", "page.source_path", path)
    dpi = page.get("dpi")
    if dpi is not None:
        lo, hi = DPI_RANGE
        if not (isinstance(dpi, list) and len(dpi) == 2 and all(_is_number(v) and lo <= v <= hi for v in dpi)):
            raise _fail(path, "page.dpi", f"must be null or two numbers from {lo:g} to {hi:g}, not {dpi!r}")


def _check_palette(palette: Any, path: Path) -> None:
    if palette is None:
        return
    if not isinstance(palette, dict):
        raise _fail(path, "palette", "must be an object")
    swatches, recent = palette.get("swatches", []), palette.get("recent", [])
    if not isinstance(swatches, list) or not all(
        isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("hex"), str) for s in swatches
    ):
        raise _fail(path, "palette.swatches", "must be a list of {name, hex} objects")
    if not isinstance(recent, list) or not all(isinstance(h, str) for h in recent):
        raise _fail(path, "palette.recent", "must be a list of #rrggbb colours")


def _check_autosave(info: Any, path: Path) -> None:
    if info is None:
        return
    if not isinstance(info, dict) or not _is_int(info.get("pid")):
        raise _fail(path, "autosave", "must be an object with a whole-number pid")
    _optional_str(info, "session", "autosave.session", path)
    _optional_str(info, "project_path", "autosave.project_path", path)


def validate_manifest(data: Any, path: Path) -> dict[str, Any]:
    """Check every field of a parsed ``project.json`` (format 1) and return it.

    Raises:
        ProjectError: a field is missing, of the wrong type or out of range (message names it).
    """
    if not isinstance(data, dict):
        raise ProjectError("the manifest is not a JSON object", path)
    if data.get("format") != 1 or isinstance(data.get("format"), bool):
        raise ProjectError(f"unknown project format version {data.get('format')!r}", path)
    if "saved_at" in data and not _is_number(data["saved_at"]):
        raise _fail(path, "saved_at", "must be a number")
    _check_page(data.get("page"), path)
    _check_layer_entry(data.get("hints"), "hints", path)
    _check_layer_entry(data.get("result"), "result", path, optional=True)
    _check_palette(data.get("palette"), path)
    _optional_str(data, "model", "model", path)
    _optional_str(data, "app", "app", path)
    _check_settings(data.get("settings"), path)
    _check_autosave(data.get("autosave"), path)
    return data


def layer_byte_bound(kind: str, width: int, height: int) -> int:
    """Most bytes a layer PNG of this size may hold: its raw scanlines plus deflate/chunk overhead."""
    _, depths, channels = LAYER_SPECS[kind]
    raw = height * (1 + width * channels * max(depths) // 8)
    return raw + raw // 64 + (1 << 20)


def check_layer_header(data: bytes, kind: str, member: str, size_hw: tuple[int, int], path: Path) -> None:
    """Check a layer's PNG header (IHDR) before decoding: the page's size, the expected channels and depth.

    Raises:
        ProjectError: not a PNG, or a header announcing another size, colour type or bit depth.
    """
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ProjectError(f"the layer {member} is not a PNG image", path)
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    h, w = size_hw
    if (height, width) != (h, w):
        raise ProjectError(f"the layer {member} is {width} x {height} pixels, but the page is {w} x {h}", path)
    colours, depths, channels = LAYER_SPECS[kind]
    if colour not in colours or depth not in depths:
        raise ProjectError(f"the layer {member} is not a {channels}-channel {'/'.join(map(str, depths))}-bit PNG",
                           path)


def _chunk_types(data: bytes, member: str, path: Path) -> list[bytes]:
    """The type of every PNG chunk up to IEND, CRCs checked (memoryview slices: no copies)."""
    view = memoryview(data)
    kinds, pos = [], 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", view[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        (crc,) = struct.unpack(">I", view[end:end + 4])
        if zlib.crc32(view[pos + 8:end], zlib.crc32(kind)) != crc:
            raise ProjectError(f"the layer {member} is corrupt (a {kind.decode('latin-1')} chunk fails its checksum)",
                               path)
        kinds.append(kind)
        if kind == b"IEND":
            return kinds
        pos = end + 4
    raise ProjectError(f"the layer {member} is truncated", path)


def check_layer_data(data: bytes, member: str, path: Path) -> None:
    """Check a layer PNG's chunk checksums and that it ends with IEND, without decoding anything
    (fast: no inflate), so that damaged data is refused in one line naming the file instead of
    reaching OpenCV's PNG decoder, which prints libpng's complaints on stderr.

    Raises:
        ProjectError: a damaged or truncated layer.
    """
    if b"IDAT" not in _chunk_types(data, member, path):
        raise ProjectError(f"the layer {member} has no pixel data", path)
