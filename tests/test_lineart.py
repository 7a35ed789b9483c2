"""The line art of a page (core.lineart): luma for line art and grey pages, drawn-out lines for a colour picture."""

from __future__ import annotations

import cv2
import numpy as np

from mangacolor_app.core.color import rgb_to_gray
from mangacolor_app.core.flats import compute_flats
from mangacolor_app.core.lineart import extract_line, is_colour_picture, page_line
from mangacolor_app.inference.pipeline import image_to_line


def _painting(h: int = 400, w: int = 500) -> np.ndarray:
    """A colour "illustration": a soft sky-to-orange gradient, a shaded blue disc, a dark outline 3 px
    wide."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    t = yy / h
    rgb = np.stack([0.5 + 0.4 * t, 0.6 + 0.1 * t, 0.9 - 0.6 * t], axis=2)
    disc = np.hypot(xx - 250, yy - 200) < 120
    shade = (0.4 + 0.3 * (xx - 130) / 240)[..., None]
    rgb = np.where(disc[..., None], shade * np.array([0.3, 0.4, 1.0], np.float32), rgb)
    cv2.circle(rgb, (250, 200), 120, (0.05, 0.05, 0.05), 3, cv2.LINE_AA)
    return np.clip(rgb, 0, 1).astype(np.float32)


def _grey_manga(h: int = 400, w: int = 500) -> np.ndarray:
    """A grey manga page: flat grey tones (no colour) inside black outlines."""
    page = np.ones((h, w), np.float32)
    cv2.rectangle(page, (20, 20), (240, 380), 0.55, -1)
    cv2.rectangle(page, (260, 20), (480, 380), 0.7, -1)
    cv2.rectangle(page, (20, 20), (240, 380), 0.0, 3)
    cv2.rectangle(page, (260, 20), (480, 380), 0.0, 3)
    return np.repeat(page[..., None], 3, axis=2)


def test_colour_picture_is_detected_and_its_lines_drawn_out() -> None:
    rgb = _painting()
    assert is_colour_picture(rgb) and is_colour_picture((rgb * 255).astype(np.uint8))
    line = page_line(rgb)
    assert line.shape == rgb.shape[:2] and line.dtype == np.float32
    luma = rgb_to_gray(rgb)
    assert (luma[100:300, 200:300] < 0.8).mean() > 0.9  # the painting is mid-tone there ...
    assert (line[140:260, 200:300] > 0.98).mean() > 0.95  # ... its drawn-out line art is paper
    assert line[200, 122:139].min() < 0.3 and line[200, 362:379].min() < 0.3  # the outline is drawn (its edges)


def test_grey_page_and_line_art_keep_their_luma() -> None:
    grey = _grey_manga()
    assert not is_colour_picture(grey)
    np.testing.assert_array_equal(page_line(grey), rgb_to_gray(grey))
    sketch = np.ones((300, 300, 3), np.float32)
    cv2.circle(sketch, (150, 150), 80, (0.9, 0.1, 0.1), 2, cv2.LINE_AA)  # coloured lines, no tone
    assert not is_colour_picture(sketch)
    np.testing.assert_array_equal(page_line(sketch), rgb_to_gray(sketch))


def test_pipeline_line_matches_page_line() -> None:
    rgb = _painting()
    np.testing.assert_allclose(image_to_line(rgb), page_line(rgb), atol=1e-6)
    u8 = image_to_line((rgb * 255 + 0.5).astype(np.uint8))
    assert u8.dtype == np.float32 and np.abs(u8 - page_line(rgb)).mean() < 0.01
    grey8 = (_grey_manga() * 255).astype(np.uint8)
    assert image_to_line(grey8).dtype == np.uint8  # line art stays a uint8 luma


def test_hint_on_colour_picture_fills_its_shape_not_the_tone_around() -> None:
    """A hint inside the painted disc fills the disc (closed by the drawn-out outline), and the
    gradient around it is left alone."""
    rgb = _painting()
    hints = np.zeros((*rgb.shape[:2], 4), np.float32)
    cv2.circle(hints, (250, 200), 6, (1.0, 0.0, 0.0, 1.0), -1)
    flats = compute_flats(page_line(rgb), hints)
    yy, xx = np.mgrid[: rgb.shape[0], : rgb.shape[1]]
    dist = np.hypot(xx - 250, yy - 200)
    assert (flats[..., 3][dist < 110] == 1).mean() > 0.99
    assert (flats[..., 3][dist > 135] > 0).mean() < 0.01


def test_extract_line_range() -> None:
    gray = np.random.default_rng(0).random((64, 80)).astype(np.float32)
    line = extract_line(gray)
    assert line.shape == gray.shape and line.dtype == np.float32
    assert line.min() >= 0.0 and line.max() <= 1.0
