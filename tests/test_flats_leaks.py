"""Leak-proof fills, smooth splits and the Paper key (issue #11), on generated pages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mangacolor_app.core import flats_split
from mangacolor_app.core.flats import compute_flats, default_gap_px, paper_mask
from mangacolor_app.core.flats_background import NEAR_FRAC
from mangacolor_app.core.hints import PAPER_KEY_RGBA8, colour_hint_mask, paper_key_mask

RED = (1.0, 0.0, 0.0, 1.0)
BLUE = (0.0, 0.0, 1.0, 1.0)
PAPER = tuple(v / 255.0 for v in PAPER_KEY_RGBA8)


def _page(h: int = 600, w: int = 800) -> tuple[np.ndarray, np.ndarray]:
    return np.ones((h, w), np.float32), np.zeros((h, w, 4), np.float32)


def _outline_with_gap(line: np.ndarray, gap: int) -> tuple[tuple[int, int], int]:
    """A circle of radius 150 outlined 3 px wide with a ``gap`` px opening on its right; returns its
    centre and radius."""
    cx, cy, r = 300, 300, 150
    cv2.circle(line, (cx, cy), r, 0.0, 3, cv2.LINE_AA)
    line[cy - gap // 2 : cy - gap // 2 + gap, cx + r - 6 : cx + r + 6] = 1.0
    return (cx, cy), r


def test_six_px_gap_beside_background_leaves_background_paper() -> None:
    line, hints = _page()
    (cx, cy), r = _outline_with_gap(line, 6)
    cv2.circle(hints, (cx - 40, cy), 8, RED, -1)
    flats = compute_flats(line, hints)
    yy, xx = np.mgrid[: line.shape[0], : line.shape[1]]
    dist = np.hypot(xx - cx, yy - cy)
    inside, outside = dist < r - 6, dist > r + 12
    assert (flats[..., 3][inside] == 1).mean() > 0.99
    assert (flats[..., 0][inside] == 1).mean() > 0.99
    leaked = (flats[..., 3][outside] > 0).mean()
    assert leaked < 0.005, f"{leaked:.2%} of the background coloured"
    assert paper_mask(flats)[outside].mean() > 0.99  # the background is kept as paper


def test_gap_stays_open_after_default_gap_closing() -> None:
    """Sanity of the page above: after the default gap closing a plain paint bucket from the hint
    would still reach the page background (the 6 px gap is wider than the default gap)."""
    line, _ = _page()
    (cx, cy), _ = _outline_with_gap(line, 6)
    radius = int(np.ceil(default_gap_px(*line.shape) / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    closed = cv2.dilate((line < 0.5).view(np.uint8), kernel)
    labels = cv2.connectedComponents((closed == 0).view(np.uint8), connectivity=4)[1]
    assert labels[cy, cx - 40] == labels[5, 5] != 0


def test_stray_hint_on_background_colours_a_bounded_neighbourhood() -> None:
    line, hints = _page()
    _outline_with_gap(line, 0)
    cv2.circle(hints, (650, 100), 6, RED, -1)
    flats = compute_flats(line, hints)
    coloured = flats[..., 3] > 0
    ys, xs = np.nonzero(coloured)
    reach = np.hypot(xs - 650, ys - 100).max()
    assert coloured[100, 650]
    assert reach <= NEAR_FRAC * 600 + 8
    assert coloured.mean() < 0.01


def test_broad_stroke_colours_the_background() -> None:
    line, hints = _page()
    _outline_with_gap(line, 0)
    cv2.line(hints, (520, 80), (760, 520), BLUE, 40)
    flats = compute_flats(line, hints)
    yy, xx = np.mgrid[: line.shape[0], : line.shape[1]]
    outside = np.hypot(xx - 300, yy - 300) > 160
    assert (flats[..., 2][outside] == 1).mean() > 0.99
    assert (flats[..., 3][np.hypot(xx - 300, yy - 300) < 140] == 0).all()


@pytest.mark.parametrize("ws_max_pixels", [1 << 20, 20000])
def test_two_hints_on_blank_region_meet_smoothly(ws_max_pixels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dots in one closed blank region: the boundary is near their perpendicular bisector (a
    diagonal line here), not axis-aligned blocks, at full and at reduced scale."""
    monkeypatch.setattr(flats_split, "WS_MAX_PIXELS", ws_max_pixels)
    line, hints = _page(500, 500)
    cv2.rectangle(line, (10, 10), (489, 489), 0.0, 3)
    a, b = np.array([150, 150]), np.array([350, 350])
    cv2.circle(hints, tuple(int(v) for v in a), 6, RED, -1)
    cv2.circle(hints, tuple(int(v) for v in b), 6, BLUE, -1)
    flats = compute_flats(line, hints)
    yy, xx = np.mgrid[:500, :500]
    interior = (xx > 20) & (xx < 480) & (yy > 20) & (yy < 480)
    red = flats[..., 0] == 1
    nearer_a = np.hypot(xx - a[0], yy - a[1]) < np.hypot(xx - b[0], yy - b[1])
    wrong = (red != nearer_a) & interior
    assert wrong.mean() < 0.01
    # the boundary row by row: x where red ends, against the bisector x = 500 - y
    rows = np.arange(40, 460, 10)
    ends = np.array([np.flatnonzero(red[y, 20:480])[-1] + 20 for y in rows])
    assert np.abs(ends - (500 - rows)).max() <= 6
    steps = np.abs(np.diff(ends))
    assert steps.max() <= 16 and (steps > 0).all()  # advances every 10 rows: no vertical block edges


