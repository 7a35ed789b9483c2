"""Editor preferences in a QSettings INI file under the user settings folder.

With ``MANGACOLOR_HOME`` set (tests) the file is ``$MANGACOLOR_HOME/settings/editor.ini``, so runs
are isolated from the user's real preferences.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from mangacolor_app.core.paths import settings_dir

__all__ = ["EditorSettings", "MAX_RECENT"]

logger = logging.getLogger(__name__)

MAX_RECENT = 10


class EditorSettings:
    """Typed access to the editor's remembered state (theme, layout, folders, tool settings)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_dir() / "editor.ini"
        self.qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    def get(self, key: str, default: Any = None, kind: type | None = None) -> Any:
        """Value of ``key`` converted to ``kind`` (``default`` when missing or unconvertible)."""
        value = self.qs.value(key, default)
        if kind is None or value is None:
            return value
        try:
            if kind is bool:
                return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            return kind(value)
        except (TypeError, ValueError):
            logger.debug("bad setting %s=%r", key, value)
            return default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        self.qs.setValue(key, value)

    @property
    def theme(self) -> str:
        """"dark" (default) or "light"."""
        return str(self.get("ui/theme", "dark"))

    @theme.setter
    def theme(self, value: str) -> None:
        self.set("ui/theme", value)

    @property
    def last_folder(self) -> str:
        """Folder of the last opened/saved file ("" at first)."""
        return str(self.get("files/last_folder", ""))

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self.set("files/last_folder", value)

    def recent_files(self) -> list[str]:
        """Recently opened files, newest first."""
        value = self.qs.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> list[str]:
        """Put ``path`` first in the recent files; return the new list."""
        files = [f for f in self.recent_files() if f != path]
        files.insert(0, path)
        files = files[:MAX_RECENT]
        self.set("files/recent", files)
        return files

    def geometry(self) -> tuple[QByteArray | None, QByteArray | None]:
        """Saved window geometry and dock/toolbar state."""
        return self.qs.value("window/geometry"), self.qs.value("window/state")

    def save_geometry(self, geometry: QByteArray, state: QByteArray) -> None:
        """Remember the window layout."""
        self.set("window/geometry", geometry)
        self.set("window/state", state)

    def sync(self) -> None:
        """Write to disk now."""
        self.qs.sync()
