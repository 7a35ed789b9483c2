"""The page-background rule of :mod:`core.flats`: what a hint may colour in the page background.

A region covering at least ``BG_AREA_FRAC`` of the page is "large"; a large region that runs along
at least ``BG_BORDER_FRAC`` of the page border is "open" (the page background, or a figure whose
outline leaks into it through a gap). A large region meeting the border only along a short stretch
(a strand of hair or a sleeve clipped by the page edge) is a closed shape: :mod:`core.flats` fills it
like any other region. A hint colour takes a large region whole only when the artist clearly asked: one connected stroke of
it covers at least ``COVER_FRAC`` of the region (a broad stroke, the fill tool). Otherwise each hint
blob in it claims:

1. the room it sits in once larger gaps are closed (trapped-ball style): the free paper is taken
   at distances from the ink doubling from the base gap radius up to ``MAX_GAP_FRAC`` of the short
   side; at the first radius where the blob's component is a room (not open, and at most
   ``ROOM_FRAC`` of the region; or a larger radius while that splits the room to under
   ``SPLIT_RATIO`` of its area), the blob claims it grown back by the radius (the ball reaches into
   its corners, and no further than the radius through the gap it closed);
2. if no radius seals a room (the blob really sits on the open paper), only a bounded
   neighbourhood: the pixels of the region within ``NEAR_FRAC`` of the short side of it.
   (:func:`open_claims` with ``open_=False``, a large closed region, gives the whole region then.)

The thresholds are fractions of the page, so the rule is the same at any resolution. Pure numpy +
OpenCV; works on bounding boxes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["BG_AREA_FRAC", "BG_BORDER_FRAC", "COVER_FRAC", "MAX_GAP_FRAC", "NEAR_FRAC", "ROOM_FRAC", "OpenRegions", "border_shares", "gap_radii", "is_large", "is_open",
           "open_claims"]

log = logging.getLogger(__name__)

#: Share of the page a border-touching region must cover to be "open" (page background).
BG_AREA_FRAC = 0.05
#: Share of the page's border a large region must run along to be the page background (half a side of
#: a square page); a large region meeting the border only along a shorter stretch (a strand of hair or a
#: sleeve cut by the page edge) is a closed shape that the page edge happens to clip.
BG_BORDER_FRAC = 0.125
#: Share of an open region a colour's hint pixels must cover for the colour to take all of it.
COVER_FRAC = 0.01
#: Largest ink gap radius (fraction of the page's short side) tried when closing gaps around a hint.
MAX_GAP_FRAC = 0.04
#: Largest share of its region a room sealed off by a larger gap radius may have.
ROOM_FRAC = 0.5
#: A room that a larger gap radius splits to under this share of its area was two rooms joined by a gap.
SPLIT_RATIO = 0.25
#: Radius (fraction of the short side) of the neighbourhood a hint on open paper colours.
NEAR_FRAC = 0.02


def is_large(area: int, shape: tuple[int, int]) -> bool:
    """Whether a component of ``area`` pixels covers >= BG_AREA_FRAC of a page of ``shape`` = (H, W)."""
    return area >= BG_AREA_FRAC * shape[0] * shape[1]


def is_open(box: tuple[int, int, int, int], area: int, shape: tuple[int, int],
            border_share: float | None = None) -> bool:
    """Whether a component with bounding box ``box`` = (x, y, w, h) and ``area`` pixels is open
    (touches the border of a page of ``shape`` = (H, W) and is large); when its ``border_share`` (the
    share of the page's border pixels it holds, 0..1) is given, it must also be at least
    ``BG_BORDER_FRAC``."""
    x, y, w, h = box
    page_h, page_w = shape
    touches = x == 0 or y == 0 or x + w >= page_w or y + h >= page_h
    if border_share is not None and border_share < BG_BORDER_FRAC:
        return False
    return touches and is_large(area, shape)


def border_shares(labels: np.ndarray, n: int) -> np.ndarray:
    """(n,) float64: the share of the page's border pixels each label 0..n-1 of (H, W) int ``labels`` holds."""
    border = np.concatenate([labels[0, :], labels[-1, :], labels[1:-1, 0], labels[1:-1, -1]])
    return np.bincount(border, minlength=n)[:n] / max(1, len(border))


@dataclass
class OpenRegions:
    """Components of the page's free paper at gap radii larger than the base one, computed lazily.

    ``barrier`` is the (H, W) uint8 ink barrier (1 = ink) before gap closing; ``radii`` the gap radii
    tried, increasing.
    """

    barrier: np.ndarray
    radii: list[float]
    _dist: np.ndarray | None = None
    _cache: dict[int, tuple[np.ndarray, np.ndarray, int]] = field(default_factory=dict)

    def level(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(labels int32, stats (N, 5), f) of the paper farther than ``radii[k]`` from the ink.

        Radii of 4 px and more are labelled on a grid of f x f cells (f = radius // 2; a cell is free
        when every cell holding ink is more than the radius away, counted conservatively in cells):
        ``labels`` is that grid, ``stats`` are in page pixels (boxes clipped to the page).
        """
        if k not in self._cache:
            radius = self.radii[k]
            f = max(1, int(radius // 2))
            if f == 1:
                if self._dist is None:
                    self._dist = cv2.distanceTransform((self.barrier == 0).view(np.uint8), cv2.DIST_L2, 5)
                dist = self._dist
            else:  # cells with ink = max-pool; a cell is free when its cell distance to ink leaves the radius
                h, w = self.barrier.shape
                hc, wc = -(-h // f), -(-w // f)
                padded = cv2.copyMakeBorder(self.barrier, 0, hc * f - h, 0, wc * f - w, cv2.BORDER_CONSTANT, value=0)
                cells = padded.reshape(hc, f, wc * f).max(axis=1).reshape(hc, wc, f).max(axis=2)
                with np.errstate(over="ignore"):  # no ink cell at all: OpenCV's "infinite" distance, x f = inf
                    dist = (cv2.distanceTransform((cells == 0).view(np.uint8), cv2.DIST_L2, 5) - 1.0) * f
            free = (dist > radius).view(np.uint8)
            _, labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4, ltype=cv2.CV_32S)
            if f > 1:
                stats = stats.astype(np.int64) * np.array([f, f, f, f, f * f])
                h, w = self.barrier.shape
                stats[:, 2] = np.minimum(stats[:, 2], w - stats[:, 0])
                stats[:, 3] = np.minimum(stats[:, 3], h - stats[:, 1])
            self._cache[k] = (labels, stats, f)
        return self._cache[k]

    def component_mask(self, k: int, comp: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        """(y1 - y0, x1 - x0) bool: the pixels of page box [y0:y1, x0:x1] in component ``comp`` of level ``k``."""
        labels, _, f = self.level(k)
        if f == 1:
            return labels[y0:y1, x0:x1] == comp
        cy0, cx0 = y0 // f, x0 // f
        cells = labels[cy0 : -(-y1 // f), cx0 : -(-x1 // f)] == comp
        full = np.repeat(np.repeat(cells, f, axis=0), f, axis=1)
        return full[y0 - cy0 * f : y1 - cy0 * f, x0 - cx0 * f : x1 - cx0 * f]


def gap_radii(base: float, short_side: int) -> list[float]:
    """Radii tried beyond the base gap radius: doubling from it up to MAX_GAP_FRAC x short side."""
    top = MAX_GAP_FRAC * short_side
    radii, r = [], max(1.0, base) * 2.0
    while r <= top:
        radii.append(r)
        r *= 2.0
    if not radii or radii[-1] < top * 0.75:
        radii.append(top)
    return [r for r in radii if r > base]


def open_claims(
    inside: np.ndarray,
    origin: tuple[int, int],
    seeds: np.ndarray,
    levels: OpenRegions,
    shape: tuple[int, int],
    open_: bool,
) -> np.ndarray:
    """Pixels of an open region each of its hint colours claims (see the module docstring).

    Args:
        inside: (h, w) bool, the open region within its bounding box.
        origin: (y0, x0) of the box on the page.
        seeds: (h, w) int32 colour index of the box's seed pixels inside the region (0 = none).
        levels: the page's components at larger gap radii.
        shape: the page's (H, W).

    Returns:
        (h, w) int32 colour index (0 = unclaimed); a pixel claimed by several colours keeps the one
        nearest to it (the caller splits such overlaps).
    """
    h, w = inside.shape
    y0, x0 = origin
    area = int(inside.sum())
    claims = np.zeros((h, w), np.int32)
    blobs = _seed_blobs(seeds)
    near = max(2.0, NEAR_FRAC * min(shape))
    broad = {c for c, ys, _ in blobs if len(ys) >= COVER_FRAC * area}  # one stroke covers enough
    for colour in sorted(broad):
        claims[inside & (claims == 0)] = colour
    done: set[tuple[int, int, int]] = set()
    whole: set[int] = set(broad)
    for colour, ys, xs in blobs:
        if colour in whole:
            continue
        ys, xs = ys + y0, xs + x0
        mine = _sealed_claim(ys, xs, levels, shape, done, ROOM_FRAC * area, colour)
        if mine is None and not open_:  # a closed outline holds: the blob takes the whole region
            claims[inside & (claims == 0)] = colour
            whole.add(colour)
            continue
        if mine is None:
            mine = _near_claim(ys, xs, shape, near)
        _paint(claims, inside, mine, origin, colour)
    return claims


def _seed_blobs(seeds: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(colour, ys, xs) of each connected (8-) blob of seed pixels of one colour, in ``seeds``' box;
    touching blobs of different colours are found together and told apart by colour."""
    sy, sx = np.nonzero(seeds)
    y0, x0 = int(sy.min()), int(sx.min())
    crop = seeds[y0 : int(sy.max()) + 1, x0 : int(sx.max()) + 1]
    _, blob_map = cv2.connectedComponents((crop > 0).view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    blob = blob_map[sy - y0, sx - x0].astype(np.int64)
    colour = seeds[sy, sx].astype(np.int64)
    key = blob * (int(colour.max()) + 1) + colour
    order = np.argsort(key, kind="stable")
    key, sy, sx, colour = key[order], sy[order], sx[order], colour[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    return [(int(colour[a]), sy[a:b], sx[a:b]) for a, b in zip(starts, ends)]


def _blob_component(ys: np.ndarray, xs: np.ndarray, levels: OpenRegions, k: int) -> tuple[int, np.ndarray] | None:
    """(component id, its stats row) holding most of the blob at gap level ``k``; None if on ink."""
    labels, stats, f = levels.level(k)
    hit = labels[ys // f, xs // f]
    hit = hit[hit > 0]
    if len(hit) == 0:
        return None
    comp = int(np.bincount(hit).argmax())
    return comp, stats[comp]


def _sealed_claim(ys: np.ndarray, xs: np.ndarray, levels: OpenRegions, shape: tuple[int, int],
                  done: set[tuple[int, int, int]], room_area: float, colour: int,
                  ) -> tuple[int, int, np.ndarray] | None:
    """The room the blob at page pixels (ys, xs) sits in, grown back by its gap radius: (y, x, mask)
    on the page; an empty mask when an already claimed room; None when the blob stays open (or
    reaches the ink) at every radius.

    The room is the blob's component at the first gap radius where it is not open and holds at
    most ``room_area`` pixels, or at a larger radius while each step splits it to under
    ``SPLIT_RATIO`` of its area (the room was itself two joined by a gap)."""
    found = None
    for k in range(len(levels.radii)):
        hit = _blob_component(ys, xs, levels, k)
        if hit is None:
            break
        comp, stat = hit
        box, area = (int(stat[0]), int(stat[1]), int(stat[2]), int(stat[3])), int(stat[4])
        if found is None:
            if not is_open(box, area, shape) and area <= room_area:
                found = (k, comp, box, area)
            continue
        if is_open(box, area, shape) or area >= SPLIT_RATIO * found[3]:
            break
        found = (k, comp, box, area)
    if found is None:
        return None
    k, comp, (x, y, w, h), area = found
    if (k, comp, colour) in done:
        return (y, x, np.zeros((0, 0), bool))
    done.add((k, comp, colour))
    radius = levels.radii[k]
    pad = int(np.ceil(radius)) + 1
    by0, bx0 = max(0, y - pad), max(0, x - pad)
    by1, bx1 = min(shape[0], y + h + pad), min(shape[1], x + w + pad)
    core = ~levels.component_mask(k, comp, by0, bx0, by1, bx1)
    grown = cv2.distanceTransform(core.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius + 1.0
    log.debug("flats: hint blob sealed at gap radius %.1f (room of %d px)", radius, area)
    return (by0, bx0, grown)


def _near_claim(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], near: float) -> tuple[int, int, np.ndarray]:
    """Pixels within ``near`` of the blob at page pixels (ys, xs): (y, x, mask) on the page."""
    pad = int(np.ceil(near)) + 1
    by0, bx0 = max(0, int(ys.min()) - pad), max(0, int(xs.min()) - pad)
    by1, bx1 = min(shape[0], int(ys.max()) + pad + 1), min(shape[1], int(xs.max()) + pad + 1)
    free = np.ones((by1 - by0, bx1 - bx0), np.uint8)
    free[ys - by0, xs - bx0] = 0
    return (by0, bx0, cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= near)


def _paint(claims: np.ndarray, inside: np.ndarray, claim: tuple[int, int, np.ndarray], origin: tuple[int, int],
           colour: int) -> None:
    """Write ``colour`` into the unclaimed pixels of ``claims`` (the region's box) that the page-space
    ``claim`` covers and that are inside the region, connected to nothing else required."""
    y, x, mask = claim
    if mask.size == 0:
        return
    y0, x0 = origin
    h, w = claims.shape
    cy0, cx0 = max(y, y0), max(x, x0)
    cy1, cx1 = min(y + mask.shape[0], y0 + h), min(x + mask.shape[1], x0 + w)
    if cy0 >= cy1 or cx0 >= cx1:
        return
    sub = mask[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
    dst = claims[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    ins = inside[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    dst[sub & ins & (dst == 0)] = colour
