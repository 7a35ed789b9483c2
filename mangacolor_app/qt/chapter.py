"""Editor chapters: open a folder or ``.cbz`` as a chapter project, move between its pages, export it.

:class:`ChapterController` keeps the :class:`~mangacolor_app.core.chapter_project.ChapterProject`
and the index of the page in the document. Opening, page switches (the page left is saved to its
project file first when it changed), state updates and the chapter export run in workers; the
document's path is the page's project file, so Save, autosave and recovery work as for one page.
:class:`ChapterDock` is the page strip: every page with its state (untouched, hinted, coloured).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QDockWidget, QListWidget, QListWidgetItem, QWidget

from mangacolor_app.core.chapter_project import CHAPTER_SUFFIX, ChapterProject, export_chapter, project_state
from mangacolor_app.core.errors import ProjectError
from mangacolor_app.core.project import Project, save_project
from mangacolor_app.qt.document import Document, page_views
from mangacolor_app.qt.workers import Job, start_job

__all__ = ["ChapterController", "ChapterDock"]

logger = logging.getLogger(__name__)

_STATE_COLOURS = {"untouched": "#8a8a8a", "hinted": "#e0a030", "coloured": "#40b060"}


def _load(chapter: ChapterProject, index: int) -> tuple[Project, Path, Any]:
    """Worker body: page ``index`` as a project, its file and its views."""
    project, file = chapter.load_page(index)
    return project, file, page_views(project)


class ChapterController(QObject):
    """The open chapter (None when a single page is open).

    Signals:
        changed(): pages, states or the current page changed.
        error(str): a failure to show.
        export_progress(int, int): pages done, total.
        export_finished(object): (written paths, skipped page names), or None when cancelled/failed.
    """

    changed = Signal()
    error = Signal(str)
    export_progress = Signal(int, int)
    export_finished = Signal(object)

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.chapter: ChapterProject | None = None
        self.index = -1
        self.busy = False
        self.export_job: Job | None = None
        doc.hints_changed.connect(lambda _r: self._live_state("hinted"))
        doc.result_changed.connect(lambda: self._live_state("coloured"))

    # ------------------------------------------------------------------ helpers

    def _run(self, fn: Any, on_done: Any, name: str) -> Job:
        job = Job(lambda _p, _c: fn(), name=name)
        job.signals.finished.connect(on_done)
        job.signals.failed.connect(self.error.emit)
        job.signals.done.connect(lambda: setattr(self, "busy", False))
        self.busy = True
        return start_job(job)

    def _live_state(self, state: str) -> None:
        if self.chapter is None or self.index < 0 or self.doc.result_is_preview and state == "coloured":
            return
        page = self.chapter.pages[self.index]
        if state == "coloured" or page.state == "untouched":
            page.state = state
            self.changed.emit()

    @property
    def active(self) -> bool:
        return self.chapter is not None

    # ------------------------------------------------------------------ opening and moving

    def open(self, path: str | Path) -> Job:
        """Open ``path`` (folder, ``.cbz`` or ``.mcchapter``) as a chapter, showing its first page."""
        def work() -> tuple[ChapterProject, tuple[Project, Path, Any]]:
            chapter = ChapterProject.open(path)
            chapter.write_manifest()
            return chapter, _load(chapter, 0)

        return self._run(work, self._opened, f"open chapter {path}")

    def _opened(self, value: tuple[ChapterProject, tuple[Project, Path, Any]]) -> None:
        self.chapter, loaded = value
        self._show(0, loaded)

    def _show(self, index: int, loaded: tuple[Project, Path, Any]) -> None:
        project, file, views = loaded
        self.index = index
        self.doc.set_project(project, file if file.is_file() else None, views=views)
        if self.doc.path is None:
            self.doc.path = file  # Save writes the page's project file
            self.doc.path_changed.emit()
        self.changed.emit()

    def go_to(self, index: int) -> Job | None:
        """Show page ``index``; the page left is saved first when it has unsaved changes."""
        chapter = self.chapter
        if chapter is None or not 0 <= index < len(chapter.pages) or index == self.index or self.busy:
            return None
        leaving, snapshot = self.index, self.doc.snapshot() if self.doc.is_modified else None

        def work() -> tuple[Project, Path, Any]:
            if snapshot is not None:
                chapter.save_page(leaving, snapshot)
            return _load(chapter, index)

        return self._run(work, lambda loaded: self._show(index, loaded), f"chapter page {index + 1}")

    def step(self, delta: int) -> Job | None:
        """Next (+1) or previous (-1) page."""
        return self.go_to(self.index + delta)

    def page_saved(self, path: str) -> None:
        """After a Save of the current page: record its state in the chapter file (worker)."""
        chapter = self.chapter
        if chapter is None or self.index < 0 or Path(path) != chapter.page_file(self.index):
            return
        index, snapshot = self.index, self.doc.snapshot()
        self._run(lambda: chapter.record(index, snapshot), lambda _v: self.changed.emit(), "chapter state")

    def references(self) -> list[Path]:
        """The chapter's pages before the current one that have hints (offered as references)."""
        return self.chapter.references_before(self.index) if self.chapter is not None else []

    def close_chapter(self) -> None:
        """Leave chapter mode (a single page or project was opened)."""
        self.chapter, self.index = None, -1
        self.changed.emit()

    def project_loaded(self) -> None:
        """A project was opened or recovered outside the page strip: when it is a page of a chapter
        project (its file lies in a ``.mcchapter`` folder), the chapter comes back around it, keeping
        the document as loaded (recovered work stays unsaved); otherwise chapter mode ends."""
        path = self.doc.path
        if path is None or path.parent.suffix.lower() != CHAPTER_SUFFIX:
            self.close_chapter()
            return
        name = path.name

        def work() -> tuple[ChapterProject, int]:
            chapter = ChapterProject.open(path.parent)
            index = next((i for i, p in enumerate(chapter.pages) if p.file == name), -1)
            if index < 0:
                raise ProjectError("is not a page of its chapter project", path)
            return chapter, index

        def done(value: tuple[ChapterProject, int]) -> None:
            if self.doc.path == path:
                self.chapter, self.index = value
                self.chapter.pages[self.index].state = project_state(self.doc.project) if self.doc.project else "untouched"
                self.changed.emit()

        self.close_chapter()
        self._run(work, done, f"chapter of {name}")

    # ------------------------------------------------------------------ export

    def export(self, out_dir: Path, preserve_ink: bool = True) -> Job | None:
        """Export every coloured page as PNG into ``out_dir`` (the current page is saved first)."""
        chapter = self.chapter
        if chapter is None:
            return None
        index, snapshot = self.index, self.doc.snapshot() if self.doc.is_modified else None

        def export_one(project: Project, target: Path) -> Path:
            from mangacolor_app.qt.dialogs import ExportChoice
            from mangacolor_app.qt.exporting import export_snapshot

            return export_snapshot(project, ExportChoice(target, "png", 8, preserve_ink, False), None)

        def work(progress: Any, cancel: Any) -> tuple[list[Path], list[str]]:
            if snapshot is not None:
                save_project(chapter.page_file(index), snapshot)
                chapter.record(index, snapshot)
            return export_chapter(chapter, out_dir, export_one, ".png", progress, cancel)

        job = Job(work, name="export chapter")
        job.signals.progress.connect(lambda v: self.export_progress.emit(int(v[0]), int(v[1])))
        job.signals.finished.connect(self.export_finished.emit)
        job.signals.failed.connect(self.error.emit)
        job.signals.failed.connect(lambda _m: self.export_finished.emit(None))
        job.signals.cancelled.connect(lambda: self.export_finished.emit(None))
        self.export_job = start_job(job)
        return job

    def cancel_export(self) -> None:
        """Stop a running chapter export after the page being written."""
        if self.export_job is not None:
            self.export_job.cancel()


