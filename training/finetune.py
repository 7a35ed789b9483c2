"""Fine-tune the colorizer on an artist's style folder, export it and install it for the app.

``finetune(folder)`` starts from the shipped generator weights (``resources/models/
mangacolor-default.safetensors``) or a given checkpoint, trains a short, low-learning-rate L1 schedule
on pairs made from the folder's colour images (``training.data.dataset.PairDataset(source=folder)``:
line art, screentone and hints are simulated from each picture), exports ONNX (parity-checked) and
installs it into the user's models folder with ``ModelRegistry.install``, so the editor and
``mangacolor colorize --model NAME`` see it.
"""

from __future__ import annotations

import copy
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mangacolor_app.core import paths
from mangacolor_app.core.errors import ModelError
from .config import Config
from .export import export_generator
from .trainer import CancelFn, ProgressFn, Trainer, load_generator

__all__ = ["finetune", "resolve_base", "finetune_config", "DEFAULT_WEIGHTS"]

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "mangacolor-default.safetensors"


def resolve_base(base: str | Path) -> Path:
    """The weights file to start from.

    ``"default"`` (or ``"mangacolor-default"``) means the shipped ``mangacolor-default.safetensors`` in
    the bundled models folder (``core.paths.bundled_models_dir``); anything else is a checkpoint path.

    Raises:
        ModelError: the file does not exist.
    """
    if str(base) in ("default", "mangacolor-default"):
        path = paths.bundled_models_dir() / DEFAULT_WEIGHTS
        if not path.is_file():
            raise ModelError("the shipped default weights are missing; pass --from CHECKPOINT", path)
        return path
    path = Path(base).expanduser()
    if not path.is_file():
        raise ModelError("base checkpoint not found", path)
    return path


def finetune_config(base_cfg: Config, style_folder: Path, steps: int, *, lr_scale: float = 0.25,
                    batch_size: int | None = None, size: int | None = None) -> Config:
    """A short fine-tuning schedule derived from the base model's training configuration.

    L1 only (a fresh discriminator would need far more steps than a fine-tune has), learning rate x
    ``lr_scale``, validation and one checkpoint at the end.
    """
    cfg = copy.deepcopy(base_cfg)
    d, t = cfg.data, cfg.train
    d.pairs_dir, d.style_dir = "", str(style_folder)
    d.batch_size = batch_size or min(d.batch_size, 4)
    d.size = size or d.size
    d.train_length, d.val_count, d.workers = max(steps * d.batch_size, 8), min(d.val_count, 8), 0
    cfg.discriminator.enabled = False
    cfg.optim.lr_g *= lr_scale
    cfg.optim.decay = "cosine"
    t.steps, t.val_every, t.sample_every, t.ckpt_every = steps, steps, steps, steps
    t.log_every = max(1, min(t.log_every, steps // 10 or 1))
    return cfg


def _default_name(base_cfg: Config, folder: Path) -> str:
    """``<base name>-<folder name>`` with unsafe characters replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{base_cfg.name}-{folder.name}").strip("._") or "mangacolor-style"


def finetune(style_folder: str | Path, *, base: str | Path = "default", name: str | None = None, steps: int = 300,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None,
             sample_cb: Callable[[int, np.ndarray], None] | None = None, freeze_encoder: bool = False,
             batch_size: int | None = None, size: int | None = None, work_dir: str | Path | None = None,
             install: bool = True) -> Any:
    """Fine-tune on a folder of colour images and install the result.

    Args:
        style_folder: folder of the artist's colour images (png/jpg/webp/..., any depth).
        base: ``"default"`` (shipped weights) or a checkpoint / weights path.
        name: installed model name (default ``<base name>-<folder name>``).
        steps: optimizer steps.
        progress: ``progress(step, total, loss, eta_seconds)`` after every step.
        cancel: polled every step; True stops with ``CancelledError`` (nothing is installed).
        sample_cb: ``sample_cb(step, grid)`` with an (H, W, 3) uint8 line | hints | output | target grid.
        freeze_encoder: keep the encoder (stem + downsampling path) fixed; only the decoder adapts.
        batch_size, size: override the batch size (default min(base, 4)) and crop side (default base's).
        work_dir: folder for the run's checkpoint and samples (default: a temporary folder).
        install: install into the user models folder (else just return the exported ``.onnx`` path,
            which then must be inside ``work_dir``).

    Returns:
        The :class:`mangacolor_app.inference.registry.InstalledModel` (or the ``.onnx`` Path when
        ``install`` is False).

    Raises:
        ModelError: missing base weights, parity failure on export.
        FileNotFoundError / ValueError: the style folder is missing or holds no images.
        CancelledError: cancelled.
    """
    if not install and work_dir is None:
        raise ValueError("finetune(install=False) needs a work_dir to keep the exported model in")
    folder = Path(style_folder)
    g, base_cfg, _ = load_generator(resolve_base(base))
    cfg = finetune_config(base_cfg, folder, steps, batch_size=batch_size, size=size)
    model_name = name or _default_name(base_cfg, folder)
    cfg.name, cfg.description = model_name, f"{base_cfg.description} Fine-tuned on {folder.name}."
    with tempfile.TemporaryDirectory(prefix="mangacolor-finetune-") as tmp:
        run_dir = Path(work_dir) if work_dir is not None else Path(tmp)
        trainer = Trainer(cfg, run_dir, init_generator=g.state_dict(), freeze_encoder=freeze_encoder)
        metrics = trainer.fit(progress=progress, cancel=cancel, sample_cb=sample_cb)
        logger.info("fine-tuned %s for %d steps: %s", model_name, steps, metrics)
        onnx_path = run_dir / f"{model_name}.onnx"
        export_generator(trainer.g, cfg, onnx_path, name=model_name)
        if not install:
            return onnx_path
        from mangacolor_app.inference.registry import ModelRegistry

        return ModelRegistry().install(onnx_path)
