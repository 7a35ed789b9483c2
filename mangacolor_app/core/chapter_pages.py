"""Chapter pages: listing a folder or a ``.cbz`` in natural order, reading members, packing archives.

:func:`list_pages` lists pages in natural order (``page2`` before ``page10``) as :class:`PageSource`
objects that read their bytes only when asked; :func:`read_cbz_member` reads one archive member with a
size guard; :func:`write_cbz` packs pages back into a ``.cbz``. Archive member paths that escape the
archive (absolute, drive letters, ``..``) are refused. Decoding goes through
:mod:`mangacolor_app.core.imageio` (float32 HWC RGB in [0, 1]); this module moves bytes and paths.
Everything here is re-exported by :mod:`mangacolor_app.core.chapter`, the public import path.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import ImageLoadError, ImageSaveError, MangaColorError
from mangacolor_app.core.imageio import Page, load_image

__all__ = [
    "HINTS_SUFFIX",
    "IMAGE_EXTENSIONS",
    "MAX_MEMBER_BYTES",
    "OUTPUT_MARKER",
    "PageSource",
    "UNSUPPORTED_IMAGE_EXTENSIONS",
    "find_hints_for",
    "list_pages",
    "list_unsupported",
    "natural_key",
    "read_cbz_member",
    "write_cbz",
]

logger = logging.getLogger(__name__)

#: Lower-case file extensions treated as page images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
#: Suffix of a hint layer saved beside its page (``page.png.hints.png`` or ``page.hints.png``).
HINTS_SUFFIX = ".hints.png"
#: Marker in the names of our own outputs (``page.color.png``), which are never listed as pages.
OUTPUT_MARKER = ".color"
#: Other markers of our outputs (flats-only exports).
_OTHER_OUTPUT_MARKERS = (".flats",)
#: Largest archive member read into memory (decompressed), a guard against zip bombs.
MAX_MEMBER_BYTES = 512 * 1024 * 1024

_CHUNKS = re.compile(r"(\d+)")


def _part_key(part: str) -> tuple[tuple[int, int, str], ...]:
    """Natural key of one path component: digit runs as numbers, text case-insensitively."""
    keys: list[tuple[int, int, str]] = []
    for index, chunk in enumerate(_CHUNKS.split(part)):
        if index % 2:
            keys.append((0, int(chunk), ""))
        elif chunk:
            keys.append((1, 0, chunk.casefold()))
    return tuple(keys)


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key ordering file names or member paths as people do: ``page2`` before ``page10``.

    Paths compare folder by folder (``ch2/p9`` < ``ch2/p10`` < ``ch10/p1``, and every page of
    ``Chapter 1/`` before ``Chapter 1 extra/``); within a component, runs of digits compare as numbers
    and text case-insensitively. Ties (``p01`` vs ``p1``) are broken by the plain name: a total order.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return (tuple(_part_key(p) for p in parts), name)


#: Extensions of images that are not supported as pages (reported, never skipped silently).
UNSUPPORTED_IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".gif", ".psd", ".psb", ".pdf", ".heic", ".heif", ".avif", ".jxl", ".svg", ".kra", ".clip", ".xcf",
     ".tga", ".ico", ".jp2", ".dds", ".exr", ".ora"})


def unsupported_pages(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that look like pages in a format we do not read (``.gif``, ``.psd``...)."""
    found = []
    for name in names:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if base and not base.startswith(".") and not name.startswith("__MACOSX/") \
                and os.path.splitext(base.lower())[1] in UNSUPPORTED_IMAGE_EXTENSIONS:
            found.append(name)
    return sorted(found, key=natural_key)


def list_unsupported(folder_or_cbz: str | os.PathLike[str]) -> list[str]:
    """Files (folder) or members (archive) of a chapter that are images in an unsupported format.

    Returns an empty list when the chapter cannot be listed (:func:`list_pages` reports that).
    """
    path = Path(folder_or_cbz)
    try:
        if path.is_dir():
            return unsupported_pages(e.name for e in os.scandir(path) if e.is_file())
        with zipfile.ZipFile(path) as zf:
            return unsupported_pages(i.filename for i in zf.infolist() if not i.is_dir())
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        return []


def _is_image_name(name: str) -> bool:
    """True for a page image name: an image extension, not hidden, not a hint layer or our output."""
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    if not base or base.startswith(".") or lower.endswith(HINTS_SUFFIX):
        return False
    stem, ext = os.path.splitext(lower)
    if ext not in IMAGE_EXTENSIONS:
        return False
    return not any(stem.endswith(marker) for marker in (OUTPUT_MARKER, *_OTHER_OUTPUT_MARKERS))


