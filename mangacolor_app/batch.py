"""Pages, chapters and batches behind ``mangacolor colorize`` (CLI side; user-facing lines).

Inputs are image files, folders of pages and ``.cbz`` archives (pages in natural order, see
:func:`mangacolor_app.core.chapter.list_pages`). The output (``-o``) is

* a file (one input page): its extension picks the format (``.png``, ``.tif``, ``.jpg``, ``.webp``,
  ``.psd``); it is always (re)written;
* a ``.cbz``: the pages are written to ``<out>.cbz.partial/`` then packed; the folder is removed
  once every page succeeded and kept otherwise (the next run resumes from it);
* a folder (created): ``<page stem>.<ext>`` per page (``--format``, default PNG), or
  ``<stem>.flats.png`` with ``--flats-only``; ``<stem>.color.<ext>`` when the output folder is an
  input folder, so that pages are never overwritten.

In a folder or ``.cbz`` output, archive pages keep their folders (``ch1/001.png``) and, with several
folders or archives as inputs, each input gets a folder of its own, so that chapters never
interleave (:mod:`mangacolor_app.batch_outputs`). An output that is, or links to, an input page,
archive or hint file is refused before anything is written (exit status 2). Pages in formats we do
not read (GIF, PSD...) are reported, not skipped silently; a ``.cbz`` that cannot be packed (full
disk) is a failure (exit status 1), its pages kept in the staging folder.

Folder and ``.cbz`` runs are resumable: a page whose output exists is skipped unless ``force``.
Pages are read, processed and written one at a time, so memory does not grow with the chapter.
A page that fails is reported in one line (no traceback) and the others go on, also when the
page's project file is damaged. Pages with transparency are composited over white paper.

Hints of a page, first found wins: ``--hints`` (a file for every page, or a folder holding
``<stem>.png``, ``<stem>.hints.png`` or ``<stem>_hints.png``); ``<page>.hints.png`` /
``<stem>.hints.png`` beside the page (or in the archive); the hint layer of an editor project file
``<page>.mcproj`` / ``<stem>.mcproj`` beside a page file (when :mod:`mangacolor_app.core.project`
is available). Hint images must have an alpha channel (RGBA: transparent where there is no hint);
an RGB hint image is refused, since every pixel of it would be a hint.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mangacolor_app.core.chapter import (
    IMAGE_EXTENSIONS,
    ChapterSummary,
    PageSource,
    find_hints_for,
    list_pages,
    write_cbz,
)
from mangacolor_app.batch_outputs import OutputPlan, refuse_overwriting_inputs, unique_names
from mangacolor_app.core.chapter_pages import list_unsupported
from mangacolor_app.core.composite import has_alpha
from mangacolor_app.core.errors import ImageSaveError, MangaColorError
from mangacolor_app.core.export import EXPORT_FORMATS
from mangacolor_app.core.imagesave import FORMATS, format_name

__all__ = ["BatchOptions", "OutputPlan", "UsageError", "collect_pages", "plan_output", "refuse_overwriting_inputs",
           "run_batch"]

logger = logging.getLogger(__name__)

#: Extension written for each canonical format.
#: The extension written for each export format (from the one table, ``core.imagesave.FORMATS``).
FORMAT_EXTENSIONS = {name: FORMATS[name][0] for name in set(EXPORT_FORMATS.values())}
_ARCHIVE_SUFFIXES = (".cbz", ".zip")
_PROJECT_SUFFIX = ".mcproj"


class UsageError(MangaColorError):
    """The command line asks for something impossible (exit status 2)."""


@dataclass
class BatchOptions:
    """What ``mangacolor colorize`` was asked to do (see the CLI help for each option)."""

    output: Path
    hints: Path | None = None
    format: str | None = None
    bit_depth: int = 8
    quality: int = 95
    preserve_ink: bool = True
    flats_only: bool = False
    force: bool = False
    quiet: bool = False
    unhinted: float | None = None


# ----------------------------------------------------------------------------------- inputs


def collect_pages(inputs: Sequence[Path]) -> tuple[list[PageSource], list[str]]:
    """The pages of every input, in input order (folders and archives in natural order).

    Returns:
        (pages, problems): one user-facing line per input that gave no page.
    """
    pages: list[PageSource] = []
    problems: list[str] = []
    for item in inputs:
        if item.is_dir() or (item.is_file() and item.suffix.lower() in _ARCHIVE_SUFFIXES):
            try:
                found = list_pages(item)
            except MangaColorError as exc:
                problems.append(str(exc).replace("\n", " "))
                continue
            for name in list_unsupported(item):
                kind = PurePosixPath(name).suffix.lstrip(".").upper()
                where = item / name if item.is_dir() else f"{item}:{name}"
                problems.append(f"{where}: {kind} pages are not supported (convert it to PNG, JPEG, TIFF, "
                                "WebP or BMP); skipped")
            if not found:
                problems.append(f"{item}: no page images in this {'folder' if item.is_dir() else 'archive'}")
            pages.extend(found)
        elif item.is_file():
            hint_path = find_hints_for(item)
            hints = PageSource(hint_path.name, hint_path) if hint_path is not None else None
            pages.append(PageSource(item.name, item, hints=hints))
        else:
            problems.append(f"{item}: file not found")
    return pages, problems


def _is_single_file_input(inputs: Sequence[Path]) -> bool:
    return len(inputs) == 1 and inputs[0].is_file() and inputs[0].suffix.lower() not in _ARCHIVE_SUFFIXES


def _format_of(opts: BatchOptions, default: str) -> str:
    """Canonical format from --format (or ``default``); UsageError for an unknown name."""
    name = opts.format or default
    fmt = format_name(name, FORMAT_EXTENSIONS)
    if fmt is None:
        raise UsageError(f"unknown format {name.lower().lstrip('.')!r} (use png, tiff, jpeg, webp or psd)")
    return fmt


def plan_output(inputs: Sequence[Path], pages: Sequence[PageSource], opts: BatchOptions) -> OutputPlan:
    """Decide the output kind, format and per-page paths; creates the output folder.

    Raises:
        UsageError: contradictory format options, a file output for several pages, PSD in a cbz.
        ImageSaveError: the output folder cannot be created.
    """
    out = opts.output
    suffix = out.suffix.lower()
    if suffix == ".cbz":
        return _plan_cbz(pages, opts, inputs)
    is_file_name = suffix in (*IMAGE_EXTENSIONS, *(f".{k}" for k in EXPORT_FORMATS)) and not out.is_dir()
    if is_file_name and _is_single_file_input(inputs):
        fmt = format_name(suffix, FORMAT_EXTENSIONS) or suffix.lstrip(".")
        if opts.format and _format_of(opts, fmt) != fmt:
            raise UsageError(f"--format {opts.format} contradicts the output file name {out.name}")
        if opts.flats_only and fmt != "png":
            raise UsageError(f"--flats-only writes PNG files, not {out.name}")
        return OutputPlan("file", out, [out] * len(pages), fmt, resumable=False)
    if is_file_name and len(pages) > 1:
        raise UsageError(f"{out}: a file name, but there are {len(pages)} pages: give a folder or a .cbz")
    _make_folder(out)
    fmt = "png" if opts.flats_only else _format_of(opts, "png")
    marker = ".flats" if opts.flats_only else (".color" if _is_input_folder(out, inputs) else "")
    names = unique_names(pages, marker, FORMAT_EXTENSIONS[fmt], inputs)
    return OutputPlan("folder", out, [out / n for n in names], fmt, resumable=True)


def _plan_cbz(pages: Sequence[PageSource], opts: BatchOptions, inputs: Sequence[Path]) -> OutputPlan:
    fmt = "png" if opts.flats_only else _format_of(opts, "png")
    if fmt == "psd":
        raise UsageError(f"{opts.output.name}: a .cbz holds images; use --format png, jpeg, webp or tiff")
    staging = opts.output.with_name(opts.output.name + ".partial")
    names = unique_names(pages, ".flats" if opts.flats_only else "", FORMAT_EXTENSIONS[fmt], inputs)
    return OutputPlan("cbz", opts.output, [staging / n for n in names], fmt, resumable=True, staging=staging)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageSaveError(f"cannot create the output folder ({exc.strerror or exc})", folder) from exc


def _is_input_folder(out: Path, inputs: Sequence[Path]) -> bool:
    """True when ``out`` is one of the input folders or the folder of an input file."""
    folders = {(i if i.is_dir() else i.parent).resolve() for i in inputs if i.exists()}
    return out.resolve() in folders


# ----------------------------------------------------------------------------------- hints


def _explicit_hints(hints_arg: Path | None, page: PageSource) -> Path | None:
    """The --hints file for ``page``: the file itself, or ``<stem>.png`` etc. in a --hints folder."""
    if hints_arg is None or not hints_arg.is_dir():
        return hints_arg
    for suffix in (".png", ".hints.png", "_hints.png"):
        candidate = hints_arg / f"{page.stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _project_beside(page: PageSource) -> Path | None:
    """An editor project file ``<page>.mcproj`` / ``<stem>.mcproj`` beside a page file."""
    if page.member is not None:
        return None
    for name in (page.path.name + _PROJECT_SUFFIX, page.path.stem + _PROJECT_SUFFIX):
        candidate = page.path.with_name(name)
        if candidate.is_file():
            return candidate
    return None


def _project_hints(path: Path) -> Any:
    """The hint layer of a project file as (H, W, 4) uint8, or None when core.project is absent."""
    try:
        from mangacolor_app.core.project import load_project
    except ImportError:
        logger.debug("core.project not available; ignoring %s", path)
        return None
    return load_project(path).hints


def load_page_hints(page: PageSource, hints_arg: Path | None, shape_hw: tuple[int, int]) -> Any:
    """The page's hint layer fitted to ``shape_hw``: (H, W, 4) RGBA as the file stores it (uint8, or
    uint16 for a 16-bit hint image: ``core.color.to_float32`` gives the [0, 1] layer), or None (no hint pixel).

    Hint images must have an alpha channel (:mod:`mangacolor_app.core.pagefile`).

    Raises:
        ImageLoadError, HintError, ProjectError: unreadable hints, hints without alpha, or hints of
            another aspect ratio.
    """
    from mangacolor_app.core.hints import fit_hints
    from mangacolor_app.core.pagefile import hints_from_page

    explicit = _explicit_hints(hints_arg, page)
    source: PageSource | None = PageSource(explicit.name, explicit) if explicit is not None else page.hints
    if source is not None:
        where = Path(source.display_name) if source.member is not None else source.path
        hints = hints_from_page(source.load(as_int=True), where)
    else:
        project = _project_beside(page)
        hints = _project_hints(project) if project is not None else None
        where = project
    if not has_alpha(hints):
        return None
    return fit_hints(hints, shape_hw, path=where)


# ----------------------------------------------------------------------------------- running

#: ``process(page, output_path)``: make one page's output (raises on failure).
Processor = Callable[[PageSource, Path], None]


@dataclass
class _Console:
    """User-facing lines and the chapter progress bar (tqdm on a terminal)."""

    quiet: bool
    bar: Any = None

    def start(self, total: int) -> None:
        from tqdm import tqdm

        disable = self.quiet or not sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="page", file=sys.stderr, disable=disable, dynamic_ncols=True)

    def info(self, line: str) -> None:
        if not self.quiet:
            self._write(line, sys.stdout)

    def error(self, line: str) -> None:
        self._write(f"mangacolor: error: {line}".replace("\n", " "), sys.stderr)

    def _write(self, line: str, stream: Any) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _failure_text(page: PageSource, exc: BaseException) -> str:
    """One line naming the page (the error's own message when it names its file)."""
    if isinstance(exc, MangaColorError) and exc.path:
        return str(exc).replace("\n", " ")
    return f"{page.display_name}: {exc}".replace("\n", " ")


def run_pages(
    pages: Sequence[PageSource], plan: OutputPlan, process: Processor, errors: tuple[type[BaseException], ...],
    console: _Console, force: bool,
) -> ChapterSummary:
    """Process the pages one at a time; a failing page is reported and the others go on."""
    summary = ChapterSummary(total=len(pages))
    console.start(len(pages))
    try:
        for page, output in zip(pages, plan.outputs):
            if plan.resumable and not force and output.is_file() and output.stat().st_size > 0:
                summary.skipped += 1
                summary.outputs.append(output)
            else:
                _run_one(page, output, process, errors, console, summary)
                gc.collect()  # page-sized arrays caught in reference cycles (psd-tools) go now, not later
            console.step(page.display_name)
    finally:
        console.close()
    return summary


def _run_one(page: PageSource, output: Path, process: Processor, errors: tuple[type[BaseException], ...],
             console: _Console, summary: ChapterSummary) -> None:
    try:
        process(page, output)
    except (MangaColorError, ValueError, MemoryError, OSError, *errors) as exc:
        logger.debug("page %s failed", page.display_name, exc_info=True)
        console.error(_failure_text(page, exc))
        summary.failed.append((page.display_name, _failure_text(page, exc)))
        return
    summary.done += 1
    summary.outputs.append(output)
    console.info(f"{page.display_name if page.member else page.path} -> {output}")


def _pack_cbz(plan: OutputPlan, summary: ChapterSummary, console: _Console) -> bool:
    """Write the .cbz from the staged pages (their folders kept); drop the staging folder when every
    page succeeded. False (reported, staging kept) when the archive cannot be written."""
    if not summary.outputs:
        return True
    staging = plan.staging or plan.target.parent
    try:
        write_cbz(plan.target, [(p.relative_to(staging).as_posix(), p) for p in summary.outputs])
    except MangaColorError as exc:
        console.error(str(exc))
        console.info(f"kept {staging} (run again to pack it)")
        return False
    console.info(f"wrote {plan.target} ({len(summary.outputs)} pages)")
    if summary.ok and plan.staging is not None:
        shutil.rmtree(plan.staging, ignore_errors=True)
    elif plan.staging is not None:
        console.info(f"kept {plan.staging} (run again to resume)")
    return True


def _cbz_already_done(plan: OutputPlan, force: bool) -> bool:
    return plan.kind == "cbz" and not force and plan.target.is_file() and not (plan.staging and plan.staging.exists())


def run_batch(
    inputs: Sequence[Path], opts: BatchOptions,
    make_processor: Callable[[OutputPlan], tuple[Processor, tuple[type[BaseException], ...]]],
) -> int:
    """Run ``mangacolor colorize``; returns the exit status (0 ok, 1 some page failed, 2 usage).

    ``make_processor(plan)`` is called only when some page has to be made (so a fully resumed run
    loads no model); it may raise MangaColorError (reported by the caller, exit status 2).
    """
    console = _Console(opts.quiet)
    pages, problems = collect_pages(inputs)
    for line in problems:
        console.error(line)
    if not pages:
        return 2 if not problems else 1
    if opts.hints is not None and not opts.hints.exists():
        console.error(f"{opts.hints}: hint file not found")
        return 2
    plan = plan_output(inputs, pages, opts)
    refuse_overwriting_inputs(plan, inputs, pages, opts.hints)
    if _cbz_already_done(plan, opts.force):
        console.info(f"{plan.target} exists: {len(pages)} pages skipped (--force to redo)")
        return 1 if problems else 0
    if plan.staging is not None:
        _make_folder(plan.staging)
    if plan.kind != "file":
        for folder in sorted({o.parent for o in plan.outputs}):
            _make_folder(folder)  # chapter sub-folders (ch1/, ch2/) of a folder or cbz output
    todo = [o for o in plan.outputs if opts.force or not plan.resumable or not (o.is_file() and o.stat().st_size)]
    process, errors = make_processor(plan) if todo else (_never, ())
    summary = run_pages(pages, plan, process, errors, console, opts.force)
    packed = _pack_cbz(plan, summary, console) if plan.kind == "cbz" else True
    if len(pages) > 1:
        console.info(summary.summary_text())
    return 1 if (summary.failed or problems or not packed) else 0


def _never(page: PageSource, output: Path) -> None:  # pragma: no cover - nothing to do
    raise AssertionError(f"{page.name}: nothing should be processed ({os.fspath(output)})")
