"""Training checkpoints as a single safetensors file, written atomically.

Tensor keys: ``g.<param>`` (generator state dict), ``d.<param>`` (discriminator), ``opt_g.<i>.<key>`` /
``opt_d.<i>.<key>`` (optimizer per-parameter state tensors), ``rng.torch`` (uint8 CPU generator state),
``rng.cuda.<k>``, ``rng.numpy`` (uint32 MT19937 key). The safetensors metadata holds one JSON blob under
``mangacolor_checkpoint``: config, step, optimizer param groups and non-tensor state, the Python and
numpy RNG scalars, the loss/metric history and free-form extras.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import ModelError

__all__ = [
    "META_KEY",
    "flatten_optimizer",
    "unflatten_optimizer",
    "capture_rng",
    "restore_rng",
    "save_checkpoint",
    "load_checkpoint",
    "sub_state",
    "load_generator",
    "save_weights",
]

if TYPE_CHECKING:
    from .config import Config
    from .models.unet import UNetGenerator

logger = logging.getLogger(__name__)

META_KEY = "mangacolor_checkpoint"


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (``{prefix}.{param_index}.{key}``) and JSON metadata.

    Returns:
        (tensors, meta) where meta holds ``param_groups`` and non-tensor per-parameter values.
    """
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`flatten_optimizer`: load the state into ``opt`` (tensors moved to its params' device)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def capture_rng() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Snapshot the torch (CPU and CUDA), numpy and Python RNGs as (tensors, JSON metadata)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for k, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{k}"] = s
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.uint32).astype(np.int64))
    py_state = random.getstate()
    meta = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def restore_rng(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Restore RNG states captured by :func:`capture_rng` (CUDA states only when CUDA is available)."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
        if states:
            torch.cuda.set_rng_state_all(states)
    name, pos, gauss_has, gauss = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, gauss_has, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` and the JSON ``meta`` blob to ``path`` atomically.

    Raises:
        ImageSaveError: the folder is missing or unwritable (from ``core.atomic``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_write(target) as tmp:
        save_file(clean, str(tmp), metadata={META_KEY: json.dumps(meta)})
    logger.info("checkpoint written: %s", target)
    return target


def load_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        (tensors on CPU, meta dict).

    Raises:
        ModelError: missing, corrupt, or not a MangaColor checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError("checkpoint not found", p)
    try:
        tensors = load_file(str(p))
        from safetensors import safe_open

        with safe_open(str(p), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read the checkpoint: {exc}", p) from exc
    if raw is None:
        raise ModelError(f"not a MangaColor checkpoint (no '{META_KEY}' metadata)", p)
    return tensors, json.loads(raw)


def sub_state(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The state dict stored under ``prefix.`` (e.g. ``"g"`` for the generator), prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_generator(path: str | Path) -> tuple[UNetGenerator, Config, dict[str, Any]]:
    """Rebuild the generator from a training checkpoint (or a weights file with the same metadata).

    Returns:
        (generator in eval mode on CPU, its training Config, the checkpoint metadata).

    Raises:
        ModelError: unreadable checkpoint.
        ConfigError: its embedded configuration is invalid.
    """
    from .config import config_from_dict
    from .models.unet import UNetGenerator

    tensors, meta = load_checkpoint(path)
    cfg = config_from_dict(meta["config"], str(path))
    g = UNetGenerator(cfg.model)
    g.load_state_dict(sub_state(tensors, "g"))
    return g.eval(), cfg, meta


def save_weights(g: UNetGenerator, cfg: Config, path: str | Path) -> Path:
    """Write generator-only weights (``g.*`` tensors + config metadata), loadable by :func:`load_generator`.

    This is the format of the shipped ``resources/models/mangacolor-default.safetensors``.
    """
    from .config import config_to_dict

    tensors = {f"g.{k}": v for k, v in g.state_dict().items()}
    return save_checkpoint(path, tensors, {"format": 1, "step": -1, "config": config_to_dict(cfg)})
