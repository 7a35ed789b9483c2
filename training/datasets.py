"""Training and validation datasets for a :class:`training.config.Config` (``training.data`` underneath)."""

from __future__ import annotations

from torch.utils.data import ConcatDataset, Dataset, Subset

from .config import Config, ConfigError

__all__ = ["build_datasets"]


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset]:
    """Training and held-out validation sets for ``cfg.data`` (see :class:`training.config.DataConfig`).

    Raises:
        ConfigError: a cached pair folder that lacks some of the model's channels (a folder with more
            channels is fine: the model's planes are picked from it, e.g. for an ablation without flats).
    """
    from .data.dataset import CachedPairDataset, PairDataset

    d, ch = cfg.data, tuple(cfg.model.channels)
    if d.style_dir:
        return (PairDataset(d.style_dir, size=d.size, seed=cfg.seed, length=d.train_length, channels=ch),
                PairDataset(d.style_dir, size=d.size, seed=cfg.seed + 7919, length=d.val_count, channels=ch))
    if d.art_dir:
        return _art_datasets(cfg)
    if d.pairs_dir:
        try:
            full = CachedPairDataset(d.pairs_dir, flip=False, preload=True, channels=ch)
        except ValueError as exc:
            raise ConfigError(f"{exc}; the model wants {list(ch)}", d.pairs_dir) from exc
        n = len(full)
        if n <= d.val_count:
            raise ConfigError(f"only {n} pairs, fewer than val_count + 1", d.pairs_dir)
        return Subset(full, range(n - d.val_count)), Subset(full, range(n - d.val_count, n))
    return (PairDataset(None, size=d.size, seed=cfg.seed, length=d.train_length, channels=ch),
            PairDataset(None, size=d.size, seed=cfg.seed + 7919, length=d.val_count, channels=ch))


def _art_datasets(cfg: Config) -> tuple[Dataset, Dataset]:
    """Training: the art folder's train drawings + procedural; validation: its held-out drawings and
    procedural pictures of another seed, half each (``val_count`` in all)."""
    from .data.artset import ArtPairDataset

    d, ch = cfg.data, tuple(cfg.model.channels)
    common = {"size": d.size, "channels": ch, "zero_hint_prob": d.zero_hint_prob}
    train = ArtPairDataset(d.art_dir, "train", seed=cfg.seed, length=d.train_length,
                           procedural_frac=d.procedural_frac, **common)
    half = max(1, d.val_count // 2)
    val = ConcatDataset([ArtPairDataset(d.art_dir, "val", seed=cfg.seed + 7919, length=half, procedural_frac=0.0,
                                        **common),
                         ArtPairDataset(d.art_dir, "val", seed=cfg.seed + 7919, length=d.val_count - half,
                                        procedural_frac=1.0, **common)])
    return train, val
