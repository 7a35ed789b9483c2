"""core.resize: fitting images inside a longest-side limit."""

from __future__ import annotations

import numpy as np

from mangacolor_app.core.resize import fit_shape, fit_within


def test_fit_shape_keeps_aspect_and_small_images() -> None:
    assert fit_shape(1000, 3000, 2048) == (683, 2048)
    assert fit_shape(3000, 1000, 2048) == (2048, 683)
    assert fit_shape(500, 400, 2048) == (500, 400)
    assert fit_shape(500, 400, None) == (500, 400) and fit_shape(500, 400, 0) == (500, 400)
    assert fit_shape(1, 5000, 100) == (1, 100)


def test_fit_within_area_averages_and_returns_small_images_unchanged() -> None:
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, ::2] = 200  # alternate columns: an area filter averages them to 100
    out = fit_within(img, 40)
    assert out.shape == (20, 40, 3) and out.dtype == np.uint8 and np.all(out == 100)
    assert fit_within(img, 80) is img
    line = np.ones((30, 30), np.float32)
    assert fit_within(line, 10).shape == (10, 10)
