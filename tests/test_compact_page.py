"""The compact page path (issue 13, peak memory): integer flats and lines, strip-wise propagation of the
fill into the ink, PSD layers let go as they are stored, and 8-bit colour from the page job. Each path
must give exactly what the float path gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from psd_tools import PSDImage

from mangacolor_app.app.page_job import PageRequest, run_page
from mangacolor_app.core import flats as flats_mod
from mangacolor_app.core.color import rgb_to_gray, to_float32, to_uint8
from mangacolor_app.core.export import ExportLayers, export_page
from mangacolor_app.core.flats import compute_flats
from mangacolor_app.core.flats_propagate import propagate_into_barrier


def _whole_page_propagation(fill: np.ndarray) -> None:
    """The reference: one labelled distance transform over the whole page."""
    barrier = (fill < 0).view(np.uint8)
    values = fill[barrier == 0]
    _, nearest = cv2.distanceTransformWithLabels(barrier, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    idx = np.flatnonzero(barrier)
    fill.flat[idx] = values[nearest.flat[idx] - 1]


def test_strip_propagation_equals_the_whole_page_transform() -> None:
    """Thin lines, and a solid black area deeper than the first margin (done again with larger ones)."""
    rng = np.random.default_rng(7)
    for h, w, deep, across in ((2600, 300, 700, 150), (1100, 900, 40, 450), (3000, 64, 2000, 64)):
        coarse = rng.integers(1, 6, (h // 40 + 1, w // 40 + 1)).astype(np.float32)
        fill = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int32)
        lines = cv2.dilate((rng.random((h, w)) < 0.003).astype(np.uint8), np.ones((5, 5), np.uint8))
        lines[900 : 900 + deep, :across] = 1  # a full-width band: up to 1,000 rows from any paper
        fill[lines > 0] = -1
        expected, got = fill.copy(), fill.copy()
        _whole_page_propagation(expected)
        assert propagate_into_barrier(got)
        assert np.array_equal(got, expected)
    assert not propagate_into_barrier(np.full((50, 40), -1, np.int32))  # all barrier


def _page() -> tuple[np.ndarray, np.ndarray]:
    """A uint8 line page (two closed rooms, an open outline) and a uint8 hint layer (two colours, Paper key)."""
    line = np.full((240, 320), 255, np.uint8)
    cv2.rectangle(line, (20, 20), (150, 200), 0, 3)
    cv2.circle(line, (240, 110), 60, 30, 2)
    cv2.line(line, (20, 110), (150, 110), 90, 1)
    hints = np.zeros((240, 320, 4), np.uint8)
    hints[50:60, 50:80] = (200, 40, 40, 255)
    hints[150:160, 60:90] = (40, 90, 210, 255)
    hints[100:106, 230:250] = (255, 255, 255, 254)  # Paper key
    return line, hints


def test_integer_flats_are_the_float_flats() -> None:
    line, hints = _page()
    as_float = compute_flats(to_float32(line), to_float32(hints), dpi=300)
    as_u8 = compute_flats(line, hints, dpi=300, out_dtype=np.uint8)
    assert as_u8.dtype == np.uint8 and as_float.dtype == np.float32
    assert np.array_equal(as_u8, to_uint8(as_float))
    assert as_float[55, 60, 3] == 1.0 and tuple(as_u8[55, 60]) == (200, 40, 40, 255)
    assert np.array_equal(flats_mod.paper_mask(as_u8), flats_mod.paper_mask(as_float))
    hints16 = hints.astype(np.uint16) * 257
    assert np.array_equal(compute_flats(line, hints16, dpi=300, out_dtype=np.uint8), as_u8)


def test_grey_luma_is_exact() -> None:
    """rgb_to_gray of a grey pixel is that value, so a grey page's uint8 plane is its float line."""
    values = to_float32(np.arange(256, dtype=np.uint8))
    assert np.array_equal(rgb_to_gray(np.stack([values] * 3, axis=-1)), values)


def test_psd_release_lets_go_of_each_layer_and_writes_the_same_file(tmp_path: Path) -> None:
    line, hints = _page()
    color = np.random.default_rng(1).integers(0, 65536, (240, 320, 3), dtype=np.uint16)
    flats = compute_flats(line, hints, dpi=300, out_dtype=np.uint8)
    kept = ExportLayers(ink=line, color=color, flats=flats, hints=hints, dpi=(300.0, 300.0))
    released = ExportLayers(ink=line, color=color, flats=flats, hints=hints, dpi=(300.0, 300.0))
    export_page(tmp_path / "kept.psd", kept)
    export_page(tmp_path / "released.psd", released, release=True)
    assert kept.color is color and kept.flats is flats  # without release nothing is touched
    assert released.color is None and released.flats is None and released.hints is None and released.ink is None
    assert (tmp_path / "kept.psd").read_bytes() == (tmp_path / "released.psd").read_bytes()
    psd = PSDImage.open(tmp_path / "released.psd")
    assert [layer.name for layer in psd] == ["Flats", "Color", "Ink", "Hints"] and psd.size == (320, 240)


def test_page_job_8_bit_colour_is_the_16_bit_colour_rounded(tiny_onnx_model: Path) -> None:
    line, hints = _page()
    common: dict[str, Any] = {"model": tiny_onnx_model, "device": "cpu", "with_flats": True}
    deep = run_page(PageRequest(line, hints, **common))
    shallow = run_page(PageRequest(line, hints, color_dtype=np.uint8, **common))
    assert deep.color.dtype == np.uint16 and shallow.color.dtype == np.uint8
    assert np.array_equal(shallow.color, to_uint8(deep.color))
    only = run_page(PageRequest(line, hints, flats_only=True, color_dtype=np.uint8))
    assert only.color.dtype == np.uint8 and np.array_equal(only.flats, deep.flats)


def test_psd_and_png_get_the_same_colour_from_a_model_without_flats(tiny_onnx_model: Path) -> None:
    """The Flats layer a PSD asks for is not fed to a model that does not take flats (nor to its gate):
    the colour does not depend on the export format."""
    line, hints = _page()
    common: dict[str, Any] = {"model": tiny_onnx_model, "device": "cpu", "unhinted": 0.5}
    flat = run_page(PageRequest(line, hints, **common))
    layered = run_page(PageRequest(line, hints, with_flats=True, **common))
    assert flat.flats is None and layered.flats is not None and flats_mod.paper_mask(layered.flats).any()
    assert np.array_equal(flat.color, layered.color)
