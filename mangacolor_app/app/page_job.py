"""One page's job for every front end: a :class:`PageRequest` in, the page's :class:`PageLayers` out.

The CLI (``mangacolor colorize``), the editor's live preview and full render, and export all call
:func:`run_page`, so the decisions of a page's path are made here once:

* whether flats are computed (the model takes ``flats_*`` channels, or the caller wants the Flats layer,
  e.g. a PSD export) and with which resolution (the page's dpi);
* flats-only pages (no model): the flats over paper;
* preview mode: the page downscaled to ``preview_side``, the uint8 hint layer shrunk before any float
  conversion, the whole preview in one tile;
* the colour is returned as uint16 (H, W, 3), written tile by tile by the tiling core (no page-sized
  float32), the form the project stores and export reads, so the CLI and the editor export the same bytes.

Models are cached per (model file, device, tile) in a :class:`ColorizerCache` (sessions are shared).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mangacolor_app.core.color import to_float32
from mangacolor_app.core.composite import has_alpha
from mangacolor_app.core.flats import flats_on_paper, page_flats
from mangacolor_app.core.resize import fit_shape
from mangacolor_app.inference.pipeline import Colorizer
from mangacolor_app.inference.registry import InstalledModel, ModelRegistry
from mangacolor_app.inference.session import DeviceReport

__all__ = ["PageRequest", "PageLayers", "ColorizerCache", "run_page", "resolve_model"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class PageRequest:
    """What one page's job needs.

    Attributes:
        line: (H, W) page luma, float32 in [0, 1] (1 = paper) or uint8.
        hints: (H, W, 4) RGBA hint layer, uint8 (the editor's, a loaded hint PNG), uint16 or float32
            in [0, 1], fitted to the page; None = no hints. Integer layers stay integer at page size
            (the pipeline converts tile windows; ``core.flats`` reads the integers as they are).
        dpi: the page's (x, y) resolution (scales the flats' gap closing), or None.
        model: an :class:`InstalledModel`, a model name, an ``.onnx`` path, or None for the default model
            (unused for ``flats_only``).
        device: "auto", "cpu" or "cuda".
        unhinted: share of the model's own colour kept where no hint or flat reaches (None: the model's).
        flats_only: no model: the colour is the flats over paper.
        with_flats: return the flats layer even when the model does not take it (PSD export).
        preview_side: preview mode: the page downscaled so its long side is at most this.
        color_dtype: np.uint16 (default; what the project stores), or np.uint8 for a caller that writes 8
            bits only (3 B/px instead of 6; the same values as ``core.color.to_uint8`` of the uint16 colour,
            since rounding to 16 bits and then to 8 gives the 8-bit rounding).
        tile, overlap, batch_size: overrides of the model's tiling (None: the model's / the device's).
    """

    line: np.ndarray
    hints: np.ndarray | None = None
    dpi: tuple[float, float] | None = None
    model: InstalledModel | str | Path | None = None
    device: str = "auto"
    unhinted: float | None = None
    flats_only: bool = False
    with_flats: bool = False
    preview_side: int | None = None
    color_dtype: type[np.unsignedinteger[Any]] = np.uint16
    tile: int | None = None
    overlap: int | None = None
    batch_size: int | None = None


@dataclass
class PageLayers:
    """What one page's job made.

    Attributes:
        color: (h, w, 3) colour of the request's ``color_dtype`` (uint16 unless asked) WITHOUT ink (export and the canvas multiply the ink), at page
            size, or at the preview size in preview mode.
        flats: (H, W, 4) uint8 flats layer (``core.flats.page_flats`` with ``out_dtype=np.uint8``: exact,
            4 B/px) when computed, else None.
        ink: the request's line (the ink layer), unchanged.
        hints: the request's hints, unchanged.
        device: what ran the model (None for flats-only pages and gated pages without a model).
    """

    color: np.ndarray
    flats: np.ndarray | None
    ink: np.ndarray
    hints: np.ndarray | None
    device: DeviceReport | None = None

    def color_float(self) -> np.ndarray:
        """The colour as (h, w, 3) float32 in [0, 1] (``core.color.to_float32``, as export reads it)."""
        return to_float32(self.color)


def resolve_model(model: InstalledModel | str | Path | None) -> InstalledModel | Path:
    """The model a request names: installed model, ``.onnx`` path, name, or the default (None).

    Raises:
        ModelError: unknown name, or no model installed.
    """
    if isinstance(model, InstalledModel):
        return model
    if isinstance(model, Path) or (isinstance(model, str) and model.lower().endswith(".onnx")):
        return Path(model)
    registry = ModelRegistry()
    return registry.get(model) if model else registry.default()


class ColorizerCache:
    """Colorizers by (model file, device, tile, overlap, batch size), created lazily, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, int | None, int | None, int | None], Colorizer] = {}

    def get(self, model: InstalledModel | Path, device: str, tile: int | None = None,
            overlap: int | None = None, batch_size: int | None = None) -> Colorizer:
        """The colorizer of ``model`` on ``device`` (Colorizers differing by tiling share a session).

        Raises:
            ModelError: not a usable model. TilingError: overlap >= tile.
        """
        path = model.path if isinstance(model, InstalledModel) else Path(model)
        key = (str(path), device, tile, overlap, batch_size)
        with self._lock:
            if key not in self._items:
                self._items[key] = Colorizer(model, device=device, tile=tile, overlap=overlap,
                                             batch_size=batch_size)
            return self._items[key]

    def clear(self) -> None:
        """Forget every colorizer (after the model list changed)."""
        with self._lock:
            self._items.clear()


