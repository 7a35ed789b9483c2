"""The Qt editor: the only package that imports PySide6."""

from mangacolor_app.qt.compat import apply_workarounds

apply_workarounds()
