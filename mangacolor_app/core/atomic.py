"""Atomic file writes: write to a temporary file in the target folder, fsync, then ``os.replace``.

A reader never sees a half-written file: either the old file (when the write fails or is
interrupted) or the complete new one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from mangacolor_app.core.errors import ImageSaveError

__all__ = ["atomic_write", "atomic_write_bytes"]

logger = logging.getLogger(__name__)


def _make_temp(target: Path) -> Path:
    """Create an empty temporary file next to ``target`` and return its path.

    The file is created with mode 0o666 minus the umask, like a normal new file.

    Raises:
        ImageSaveError: the folder is missing, not a folder, or not writable.
    """
    folder = target.parent
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ImageSaveError(f"cannot save: the folder {folder} does not exist", target) from exc
        except PermissionError as exc:
            raise ImageSaveError(f"cannot save: no permission to write in the folder {folder}", target) from exc
        except OSError as exc:
            raise ImageSaveError(f"cannot save: {exc.strerror or exc}", target) from exc
        os.close(fd)
        return tmp
    raise ImageSaveError(f"cannot save: could not create a temporary file in {folder}", target)


def _copy_mode(source: Path, dest: Path) -> None:
    """Give ``dest`` the permission bits of ``source`` when ``source`` exists (best effort)."""
    try:
        mode = stat.S_IMODE(source.stat().st_mode)
    except OSError:
        return
    try:
        os.chmod(dest, mode)
    except OSError as exc:
        logger.debug("could not copy permissions of %s: %s", source, exc)


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s data to disk (best effort on platforms that cannot open files read-write)."""
    with open(path, "rb+") as handle:
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Flush a folder entry so that a rename survives a crash (POSIX only; ignored elsewhere)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        logger.debug("could not open %s to fsync it", folder)
        return
    try:
        os.fsync(fd)
    except OSError:
        logger.debug("could not fsync folder %s", folder)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists; log (do not raise) when it cannot be removed."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove temporary file %s: %s", path, exc)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Context manager yielding a temporary path to write instead of ``path``.

    The temporary file is created (empty) in the same folder as ``path`` so that the final
    ``os.replace`` is atomic. On normal exit the file is fsynced, given the permission bits of the
    file it replaces (if any) and moved over ``path``. If the body raises, the temporary file is
    removed and ``path`` is left untouched; an ``OSError`` (disk full, I/O error) is re-raised as
    ``ImageSaveError``, any other exception propagates unchanged.

    Args:
        path: the final file path.

    Yields:
        Path of the temporary file (the caller writes it, e.g. ``img.save(tmp, format="PNG")``).

    Raises:
        ImageSaveError: the folder is missing or not writable, writing failed with an OSError, or
            the final rename fails.
    """
    target = Path(path)
    tmp = _make_temp(target)
    try:
        yield tmp
        _fsync_file(tmp)
        _copy_mode(target, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        _remove_quietly(tmp)
        raise ImageSaveError(f"cannot save: {exc.strerror or exc}", target) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path``.

    Args:
        path: the final file path.
        data: the complete file contents.

    Returns:
        ``Path(path)``.

    Raises:
        ImageSaveError: the folder is missing or not writable, or the disk is full.
    """
    target = Path(path)
    with atomic_write(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
    return target
