"""PyInstaller entry point of the frozen ``mangacolor`` app: calls :func:`mangacolor_app.cli.main`."""

from __future__ import annotations

import multiprocessing
import sys


def _run() -> int:
    """Start the app; the return value becomes the process exit status."""
    multiprocessing.freeze_support()  # Windows/macOS frozen apps: child processes must not re-run main
    from mangacolor_app.cli import main  # noqa: PLC0415 - after freeze_support

    result = main()
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(_run())