_default_cache = ColorizerCache()


def _flats(req: PageRequest, hints: np.ndarray) -> np.ndarray:
    """The page's flats as (H, W, 4) uint8 (``core.flats.page_flats`` on the integer layers as they are)."""
    return page_flats(req.line, hints, req.dpi, out_dtype=np.uint8)


def _preview(req: PageRequest, model: InstalledModel | Path, cache: ColorizerCache) -> tuple[Colorizer, Any]:
    """(colorizer with the whole preview in one tile, hints shrunk to the preview size in uint8)."""
    assert req.preview_side is not None
    shape = fit_shape(req.line.shape[0], req.line.shape[1], req.preview_side)
    hints = req.hints
    if hints is not None and hints.shape[:2] != shape and hints.dtype == np.uint8:
        hints = cv2.resize(hints, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    manifest = cache.get(model, req.device).manifest
    side = -(-max(shape) // manifest.size_multiple) * manifest.size_multiple
    tile = side if side > manifest.preferred_tile else None  # one tile: no overlap computed twice
    return cache.get(model, req.device, tile, req.overlap, req.batch_size), hints


def _flats_only(req: PageRequest, progress: ProgressFn | None) -> PageLayers:
    """A flats-only page: the flats (empty without hints) and their composite over paper as the colour."""
    if req.hints is None:
        flats = np.zeros((*req.line.shape[:2], 4), np.uint8)
    else:
        flats = _flats(req, req.hints)
    if progress is not None:
        progress(1, 1)
    return PageLayers(flats_on_paper(flats, out_dtype=req.color_dtype), flats, req.line, req.hints)


def run_page(req: PageRequest, *, cache: ColorizerCache | None = None, progress: ProgressFn | None = None,
             cancel: CancelFn | None = None) -> PageLayers:
    """Run one page's job (see the module docstring).

    Raises:
        ModelError: no or unusable model. HintError: hints that do not fit the page.
        CancelledError: ``cancel`` returned True. TilingError: out of memory at the smallest tile.
    """
    if req.flats_only:
        return _flats_only(req, progress)
    cache = cache if cache is not None else _default_cache
    model = resolve_model(req.model)
    if req.preview_side is not None:
        colorizer, hints = _preview(req, model, cache)
    else:
        colorizer, hints = cache.get(model, req.device, req.tile, req.overlap, req.batch_size), req.hints
    flats: np.ndarray | None = None
    takes_flats = any(c.startswith("flats") for c in colorizer.manifest.channels)
    if req.preview_side is None and (req.with_flats or takes_flats) and hints is not None and has_alpha(hints):
        flats = _flats(req, hints)
    # a model without flats channels gets none (as without a PSD): the colour of a page is the same
    # whichever layers are exported
    color = colorizer.colorize(req.line, hints, preserve_ink=False, flats=flats if takes_flats else None,
                               progress=progress, cancel=cancel, max_side=req.preview_side, unhinted=req.unhinted,
                               out_dtype=req.color_dtype)
    return PageLayers(color, flats, req.line, req.hints, colorizer.device_report)
