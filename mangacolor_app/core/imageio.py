"""Reading and writing page images (PNG, JPEG, TIFF, WebP, BMP) at the edge of the array contract.

Loaded pages are float32 HWC RGB [0, 1] with an optional (H, W) alpha, EXIF orientation applied and
ICC profiles converted to sRGB. The pixel limit, the compression ratio (pixels per file byte) and
the memory the decode would need (:mod:`mangacolor_app.core.memory`) are checked on the lazily read
header, before any pixel is decoded. Saving is atomic.

Importing this module switches off Pillow's decompression-bomb check (``Image.MAX_IMAGE_PIXELS =
None``) in favour of ours; code opening untrusted images with Pillow directly should call
``check_pixel_limit(Image.open(...).size, path)`` before ``load()``.
"""

from __future__ import annotations

import functools
import logging
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from mangacolor_app.core.color import to_float32
from mangacolor_app.core.errors import ImageLoadError, ImageTooLargeError
from mangacolor_app.core.imagesave import save_image
from mangacolor_app.core.libquiet import silence_libtiff
from mangacolor_app.core.memory import (  # noqa: F401 - re-exported
    MAX_PIXELS_PER_BYTE,
    check_compression_ratio,
    check_decode_memory,
    decode_bytes,
)

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "MAX_PIXELS_PER_BYTE", "SUPPORTED_FORMATS", "Page",
           "check_compression_ratio", "check_pixel_limit", "decode_bytes", "load_image", "load_rgba",
           "max_pixels_limit", "save_image"]

logger = logging.getLogger(__name__)

#: Default pixel limit: well above a 600 dpi B4 spread (about 104 M pixels).
DEFAULT_MAX_PIXELS = 250_000_000
#: Environment variable overriding ``DEFAULT_MAX_PIXELS`` (a positive integer).
MAX_PIXELS_ENV = "MANGACOLOR_MAX_PIXELS"
#: Pillow format names accepted by ``load_image`` (camera MPO files open through JPEG).
SUPPORTED_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, Image.DecompressionBombError)
_ICC_ERRORS = (ImageCms.PyCMSError, OSError, ValueError, TypeError)
_PNG_IEND = b"IEND\xaeB`\x82"

# Our header check replaces Pillow's (which would refuse pages that our limit allows).
Image.MAX_IMAGE_PIXELS = None
# libtiff prints its warnings and errors on stderr, and Pillow's TIFF and EXIF readers warn about
# every damaged tag ("Corrupt EXIF data", "Truncated File Read"); ours name the file in one line.
silence_libtiff()
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


@dataclass
class Page:
    """A loaded page.

    Attributes:
        rgb: (H, W, 3) float32 in [0, 1], sRGB (uint8/uint16 when loaded ``as_int``).
        alpha: (H, W) float32 in [0, 1] (1 = opaque), or None when the file has no transparency
            (uint8/uint16 when loaded ``as_int``).
        dpi: (x, y) resolution in dots per inch, or None when the file does not say.
        path: the file it was loaded from, if any.
        mode: the source Pillow mode ("1", "L", "LA", "I;16", "I", "F", "RGB", "RGBA", "P", "CMYK").
        bit_depth: bits per channel in the file (1, 8, 16 or 32).
        icc_converted: True when an embedded ICC profile was converted to sRGB.
    """

    rgb: npt.NDArray[Any]
    alpha: npt.NDArray[Any] | None = None
    dpi: tuple[float, float] | None = None
    path: Path | None = None
    mode: str = "RGB"
    bit_depth: int = 8
    icc_converted: bool = False


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """Resolve the pixel limit: the argument, else ``$MANGACOLOR_MAX_PIXELS``, else the default.

    Raises:
        ValueError: ``max_pixels`` is given and not positive. (A malformed environment value is
            logged as a warning and the default is used.)
    """
    if max_pixels is not None:
        if max_pixels <= 0:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}")
        return int(max_pixels)
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        value = 0
    if value <= 0:
        logger.warning("%s=%r is not a positive number; using %d", MAX_PIXELS_ENV, raw, DEFAULT_MAX_PIXELS)
        return DEFAULT_MAX_PIXELS
    return value


