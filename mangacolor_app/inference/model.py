"""One callable model object: an onnxruntime session and its manifest (DEVELOPERS.md, "Model contract").

:class:`OnnxModel` is what the app runs and what training's export parity check and evaluation call,
so that they measure the same thing: NCHW float32 model input in [0, 1] (the manifest's channels) in,
RGB float32 in [0, 1] out. It scales the input to ``input_range``, feeds the input type the session
declares (an fp16 export may keep float32 I/O), maps the output from ``output_range`` (and from Lab
for ``output_space == "lab"``), refuses NaN/inf, clips, and optionally applies the unhinted gate and
the ink multiply. The tiled pipeline uses the same :meth:`OnnxModel.forward` per tile.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from mangacolor_app.core.color import lab_to_rgb
from mangacolor_app.core.errors import MangaColorError, ModelError
from mangacolor_app.core.flats import paper_mask
from mangacolor_app.core.manifest import ModelManifest
from mangacolor_app.core.model_inputs import ModelInputBuilder, token_slices
from mangacolor_app.inference.gpu import FP16_ENV
from mangacolor_app.inference.manifest import read_manifest
from mangacolor_app.inference.planes import gate_plane
from mangacolor_app.inference.session import DeviceReport, get_session

__all__ = ["OnnxModel", "decode_output", "fp16_variant"]

logger = logging.getLogger(__name__)

_LAB_SCALE = np.array([100.0, 255.0, 255.0], np.float32)
_LAB_SHIFT = np.array([0.0, 128.0, 128.0], np.float32)


def decode_output(y: np.ndarray, manifest: ModelManifest, model_path: Path | None = None) -> np.ndarray:
    """A session's raw (N, 3, h, w) output as RGB float32 in [0, 1], (N, 3, h, w).

    Maps ``output_range`` to [0, 1], Lab (``output_space == "lab"``: channels read as L/100,
    (a+128)/255, (b+128)/255) to sRGB, and clips. Works in place on a writeable float32 array.

    Raises:
        ModelError: NaN or infinite values (names ``model_path``).
    """
    y = np.asarray(y, dtype=np.float32)
    if not np.isfinite(y).all():
        raise ModelError(f"the model {manifest.name!r} returned NaN or infinite values: the model file is "
                         "broken or does not run correctly on this device; nothing was written", model_path)
    if not y.flags.writeable:
        y = y.copy()
    olo, ohi = manifest.output_range
    if (olo, ohi) != (0.0, 1.0):
        y -= np.float32(olo)
        y *= np.float32(1.0 / (ohi - olo))
    if manifest.output_space == "lab":
        lab = y.transpose(0, 2, 3, 1) * _LAB_SCALE
        lab -= _LAB_SHIFT
        y = np.ascontiguousarray(lab_to_rgb(lab).transpose(0, 3, 1, 2), dtype=np.float32)
    np.clip(y, 0.0, 1.0, out=y)
    return y


class OnnxModel:
    """A MangaColor ONNX model ready to run: ``model(x)`` maps (N, C, h, w) inputs to (N, 3, h, w) RGB.

    Args:
        session: an onnxruntime ``InferenceSession`` (anything with ``run``; ``get_inputs`` is used
            when present to learn the input type).
        manifest: the model's manifest.
        path: the model file, named in errors.
        report: the device report of the session, when known.

    Use :meth:`load` to open a file.
    """

    def __init__(self, session: Any, manifest: ModelManifest, path: Path | None = None,
                 report: DeviceReport | None = None) -> None:
        self.session = session
        self.manifest = manifest
        self.path = path
        self.report = report
        inputs = {i.name: i.type for i in session.get_inputs()} if hasattr(session, "get_inputs") else {}
        wanted = inputs.get(manifest.input_name, "tensor(float16)" if manifest.fp16 else "tensor(float)")
        self.input_dtype: type[np.floating[Any]] = np.float16 if wanted == "tensor(float16)" else np.float32

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", threads: int | None = None,
             manifest: ModelManifest | None = None, cache: bool = True) -> OnnxModel:
        """Open ``path`` on ``device`` with its own manifest (or ``manifest``, e.g. before it is embedded).

        Args:
            cache: share the process-wide session cache (False: a private session, freed with the object).

        Raises:
            ModelError: not a usable colorization model (names the file). ValueError: unknown device.
        """
        p = Path(path)
        m = manifest if manifest is not None else read_manifest(p)
        session, report = get_session(p, device, threads=threads, cache=cache)
        return cls(session, m, p, report)

    @property
    def in_channels(self) -> int:
        """Input planes the model takes (the manifest's channel count)."""
        return self.manifest.in_channels

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, h, w) float input in [0, 1] -> (N, 3, h, w) float32 RGB in [0, 1] (no gate, no ink).

        ``h``/``w`` must be multiples of the manifest's ``size_multiple``. The input is scaled to
        ``input_range`` and cast to the session's input type (no copy when already contiguous float32).

        Raises:
            ModelError: NaN/inf output. ValueError: wrong channel count.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"model input must be (N, {self.in_channels}, h, w), got shape {x.shape}")
        lo, hi = self.manifest.input_range
        if (lo, hi) != (0.0, 1.0):
            x = x * np.float32(hi - lo) + np.float32(lo)
        nchw = np.ascontiguousarray(x, dtype=self.input_dtype)
        y = self.session.run([self.manifest.output_name], {self.manifest.input_name: nchw})[0]
        return decode_output(y, self.manifest, self.path)

    def __call__(self, x: np.ndarray, *, unhinted: float | None = None, preserve_ink: bool = False,
                 hints: np.ndarray | None = None, flats: np.ndarray | None = None) -> np.ndarray:
        """What the app makes of one model input: :meth:`forward`, the unhinted gate, the ink.

        Args:
            x: (N, C, h, w) float32 in [0, 1], the manifest's channels in order.
            unhinted: share of the model's own colour kept where no hint or flat reaches (None: the
                manifest's ``unhinted_strength``). The gate of ``inference.planes.gate_plane`` applies,
                as in the app, below 1 or where the flats keep paper; the rest of each pixel is paper.
            preserve_ink: multiply by the ``line`` channel (ink stays black), as the app does by default.
            hints, flats: the (N, h, w, 4) RGBA hint and flats layers the input was made from, when known.
                Without them they are rebuilt from the input's planes, which are premultiplied: the
                paper the flats keep (Paper key, unhinted background) and Paper-key hints are then not
                told apart from colour, so pass the layers for those pages.

        Returns:
            (N, 3, h, w) float32 RGB in [0, 1].

        Raises:
            ModelError: NaN/inf output. ValueError: wrong shape, ``unhinted`` outside [0, 1], or
                ``preserve_ink`` for a model without a ``line`` channel.
        """
        x = np.asarray(x, dtype=np.float32)
        strength = self.manifest.unhinted_strength if unhinted is None else float(unhinted)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"unhinted must be in [0, 1], got {strength}")
        y = self.forward(x)
        slices = token_slices(self.manifest.channels)
        for k in range(x.shape[0]):
            hint_k = hints[k] if hints is not None else _rgba(x[k], slices, "hint_rgb", "hint_mask")
            flats_k = flats[k] if flats is not None else _rgba(x[k], slices, "flats_rgb", "flats_mask")
            if strength < 1.0 or (flats_k is not None and paper_mask(flats_k).any()):
                gate = self._gate(x[k], slices, strength, hint_k, flats_k)
                y[k] -= (1.0 - gate)[None] * (y[k] - np.float32(1.0))
        if preserve_ink:
            if "line" not in slices:
                raise ValueError(f"the model {self.manifest.name!r} has no line channel to preserve the ink from")
            y *= np.clip(x[:, slices["line"]], 0.0, 1.0)
        return y

    def _gate(self, planes: np.ndarray, slices: dict[str, slice], strength: float, hints: np.ndarray | None,
              flats: np.ndarray | None) -> np.ndarray:
        """The (h, w) float32 gate of one (C, h, w) input and its (h, w, 4) hint and flats layers."""
        h, w = planes.shape[1:]
        line = planes[slices["line"]][0] if "line" in slices else np.ones((h, w), np.float32)
        builder = ModelInputBuilder(line, None, ["line"], blur_sigma=self.manifest.hint_blur_sigma)
        out = np.empty((1, h, w), np.float32)
        gate_plane(builder, hints, flats, strength)(slice(0, h), slice(0, w), out)
        return out[0]


