"""Tests for core.hints: empty layer, fitting to the page, mask and blurred encodings."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from mangacolor_app.core.color import to_float32
from mangacolor_app.core.errors import HintError
from mangacolor_app.core.hints import (
    CONF_REFERENCE,
    PAPER_KEY_RGBA8,
    colour_hint_mask,
    empty_hints,
    encode_hint_blur,
    encode_hint_mask,
    fit_hints,
    paper_key_mask,
)

RED = (1.0, 0.1, 0.2)
BLUE = (0.1, 0.3, 0.9)


def _hints_with_blob(h: int, w: int, centre: tuple[int, int], radius: int, rgb: tuple[float, float, float]) -> np.ndarray:
    hints = empty_hints(h, w)
    cv2.circle(hints, (centre[1], centre[0]), radius, (*rgb, 1.0), -1)
    return hints


def _exact_blur(hints: np.ndarray, sigma_frac: float = 0.05) -> np.ndarray:
    """Reference: the same normalised convolution at full resolution."""
    premult = encode_hint_mask(hints)
    blurred = cv2.GaussianBlur(premult, (0, 0), sigma_frac * min(hints.shape[:2]), borderType=cv2.BORDER_CONSTANT)
    cov = blurred[..., 3:]
    colour = np.where(cov > 1e-12, blurred[..., :3] / np.maximum(cov, 1e-12), 0.0)
    return np.concatenate([np.clip(colour, 0, 1), np.clip(cov / CONF_REFERENCE, 0, 1)], axis=2)


def test_empty_hints() -> None:
    hints = empty_hints(30, 40)
    assert hints.shape == (30, 40, 4) and hints.dtype == np.float32 and not hints.any()
    with pytest.raises(HintError):
        empty_hints(0, 10)


def test_fit_same_size_is_returned_as_is() -> None:
    hints = _hints_with_blob(60, 80, (30, 40), 5, RED)
    assert fit_hints(hints, (60, 80)) is hints


def test_fit_preview_resolution_is_resized_nearest() -> None:
    preview = empty_hints(100, 70)
    preview[10:20, 30:40] = (*RED, 1.0)
    fitted = fit_hints(preview, (301, 210), path="page.hints.png")  # aspect within 1%
    assert fitted.shape == (301, 210, 4) and fitted.dtype == np.float32
    colours = {tuple(np.round(c, 4)) for c in fitted.reshape(-1, 4)}
    assert colours == {(0.0, 0.0, 0.0, 0.0), tuple(np.round(np.array([*RED, 1.0], np.float32), 4))}
    assert fitted[45, 100, 3] == 1.0 and fitted[0, 0, 3] == 0.0


def test_fit_other_aspect_names_file_and_sizes() -> None:
    with pytest.raises(HintError) as err:
        fit_hints(empty_hints(100, 100), (100, 150), path="/tmp/ch1/p3.hints.png")
    message = str(err.value)
    assert "p3.hints.png" in message and "100x100" in message and "150x100" in message


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.float32), np.zeros((10, 10, 4), np.int32)])
def test_malformed_layers_rejected(bad: np.ndarray) -> None:
    with pytest.raises(HintError, match="x.png"):
        fit_hints(bad, (10, 10), path="x.png")
    with pytest.raises(HintError):
        encode_hint_mask(bad)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_fit_keeps_integer_layers_integer(dtype: type) -> None:
    """Page-sized hint layers stay uint8/uint16 (the pipeline converts windows); the float encodings
    still refuse them."""
    small = np.zeros((10, 20, 4), dtype)
    small[2:4, 3:6] = (7, 8, 9, np.iinfo(dtype).max)
    same = fit_hints(small, (10, 20))
    assert same is small
    big = fit_hints(small, (20, 40))
    assert big.dtype == dtype and big.shape == (20, 40, 4)
    assert np.array_equal(to_float32(big), fit_hints(to_float32(small), (20, 40)))
    with pytest.raises(HintError):
        encode_hint_mask(small)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_paper_key_mask_of_integer_layers_equals_float(dtype: type) -> None:
    rng = np.random.default_rng(1)
    layer8 = rng.integers(250, 256, (30, 30, 4)).astype(np.uint8)
    layer8[::3, ::3] = PAPER_KEY_RGBA8
    layer = layer8.astype(dtype) * (257 if dtype == np.uint16 else 1)
    assert np.array_equal(paper_key_mask(layer), paper_key_mask(to_float32(layer8)))
    assert np.array_equal(colour_hint_mask(layer), colour_hint_mask(to_float32(layer8)))
    assert paper_key_mask(layer).sum() >= 100


def test_encode_hint_mask() -> None:
    hints = empty_hints(4, 5)
    hints[..., :3] = 0.7  # colour without alpha is not a hint
    hints[1, 2] = (0.2, 0.4, 0.6, 0.3)  # any alpha > 0 is a hint
    enc = encode_hint_mask(hints)
    assert enc.shape == (4, 5, 4) and enc.dtype == np.float32
    assert np.allclose(enc[1, 2], (0.2, 0.4, 0.6, 1.0))
    enc[1, 2] = 0
    assert not enc.any()


def test_blur_spreads_single_colour_with_decaying_confidence() -> None:
    hints = _hints_with_blob(400, 300, (200, 150), 20, RED)
    enc = encode_hint_blur(hints)
    assert enc.shape == (400, 300, 4) and enc.dtype == np.float32
    assert enc.min() >= 0 and enc.max() <= 1
    conf = enc[..., 3]
    reached = conf > 1e-3
    assert np.allclose(enc[reached][:, :3], RED, atol=1e-3)
    assert conf[200, 150] == pytest.approx(1.0)
    profile = conf[200, 150:]
    assert np.all(np.diff(profile) <= 1e-6) and profile[-1] < 0.05


def test_blur_mixes_two_colours_and_empty_gives_zeros() -> None:
    hints = _hints_with_blob(200, 400, (100, 100), 10, RED)
    cv2.circle(hints, (300, 100), 10, (*BLUE, 1.0), -1)
    enc = encode_hint_blur(hints, sigma_frac=0.5)
    assert np.allclose(enc[100, 200, :3], np.add(RED, BLUE) / 2, atol=0.02)
    assert not encode_hint_blur(empty_hints(50, 60)).any()
    with pytest.raises(HintError):
        encode_hint_blur(hints, sigma_frac=0)


@pytest.mark.parametrize("shape", [(37, 23), (600, 430), (1021, 767)])
def test_blur_matches_full_resolution_reference(shape: tuple[int, int]) -> None:
    h, w = shape
    hints = _hints_with_blob(h, w, (h // 3, w // 3), max(2, w // 40), RED)
    cv2.line(hints, (w // 2, h // 2), (w - 5, h - 5), (*BLUE, 1.0), max(1, w // 100))
    enc, ref = encode_hint_blur(hints), _exact_blur(hints)
    near = ref[..., 3] > 0.02
    assert np.abs(enc[..., :3] - ref[..., :3])[near].max() < 0.02
    assert np.abs(enc[..., 3] - ref[..., 3]).max() < 0.02


def test_blur_is_fast_on_large_pages() -> None:
    h, w = 4000, 3000  # 12 MP; a 36 MP page takes about 1 s on a quiet machine
    hints = _hints_with_blob(h, w, (1000, 1000), 60, RED)
    start = time.perf_counter()
    enc = encode_hint_blur(hints)
    elapsed = time.perf_counter() - start
    assert enc.shape == (h, w, 4) and enc[1000, 1000, 0] == pytest.approx(1.0)
    assert elapsed < 5.0


def test_coverage_reach_is_one_on_marks_and_fades_away() -> None:
    from mangacolor_app.core.hints import coverage_reach

    assert not coverage_reach(np.zeros((50, 70), bool), 0.1).any()
    for side in (120, 1200):  # direct, and computed on a downscaled copy
        mask = np.zeros((side, side), bool)
        c, r = side // 4, side // 10
        mask[c - r : c + r, c - r : c + r] = True
        reach = coverage_reach(mask, 0.1)
        assert reach.dtype == np.float32 and reach.shape == (side, side)
        assert reach[c, c] == pytest.approx(1.0) and reach[-1, -1] < 1e-3
        row = reach[c, c:]
        assert np.all(np.diff(row) <= 1e-6) and 0.05 < reach[c, c + r + side // 10] < 0.95
    with pytest.raises(HintError):
        coverage_reach(np.zeros((4, 4, 2)), 0.1)
