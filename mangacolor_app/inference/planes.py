"""Extra per-tile planes that travel with the model input: the gate (share of the model's colour kept).

A plane writer fills one (1, h, w) float32 plane of a window of the page, ``(ys, xs, out)``, where
``ys``/``xs`` come from :meth:`ModelInputBuilder.window`; :func:`reader_with_planes` stacks the model
input and such planes into one planar buffer that the tile function reads without copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mangacolor_app.core.color import to_float32
from mangacolor_app.core.flats import paper_mask
from mangacolor_app.core.hints import colour_hint_mask, coverage_reach
from mangacolor_app.core.model_inputs import ModelInputBuilder, take_window

__all__ = ["PlaneWriter", "REACH_SIGMA_FRAC", "gate_plane", "reader_with_planes"]

#: Writes planes of a page window: ``(ys, xs, out)`` with ``out`` float32 (k, h, w), filled in place.
PlaneWriter = Callable[[Any, Any, np.ndarray], Any]
#: Sigma (fraction of the short side) of the reach of the hinted area, over which the model's own
#: colour in unhinted areas fades from ``unhinted_strength`` to its square (see :func:`gate_plane`).
REACH_SIGMA_FRAC = 0.1
#: Rows of the gate combined at a time (float32 temporaries of a strip only).
_GATE_ROWS = 256


def gate_plane(
    builder: ModelInputBuilder, hints: np.ndarray | None, flats: np.ndarray | None, strength: float,
    *, compact: bool = False,
) -> PlaneWriter:
    """Writer of the share of the model's colour kept at each pixel, float32 in [0, 1] (the rest is paper).

    ``a = g + (1 - g) * s * (s + (1 - s) * r)`` with ``g`` = max(flats alpha, blurred-hint confidence)
    (1 inside regions the flats fill from a hint and next to hint strokes), ``s`` = ``strength``
    (the manifest's ``unhinted_strength``) and ``r`` = :func:`core.hints.coverage_reach` of the flats
    and hints at sigma ``REACH_SIGMA_FRAC``: unhinted colour is kept at ``s`` near what the artist
    coloured and fades to ``s**2`` far from it; ``s = 1`` keeps everything; where the flats keep paper
    (the Paper key's regions, the unhinted page background: ``core.flats.paper_mask``) ``a = 0``
    whatever ``s``, and Paper-key pixels are no colour hints here; a page with no hint at
    all keeps nothing (clean paper; the pipeline then skips the model altogether). Computed once per page
    (float16 with ``compact``) and cropped per tile.

    Args:
        builder: the page's model-input builder (its line, flats and ``blur_sigma`` are used).
        hints: (H, W, 4) RGBA hint layer fitted to the page (uint8/uint16, or float32 in [0, 1]), or None.
        flats: (H, W, 4) flats layer when the builder has none, or None.
        strength: ``unhinted_strength`` in [0, 1].
        compact: store the plane as float16 (huge pages).
    """
    shape = builder.shape
    fl = builder.flats if builder.flats is not None else flats
    seeds = colour_hint_mask(hints) if hints is not None else np.zeros(shape, dtype=bool)
    # = encode_hint_blur's confidence, without its colour; float16 at once on huge pages
    gate = coverage_reach(seeds, builder.blur_sigma).astype(np.float16 if compact else np.float32, copy=False)
    if fl is not None:
        seeds |= fl[..., 3] > 0
    floor = None
    if strength > 0.0 and seeds.any():  # nothing hinted anywhere: nothing of the model's colour kept
        floor = coverage_reach(seeds, REACH_SIGMA_FRAC)
    del seeds
    for y in range(0, shape[0], _GATE_ROWS):  # page-sized: the gate and the floor only
        rows = slice(y, y + _GATE_ROWS)
        gate[rows] = _gate_rows(gate[rows], None if fl is None else fl[rows],
                                None if floor is None else floor[rows], strength)

    def write(ys: slice | np.ndarray, xs: slice | np.ndarray, out: np.ndarray) -> None:
        out[0] = take_window(gate, ys, xs)

    return write


def _gate_rows(reach: np.ndarray, flats: np.ndarray | None, floor: np.ndarray | None, strength: float) -> np.ndarray:
    """float32 gate of a row block (see :func:`gate_plane`) from its hint reach, flats and floor reach."""
    gate = reach.astype(np.float32)
    if flats is not None:
        np.maximum(gate, np.clip(to_float32(flats[..., 3]), 0.0, 1.0), out=gate)
    if floor is not None:
        floor = floor * np.float32(strength * (1.0 - strength))
        floor += np.float32(strength * strength)
        gate += (1.0 - gate) * floor
    if flats is not None:
        gate[paper_mask(flats)] = 0.0
    return gate


def reader_with_planes(
    builder: ModelInputBuilder, extra: Sequence[PlaneWriter]
) -> Callable[[int, int, int, int], np.ndarray]:
    """Region reader returning the model input followed by one plane per ``extra`` writer (ink, gate):
    a channel-last view of one planar (C + len(extra), h, w) buffer, written in place."""
    n = builder.n_channels

    def read(y0: int, x0: int, h: int, w: int) -> np.ndarray:
        ys, xs = builder.window(y0, x0, h, w)
        buf = np.empty((n + len(extra), h, w), dtype=np.float32)
        builder.read_planes(ys, xs, out=buf)
        for k, write in enumerate(extra):
            write(ys, xs, buf[n + k : n + k + 1])
        return buf.transpose(1, 2, 0)

    return read
