"""Atomic file writes: write to a temporary file in the target folder, fsync, then ``os.replace``.

A reader never sees a half-written file: either the old file (when the write fails or is
interrupted) or the complete new one.

A writer holds an exclusive ``flock`` on its temporary file (POSIX) until the rename. A process
killed mid-save leaves its ``.NAME.<hex>.tmp`` behind unlocked; :func:`remove_stale_temps` (called
before every atomic write and by readers such as the project loader) deletes those of the same
target. Where ``flock`` does not exist, only temporary files older than :data:`STALE_AGE_S` go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from mangacolor_app.core.errors import ImageSaveError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["STALE_AGE_S", "atomic_write", "atomic_write_bytes", "remove_stale_temps"]

logger = logging.getLogger(__name__)

#: Without ``flock``, a temporary file this old (seconds) is taken as left by a dead writer.
STALE_AGE_S = 3600.0


def _temp_pattern(target: Path) -> re.Pattern[str]:
    """The names of our temporary files for ``target``: ``.NAME.<12 hex>.tmp``."""
    return re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{12}}\.tmp")


def _is_abandoned(tmp: Path) -> bool:
    """Whether no live writer holds ``tmp`` (its flock is free; without flock: it is old)."""
    if fcntl is None:
        try:
            return time.time() - tmp.stat().st_mtime > STALE_AGE_S
        except OSError:
            return False
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> int:
    """Delete the temporary files that crashed or killed writers left for ``path``.

    Only files named like ours for this very target (``.NAME.<12 hex>.tmp`` in its folder) and held
    by no live writer are removed; failures are logged, never raised.

    Returns:
        How many files were removed.
    """
    target = Path(path)
    pattern = _temp_pattern(target)
    try:
        names = [e.name for e in os.scandir(target.parent) if pattern.fullmatch(e.name) and e.is_file()]
    except OSError:
        return 0
    removed = 0
    for name in names:
        tmp = target.parent / name
        if _is_abandoned(tmp):
            _remove_quietly(tmp)
            removed += not tmp.exists()
    if removed:
        logger.info("removed %d stale temporary file(s) of %s", removed, target)
    return removed


def _lock(fd: int, tmp: Path) -> None:
    """Take the exclusive flock of a new temporary file (held while ``fd`` stays open)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        logger.debug("could not lock %s", tmp)


def _make_temp(target: Path) -> tuple[Path, int]:
    """Create an empty temporary file next to ``target``, locked: its path and the open descriptor
    holding the lock (close it after the rename).

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
        if fcntl is None:  # Windows: an open file cannot be renamed over; no lock there
            os.close(fd)
            return tmp, -1
        _lock(fd, tmp)
        return tmp, fd
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
    remove_stale_temps(target)
    tmp, lock = _make_temp(target)
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
    finally:
        if lock >= 0:
            os.close(lock)
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
