"""Tests of core.flats on generated pages: shapes outlined in anti-aliased ink, gaps, tones, hint strokes."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from mangacolor_app.core.errors import HintError
from mangacolor_app.core import flats_split
from mangacolor_app.core.flats import compute_flats, default_gap_px, flats_composite

PAGE = 512
CELL = 128


@dataclass
class Page:
    """A generated page and its ground truth."""

    line: np.ndarray  # (H, W) float32, 1 = paper
    hints: np.ndarray  # (H, W, 4) float32
    labels: np.ndarray  # (H, W) int32 geometric region id (1 = background)
    band: np.ndarray  # (H, W) bool: outline pixels +- a margin (ink, anti-aliasing, gaps)
    colours: dict[int, tuple[float, float, float]] = field(default_factory=dict)  # hinted regions
    toned: list[int] = field(default_factory=list)
    gaps: int = 0

    def core(self, region: int) -> np.ndarray:
        return (self.labels == region) & ~self.band


def _shape(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """Random closed outline (N, 2) int32: circle, rectangle or star-free polygon."""
    kind = rng.integers(3)
    if kind == 0:
        return cv2.ellipse2Poly((int(cx), int(cy)), (int(radius), int(radius)), 0, 0, 360, 4).astype(np.int32)
    if kind == 1:
        hw, hh = radius * rng.uniform(0.7, 1.0), radius * rng.uniform(0.7, 1.0)
        return np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]], np.int32)
    n = int(rng.integers(5, 9))
    angles = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * (2 * np.pi / n)
    radii = radius * rng.uniform(0.75, 1.0, len(angles))
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1).astype(np.int32)


def _cut_gap(ink: np.ndarray, pts: np.ndarray, rng: np.random.Generator, gap: int, thick: int) -> None:
    """Erase a hard-edged stripe `gap` px wide across the outline, in the middle of a random long edge."""
    edges = np.roll(pts, -1, axis=0) - pts
    i = int(np.argmax(np.hypot(edges[:, 0], edges[:, 1]) * rng.uniform(0.8, 1.0, len(pts))))
    p = pts[i] + edges[i] * 0.5
    d = edges[i] / np.hypot(*edges[i])
    yy, xx = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    along = (xx - p[0]) * d[0] + (yy - p[1]) * d[1]
    across = -(xx - p[0]) * d[1] + (yy - p[1]) * d[0]
    ink[(np.abs(along) < gap / 2) & (np.abs(across) < thick + 3)] = 255


def _stroke(hints: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[float, float, float]) -> None:
    cv2.line(hints, tuple(int(v) for v in a), tuple(int(v) for v in b), (*colour, 1.0), 8, cv2.LINE_AA)


def _tone(ink: np.ndarray, mask: np.ndarray, period: int = 5) -> None:
    """Dot screentone (radius-1 dark dots on a `period` grid) where `mask`."""
    dots = np.full_like(ink, 255)
    for y in range(period // 2, ink.shape[0], period):
        for x in range(period // 2, ink.shape[1], period):
            cv2.circle(dots, (x, y), 1, 30, -1, cv2.LINE_AA)
    ink[mask] = np.minimum(ink, dots)[mask]


def make_page(seed: int, *, gaps: bool = True, tones: bool = True, cross: bool = True) -> Page:
    """A 512x512 page: one shape per 128 px cell, some nested; random gaps, tones, hint strokes."""
    rng = np.random.default_rng(seed)
    ink = np.full((PAGE, PAGE), 255, np.uint8)
    labels = np.ones((PAGE, PAGE), np.int32)
    band = np.zeros((PAGE, PAGE), np.uint8)
    shapes: list[tuple[int, np.ndarray, int, int]] = []  # (id, pts, parent, thickness)
    for cy in range(CELL // 2, PAGE, CELL):
        for cx in range(CELL // 2, PAGE, CELL):
            outer = _shape(rng, cx, cy, CELL * 0.42)
            shapes.append((len(shapes) + 2, outer, 1, int(rng.integers(1, 5))))
            if rng.random() < 0.4:
                inner = _shape(rng, cx, cy, CELL * 0.18)
                shapes.append((len(shapes) + 2, inner, shapes[-1][0], int(rng.integers(1, 5))))
    gap_count = 0
    for sid, pts, _, thick in shapes:
        cv2.fillPoly(labels, [pts], sid)
        cv2.polylines(ink, [pts], True, 0, thick, cv2.LINE_AA)
        cv2.polylines(band, [pts], True, 1, thick + 5, cv2.LINE_8)
        if gaps and rng.random() < 0.5:
            _cut_gap(ink, pts, rng, int(rng.integers(1, 4)), thick)
            gap_count += 1
    page = Page(np.zeros(1), np.zeros((PAGE, PAGE, 4), np.float32), labels, band.astype(bool), gaps=gap_count)
    leaves = {sid for sid, _, _, _ in shapes} - {parent for _, _, parent, _ in shapes}
    if tones:
        for sid in rng.choice(sorted(leaves), size=4, replace=False):
            _tone(ink, page.core(int(sid)) & (cv2.erode(page.core(int(sid)).astype(np.uint8), np.ones((9, 9))) > 0))
            page.toned.append(int(sid))
    _add_hints(page, shapes, leaves, rng, cross)
    page.line = ink.astype(np.float32) / 255.0
    return page


def _inside_point(page: Page, region: int, rng: np.random.Generator) -> np.ndarray | None:
    """A random (x, y) at least 9 px inside the core of `region`, or None."""
    inner = cv2.distanceTransform(page.core(region).astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(inner > 9)
    if len(ys) == 0:
        return None
    k = int(rng.integers(len(ys)))
    return np.array([xs[k], ys[k]])


def _add_hints(page: Page, shapes: list, leaves: set[int], rng: np.random.Generator, cross: bool) -> None:
    """Short strokes inside about half of the regions; one stroke crossing a leaf's outline."""
    parents = {sid: parent for sid, _, parent, _ in shapes}
    for region in [1] + list(parents):
        if rng.random() < 0.5:
            continue
        a = _inside_point(page, region, rng)
        if a is None:
            continue
        b = a + rng.integers(-4, 5, 2)
        colour = tuple(float(v) for v in rng.integers(0, 256, 3) / 255.0)
        if region == 1:  # the page background is coloured only when clearly asked: a broad scribble
            x, y = (int(v) for v in a)
            window = np.zeros(page.labels.shape, bool)
            window[max(0, y - 60) : y + 60, max(0, x - 60) : x + 60] = True
            page.hints[window & page.core(1)] = (*colour, 1.0)
        else:
            _stroke(page.hints, a, b, colour)
        page.colours[region] = colour
    if not cross:
        return
    for sid, pts, parent, _ in shapes:
        if sid not in leaves or sid in page.colours or parent in page.colours or parent == 1:
            continue
        centre = pts.mean(axis=0)
        p = pts[len(pts) // 2].astype(float)
        u = (p - centre) / np.hypot(*(p - centre))
        a, b = (p - u * 14).astype(int), (p + u * 14).astype(int)
        if page.labels[a[1], a[0]] == sid and page.labels[b[1], b[0]] == parent:
            colour = (230 / 255, 51 / 255, 26 / 255)
            _stroke(page.hints, a, b, colour)
            page.colours[sid] = page.colours[parent] = colour
            return


def _check_regions(page: Page, flats: np.ndarray) -> None:
    rgb, alpha = flats[..., :3], flats[..., 3]
    for region in np.unique(page.labels):
        core = page.core(int(region))
        if core.sum() == 0:
            continue
        if region in page.colours:
            right = (alpha == 1) & (np.abs(rgb - page.colours[region]).max(axis=2) < 1e-3)
            share = right[core].mean()
            assert share >= 0.99, f"hinted region {region} has its colour on {share:.3%} of its pixels"
        else:
            leak = (alpha > 0)[core].mean()
            assert leak <= 0.001, f"unhinted region {region}: {leak:.3%} coloured"


@pytest.mark.parametrize("seed", range(6))
def test_regions_filled_and_no_leaks(seed: int) -> None:
    page = make_page(seed)
    assert page.colours, "generator made no hints"
    flats = compute_flats(page.line, page.hints, dpi=300)
    _check_regions(page, flats)


@pytest.mark.parametrize("seed", range(3))
def test_explicit_gap_close(seed: int) -> None:
    page = make_page(100 + seed, tones=False)
    _check_regions(page, compute_flats(page.line, page.hints, gap_close_px=3))


def test_gaps_really_leak_without_closing() -> None:
    """Sanity of the generator: with gap closing off, some unhinted region gets coloured."""
    leaked = False
    for seed in range(6):
        page = make_page(seed, tones=False, cross=False)
        flats = compute_flats(page.line, page.hints, gap_close_px=0)
        for region in np.unique(page.labels):
            if region not in page.colours and page.core(int(region)).any():
                leaked |= bool((flats[..., 3] > 0)[page.core(int(region))].mean() > 0.5)
    assert leaked


def test_ink_takes_colour_of_hinted_region() -> None:
    page = make_page(7, tones=False, cross=False)
    flats = compute_flats(page.line, page.hints, dpi=300)
    ink = page.line < 0.5
    checked = 0
    for region, colour in page.colours.items():
        mine = ((page.labels == region) & ~ink).astype(np.uint8)
        others = ((page.labels != region) & ~ink).astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        edge = ink & (cv2.dilate(mine, kernel) > 0) & ~(cv2.dilate(others, np.ones((5, 5), np.uint8)) > 0)
        got = flats[edge]
        checked += len(got)
        if not len(got):
            continue
        assert (got[:, 3] == 1).all()
        assert np.abs(got[:, :3] - colour).max() < 1e-3
    assert checked > 50


def test_tones_do_not_block_fill() -> None:
    page = make_page(11, gaps=False, cross=False)
    hinted_toned = [r for r in page.toned if r in page.colours]
    if not hinted_toned:  # make sure a toned region is hinted
        region = page.toned[0]
        a = _inside_point(page, region, np.random.default_rng(0))
        _stroke(page.hints, a, a + 2, (26 / 255, 204 / 255, 77 / 255))
        page.colours[region] = (26 / 255, 204 / 255, 77 / 255)
        hinted_toned = [region]
    _check_regions(page, compute_flats(page.line, page.hints, dpi=300))


def test_tones_are_barriers_option() -> None:
    """A dotted line of tiny blobs: crossed by default, a barrier with tones_are_barriers=True."""
    line = np.ones((200, 300), np.float32)
    cv2.rectangle(line, (10, 10), (289, 189), 0.0, 3, cv2.LINE_AA)
    for y in range(12, 190, 4):
        cv2.circle(line, (150, y), 1, 0.0, -1, cv2.LINE_AA)
    hints = np.zeros((200, 300, 4), np.float32)
    _stroke(hints, np.array([40, 100]), np.array([60, 100]), (1.0, 0.0, 0.0))
    crossed = compute_flats(line, hints, dpi=300)
    assert (crossed[20:180, 20:280, 3] == 1).all()
    blocked = compute_flats(line, hints, dpi=300, tones_are_barriers=True)
    assert (blocked[20:180, 20:140, 3] == 1).all() and not blocked[20:180, 160:280, 3].any()


@pytest.mark.parametrize("ws_max_pixels", [1 << 20, 4000])
def test_several_colours_split_along_faint_line(ws_max_pixels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two colours in one region meet on its faint line, at full scale and at a reduced one."""
    monkeypatch.setattr(flats_split, "WS_MAX_PIXELS", ws_max_pixels)
    line = np.ones((200, 300), np.float32)
    cv2.rectangle(line, (10, 10), (289, 189), 0.0, 3, cv2.LINE_AA)
    cv2.line(line, (150, 12), (150, 187), 0.75, 2, cv2.LINE_AA)  # faint: not ink
    hints = np.zeros((200, 300, 4), np.float32)
    _stroke(hints, np.array([40, 100]), np.array([60, 100]), (1.0, 0.0, 0.0))
    _stroke(hints, np.array([200, 60]), np.array([270, 150]), (0.0, 0.0, 1.0))
    flats = compute_flats(line, hints, gap_close_px=3)
    left, right = flats[20:180, 20:145], flats[20:180, 156:280]
    assert (left[..., 0] == 1).mean() > 0.99 and (right[..., 2] == 1).mean() > 0.99
    assert (flats[20:180, 20:280, 3] == 1).all()


def test_stroke_on_ink_does_not_leak() -> None:
    line = np.ones((100, 200), np.float32)
    cv2.line(line, (100, 0), (100, 99), 0.0, 4, cv2.LINE_AA)
    hints = np.zeros((100, 200, 4), np.float32)
    hints[40:60, 99:102] = (1.0, 0.0, 0.0, 1.0)  # only on the ink
    flats = compute_flats(line, hints, gap_close_px=3)
    assert not flats[..., 3].any()


def test_empty_hints_give_empty_flats() -> None:
    page = make_page(3)
    flats = compute_flats(page.line, np.zeros_like(page.hints), dpi=300)
    assert flats.shape == (PAGE, PAGE, 4) and flats.dtype == np.float32
    assert not flats.any()


def test_contract_shape_dtype_range() -> None:
    page = make_page(4)
    flats = compute_flats(page.line, page.hints)
    assert flats.shape == (PAGE, PAGE, 4) and flats.dtype == np.float32
    assert flats.min() >= 0 and flats.max() <= 1
    assert set(np.unique(flats[..., 3])) <= {0.0, 1.0}
    comp = flats_composite(flats, page.line)
    assert comp.shape == (PAGE, PAGE, 3) and comp.dtype == np.float32
    empty = flats[..., 3] == 0
    assert np.allclose(comp[empty], page.line[empty][:, None])


def test_wrong_size_hints_raise() -> None:
    line = np.ones((64, 64), np.float32)
    with pytest.raises(HintError):
        compute_flats(line, np.zeros((64, 65, 4), np.float32))
    with pytest.raises(HintError):
        compute_flats(line, np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        compute_flats(np.ones((64, 64, 3), np.float32), np.zeros((64, 64, 4), np.float32))


def test_default_gap_scales() -> None:
    assert default_gap_px(4000, 3000, dpi=300) == pytest.approx(3.0)
    assert default_gap_px(100, 100, dpi=600) == pytest.approx(6.0)
    assert default_gap_px(6000, 4000) == pytest.approx(6.0)
    assert default_gap_px(256, 256) == pytest.approx(1.0)
