"""How much memory a decode may take: the memory actually available, checked before allocating.

A few kilobytes of WebP, TIFF or PNG can announce an image that decodes to gigabytes while staying
under the pixel limit. :func:`check_compression_ratio` refuses files announcing far more pixels per
byte than any real page compresses to. Before a page (or a project layer) is decoded, its cost is estimated from the
header and compared with :func:`decode_budget`: a share of the memory the system reports as available
(``MemAvailable`` in ``/proc/meminfo``, else ``os.sysconf``), or ``$MANGACOLOR_MAX_DECODE_MB``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from typing import TYPE_CHECKING

from mangacolor_app.core.errors import ImageTooLargeError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["AVAILABLE_SHARE", "MAX_DECODE_ENV", "MAX_PIXELS_PER_BYTE", "available_memory", "check_compression_ratio",
           "check_decode_memory", "decode_budget", "decode_bytes"]

logger = logging.getLogger(__name__)

#: Environment variable capping the bytes one decode may allocate, in MiB (overrides the default).
MAX_DECODE_ENV = "MANGACOLOR_MAX_DECODE_MB"
#: Share of the available memory one decode may take (the rest: the pipeline, the editor, the system).
AVAILABLE_SHARE = 0.5


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping, or None when it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def decode_budget() -> int | None:
    """Bytes one decode may allocate: ``$MANGACOLOR_MAX_DECODE_MB`` MiB, else
    :data:`AVAILABLE_SHARE` of :func:`available_memory`; None when unknown (no check)."""
    raw = os.environ.get(MAX_DECODE_ENV, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = 0.0
        if value > 0:
            return int(value * 1024 * 1024)
        logger.warning("%s=%r is not a positive number; using the available memory", MAX_DECODE_ENV, raw)
    available = available_memory()
    return None if available is None else int(available * AVAILABLE_SHARE)


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1024**3:.1f} GB" if nbytes >= 1024**3 else f"{nbytes / 1024**2:.0f} MB"


def check_decode_memory(nbytes: int, size_wh: tuple[int, int], path: str | Path | None, what: str = "image") -> None:
    """Refuse a decode that would need more than :func:`decode_budget` bytes.

    Args:
        nbytes: estimated peak bytes of the decode and its conversion to the array contract.
        size_wh: (width, height) for the message.
        path: the file (named in the message).
        what: what is decoded ("image", "project").

    Raises:
        ImageTooLargeError: naming the file, its size, the memory needed and the memory available.
    """
    budget = decode_budget()
    if budget is None or nbytes <= budget:
        return
    width, height = size_wh
    raise ImageTooLargeError(
        f"the {what} is {width} x {height} pixels and would need about {_gb(nbytes)} of memory to open, "
        f"more than the {_gb(budget)} this computer can spare now (close other programs, or set "
        f"{MAX_DECODE_ENV} if the file is genuine)", path)


#: Bytes per sample of Pillow's decoded modes (P decodes to 1 byte, but converts to RGBA: 4).
_MODE_BYTES = {"1": 1, "L": 1, "P": 4, "PA": 4, "I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def decode_bytes(im: Image.Image, bits: int) -> int:
    """Estimated peak bytes of decoding ``im`` (from its header) into a :class:`Page`: the decoded
    buffer twice (decode, conversion) plus the float32 RGB and alpha arrays."""
    width, height = im.size
    raw = _MODE_BYTES.get(im.mode, len(im.getbands()) * (2 if bits == 16 else 1))
    return width * height * (2 * raw + 16)


#: Pixels per file byte above which a big image is a decompression bomb (or a blank page): no real
#: page compresses that far (deflate tops out near 1,032:1, i.e. about 8,000 pixels a byte only for
#: 1-bit images; JPEG near 300 pixels a byte).
MAX_PIXELS_PER_BYTE = 2000
#: Images up to this many pixels are never refused for their compression ratio.
_RATIO_FREE_PIXELS = 16_000_000


def check_compression_ratio(size: tuple[int, int], file_bytes: int, path: str | Path | None) -> None:
    """Refuse a small file announcing a huge image (more than :data:`MAX_PIXELS_PER_BYTE` pixels per
    byte and more than 16 M pixels): a decompression bomb, or a page with nothing on it.

    Raises:
        ImageTooLargeError: naming the file, its size in bytes and in pixels.
    """
    width, height = size
    pixels = width * height
    if pixels > _RATIO_FREE_PIXELS and pixels > MAX_PIXELS_PER_BYTE * max(file_bytes, 1):
        raise ImageTooLargeError(
            f"the file is only {file_bytes:,} bytes but announces {width} x {height} = {pixels:,} pixels: "
            "a decompression bomb or an empty page, not opened", path)
