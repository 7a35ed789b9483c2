"""Smooth split of one region between several hint colours (a step of :mod:`core.flats`).

A watershed on the line's darkness decides which seeds own each stretch of paper between faint
lines (so the split follows them); within a stretch, blank paper goes to the nearest seed
(Euclidean Voronoi: smooth bisectors, no axis-aligned blocks from the watershed's queue order on a
plateau). Regions larger than ``WS_MAX_PIXELS`` are flooded
at a reduced scale; the labels are then brought back to full resolution as smoothed per-colour
masks (Gaussian, bilinear upsampling, arg-max), so the boundary is smooth at any page size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["WS_MAX_PIXELS", "split_region"]

#: Regions whose bounding box has more pixels are split at a reduced scale.
WS_MAX_PIXELS = 1 << 20
#: Elevation span (of 0..254) of the line's darkness in the watershed (faint lines hold fronts back).
DARKNESS_SPAN = 100.0
#: Line level (uint8) below which a pixel is a faint line separating zones of blank paper.
FAINT_LEVEL = 230
#: Sigma, in pixels of the reduced grid, of the smoothing of the label boundaries before upsampling.
SMOOTH_SIGMA = 1.0


def split_region(inside: np.ndarray, seeds: np.ndarray, line8: np.ndarray) -> np.ndarray:
    """Label every pixel of a region with one of its seed colours.

    Args:
        inside: (h, w) bool, the region within its bounding box.
        seeds: (h, w) int32 colour index of the seed pixels (0 = no seed); at least one inside.
        line8: (h, w) uint8 line (255 = paper).

    Returns:
        (h, w) int32 colour index for every pixel of the box (meaningful where ``inside``); every
        index is one of the seeds' indices inside the region.
    """
    h, w = inside.shape
    f = max(1, math.ceil(math.sqrt(h * w / WS_MAX_PIXELS)))
    seeded = inside & (seeds > 0)
    colours, local = np.unique(seeds[seeded], return_inverse=True)
    if len(colours) == 1:
        return np.full((h, w), colours[0], np.int32)
    if f > 1:
        kernel = np.ones((f, f), np.uint8)
        line_s = cv2.erode(line8, kernel, anchor=(0, 0))[::f, ::f]  # block minimum: faint lines survive
        inside_s = cv2.dilate(inside.view(np.uint8), kernel, anchor=(0, 0))[::f, ::f] > 0
    else:
        line_s, inside_s = line8, inside
    ys, xs = np.nonzero(seeded)
    labels = _flood(inside_s, line_s, ys // f, xs // f, local.reshape(-1).astype(np.int32) + 1, len(colours))
    return _upsample_labels(labels, len(colours), f, (h, w), colours.astype(np.int32))


def _flood(inside: np.ndarray, line8: np.ndarray, ys: np.ndarray, xs: np.ndarray, marks: np.ndarray,
           k: int) -> np.ndarray:
    """Labels 1..k of every pixel of the box from the seeds ``marks`` at (ys, xs) over ``inside``.

    A watershed on the line's darkness decides which seeds each stretch of paper between faint
    lines belongs to; within such a stretch ("zone": 4-connected paper lighter than ``FAINT_LEVEL``)
    each pixel takes the nearest (Euclidean) of the seeds whose colour has a seed in the zone, so
    blank paper is split along the seeds' Voronoi bisectors, smooth and unbiased. Zones with no
    seed keep the watershed's label.
    """
    sh, sw = inside.shape
    sentinel = k + 1
    markers = np.full((sh + 2, sw + 2), sentinel, np.int32)  # 1-px frame: watershed overwrites it
    markers[1:-1, 1:-1][inside] = 0
    markers[ys + 1, xs + 1] = marks
    grey = np.full((sh + 2, sw + 2), 255, np.uint8)
    dark = (255.0 - line8.astype(np.float32)) * np.float32(DARKNESS_SPAN / 255.0)
    grey[1:-1, 1:-1] = np.where(inside, dark, 255).astype(np.uint8)
    cv2.watershed(cv2.merge([grey, grey, grey]), markers)
    result = markers[1:-1, 1:-1]
    good = (result > 0) & (result < sentinel)
    _, nearest = cv2.distanceTransformWithLabels(
        (~good).view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    shed = result[good][nearest - 1]
    best = np.full((sh, sw), np.inf, np.float32)
    voronoi = np.zeros((sh, sw), np.int32)
    for j in range(1, k + 1):
        free = np.ones((sh, sw), np.uint8)
        free[ys[marks == j], xs[marks == j]] = 0
        d = cv2.distanceTransform(free, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        closer = d < best
        np.copyto(best, d, where=closer)
        voronoi[closer] = j
    paper = (inside & (line8 >= FAINT_LEVEL)).view(np.uint8)
    _, zones = cv2.connectedComponents(paper, connectivity=4)
    allowed = np.zeros((int(zones.max()) + 1, k + 1), bool)
    allowed[zones[ys, xs], marks] = True
    allowed[0] = False
    ok = allowed[zones, voronoi]
    return np.where(ok, voronoi, shed).astype(np.int32)


def _upsample_labels(labels: np.ndarray, k: int, f: int, shape: tuple[int, int], colours: np.ndarray) -> np.ndarray:
    """Smoothed arg-max of the per-label masks, upsampled by ``f`` to ``shape``; returns colour indices."""
    if f == 1:  # full resolution: the Voronoi bisectors are already smooth
        return colours[labels - 1]
    h, w = shape
    best = np.zeros((h, w), np.uint8)
    arg = np.zeros((h, w), np.int32)
    sigma = SMOOTH_SIGMA
    for j in range(1, k + 1):
        plane = cv2.GaussianBlur((labels == j).view(np.uint8) * np.uint8(255), (0, 0), sigma)
        if f > 1:
            plane = cv2.resize(plane, (labels.shape[1] * f, labels.shape[0] * f), interpolation=cv2.INTER_LINEAR)
            plane = plane[:h, :w]
        better = plane > best
        if j == 1:
            better[:] = True
        np.copyto(best, plane, where=better)
        arg[better] = j
    return colours[arg - 1]
