"""The main window: assembles the document, canvas, panels, controllers, menus and status bar.

It owns no data and little logic: the :class:`Document` holds the project, the
:class:`ToolController` the tools, the :class:`RenderController` colorization, the
:class:`FileController` files; the window wires them and shows their errors.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QColor, QPixmap
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QProgressBar, QPushButton, QWidget

from mangacolor_app.qt import dialogs
from mangacolor_app.qt.actions import build_actions, fill_recent_menu
from mangacolor_app.qt.canvas import Canvas
from mangacolor_app.qt.chapter import ChapterController, ChapterDock
from mangacolor_app.qt.document import Document
from mangacolor_app.qt.files import FileController
from mangacolor_app.qt.palette import PaletteDock
from mangacolor_app.qt.panels import ColorizeDock, LayersDock, ToolOptionsDock
from mangacolor_app.qt.reference_suggest import ReferenceSuggester
from mangacolor_app.qt.render import RenderController
from mangacolor_app.qt.settings import EditorSettings
from mangacolor_app.qt.theme import apply_theme
from mangacolor_app.qt.tools import ToolController
from mangacolor_app.qt.view_state import LAYER_FIELDS, ViewState
from mangacolor_app.qt.workers import wait_for_jobs

__all__ = ["MainWindow"]

logger = logging.getLogger(__name__)


class StatusBar:
    """Zoom, cursor position, pixel colour, device, render progress with cancel."""

    def __init__(self, win: MainWindow) -> None:
        bar = win.statusBar()
        self.message = QLabel()
        self.zoom = QLabel("100 %")
        self.position = QLabel("")
        self.swatch = QLabel()
        self.color = QLabel("")
        self.device = QLabel(win.render.device_text)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(win.render.cancel_full)
        bar.addWidget(self.message, 1)
        for widget in (self.progress, self.cancel, self.position, self.swatch, self.color, self.zoom, self.device):
            bar.addPermanentWidget(widget)
        self.show_progress(False)

    def show_progress(self, on: bool) -> None:
        """Show or hide the render progress bar and its cancel button."""
        self.progress.setVisible(on)
        self.cancel.setVisible(on)
        if on:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        """Tiles done out of total."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def set_cursor(self, x: int, y: int, color: QColor) -> None:
        """Cursor page position and colour under it."""
        if x < 0:
            self.position.setText("")
            self.color.setText("")
            self.swatch.clear()
            return
        self.position.setText(f"x {x}  y {y}")
        if color.isValid():
            pixmap = QPixmap(12, 12)
            pixmap.fill(color)
            self.swatch.setPixmap(pixmap)
            self.color.setText(f"{color.name()}  rgb({color.red()}, {color.green()}, {color.blue()})")


