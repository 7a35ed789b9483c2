"""Smooth split of one region between several hint colours (a step of :mod:`core.flats`).

The region is flooded from its seeds by a watershed whose elevation is the line's darkness (so the
split follows faint lines) plus the Euclidean distance to the nearest seed (so on blank paper the
fronts advance as circles and meet along the Voronoi bisectors of the seeds: no axis-aligned blocks,
whatever the watershed's queue order on a plateau). Regions larger than ``WS_MAX_PIXELS`` are flooded
at a reduced scale; the labels are then brought back to full resolution as smoothed per-colour
masks (Gaussian, bilinear upsampling, arg-max), so the boundary is smooth at any page size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["split_region", "WS_MAX_PIXELS"]

#: Regions whose bounding box has more pixels are split at a reduced scale.
WS_MAX_PIXELS = 1 << 20
#: Elevation span (of 0..254) of the line's darkness in the watershed (faint lines hold fronts back).
DARKNESS_SPAN = 100.0
#: Elevation span of the distance to the nearest seed (normalised by the region's largest distance).
DISTANCE_SPAN = 150.0
#: Sigma, in pixels of the (reduced) watershed grid, of the smoothing of the label boundaries.
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
    """Watershed of the seeds ``marks`` (1..k) at (ys, xs) over ``inside``; (h, w) int32 in 1..k
    everywhere (pixels the flood did not reach take the label of the nearest labelled pixel)."""
    sh, sw = inside.shape
    sentinel = k + 1
    markers = np.full((sh + 2, sw + 2), sentinel, np.int32)  # 1-px frame: watershed overwrites it
    markers[1:-1, 1:-1][inside] = 0
    markers[ys + 1, xs + 1] = marks
    seed_free = (markers[1:-1, 1:-1] <= 0) | (markers[1:-1, 1:-1] == sentinel)
    dist = cv2.distanceTransform(seed_free.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    far = float(dist[inside].max()) if inside.any() else 1.0
    elevation = (255.0 - line8.astype(np.float32)) * np.float32(DARKNESS_SPAN / 255.0)
    elevation += dist * np.float32(DISTANCE_SPAN / max(far, 1.0))
    grey = np.full((sh + 2, sw + 2), 255, np.uint8)
    grey[1:-1, 1:-1] = np.clip(elevation, 0, 254).astype(np.uint8)
    grey[1:-1, 1:-1][~inside] = 255
    cv2.watershed(cv2.merge([grey, grey, grey]), markers)
    result = markers[1:-1, 1:-1]
    good = (result > 0) & (result < sentinel)
    _, nearest = cv2.distanceTransformWithLabels(
        (~good).view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    return result[good][nearest - 1]


def _upsample_labels(labels: np.ndarray, k: int, f: int, shape: tuple[int, int], colours: np.ndarray) -> np.ndarray:
    """Smoothed arg-max of the per-label masks, upsampled by ``f`` to ``shape``; returns colour indices."""
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
