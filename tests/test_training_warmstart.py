"""Growing a trained generator into a deeper one (training.warmstart) and the time-limited schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.checkpoint import save_weights
from training.config import load_config
from training.models.unet import GeneratorConfig, UNetGenerator
from training.trainer import Trainer
from training.warmstart import grow_generator

torch.set_num_threads(2)


def _trained_like(cfg: GeneratorConfig, seed: int = 0) -> UNetGenerator:
    """A generator with random non-trivial weights everywhere (as a trained one has)."""
    g = UNetGenerator(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return g.eval()


def test_grown_generator_starts_with_the_old_colour() -> None:
    old = _trained_like(GeneratorConfig(widths=(8, 16, 24)))
    new = UNetGenerator(GeneratorConfig(widths=(8, 16, 24, 40), bottleneck_blocks=2))
    grow_generator(old.state_dict(), (8, 16, 24), new).eval()
    x = torch.rand(2, 9, 64, 64)
    with torch.no_grad():
        diff = (old(x) - new(x)).abs()
    fresh = UNetGenerator(GeneratorConfig(widths=(8, 16, 24, 40), bottleneck_blocks=2)).eval()
    with torch.no_grad():
        fresh_diff = (old(x) - fresh(x)).abs()
    assert float(diff.mean()) < 0.1 * float(fresh_diff.mean())
    assert float(diff.max()) < 0.05


def test_grow_refuses_widths_that_do_not_extend() -> None:
    old = _trained_like(GeneratorConfig(widths=(8, 16, 24)))
    with pytest.raises(ValueError):
        grow_generator(old.state_dict(), (8, 16, 24), UNetGenerator(GeneratorConfig(widths=(8, 12, 24, 40))))


def test_trainer_init_from_grows_and_time_limit_drives_the_schedule(tmp_path: Path) -> None:
    cfg = load_config("tiny")
    old = _trained_like(GeneratorConfig(channels=tuple(cfg.model.channels), widths=tuple(cfg.model.widths)))
    weights = save_weights(old, cfg, tmp_path / "old.safetensors")
    cfg.model.widths = (*cfg.model.widths, 24)
    cfg.train.init_from = str(weights)
    cfg.train.steps, cfg.train.time_limit_min = 10**6, 0.02  # 1.2 s of training
    cfg.data.train_length, cfg.data.val_count, cfg.data.size = 64, 4, 32
    cfg.train.val_every = cfg.train.ckpt_every = 10**6
    tr = Trainer(cfg, tmp_path / "run")
    x = torch.rand(1, 9, 32, 32)
    with torch.no_grad():
        assert float((tr.g.eval()(x) - old(x)).abs().max()) < 0.05
    tr.g.train()
    assert tr.progress() == 0.0 and tr._lr_scale(0) == pytest.approx(1.0)
    tr.fit()
    assert 0 < tr.step < 10**6 and tr.progress() == 1.0
    assert tr.train_seconds() >= 1.2
