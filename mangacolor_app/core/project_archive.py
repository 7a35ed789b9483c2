"""Project files on disk: the ``.mcproj`` zip archive (JSON manifest plus lossless PNG layers).

:func:`save_project` writes atomically (:func:`~mangacolor_app.core.atomic.atomic_write`);
:func:`load_project` and :func:`read_manifest` refuse member paths that escape the archive (``../``,
absolute paths, drive letters), unknown format versions, oversized, missing or corrupt members with a
:class:`ProjectError`. The member layout is described in :mod:`mangacolor_app.core.project`, the public
import path, which re-exports everything here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from mangacolor_app.core.atomic import atomic_write, remove_stale_temps
from mangacolor_app.core.errors import ImageSaveError, MangaColorError, ProjectError
from mangacolor_app.core.project_model import Palette, Project
from mangacolor_app.core.project_validate import (
    LAYER_SPECS,
    check_layer_data,
    check_layer_header,
    layer_byte_bound,
    validate_manifest,
)

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "PROJECT_SUFFIX",
    "check_member_names",
    "load_project",
    "read_manifest",
    "save_project",
]

logger = logging.getLogger(__name__)

PROJECT_SUFFIX = ".mcproj"
FORMAT_VERSION = 1
MANIFEST = "project.json"
_MAX_MEMBER_BYTES = 4 * 1024**3


# --------------------------------------------------------------------------------------- encoding


def _encode_png(image: np.ndarray, path: Path) -> bytes:
    """PNG bytes of a uint8/uint16 RGB(A) image (RGB order). Raises ImageSaveError."""
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ImageSaveError("cannot encode a project layer as PNG", path)
    return buf.tobytes()


def _decode_png(data: bytes, channels: int, member: str, path: Path) -> np.ndarray:
    """Decode PNG bytes to an RGB(A) uint8/uint16 array with ``channels`` channels."""
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ProjectError(f"the layer {member} cannot be decoded ({exc.msg if hasattr(exc, 'msg') else exc})",
                           path) from exc
    if arr is None or arr.ndim != 3 or arr.shape[2] != channels:
        raise ProjectError(f"the layer {member} is not a {channels}-channel PNG", path)
    code = cv2.COLOR_BGRA2RGBA if channels == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(arr, code)


def _page_storage(page: np.ndarray) -> np.ndarray:
    """The page as uint8 when that is exact, else uint16."""
    as8 = np.round(page * 255.0).astype(np.uint8)
    if np.array_equal(as8.astype(np.float32) / np.float32(255.0), page):
        return as8
    return np.round(np.clip(page, 0.0, 1.0) * 65535.0).astype(np.uint16)


def _to_float(arr: np.ndarray) -> np.ndarray:
    """uint8/uint16 -> float32 [0, 1]."""
    scale = 255.0 if arr.dtype == np.uint8 else 65535.0
    return arr.astype(np.float32) / np.float32(scale)


def _manifest(project: Project, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON manifest of ``project``."""
    h, w = project.size
    data: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "app": "mangacolor",
        "saved_at": time.time(),
        "page": {"member": "page.png", "width": w, "height": h, "source_path": project.source_path,
                 "dpi": list(project.dpi) if project.dpi else None},
        "hints": {"member": "hints.png"},
        "result": {"member": "result.png"} if project.result is not None else None,
        "palette": project.palette.to_dict(),
        "model": project.model_name,
        "settings": project.settings,
    }
    if extra:
        data.update(extra)
    return data


def _validate_layers(project: Project, path: Path) -> None:
    """Raise ProjectError when the layers' shapes or dtypes are inconsistent."""
    h, w = project.size
    if project.hints.shape != (h, w, 4) or project.hints.dtype != np.uint8:
        raise ProjectError(f"hint layer must be ({h}, {w}, 4) uint8, got {project.hints.shape}", path)
    if project.result is not None and (project.result.shape != (h, w, 3) or project.result.dtype != np.uint16):
        raise ProjectError(f"result must be ({h}, {w}, 3) uint16, got {project.result.shape}", path)