def _rgba(planes: np.ndarray, slices: dict[str, slice], rgb: str, mask: str) -> np.ndarray | None:
    """(h, w, 4) RGBA layer rebuilt from the ``rgb`` (colour x mask) and ``mask`` planes, or None."""
    if rgb not in slices or mask not in slices:
        return None
    return np.concatenate([planes[slices[rgb]], planes[slices[mask]]], axis=0).transpose(1, 2, 0).copy()


def fp16_variant(model_path: Path) -> Path | None:
    """The half-precision sibling of a float32 model, to run on CUDA instead of it, or None.

    The variant is ``<stem>-fp16.onnx`` next to the model (``mangacolor-train export --fp16``:
    float32 I/O, half compute inside), with ``"fp16": true`` in its manifest and the same channels and
    size multiple. ``MANGACOLOR_FP16=0`` turns the substitution off. Never raises.
    """
    if os.environ.get(FP16_ENV, "1").strip() == "0":
        return None
    path = Path(model_path)
    candidate = path.with_name(f"{path.stem}-fp16.onnx")
    if not candidate.is_file():
        return None
    try:
        base, half = read_manifest(path, check_graph=False), read_manifest(candidate, check_graph=False)
    except MangaColorError as exc:
        logger.info("fp16 variant %s not used: %s", candidate, exc)
        return None
    if base.fp16 or not half.fp16 or half.channels != base.channels or half.size_multiple != base.size_multiple:
        logger.info("fp16 variant %s not used: not an fp16 model with the same inputs", candidate)
        return None
    return candidate
