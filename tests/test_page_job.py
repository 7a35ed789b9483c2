"""One page job (``app.page_job``) for the CLI, the editor and export: its decisions, and the CLI and the
editor exporting byte-identical files for the same page, hints and model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor

from mangacolor_app.app.page_job import ColorizerCache, PageRequest, run_page
from mangacolor_app.cli import main as cli_main
from mangacolor_app.core.color import rgb_to_gray, to_uint8
from mangacolor_app.core.imagesave import save_image
from mangacolor_app.inference.pipeline import Colorizer
from mangacolor_app.qt import dialogs
from tests.test_qt_window import (  # noqa: F401 - fixtures
    answers,
    colorize,
    installed_model,
    make_page,
    make_window,
    open_with_model,
    paint_line,
    write_page,
)


def _hints(h: int = 120, w: int = 160) -> np.ndarray:
    hints = np.zeros((h, w, 4), np.uint8)
    hints[45:55, 30:90] = (220, 40, 40, 255)
    return hints


def test_page_job_is_the_colorizer_quantised_once(tiny_onnx_model: Path) -> None:
    line = rgb_to_gray(make_page().astype(np.float32))
    hints = _hints()
    layers = run_page(PageRequest(line, hints, model=tiny_onnx_model, device="cpu"))
    direct = Colorizer(tiny_onnx_model, device="cpu").colorize(line, hints.astype(np.float32) / 255, preserve_ink=False)
    assert layers.color.dtype == np.uint16 and layers.color.shape == (120, 160, 3)
    assert np.abs(layers.color_float() - direct).max() <= 1 / 65535 + 1e-7
    assert layers.flats is None and layers.ink is line and layers.device is not None  # tiny: no flats channels


def test_page_job_flats_for_psd_and_flats_only(tiny_onnx_model: Path) -> None:
    line, hints = rgb_to_gray(make_page().astype(np.float32)), _hints()
    psd = run_page(PageRequest(line, hints, model=tiny_onnx_model, device="cpu", with_flats=True))
    assert psd.flats is not None and psd.flats.shape == (120, 160, 4) and psd.flats.dtype == np.uint8 and psd.flats[50, 60, 3] == 255
    only = run_page(PageRequest(line, hints, flats_only=True))
    assert only.device is None and np.array_equal(only.flats, psd.flats)
    painted = only.flats[..., 3] > 0
    assert np.array_equal(to_uint8(only.color_float())[painted], to_uint8(only.flats[..., :3])[painted])
    empty = run_page(PageRequest(line, None, flats_only=True))
    assert not empty.flats.any() and (empty.color == 65535).all()  # no hints: paper


def test_page_job_preview_is_reduced_and_one_tile(tiny_onnx_model: Path) -> None:
    line = np.ones((600, 900), np.float32)
    line[300, :] = 0.0
    hints = np.zeros((600, 900, 4), np.uint8)
    hints[100:140, 100:400] = (30, 200, 30, 255)
    cache = ColorizerCache()
    ticks: list[tuple[int, int]] = []
    preview = run_page(PageRequest(line, hints, model=tiny_onnx_model, device="cpu", preview_side=300), cache=cache,
                       progress=lambda d, t: ticks.append((d, t)))
    assert preview.color.shape == (200, 300, 3) and ticks[-1] == (1, 1)


def test_cli_and_editor_export_the_same_bytes(qtbot, make_window, installed_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same page, hints and model through `mangacolor colorize` and through the editor's full render
    and export: byte-identical PNG (8 and 16 bit)."""
    page = write_page(tmp_path / "page.png")
    win = make_window()
    open_with_model(qtbot, win, page, device="cpu")
    paint_line(qtbot, win, 50, QColor(220, 40, 40))
    hints_png = save_image(tmp_path / "page.hints.png", win.doc.hints)
    colorize(qtbot, win)
    for depth in (8, 16):
        edited = tmp_path / f"editor{depth}.png"
        win.files.export(dialogs.ExportChoice(edited, "png", depth, True, False), win.doc.flats_u8)
        qtbot.waitUntil(lambda e=edited: e.is_file() and win.files.idle, timeout=30000)
        by_cli = tmp_path / f"cli{depth}.png"
        assert cli_main(["colorize", str(page), "--hints", str(hints_png), "-o", str(by_cli), "--model", installed_model,
                         "--device", "cpu", "--bit-depth", str(depth), "-q"]) == 0
        assert by_cli.read_bytes() == edited.read_bytes(), f"{depth}-bit exports differ"