class MainWindow(QMainWindow):
    """The editor window. ``errors`` collects the messages shown to the user (for tests and logs)."""

    def __init__(self, settings: EditorSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MangaColor")
        self.errors: list[str] = []
        self.settings = settings or EditorSettings()
        self.doc = Document(self)
        self.tools = ToolController(self.doc, self)
        self.render = RenderController(self.doc, self)
        #: layer visibility/opacity, compare, ink and flats mode: one model the views subscribe to
        self.view = ViewState(self)
        self.render.follow(self.view)
        self.canvas = Canvas(self.doc, self.tools, self, view=self.view)
        self.setCentralWidget(self.canvas)
        self.files = FileController(self.doc, self.settings, self)
        self.suggester = ReferenceSuggester(self.doc, self)
        self.chapter = ChapterController(self.doc, self)
        self.chapter_dock = ChapterDock(self.chapter, self)
        self.files.chapter_opener = self.chapter.open
        self.tool_options = ToolOptionsDock(self.tools, self)
        self.palette_dock = PaletteDock(self.doc, self.tools, self)
        self.layers_dock = LayersDock(self.canvas, self.render, self)
        self.colorize_dock = ColorizeDock(self.render, self.colorize_full, self, view=self.view)
        self.status = StatusBar(self)
        self.window_actions = build_actions(self)
        self.actions_by_name = self.window_actions.by_name
        self.recent_menu, self.docks_menu, self.toolbar = (self.window_actions.recent_menu, self.window_actions.docks_menu,
                                                           self.window_actions.toolbar)
        self._place_docks()
        self._connect()
        self._restore_state()
        fill_recent_menu(self.recent_menu, self.settings.recent_files(), self._open_recent)

    # ------------------------------------------------------------------ assembly

    def docks(self) -> list[QDockWidget]:
        """The side panels."""
        return [self.tool_options, self.colorize_dock, self.layers_dock, self.palette_dock]

    def _place_docks(self) -> None:
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.tool_options)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.palette_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.colorize_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.layers_dock)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.chapter_dock)
        for dock in [*self.docks(), self.chapter_dock]:
            self.docks_menu.addAction(dock.toggleViewAction())
        self.resize(1400, 900)

    def _connect(self) -> None:
        self.canvas.cursor_info.connect(self.status.set_cursor)
        self.canvas.zoom_changed.connect(lambda z: self.status.zoom.setText(f"{z * 100:.0f} %"))
        self.canvas.files_dropped.connect(lambda paths: self.files.open_path(paths[0]))
        self.render.error.connect(self.show_error)
        self.render.device_changed.connect(self.status.device.setText)
        self.render.device_changed.connect(lambda _text: self.status.device.setToolTip(self.render.device_tooltip))
        self.render.full_started.connect(lambda: self.status.show_progress(True))
        self.render.full_progress.connect(self.status.set_progress)
        self.render.full_finished.connect(self._render_finished)
        self.render.preview_busy.connect(lambda on: self.status.message.setText("Previewing…" if on else ""))
        self.files.error.connect(self.show_error)
        self.suggester.error.connect(self.show_error)
        self.chapter.error.connect(self.show_error)
        self.files.saved.connect(self.chapter.page_saved)
        self.files.loaded.connect(self.chapter.project_loaded)
        self.chapter.export_progress.connect(self._chapter_export_progress)
        self.chapter.export_finished.connect(self._chapter_export_finished)
        self.status.cancel.clicked.connect(self.chapter.cancel_export)
        self.files.busy.connect(self.status.message.setText)
        self.files.recent_changed.connect(lambda files: fill_recent_menu(self.recent_menu, files, self._open_recent))
        self.doc.modified_changed.connect(self._update_title)
        self.doc.path_changed.connect(self._update_title)
        self.doc.page_changed.connect(self._page_loaded)
        self.doc.state_hook = self._project_state

    def _restore_state(self) -> None:
        geometry, state = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        for name in ("brush", "eraser"):
            for key in ("size", "hardness", "opacity"):
                value = self.settings.get(f"tools/{name}_{key}", None, float)
                if value is not None:
                    self.tools.set_param(name, **{key: value})
        color = self.settings.get("tools/color", None, str)
        if color:
            self.tools.set_color(QColor(color))

    def _save_state(self) -> None:
        self.settings.save_geometry(self.saveGeometry(), self.saveState())
        for name in ("brush", "eraser"):
            params = self.tools.params_for(name)
            for key in ("size", "hardness", "opacity"):
                self.settings.set(f"tools/{name}_{key}", getattr(params, key))
        self.settings.set("tools/color", self.tools.color.name())
        self.settings.sync()

    # ------------------------------------------------------------------ start-up

    def start(self, page: str | None = None, *, first_run_sample: bool = True) -> None:
        """Scan models, offer crash recovery, then open ``page`` or (first start) the sample."""
        self.render.refresh_models()
        if self.files.offer_recovery():
            return
        if page:
            self.files.open_path(page, ask=False)
        elif first_run_sample and not self.settings.get("ui/first_run_done", False, bool):
            self.files.open_sample()
        self.settings.set("ui/first_run_done", True)

    # ------------------------------------------------------------------ commands

    def colorize_full(self) -> None:
        """Full-resolution colorization (Ctrl+Enter)."""
        if not self.doc.has_page:
            self.show_error("open a page first")
            return
        self.render.render_full()

    def _render_finished(self, ok: bool) -> None:
        self.status.show_progress(False)
        if ok:
            self.status.message.setText("Colorized.")
            self.files.autosave()

    def colour_from_references(self) -> None:
        """Suggest hints from coloured reference pages: in a chapter, the pages hinted or coloured
        before this one; otherwise (or when there are none) the files the artist picks."""
        self.suggester.ask(self.chapter.references(), folder=self.settings.last_folder or "")

    def open_chapter_dialog(self) -> None:
        """Pick a chapter folder and open it (a .cbz opens through File > Open)."""
        from PySide6.QtWidgets import QFileDialog

        if not self.files.maybe_discard():
            return
        folder = QFileDialog.getExistingDirectory(self, "Open chapter folder", self.settings.last_folder or "")
        if folder:
            self.files.open_path(folder, ask=False)

    def export_chapter_dialog(self) -> None:
        """Pick a folder and export every coloured page of the chapter into it (progress, cancel)."""
        from PySide6.QtWidgets import QFileDialog

        if not self.chapter.active:
            self.show_error("open a chapter first (a folder or a .cbz)")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export chapter to", self.settings.last_folder or "")
        if folder:
            self.status.show_progress(True)
            self.chapter.export(Path(folder), self.canvas.layers.preserve_ink)

    def _chapter_export_progress(self, done: int, total: int) -> None:
        self.status.set_progress(done, total)
        self.status.message.setText(f"Exporting chapter: page {done} of {total}")

    def _chapter_export_finished(self, result: object) -> None:
        self.status.show_progress(False)
        if isinstance(result, tuple):
            written, skipped = result
            extra = f"; {len(skipped)} pages not coloured yet" if skipped else ""
            self.status.message.setText(f"Exported {len(written)} pages{extra}.")
        else:
            self.status.message.setText("Chapter export stopped.")

    def export_dialog(self) -> None:
        """Ask for export options, then export in the background."""
        if not self.doc.has_page:
            return
        source = Path(self.doc.project.source_path or "page") if self.doc.project else Path("page")
        folder = Path(self.settings.last_folder) if self.settings.last_folder else source.parent
        dialog = dialogs.ExportDialog(self, folder / f"{source.stem}-color.png", self.canvas.layers.preserve_ink)
        if dialog.exec():
            self.files.export(dialog.choice(), self.doc.flats_u8)

    def retrain_dialog(self) -> None:
        """Open the retrain (fine-tune) dialog."""
        from mangacolor_app.qt.retrain import RetrainDialog

        dialog = RetrainDialog(self.render, self)
        dialog.model_ready.connect(self.render.set_model)
        dialog.model_ready.connect(lambda _n: self.colorize_dock.sync_models())
        dialog.open()

    def toggle_panels(self) -> None:
        """Hide or show every panel and the toolbar (Tab)."""
        visible = not any(d.isVisible() for d in self.docks())
        for dock in self.docks():
            dock.setVisible(visible)
        self.toolbar.setVisible(visible)

    def set_theme(self, name: str) -> None:
        """Switch between the dark and light themes (remembered)."""
        self.settings.theme = name
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)

    def show_error(self, message: str) -> None:
        """Show a user-facing error (non-blocking)."""
        dialogs.show_error(self, message)

    def _open_recent(self, path: str) -> None:
        self.files.open_path(path)

    def _project_state(self) -> tuple[str | None, dict[str, object]]:
        """Model name and view settings saved with the project."""
        values = self.view.as_dict()
        settings: dict[str, object] = {f"layers.{k}": values[k] for k in LAYER_FIELDS}
        settings["flats_only"] = values["flats_only"]
        return self.render.model_name, settings

    def _page_loaded(self) -> None:
        project = self.doc.project
        if project is not None:
            for key, value in project.settings.items():
                name = key.removeprefix("layers.")
                if key.startswith("layers.") and name in LAYER_FIELDS:
                    try:
                        self.view.set(name, value)  # the canvas and the panels follow the model
                    except (TypeError, ValueError):  # core.project_validate refuses these
                        logger.warning("ignoring project setting %s=%r", key, value)
            self.layers_dock.sync()
            self.colorize_dock.sync_models()
        self._update_title()

    def _update_title(self, *_: object) -> None:
        name = "untitled"
        if self.doc.path is not None:
            name = self.doc.path.name
        elif self.doc.project is not None and self.doc.project.source_path:
            name = Path(self.doc.project.source_path).name
        self.setWindowTitle(f"{name}{' *' if self.doc.is_modified else ''} — MangaColor")

    def close_without_asking(self) -> None:
        """Close, dropping unsaved changes (screenshot mode, tests)."""
        self._force_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not getattr(self, "_force_close", False) and not self.files.maybe_discard():
            event.ignore()
            return
        self.render.cancel_all()
        wait_for_jobs()  # let a running save/autosave finish, cancelled renders stop
        self._save_state()
        self.files.shutdown()
        event.accept()
