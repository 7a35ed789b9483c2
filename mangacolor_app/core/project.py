"""Project files: one page, its hint layer, palette, model choice, settings and last result.

A project is a zip archive (suffix ``.mcproj``) holding a small JSON manifest (``project.json``)
and lossless PNG layers:

==============  ==========================================================================
member          contents
==============  ==========================================================================
project.json    format version, page size, palette, model name, settings, member names
page.png        the page, 8-bit RGB when exactly representable, else 16-bit RGB
hints.png       the painted hint layer, 8-bit RGBA (straight alpha; alpha = hint strength)
result.png      the last colorization, 16-bit RGB (optional)
==============  ==========================================================================

Layers round-trip byte for byte: the hint layer is kept as uint8 and the result as uint16 in
memory (they are the edit/storage buffers, i.e. the edges of the float32 array contract;
:meth:`Project.hints_float` and :meth:`Project.result_float` give the contract form).

Saving is atomic (:func:`~mangacolor_app.core.atomic.atomic_write`). Reading refuses member paths
that escape the archive (``../``, absolute paths, drive letters) with a :class:`ProjectError`.
Autosaves live in :func:`~mangacolor_app.core.paths.autosave_dir`; an autosave whose writing
process is gone is offered for recovery by :func:`find_recoverable`.

This module is the public import path: the data classes live in
:mod:`mangacolor_app.core.project_model` and the archive reading/writing in
:mod:`mangacolor_app.core.project_archive`; both are re-exported here. Autosave is defined here.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mangacolor_app.core.errors import ProjectError
from mangacolor_app.core.project_archive import (  # noqa: F401 - re-exported: this is the public import path
    _MAX_MEMBER_BYTES,
    FORMAT_VERSION,
    MANIFEST,
    PROJECT_SUFFIX,
    _decode_png,
    _encode_png,
    _manifest,
    _member_name,
    _page_storage,
    _project_from,
    _read_manifest,
    _read_member,
    _to_float,
    _validate_layers,
    check_member_names,
    load_project,
    read_manifest,
    save_project,
)
from mangacolor_app.core.project_model import _HEX, NamedColor, Palette, Project  # noqa: F401 - re-exported

__all__ = [
    "PROJECT_SUFFIX",
    "FORMAT_VERSION",
    "NamedColor",
    "Palette",
    "Project",
    "RecoveryCandidate",
    "save_project",
    "load_project",
    "check_member_names",
    "autosave_path",
    "write_autosave",
    "find_recoverable",
    "scan_autosaves",
    "set_aside_autosave",
    "discard_autosave",
]

logger = logging.getLogger(__name__)


# -------------------------------------------------------------------------------------- autosave


@dataclass(frozen=True)
class RecoveryCandidate:
    """An autosave left behind by a process that is no longer running."""

    path: Path
    saved_at: float
    source_path: str | None
    project_path: str | None


def autosave_path(session: str) -> Path:
    """Autosave file of the editor session ``session`` (creates the autosave folder).

    Raises:
        MangaColorError: the autosave folder cannot be created.
    """
    from mangacolor_app.core.paths import autosave_dir

    safe = re.sub(r"[^A-Za-z0-9_-]", "_", session)
    return autosave_dir() / f"autosave-{safe}{PROJECT_SUFFIX}"


def write_autosave(project: Project, session: str, *, project_path: str | None = None) -> Path:
    """Atomically write the session's autosave, recording this process id for crash detection.

    Raises:
        ImageSaveError / MangaColorError: the autosave folder is not writable.
    """
    extra = {"autosave": {"pid": os.getpid(), "session": session, "project_path": project_path}}
    return save_project(autosave_path(session), project, extra=extra)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (POSIX); elsewhere only our own pid counts as alive."""
    if pid == os.getpid():
        return True
    if os.name != "posix" or not 0 < pid < 2**31:  # 0 and negatives name process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return True


def set_aside_autosave(path: str | os.PathLike[str]) -> Path | None:
    """Rename a damaged autosave to ``<name>.damaged-<time>`` (kept for inspection, never offered
    again); returns the new path, or None when it could not be moved (then it is deleted if possible)."""
    source = Path(path)
    target = source.with_name(f"{source.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(source, target)
    except OSError as exc:
        logger.warning("could not move the damaged autosave %s aside: %s", source, exc)
        discard_autosave(source)
        return None
    return target


def scan_autosaves(exclude_session: str | None = None) -> tuple[list[RecoveryCandidate], list[str]]:
    """Autosaves whose writing process is gone (newest first), and one message per damaged autosave.

    A damaged autosave (unreadable manifest) is moved aside with :func:`set_aside_autosave`, so that it
    never blocks a later start-up; the message says where it went.

    Args:
        exclude_session: this editor's own session id, never offered.
    """
    from mangacolor_app.core.paths import autosave_dir

    found: list[RecoveryCandidate] = []
    messages: list[str] = []
    for file in sorted(autosave_dir().glob(f"autosave-*{PROJECT_SUFFIX}")):
        try:
            manifest = read_manifest(file)
        except ProjectError as exc:
            moved = set_aside_autosave(file)
            where = f"moved to {moved}" if moved is not None else "deleted"
            messages.append(f"an autosave could not be read and was {where}: {exc.reason}")
            logger.warning("damaged autosave %s (%s): %s", file, where, exc)
            continue
        info = manifest.get("autosave") or {}
        if info.get("session") == exclude_session or _pid_alive(int(info.get("pid", -1))):
            continue
        found.append(RecoveryCandidate(file, float(manifest.get("saved_at", 0.0)),
                                       manifest["page"].get("source_path"), info.get("project_path")))
    return sorted(found, key=lambda c: c.saved_at, reverse=True), messages


def find_recoverable(exclude_session: str | None = None) -> list[RecoveryCandidate]:
    """Autosaves whose writing process is gone (newest first); damaged ones are moved aside (logged).

    Args:
        exclude_session: this editor's own session id, never offered.
    """
    return scan_autosaves(exclude_session)[0]


def discard_autosave(path: str | os.PathLike[str]) -> None:
    """Delete an autosave file; a failure is logged, not raised."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not delete autosave %s: %s", path, exc)
