"""Chapters: the pages of a folder or a .cbz archive, processed one at a time, resumably.

:func:`list_pages` lists pages in natural order (``page2`` before ``page10``) as :class:`PageSource`
objects that read their bytes only when asked. :class:`ChapterJob` runs a per-page callable (the
colorizer is passed in: no onnxruntime, torch or Qt here), skips pages already done, reports a bad
page and goes on. :func:`write_cbz` packs pages back into a ``.cbz``. Decoding goes through
:mod:`mangacolor_app.core.imageio` (float32 HWC RGB in [0, 1]); this module moves bytes and paths.
Listing, archive reading and packing live in :mod:`mangacolor_app.core.chapter_pages` and are
re-exported here, so this stays the one import path for chapters.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mangacolor_app.core.chapter_pages import (  # noqa: F401 - re-exported: this is the public import path
    _CHUNKS,
    _OTHER_OUTPUT_MARKERS,
    HINTS_SUFFIX,
    IMAGE_EXTENSIONS,
    MAX_MEMBER_BYTES,
    OUTPUT_MARKER,
    PageSource,
    _check_member_name,
    _hint_candidates,
    _is_image_name,
    _list_cbz,
    _list_folder,
    _load_member,
    find_hints_for,
    list_pages,
    natural_key,
    read_cbz_member,
    write_cbz,
)
from mangacolor_app.core.errors import CancelledError, ImageSaveError, MangaColorError

__all__ = [
    "IMAGE_EXTENSIONS", "HINTS_SUFFIX", "OUTPUT_MARKER", "MAX_MEMBER_BYTES", "PageSource", "ChapterSummary",
    "ChapterJob", "PageFunction", "ProgressCallback", "natural_key", "list_pages", "find_hints_for",
    "read_cbz_member", "write_cbz",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: ``fn(page, output_path)``: process one page and write its result to ``output_path`` (atomically).
PageFunction = Callable[[PageSource, Path], object]
#: ``progress(pages_finished, pages_total)``, called after every page (done, skipped or failed).
ProgressCallback = Callable[[int, int], None]


@dataclass
class ChapterSummary:
    """What a :class:`ChapterJob` run did.

    Attributes:
        total: number of pages in the chapter.
        done: pages processed in this run.
        skipped: pages whose output already existed (not redone).
        failed: ``(page name, message)`` for each page that could not be processed.
        outputs: the output file of every done or skipped page, in page order.
        cancelled: True when the run stopped early because it was cancelled.
    """

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when no page failed and the run was not cancelled."""
        return not self.failed and not self.cancelled

    def summary_text(self) -> str:
        """A few lines for the user: counts, then one line per failed page with its reason."""
        text = f"{self.done} done, {self.skipped} skipped, {len(self.failed)} failed of {self.total} pages"
        if self.cancelled:
            text += " (cancelled)"
        lines = [text]
        lines += [f"  failed: {name}: {message}" for name, message in self.failed]
        return "\n".join(lines)


def _unique_stems(pages: Sequence[PageSource]) -> list[str]:
    """Output stems for ``pages``: the page stem, or its sanitised full name when stems collide."""
    counts: dict[str, int] = {}
    for page in pages:
        counts[page.stem] = counts.get(page.stem, 0) + 1
    return [
        page.stem if counts[page.stem] == 1 else re.sub(r"[^\w\-]+", "_", page.name).strip("_")
        for page in pages
    ]


class ChapterJob:
    """Run a per-page callable over a chapter, one page at a time, resumably.

    Page outputs are ``<output_dir>/<stem><marker><extension>`` (``007.color.png``); one that exists
    is skipped unless ``force`` (``process`` must write atomically, so an existing file is a
    finished one). A page that raises is logged and recorded in :attr:`ChapterSummary.failed`, and
    the job goes on. No page data is kept between pages: memory does not grow with the chapter.

    Args:
        pages: the chapter's pages (see :func:`list_pages`).
        output_dir: folder for the outputs (created if missing).
        process: ``process(page, output_path)`` colorizes one page and writes ``output_path``.
        extension: output extension, with the dot (``.png``, ``.psd``, ...).
        marker: inserted between stem and extension; ``""`` keeps plain names.
        force: redo pages whose output exists.
        progress: ``progress(finished, total)`` after each page.
        cancel: polled before each page; True stops the run (the summary says ``cancelled``).
    """

    def __init__(
        self,
        pages: Sequence[PageSource],
        output_dir: str | os.PathLike[str],
        process: PageFunction,
        *,
        extension: str = ".png",
        marker: str = OUTPUT_MARKER,
        force: bool = False,
        progress: ProgressCallback | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        self.pages = list(pages)
        self.output_dir = Path(output_dir)
        self.process = process
        self.force = force
        self.progress = progress
        self.cancel = cancel
        ext = extension if extension.startswith(".") else f".{extension}"
        self._outputs = [self.output_dir / f"{stem}{marker}{ext}" for stem in _unique_stems(self.pages)]

    def output_path(self, index: int) -> Path:
        """The output file of page number ``index`` (0-based)."""
        return self._outputs[index]

    def run(self) -> ChapterSummary:
        """Process every page and return what happened.

        Raises:
            ImageSaveError: the output folder cannot be created. Page failures do not raise.
        """
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageSaveError(f"cannot create the output folder: {exc.strerror or exc}", self.output_dir) from exc
        summary = ChapterSummary(total=len(self.pages))
        for index, page in enumerate(self.pages):
            if self.cancel is not None and self.cancel():
                summary.cancelled = True
                break
            if not self._run_page(page, self._outputs[index], summary):
                break
            if self.progress is not None:
                self.progress(index + 1, summary.total)
        logger.info("chapter finished: %s", summary.summary_text())
        return summary

    def _run_page(self, page: PageSource, output: Path, summary: ChapterSummary) -> bool:
        """Process (or skip) one page, updating ``summary``; False when the run was cancelled."""
        if not self.force and output.is_file() and output.stat().st_size > 0:
            logger.debug("skipping %s: %s exists", page.display_name, output)
            summary.skipped += 1
            summary.outputs.append(output)
            return True
        try:
            self.process(page, output)
        except CancelledError:
            summary.cancelled = True
            return False
        except MangaColorError as exc:
            logger.warning("page %s failed: %s", page.display_name, exc)
            summary.failed.append((page.name, str(exc)))
            return True
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop a chapter
            logger.exception("page %s failed unexpectedly", page.display_name)
            summary.failed.append((page.name, f"{type(exc).__name__}: {exc}"))
            return True
        if not output.is_file():
            summary.failed.append((page.name, f"no output was written to {output}"))
            return True
        summary.done += 1
        summary.outputs.append(output)
        return True
