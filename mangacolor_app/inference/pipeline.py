"""Tiled, memory-bounded colorization of a page with an ONNX model.

Data flow for one page (H, W):
  image -> line luma (H, W) (uint8 kept uint8) -> hints fitted (``core.hints.fit_hints``) ->
  :class:`~mangacolor_app.core.model_inputs.ModelInputBuilder` (page-wide encodings once per page) ->
  region reader of input tiles (+ the line as an extra plane for ink preservation) ->
  ``core.tiling.run_tiled_with_retry`` with the model's size multiple and overlap -> (H, W, 3).

Per tile: inputs scaled to ``input_range``, NCHW at the session edge, outputs mapped from
``output_range`` to [0, 1] (for ``output_space == "lab"`` the mapped channels are
``(L / 100, (a + 128) / 255, (b + 128) / 255)`` and are converted with ``core.color.lab_to_rgb``),
clipped, ink preserved (a per-pixel multiply, so it commutes with the tile blending).
Only tile-sized float32 buffers exist; the output page is uint8 when ``out_dtype=np.uint8``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mangacolor_app.core import tiling
from mangacolor_app.core.blending import blend_margin
from mangacolor_app.core.color import to_float32
from mangacolor_app.core.composite import has_alpha, paper_with_ink
from mangacolor_app.core.errors import TilingError
from mangacolor_app.core.flats import paper_mask
from mangacolor_app.core.hints import fit_hints
from mangacolor_app.core.lineart import extract_line, is_colour_picture, page_line
from mangacolor_app.core.model_inputs import ModelInputBuilder, token_slices
from mangacolor_app.core.resize import fit_shape, fit_within
from mangacolor_app.inference.manifest import (
    ModelManifest,
    read_manifest,
    write_sidecar,
)
from mangacolor_app.inference.model import OnnxModel, fp16_variant
from mangacolor_app.inference.planes import PlaneWriter, gate_plane, reader_with_planes
from mangacolor_app.inference.registry import InstalledModel, ModelRegistry
from mangacolor_app.inference.session import DeviceReport, get_session, is_oom

__all__ = ["Colorizer", "make_tile_fn", "image_to_line", "measure_model_overlap", "preview_shape"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

#: Pages above this many pixels keep page-wide hint encodings as float16.
_COMPACT_PIXELS = 8_000_000


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def image_to_line(image: np.ndarray) -> np.ndarray:
    """Page line art (1 = paper) of an (H, W) or (H, W, 3|4) image: its luma, or for a colour
    picture the lines drawn out of it (:func:`core.lineart.page_line`).

    uint8 input gives a uint8 (H, W) luma (OpenCV Rec. 601, same weights as ``core.color``) so that
    huge pages never get a page-sized float32 copy (a colour picture's drawn-out line is float32);
    float input gives float32 (H, W) in [0, 1]; uint16 gives float32. Alpha is ignored.

    Raises:
        ValueError: not a 2-D or 3-D image with 1, 3 or 4 channels, or unsupported dtype.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else _float01(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    rgb = image[:, :, :3]
    if image.dtype == np.uint8:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        return extract_line(_float01(gray)) if is_colour_picture(rgb) else gray
    return page_line(_float01(rgb))


def _float01(a: np.ndarray) -> np.ndarray:
    if a.dtype in (np.uint8, np.uint16):
        return to_float32(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"unsupported image dtype {a.dtype} (expected uint8, uint16 or float)")
    return a.astype(np.float32, copy=False)


def make_tile_fn(
    session: Any,
    manifest: ModelManifest,
    *,
    ink_plane: bool = False,
    preserve_ink: bool = True,
    ink_index: int | None = None,
    gate_index: int | None = None,
    model_path: Path | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The per-tile model function for ``core.tiling``: (N, h, w, C[+1]) float32 -> (N, h, w, 3).

    Args:
        session: an onnxruntime InferenceSession (anything with ``run``).
        manifest: the model's manifest (names, ranges, output space).
        ink_plane: the input carries the page luma as an extra last plane (used for ink preservation).
        preserve_ink: multiply the colour by the page luma (only with ``ink_plane`` or ``ink_index``).
        ink_index: channel of the input batch that holds the page luma in [0, 1] (e.g. the model's
            own ``line`` channel, so that no extra plane is needed); wins over ``ink_plane``.
        gate_index: channel of the input batch holding the share of the model's colour to keep
            (:func:`gate_plane`); the rest of each pixel is paper white.
        model_path: the model file, named when the model misbehaves.

    Returns:
        fn with outputs float32 in [0, 1] (clipped), (N, h, w, 3): a channel-last view of the
        session's (N, 3, h, w) output. Batches that are channel-last views of planar (N, C, h, w)
        arrays (as ``ModelInputBuilder.read_region`` returns) reach the session without a copy.
    """
    model = OnnxModel(session, manifest, model_path)
    n_in = manifest.in_channels
    ink = ink_index if ink_index is not None else (n_in if ink_plane else None)

    def fn(batch: np.ndarray) -> np.ndarray:
        # NCHW view of the channel-last batch: no copy for planar readers
        y = model.forward(batch[..., :n_in].transpose(0, 3, 1, 2))  # (N, 3, h, w), modified in place
        if gate_index is not None:  # y = a*y + (1-a)*paper
            y -= (1.0 - np.clip(batch[:, None, :, :, gate_index], 0.0, 1.0)) * (y - np.float32(1.0))
        if ink is not None and preserve_ink:  # = core.composite.preserve_ink, strength 1, in NCHW
            y *= np.clip(batch[:, None, :, :, ink], 0.0, 1.0)
        return y.transpose(0, 2, 3, 1)  # a view: the tiling core blends it in place, no copy

    return fn


class Colorizer:
    """Colorize pages with one model on one device (session created once and cached).

    Args:
        model: an :class:`InstalledModel`, a model name known to the registry, or an ``.onnx`` path.
        device: "auto", "cpu" or "cuda" (see :attr:`device_report` for what really runs).
        tile: tile side in pixels (default: the manifest's ``preferred_tile``); rounded up to the
            model's size multiple. ``tile ** 2`` is the tile AREA budget: pages are cut into
            rectangular tiles chosen per page to compute the fewest pixels (:meth:`tile_shape_for`).
        overlap: tile overlap in pixels (default: the manifest's ``overlap``); rounded up likewise.
        batch_size: tiles per session call (default: 1 on CPU, 4 on an accelerator).
        threads: onnxruntime intra-op threads (default: physical cores).

    Raises:
        ModelError: unknown model, or not a usable colorization model.
        TilingError: overlap >= tile.
    """

    def __init__(
        self,
        model: str | Path | InstalledModel,
        *,
        device: str = "auto",
        tile: int | None = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
    ) -> None:
        if isinstance(model, InstalledModel):
            self.model_path, self.manifest = model.path, model.manifest
        elif isinstance(model, Path) or str(model).lower().endswith(".onnx"):
            self.model_path, self.manifest = Path(model), read_manifest(model)
        else:
            found = ModelRegistry().get(model)
            self.model_path, self.manifest = found.path, found.manifest
        m = self.manifest.size_multiple
        self.session, self.device_report = get_session(self.model_path, device, threads=threads)
        half = fp16_variant(self.model_path) if self.device_report.provider == "CUDAExecutionProvider" else None
        if half is not None:  # float32 I/O, half compute: same contract, faster on the GPU
            self.session, self.device_report = get_session(half, device, threads=threads)
            logger.info("running the fp16 variant %s on CUDA", half.name)
        #: the callable model object (session + manifest) every tile runs through
        self.model = OnnxModel(self.session, self.manifest, self.model_path, self.device_report)
        self.tile = _round_up(max(int(tile or self.manifest.preferred_tile), m), m)
        self.overlap = _round_up(max(int(self.manifest.overlap if overlap is None else overlap), 0), m)
        if self.overlap >= self.tile:
            raise TilingError(f"overlap {self.overlap} must be smaller than the tile size {self.tile}")
        self.batch_size = int(batch_size or (4 if self.device_report.on_gpu else 1))
        if self.manifest.receptive_radius is not None and blend_margin(self.overlap) < self.manifest.receptive_radius:
            logger.info("overlap %d too small for receptive radius %d (blend margin %d): tile seams may be visible",
                        self.overlap, self.manifest.receptive_radius, blend_margin(self.overlap))

    @property
    def report(self) -> DeviceReport:
        """Alias of :attr:`device_report`."""
        return self.device_report

    def colorize(
        self,
        image: np.ndarray,
        hints: np.ndarray | None = None,
        *,
        preserve_ink: bool = True,
        flats: np.ndarray | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        out_dtype: Any = np.float32,
        max_side: int | None = None,
        unhinted: float | None = None,
    ) -> np.ndarray:
        """Colorize one page.

        Args:
            image: (H, W) or (H, W, 3|4) float32 in [0, 1] or uint8/uint16 (its luma is used).
            hints: (h, w, 4) RGBA hint layer, uint8/uint16 (kept integer at page size) or float32 in
                [0, 1], or None; fitted to the page (same aspect ratio -> resized, else HintError).
            preserve_ink: multiply the result by the line art so ink stays black.
            flats: optional precomputed (H, W, 4) flats layer (for models with flats channels).
            progress: called as progress(tiles_done, n_tiles).
            cancel: polled between tile batches; True raises CancelledError.
            out_dtype: np.float32 (range [0, 1]), or np.uint8 / np.uint16 (page buffer kept integer; the
                values ``core.color.to_uint8`` / ``to_uint16`` give for the float result).
            max_side: preview mode: downscale so the longer side is at most this (output at that size).
            unhinted: share of the model's own colour kept where no hint or flat reaches, in [0, 1]
                (0 = clean paper white there); None = the manifest's ``unhinted_strength``.

        Returns:
            (H, W, 3) RGB of ``out_dtype`` (reduced size with ``max_side``).

        Raises:
            HintError: hints that do not fit the page. CancelledError: cancelled.
            TilingError: out of memory even at the smallest tile. ValueError: bad image array.
        """
        line = image_to_line(np.asarray(image))
        line = fit_within(line, max_side)
        shape = line.shape[:2]
        if hints is not None:
            hints = fit_hints(hints, shape)
        if flats is not None:
            flats = fit_hints(flats, shape)
        strength = self.manifest.unhinted_strength if unhinted is None else float(unhinted)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"unhinted must be in [0, 1], got {strength}")
        if strength < 1.0 and not has_alpha(hints) and not has_alpha(flats):
            # nothing is hinted and unhinted colour is gated: the result is paper (times the ink),
            # whatever the model says, so the model is not run at all (see planes.gate_plane)
            if progress is not None:
                progress(1, 1)
            return paper_with_ink(line, preserve_ink, out_dtype)
        builder = ModelInputBuilder(
            line, hints, self.manifest.channels, flats=flats,
            blur_sigma=self.manifest.hint_blur_sigma, compact=line.size > _COMPACT_PIXELS,
        )
        extra: list[PlaneWriter] = []
        n_in = self.manifest.in_channels
        if "line" in self.manifest.channels:  # the model's own line channel carries the luma for the ink
            ink = _channel_offset(self.manifest.channels, "line")
        else:
            extra.append(ModelInputBuilder(builder.line, None, ["line"]).read_planes)
            ink = n_in
        gate = None
        page_flats_layer = builder.flats if builder.flats is not None else flats
        if strength < 1.0 or (page_flats_layer is not None and paper_mask(page_flats_layer).any()):
            extra.append(gate_plane(builder, hints, flats, strength, compact=line.size > _COMPACT_PIXELS))
            gate = n_in + len(extra) - 1
        reader = builder.read_region if not extra else reader_with_planes(builder, extra)
        fn = make_tile_fn(self.session, self.manifest, preserve_ink=preserve_ink, ink_index=ink,
                          gate_index=gate, model_path=self.model_path)
        return tiling.run_tiled_with_retry(
            reader, fn, tile=self.tile_shape_for(*shape), overlap=self.overlap, multiple=self.manifest.size_multiple,
            out_channels=3, is_oom=is_oom, shape_hw=shape, batch_size=self.batch_size,
            out_dtype=out_dtype, progress=progress, cancel=cancel,
        )


    def tile_shape_for(self, height: int, width: int) -> tuple[int, int]:
        """Tile shape (tile_h, tile_w) used for a page of ``height`` x ``width`` pixels.

        The shape computing the fewest pixels (tiles x tile area, plus a per-tile overhead) with
        ``tile_h * tile_w <= tile ** 2`` (the memory budget of one :attr:`tile`-sided square) and a
        blending strip of at most ``STRIP_AREAS * tile ** 2`` pixels; see ``core.tileplan.best_tile``. Sides
        are multiples of the size multiple; a side may exceed the page (one tile along that axis).
        """
        m, o, cap = self.manifest.size_multiple, self.overlap, self.tile
        return tiling.best_tile(height, width, o, m, cap * cap)

    def plan_for(self, height: int, width: int) -> tiling.TilePlan:
        """The tile plan :meth:`colorize` uses for a page (see :meth:`tile_shape_for`)."""
        return tiling.plan_tiles(height, width, self.tile_shape_for(height, width), self.overlap,
                                 self.manifest.size_multiple)

    def tile_for(self, height: int, width: int) -> int:
        """Best SQUARE tile side for a page, at most :attr:`tile` (kept for callers of the old API;
        :meth:`colorize` uses the rectangular :meth:`tile_shape_for`).

        Among ``tile`` and the sizes that split each axis into equal-ish tiles, the one computing
        the fewest pixels (tiles x tile area) wins, ties going to the larger tile.
        """
        m, o, cap = self.manifest.size_multiple, self.overlap, self.tile
        candidates = {cap}
        for size in (_round_up(height, m), _round_up(width, m)):
            if size <= cap:
                candidates.add(size)
                continue
            n = -(-(size - o) // (cap - o))
            candidates.add(min(cap, _round_up(-(-(size - o) // n) + o, m)))

        def cost(t: int) -> tuple[int, int]:
            plan = tiling.plan_tiles(height, width, t, o, m)
            return plan.n_tiles * plan.tile_h * plan.tile_w, -t

        return min((t for t in candidates if t > o), key=cost)


def _channel_offset(channels: Sequence[str], token: str) -> int:
    """Index of the first plane of ``token`` in the stacked model input."""
    return token_slices(channels)[token].start


def preview_shape(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) of a ``height`` x ``width`` page downscaled so its longer side is <= ``max_side``, as
    :meth:`Colorizer.colorize` does in preview mode (``core.resize.fit_shape``)."""
    return fit_shape(height, width, max_side)


def measure_model_overlap(
    model_path: str | Path, *, size: int | None = None, write: bool = False
) -> tuple[int, int]:
    """Measure a model's receptive radius on its real session and the overlap it needs.

    Args:
        model_path: the ``.onnx`` model.
        size: probe image side (default: large enough for the model's size multiple).
        write: store ``receptive_radius`` and ``overlap`` into the sidecar ``<stem>.json``. The stored
            overlap never shrinks: a one-pixel probe can underestimate a trained model's reach (clamped
            outputs hide small changes), while the manifest's overlap may be the architecture's bound.

    Returns:
        (radius, overlap) in pixels.

    Raises:
        ModelError: not a usable model; ImageSaveError: the sidecar cannot be written.
    """
    from mangacolor_app.core.receptive import (
        measure_receptive_radius,
        recommended_overlap,
    )

    manifest = read_manifest(model_path)
    session, _ = get_session(model_path, "cpu")
    fn = make_tile_fn(session, manifest, ink_plane=False, model_path=Path(model_path))
    m = manifest.size_multiple
    size = size or _round_up(max(256, 16 * m), m)
    radius = int(measure_receptive_radius(fn, manifest.in_channels, size, m))
    overlap = int(recommended_overlap(radius, m))
    if overlap < manifest.overlap:
        logger.info("%s: measured overlap %d is below the manifest's %d; keeping the manifest's",
                    model_path, overlap, manifest.overlap)
    if write:
        overlap = max(overlap, manifest.overlap)
        tile = max(manifest.preferred_tile, _round_up(overlap + m, m))
        write_sidecar(model_path, manifest.replace(receptive_radius=radius, overlap=overlap, preferred_tile=tile))
        logger.info("wrote receptive_radius=%d overlap=%d to the sidecar of %s", radius, overlap, model_path)
    return radius, overlap
