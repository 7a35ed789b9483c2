"""The Paper ("keep blank") brush in the editor: exact key bytes, flats kept blank, undo, project
save/reopen and PSD/PNG export carry it (offscreen, real widgets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from psd_tools import PSDImage
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from mangacolor_app.core.export import ExportLayers, export_page
from mangacolor_app.core.flats import compute_flats, paper_mask
from mangacolor_app.core.hints import PAPER_KEY_RGBA8, paper_key_mask
from mangacolor_app.qt.main_window import MainWindow
from tests.test_qt_window import answers, make_window, open_page, paint_line, write_page  # noqa: F401


def paper_line(qtbot, win: MainWindow, y: int) -> None:  # type: ignore[no-untyped-def]
    """Paper-brush a horizontal line at page row ``y`` (zoom 1, no offset)."""
    win.canvas.zoom, win.canvas.offset = 1.0, QPointF(0.0, 0.0)
    qtbot.keyClick(win.canvas, Qt.Key.Key_P)
    assert win.tools.current.name == "paper"
    win.tools.set_param("paper", size=10)
    qtbot.mousePress(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(30, y))
    qtbot.mouseMove(win.canvas, QPoint(90, y))
    qtbot.mouseRelease(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(90, y))


def test_paper_brush_round_trip(qtbot, make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    win = make_window()
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    paint_line(qtbot, win, 40, QColor(200, 100, 50))
    coloured = win.doc.hints.copy()
    paper_line(qtbot, win, 70)
    hints = win.doc.hints
    assert tuple(hints[70, 60]) == PAPER_KEY_RGBA8
    keyed = np.all(hints == np.array(PAPER_KEY_RGBA8, np.uint8), axis=2)
    changed = np.any(hints != coloured, axis=2)
    assert keyed.sum() > 300 and np.array_equal(changed, keyed)  # hard-edged: exact key bytes only
    # the box (one region) holds a colour and the Paper key: the paper side stays blank
    flats = compute_flats(win.doc.line_gray, hints.astype(np.float32) / 255.0)
    assert flats[40, 60, 3] == 1 and flats[75, 60, 3] == 0 and paper_mask(flats)[75, 60]
    after = hints.copy()
    win.doc.undo_stack.undo()
    assert np.array_equal(win.doc.hints, coloured)
    win.doc.undo_stack.redo()
    assert np.array_equal(win.doc.hints, after)
    target = tmp_path / "story.mcproj"
    win.files.save_to(target)
    qtbot.waitUntil(lambda: not win.doc.is_modified and win.files.idle, timeout=30000)
    win.close()
    win2 = make_window()
    open_page(qtbot, win2, target)
    assert np.array_equal(win2.doc.hints, after)
    assert paper_key_mask(win2.doc.hints.astype(np.float32) / 255.0)[70, 60]
    # export: the PSD's hidden Hints layer and a hints PNG keep the key bytes
    layer = after.astype(np.float32) / 255.0
    psd_path = export_page(tmp_path / "out.psd", ExportLayers(ink=win2.doc.line_gray, color=np.ones((*after.shape[:2], 3),
                                                                                                    np.float32),
                                                             hints=layer), format="psd")
    psd = PSDImage.open(psd_path)
    hint_layer = next(lay for lay in psd if lay.name == "Hints")
    pixels = np.asarray(hint_layer.topil().convert("RGBA"))
    x0, y0 = hint_layer.offset
    assert tuple(pixels[70 - y0, 60 - x0]) == PAPER_KEY_RGBA8
    png = tmp_path / "hints.png"
    Image.fromarray(after).save(png)
    assert tuple(np.asarray(Image.open(png))[70, 60]) == PAPER_KEY_RGBA8
