"""Output names and the never-overwrite-an-input rule of ``mangacolor colorize`` (see :mod:`mangacolor_app.batch`).

* :func:`unique_names`: one output name per page. Archive members keep their folders (``ch1/001``), so
  chapters never interleave; with several folders or archives as inputs, each gets a folder named
  after it (``vol1/``, ``vol2/``); a name already taken gets ``-2``, ``-3``...
* :func:`refuse_overwriting_inputs`: an output that is, or links to, an input page, archive or hint
  file is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mangacolor_app.core.chapter import PageSource
from mangacolor_app.core.errors import MangaColorError

__all__ = ["OutputPlan", "OverwriteError", "refuse_overwriting_inputs", "unique_names"]

_ARCHIVE_SUFFIXES = (".cbz", ".zip")


@dataclass
class OutputPlan:
    """Where the pages go.

    Attributes:
        kind: "file", "folder" or "cbz".
        target: the output file, folder or archive.
        outputs: one output path per page, in page order.
        fmt: canonical export format (png, tiff, jpeg, webp, psd).
        resumable: skip pages whose output exists (folder and cbz runs).
        staging: the page folder of a cbz run, else None.
    """

    kind: str
    target: Path
    outputs: list[Path]
    fmt: str
    resumable: bool
    staging: Path | None = None


class OverwriteError(MangaColorError):
    """An output would replace one of the run's inputs (a usage error: exit status 2)."""


def _is_container(item: Path) -> bool:
    return item.is_dir() or (item.is_file() and item.suffix.lower() in _ARCHIVE_SUFFIXES)


def _container_prefixes(inputs: Sequence[Path]) -> dict[Path, str]:
    """With several folders/archives as inputs, a distinct folder name per input (its stem), so
    that no page of one chapter lands among another's; with one or none, no prefix."""
    containers = [i for i in inputs if _is_container(i)]
    if len(containers) < 2:
        return {}
    prefixes: dict[Path, str] = {}
    taken: set[str] = set()
    for item in containers:
        base = item.stem or "input"
        name, n = base, 2
        while name.casefold() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.casefold())
        prefixes[item.resolve()] = name
    return prefixes


def _page_stem_path(page: PageSource, prefixes: dict[Path, str]) -> str:
    """``[input/]folders/stem`` of a page: archive members keep their folders (``ch1/001``)."""
    rel = PurePosixPath(page.name.replace("\\", "/"))
    container = page.path if page.member is not None else page.path.parent
    prefix = prefixes.get(container.resolve()) if prefixes else None
    stem = str(rel.with_suffix("")) if page.member is not None else rel.stem
    return f"{prefix}/{stem}" if prefix else stem


def unique_names(pages: Sequence[PageSource], marker: str, ext: str,
                  inputs: Sequence[Path] = ()) -> list[str]:
    """``[input/][folders/]<stem><marker><ext>`` per page (``/``-separated); a taken name gets ``-2``..."""
    prefixes = _container_prefixes(inputs)
    names: list[str] = []
    taken: set[str] = set()
    for page in pages:
        stem = _page_stem_path(page, prefixes)
        name, n = f"{stem}{marker}{ext}", 2
        while name.casefold() in taken:
            name, n = f"{stem}-{n}{marker}{ext}", n + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file (hard links share it), else None."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _protected_inputs(inputs: Sequence[Path], pages: Sequence[PageSource], hints: Path | None) -> list[Path]:
    """Every file the run reads: page files, archives, hint files, the --hints file."""
    files = [i for i in inputs if i.is_file()]
    for page in pages:
        files.append(page.path)
        if page.hints is not None and page.hints.member is None:
            files.append(page.hints.path)
    if hints is not None and hints.is_file():
        files.append(hints)
    return files


def refuse_overwriting_inputs(plan: OutputPlan, inputs: Sequence[Path], pages: Sequence[PageSource],
                              hints: Path | None = None) -> None:
    """Refuse a run whose output is, or would overwrite, one of its inputs.

    Every output path (the file, the ``.cbz``, each page file) is compared with every input page,
    archive and hint file by resolved path (symbolic links followed) and by device and inode (hard
    links).

    Raises:
        OverwriteError: naming the output and the input it would replace.
    """
    protected = _protected_inputs(inputs, pages, hints)
    by_path = {p.resolve(): p for p in protected}
    by_id = {ident: p for p in protected if (ident := _identity(p)) is not None}
    targets = [plan.target, *plan.outputs] if plan.kind in ("file", "cbz") else list(plan.outputs)
    for out in targets:
        source = by_path.get(out.resolve())
        if source is None and (ident := _identity(out)) is not None:
            source = by_id.get(ident)
        if source is not None:
            same = "is" if out.resolve() == source.resolve() else "is a link to"
            raise OverwriteError(f"{out}: the output {same} the input {source}; it would be overwritten. "
                             "Choose another output name")


