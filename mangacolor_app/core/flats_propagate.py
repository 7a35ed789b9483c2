"""The last step of :mod:`core.flats`: the ink and the dilated halo take the value of the nearest
region pixel (a labelled distance transform), so unhinted regions keep their side of a line empty.

Done in row strips so that the transform's float32 distances and int32 labels are never page-sized;
the result is the whole-page transform's, bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["propagate_into_barrier"]

#: Rows of a strip, and its first margin, of :func:`propagate_into_barrier`.
_PROPAGATE_ROWS = 1024
_PROPAGATE_MARGIN = 128


def propagate_into_barrier(fill: np.ndarray) -> bool:
    """Give every barrier pixel (fill < 0) the value of the nearest region pixel, in place.

    The labelled distance transform runs on strips of ``_PROPAGATE_ROWS`` rows with a margin of rows
    above and below, so its float32 distances and int32 labels are never page-sized. A barrier pixel
    whose (chamfer) distance is under 0.9 x the margin has its nearest region pixel inside the strip
    with its margin (chamfer distance >= 0.955 x Euclidean), so it takes the value the whole-page
    transform gives it; deeper ones (solid black areas) are done again with a 4x larger margin, up to
    the whole page.

    Returns:
        False if there is no region pixel at all (``fill`` is then left as is).
    """
    barrier = (fill < 0).view(np.uint8).copy()  # the barrier as it was: strips are written as they go
    if barrier.all():
        return False
    h = fill.shape[0]
    pending = [(y, min(h, y + _PROPAGATE_ROWS)) for y in range(0, h, _PROPAGATE_ROWS)]
    margin = _PROPAGATE_MARGIN
    while pending:
        pending = [rows for rows in pending if not _propagate_strip(fill, barrier, rows, margin)]
        margin *= 4
    return True


def _propagate_strip(fill: np.ndarray, barrier: np.ndarray, rows: tuple[int, int], margin: int) -> bool:
    """Fill the barrier pixels of ``fill[rows]`` that lie under 0.9 x ``margin`` from a region pixel (all
    of them when the margin reaches the whole page); True when none is left in the strip."""
    y0, y1 = rows
    h = fill.shape[0]
    a, b = max(0, y0 - margin), min(h, y1 + margin)
    whole = a == 0 and b == h
    bar = barrier[a:b]
    core = slice(y0 - a, y1 - a)
    if not bar[core].any():
        return True
    values = fill[a:b][bar == 0]  # raster order = OpenCV's DIST_LABEL_PIXEL numbering
    if len(values) == 0:
        return False
    dist, nearest = cv2.distanceTransformWithLabels(bar, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    todo = bar[core] > 0
    if not whole:
        todo &= dist[core] < np.float32(0.9 * margin)
    ys, xs = np.nonzero(todo)
    fill[y0 + ys, xs] = values[nearest[core][ys, xs] - 1]
    return whole or len(ys) == int(np.count_nonzero(bar[core]))
