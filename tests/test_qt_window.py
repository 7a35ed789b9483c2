"""The editor window end to end (offscreen, real widgets, real onnxruntime): colorize, previews,
projects, autosave recovery, error messages, GUI responsiveness, --screenshot."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QThreadPool, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMessageBox

from mangacolor_app.core import project as proj
from mangacolor_app.core.paths import user_models_dir
from mangacolor_app.qt import dialogs
from mangacolor_app.qt.main_window import MainWindow
from mangacolor_app.qt.settings import EditorSettings

RENDER_TIMEOUT_MS = 240_000


def make_page(h: int = 120, w: int = 160) -> np.ndarray:
    """White page, black box outline, as float32 RGB."""
    page = np.ones((h, w, 3), np.float32)
    cv2.rectangle(page, (20, 20), (100, 90), (0.0, 0.0, 0.0), 2)
    return page


def write_page(path: Path, h: int = 120, w: int = 160) -> Path:
    """The synthetic page as an 8-bit PNG."""
    cv2.imwrite(str(path), (make_page(h, w) * 255).astype(np.uint8))
    return path


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Questions asked through dialogs.ask; answer "discard"/"no" unless the test appends answers."""
    asked: list[str] = []
    replies: list[str] = []

    def fake_ask(parent, title, text, choices=("yes", "no")):  # type: ignore[no-untyped-def]
        asked.append(text)
        return replies.pop(0) if replies else ("discard" if dialogs.DISCARD in choices else "no")

    monkeypatch.setattr(dialogs, "ask", fake_ask)
    fake_ask.replies = replies  # type: ignore[attr-defined]
    asked_with = SimpleNamespace(asked=asked, replies=replies)
    return asked_with  # type: ignore[return-value]


@pytest.fixture
def make_window(qtbot, answers):  # type: ignore[no-untyped-def]
    """Factory of shown windows; all are closed (changes dropped) and their jobs drained at the end."""
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(EditorSettings())
        qtbot.addWidget(window)
        window.resize(1100, 750)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.render.cancel_all()
    QThreadPool.globalInstance().waitForDone(60000)
    for window in windows:
        window.close_without_asking()


@pytest.fixture
def installed_model(tiny_onnx_model: Path) -> str:
    """The tiny test model installed in the user models folder; returns its name."""
    shutil.copy(tiny_onnx_model, user_models_dir() / "tiny.onnx")
    return "tiny-test"


def use_shipped_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, needed: str) -> None:
    """Point the bundled-models folder at a copy of ``resources/models``; skip when ``needed`` is missing."""
    shipped = Path(__file__).resolve().parent.parent / "resources" / "models"
    if not (shipped / needed).is_file():
        pytest.skip(f"no shipped {needed} in resources/models")
    bundled = tmp_path / "bundled"
    shutil.copytree(shipped, bundled)
    monkeypatch.setenv("MANGACOLOR_BUNDLED_MODELS", str(bundled))


