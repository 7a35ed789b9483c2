"""Score an exported ONNX model on pre-rendered pairs (``render_pairs`` folders).

The model runs on the pairs' stored inputs through the app's own model object
(``inference.model.OnnxModel``: the manifest's input/output ranges and output space, the unhinted gate
at the manifest's ``unhinted_strength``, and the ink multiply the app applies by default), so the
scores are those of what the app produces for those inputs; the output is compared with the targets.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mangacolor_app.core.errors import ModelError
from .export import load_model
from .metrics import image_metrics

__all__ = ["evaluate_onnx"]

logger = logging.getLogger(__name__)


def evaluate_onnx(model: str | Path, pairs_dir: str | Path, *, limit: int = 64, batch: int = 4,
                  unhinted: float | None = None) -> dict[str, float]:
    """Mean PSNR / SSIM / CIEDE2000 of ``model`` on the last ``limit`` pairs of ``pairs_dir``.

    The pairs may hold more channels than the model takes: the model's planes are picked from them.
    ``unhinted`` overrides the manifest's ``unhinted_strength`` (as ``mangacolor colorize --unhinted``).

    Raises:
        ModelError: the pairs lack a channel the model takes (names the folder).
        FileNotFoundError: not a ``render_pairs`` folder.
    """
    from .data.dataset import CachedPairDataset

    net = load_model(model)
    manifest = net.manifest
    try:
        data = CachedPairDataset(pairs_dir, flip=False, preload=False, channels=manifest.channels)
    except ValueError as exc:
        raise ModelError(f"cannot evaluate it on {exc}", model) from exc
    ink = "line" in manifest.channels
    idx = list(range(max(0, len(data) - limit), len(data)))
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "ciede2000": []}
    for k in range(0, len(idx), batch):
        items = [data[i] for i in idx[k : k + batch]]
        x = torch.stack([it["input"] for it in items])
        y = torch.stack([it["target"] for it in items])
        out = torch.from_numpy(net(x.numpy(), unhinted=unhinted, preserve_ink=ink))
        for name, vals in image_metrics(out, y).items():
            scores[name].extend(vals.tolist())
    result = {k: float(np.mean(v)) for k, v in scores.items()}
    logger.info("%s on %d pairs: %s", model, len(idx), result)
    return result | {"n": float(len(idx))}
