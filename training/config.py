"""Training configuration: a TOML file (read with ``tomllib``) mapped onto dataclasses.

Layout of the TOML file (every key optional; defaults below)::

    name = "mangacolor-default"      # model name written into the ONNX manifest
    version = "1.0"
    description = "..."
    seed = 1234

    [model]          # -> training.models.unet.GeneratorConfig
    channels = ["line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask"]
    widths = [16, 32, 48, 96]
    bottleneck_blocks = 1
    norm = "none"                   # or "pixel"; never a spatial norm (tiling)
    residual = true
    skip = "add"
    color_bins = 0                  # e.g. 10 enables the ab-classification head
    space_to_depth = 1              # 2 or 4: pixel-unshuffled input, no full-resolution convs (CPU-efficient)

    [discriminator]  # -> DiscConfig
    [loss]           # -> LossConfig
    [optim]          # -> OptimConfig
    [data]           # -> DataConfig
    [train]          # -> TrainConfig

Relative paths in ``[data]`` are resolved against the config file's folder, then the current folder.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mangacolor_app.core.errors import MangaColorError
from .models.unet import GeneratorConfig

__all__ = [
    "ConfigError",
    "DiscConfig",
    "LossConfig",
    "OptimConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "CONFIG_DIR",
]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(MangaColorError):
    """A training configuration file is unreadable or has unknown/invalid keys."""


@dataclass
class DiscConfig:
    """PatchGAN discriminator; ``enabled = false`` trains with L1 (+ colour CE) only."""

    enabled: bool = True
    ndf: int = 32
    n_layers: int = 3
    start_step: int = 0  # adversarial loss (and D updates) begin at this step


@dataclass
class LossConfig:
    """Loss weights: ``l1`` (pix2pix lambda), ``l2`` (squared error; speeds up the residual model's start),
    ``adv`` (generator adversarial), ``color_ce`` (bin head).

    ``ink_multiply``: losses (and the discriminator, and validation) see the output times the line art,
    as the app shows it by default (``preserve_ink``); the exported model outputs the colour before it.
    ``ink_target = "under"``: on ink pixels (line luma < 0.8) the raw output is compared with the colour of
    the nearby paper pixels (the colour *under* the line, which the app's multiply then darkens) instead of
    the composite with the target's own ink; the model then never learns to darken lines itself.
    """

    l1: float = 100.0
    l2: float = 0.0
    adv: float = 1.0
    gan_mode: str = "lsgan"
    color_ce: float = 1.0
    color_prior_batches: int = 20  # batches used to estimate the ab-bin prior for rebalancing
    ink_multiply: bool = True
    ink_target: str = "composite"  # or "under": supervise the colour under the ink (see Trainer._targets)


@dataclass
class OptimConfig:
    """Adam settings; ``decay`` = ``"none"`` or ``"cosine"`` (to ``min_lr_frac`` x lr at the last step)."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay: str = "cosine"
    min_lr_frac: float = 0.05
    grad_clip: float = 0.0


@dataclass
class DataConfig:
    """Where pairs come from.

    ``pairs_dir``: a folder written by ``render_pairs`` (``CachedPairDataset``); when empty, pairs are
    generated on the fly by ``PairDataset`` (``train_length`` items). ``style_dir`` (fine-tuning): a
    folder of colour images fed to ``PairDataset(source=...)``. The last ``val_count`` items of a
    cached folder (or a separately seeded generator) form the held-out validation split.
    ``art_dir``: a ``render-svg`` folder (``ArtPairDataset``): its train drawings mixed with a
    ``procedural_frac`` share of procedural pictures; validation is half its held-out drawings and half
    procedural pictures. ``zero_hint_prob``: share of samples without any hint (automatic colour).
    """

    pairs_dir: str = ""
    style_dir: str = ""
    art_dir: str = ""
    procedural_frac: float = 0.3
    zero_hint_prob: float = 0.1
    size: int = 256
    train_length: int = 4096
    val_count: int = 32
    batch_size: int = 8
    workers: int = 0
    hflip: bool = True


@dataclass
class TrainConfig:
    """Schedule, logging and device options."""

    steps: int = 20000
    log_every: int = 25
    val_every: int = 1000
    sample_every: int = 1000
    ckpt_every: int = 500
    ckpt_minutes: float = 5.0
    keep_checkpoints: int = 2
    amp: bool = True  # autocast on CUDA only
    channels_last: bool = True
    threads: int = 0  # torch.set_num_threads on CPU; 0 = leave torch's default
    init_from: str = ""  # generator weights to start from (a shallower one is grown: training.warmstart)
    time_limit_min: float = 0.0  # > 0: train this many minutes (resumes included): the LR schedule and the
    # adversarial start (discriminator.start_step / steps) follow the elapsed share of it, the run stops there


@dataclass
class Config:
    """A whole training configuration (see the module docstring for the TOML layout)."""

    name: str = "mangacolor-default"
    version: str = "1.0"
    description: str = "MangaColor default colorizer: line art + hints + flats -> colour (U-Net, L1 + PatchGAN)."
    seed: int = 1234
    unhinted_strength: float = 1.0  # manifest: share of the model's colour kept where no hint/flat reaches
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscConfig = field(default_factory=DiscConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    source_path: str = ""


_SECTIONS: dict[str, type] = {
    "model": GeneratorConfig,
    "discriminator": DiscConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "data": DataConfig,
    "train": TrainConfig,
}


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``; lists become tuples where the default is a tuple.

    Raises:
        ConfigError: unknown keys.
    """
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {', '.join(unknown)}; known: {', '.join(names)}")
    defaults = cls()
    kwargs = {k: tuple(v) if isinstance(getattr(defaults, k), tuple) else v for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a parsed TOML mapping.

    Raises:
        ConfigError: unknown sections or keys, or values of the wrong kind.
    """
    top = {k: v for k, v in raw.items() if k not in _SECTIONS}
    try:
        cfg = _build(Config, top, "top level")
        for section, cls in _SECTIONS.items():
            setattr(cfg, section, _build(cls, dict(raw.get(section, {})), section))
    except TypeError as exc:
        raise ConfigError(f"bad configuration in {source}: {exc}") from exc
    cfg.source_path = source
    if cfg.data.size % cfg.model.size_multiple:
        raise ConfigError(f"data.size {cfg.data.size} is not a multiple of {cfg.model.size_multiple}", source)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """JSON-serialisable mapping of ``cfg`` (tuples become lists); inverse of :func:`config_from_dict`."""
    out = dataclasses.asdict(cfg)
    out.pop("source_path", None)
    return out


def load_config(path: str | Path) -> Config:
    """Read a TOML training configuration.

    A bare name without a suffix (``default``, ``tiny``) refers to ``training/configs/<name>.toml``.

    Raises:
        ConfigError: missing or unparsable file, unknown keys.
    """
    p = Path(path)
    if not p.exists() and p.suffix == "" and (CONFIG_DIR / f"{p.name}.toml").exists():
        p = CONFIG_DIR / f"{p.name}.toml"
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("the configuration file does not exist", p) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration: {exc}", p) from exc
    cfg = config_from_dict(raw, str(p))
    for attr in ("pairs_dir", "style_dir", "art_dir"):
        value = getattr(cfg.data, attr)
        if value and not Path(value).is_absolute() and (p.parent / value).exists():
            setattr(cfg.data, attr, str((p.parent / value).resolve()))
    return cfg
