"""Bridge from an editor snapshot to ``core.export`` (runs in a worker thread; no widgets here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mangacolor_app.app.page_job import PageRequest, run_page
from mangacolor_app.core.composite import has_alpha
from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.export import ExportLayers, export_page
from mangacolor_app.core.lineart import page_line
from mangacolor_app.core.project import Project
from mangacolor_app.qt.dialogs import ExportChoice

__all__ = ["export_snapshot", "layers_of"]


def layers_of(project: Project, flats_u8: np.ndarray | None, include_hints: bool,
              line_gray: np.ndarray | None = None, *, psd: bool = False) -> ExportLayers:
    """The :class:`ExportLayers` of a project (result = colour without ink, page luma = ink).

    ``line_gray``: the page luma when already computed (the document's), else computed here.
    ``psd``: a layered export; without an up-to-date flats layer (``flats_u8`` None) the page's
    flats are computed from its hints, as ``mangacolor colorize -o page.psd`` does.

    Raises:
        ImageSaveError: the project has no result yet.
    """
    color = project.result  # uint16: export reads it a row block at a time (no page-sized float copy)
    if color is None:
        raise ImageSaveError("nothing to export yet: colorize the page first")
    ink = line_gray if line_gray is not None else page_line(project.page)
    if flats_u8 is not None:
        flats = flats_u8  # export reads uint8 layers as they are
    elif psd and has_alpha(project.hints):  # the page job's flats, as `mangacolor colorize -o page.psd` makes
        flats = run_page(PageRequest(ink, project.hints, project.dpi, flats_only=True)).flats
    else:
        flats = None
    return ExportLayers(ink=ink, color=color, flats=flats,
                        hints=project.hints_float() if include_hints else None, dpi=project.dpi)


def export_snapshot(project: Project, choice: ExportChoice, flats_u8: np.ndarray | None,
                    line_gray: np.ndarray | None = None) -> Path:
    """Export ``project`` as ``choice`` says (``line_gray``: its page luma when already computed).
    Raises ImageSaveError (naming the file) on failure."""
    psd = choice.format == "psd"
    layers = layers_of(project, flats_u8, choice.include_hints and psd, line_gray, psd=psd)
    return export_page(choice.path, layers, format=choice.format, bit_depth=choice.bit_depth,
                       preserve_ink=choice.preserve_ink)
