"""The editor's Auto colour action: off by default (a page without hints stays the sketch); on, the
shipped model colours the whole page in the full render and the menu action and the panel agree."""

from __future__ import annotations


import numpy as np
from test_qt_window import answers, colorize, make_window, open_with_model, use_shipped_models, write_page  # noqa: F401


def test_auto_colour_action_colours_an_unhinted_page(qtbot, make_window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    use_shipped_models(tmp_path, monkeypatch, "mangacolor-default.onnx")
    page = write_page(tmp_path / "page.png")
    win = make_window()
    open_with_model(qtbot, win, page, model="mangacolor-default")
    colorize(qtbot, win)
    plain = np.asarray(win.doc.project.result, np.float32)
    assert np.ptp(plain, axis=2).max() < 1e-3  # no hint, no auto: the clean sketch
    action = win.actions_by_name["auto"]
    assert not action.isChecked() and not win.colorize_dock.auto.isChecked()
    action.trigger()
    assert win.render.auto_color and win.colorize_dock.auto.isChecked() and action.isChecked()
    colorize(qtbot, win)
    auto = np.asarray(win.doc.project.result, np.float32)
    assert (np.ptp(auto, axis=2) > 0.05).mean() > 0.05  # the model coloured the page
    win.colorize_dock.auto.setChecked(False)
    assert not win.render.auto_color and not action.isChecked()
