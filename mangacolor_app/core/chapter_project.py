"""Chapter projects: a folder or ``.cbz`` of pages, each page with its own hints and result.

A chapter project is a folder ``<chapter>.mcchapter`` beside the chapter's folder or archive. It
holds ``chapter.json`` (format, the source, the pages in order with their state) and one ordinary
project file per page that was worked on (``NNN-<stem>.mcproj``, see
:mod:`mangacolor_app.core.project`). Pages never touched have no file: they are read from the
source when opened. Every write is atomic. States: ``untouched`` (no hint, no result), ``hinted``,
``coloured`` (has a result).

:meth:`ChapterProject.references_before` gives the project files of the pages before a page that
carry hints: the colour-memory references offered for it. :func:`export_chapter` writes every
coloured page (progress and cancel callbacks; the page loop of a worker thread).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mangacolor_app.core.atomic import atomic_write_bytes
from mangacolor_app.core.chapter import PageSource, list_pages
from mangacolor_app.core.errors import CancelledError, ProjectError
from mangacolor_app.core.project import Project, load_project, save_project

__all__ = ["ChapterProject", "ChapterPage", "CHAPTER_SUFFIX", "STATES", "is_chapter_path", "project_state",
           "export_chapter"]

logger = logging.getLogger(__name__)

CHAPTER_SUFFIX = ".mcchapter"
MANIFEST = "chapter.json"
FORMAT = 1
STATES = ("untouched", "hinted", "coloured")


def is_chapter_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` opens as a chapter: a folder, a ``.cbz``/``.zip`` or a ``.mcchapter`` folder."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (".cbz", ".zip", CHAPTER_SUFFIX) or p.name == MANIFEST


def project_state(project: Project) -> str:
    """``coloured`` (has a result), ``hinted`` (some hint pixel) or ``untouched``."""
    if project.result is not None:
        return "coloured"
    return "hinted" if bool((project.hints[..., 3] > 0).any()) else "untouched"


@dataclass
class ChapterPage:
    """One page: its source, the project file name inside the chapter folder, and its state."""

    source: PageSource
    file: str
    state: str = "untouched"

    @property
    def name(self) -> str:
        return self.source.name


class ChapterProject:
    """The pages of a chapter and where their work is kept.

    Args:
        folder: the ``.mcchapter`` folder; source: the chapter's folder or archive; pages: in order.
    """

    def __init__(self, folder: Path, source: Path, pages: list[ChapterPage]) -> None:
        self.folder = folder
        self.source = source
        self.pages = pages

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ChapterProject:
        """Open a chapter from its folder/``.cbz`` (resuming its ``.mcchapter`` if there is one) or
        from the ``.mcchapter`` folder itself.

        Raises:
            ProjectError: a corrupt ``chapter.json``, or a source that has no pages any more.
            ImageLoadError / MangaColorError: the folder or archive cannot be listed.
        """
        p = Path(path)
        if p.name == MANIFEST:
            p = p.parent
        folder = p if p.suffix.lower() == CHAPTER_SUFFIX else p.with_name(p.name + CHAPTER_SUFFIX)
        if (folder / MANIFEST).is_file():
            return cls._read(folder)
        if p.suffix.lower() == CHAPTER_SUFFIX:
            raise ProjectError("is not a chapter project (no chapter.json)", p)
        sources = list_pages(p)
        if not sources:
            raise ProjectError(f"no page images in this {'folder' if p.is_dir() else 'archive'}", p)
        pages = [ChapterPage(s, f"{i + 1:03d}-{_safe(s.stem)}.mcproj") for i, s in enumerate(sources)]
        return cls(folder, p, pages)

    @classmethod
    def _read(cls, folder: Path) -> ChapterProject:
        try:
            data = json.loads((folder / MANIFEST).read_text("utf-8"))
            if data.get("format") != FORMAT:
                raise ProjectError(f"unknown chapter format {data.get('format')!r}", folder / MANIFEST)
            source = Path(data["source"])
            pages = []
            for entry in data["pages"]:
                page_path = source if entry.get("member") is not None else source / entry["name"]
                src = PageSource(entry["name"], page_path, member=entry.get("member"))
                state = entry.get("state", "untouched")
                pages.append(ChapterPage(src, _safe_file(entry["file"]), state if state in STATES else "untouched"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProjectError(f"corrupt chapter file ({exc})", folder / MANIFEST) from exc
        return cls(folder, source, pages)

    # ------------------------------------------------------------------ pages

    def page_file(self, index: int) -> Path:
        """The project file of page ``index`` (it may not exist yet)."""
        return self.folder / self.pages[index].file

    def load_page(self, index: int) -> tuple[Project, Path]:
        """Page ``index`` as a project (its saved project, or a new one from the source) and its file.

        Raises:
            ProjectError / ImageLoadError: unreadable project file or page.
        """
        file = self.page_file(index)
        if file.is_file():
            return load_project(file), file
        source = self.pages[index].source
        page = source.load()
        return Project.new(page.rgb, source_path=source.display_name, dpi=page.dpi), file

    def record(self, index: int, project: Project) -> None:
        """Update page ``index``'s state from ``project`` (after it was saved to :meth:`page_file`)."""
        self.pages[index].state = project_state(project)
        self.write_manifest()

    def save_page(self, index: int, project: Project) -> Path:
        """Save page ``index`` atomically and update the chapter file. Raises ImageSaveError/ProjectError."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = save_project(self.page_file(index), project)
        self.record(index, project)
        return path

    def write_manifest(self) -> None:
        """Write ``chapter.json`` atomically (creates the chapter folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "source": str(self.source.resolve()),
                "pages": [{"name": p.source.name, "member": p.source.member, "file": p.file, "state": p.state}
                          for p in self.pages]}
        atomic_write_bytes(self.folder / MANIFEST, json.dumps(data, indent=1).encode("utf-8"))

    def references_before(self, index: int) -> list[Path]:
        """Project files of the pages before ``index`` that have hints (coloured ones first, nearest first)."""
        found = [(p.state != "coloured", index - i, self.page_file(i)) for i, p in enumerate(self.pages[:index])
                 if p.state in ("hinted", "coloured") and self.page_file(i).is_file()]
        return [f for *_, f in sorted(found)]


def _safe(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:60] or "page"


def _safe_file(name: str) -> str:
    """A page file name from chapter.json, refused if it leaves the chapter folder."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"unsafe page file name {name!r}")
    return name


def export_chapter(chapter: ChapterProject, out_dir: Path, export_one: Callable[[Project, Path], Path],
                   suffix: str = ".png", progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> tuple[list[Path], list[str]]:
    """Export every coloured page to ``out_dir/<stem><suffix>`` with ``export_one(project, path)``.

    Returns:
        (written files, names of the pages skipped because they are not coloured).

    Raises:
        CancelledError: ``cancel()`` returned True (files written so far stay).
        MangaColorError: a page could not be read or written (names it).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[str] = []
    total = len(chapter.pages)
    for i, page in enumerate(chapter.pages):
        if cancel is not None and cancel():
            raise CancelledError("chapter export cancelled")
        if page.state != "coloured" or not chapter.page_file(i).is_file():
            skipped.append(page.name)
        else:
            project = load_project(chapter.page_file(i))
            if project.result is None:
                skipped.append(page.name)
            else:
                written.append(export_one(project, out_dir / f"{i + 1:03d}-{_safe(page.source.stem)}{suffix}"))
        if progress is not None:
            progress(i + 1, total)
    return written, skipped
