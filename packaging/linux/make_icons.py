"""Render the app icon's PNG sizes from the scalable SVG (run after editing the SVG).

Writes ``icons/<N>x<N>/apps/org.mangacolor.MangaColor.png`` next to this script for the usual
freedesktop hicolor sizes, with Qt's SVG renderer (offscreen: no display needed)::

    QT_QPA_PLATFORM=offscreen python packaging/linux/make_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ID = "org.mangacolor.MangaColor"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
HERE = Path(__file__).resolve().parent


def main() -> int:
    """Render every size; returns the exit status."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt  # noqa: PLC0415
    from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: PLC0415
    from PySide6.QtSvg import QSvgRenderer  # noqa: PLC0415

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - needed by QPainter
    renderer = QSvgRenderer(str(HERE / "icons" / "scalable" / "apps" / f"{APP_ID}.svg"))
    if not renderer.isValid():
        print("make_icons: the SVG cannot be read", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = HERE / "icons" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(out), "PNG"):
            print(f"make_icons: cannot write {out}", file=sys.stderr)
            return 1
        print(out.relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
