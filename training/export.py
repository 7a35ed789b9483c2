"""Export a trained generator to ONNX for the app (see DEVELOPERS.md, "Model contract").

``export_onnx(checkpoint, out)`` writes a model with one input ``input`` (N, C, H, W) float32 and one
output ``output`` (N, 3, H, W) float32 RGB in [0, 1], dynamic N/H/W (multiples of ``size_multiple``),
the manifest JSON in the metadata key ``mangacolor_manifest``. The receptive radius and tile overlap
are measured with ``core.receptive`` on the exported onnxruntime session, and the ONNX output is
compared with torch (max abs diff <= 1e-3, or 2e-2 for ``fp16``); a failed check raises ``ModelError``
and removes the file. The fp16 variant keeps float32 I/O and computes in float16 inside.

Parity and the receptive-field probe run the exported file through the app's own model object
(``inference.model.OnnxModel``: ranges, output space, clipping as the app does); the manifest is
``core.manifest.ModelManifest`` and is embedded with ``core.manifest.write_manifest_metadata``.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import ModelError
from mangacolor_app.core.manifest import MANIFEST_KEY, ModelManifest, write_manifest_metadata
from mangacolor_app.core.receptive import MIN_PREFERRED_TILE, measure_receptive_radius, recommended_overlap
from mangacolor_app.core.receptive import preferred_tile as core_preferred_tile
from mangacolor_app.inference.model import OnnxModel
from .checkpoint import load_generator
from .config import Config
from .models.unet import UNetGenerator, count_flops_per_mp

__all__ = [
    "MANIFEST_KEY", "PARITY_TOL", "ExportResult", "export_onnx", "export_generator", "build_manifest",
    "architecture_radius", "load_model",
]

logger = logging.getLogger(__name__)

PARITY_TOL = {False: 1e-3, True: 2e-2}
_HINT_TOKENS = {"hint_rgb", "hint_mask", "hint_blur_rgb", "hint_blur_conf", "flats_rgb", "flats_mask"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` produced: the file, its manifest dict and the parity max abs diff."""

    path: Path
    manifest: dict[str, Any]
    max_abs_diff: float


