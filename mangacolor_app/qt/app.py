"""Editor entry point: ``run_editor(args)`` (called by ``mangacolor`` / ``mangacolor --screenshot``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QIODevice, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from mangacolor_app.core.atomic import atomic_write_bytes
from mangacolor_app.core.errors import MangaColorError
from mangacolor_app.core.paths import APP_ID, desktop_files_dir
from mangacolor_app.qt.main_window import MainWindow
from mangacolor_app.qt.settings import EditorSettings
from mangacolor_app.qt.theme import apply_theme
from mangacolor_app.startup import editor_start_problem

__all__ = ["run_editor", "ScreenshotRunner", "create_app", "grab_png"]

logger = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 9 * 60 * 1000
SCREENSHOT_SIZE = (1400, 900)


def create_app() -> QApplication:
    """The QApplication (created once), named so that Qt's own settings are ours."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("MangaColor")
    app.setOrganizationName("MangaColor")
    app.setDesktopFileName(APP_ID)  # Wayland app id: the shell matches the desktop entry and its icon
    svg = desktop_files_dir() / "icons" / "scalable" / "apps" / f"{APP_ID}.svg"
    app.setWindowIcon(QIcon.fromTheme(APP_ID, QIcon(str(svg)) if svg.is_file() else QIcon()))
    return app


def grab_png(win: MainWindow, path: Path) -> Path:
    """Grab the window (offscreen works too) and write it atomically as PNG.

    Raises:
        ImageSaveError: the folder is missing or not writable.
    """
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    win.grab().save(buffer, "PNG")
    return atomic_write_bytes(path, bytes(buffer.data().data()))


class ScreenshotRunner(QObject):
    """Loads a page, colorizes it at full resolution, grabs the window, then quits with a code."""

    def __init__(self, app: QApplication, win: MainWindow, out: Path, page: str | None) -> None:
        super().__init__(win)
        self.app, self.win, self.out, self.page = app, win, out, page
        self.code = 1
        self._rendering = False
        win.files.loaded.connect(self._on_loaded)
        win.files.error.connect(self._on_error)
        win.render.error.connect(self._on_error)
        win.render.full_finished.connect(self._on_rendered)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: self._finish("timed out", grab=True))

    def start(self) -> None:
        """Begin: scan models and open the page (or the bundled sample)."""
        self.win.render.refresh_models()
        if not self.win.render.models:
            logger.info("no model installed: screenshot in flats-only mode")
            self.win.view.flats_only = True  # the render and the Colorize panel follow the view state
        if self.page:
            self.win.files.open_path(self.page, ask=False)
        else:
            self.win.files.open_sample()

    def _on_loaded(self) -> None:
        self.win.canvas.fit()
        self._rendering = True
        if not self.win.render.render_full():
            self._finish("cannot colorize", grab=True)

    def _on_rendered(self, ok: bool) -> None:
        if self._rendering:
            self._rendering = False
            self.code = 0 if ok else 1
            QTimer.singleShot(50, lambda: self._finish(None, grab=True))

    def _on_error(self, message: str) -> None:
        logger.error("screenshot: %s", message)
        self._finish(message, grab=True)

    def _finish(self, problem: str | None, grab: bool) -> None:
        if problem:
            self.code = 1
        if grab:
            try:
                grab_png(self.win, self.out)
                logger.info("screenshot written to %s", self.out)
            except MangaColorError as exc:
                logger.error("%s", exc)
                self.code = 1
        self.app.exit(self.code)


def run_editor(args: Any) -> int:
    """Start the editor.

    Args:
        args: a namespace with optional ``page`` (image or ``.mcproj`` to open) and ``screenshot``
            (PNG path: open, colorize at full resolution, grab the window there, exit).

    Returns:
        The process exit code (0 on success).

    Raises:
        MangaColorError: no display, or system libraries of Qt's platform plugin are missing (the
            message names them and the install commands), checked before Qt can abort the process.
    """
    page = getattr(args, "page", None)
    screenshot = getattr(args, "screenshot", None)
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a screenshot needs no screen
    problem = editor_start_problem()
    if problem is not None and QApplication.instance() is None:
        raise MangaColorError(problem)
    app = create_app()
    settings = EditorSettings()
    apply_theme(app, settings.theme)
    win = MainWindow(settings)
    if screenshot:
        win.resize(*SCREENSHOT_SIZE)
        win.show()
        runner = ScreenshotRunner(app, win, Path(screenshot), str(page) if page else None)
        QTimer.singleShot(0, runner.start)
        code = app.exec()
        win.close_without_asking()
        return int(code)
    win.show()
    QTimer.singleShot(0, lambda: win.start(str(page) if page else None))
    return int(app.exec())
