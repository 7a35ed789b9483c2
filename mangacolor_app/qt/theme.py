"""Look and feel: Fusion style with a dark (default) or light palette; icons from resources/icons."""

from __future__ import annotations

import logging
from functools import lru_cache

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from mangacolor_app.core.paths import resources_dir

__all__ = ["apply_theme", "icon", "THEMES"]

logger = logging.getLogger(__name__)

THEMES = ("dark", "light")

_DARK = {
    QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e3e5e8",
    QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#2b2d31",
    QPalette.ColorRole.ToolTipBase: "#111214", QPalette.ColorRole.ToolTipText: "#e3e5e8",
    QPalette.ColorRole.Text: "#e3e5e8", QPalette.ColorRole.Button: "#35373c",
    QPalette.ColorRole.ButtonText: "#e3e5e8", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#e0697a", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb3e6", QPalette.ColorRole.PlaceholderText: "#8a8d93",
}

_STYLESHEET = """
QDockWidget::title { padding: 4px 6px; font-weight: bold; }
QToolBar { spacing: 2px; padding: 2px; }
QToolButton:checked { background: palette(highlight); border-radius: 4px; }
QStatusBar QLabel { padding: 0 6px; }
"""


def apply_theme(app: QApplication, name: str = "dark") -> None:
    """Use the Fusion style with the ``name`` palette ("dark" or "light")."""
    app.setStyle("Fusion")
    if name == "light":
        palette = app.style().standardPalette()
    else:
        palette = QPalette()
        for role, hex_color in _DARK.items():
            palette.setColor(role, QColor(hex_color))
        disabled = QColor("#6d6f75")
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)
    app.setStyleSheet(_STYLESHEET)
    logger.debug("theme %s applied", name)


@lru_cache(maxsize=64)
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (an empty icon when missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        logger.debug("icon %s not found at %s", name, path)
        return QIcon()
    return QIcon(str(path))
