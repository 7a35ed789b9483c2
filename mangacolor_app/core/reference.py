"""Reference pages for colour memory: where each region of an already coloured page has which colour.

A reference is made from

* a MangaColor project (``.mcproj``): its page gives the line art and its hints, filled with the
  flats (:func:`mangacolor_app.core.flats.page_flats`), give every region its exact colour; regions
  no hint reaches are "uncoloured" (they teach the matcher to leave such regions alone), and regions
  the artist kept blank with the Paper key are "paper" (matching regions get the Paper key);
* a plain colour image: the line art is its darkest, unsaturated pixels
  (:func:`mangacolor_app.core.regions.ink_line_from_colour`), strong colour edges also separate
  regions, and each region's colour is its mean in CIELAB;
* a page of the current chapter coloured before (:func:`reference_from_hints`).

:func:`colour_classes` merges the colours of several references into one palette of classes
(exact colours stay exact; image colours within ``IMAGE_MERGE_DE`` CIELAB units are one class).
Errors name the file: :class:`ReferenceError` (a :class:`MangaColorError`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mangacolor_app.core.color import lab_to_rgb, rgb_to_gray
from mangacolor_app.core.errors import MangaColorError
from mangacolor_app.core.hints import paper_key_mask
from mangacolor_app.core.matching import IMAGE_MERGE_DE, Features, colour_classes, describe
from mangacolor_app.core.regions import RegionMap, colour_edges, ink_line_from_colour, label_regions, region_means

__all__ = [
    "Reference", "ReferenceError", "load_reference", "reference_from_hints", "reference_from_project",
    "reference_from_image", "colour_classes", "IMAGE_MERGE_DE",
]

log = logging.getLogger(__name__)

#: Reference pages with more pixels are analysed scaled down to this many.
ANALYSIS_MAX_PIXELS = 2_500_000
#: Smallest reference side in pixels.
MIN_SIDE = 32
#: An image is "in colour" when at least this share of its pixels has a CIELAB chroma above CHROMA_MIN.
COLOUR_SHARE_MIN = 0.005
CHROMA_MIN = 12.0
#: Largest channel value under which a pixel of a colour image is ink (dark and unsaturated).
IMAGE_INK_LEVEL = 0.3
#: CIELAB distance under which the colours of image references are one class.
#: Colour edge (CIELAB units per pixel, Sobel/8) that separates the regions of an image reference.
COLOUR_EDGE_DE = 9.0
#: Darkest region grey a tint is computed against (darker regions get a saturated tint).
TINT_GREY_MIN = 0.05
#: Project/flats colours: regions whose fill covers less than this share of them count as uncoloured.
FILL_SHARE_MIN = 0.5


class ReferenceError(MangaColorError):
    """A reference page cannot be used (unreadable, not in colour, no colours, too small)."""


@dataclass
class Reference:
    """One reference page.

    Attributes:
        name: what to call it in messages (the file name).
        features: descriptors of its regions (:class:`mangacolor_app.core.matching.Features`).
        colour: (n+1, 3) float32 RGB [0, 1] per region (row 0 unused).
        tint: (n+1, 3) float32 RGB [0, 1]: the colour to multiply over the page's grey to get
            ``colour`` (region colour / region grey, clipped); equal to ``colour`` for exact
            references (hints are painted in that convention already).
        coloured: (n+1,) bool, the regions that have a colour.
        paper: (n+1,) bool, uncoloured regions the artist kept blank with the Paper key.
        exact: colours come from hints (exact) rather than from pixels (approximate).
        shape: (H, W) it was analysed at (pages over ANALYSIS_MAX_PIXELS are scaled down).
    """

    name: str
    features: Features
    colour: np.ndarray
    coloured: np.ndarray
    exact: bool
    shape: tuple[int, int]
    tint: np.ndarray | None = None
    paper: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.tint is None:
            self.tint = self.colour
        if self.paper is None:
            self.paper = np.zeros(len(self.colour), bool)


def _analysis_size(h: int, w: int) -> tuple[int, int]:
    """(H, W) a reference page is analysed at: its own, or scaled down to ``ANALYSIS_MAX_PIXELS``."""
    if h * w <= ANALYSIS_MAX_PIXELS:
        return h, w
    f = (ANALYSIS_MAX_PIXELS / (h * w)) ** 0.5
    return max(MIN_SIDE, int(h * f)), max(MIN_SIDE, int(w * f))


def _mode_colours(rmap: RegionMap, flats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most common flats colour per region: ((n+1, 3) float32, (n+1,) bool coloured)."""
    step = 2 if rmap.labels.size > 1_000_000 else 1
    lab = rmap.labels[::step, ::step].ravel().astype(np.int64)
    fl = flats[::step, ::step].reshape(-1, 4)
    keep = lab > 0
    lab, fl = lab[keep], fl[keep]
    rgb8 = np.clip(fl[:, :3] * 255 + 0.5, 0, 255).astype(np.int64)
    packed = np.where(fl[:, 3] > 0, (rgb8[:, 0] << 16 | rgb8[:, 1] << 8 | rgb8[:, 2]) + 1, 0)
    keys, counts = np.unique(lab << 25 | packed, return_counts=True)
    klab, kcol = keys >> 25, keys & ((1 << 25) - 1)
    order = np.lexsort((counts, klab))  # by region, then count: the last of each region wins
    last = np.r_[klab[order][1:] != klab[order][:-1], True]
    win_lab, win_col, win_cnt = klab[order][last], kcol[order][last], counts[order][last]
    total = np.bincount(lab, minlength=rmap.n + 1)
    colour = np.zeros((rmap.n + 1, 3), np.float32)
    coloured = np.zeros(rmap.n + 1, bool)
    ok = (win_col > 0) & (win_cnt >= FILL_SHARE_MIN * total[win_lab])
    c = win_col[ok] - 1
    colour[win_lab[ok]] = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], 1).astype(np.float32) / 255.0
    coloured[win_lab[ok]] = True
    return colour, coloured