def test_split_follows_faint_line_not_bisector() -> None:
    line, hints = _page(300, 400)
    cv2.rectangle(line, (10, 10), (389, 289), 0.0, 3)
    cv2.line(line, (300, 12), (300, 287), 0.7, 2, cv2.LINE_AA)  # faint, off the bisector (x=200)
    cv2.circle(hints, (100, 150), 6, RED, -1)
    cv2.circle(hints, (340, 150), 6, BLUE, -1)
    flats = compute_flats(line, hints, gap_close_px=3)
    assert (flats[20:280, 20:295, 0] == 1).mean() > 0.98
    assert (flats[20:280, 306:380, 2] == 1).mean() > 0.98


def test_paper_key_keeps_hinted_region_blank() -> None:
    line, hints = _page(400, 400)
    cv2.rectangle(line, (10, 10), (389, 389), 0.0, 3)
    cv2.line(line, (200, 10), (200, 389), 0.0, 3)
    cv2.circle(hints, (100, 200), 8, RED, -1)
    cv2.circle(hints, (300, 200), 8, RED, -1)
    hints[150:250, 280:320] = PAPER  # the artist marks the right room as paper, over the hint
    flats = compute_flats(line, hints)
    assert (flats[20:380, 20:190, 0] == 1).all() and (flats[20:380, 20:190, 3] == 1).all()
    right = flats[20:380, 210:380]
    assert (right[..., 3] == 0).all()
    assert paper_mask(flats)[20:380, 210:380].all()


def test_paper_key_and_colour_split_a_region() -> None:
    line, hints = _page(300, 400)
    cv2.rectangle(line, (10, 10), (389, 289), 0.0, 3)
    cv2.circle(hints, (80, 150), 8, RED, -1)
    cv2.circle(hints, (320, 150), 8, PAPER, -1)
    flats = compute_flats(line, hints)
    assert (flats[20:280, 20:150, 3] == 1).all()
    assert (flats[20:280, 250:380, 3] == 0).all() and paper_mask(flats)[20:280, 250:380].all()


def test_white_hints_stay_colour_hints() -> None:
    """A white hint (alpha 255, or any alpha but 254) is a colour, not the Paper key."""
    hints = np.zeros((4, 4, 4), np.float32)
    hints[0, 0] = (1, 1, 1, 1)
    hints[0, 1] = (1, 1, 1, 0.5)
    hints[0, 2] = PAPER
    hints[0, 3] = (0.5, 0.5, 0.5, 254 / 255)
    paper = paper_key_mask(hints)
    assert paper[0].tolist() == [False, False, True, False]
    assert colour_hint_mask(hints)[0].tolist() == [True, True, False, True]
    line = np.ones((64, 64), np.float32)
    white = np.zeros((64, 64, 4), np.float32)
    white[30:34, 30:34] = (1, 1, 1, 1)
    flats = compute_flats(line, white)
    assert (flats[30:34, 30:34] == 1).all()  # filled white (alpha 1), not kept as paper
    assert not paper_mask(flats)[30:34, 30:34].any()


@pytest.mark.parametrize("strength", [0.25, 1.0])
def test_gate_keeps_no_model_colour_on_paper(strength: float) -> None:
    """The model input's gate is 0 where the flats keep paper (Paper key, page background)."""
    from mangacolor_app.core.model_inputs import ModelInputBuilder
    from mangacolor_app.inference.planes import gate_plane

    line, hints = _page(200, 300)
    cv2.rectangle(line, (20, 20), (140, 180), 0.0, 3)
    cv2.rectangle(line, (160, 20), (280, 180), 0.0, 3)
    cv2.circle(hints, (80, 100), 6, RED, -1)
    cv2.circle(hints, (220, 100), 6, PAPER, -1)
    builder = ModelInputBuilder(line, hints, ["line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask"])
    assert builder.flats is not None
    paper = paper_mask(builder.flats)
    assert paper[100, 220] and paper[5, 5] and not paper[100, 80]
    out = np.empty((1, 200, 300), np.float32)
    gate_plane(builder, hints, None, strength)(slice(0, 200), slice(0, 300), out)
    assert (out[0][paper] == 0).all()
    assert out[0][100, 80] == pytest.approx(1.0)


def test_large_shape_clipped_by_page_edge_fills_whole() -> None:
    """A large closed shape that the page edge cuts (a strand of hair running off the bottom) is not
    the page background: a small dot in it fills all of it, while the background stays paper."""
    line, hints = _page()
    pts = np.array([[250, 599], [300, 150], [420, 120], [480, 599]], np.int32)  # open at the bottom edge
    cv2.polylines(line, [pts], False, 0.0, 3, cv2.LINE_AA)
    strand = np.zeros(line.shape, np.uint8)
    cv2.fillPoly(strand, [pts], 1)
    strand = cv2.erode(strand, np.ones((9, 9), np.uint8)) > 0
    assert strand.mean() > 0.05 and strand[-5:].any()  # large, and runs off the page
    cv2.circle(hints, (380, 400), 5, RED, -1)
    flats = compute_flats(line, hints)
    assert (flats[..., 0][strand] == 1).mean() > 0.99 and (flats[..., 3][strand] == 1).mean() > 0.99
    background = ~cv2.dilate(strand.view(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert (flats[..., 3][background] > 0).mean() < 0.005