def _check_member_name(name: str, archive: Path) -> None:
    """Raise ImageLoadError when a member name is absolute (``/x``, ``C:/x``) or contains ``..``."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(name).drive or ".." in posix.parts:
        raise ImageLoadError(
            f"unsafe archive member {name!r}: its path leaves the archive (absolute or '..'); "
            "refusing to read it",
            archive,
        )


@dataclass(frozen=True)
class PageSource:
    """One page of a chapter: a file in a folder, or a member of a ``.cbz`` (read only on demand).

    Attributes:
        name: the file name, or the member's path inside the archive (``/``-separated).
        path: the image file, or the archive holding the member.
        member: the member name inside ``path`` for an archive page, else None.
        hints: the page's hint layer (``<page>.hints.png`` or ``<stem>.hints.png``), if any.
    """

    name: str
    path: Path
    member: str | None = None
    hints: PageSource | None = field(default=None, compare=False)

    @property
    def stem(self) -> str:
        """The page's base name without folders or extension (``ch1/007.jpg`` -> ``007``)."""
        return PurePosixPath(self.name).stem

    @property
    def display_name(self) -> str:
        """``archive.cbz:member`` for archive pages, the file name otherwise (for messages)."""
        return f"{self.path.name}:{self.member}" if self.member is not None else self.path.name

    def read_bytes(self) -> bytes:
        """The page file's bytes; ImageLoadError when missing, unreadable, unsafe or too large."""
        if self.member is not None:
            return read_cbz_member(self.path, self.member)
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise ImageLoadError(f"cannot read the page: {exc.strerror or exc}", self.path) from exc

    def load(self, max_pixels: int | None = None, *, as_int: bool = False) -> Page:
        """Decode the page: a :class:`~mangacolor_app.core.imageio.Page` (rgb (H, W, 3) float32 [0, 1];
        the file's uint8/uint16 with ``as_int``, see ``core.imageio.load_image``).

        Raises:
            ImageLoadError: unreadable, corrupt or unsafe page (the message names the page).
            ImageTooLargeError: more pixels than ``max_pixels`` / the configured limit.
        """
        if self.member is None:
            return load_image(self.path, max_pixels=max_pixels, as_int=as_int)
        return _load_member(self, max_pixels, as_int)


def _load_member(source: PageSource, max_pixels: int | None, as_int: bool = False) -> Page:
    """Decode an archive member through a temporary file (load_image reads paths); errors name
    ``archive:member``."""
    import tempfile  # noqa: PLC0415 - only archive pages need it

    data = source.read_bytes()
    suffix = PurePosixPath(source.name).suffix
    with tempfile.TemporaryDirectory(prefix="mangacolor-page-") as folder:
        tmp = Path(folder) / f"page{suffix}"
        tmp.write_bytes(data)
        del data
        try:
            return load_image(tmp, max_pixels=max_pixels, as_int=as_int)
        except MangaColorError as exc:
            raise type(exc)(exc.reason, Path(source.display_name)) from exc


def read_cbz_member(archive: str | os.PathLike[str], member: str) -> bytes:
    """Read one member of a zip archive into memory and return its decompressed bytes.

    Raises:
        ImageLoadError: the archive is unreadable or not a zip, the member is missing, its path
            escapes the archive, or it is larger than :data:`MAX_MEMBER_BYTES`.
    """
    path = Path(archive)
    _check_member_name(member, path)
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise ImageLoadError(f"archive member {member!r} is too large ({info.file_size} bytes)", path)
            with zf.open(info) as handle:
                data = handle.read(MAX_MEMBER_BYTES + 1)
    except KeyError as exc:
        raise ImageLoadError(f"the archive has no member {member!r}", path) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ImageLoadError(f"cannot read member {member!r} of the archive: {exc}", path) from exc
    if len(data) > MAX_MEMBER_BYTES:
        raise ImageLoadError(f"archive member {member!r} is too large", path)
    return data


def _hint_candidates(name: str) -> tuple[str, str]:
    """The two accepted hint names for page ``name``: ``<name>.hints.png``, ``<stem>.hints.png``."""
    posix = PurePosixPath(name)
    return f"{name}{HINTS_SUFFIX}", str(posix.with_name(posix.stem + HINTS_SUFFIX))


