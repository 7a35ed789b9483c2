"""MangaColor: hint-guided colorization of manga line art and pages, at full resolution, locally."""

__version__ = "0.1.0"