def check_pixel_limit(size: tuple[int, int], path: str | Path | None, max_pixels: int | None = None) -> None:
    """Refuse an image whose (width, height) exceeds the pixel limit.

    Raises:
        ImageTooLargeError: naming the file, its size and the limit.
    """
    limit = max_pixels_limit(max_pixels)
    width, height = size
    if width * height > limit:
        msg = f"the image is {width} x {height} = {width * height:,} pixels, more than the limit of {limit:,}"
        raise ImageTooLargeError(f"{msg} pixels (raise it with {MAX_PIXELS_ENV} if the file is genuine)", path)


# ----------------------------------------------------------------------------------- loading


def _check_file(path: Path) -> int:
    """Return the file size; raise ImageLoadError for a missing, non-regular or empty file."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ImageLoadError("file not found", path) from exc
    except OSError as exc:
        raise ImageLoadError(f"cannot read the file ({exc.strerror or exc})", path) from exc
    if path.is_dir():
        raise ImageLoadError("this is a folder, not an image file", path)
    if st.st_size == 0:
        raise ImageLoadError("the file is empty (0 bytes)", path)
    return st.st_size


_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP",
          b"RIFF": "WebP", b"GIF8": "GIF", b"8BPS": "PSD", b"%PDF": "PDF"}


def _describe_unknown(path: Path) -> str:
    """Plain-words reason for a file Pillow could not identify (truncated, other format, text)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        head = b""
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if kind in ("GIF", "PSD", "PDF"):
        return f"{kind} files are not supported here (use PNG, JPEG, TIFF, WebP or BMP)"
    if kind is not None:
        return f"the {kind} file is truncated or corrupt (its header cannot be read)"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "this is a text file, not an image"
        except UnicodeDecodeError:
            pass
    return "not a readable image: the file is corrupt or not PNG, JPEG, TIFF, WebP or BMP"


def _open(path: Path) -> Image.Image:
    """Open lazily (header only), restricted to the supported formats."""
    try:
        return Image.open(path, formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageLoadError(_describe_unknown(path), path) from exc
    except PermissionError as exc:
        raise ImageLoadError("no permission to read the file", path) from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(f"the file is corrupt or truncated ({exc})", path) from exc


def _check_png_complete(path: Path, size: int) -> None:
    """Raise ImageLoadError when a PNG lacks its IEND chunk (cut short), whatever Pillow's
    ``LOAD_TRUNCATED_IMAGES`` says."""
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 4096))
        tail = handle.read()
    if _PNG_IEND not in tail:
        raise ImageLoadError("the PNG file is truncated (it ends before its last chunk)", path)


def _raw_bits(im: Image.Image) -> int:
    """Bits per sample in the file, from the TIFF tags or the decoder's raw mode (8 by default)."""
    if im.mode == "1":
        return 1
    if im.mode.startswith("I;16"):
        return 16
    if im.mode in ("I", "F"):
        return 32
    bits = getattr(im, "tag_v2", {}).get(258) if im.format == "TIFF" else None
    if bits:
        return int(max(bits)) if isinstance(bits, tuple) else int(bits)
    tile = getattr(im, "tile", None)
    args = tile[0].args if tile else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    return 16 if isinstance(rawmode, str) and ";16" in rawmode else 8


