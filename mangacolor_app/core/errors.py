"""Errors with messages meant for the artist: each names the file (when there is one) and the problem."""

from __future__ import annotations

from pathlib import Path


class MangaColorError(Exception):
    """Base class of every error whose message may be shown to the user as is.

    Args:
        message: what went wrong, in plain words.
        path: the file or folder concerned, if any; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ImageLoadError(MangaColorError):
    """An image could not be read (missing, empty, truncated, not an image, unsupported)."""


class ImageTooLargeError(ImageLoadError):
    """An image has more pixels than the configured limit."""


class ImageSaveError(MangaColorError):
    """An image or file could not be written (unwritable folder, full disk, bad format)."""


class HintError(MangaColorError):
    """A hint layer does not fit the page or is malformed."""


class TilingError(MangaColorError):
    """Invalid tiling parameters (e.g. a tile origin that is not a multiple of the model's size multiple)."""


class ModelError(MangaColorError):
    """A model file is missing, unreadable, or not a MangaColor colorization model."""


class CancelledError(MangaColorError):
    """An operation was cancelled by the user through a cancel callback."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class ProjectError(MangaColorError):
    """A project file is corrupt, unsafe (paths escaping its folder) or from an unknown version."""