def find_hints_for(page_path: str | os.PathLike[str]) -> Path | None:
    """The hint layer beside a page: ``<page>.hints.png`` (``p1.png.hints.png``), else
    ``<stem>.hints.png`` (``p1.hints.png``); None when neither exists."""
    page = Path(page_path)
    for candidate in _hint_candidates(page.name):
        hint_path = page.with_name(candidate)
        if hint_path.is_file():
            return hint_path
    return None


def _list_folder(folder: Path) -> list[PageSource]:
    """Page images directly inside ``folder`` (not recursive), natural order, with their hints."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
    except OSError as exc:
        raise ImageLoadError(f"cannot list the folder: {exc.strerror or exc}", folder) from exc
    pages = []
    for name in sorted(filter(_is_image_name, names), key=natural_key):
        hint_path = find_hints_for(folder / name)
        hints = PageSource(hint_path.name, hint_path) if hint_path is not None else None
        pages.append(PageSource(name, folder / name, hints=hints))
    return pages


def _list_cbz(archive: Path) -> list[PageSource]:
    """Image members of ``archive``, natural order, with hint members; refuses unsafe names."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ImageLoadError(f"cannot open the archive (not a valid .cbz/zip?): {exc}", archive) from exc
    names = [info.filename for info in infos if not info.is_dir()]
    for name in names:
        _check_member_name(name, archive)
    present = set(names)
    pages = []
    for name in sorted(names, key=natural_key):
        if name.startswith("__MACOSX/") or not _is_image_name(name):
            continue
        hint_name = next((c for c in _hint_candidates(name) if c in present), None)
        hints = PageSource(hint_name, archive, member=hint_name) if hint_name is not None else None
        pages.append(PageSource(name, archive, member=name, hints=hints))
    return pages


def list_pages(folder_or_cbz: str | os.PathLike[str]) -> list[PageSource]:
    """The pages of a chapter in natural order.

    Args:
        folder_or_cbz: a folder of images (not searched recursively) or a ``.cbz``/``.zip``.

    Returns:
        One :class:`PageSource` per page image. Hint layers (``*.hints.png``), our own outputs
        (``*.color.*``, ``*.flats.*``), hidden files and non-images are left out; a page's hint
        layer is attached as ``PageSource.hints``.

    Raises:
        ImageLoadError: the path is missing or unreadable, the archive is not a zip, or an archive
            member's path escapes the archive (``..`` or absolute): the whole archive is refused.
    """
    path = Path(folder_or_cbz)
    if path.is_dir():
        return _list_folder(path)
    if not path.exists():
        raise ImageLoadError("no such folder or archive", path)
    if path.is_file() and (path.suffix.lower() in {".cbz", ".zip"} or zipfile.is_zipfile(path)):
        return _list_cbz(path)
    raise ImageLoadError("not a folder of pages or a .cbz archive", path)


def write_cbz(
    path: str | os.PathLike[str],
    files: Iterable[str | os.PathLike[str] | tuple[str, str | os.PathLike[str]]],
) -> Path:
    """Pack image files into a ``.cbz``, atomically, in natural order, without recompression.

    Args:
        path: the archive to write (replaced atomically if it exists); returned as a Path.
        files: paths (stored under their file name) or ``(archive_name, path)`` pairs. Members are
            sorted with :func:`natural_key`, stored (``ZIP_STORED``) and streamed from disk.

    Raises:
        ImageSaveError: duplicate or unsafe member names, a missing input file, or the archive
            cannot be written.
    """
    target = Path(path)
    entries: dict[str, Path] = {}
    for item in files:
        arcname, source = (item if isinstance(item, tuple) else (Path(item).name, item))
        arcname = str(arcname).replace("\\", "/")
        try:
            _check_member_name(arcname, target)
        except ImageLoadError as exc:
            raise ImageSaveError(exc.reason, target) from exc
        if arcname in entries:
            raise ImageSaveError(f"two pages would be stored as {arcname!r}", target)
        if not Path(source).is_file():
            raise ImageSaveError(f"cannot pack {source}: no such file", target)
        entries[arcname] = Path(source)
    try:
        with atomic_write(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for arcname in sorted(entries, key=natural_key):
                zf.write(entries[arcname], arcname)
    except OSError as exc:
        raise ImageSaveError(f"cannot write the archive: {exc.strerror or exc}", target) from exc
    logger.info("wrote %s (%d pages)", target, len(entries))
    return target