def save_project(path: str | os.PathLike[str], project: Project, *, extra: dict[str, Any] | None = None) -> Path:
    """Atomically write ``project`` to ``path``.

    Args:
        path: target file (``.mcproj`` by convention).
        project: what to save.
        extra: additional manifest keys (used by autosave).

    Returns:
        ``Path(path)``.

    Raises:
        ProjectError: the layers do not fit the page.
        ImageSaveError: the folder is missing or not writable, or the disk is full.
    """
    target = Path(path)
    _validate_layers(project, target)
    manifest = json.dumps(_manifest(project, extra), indent=1, sort_keys=True).encode("utf-8")
    members = {"page.png": _encode_png(_page_storage(project.page), target),
               "hints.png": _encode_png(project.hints, target)}
    if project.result is not None:
        members["result.png"] = _encode_png(project.result, target)
    with atomic_write(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(MANIFEST, manifest, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in members.items():
                zf.writestr(name, data)
    logger.info("saved project %s", target)
    return target


# ---------------------------------------------------------------------------------------- reading


def check_member_names(names: list[str], path: Path) -> None:
    """Refuse archive member names that could escape the project's folder.

    Raises:
        ProjectError: a name is absolute, has a drive letter, or contains a ``..`` component.
    """
    for name in names:
        norm = name.replace("\\", "/")
        parts = PurePosixPath(norm).parts
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts:
            raise ProjectError(f"unsafe member path {name!r} in the project file (refused)", path)


#: Largest manifest (``project.json``) read.
_MAX_MANIFEST_BYTES = 16 * 1024**2
#: Peak bytes per page pixel while a project is loaded: float32 page, uint8/uint16 layers, decoders.
_LOAD_BYTES_PER_PIXEL = 40
#: Every failure a damaged archive can raise from zipfile, zlib, json, OpenCV or numpy.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, RuntimeError,
                   AttributeError, TypeError, ValueError, KeyError, IndexError, OSError, EOFError,
                   struct.error, cv2.error)


def _read_member(zf: zipfile.ZipFile, name: str, path: Path, limit: int = _MAX_MEMBER_BYTES) -> bytes:
    """Bytes of member ``name``; ProjectError when it is missing, larger than ``limit`` or corrupt."""
    try:
        info = zf.getinfo(name)
    except KeyError as exc:
        raise ProjectError(f"the project file has no {name}", path) from exc
    if info.file_size > limit:
        raise ProjectError(f"the member {name} is too large ({info.file_size:,} bytes, at most {limit:,})", path)
    try:
        with zf.open(info) as handle:
            data = handle.read(limit + 1)
    except _ARCHIVE_ERRORS as exc:
        raise ProjectError(f"the member {name} is corrupt ({type(exc).__name__}: {exc})", path) from exc
    if len(data) > limit:
        raise ProjectError(f"the member {name} is larger than it declares", path)
    return data


def _read_manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    """The parsed manifest, every field checked (:func:`validate_manifest`)."""
    try:
        data = json.loads(_read_member(zf, MANIFEST, path, _MAX_MANIFEST_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProjectError(f"the manifest {MANIFEST} is not valid JSON ({exc})", path) from exc
    return validate_manifest(data, path)


def _member_name(entry: Any, path: Path) -> str:
    """The member name in a manifest layer entry, checked for safety."""
    if not isinstance(entry, dict) or not isinstance(entry.get("member"), str):
        raise ProjectError("the manifest has a malformed layer entry", path)
    check_member_names([entry["member"]], path)
    return str(entry["member"])


def _read_layer(zf: zipfile.ZipFile, entry: Any, kind: str, size_hw: tuple[int, int], path: Path) -> np.ndarray:
    """One layer, its size checked from the zip directory and the PNG header before decoding."""
    name = _member_name(entry, path)
    data = _read_member(zf, name, path, layer_byte_bound(kind, size_hw[1], size_hw[0]))
    check_layer_header(data, kind, name, size_hw, path)
    check_layer_data(data, name, path)
    return _decode_png(data, LAYER_SPECS[kind][2], name, path)


def _check_memory(size_hw: tuple[int, int], path: Path) -> None:
    """The pixel limit and the available memory, from the manifest's page size (nothing decoded yet)."""
    from mangacolor_app.core.imageio import check_pixel_limit
    from mangacolor_app.core.memory import check_decode_memory

    h, w = size_hw
    try:
        check_pixel_limit((w, h), path)
        check_decode_memory(h * w * _LOAD_BYTES_PER_PIXEL, (w, h), path, "project's page")
    except MangaColorError as exc:
        raise ProjectError(exc.reason, path) from exc


def _project_from(zf: zipfile.ZipFile, manifest: dict[str, Any], path: Path) -> Project:
    """Build the Project from an opened, name-checked archive and a validated manifest."""
    page_entry = manifest["page"]
    size_hw = (int(page_entry["height"]), int(page_entry["width"]))
    _check_memory(size_hw, path)
    page = _to_float(_read_layer(zf, page_entry, "page", size_hw, path))
    hints = _read_layer(zf, manifest["hints"], "hints", size_hw, path)
    result = None
    if manifest.get("result"):
        result = _read_layer(zf, manifest["result"], "result", size_hw, path).astype(np.uint16)
    try:
        palette = Palette.from_dict(manifest.get("palette") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"the palette is malformed ({exc})", path) from exc
    dpi = page_entry.get("dpi")
    project = Project(page=page, hints=hints.astype(np.uint8), palette=palette,
                      model_name=manifest.get("model"), settings=dict(manifest.get("settings") or {}),
                      result=result, source_path=page_entry.get("source_path"),
                      dpi=(float(dpi[0]), float(dpi[1])) if dpi else None)
    _validate_layers(project, path)
    return project


def _open_archive(source: Path) -> zipfile.ZipFile:
    """Open the zip (names checked); ProjectError for a missing file or not a zip."""
    try:
        zf = zipfile.ZipFile(source, "r")
    except FileNotFoundError as exc:
        raise ProjectError("the project file does not exist", source) from exc
    except IsADirectoryError as exc:
        raise ProjectError("this is a folder, not a project file", source) from exc
    except _ARCHIVE_ERRORS as exc:
        raise ProjectError(f"not a MangaColor project file, or a damaged one ({exc})", source) from exc
    try:
        check_member_names(zf.namelist(), source)
    except ProjectError:
        zf.close()
        raise
    return zf


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a project file (and remove temporary files that an interrupted save of it left).

    Every manifest field is validated and every layer's size checked before it is decoded.

    Raises:
        ProjectError: missing/unreadable file, not a zip, unsafe member paths, unknown version,
            invalid manifest fields, missing, corrupt, oversized or encrypted layers, layers whose
            sizes do not match the page, not enough memory; the message names the file.
    """
    source = Path(path)
    remove_stale_temps(source)
    try:
        with _open_archive(source) as zf:
            manifest = _read_manifest(zf, source)
            return _project_from(zf, manifest, source)
    except ProjectError:
        raise
    except MemoryError as exc:
        raise ProjectError("not enough memory to open the project", source) from exc
    except _ARCHIVE_ERRORS as exc:
        logger.debug("damaged project %s", source, exc_info=True)
        raise ProjectError(f"the project file is damaged ({type(exc).__name__}: {exc})", source) from exc


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the manifest of a project file (cheap). Raises ProjectError like :func:`load_project`."""
    source = Path(path)
    try:
        with _open_archive(source) as zf:
            return _read_manifest(zf, source)
    except ProjectError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise ProjectError(f"the project file is damaged ({type(exc).__name__}: {exc})", source) from exc