class _Fp16Wrapper(nn.Module):
    """float32 in -> half compute -> float32 out, so the fp16 model keeps the float32 contract."""

    def __init__(self, g: UNetGenerator) -> None:
        super().__init__()
        self.g = g.half()

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` float32 -> ``(N, 3, H, W)`` float32."""
        return self.g(x.half()).float()


def load_model(path: str | Path, manifest: ModelManifest | None = None, *, threads: int = 2) -> OnnxModel:
    """The app's model object for ``path`` on the CPU (a private session, not the app's cache).

    Raises:
        ModelError: the app cannot load the model or read its manifest (names the file).
    """
    return OnnxModel.load(path, device="cpu", threads=threads, manifest=manifest, cache=False)


def _torch_export(model: nn.Module, in_channels: int, multiple: int, path: Path) -> None:
    """Trace ``model`` to ONNX at ``path`` with dynamic batch, height and width."""
    dummy = torch.rand(1, in_channels, 4 * multiple, 6 * multiple)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notices
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (dummy,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": axes, "output": axes}, opset_version=17, dynamo=False)


def _parity(model: OnnxModel, g: nn.Module, in_channels: int, multiple: int) -> float:
    """Max abs difference between the app's model object and torch (float32, clipped to [0, 1] as the
    app clips) on two random inputs of odd sizes."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in ((3 * multiple, 5 * multiple), (8 * multiple, 4 * multiple)):
        x = rng.uniform(0, 1, (2, in_channels, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = np.clip(g(torch.from_numpy(x)).numpy(), 0.0, 1.0)
        got = model.forward(x)
        if got.shape != ref.shape:
            raise ModelError(f"exported model output shape {got.shape} differs from torch's {ref.shape}")
        worst = max(worst, float(np.abs(got.astype(np.float32) - ref).max()))
    return worst


def _probe_size(multiple: int) -> int:
    """Side of the receptive-field probe: wide enough that an architecture's bound stays off its border."""
    return max(256, 16 * multiple)


def _receptive(model: OnnxModel, in_channels: int, multiple: int) -> tuple[int, int]:
    """(radius, overlap) measured on the app's model object with ``core.receptive``."""

    def fn(batch: np.ndarray) -> np.ndarray:
        return model.forward(batch.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)

    radius = int(measure_receptive_radius(fn, in_channels, _probe_size(multiple), multiple))
    return radius, int(recommended_overlap(radius, multiple))


def architecture_radius(cfg: Config) -> int:
    """Receptive radius the architecture allows: measured (``core.receptive``) on a copy of the generator
    with random weights large enough that every path carries signal. A barely trained model can measure
    a smaller radius on its real session than it will have after more training; the overlap covers both."""
    probe = UNetGenerator(cfg.model).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in probe.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / (p[0].numel())) ** 0.5)

    def fn(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return probe(torch.from_numpy(batch).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()

    m = probe.size_multiple
    return int(measure_receptive_radius(fn, probe.in_channels, _probe_size(m), m))


def build_manifest(cfg: Config, g: UNetGenerator, *, radius: int, overlap: int, fp16: bool,
                   name: str | None = None, preferred_tile: int = MIN_PREFERRED_TILE) -> dict[str, Any]:
    """The manifest dict (DEVELOPERS.md fields) for an exported generator."""
    m = g.size_multiple
    tile = core_preferred_tile(overlap, m, minimum=preferred_tile)
    return {
        "format": 1, "name": name or cfg.name + ("-fp16" if fp16 else ""), "version": cfg.version,
        "description": cfg.description, "input_name": "input", "output_name": "output",
        "channels": list(cfg.model.channels), "input_range": [0.0, 1.0], "output_space": "rgb",
        "output_range": [0.0, 1.0], "size_multiple": m, "receptive_radius": radius, "overlap": overlap,
        "preferred_tile": tile, "trained_with_hints": bool(_HINT_TOKENS & set(cfg.model.channels)),
        "hint_blur_sigma": 0.05, "fp16": fp16,
        "gflop_per_mp": round(count_flops_per_mp(g, g.in_channels), 2),
        "unhinted_strength": float(cfg.unhinted_strength),
    }


def export_generator(g: UNetGenerator, cfg: Config, out: str | Path, *, fp16: bool = False,
                     name: str | None = None, check: bool = True) -> ExportResult:
    """Export an in-memory generator (see module docstring).

    Args:
        g: the generator (any device/memory format; a float32 CPU copy is exported).
        cfg: its training configuration (name, version, description, channels).
        out: destination ``.onnx`` (written atomically; its folder is created).
        fp16: export the half-precision variant.
        name: manifest name (default ``cfg.name``, ``-fp16`` appended for fp16).
        check: run the torch parity check and the app's manifest reader.

    Raises:
        ModelError: parity above tolerance, or the app cannot read the exported model.
    """
    ref = UNetGenerator(cfg.model)
    ref.load_state_dict({k: v.detach().float().cpu() for k, v in g.state_dict().items()})
    ref.eval()
    export_model: nn.Module = ref
    if fp16:
        half = UNetGenerator(cfg.model)
        half.load_state_dict(ref.state_dict())
        export_model = _Fp16Wrapper(half.eval())
    dst = Path(out)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmpdir:
        tmp = Path(tmpdir) / "model.onnx"
        _torch_export(export_model, ref.in_channels, ref.size_multiple, tmp)
        provisional = ModelManifest.from_dict(build_manifest(cfg, ref, radius=0, overlap=0, fp16=fp16, name=name))
        model = load_model(tmp, provisional)
        diff = _parity(model, ref, ref.in_channels, ref.size_multiple) if check else float("nan")
        if check and not diff <= PARITY_TOL[fp16]:
            raise ModelError(f"ONNX/torch parity failed: max abs diff {diff:.2e} > {PARITY_TOL[fp16]:.0e}", dst)
        radius, overlap = _receptive(model, ref.in_channels, ref.size_multiple)
        del model
        bound = architecture_radius(cfg)
        if bound > radius:
            logger.info("measured radius %d px < architecture bound %d px: overlap sized for the bound", radius, bound)
            overlap = int(recommended_overlap(bound, ref.size_multiple))
        manifest = build_manifest(cfg, ref, radius=radius, overlap=overlap, fp16=fp16, name=name)
        write_manifest_metadata(tmp, ModelManifest.from_dict(manifest), check=True)
        with atomic_write(dst) as final:
            final.write_bytes(tmp.read_bytes())
    if check:
        load_model(dst)  # the app reads the embedded manifest and checks the graph against it
    logger.info("exported %s (parity %.2e, radius %d px, overlap %d px)", dst, diff, radius, overlap)
    return ExportResult(dst, manifest, diff)


def export_onnx(checkpoint: str | Path, out: str | Path, *, fp16: bool = False, name: str | None = None,
                unhinted: float | None = None, version: str | None = None) -> ExportResult:
    """Export the generator of a training checkpoint (``training.trainer`` format) to ONNX.

    ``unhinted`` and ``version`` override the config's ``unhinted_strength`` and ``version`` written
    into the manifest.

    Raises:
        ModelError: unreadable checkpoint, parity failure, or a model the app cannot read.
    """
    g, cfg, _ = load_generator(checkpoint)
    if unhinted is not None:
        cfg.unhinted_strength = float(unhinted)
    if version is not None:
        cfg.version = str(version)
    return export_generator(g, cfg, out, fp16=fp16, name=name)
