"""Bridge from an editor snapshot to ``core.export`` (runs in a worker thread; no widgets here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mangacolor_app.core.color import rgb_to_gray
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.export import ExportLayers, export_page
from mangacolor_app.core.project import Project
from mangacolor_app.qt.dialogs import ExportChoice

__all__ = ["export_snapshot", "layers_of"]


def layers_of(project: Project, flats_u8: np.ndarray | None, include_hints: bool) -> ExportLayers:
    """The :class:`ExportLayers` of a project (result = colour without ink, page luma = ink).

    Raises:
        ImageSaveError: the project has no result yet.
    """
    color = project.result_float()
    if color is None:
        raise ImageSaveError("nothing to export yet: colorize the page first")
    flats = flats_u8.astype(np.float32) / np.float32(255.0) if flats_u8 is not None else None
    return ExportLayers(ink=rgb_to_gray(project.page), color=color, flats=flats,
                        hints=project.hints_float() if include_hints else None, dpi=project.dpi)


def export_snapshot(project: Project, choice: ExportChoice, flats_u8: np.ndarray | None) -> Path:
    """Export ``project`` as ``choice`` says. Raises ImageSaveError (naming the file) on failure."""
    layers = layers_of(project, flats_u8, choice.include_hints and choice.format == "psd")
    return export_page(choice.path, layers, format=choice.format, bit_depth=choice.bit_depth,
                       preserve_ink=choice.preserve_ink)
