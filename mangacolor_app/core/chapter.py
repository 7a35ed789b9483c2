"""Chapters: the pages of a folder or a .cbz archive, processed one at a time, resumably.

:func:`list_pages` lists pages in natural order (``page2`` before ``page10``) as :class:`PageSource`
objects that read their bytes only when asked; :class:`ChapterSummary` is what a run of them did
(the one page loop is ``mangacolor_app.batch.run_pages``). :func:`write_cbz` packs pages back into a
``.cbz``. Decoding goes through :mod:`mangacolor_app.core.imageio` (float32 HWC RGB in [0, 1]); this module moves bytes and paths.
Listing, archive reading and packing live in :mod:`mangacolor_app.core.chapter_pages` and are
re-exported here, so this stays the one import path for chapters.
"""

from __future__ import annotations

import logging
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

__all__ = [
    "IMAGE_EXTENSIONS", "HINTS_SUFFIX", "OUTPUT_MARKER", "MAX_MEMBER_BYTES", "PageSource", "ChapterSummary",
    "natural_key", "list_pages", "find_hints_for", "read_cbz_member", "write_cbz",
]  # fmt: skip

logger = logging.getLogger(__name__)


@dataclass
class ChapterSummary:
    """What a run over a chapter's pages did (``mangacolor_app.batch.run_pages``).

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