def _decode(im: Image.Image, path: Path) -> None:
    """Decode the pixels, turning decoder failures into ImageLoadError."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        logger.debug("PIL LOAD_TRUNCATED_IMAGES is set; truncated non-PNG files may load padded")
    try:
        im.load()
    except MemoryError as exc:
        raise ImageLoadError("not enough memory to decode the image", path) from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(f"the image data is truncated or corrupt ({exc})", path) from exc


def _exif_orientation(im: Image.Image, path: Path) -> int:
    """EXIF orientation tag (1..8), 1 when absent or unreadable (logged)."""
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except (*_DECODE_ERRORS, TypeError) as exc:
        logger.warning("%s: unreadable EXIF data (%s); orientation ignored", path, exc)
        return 1


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    """The built-in sRGB profile (created once)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _convert_icc(im: Image.Image, path: Path) -> tuple[Image.Image, bool]:
    """Convert ``im`` from its embedded ICC profile to sRGB.

    Returns:
        (image, converted). The result is "RGB"/"RGBA" when converted; on a missing profile, an
        unsupported mode or a broken profile (logged as a warning) the input is returned unchanged.
    """
    icc = im.info.get("icc_profile")
    if not icc:
        return im, False
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    if im.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        logger.info("%s: ICC profile not applied to a %s image", path, im.mode)
        return im, False
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    base = im.convert(im.mode[:-1]) if alpha is not None else im
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        out = ImageCms.profileToProfile(base, source, _srgb_profile(), outputMode="RGB")
    except _ICC_ERRORS as exc:
        logger.warning("%s: embedded colour profile is broken or unsupported (%s); pixels kept as they are", path, exc)
        return im, False
    if out is None:  # only with inPlace=True; keeps type checkers happy
        return im, False
    if alpha is not None:
        out.putalpha(alpha)
    return out, True


