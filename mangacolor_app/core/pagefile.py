"""What a loaded image means as a page or as a hint layer (the rules shared by the CLI and the editor).

* A page with transparency (an RGBA or palette PNG exported from a line-art layer, whose transparent
  pixels are often stored as black) is composited over white paper: :func:`page_on_paper`.
* A hint layer must carry an alpha channel (alpha = hint strength, 0 = no hint). An image without
  one (an RGB PNG) would make every pixel a hint and paint the page over, so it is refused with a
  :class:`~mangacolor_app.core.errors.HintError` that says so: :func:`hints_from_page`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mangacolor_app.core.color import rgb_to_gray, to_float32
from mangacolor_app.core.errors import HintError
from mangacolor_app.core.imageio import Page, load_image
from mangacolor_app.core.lineart import extract_line, is_colour_picture

__all__ = ["NO_ALPHA_MESSAGE", "hints_from_page", "line_of_page", "load_hints_file", "page_on_paper"]

#: Rows converted at a time by :func:`line_of_page` (bounded float32 temporaries).
_LINE_ROWS = 256

#: Why a hint image without alpha is refused.
NO_ALPHA_MESSAGE = ("the hint image has no alpha channel, so every pixel would be a hint; save the hints as a "
                    "transparent layer (RGBA PNG: colour where a hint is painted, transparent elsewhere)")


def page_on_paper(page: Page) -> npt.NDArray[np.float32]:
    """The page's colours over white paper: (H, W, 3) float32 [0, 1].

    Transparent pixels become paper white whatever colour they store; opaque pages are returned as is.
    """
    if page.alpha is None or bool(np.all(page.alpha >= 1.0)):
        return page.rgb
    alpha = page.alpha[..., None]
    out = page.rgb * alpha
    out += 1.0 - alpha
    return out


def _opaque(alpha: np.ndarray | None) -> bool:
    """True when there is no alpha or every pixel is fully opaque (float 1, or the integer maximum)."""
    if alpha is None:
        return True
    full = np.iinfo(alpha.dtype).max if np.issubdtype(alpha.dtype, np.integer) else 1.0
    return bool(np.all(alpha >= full))


def line_of_page(page: Page) -> npt.NDArray[Any]:
    """The page's line art over white paper, (H, W) float32 [0, 1]: ``core.lineart.page_line(page_on_paper(page))``
    with the same values, for float pages and pages loaded ``as_int`` alike. An opaque 8-bit grey page
    (loaded ``as_int``) gives its uint8 plane instead (1 B/px, not 4): ``core.color.to_float32`` of it is
    exactly that float line (``core.color.rgb_to_gray`` is exact on grey pixels).

    The luma is converted a row block at a time (no page-sized float32 RGB). A page whose three channels
    are equal everywhere (grey, bilevel, grey + alpha files) cannot be a colour picture, so its line is
    that luma; other pages are checked on their float RGB over paper (``lineart.is_colour_picture``) and
    a colour picture's lines are drawn out of the luma (``lineart.extract_line``).
    """
    if page.rgb.dtype == np.uint8 and _opaque(page.alpha) and _is_grey(page.rgb):
        return page.rgb[..., 0].copy()  # 1 B/px; to_float32 of it = the float luma, bit for bit
    gray = _luma_on_paper(page)
    if _is_grey(page.rgb):
        return gray
    on_paper = page_on_paper(replace(page, rgb=to_float32(page.rgb),
                                     alpha=None if page.alpha is None else to_float32(page.alpha)))
    colour = is_colour_picture(on_paper)
    del on_paper
    return extract_line(gray) if colour and gray.size else gray


def _is_grey(rgb: np.ndarray) -> bool:
    """True when the (H, W, 3) page has equal R, G and B everywhere (checked a row block at a time)."""
    for y in range(0, rgb.shape[0], _LINE_ROWS):
        block = rgb[y : y + _LINE_ROWS]
        if not (np.array_equal(block[..., 0], block[..., 1]) and np.array_equal(block[..., 0], block[..., 2])):
            return False
    return True


def _luma_on_paper(page: Page) -> npt.NDArray[np.float32]:
    """``rgb_to_gray(page_on_paper(page))``, a row block at a time."""
    h, w = page.rgb.shape[:2]
    out = np.empty((h, w), np.float32)
    opaque = _opaque(page.alpha)
    for y in range(0, h, _LINE_ROWS):
        rows = slice(y, y + _LINE_ROWS)
        rgb = to_float32(page.rgb[rows])
        if not opaque:
            assert page.alpha is not None
            alpha = to_float32(page.alpha[rows])[..., None]
            rgb *= alpha
            rgb += 1.0 - alpha
        out[rows] = rgb_to_gray(rgb)
    return out


def hints_from_page(page: Page, path: str | os.PathLike[str] | None) -> npt.NDArray[Any]:
    """A loaded hint image as (H, W, 4) RGBA: float32 [0, 1] (straight alpha = hint strength), or the
    page's uint8/uint16 for a page loaded ``as_int`` (4 B/px at 8 bits).

    Raises:
        HintError: the image has no alpha channel (:data:`NO_ALPHA_MESSAGE`), naming ``path``.
    """
    if page.alpha is None:
        raise HintError(NO_ALPHA_MESSAGE, Path(path) if path is not None else page.path)
    out = np.empty((*page.rgb.shape[:2], 4), dtype=np.result_type(page.rgb.dtype, page.alpha.dtype))
    out[..., :3] = page.rgb
    out[..., 3] = page.alpha
    return out


def load_hints_file(path: str | os.PathLike[str], max_pixels: int | None = None) -> npt.NDArray[np.float32]:
    """Load a hint image file: (H, W, 4) float32 RGBA [0, 1].

    Raises:
        ImageLoadError, ImageTooLargeError: as ``load_image``; HintError: no alpha channel.
    """
    return hints_from_page(load_image(path, max_pixels), Path(path))
