"""The editor against damaged files (issue #12 items 3, 4, 6, 9): transparent line art, hints without
alpha, hand-edited projects, bit-rotted autosaves, a .cbz, messages that name the file."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from test_qt_window import answers, make_page, make_window, open_page, write_page  # noqa: F401 - fixtures
from test_robust_project import _rewrite_manifest

from mangacolor_app.core import project as proj
from mangacolor_app.core.paths import autosave_dir


def _wait_error(qtbot, win) -> str:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: bool(win.errors) and win.files.idle, timeout=20000)
    return str(win.errors[-1])


def _edited(tmp_path: Path, edit: object, name: str = "edited.mcproj") -> Path:
    good = proj.save_project(tmp_path / "good.mcproj", proj.Project.new(make_page(), dpi=(300.0, 300.0)))
    return _rewrite_manifest(good, tmp_path / name, edit)


def test_transparent_line_art_opens_on_white(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[30:33, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "layer.png")
    win = make_window()
    open_page(qtbot, win, tmp_path / "layer.png")
    page = win.doc.project.page
    assert page[0, 0].tolist() == [1.0, 1.0, 1.0] and page[31, 5].tolist() == [0.0, 0.0, 0.0]


def test_hint_import_without_alpha_is_refused(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = write_page(tmp_path / "page.png")
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8), "RGB").save(tmp_path / "hints.png")
    win = make_window()
    win.files.open_path(page, ask=False, hints_path=tmp_path / "hints.png")
    text = _wait_error(qtbot, win)
    assert "hints.png" in text and "alpha" in text
    assert not win.doc.has_page


def test_hand_edited_project_never_half_loads(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An opacity stored as text is refused with the field's name; the open page stays as it was."""
    win = make_window()
    open_page(qtbot, win, write_page(tmp_path / "page.png", 50, 70))
    bad = _edited(tmp_path, lambda m: m["settings"].__setitem__("layers.hints_opacity", "high"))
    win.files.open_path(bad, ask=False)
    text = _wait_error(qtbot, win)
    assert "edited.mcproj" in text and "hints_opacity" in text
    assert win.doc.size == (50, 70) and isinstance(win.canvas.layers.hints_opacity, float)


def test_messages_name_the_file_not_an_exception(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    for n, edit in enumerate((lambda m: m["page"].__setitem__("dpi", 300),
                              lambda m: m["palette"].__setitem__("swatches", [5]),
                              lambda m: m["page"].__setitem__("dpi", [float("inf"), 300.0]))):
        bad = _edited(tmp_path, edit, f"bad{n}.mcproj")
        win.files.open_path(bad, ask=False)
        qtbot.waitUntil(lambda n=n: len(win.errors) > n and win.files.idle, timeout=20000)
        assert f"bad{n}.mcproj" in win.errors[n] and "unexpected error" not in win.errors[n]
    assert not win.doc.has_page


def test_cbz_opens_as_a_chapter_or_says_how_to_colour_it(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "vol1.cbz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(write_page(tmp_path / "p.png"), "001.png")
    win = make_window()
    win.files.open_path(archive, ask=False)  # issue #15: the editor opens it as a chapter project
    qtbot.waitUntil(lambda: win.chapter.active and win.doc.has_page and not win.chapter.busy, timeout=20000)
    assert not win.errors and win.chapter_dock.list.count() == 1
    win.files.chapter_opener = None  # a file controller without chapter support says how to colour it
    win.files.open_path(archive, ask=False)
    text = _wait_error(qtbot, win)
    assert "vol1.cbz" in text and "chapter" in text and "mangacolor colorize" in text
    assert "corrupt" not in text


_DEAD_AUTOSAVE = """
import os, signal
import numpy as np
from mangacolor_app.core import project as proj
p = proj.Project.new(np.ones((40, 50, 3), np.float32), source_path="rotten-page.png")
proj.write_autosave(p, "dead-session")
os.kill(os.getpid(), signal.SIGKILL)
"""


def _dead_autosave() -> Path:
    done = subprocess.run([sys.executable, "-c", _DEAD_AUTOSAVE], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == -9, done.stderr
    return proj.autosave_path("dead-session")


def test_bit_rotted_autosave_is_moved_aside(qtbot, make_window, answers) -> None:  # type: ignore[no-untyped-def]
    """A damaged autosave manifest: one message, the file moved aside, start-up goes on; not again."""
    path = _dead_autosave()
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x01\x02") + 10] = 99  # unknown compression method for the manifest
    path.write_bytes(bytes(data))
    win = make_window()
    win.start(first_run_sample=False)
    assert win.errors and "autosave" in win.errors[-1] and "moved" in win.errors[-1]
    assert not path.exists() and list(autosave_dir().glob("autosave-dead-session.mcproj.damaged-*"))
    again = make_window()
    again.start(first_run_sample=False)
    assert not again.errors and not answers.asked


def test_autosave_with_a_damaged_layer_is_moved_aside(qtbot, make_window, answers) -> None:  # type: ignore[no-untyped-def]
    """The manifest reads but a layer does not: recovery fails with a message, once."""
    path = _dead_autosave()
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["hints.png"] = members["hints.png"][:60]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    answers.replies.append("yes")
    win = make_window()
    win.start(first_run_sample=False)
    assert answers.asked and "rotten-page.png" in answers.asked[0]
    assert win.errors and "moved" in win.errors[-1] and not win.doc.has_page
    again = make_window()
    again.start(first_run_sample=False)
    assert len(answers.asked) == 1 and not again.errors
