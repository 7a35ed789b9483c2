"""Score an exported ONNX model on pre-rendered pairs (``render_pairs`` folders).

The model runs on the pairs' stored inputs through onnxruntime; its output is multiplied by the line
art as the app does by default (``preserve_ink``) and compared with the targets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mangacolor_app.core.errors import ModelError
from mangacolor_app.core.model_inputs import token_slices
from .export import onnx_session
from .metrics import image_metrics

__all__ = ["evaluate_onnx"]

logger = logging.getLogger(__name__)


def evaluate_onnx(model: str | Path, pairs_dir: str | Path, *, limit: int = 64, batch: int = 4) -> dict[str, float]:
    """Mean PSNR / SSIM / CIEDE2000 of ``model`` on the last ``limit`` pairs of ``pairs_dir``.

    The pairs may hold more channels than the model takes: the model's planes are picked from them.

    Raises:
        ModelError: the pairs lack a channel the model takes (names the folder).
        FileNotFoundError: not a ``render_pairs`` folder.
    """
    from mangacolor_app.inference.manifest import read_manifest
    from .data.dataset import CachedPairDataset

    manifest = read_manifest(model)
    try:
        data = CachedPairDataset(pairs_dir, flip=False, preload=False, channels=manifest.channels)
    except ValueError as exc:
        raise ModelError(f"cannot evaluate it on {exc}", model) from exc
    session = onnx_session(model)
    line = token_slices(manifest.channels).get("line")
    idx = list(range(max(0, len(data) - limit), len(data)))
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "ciede2000": []}
    for k in range(0, len(idx), batch):
        items = [data[i] for i in idx[k : k + batch]]
        x = torch.stack([it["input"] for it in items])
        y = torch.stack([it["target"] for it in items])
        out = torch.from_numpy(session.run(["output"], {"input": x.numpy()})[0]).clamp(0, 1)
        if line is not None:
            out = out * x[:, line]
        for name, vals in image_metrics(out, y).items():
            scores[name].extend(vals.tolist())
    result = {k: float(np.mean(v)) for k, v in scores.items()}
    logger.info("%s on %d pairs: %s", model, len(idx), result)
    return result | {"n": float(len(idx))}
