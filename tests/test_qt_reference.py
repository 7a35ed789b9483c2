"""Editor: "Colour from reference pages…" (offscreen, real widgets, real matching in a worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.test_qt_window import make_window, answers, open_page  # noqa: F401 - fixtures
from tests.test_reference_matching import pair, save_reference_project, truth_rgb

SIZE = (512, 448)


def _write_line(path: Path, line: np.ndarray) -> Path:
    Image.fromarray(np.round(line * 255).astype(np.uint8), "L").save(path)
    return path


def _suggest(qtbot, win, refs):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.suggester.ready, timeout=60000) as blocker:
        win.suggester.suggest(refs)
    return blocker.args[0]


def test_colour_from_reference_accept_some_then_all_then_undo(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    palette, first, second = pair(3)
    ref = save_reference_project(tmp_path / "page1.mcproj", first, palette)
    win = make_window()
    open_page(qtbot, win, _write_line(tmp_path / "page2.png", second.line))
    win.render.live_preview = False
    win.doc.hints[5:9, 5:9] = (10, 20, 30, 255)  # an artist hint in the background region
    dialog = _suggest(qtbot, win, [ref])
    sug = dialog.prepared.suggestion
    assert dialog.region_items and len(dialog.groups) >= 5
    assert "regions have a suggested colour" in dialog.summary.text()
    dialog.show_confidence.setChecked(True)  # the confidence view renders
    assert not dialog.preview.pixmap().isNull()
    regions = dialog.accepted_regions()
    dropped = regions[0]
    dialog.set_region_checked(dropped, False)
    with qtbot.waitSignal(win.suggester.applied, timeout=5000):
        dialog.accept_checked_button.click()
    hints = win.doc.hints
    labels = sug.regions.labels
    assert not (hints[labels == dropped][:, 3] > 0).any()
    kept = [r for r in regions if r != dropped]
    truth, region = truth_rgb(second, palette)
    hinted = hints[..., 3] > 0
    right = (np.abs(hints[..., :3].astype(int) - np.round(truth * 255)).max(-1) <= 1) & hinted & region
    assert right.sum() >= 0.85 * (hinted & region).sum() > 0
    assert set(np.unique(labels[hinted & (labels > 0)]).tolist()) <= set(kept) | {int(labels[6, 6])}
    assert tuple(hints[6, 6]) == (10, 20, 30, 255)  # the artist's own hint is untouched
    assert win.doc.undo_stack.undoText() == "Colour from references"
    win.doc.undo_stack.undo()
    assert (win.doc.hints[..., 3] > 0).sum() == 16
    dialog = _suggest(qtbot, win, [ref])
    with qtbot.waitSignal(win.suggester.applied, timeout=5000):
        dialog.accept_all_button.click()
    assert (win.doc.hints[..., 3] > 0).sum() > 1000


def test_discard_and_bad_reference(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    palette, first, second = pair(4)
    ref = save_reference_project(tmp_path / "page1.mcproj", first, palette)
    win = make_window()
    open_page(qtbot, win, _write_line(tmp_path / "page2.png", second.line))
    dialog = _suggest(qtbot, win, [ref])
    dialog.discard_button.click()
    assert not (win.doc.hints[..., 3] > 0).any() and win.doc.undo_stack.count() == 0
    grey = _write_line(tmp_path / "grey-ref.png", second.line)
    with qtbot.waitSignal(win.suggester.error, timeout=30000) as blocker:
        win.suggester.suggest([grey])
    assert "grey-ref.png" in blocker.args[0] and "greyscale" in blocker.args[0]
    qtbot.waitUntil(lambda: any("grey-ref.png" in e for e in win.errors), timeout=5000)


def test_paper_suggestions_are_a_group_and_become_the_paper_key(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mangacolor_app.core import project as proj
    from mangacolor_app.core.hints import PAPER_KEY_RGBA8
    from tests.test_reference_matching import dot_hints

    palette, first, second = pair(2)
    hints = np.round(dot_hints(first, palette) * 255).astype(np.uint8)
    hints[4:8, 4:8] = PAPER_KEY_RGBA8
    ref = proj.save_project(tmp_path / "page1.mcproj",
                            proj.Project(page=np.repeat(first.line[..., None], 3, axis=2), hints=hints))
    win = make_window()
    open_page(qtbot, win, _write_line(tmp_path / "page2.png", second.line))
    win.render.live_preview = False
    dialog = _suggest(qtbot, win, [ref])
    assert "paper" in dialog.groups and dialog.groups["paper"].text(0).startswith("Paper (keep blank)")
    with qtbot.waitSignal(win.suggester.applied, timeout=5000):
        dialog.accept_all_button.click()
    assert tuple(win.doc.hints[3, 3]) == PAPER_KEY_RGBA8
