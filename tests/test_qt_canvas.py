"""Canvas and hint tools with real widgets (offscreen): painting, undo/redo, zoom, tools, palette."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QThreadPool
from PySide6.QtGui import QColor, QWheelEvent

from mangacolor_app.core.project import Project
from mangacolor_app.qt.main_window import MainWindow
from mangacolor_app.qt.painting import BrushParams, Stroke


def make_page(h: int = 240, w: int = 320) -> np.ndarray:
    """A white page with a black box outline (two regions) as float32 RGB."""
    page = np.ones((h, w, 3), np.float32)
    cv2.rectangle(page, (40, 40), (200, 180), (0.0, 0.0, 0.0), 3)
    return page


def window_on_page(qtbot, monkeypatch, page: np.ndarray, size: tuple[int, int]) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    """A shown window (live preview off, zoom 1) holding a new project of ``page``; its jobs are drained
    and it is closed without asking afterwards (use with ``yield from`` in a fixture)."""
    monkeypatch.setattr("mangacolor_app.qt.dialogs.ask", lambda *a, **k: "discard" if len(a) > 3 else "no")
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.render.live_preview = False
    window.doc.set_project(Project.new(page))
    window.canvas.zoom, window.canvas.offset = 1.0, QPointF(0.0, 0.0)
    yield window
    window.render.cancel_all()
    QThreadPool.globalInstance().waitForDone(30000)
    window.close_without_asking()


@pytest.fixture
def win(qtbot, monkeypatch) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    yield from window_on_page(qtbot, monkeypatch, make_page(), (1000, 700))


def drag(qtbot, canvas, points: list[tuple[int, int]], modifier=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    """Press at the first point, move through the others, release at the last."""
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, QPoint(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(canvas, QPoint(*p))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, QPoint(*points[-1]))


def test_drag_paints_where_it_went_and_undo_redo_exact(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    hints = win.doc.hints
    before = hints.copy()
    win.tools.set_tool("brush")
    win.tools.set_param("brush", size=12, hardness=1.0, opacity=1.0)
    win.tools.set_color(QColor(10, 200, 30))
    drag(qtbot, win.canvas, [(60, 100), (100, 100), (150, 100)])
    after = hints.copy()
    assert tuple(hints[100, 100]) == (10, 200, 30, 255)
    assert tuple(hints[100, 62]) == (10, 200, 30, 255)
    assert hints[100, 148, 3] == 255
    assert hints[10, 10, 3] == 0 and hints[200, 100, 3] == 0 and hints[100, 170, 3] == 0
    changed = np.argwhere(hints[..., 3] > 0)
    assert changed[:, 0].min() >= 92 and changed[:, 0].max() <= 108
    assert win.doc.is_modified
    win.doc.undo_stack.undo()
    assert np.array_equal(hints, before)
    win.doc.undo_stack.redo()
    assert np.array_equal(hints, after)
    cmd = win.doc.undo_stack.command(0)
    assert cmd.nbytes() < hints.nbytes  # only the touched tiles are stored
    assert win.doc.palette.recent[0] == "#0ac81e"


def test_eraser_and_shortcuts(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.doc.hints[...] = (255, 0, 0, 255)
    qtbot.keyClick(win.canvas, Qt.Key.Key_E)
    assert win.tools.current.name == "eraser"
    win.tools.set_param("eraser", size=10, hardness=1.0, opacity=1.0)
    size = win.tools.params_for("eraser").size
    qtbot.keyClick(win.canvas, Qt.Key.Key_BracketRight)
    assert win.tools.params_for("eraser").size > size
    drag(qtbot, win.canvas, [(250, 200), (260, 200)])
    assert win.doc.hints[200, 255, 3] == 0 and win.doc.hints[50, 50, 3] == 255
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    assert win.tools.current.name == "brush"
    qtbot.keyClick(win.canvas, Qt.Key.Key_I)
    assert win.tools.current.name == "eyedropper"


def test_fill_region_and_eyedropper(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.tools.set_tool("fill")
    win.tools.set_color(QColor(0, 0, 255))
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    hints = win.doc.hints
    assert tuple(hints[100, 100]) == (0, 0, 255, 255) and tuple(hints[60, 60]) == (0, 0, 255, 255)
    assert hints[20, 20, 3] == 0 and hints[220, 300, 3] == 0  # outside the box: untouched
    win.doc.undo_stack.undo()
    assert hints[..., 3].max() == 0
    win.doc.undo_stack.redo()
    win.tools.set_color(QColor(1, 2, 3))
    win.tools.pick_source = "hints"
    win.tools.set_tool("eyedropper")
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(120, 120))
    assert win.tools.color.name() == "#0000ff"
    win.tools.set_tool("brush")
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, QPoint(10, 10))
    assert win.tools.color.name() == "#0000ff"  # Alt = eyedropper; no hint there: colour kept
    win.tools.pick_source = "sketch"
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, QPoint(10, 10))
    assert win.tools.color.name() == "#ffffff"


def test_wheel_zooms_around_cursor_and_fit(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    canvas = win.canvas
    anchor = QPointF(120.0, 90.0)
    page_point = canvas.widget_to_page(anchor)
    event = QWheelEvent(anchor, canvas.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(event)
    assert canvas.zoom == pytest.approx(1.5625)
    moved = canvas.widget_to_page(anchor)
    assert (moved.x(), moved.y()) == pytest.approx((page_point.x(), page_point.y()))
    canvas.fit()
    h, w = win.doc.size
    assert canvas.zoom == pytest.approx(min(canvas.width() / w, canvas.height() / h) * 0.96)
    canvas.actual_size()
    assert canvas.zoom == 1.0
    assert win.status.zoom.text() == "100 %"


def test_pan_with_middle_button_and_space(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    canvas = win.canvas
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(130, 90))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(130, 90))
    assert (canvas.offset.x(), canvas.offset.y()) == (30.0, -10.0)
    before = win.doc.hints.copy()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, canvas, [(100, 100), (110, 100)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.offset.x() == 40.0
    assert np.array_equal(win.doc.hints, before)  # panning does not paint


def test_status_bar_reports_cursor(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseMove(win.canvas, QPoint(41, 41))
    assert win.status.position.text() == "x 41  y 41"
    assert win.status.color.text().startswith("#")


def test_stroke_opacity_does_not_build_up() -> None:
    layer = np.zeros((64, 64, 4), np.uint8)
    stroke = Stroke(layer, BrushParams(size=20, hardness=1.0, opacity=0.5, color=(255, 0, 0)))
    for x in range(10, 50):
        stroke.line_to(float(x), 32.0)
    assert layer[32, 30, 3] == 128
    assert len(stroke.patches()) == 1


def test_named_palette_colours_are_undoable(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.palette_dock.add_named("Hero hair", "#3c4678")
    assert [c.name for c in win.doc.palette.swatches] == ["Hero hair"]
    assert win.palette_dock.named.count() == 1
    win.palette_dock.rename_named(0, "Villain hair")
    assert win.doc.palette.swatches[0].name == "Villain hair"
    win.doc.undo_stack.undo()
    win.doc.undo_stack.undo()
    assert win.doc.palette.swatches == []
    win.palette_dock.named.clear()
    win.doc.undo_stack.redo()
    item = win.palette_dock.named.item(0)
    win.palette_dock._named_clicked(item)
    assert win.tools.color.name() == "#3c4678"


def test_layer_toggles_and_compare(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    dock = win.layers_dock
    dock.hints.setChecked(False)
    assert not win.canvas.layers.hints_visible
    dock.compare.setValue(500)
    assert win.canvas.layers.compare == pytest.approx(0.5)
    win.doc.set_preview(np.zeros((24, 32, 3), np.uint8))
    image = win.canvas.grab().toImage()
    assert not image.isNull()
    dock.flats.setChecked(True)
    assert win.render.flats_wanted


def test_tab_hides_panels(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.toggle_panels()
    assert not any(d.isVisible() for d in win.docks())
    win.toggle_panels()
    assert all(d.isVisible() for d in win.docks())


def test_open_image_by_drop_path(qtbot, win: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), np.full((30, 40, 3), 255, np.uint8))
    win.doc.undo_stack.setClean()
    win.canvas.files_dropped.emit([str(path)])
    qtbot.waitUntil(lambda: win.doc.size == (30, 40), timeout=10000)
    assert str(path) in win.settings.recent_files()


def test_keyboard_shortcuts_reach_the_window(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    assert not any(d.isVisible() for d in win.docks())
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    assert all(d.isVisible() for d in win.docks())
    win.doc.hints[0, 0] = (1, 1, 1, 1)
    win.doc.push_hint_edit([(0, 0, np.zeros((1, 1, 4), np.uint8), np.ones((1, 1, 4), np.uint8))], "edit")
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.doc.hints[0, 0, 3] == 0
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.doc.hints[0, 0, 3] == 1


def test_reference_image_is_decoded_off_the_gui_thread(qtbot, win: MainWindow, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A reference image is decoded and downscaled in a worker; clicking it picks its colour; an
    unreadable file gets a message naming it, not a traceback."""
    import threading

    from PIL import Image

    from mangacolor_app.qt import palette as palette_mod

    threads: list[str] = []
    real = palette_mod.reference_pixels

    def recording(path: str) -> np.ndarray:
        threads.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(palette_mod, "reference_pixels", recording)
    big = np.zeros((1000, 3000, 3), np.uint8)
    big[:] = (200, 30, 60)
    Image.fromarray(big).save(tmp_path / "ref.png")
    view = win.palette_dock.reference
    win.palette_dock.load_reference(str(tmp_path / "ref.png"))
    qtbot.waitUntil(lambda: view._array is not None, timeout=10000)
    assert threads and threads[0] != threading.main_thread().name
    assert view._array.shape == (683, 2048, 3) and tuple(view._array[300, 1000]) == (200, 30, 60)
    view.resize(300, 200)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(150, 100))
    assert win.tools.color.name() == "#c81e3c"
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    win.palette_dock.load_reference(str(bad))
    qtbot.waitUntil(lambda: any("notes.png" in e for e in win.errors), timeout=10000)
    assert view._array.shape == (683, 2048, 3)  # the shown reference is kept
