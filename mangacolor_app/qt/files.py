"""File operations: open (image or project), save, export, recent files, autosave and recovery.

Loading, saving, exporting and autosaving run in the thread pool; only the close-time save runs
in the GUI thread (the window is going away anyway). Failures are reported through ``error``.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from mangacolor_app.core import project as proj
from mangacolor_app.core.color import to_uint8
from mangacolor_app.core.errors import MangaColorError
from mangacolor_app.core.paths import resources_dir
from mangacolor_app.qt import dialogs
from mangacolor_app.qt.document import Document, page_views
from mangacolor_app.qt.settings import EditorSettings
from mangacolor_app.qt.workers import Job, error_text, start_job

__all__ = ["FileController", "IMAGE_FILTER", "sample_paths"]

logger = logging.getLogger(__name__)

IMAGE_FILTER = "Pages, projects and chapters (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.mcproj *.cbz);;All files (*)"
AUTOSAVE_MS = 3 * 60 * 1000


def sample_paths() -> tuple[Path, Path]:
    """The bundled sample sketch and its example hints."""
    folder = resources_dir() / "samples"
    return folder / "sample_sketch.png", folder / "sample_hints.png"


def _load_page_project(path: Path, hints_path: Path | None = None) -> proj.Project:
    """Worker body: a new project for the image at ``path`` (optional RGBA hints file)."""
    from mangacolor_app.core.imageio import load_image
    from mangacolor_app.core.pagefile import load_hints_file, page_on_paper

    page = load_image(path)
    project = proj.Project.new(page_on_paper(page), source_path=str(path), dpi=page.dpi)
    if hints_path is not None:
        from mangacolor_app.core.hints import fit_hints

        hints = fit_hints(load_hints_file(hints_path), project.size, hints_path)
        project.hints = np.ascontiguousarray(to_uint8(hints))
    return project


def _chapter_message(path: Path) -> str | None:
    """What to say when asked to open a chapter (``.cbz``/``.zip`` archive or folder), else None."""
    import zipfile

    is_archive = path.suffix.lower() in (".cbz", ".zip") or (path.is_file() and zipfile.is_zipfile(path)
                                                             and path.suffix.lower() != proj.PROJECT_SUFFIX)
    if not (is_archive or path.is_dir()):
        return None
    what = "a chapter archive" if is_archive else "a folder"
    return (f"{path}: this is {what}; the editor opens one page or project at a time. Open one of its pages, "
            f"or colour the whole chapter with: mangacolor colorize \"{path}\" -o \"{path.stem}-color.cbz\"")


def _naming(path: Path, fn: Any) -> Any:
    """``fn`` with any unexpected failure turned into a MangaColorError naming ``path``."""

    def run() -> Any:
        try:
            return fn()
        except (MangaColorError, MemoryError):
            raise
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OSError, RuntimeError) as exc:
            logger.debug("opening %s failed", path, exc_info=True)
            raise MangaColorError(f"cannot open this file: it is damaged or not what its name says "
                                  f"({type(exc).__name__}: {exc})", path) from exc

    return run


def _with_views(project: proj.Project) -> tuple[proj.Project, tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """Worker body: the project with its :func:`page_views` and 8-bit result (computed off the GUI thread)."""
    return project, page_views(project), None if project.result is None else to_uint8(project.result)


class FileController(QObject):
    """Owns the document's file life cycle.

    Signals:
        error(str): a failure to show to the user.
        loaded(): a page or project was loaded into the document.
        saved(str): the project was saved to this path.
        recent_changed(list): the recent-files list changed.
        busy(str): a status message ("" when idle).
    """

    error = Signal(str)
    loaded = Signal()
    saved = Signal(str)
    recent_changed = Signal(list)
    busy = Signal(str)

    def __init__(self, doc: Document, settings: EditorSettings, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.doc = doc
        self.settings = settings
        self.widget = parent_widget
        self.session = uuid.uuid4().hex[:12]
        self._jobs: set[Job] = set()
        #: opens a folder / .cbz / .mcchapter as a chapter (set by the window); None: not supported
        self.chapter_opener: Any = None
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # ------------------------------------------------------------------ helpers

    def _run(self, fn: Any, on_done: Any, message: str) -> Job:
        job = Job(lambda _p, _c: fn(), name=message)
        job.signals.finished.connect(on_done)
        job.signals.failed.connect(lambda message: self.error.emit(message))
        job.signals.done.connect(lambda j=job: self._job_done(j))
        self._jobs.add(job)
        if message:
            self.busy.emit(message)
        return start_job(job)

    def _job_done(self, job: Job) -> None:
        self._jobs.discard(job)
        if not self._jobs:
            self.busy.emit("")

    @property
    def idle(self) -> bool:
        """Whether no file job is running."""
        return not self._jobs

    def _remember(self, path: Path) -> None:
        self.settings.last_folder = str(path.parent)
        self.recent_changed.emit(self.settings.add_recent(str(path)))

    # ------------------------------------------------------------------ opening

    def ask_open(self) -> None:
        """File dialog, then open the chosen page or project."""
        if not self.maybe_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self.widget, "Open page or project", self.settings.last_folder, IMAGE_FILTER)
        if path:
            self.open_path(path, ask=False)

    def open_path(self, path: str | Path, *, ask: bool = True, hints_path: Path | None = None) -> None:
        """Open an image (new project) or a ``.mcproj`` project, in the background.

        A chapter (``.cbz`` archive, folder or ``.mcchapter``) opens as a chapter project through
        ``chapter_opener`` (the window's); without one, the error says how to colour it.
        """
        path = Path(path)
        if self.chapter_opener is not None:
            from mangacolor_app.core.chapter_project import is_chapter_path

            if is_chapter_path(path):
                if ask and not self.maybe_discard():
                    return
                self.chapter_opener(path)
                self._remember(path)
                return
        chapter = _chapter_message(path)
        if chapter is not None:
            self.error.emit(chapter)
            return
        if ask and not self.maybe_discard():
            return
        if path.suffix.lower() == proj.PROJECT_SUFFIX:
            self._run(_naming(path, lambda: _with_views(proj.load_project(path))),
                      lambda pv: self._set(pv, path, path), f"Opening {path.name}…")
        else:
            self._run(_naming(path, lambda: _with_views(_load_page_project(path, hints_path))),
                      lambda pv: self._set(pv, None, path), f"Loading {path.name}…")

    def open_sample(self) -> None:
        """Open the bundled sample sketch with its example hints."""
        sketch, hints = sample_paths()
        if sketch.is_file():
            self.open_path(sketch, ask=False, hints_path=hints if hints.is_file() else None)
        else:
            logger.info("no bundled sample at %s", sketch)

    def _set(self, loaded: tuple[proj.Project, tuple[np.ndarray, np.ndarray], np.ndarray | None],
             path: Path | None, opened: Path) -> None:
        project, views, result_u8 = loaded
        self.doc.set_project(project, path, views=views, result_u8=result_u8)
        if opened.parent != sample_paths()[0].parent:
            self._remember(opened)
        self.loaded.emit()

    # ------------------------------------------------------------------ saving

    def save(self) -> None:
        """Save to the current project file, or ask for one."""
        if self.doc.path is None:
            self.save_as()
        elif self.doc.has_page:
            self.save_to(self.doc.path)

    def save_as(self) -> None:
        """Ask for a project file name and save there."""
        if not self.doc.has_page:
            return
        start = str(Path(self.settings.last_folder or ".") / "untitled.mcproj")
        path, _ = QFileDialog.getSaveFileName(self.widget, "Save project", start, "MangaColor project (*.mcproj)")
        if path:
            target = Path(path)
            self.save_to(target if target.suffix else target.with_suffix(proj.PROJECT_SUFFIX))

    def save_to(self, path: Path) -> Job:
        """Save a snapshot of the project to ``path`` in the background."""
        snapshot = self.doc.snapshot()
        return self._run(lambda: proj.save_project(path, snapshot), self._saved, f"Saving {path.name}…")

    def _saved(self, path: Path) -> None:
        self.doc.mark_saved(Path(path))
        self._remember(Path(path))
        self.saved.emit(str(path))
        proj.discard_autosave(proj.autosave_path(self.session))

    def save_blocking(self) -> bool:
        """Save now in this thread (used when closing); False when it failed or was cancelled."""
        if self.doc.path is None:
            self.save_as_path_blocking()
        if self.doc.path is None:
            return False
        try:
            proj.save_project(self.doc.path, self.doc.snapshot())
        except MangaColorError as exc:
            logger.debug("save failed", exc_info=True)
            self.error.emit(str(exc))
            return False
        self._saved(self.doc.path)
        return True

    def save_as_path_blocking(self) -> None:
        """Ask for a path and record it as the document's path (without saving)."""
        path, _ = QFileDialog.getSaveFileName(self.widget, "Save project", self.settings.last_folder,
                                              "MangaColor project (*.mcproj)")
        if path:
            self.doc.path = Path(path)

    # ------------------------------------------------------------------ closing

    def maybe_discard(self) -> bool:
        """Ask before losing unsaved changes; True when it is fine to go on."""
        if not self.doc.is_modified:
            return True
        answer = dialogs.ask(self.widget, "Unsaved changes", "The page has unsaved changes. Save them first?",
                             (dialogs.SAVE, dialogs.DISCARD, dialogs.CANCEL))
        if answer == dialogs.SAVE:
            return self.save_blocking()
        return answer == dialogs.DISCARD

    def shutdown(self) -> None:
        """Normal exit: stop autosaving and delete this session's autosave."""
        self.autosave_timer.stop()
        proj.discard_autosave(proj.autosave_path(self.session))

    # ------------------------------------------------------------------ autosave / recovery

    def autosave(self) -> None:
        """Write the session autosave in the background (only when there are unsaved changes)."""
        if not self.doc.has_page or not self.doc.is_modified:
            return
        snapshot = self.doc.snapshot()
        where = str(self.doc.path) if self.doc.path else None
        self._run(lambda: proj.write_autosave(snapshot, self.session, project_path=where),
                  lambda p: logger.info("autosaved to %s", p), "")

    def offer_recovery(self) -> bool:
        """Offer the newest autosave left by a crashed editor; True when one was restored.

        Damaged autosaves are moved aside with a message and never block the start-up.
        """
        try:
            candidates, damaged = proj.scan_autosaves(exclude_session=self.session)
        except MangaColorError as exc:
            self.error.emit(str(exc))
            return False
        for message in damaged:
            self.error.emit(message)
        if not candidates:
            return False
        newest = candidates[0]
        what = Path(newest.project_path or newest.source_path or "untitled").name
        answer = dialogs.ask(self.widget, "Recover work",
                             f"MangaColor did not close properly. Recover the autosaved work on {what}?")
        if answer != "yes":
            for candidate in candidates:
                proj.discard_autosave(candidate.path)
            return False
        try:
            project = proj.load_project(newest.path)
        except MangaColorError as exc:
            logger.debug("recovery failed", exc_info=True)
            moved = proj.set_aside_autosave(newest.path)
            where = f"it was moved to {moved}" if moved is not None else "it was deleted"
            self.error.emit(f"the autosaved work could not be recovered ({exc}); {where}")
            return False
        self.doc.set_project(project, Path(newest.project_path) if newest.project_path else None)
        self.doc.mark_dirty()
        for candidate in candidates:
            proj.discard_autosave(candidate.path)
        self.loaded.emit()
        return True

    # ------------------------------------------------------------------ export

    def export(self, choice: dialogs.ExportChoice, flats: np.ndarray | None) -> Job | None:
        """Export the page through ``core.export`` in the background."""
        if not self.doc.has_page:
            return None
        snapshot, line = self.doc.snapshot(), self.doc.line_gray
        if snapshot.result is None:
            self.error.emit("nothing to export yet: colorize the page first (Ctrl+Enter)")
            return None

        def work() -> Path:
            from mangacolor_app.qt.exporting import export_snapshot

            return export_snapshot(snapshot, choice, flats, line)

        return self._run(work, lambda p: self.saved.emit(str(p)), f"Exporting {choice.path.name}…")


def describe_error(exc: BaseException) -> str:
    """User-facing text of an exception (re-exported for the window)."""
    return error_text(exc)