def open_page(qtbot, win: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    win.files.open_path(path, ask=False)
    qtbot.waitUntil(lambda: win.doc.has_page and win.files.idle, timeout=20000)


def open_with_model(qtbot, win: MainWindow, path: Path, *, model: str | None = None,  # type: ignore[no-untyped-def]
                    device: str | None = None) -> None:
    """Refresh the model list, choose ``model`` / ``device`` when given, open ``path``, live preview off."""
    win.render.refresh_models()
    if model is not None:
        win.render.set_model(model)
    if device is not None:
        win.render.set_device(device)
    open_page(qtbot, win, path)
    win.render.live_preview = False


def paint_line(qtbot, win: MainWindow, y: int, color: QColor) -> None:  # type: ignore[no-untyped-def]
    """Brush a horizontal line at page row ``y`` (zoom 1, no offset)."""
    win.canvas.zoom, win.canvas.offset = 1.0, QPointF(0.0, 0.0)
    win.tools.set_tool("brush")
    win.tools.set_color(color)
    qtbot.mousePress(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(30, y))
    qtbot.mouseMove(win.canvas, QPoint(90, y))
    qtbot.mouseRelease(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(90, y))


def colorize(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.render.full_finished, timeout=RENDER_TIMEOUT_MS) as blocker:
        win.colorize_full()
    assert blocker.args == [True]


def test_colorize_with_tiny_model_shows_result(qtbot, make_window, installed_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    win.render.refresh_models()
    assert [m.name for m in win.render.models] == [installed_model]
    assert "test fixture" in win.colorize_dock.description.text()
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    win.render.live_preview = False
    paint_line(qtbot, win, 50, QColor(220, 40, 40))
    colorize(qtbot, win)
    result = win.doc.project.result
    assert result is not None and result.shape == (120, 160, 3) and result.dtype == np.uint16
    assert not win.doc.result_is_preview and "result" in win.canvas._images
    assert win.status.device.text().startswith("CPU") and "CPUExecutionProvider" in win.colorize_dock.device.toolTip()
    qtbot.waitUntil(lambda: win.files.idle, timeout=20000)
    assert proj.autosave_path(win.files.session).is_file()  # autosave on colorize


def test_live_preview_after_each_stroke(qtbot, make_window, installed_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    win.render.refresh_models()
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    qtbot.waitUntil(lambda: win.doc.result_u8 is not None and not win.render.busy("preview"), timeout=60000)
    win.doc.set_preview(np.zeros((2, 2, 3), np.uint8))
    paint_line(qtbot, win, 60, QColor(40, 40, 220))
    qtbot.waitUntil(lambda: win.doc.result_u8 is not None and win.doc.result_u8.shape[0] > 2, timeout=60000)
    assert win.doc.result_is_preview


def test_flats_only_mode_needs_no_model(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    win.render.refresh_models()
    assert win.render.models == []
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    win.colorize_dock.flats_only.setChecked(True)
    paint_line(qtbot, win, 50, QColor(20, 200, 20))
    win.colorize_full()
    qtbot.waitUntil(lambda: win.doc.project.result is not None and win.doc.flats_u8 is not None, timeout=30000)
    assert tuple(win.doc.flats_u8[50, 60]) == (20, 200, 20, 255)
    assert win.doc.flats_u8[5, 5, 3] == 0  # outside the hinted box: not filled


def test_save_close_reopen_is_byte_for_byte(qtbot, make_window, installed_model, tmp_path, answers) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    win.render.refresh_models()
    win.render.live_preview = False
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    paint_line(qtbot, win, 40, QColor(200, 100, 50))
    win.palette_dock.add_named("Hero hair", "#3c4678")
    colorize(qtbot, win)
    target = tmp_path / "story.mcproj"
    win.files.save_to(target)
    qtbot.waitUntil(lambda: not win.doc.is_modified and win.files.idle, timeout=30000)
    hints, result = win.doc.hints.copy(), win.doc.project.result.copy()
    palette = win.doc.palette.to_dict()
    win.close()
    assert answers.asked == []  # saved: closing does not ask
    win2 = make_window()
    open_page(qtbot, win2, target)
    assert np.array_equal(win2.doc.hints, hints)
    assert np.array_equal(win2.doc.project.result, result)
    assert win2.doc.palette.to_dict() == palette and palette["swatches"][0]["name"] == "Hero hair"
    assert win2.doc.project.model_name == installed_model
    assert win2.palette_dock.named.count() == 1
    win2.files.save_to(tmp_path / "again.mcproj")
    qtbot.waitUntil(lambda: win2.files.idle, timeout=30000)
    with zipfile.ZipFile(target) as a, zipfile.ZipFile(tmp_path / "again.mcproj") as b:
        for member in ("hints.png", "result.png", "page.png"):
            assert a.read(member) == b.read(member)


_CRASHER = """
import os, signal, sys
import numpy as np
from mangacolor_app.core import project as proj
page = np.ones((40, 50, 3), np.float32)
p = proj.Project.new(page, source_path="crashed-page.png")
p.hints[10:20, 5:15] = (1, 2, 3, 255)
p.palette.swatches.append(proj.NamedColor("Cape", "#aa0011"))
proj.write_autosave(p, "crashed-session")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_autosave_of_killed_process_is_offered_and_restored(qtbot, make_window, answers) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, "-c", _CRASHER], capture_output=True, timeout=120)
    assert done.returncode == -9
    answers.replies.append("yes")
    win = make_window()
    win.start(first_run_sample=False)
    assert answers.asked and "crashed-page.png" in answers.asked[0]
    assert win.doc.has_page and win.doc.size == (40, 50) and win.doc.is_modified
    assert tuple(win.doc.hints[15, 10]) == (1, 2, 3, 255) and win.doc.hints[30, 30, 3] == 0
    assert win.doc.palette.swatches[0].name == "Cape"
    assert proj.find_recoverable(exclude_session=win.files.session) == []


def test_unsafe_project_is_refused_with_a_message(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = proj.save_project(tmp_path / "good.mcproj", proj.Project.new(make_page()))
    evil = tmp_path / "evil.mcproj"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("../../outside.txt", b"pwned")
    win = make_window()
    win.files.open_path(evil, ask=False)
    qtbot.waitUntil(lambda: bool(win.errors), timeout=10000)
    assert "evil.mcproj" in win.errors[0] and "unsafe" in win.errors[0]
    assert not win.doc.has_page
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert any("evil.mcproj" in b.text() for b in boxes)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_bad_image_and_unwritable_folder_show_messages(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    win.files.open_path(bad, ask=False)
    qtbot.waitUntil(lambda: bool(win.errors), timeout=10000)
    assert "broken.png" in win.errors[-1] and "Traceback" not in win.errors[-1]
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    win.files.save_to(tmp_path / "no-such-folder" / "x.mcproj")
    qtbot.waitUntil(lambda: len(win.errors) == 2, timeout=10000)
    assert "x.mcproj" in win.errors[-1]


def test_closing_with_unsaved_changes_asks_first(qtbot, make_window, tmp_path, answers) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    paint_line(qtbot, win, 30, QColor(0, 0, 0))
    answers.replies.append(dialogs.CANCEL)
    assert not win.close()
    assert win.isVisible() and len(answers.asked) == 1
    answers.replies.append(dialogs.DISCARD)
    assert win.close()


def test_gui_never_blocked_during_16mp_render(qtbot, make_window, installed_model, capsys) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    win.render.refresh_models()
    win.render.live_preview = False
    h = w = 4096
    page = np.ones((h, w, 3), np.float32)
    page[::97, :, :] = 0.0
    win.doc.set_project(proj.Project.new(page))
    win.doc.hints[1000:1100, 1000:3000] = (200, 50, 50, 255)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    start = time.perf_counter()
    last[0] = start
    with qtbot.waitSignal(win.render.full_finished, timeout=RENDER_TIMEOUT_MS) as blocker:
        win.colorize_full()
    timer.stop()
    elapsed = time.perf_counter() - start
    assert blocker.args == [True] and win.doc.project.result.shape == (h, w, 3)
    worst = max(gaps)
    with capsys.disabled():
        print(f"\n[gui-block] 16.8 MP full render {elapsed:.1f} s, {len(gaps)} ticks, max GUI gap {worst * 1000:.1f} ms")
    # The 100 ms target is a measurement (printed above; 52-67 ms on an idle 2-core machine). The assertion
    # only has to catch real blocking, robustly on a loaded CI machine: a render on the GUI thread would
    # stall it for the whole render (seconds), and ticks must keep arriving throughout.
    assert worst < 0.5 and len(gaps) > elapsed / 0.05


def test_screenshot_mode_writes_png(qtbot, installed_model, tmp_path, answers) -> None:  # type: ignore[no-untyped-def]
    from mangacolor_app.qt.app import run_editor

    out = tmp_path / "shot.png"
    code = run_editor(SimpleNamespace(page=str(write_page(tmp_path / "page.png", 300, 220)), screenshot=str(out)))
    QThreadPool.globalInstance().waitForDone(60000)
    assert code == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 300
    assert answers.asked == []


def test_first_start_opens_the_sample_and_settings_are_isolated(qtbot, make_window, mangacolor_home) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    assert str(win.settings.path).startswith(str(mangacolor_home))
    win.start()
    qtbot.waitUntil(lambda: win.doc.has_page and win.files.idle, timeout=20000)
    assert win.doc.hints[..., 3].max() == 255  # the example hints came with the sketch
    win.close_without_asking()
    again = make_window()
    again.start()
    assert not again.doc.has_page and again.files.idle


def test_retrain_dialog_explains_missing_torch(qtbot, make_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mangacolor_app.qt import retrain

    monkeypatch.setattr(retrain, "torch_available", lambda: False)
    win = make_window()
    dialog = retrain.RetrainDialog(win.render, win)
    qtbot.addWidget(dialog)
    texts = " ".join(label.text() for label in dialog.findChildren(type(win.status.position)))
    assert "pip install 'mangacolor[train]'" in texts and "make install-test" in texts


def test_export_through_core_export(qtbot, make_window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = make_window()
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    win.colorize_dock.flats_only.setChecked(True)
    paint_line(qtbot, win, 50, QColor(20, 200, 20))
    win.colorize_full()
    qtbot.waitUntil(lambda: win.doc.project.result is not None and win.render.busy("flats") is False, timeout=30000)
    target = tmp_path / "out.png"
    win.files.export(dialogs.ExportChoice(target, "png", 16, True, False), win.doc.flats_u8)
    qtbot.waitUntil(lambda: target.is_file() and win.files.idle, timeout=30000)
    exported = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert exported.dtype == np.uint16 and exported.shape == (120, 160, 3)
    assert exported[21, 50].max() < 20000  # ink preserved on the box outline


def test_preview_reduced_after_release_with_flats_following(qtbot, make_window, installed_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Live preview: no run while the button is held, reduced size after the release (one tile when
    larger than the model's tile), the shown flats layer computed after it; full render full size."""
    win = make_window()
    win.render.refresh_models()
    win.render.preview_side = 80
    open_page(qtbot, win, write_page(tmp_path / "page.png"))
    qtbot.waitUntil(lambda: win.doc.result_u8 is not None and not win.render.busy("preview"), timeout=60000)
    win.layers_dock.flats.setChecked(True)
    qtbot.waitUntil(lambda: win.doc.flats_u8 is not None and not win.render.busy("flats")
                    and not win.render.busy("preview"), timeout=60000)
    win.doc.set_preview(np.zeros((2, 2, 3), np.uint8))
    win.doc.set_flats(None)
    win.canvas.zoom, win.canvas.offset = 1.0, QPointF(0.0, 0.0)
    win.tools.set_tool("brush")
    win.tools.set_color(QColor(200, 40, 40))
    qtbot.mousePress(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(30, 50))
    qtbot.mouseMove(win.canvas, QPoint(90, 50))
    win.render.refresh_background()  # the debounce firing mid-stroke
    assert not win.render.busy("preview") and not win.render.busy("flats")
    qtbot.mouseRelease(win.canvas, Qt.MouseButton.LeftButton, pos=QPoint(90, 50))
    qtbot.waitUntil(lambda: win.doc.result_u8 is not None and win.doc.result_u8.shape[0] > 2
                    and win.doc.flats_u8 is not None, timeout=60000)
    assert win.doc.result_is_preview and win.doc.result_u8.shape == (60, 80, 3)
    assert win.doc.flats_u8.shape == (120, 160, 4) and win.doc.flats_u8[50, 60, 3] == 255
    colorize(qtbot, win)
    assert not win.doc.result_is_preview and win.doc.result_u8.shape == (120, 160, 3)


def test_retrain_dialog_finetunes_the_shipped_model(qtbot, make_window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The dialog runs the real training.finetune from the shipped weights and adds the model to the picker."""
    from mangacolor_app.qt import retrain

    use_shipped_models(tmp_path, monkeypatch, "mangacolor-default.safetensors")
    from test_qt_retrain import _style_folder

    style = _style_folder(tmp_path / "style")  # small coloured "pages": flat shapes with ink outlines on paper
    win = make_window()
    win.render.refresh_models()
    dialog = retrain.RetrainDialog(win.render, win)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(style))
    dialog.name.setText("test-style")
    dialog.steps.setValue(10)
    with qtbot.waitSignal(dialog.model_ready, timeout=240000) as ready:
        dialog.start.click()
    assert ready.args == ["test-style"]
    assert "test-style" in {m.name for m in win.render.models}
    assert dialog.progress.value() == 10 and "Done" in dialog.status.text()


def test_page_conversions_run_off_the_gui_thread(qtbot, make_window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Opening a page or a project converts it (luma, 8-bit view) in the file worker, not on the GUI
    thread, and the document gets exactly those arrays."""
    import threading

    from PIL import Image

    from mangacolor_app.core.color import rgb_to_gray
    from mangacolor_app.qt import files as files_mod

    threads: list[str] = []
    real = files_mod.page_views

    def recording(project):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(project)

    monkeypatch.setattr(files_mod, "page_views", recording)
    win = make_window()
    page = tmp_path / "page.png"
    rgb = (np.random.default_rng(2).random((300, 200, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(page)
    open_page(qtbot, win, page)
    gui = threading.main_thread().name
    assert threads and all(name != gui for name in threads)
    assert np.array_equal(win.doc.page_u8, rgb)
    assert np.allclose(win.doc.line_gray, rgb_to_gray(rgb.astype(np.float32) / 255.0), atol=1e-6)


def test_full_render_uses_the_pages_flats_like_the_cli(qtbot, make_window, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With the shipped flats model, the editor's full render computes the page's flats at its dpi,
    shows them as the Flats layer, and gives the same colour as ``mangacolor colorize --no-ink``."""
    from PIL import Image

    from mangacolor_app.cli import main as cli_main
    from mangacolor_app.core.color import to_uint8
    from mangacolor_app.core.flats import page_flats

    use_shipped_models(tmp_path, monkeypatch, "mangacolor-default.onnx")
    page = tmp_path / "page.png"
    Image.fromarray((make_page(120, 160) * 255).astype(np.uint8)).save(page, dpi=(1200, 1200))
    win = make_window()
    open_with_model(qtbot, win, page, model="mangacolor-default")
    paint_line(qtbot, win, 50, QColor(220, 40, 40))
    colorize(qtbot, win)
    hints_png = tmp_path / "hints.png"
    Image.fromarray(win.doc.hints, "RGBA").save(hints_png)
    expected_flats = to_uint8(page_flats(win.doc.line_gray, win.doc.project.hints_float(), (1200.0, 1200.0)))
    assert win.doc.flats_u8 is not None and np.array_equal(win.doc.flats_u8, expected_flats)
    out = tmp_path / "cli.png"
    assert cli_main(["colorize", str(page), "-o", str(out), "--hints", str(hints_png), "--no-ink", "-q"]) == 0
    cli = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert np.abs(to_uint8(win.doc.project.result).astype(int) - cli).max() <= 1
