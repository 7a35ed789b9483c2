"""The view state is one signalling model: the canvas, the Layers and Colorize panels and the render
controller follow it, and the panels change the views only through it (real widgets, offscreen)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtGui import QImage
from test_qt_canvas import window_on_page

from mangacolor_app.core.project import Project
from mangacolor_app.qt.main_window import MainWindow
from mangacolor_app.qt.view_state import LAYER_FIELDS, VIEW_DEFAULTS, ViewState


def make_page(h: int = 120, w: int = 160) -> np.ndarray:
    """A white page with a black box outline, float32 RGB."""
    page = np.ones((h, w, 3), np.float32)
    page[30:33, 20:140] = 0.0
    page[90:93, 20:140] = 0.0
    return page


@pytest.fixture()
def win(qtbot, monkeypatch) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    yield from window_on_page(qtbot, monkeypatch, make_page(), (900, 600))


def _pixels(win: MainWindow) -> np.ndarray:
    image = win.canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8, image.height() * image.bytesPerLine())
    return rows.reshape(image.height(), image.bytesPerLine())[:, : image.width() * 3].copy()


def test_model_emits_once_per_real_change(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = ViewState()
    seen: list[tuple[str, object]] = []
    view.changed.connect(lambda name, value: seen.append((name, value)))
    view.hints_visible = False
    view.hints_visible = False  # no change: no signal
    view.set("flats_opacity", 1.7)  # clipped
    with qtbot.waitSignal(view.flats_mode_changed) as mode:
        view.flats_only = True
    assert seen == [("hints_visible", False), ("flats_opacity", 1.0), ("flats_only", True)]
    assert mode.args == [True]
    with pytest.raises(TypeError):
        view.set("hints_visible", 1)  # a number for a bool field
    assert view.as_dict() == {**VIEW_DEFAULTS, "hints_visible": False, "flats_opacity": 1.0, "flats_only": True}


def test_changing_the_model_updates_every_view(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    assert win.canvas.layers is win.view
    win.doc.set_preview(np.zeros((24, 32, 3), np.uint8))  # a black result over the sketch
    qtbot.wait(50)
    with_result = _pixels(win)
    repaints: list[int] = []
    win.canvas.update = lambda *a: repaints.append(1)  # type: ignore[method-assign]
    win.view.result_visible = False  # nobody touches the canvas or the panel: they follow the model
    assert repaints  # the canvas asked for a repaint on the model's signal
    del win.canvas.update  # the widget's own again
    qtbot.wait(50)
    assert not win.layers_dock.result.isChecked()
    assert not np.array_equal(_pixels(win), with_result)  # the canvas repainted without the result
    win.view.update(hints_opacity=0.25, compare=0.5, flats_visible=True)
    assert win.layers_dock.hints_opacity.value() == 25 and win.layers_dock.compare.value() == 500
    assert win.layers_dock.flats.isChecked() and win.render.flats_wanted
    win.view.flats_only = True
    assert win.colorize_dock.flats_only.isChecked() and win.render.flats_only
    win.view.flats_only = False
    assert not win.colorize_dock.flats_only.isChecked() and not win.render.flats_only


def test_the_panels_change_the_model_and_the_other_views(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    win.view.changed.connect(lambda name, _value: seen.append(name))
    win.layers_dock.hints.setChecked(False)
    win.layers_dock.flats_opacity.setValue(40)
    win.colorize_dock.flats_only.setChecked(True)
    assert seen == ["hints_visible", "flats_opacity", "flats_only"]
    assert not win.view.hints_visible and win.view.flats_opacity == pytest.approx(0.4)
    assert win.view.flats_only and win.render.flats_only
    win.layers_dock.flats.setChecked(True)
    assert win.render.flats_wanted  # the render controller follows the model, not the panel


def test_project_settings_round_trip_through_the_model(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    win.view.update(hints_visible=False, compare=0.3, flats_only=True)
    _, settings = win._project_state()
    assert settings["layers.hints_visible"] is False and settings["flats_only"] is True
    assert set(settings) == {f"layers.{k}" for k in LAYER_FIELDS} | {"flats_only"}
    win.view.update(hints_visible=True, compare=1.0)
    project = Project.new(make_page())
    project.settings = {"layers.hints_visible": False, "layers.compare": 0.3, "layers.flats_opacity": "bad"}
    win.doc.set_project(project)
    win._page_loaded()
    assert not win.view.hints_visible and win.view.compare == pytest.approx(0.3)
    assert not win.layers_dock.hints.isChecked() and win.layers_dock.compare.value() == 300
    assert win.view.flats_opacity == VIEW_DEFAULTS["flats_opacity"]  # a bad value is ignored
