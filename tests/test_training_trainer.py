"""Training loop: loss goes down, exact resume, outputs on disk, 2-process DDP (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.checkpoint import load_checkpoint
from training.config import Config, load_config
from training.trainer import Trainer, load_generator

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 procedural pairs at 64 px rendered with the data package (about a second)."""
    from training.data.dataset import render_pairs

    out = tmp_path_factory.mktemp("pairs")
    render_pairs(out, 24, 64, seed=3, shard_size=8)
    return out


def _cfg(pairs: Path, **train: object) -> Config:
    cfg = load_config("tiny")
    cfg.data.pairs_dir = str(pairs)
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def test_few_steps_lower_loss_on_fixed_batch(pairs_dir: Path, tmp_path: Path) -> None:
    """Training steps on a fixed batch of generated pairs lower that batch's L1 + L2 loss."""
    from training.datasets import build_datasets

    cfg = _cfg(pairs_dir, steps=15, val_every=100, ckpt_every=100)
    cfg.discriminator.enabled = False
    cfg.data.hflip = False
    train, val = build_datasets(cfg)
    fixed = torch.utils.data.Subset(train, range(cfg.data.batch_size))
    tr = Trainer(cfg, tmp_path, datasets=(fixed, val))
    batch = next(iter(torch.utils.data.DataLoader(fixed, batch_size=cfg.data.batch_size)))

    def fixed_loss() -> float:
        with torch.no_grad():
            d = tr.g.compose_ink(batch["input"], tr.g(batch["input"])) - batch["target"]
            return float(d.abs().mean() + d.pow(2).mean())

    before = fixed_loss()
    tr.fit()
    assert fixed_loss() < before * 0.98


def test_resume_reproduces_next_step_exactly(pairs_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(pairs_dir, steps=3, ckpt_every=2, val_every=2, keep_checkpoints=3)
    losses_a: dict[int, float] = {}
    a = Trainer(cfg, tmp_path / "a")
    a.fit(progress=lambda s, t, loss, eta: losses_a.__setitem__(s, loss))
    assert (tmp_path / "a" / "checkpoints" / "step_0000002.safetensors").is_file()
    assert (tmp_path / "a" / "samples" / "step_0000002.png").is_file()
    assert (tmp_path / "a" / "curves.png").is_file()
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert {"psnr", "ssim", "ciede2000"} <= set(rows[0])

    losses_b: dict[int, float] = {}
    b = Trainer(cfg, tmp_path / "b")
    b.fit(checkpoint=tmp_path / "a" / "checkpoints" / "step_0000002.safetensors", resume=True,
          progress=lambda s, t, loss, eta: losses_b.__setitem__(s, loss))
    assert list(losses_b) == [3]
    assert losses_b[3] == losses_a[3]
    for (k, va), vb in zip(a.g.state_dict().items(), b.g.state_dict().values()):
        assert torch.equal(va, vb), k


def test_checkpoint_layout(pairs_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg(pairs_dir, steps=1, ckpt_every=1, val_every=1)
    Trainer(cfg, tmp_path).fit()
    tensors, meta = load_checkpoint(tmp_path / "checkpoints" / "latest.safetensors")
    assert meta["step"] == 1 and "rng.torch" in tensors and "rng.aug" in tensors
    assert any(k.startswith("opt_g.") for k in tensors) and any(k.startswith("d.") for k in tensors)
    g, cfg2, _ = load_generator(tmp_path / "checkpoints" / "latest.safetensors")
    assert cfg2.model == cfg.model and g.in_channels == 9


@pytest.mark.timeout(300)
def test_ddp_two_processes_gloo(pairs_dir: Path, tmp_path: Path) -> None:
    toml = (ROOT / "training" / "configs" / "tiny.toml").read_text()
    toml = toml.replace("[data]", f'[data]\npairs_dir = "{pairs_dir}"').replace("steps = 6", "steps = 2")
    cfg_path = tmp_path / "ddp.toml"
    cfg_path.write_text(toml)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.cli", "fit", "--config", str(cfg_path), "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    assert meta["step"] == 2


def test_under_ink_targets(pairs_dir: Path, tmp_path: Path) -> None:
    """``ink_target = "under"``: ink pixels are supervised with the surrounding paper colour, raw output."""
    cfg = _cfg(pairs_dir)
    cfg.loss.ink_target = "under"
    tr = Trainer(cfg, tmp_path)
    x = torch.ones(1, 9, 16, 16)
    x[:, 0, :, 8] = 0.0  # a vertical ink line
    y = torch.zeros(1, 3, 16, 16)
    y[:, 0] = 0.7  # red paper everywhere ...
    y[:, :, :, 8] = 0.0  # ... black ink on the line
    raw = torch.full((1, 3, 16, 16), 0.5)
    pred, tgt = tr._pixel_pairs(x, raw, tr._compose(x, raw), y)
    assert torch.allclose(tgt[0, :, :, 8], torch.tensor([0.7, 0.0, 0.0]).view(3, 1).expand(3, 16))
    assert torch.equal(pred[:, :, :, 8], raw[:, :, :, 8]) and torch.equal(tgt[:, :, :, 2], y[:, :, :, 2])
