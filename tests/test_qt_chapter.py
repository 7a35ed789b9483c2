"""Editor chapters (offscreen, real widgets): open a folder or .cbz, move between pages, hint page 2
from page 1's colours, colour, save, reopen, export the chapter."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from mangacolor_app.core.chapter_project import CHAPTER_SUFFIX
from tests.test_qt_window import answers, make_window  # noqa: F401 - fixtures
from tests.test_reference_matching import dot_hints, truth_rgb
from training.data.character_pair import draw_character, random_pose, random_spec

SIZE = (512, 448)


def _chapter(tmp_path: Path) -> tuple[Path, dict, list]:
    spec = random_spec(np.random.default_rng(21))
    rng = np.random.default_rng(22)
    folder = tmp_path / "chap"
    folder.mkdir()
    drawings = []
    for i in range(3):
        d = draw_character(spec, random_pose(rng, SIZE), SIZE, seed=i)
        Image.fromarray(np.round(d.line * 255).astype(np.uint8), "L").save(folder / f"page{i + 1}.png")
        drawings.append(d)
    return folder, spec.palette, drawings


def _wait_idle(qtbot, win) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: win.chapter.active and win.doc.has_page and not win.chapter.busy and win.files.idle,
                    timeout=30000)


def _states(win) -> list[str]:  # type: ignore[no-untyped-def]
    return [win.chapter_dock.list.item(i).data(0x0100) for i in range(win.chapter_dock.list.count())]


def test_chapter_pages_references_save_reopen_export(qtbot, make_window, answers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder, palette, drawings = _chapter(tmp_path)
    win = make_window()
    win.render.live_preview = False
    win.files.open_path(folder, ask=False)
    _wait_idle(qtbot, win)
    assert win.chapter_dock.list.count() == 3 and _states(win) == ["untouched"] * 3
    assert win.chapter.index == 0 and win.doc.size == SIZE
    # page 1: the artist's hints (one dot per part)
    dots = np.round(dot_hints(drawings[0], palette) * 255).astype(np.uint8)
    before = win.doc.hints.copy()
    win.doc.write_hint_patches([(0, 0, dots)])
    win.doc.push_hint_edit([(0, 0, before, dots)], "Brush stroke")
    assert _states(win)[0] == "hinted"
    # page 2: the page left is saved; page 1 is offered as its reference
    win.chapter_dock.list.setCurrentRow(1)
    qtbot.waitUntil(lambda: win.chapter.index == 1, timeout=30000)
    _wait_idle(qtbot, win)
    page1 = win.chapter.chapter.page_file(0)
    assert page1.is_file() and win.chapter.references() == [page1]
    answers.replies.append("yes")  # use the page coloured before
    with qtbot.waitSignal(win.suggester.ready, timeout=60000) as blocker:
        win.colour_from_references()
    assert "1 chapter page(s) coloured before" in answers.asked[-1]
    with qtbot.waitSignal(win.suggester.applied, timeout=5000):
        blocker.args[0].accept_all_button.click()
    truth, region = truth_rgb(drawings[1], palette)
    hinted = (win.doc.hints[..., 3] > 0) & region
    right = (np.abs(win.doc.hints[..., :3].astype(int) - np.round(truth * 255)).max(-1) <= 1) & hinted
    assert hinted.sum() > 0.5 * region.sum() and right.sum() >= 0.85 * hinted.sum()
    # colour it (flats only: no model needed), save
    win.colorize_dock.flats_only.setChecked(True)
    win.colorize_full()
    qtbot.waitUntil(lambda: win.doc.project.result is not None, timeout=60000)
    assert _states(win)[1] == "coloured"
    with qtbot.waitSignal(win.files.saved, timeout=30000):
        win.files.save()
    _wait_idle(qtbot, win)
    manifest = json.loads((folder.with_name("chap" + CHAPTER_SUFFIX) / "chapter.json").read_text())
    assert [p["state"] for p in manifest["pages"]] == ["hinted", "coloured", "untouched"]
    hints2, result2 = win.doc.hints.copy(), win.doc.project.result.copy()
    win.close_without_asking()
    # reopen: states, hints and result come back
    win2 = make_window()
    win2.files.open_path(folder, ask=False)
    _wait_idle(qtbot, win2)
    assert _states(win2) == ["hinted", "coloured", "untouched"]
    win2.chapter.go_to(1)
    qtbot.waitUntil(lambda: win2.chapter.index == 1, timeout=30000)
    _wait_idle(qtbot, win2)
    assert np.array_equal(win2.doc.hints, hints2) and np.array_equal(win2.doc.project.result, result2)
    # export the whole chapter: the coloured page is written, the others reported
    out = tmp_path / "export"
    win2.status.show_progress(True)
    with qtbot.waitSignal(win2.chapter.export_finished, timeout=60000) as done:
        win2.chapter.export(out)
    written, skipped = done.args[0]
    assert [p.name for p in written] == ["002-page2.png"] and skipped == ["page1.png", "page3.png"]
    with Image.open(written[0]) as im:
        assert im.size == (SIZE[1], SIZE[0])


def test_cbz_opens_as_a_chapter_and_export_cancels(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder, _, _ = _chapter(tmp_path)
    cbz = tmp_path / "chapter.cbz"
    with zipfile.ZipFile(cbz, "w") as zf:
        for page in sorted(folder.iterdir()):
            zf.write(page, page.name)
    win = make_window()
    win.files.open_path(cbz, ask=False)
    _wait_idle(qtbot, win)
    assert win.chapter_dock.list.count() == 3 and not win.errors
    assert "chapter.cbz" in win.chapter_dock.windowTitle()
    win.chapter.step(1)
    qtbot.waitUntil(lambda: win.chapter.index == 1, timeout=30000)
    _wait_idle(qtbot, win)
    win.chapter.step(-1)
    qtbot.waitUntil(lambda: win.chapter.index == 0, timeout=30000)
    _wait_idle(qtbot, win)
    job = win.chapter.export(tmp_path / "out")
    job.cancel()
    with qtbot.waitSignal(win.chapter.export_finished, timeout=30000) as done:
        pass
    assert done.args[0] is None or done.args[0][0] == []


_CRASHER = """
import os, signal, sys
import numpy as np
from mangacolor_app.core import project as proj
p = proj.load_project(sys.argv[1])
p.hints[10:20, 5:15] = (1, 2, 3, 255)
proj.write_autosave(p, "crashed-chapter", project_path=sys.argv[1])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recovered_chapter_page_comes_back_in_its_chapter(qtbot, make_window, answers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    folder, palette, drawings = _chapter(tmp_path)
    win = make_window()
    win.files.open_path(folder, ask=False)
    _wait_idle(qtbot, win)
    win.chapter.go_to(1)
    qtbot.waitUntil(lambda: win.chapter.index == 1, timeout=30000)
    _wait_idle(qtbot, win)
    with qtbot.waitSignal(win.files.saved, timeout=30000):
        win.files.save()
    page2 = win.chapter.chapter.page_file(1)
    win.close_without_asking()
    done = subprocess.run([sys.executable, "-c", _CRASHER, str(page2)], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr
    answers.replies.append("yes")
    win2 = make_window()
    win2.start(first_run_sample=False)
    qtbot.waitUntil(lambda: win2.chapter.active and not win2.chapter.busy, timeout=30000)
    assert win2.chapter.index == 1 and win2.doc.path == page2 and win2.doc.is_modified
    assert tuple(win2.doc.hints[15, 10]) == (1, 2, 3, 255)
    assert win2.chapter_dock.list.count() == 3 and _states(win2)[1] == "hinted"
    with qtbot.waitSignal(win2.files.saved, timeout=30000):
        win2.files.save()
    _wait_idle(qtbot, win2)
    manifest = json.loads((folder.with_name("chap" + CHAPTER_SUFFIX) / "chapter.json").read_text())
    assert [p["state"] for p in manifest["pages"]] == ["untouched", "hinted", "untouched"]
