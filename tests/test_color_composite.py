"""Tests for core.color (dtype conversions, luma, Lab, CIEDE2000) and core.composite."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mangacolor_app.core.color import (
    ciede2000,
    lab_to_rgb,
    rgb_to_gray,
    rgb_to_lab,
    to_float32,
    to_uint8,
    to_uint16,
)
from mangacolor_app.core.composite import alpha_over, multiply, preserve_ink

# Sharma, Wu and Dalal (2005), Table 1: L1 a1 b1 L2 a2 b2 dE00 (all 34 pairs).
SHARMA_2005 = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


def _sharma() -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in SHARMA_2005.strip().splitlines()])


def _random_rgb(h: int = 32, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


# ------------------------------------------------------------------------------- dtypes


def test_to_float32_from_integers_and_bool() -> None:
    np.testing.assert_array_equal(to_float32(np.array([0, 255], np.uint8)), [0.0, 1.0])
    np.testing.assert_array_equal(to_float32(np.array([0, 65535], np.uint16)), [0.0, 1.0])
    np.testing.assert_array_equal(to_float32(np.array([False, True])), [0.0, 1.0])
    assert to_float32(np.zeros((2, 2), np.uint8)).dtype == np.float32


def test_to_float32_clips_floats_and_copies() -> None:
    src = np.array([-0.5, 0.25, 2.0, np.nan], np.float64)
    out = to_float32(src)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.25, 1.0, 0.0])
    f32 = np.array([0.5], np.float32)
    assert not np.shares_memory(to_float32(f32), f32)
    with pytest.raises(TypeError):
        to_float32(np.array([1], np.int32))


def test_to_uint8_rounds_and_clips() -> None:
    out = to_uint8(np.array([0.0, 0.5, 1.0, 1.5, -1.0, 0.998, 1 / 255 * 0.49, np.nan], np.float32))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [0, 128, 255, 255, 0, 254, 0, 0])
    np.testing.assert_array_equal(to_uint8(np.array([65535, 257, 128], np.uint16)), [255, 1, 0])
    u8 = np.array([3], np.uint8)
    assert to_uint8(u8) is u8


def test_to_uint16_rounds_and_clips() -> None:
    np.testing.assert_array_equal(to_uint16(np.array([0.0, 0.5, 1.0, 2.0], np.float32)), [0, 32768, 65535, 65535])
    np.testing.assert_array_equal(to_uint16(np.array([0, 255], np.uint8)), [0, 65535])


def test_integer_round_trips_are_exact() -> None:
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(to_float32(u8)), u8)
    u16 = np.arange(0, 65536, 7, dtype=np.uint16)
    np.testing.assert_array_equal(to_uint16(to_float32(u16)), u16)


def test_to_uint8_page_shaped_blocks() -> None:
    image = _random_rgb(600, 50)  # several row blocks are not needed, but the shape must survive
    out = to_uint8(image)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out, np.floor(image * 255 + 0.5).astype(np.uint8))


# ------------------------------------------------------------------------------- luma and Lab


def test_rgb_to_gray_matches_opencv() -> None:
    rgb = _random_rgb()
    gray = rgb_to_gray(rgb)
    assert gray.shape == rgb.shape[:2] and gray.dtype == np.float32
    np.testing.assert_allclose(gray, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), atol=1e-6)
    with pytest.raises(ValueError):
        rgb_to_gray(np.zeros((4, 4, 4), np.float32))


def test_rgb_to_lab_reference_values() -> None:
    lab = rgb_to_lab(np.array([[[1, 0, 0], [1, 1, 1], [0, 0, 0]]], np.float32))
    assert lab.dtype == np.float32 and lab.shape == (1, 3, 3)
    np.testing.assert_allclose(lab[0, 0], [53.24, 80.09, 67.20], atol=0.02)  # sRGB red, D65
    np.testing.assert_allclose(lab[0, 1], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[0, 2], [0, 0, 0], atol=1e-3)


def test_lab_round_trip() -> None:
    rgb = _random_rgb()
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert back.dtype == np.float32 and back.shape == rgb.shape
    np.testing.assert_allclose(back, rgb, atol=1e-4)


def test_lab_to_rgb_clips_out_of_gamut() -> None:
    out = lab_to_rgb(np.array([[50.0, 120.0, -120.0], [150.0, 0.0, 0.0]], np.float32))
    assert out.min() >= 0.0 and out.max() <= 1.0


# ------------------------------------------------------------------------------- CIEDE2000


def test_ciede2000_sharma_table() -> None:
    data = _sharma()
    assert data.shape == (34, 7)
    np.testing.assert_allclose(ciede2000(data[:, :3], data[:, 3:6]), data[:, 6], atol=1e-4)
    np.testing.assert_allclose(ciede2000(data[:, 3:6], data[:, :3]), data[:, 6], atol=1e-4)  # symmetric


def test_ciede2000_image_shaped() -> None:
    data = _sharma()[:30]
    lab1 = data[:, :3].reshape(5, 6, 3).astype(np.float32)
    lab2 = data[:, 3:6].reshape(5, 6, 3).astype(np.float32)
    out = ciede2000(lab1, lab2)
    assert out.shape == (5, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), data[:, 6], atol=1e-4)
    lab = rgb_to_lab(_random_rgb())
    assert np.all(ciede2000(lab, lab) == 0.0)


# ------------------------------------------------------------------------------- composite


def test_multiply() -> None:
    base = _random_rgb()
    white = np.ones_like(base)
    np.testing.assert_array_equal(multiply(base, white), base)
    np.testing.assert_array_equal(multiply(base, np.zeros(base.shape[:2], np.float32)), 0.0)
    half = multiply(base, np.full(base.shape[:2], 0.5, np.float32))
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, base * 0.5, atol=1e-7)
    with pytest.raises(ValueError):
        multiply(base, np.ones((3, 3), np.float32))


def test_preserve_ink_keeps_lines_black_at_full_resolution() -> None:
    color = np.full((64, 64, 3), [0.9, 0.4, 0.2], np.float32)
    line = np.ones((64, 64), np.float32)
    line[:, 31:33] = 0.0  # a 2-pixel ink stroke
    line[10, :20] = 0.5  # a grey stroke
    out = preserve_ink(color, line)
    assert out.dtype == np.float32 and out.shape == color.shape
    assert np.all(out[:, 31:33] == 0.0)  # crisp black, not blurred into neighbours
    np.testing.assert_array_equal(out[:, 30], color[:, 30])  # paper leaves colour unchanged
    np.testing.assert_allclose(out[10, 5], [0.45, 0.2, 0.1], atol=1e-6)
    np.testing.assert_allclose(preserve_ink(color, line, strength=0.0), color)
    np.testing.assert_allclose(preserve_ink(color, line, strength=0.5)[0, 31], color[0, 31] * 0.5, atol=1e-6)
    with pytest.raises(ValueError):
        preserve_ink(color, line[:32])
    with pytest.raises(ValueError):
        preserve_ink(color, line, strength=1.5)


def test_alpha_over() -> None:
    dst = np.full((4, 4, 3), 0.2, np.float32)
    src = np.zeros((4, 4, 4), np.float32)
    src[..., :3] = 1.0
    src[0, 0, 3] = 1.0
    src[1, 1, 3] = 0.5
    out = alpha_over(dst, src)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 1.0)
    np.testing.assert_allclose(out[1, 1], 0.6, atol=1e-6)
    np.testing.assert_allclose(out[2, 2], 0.2)
    np.testing.assert_allclose(alpha_over(dst, src, opacity=0.5)[0, 0], 0.6, atol=1e-6)
    np.testing.assert_array_equal(alpha_over(dst, src, opacity=0.0), dst)
    assert np.all(dst == np.float32(0.2))  # input untouched
    with pytest.raises(ValueError):
        alpha_over(dst, src[..., :3])
