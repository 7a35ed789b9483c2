"""Keep C libraries from printing on the terminal: libtiff (through Pillow) writes its warnings and
errors to stderr ("tempfile.tif: Using code not yet in table.", up to several lines per corrupt
TIFF) before our own one-line message. :func:`silence_libtiff` clears libtiff's handlers in the copy
Pillow loaded; the failure still reaches us as a decoder error, reported with the file's name.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
from pathlib import Path

__all__ = ["silence_libtiff"]

logger = logging.getLogger(__name__)

_done = False


def _loaded_libtiff() -> list[str]:
    """Paths of the libtiff libraries mapped into this process (Linux), else those beside Pillow."""
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "libtiff" in os.path.basename(path) and path not in found:
                    found.append(path)
    except OSError:
        pass
    if found:
        return found
    import PIL

    root = Path(PIL.__file__).resolve().parent
    patterns = ("../pillow.libs/libtiff*", ".dylibs/libtiff*", "../pillow.libs/*tiff*.dll")
    return [p for pattern in patterns for p in glob.glob(str(root / pattern))]


def silence_libtiff() -> bool:
    """Clear libtiff's warning and error handlers (idempotent, best effort); True when done.

    Call after ``PIL.Image`` is imported (its extension links libtiff).
    """
    global _done  # noqa: PLW0603 - once per process
    if _done:
        return True
    from PIL import Image  # noqa: F401 - loads Pillow's extension, hence libtiff

    for path in _loaded_libtiff():
        try:
            lib = ctypes.CDLL(path)
            lib.TIFFSetWarningHandler.restype = ctypes.c_void_p
            lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
            lib.TIFFSetWarningHandler(None)
            lib.TIFFSetErrorHandler(None)
            _done = True
        except (OSError, AttributeError) as exc:
            logger.debug("cannot silence libtiff at %s: %s", path, exc)
    return _done
