"""Training and validation datasets for a :class:`training.config.Config` (``training.data`` underneath)."""

from __future__ import annotations

from torch.utils.data import Dataset, Subset

from training.config import Config, ConfigError

__all__ = ["build_datasets"]


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset]:
    """Training and held-out validation sets for ``cfg.data`` (see :class:`training.config.DataConfig`).

    Raises:
        ConfigError: a cached pair folder that lacks some of the model's channels (a folder with more
            channels is fine: the model's planes are picked from it, e.g. for an ablation without flats).
    """
    from training.data.dataset import CachedPairDataset, PairDataset

    d, ch = cfg.data, tuple(cfg.model.channels)
    if d.style_dir:
        return (PairDataset(d.style_dir, size=d.size, seed=cfg.seed, length=d.train_length, channels=ch),
                PairDataset(d.style_dir, size=d.size, seed=cfg.seed + 7919, length=d.val_count, channels=ch))
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
