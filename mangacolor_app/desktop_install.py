"""``mangacolor install-desktop [--uninstall]``: Linux desktop integration for the current user.

Copies the files of :func:`mangacolor_app.core.paths.desktop_files_dir` (named after the app id
``org.mangacolor.MangaColor``) into the XDG data folder (``$XDG_DATA_HOME``, default
``~/.local/share``) and refreshes the desktop's caches:

=========================================  ==================================================
file                                       installed as
=========================================  ==================================================
``<id>.desktop``                           ``applications/<id>.desktop`` (``Exec`` and ``TryExec``
                                           point at this installation's ``mangacolor``)
``<id>.metainfo.xml``                      ``metainfo/<id>.metainfo.xml``
``<id>.mime.xml``                          ``mime/packages/<id>.xml`` (``.mcproj`` projects)
``icons/<size>/apps/<id>.png|svg``         ``icons/hicolor/<size>/apps/<id>.png|svg``
=========================================  ==================================================

``--uninstall`` removes exactly those files. The cache tools (``update-mime-database``,
``update-desktop-database``, ``gtk-update-icon-cache``) run when present; their absence is not an error.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mangacolor_app.core import paths
from mangacolor_app.core.atomic import atomic_write_bytes
from mangacolor_app.core.errors import MangaColorError

__all__ = ["data_home", "planned_files", "install_desktop", "uninstall_desktop", "launcher_command"]

logger = logging.getLogger(__name__)


def data_home() -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".local" / "share"


def launcher_command() -> str:
    """The command the desktop entry runs: this installation's ``mangacolor`` script when it can be
    found (next to the running Python, or on PATH), else plain ``mangacolor``."""
    here = Path(sys.executable).parent / ("mangacolor.exe" if sys.platform == "win32" else "mangacolor")
    if getattr(sys, "frozen", False):
        return str(Path(sys.executable).resolve())
    if here.is_file():
        return str(here)
    found = shutil.which("mangacolor")
    return found or "mangacolor"


def planned_files(source: Path | None = None, target: Path | None = None) -> list[tuple[Path, Path]]:
    """(source file, installed path) pairs; raises MangaColorError when the source files are missing."""
    src = source or paths.desktop_files_dir()
    dst = target or data_home()
    app_id = paths.APP_ID
    desktop = src / f"{app_id}.desktop"
    if not desktop.is_file():
        raise MangaColorError("the desktop integration files are missing from this installation", src)
    pairs = [
        (desktop, dst / "applications" / f"{app_id}.desktop"),
        (src / f"{app_id}.metainfo.xml", dst / "metainfo" / f"{app_id}.metainfo.xml"),
        (src / f"{app_id}.mime.xml", dst / "mime" / "packages" / f"{app_id}.xml"),
    ]
    for icon in sorted((src / "icons").glob(f"*/apps/{app_id}.*")):
        pairs.append((icon, dst / "icons" / "hicolor" / icon.parent.parent.name / "apps" / icon.name))
    return pairs


def _desktop_entry(text: str, command: str) -> str:
    """The desktop entry with ``Exec``/``TryExec`` pointing at ``command`` (quoted when needed)."""
    quoted = f'"{command}"' if any(c in command for c in " \t\"'\\") else command
    lines = []
    for line in text.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={quoted} %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={command}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _refresh_caches(target: Path) -> list[str]:
    """Run the desktop cache tools that exist; returns the commands run."""
    commands = [
        ["update-mime-database", str(target / "mime")],
        ["update-desktop-database", str(target / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(target / "icons" / "hicolor")],
    ]
    ran = []
    for cmd in commands:
        if shutil.which(cmd[0]) is None or not Path(cmd[-1]).is_dir():
            continue
        try:
            subprocess.run(cmd, check=False, capture_output=True, timeout=60)
            ran.append(cmd[0])
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.info("%s failed: %s", cmd[0], exc)
    return ran


def install_desktop(target: Path | None = None, command: str | None = None) -> list[Path]:
    """Install the desktop entry, metainfo, MIME type and icons; returns the files written.

    Raises:
        MangaColorError: the source files are missing or a target file cannot be written.
    """
    dst = target or data_home()
    written = []
    for src, out in planned_files(target=dst):
        data = src.read_bytes()
        if src.suffix == ".desktop":
            data = _desktop_entry(data.decode("utf-8"), command or launcher_command()).encode("utf-8")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MangaColorError(f"cannot create the folder ({exc.strerror or exc})", out.parent) from exc
        atomic_write_bytes(out, data)
        written.append(out)
    _refresh_caches(dst)
    return written


def uninstall_desktop(target: Path | None = None) -> list[Path]:
    """Remove what :func:`install_desktop` wrote; returns the files removed (missing ones are skipped).

    Raises:
        MangaColorError: a file exists but cannot be removed.
    """
    dst = target or data_home()
    removed = []
    for _src, out in planned_files(target=dst):
        try:
            out.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise MangaColorError(f"cannot remove the file ({exc.strerror or exc})", out) from exc
        removed.append(out)
    _refresh_caches(dst)
    return removed
