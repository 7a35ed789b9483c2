"""What a loaded image means as a page or as a hint layer (the rules shared by the CLI and the editor).

* A page with transparency (an RGBA or palette PNG exported from a line-art layer, whose transparent
  pixels are often stored as black) is composited over white paper: :func:`page_on_paper`.
* A hint layer must carry an alpha channel (alpha = hint strength, 0 = no hint). An image without
  one (an RGB PNG) would make every pixel a hint and paint the page over, so it is refused with a
  :class:`~mangacolor_app.core.errors.HintError` that says so: :func:`hints_from_page`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mangacolor_app.core.errors import HintError
from mangacolor_app.core.imageio import Page, load_image

__all__ = ["NO_ALPHA_MESSAGE", "hints_from_page", "load_hints_file", "page_on_paper"]

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


def hints_from_page(page: Page, path: str | os.PathLike[str] | None) -> npt.NDArray[np.float32]:
    """A loaded hint image as (H, W, 4) float32 RGBA [0, 1] (straight alpha = hint strength).

    Raises:
        HintError: the image has no alpha channel (:data:`NO_ALPHA_MESSAGE`), naming ``path``.
    """
    if page.alpha is None:
        raise HintError(NO_ALPHA_MESSAGE, Path(path) if path is not None else page.path)
    out = np.empty((*page.rgb.shape[:2], 4), dtype=np.float32)
    out[..., :3] = page.rgb
    out[..., 3] = page.alpha
    return out


def load_hints_file(path: str | os.PathLike[str], max_pixels: int | None = None) -> npt.NDArray[np.float32]:
    """Load a hint image file: (H, W, 4) float32 RGBA [0, 1].

    Raises:
        ImageLoadError, ImageTooLargeError: as ``load_image``; HintError: no alpha channel.
    """
    return hints_from_page(load_image(path, max_pixels), Path(path))