def reference_from_hints(line_gray: np.ndarray, hints: np.ndarray, *, dpi: tuple[float, float] | None = None,
                         name: str = "page") -> Reference:
    """A reference from a page's line (H, W) float32 [0, 1] and its hint layer (H, W, 4) float32.

    Raises:
        ReferenceError: no hint pixel, or no region reached by a hint.
        HintError: the hint layer does not match the line.
    """
    from mangacolor_app.core.flats import page_flats

    line = np.asarray(line_gray, np.float32)
    if not (np.asarray(hints)[..., 3] > 0).any():
        raise ReferenceError("has no colour hints to learn colours from", name)
    if line.shape != hints.shape[:2]:
        raise ReferenceError(f"hint layer {hints.shape[1]}x{hints.shape[0]} does not fit the page "
                             f"{line.shape[1]}x{line.shape[0]}", name)
    size = _analysis_size(*line.shape)
    if size != line.shape:  # descriptors are relative: a reference is analysed at a bounded size
        line = np.asarray(cv2.resize(line, size[::-1], interpolation=cv2.INTER_AREA), np.float32)
        hints = np.asarray(cv2.resize(np.ascontiguousarray(hints, np.float32), size[::-1],
                                      interpolation=cv2.INTER_NEAREST), np.float32)
        dpi = None
    flats = page_flats(line, hints, dpi)
    rmap = label_regions(line, dpi=dpi[0] if dpi else None)
    colour, coloured = _mode_colours(rmap, flats)
    paper = np.zeros(rmap.n + 1, bool)
    paper[np.unique(rmap.labels[paper_key_mask(hints)])] = True
    paper &= ~coloured
    paper[0] = False
    if not coloured.any() and not paper.any():
        raise ReferenceError("no region of this page is coloured by its hints", name)
    return Reference(name=name, features=describe(rmap, line), colour=colour, coloured=coloured,
                     exact=True, shape=rmap.shape, paper=paper)


def reference_from_project(path: str | os.PathLike[str]) -> Reference:
    """A reference from an editor project file (its page and hints).

    Raises:
        ProjectError: unreadable project; ReferenceError: no hints.
    """
    from mangacolor_app.core.project import load_project

    path = Path(path)
    project = load_project(path)
    line = rgb_to_gray(project.page)
    return reference_from_hints(line, project.hints_float(), dpi=project.dpi, name=str(path))


def reference_from_rgb(rgb: np.ndarray, *, dpi: tuple[float, float] | None = None, name: str = "image") -> Reference:
    """A reference from a colour picture (H, W, 3) float32 [0, 1].

    Raises:
        ReferenceError: the picture is too small or has (almost) no colour.
    """
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ReferenceError(f"is too small ({w}x{h} px) to be a reference", name)
    size = _analysis_size(h, w)
    if size != (h, w):  # descriptors are relative: a reference is analysed at a bounded size
        rgb = np.clip(cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA), 0.0, 1.0)
        dpi = None
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab)  # page-sized: OpenCV's (D65, sRGB)
    chroma = np.hypot(lab[::2, ::2, 1], lab[::2, ::2, 2])
    if float((chroma > CHROMA_MIN).mean()) < COLOUR_SHARE_MIN:
        raise ReferenceError("is a greyscale image; a reference page must be in colour", name)
    line = ink_line_from_colour(rgb)
    rmap = label_regions(line, dpi=dpi[0] if dpi else None, ink_threshold=IMAGE_INK_LEVEL,
                         extra_barrier=colour_edges(lab, COLOUR_EDGE_DE))
    if rmap.n == 0:
        raise ReferenceError("has no closed regions to learn colours from", name)
    mean_lab = region_means(rmap, lab).astype(np.float32)
    colour = np.clip(lab_to_rgb(mean_lab[:, None, :])[:, 0, :], 0, 1).astype(np.float32)
    grey = rgb_to_gray(rgb)
    mean_grey = region_means(rmap, grey[..., None])[:, 0]
    tint = np.clip(colour / np.maximum(mean_grey, TINT_GREY_MIN)[:, None], 0, 1).astype(np.float32)
    coloured = rmap.area > 0
    coloured[0] = False
    return Reference(name=name, features=describe(rmap, grey), colour=colour, coloured=coloured,
                     exact=False, shape=(int(rgb.shape[0]), int(rgb.shape[1])), tint=tint)


def reference_from_image(path: str | os.PathLike[str]) -> Reference:
    """A reference from a colour image file (see :func:`reference_from_rgb`).

    Raises:
        ImageLoadError: unreadable image; ReferenceError: greyscale or too small.
    """
    from mangacolor_app.core.imageio import load_image

    page = load_image(path)
    return reference_from_rgb(page.rgb, dpi=page.dpi, name=str(path))


def load_reference(path: str | os.PathLike[str]) -> Reference:
    """A reference from a ``.mcproj`` project or a colour image file.

    Raises:
        ReferenceError: missing file, greyscale image, no colours; ImageLoadError / ProjectError:
        unreadable file. Every message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ReferenceError("reference file not found" if not path.exists() else "is not a file", path)
    if path.suffix.lower() == ".mcproj":
        return reference_from_project(path)
    return reference_from_image(path)