class ChapterDock(QDockWidget):
    """The page strip: one row per page with its state; clicking a page opens it."""

    def __init__(self, controller: ChapterController, parent: QWidget | None = None) -> None:
        super().__init__("Chapter", parent)
        self.setObjectName("ChapterDock")
        self.controller = controller
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._picked)
        self.setWidget(self.list)
        self._syncing = False
        controller.changed.connect(self.sync)
        self.sync()

    def _picked(self, row: int) -> None:
        if not self._syncing and row >= 0:
            self.controller.go_to(row)

    def state_text(self, row: int) -> str:
        """The text of a row (tests)."""
        return self.list.item(row).text()

    def sync(self) -> None:
        """Rebuild the rows from the controller's chapter."""
        chapter = self.controller.chapter
        self._syncing = True
        try:
            self.list.clear()
            self.setVisible(chapter is not None)
            if chapter is None:
                return
            self.setWindowTitle(f"Chapter: {chapter.source.name}")
            for i, page in enumerate(chapter.pages):
                item = QListWidgetItem(f"{i + 1}. {page.name} — {page.state}")
                dot = QPixmap(12, 12)
                dot.fill(QColor(_STATE_COLOURS.get(page.state, "#8a8a8a")))
                item.setIcon(QIcon(dot))
                item.setData(Qt.ItemDataRole.UserRole, page.state)
                self.list.addItem(item)
            self.list.setCurrentRow(self.controller.index)
        finally:
            self._syncing = False