def _pil_to_arrays(im: Image.Image, as_int: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow image -> ((H, W, 3) rgb, (H, W) alpha or None): float32, or with ``as_int`` the file's
    integers (see :func:`_split_channels`)."""
    mode = im.mode
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F") and not mode.startswith("I;16"):
        im = im.convert("LA" if mode == "La" else "RGBA" if "A" in mode or "a" in mode else "RGB")
    arr = np.asarray(im)
    if im.mode == "I":
        arr = np.clip(arr, 0, 65535).astype(np.uint16)  # 16-bit grey decoded as 32-bit ints
    elif im.mode.startswith("I;16"):
        arr = arr.astype(np.uint16, copy=False)  # native byte order
    return _split_channels(arr, as_int)


def _split_channels(arr: np.ndarray, as_int: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W) / (H, W, 2) / (H, W, 3) / (H, W, 4) array of any image dtype ->
    (rgb (H, W, 3) float32, alpha (H, W) float32 or None); split before widening to save memory.

    With ``as_int`` uint8/uint16 stay integer (bilevel images become uint8 0/255, float images float32):
    ``to_float32`` of them gives exactly the float result.
    """
    widen = _as_int_image if as_int else to_float32
    if arr.ndim == 2:
        return widen(np.repeat(arr[..., None], 3, axis=2)), None
    channels = arr.shape[2]
    if channels == 2:
        return widen(np.repeat(arr[..., :1], 3, axis=2)), widen(arr[..., 1])
    if channels == 4:
        return widen(arr[..., :3]), widen(arr[..., 3])
    return widen(arr), None


def _as_int_image(arr: np.ndarray) -> np.ndarray:
    """uint8/uint16 as is, bool as uint8 0/255, anything else as ``to_float32``."""
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    return to_float32(arr)


_ORIENT_OPS = {2: (0, True), 3: (2, False), 4: (2, True), 5: (3, True), 6: (3, False), 7: (1, True), 8: (1, False)}


def _orient_array(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array, like ``ImageOps.exif_transpose``."""
    if orientation not in _ORIENT_OPS:
        return arr
    quarter_turns, mirror = _ORIENT_OPS[orientation]
    if mirror:
        arr = arr[:, ::-1]
    return np.ascontiguousarray(np.rot90(arr, quarter_turns))


def _decode_16bit_color(path: Path, orientation: int, as_int: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a 16-bit RGB(A)/LA PNG/TIFF with OpenCV (Pillow would truncate it to 8 bits)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as exc:
        raise ImageLoadError(f"the 16-bit image could not be decoded ({exc})", path) from exc
    if arr is None or arr.ndim not in (2, 3):
        raise ImageLoadError("the 16-bit image is truncated or corrupt", path)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return _split_channels(_orient_array(arr, orientation), as_int)


def _read_dpi(im: Image.Image) -> tuple[float, float] | None:
    """(x, y) dots per inch rounded to 0.1 (PNG stores whole dots per metre, steps of 0.0254 dpi),
    None when unknown."""
    dpi = im.info.get("dpi")
    try:
        x, y = (round(float(v), 1) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    return (x, y) if 1.0 < x <= 100_000.0 and 1.0 < y <= 100_000.0 else None


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None, *, as_int: bool = False) -> Page:
    """Load a PNG, JPEG, TIFF, WebP or BMP file as a ``Page``.

    Modes 1, L, LA, I;16, I, F, RGB, RGBA, P (transparency becomes alpha), CMYK (incl. Adobe
    inverted JPEG) and 16-bit RGB(A) PNG/TIFF (decoded with OpenCV) are supported. The EXIF
    orientation is applied and an embedded ICC profile is converted to sRGB (a broken profile is
    logged and ignored). Multi-page TIFFs give their first page.

    Args:
        path: the image file.
        max_pixels: pixel limit; default ``$MANGACOLOR_MAX_PIXELS`` or ``DEFAULT_MAX_PIXELS``.
        as_int: keep the decoded integers: rgb and alpha uint8 or uint16 (float32 only for float
            files), 3-4x smaller than float32; ``core.color.to_float32`` of them is the float Page.

    Returns:
        Page with rgb (H, W, 3) float32 [0, 1] and alpha (H, W) float32 [0, 1] or None (integer with ``as_int``).

    Raises:
        ImageTooLargeError: the header announces more pixels than the limit, or an image whose decode
            would need more memory than :func:`~mangacolor_app.core.memory.decode_budget` allows
            (nothing decoded).
        ImageLoadError: missing, empty, truncated, corrupt, text or unsupported file.
    """
    p = Path(path)
    size = _check_file(p)
    with _open(p) as im:
        check_pixel_limit(im.size, p, max_pixels)
        if im.format == "PNG":
            _check_png_complete(p, size)
        source_mode, bits, dpi = im.mode, _raw_bits(im), _read_dpi(im)
        check_compression_ratio(im.size, size, p)
        check_decode_memory(decode_bytes(im, bits), im.size, p)
        if bits == 16 and source_mode in ("RGB", "RGBA", "LA"):
            rgb, alpha = _decode_16bit_color(p, _exif_orientation(im, p), as_int)
            if im.info.get("icc_profile"):
                logger.info("%s: ICC profile not applied to a 16-bit colour image", p)
            return Page(rgb, alpha, dpi, p, source_mode, 16, False)
        orientation = _exif_orientation(im, p)
        _decode(im, p)
        if orientation != 1:
            ImageOps.exif_transpose(im, in_place=True)
        converted, icc_done = _convert_icc(im, p)
        rgb, alpha = _pil_to_arrays(converted, as_int)
    logger.debug("loaded %s: %s %d-bit %dx%d", p, source_mode, bits, rgb.shape[1], rgb.shape[0])
    return Page(rgb, alpha, dpi, p, source_mode, bits, icc_done)


def load_rgba(path: str | os.PathLike[str], max_pixels: int | None = None) -> npt.NDArray[np.float32]:
    """Load an image as (H, W, 4) float32 RGBA in [0, 1] (hint layers); no alpha means opaque.

    Raises:
        ImageTooLargeError, ImageLoadError: as ``load_image``.
    """
    page = load_image(path, max_pixels)
    out = np.empty((*page.rgb.shape[:2], 4), dtype=np.float32)
    out[..., :3] = page.rgb
    out[..., 3] = 1.0 if page.alpha is None else page.alpha
    return out


# ------------------------------------------------------------------------------------ saving
