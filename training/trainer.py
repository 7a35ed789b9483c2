"""pix2pix-style training loop: U-Net generator, PatchGAN, L1 + adversarial (+ colour-bin CE) losses.

``Trainer(cfg, out_dir).fit(resume=True)`` writes under ``out_dir``:

* ``checkpoints/step_XXXXXXX.safetensors`` and ``checkpoints/latest.safetensors`` (atomic; see
  :mod:`training.checkpoint`): generator, discriminator, optimizer and RNG states, so that a run killed
  at any time resumes from its last checkpoint with exactly the batches and losses it would have had;
* ``samples/step_XXXXXXX.png`` (line | hints | output | target) and ``curves.png``;
* ``metrics.jsonl`` (one JSON line per validation), TensorBoard events when tensorboard is installed.

Batches are ``{"input": (N, C, S, S), "target": (N, 3, S, S)}`` float32 in [0, 1] from
``training.data.dataset``. Works on CPU, one GPU (bf16/fp16 autocast) or many (torchrun + DDP).
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from mangacolor_app.core.atomic import atomic_write
from mangacolor_app.core.errors import CancelledError
from . import checkpoint as ckpt
from .checkpoint import load_generator, save_weights
from .config import Config, config_to_dict
from .datasets import build_datasets
from .ddp import DistInfo, ResumableSampler, all_reduce_mean, barrier, init_distributed, wrap_model
from .metrics import image_metrics
from .models.losses import adversarial_loss, l1_loss, rebalanced_ce
from .models.patchgan import PatchDiscriminator
from .models.unet import UNetGenerator
from .viz import draw_curves, sample_grid, save_png
from .warmstart import init_from_weights

__all__ = ["Trainer", "build_datasets", "load_generator", "save_weights", "ProgressFn", "CancelFn", "SampleFn"]  # noqa: F822

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, float, float], None]  # (step, total, loss, eta seconds)
CancelFn = Callable[[], bool]
SampleFn = Callable[[int, np.ndarray], None]  # (step, (H, W, 3) uint8 sample grid)


def _tensorboard(out_dir: Path) -> Any:
    """A SummaryWriter when tensorboard is importable, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / "tb"))


class Trainer:
    """Owns models, optimizers, data and the loop.

    Args:
        cfg: training configuration.
        out_dir: run folder (created).
        info: distribution info (default: from the environment via :func:`training.ddp.init_distributed`).
        datasets: optional (train, val) datasets replacing :func:`build_datasets`.
        init_generator: optional generator state dict to start from (fine-tuning).
        freeze_encoder: keep the stem and downsampling layers fixed.
    """

    def __init__(self, cfg: Config, out_dir: str | Path, *, info: DistInfo | None = None,
                 datasets: tuple[Dataset, Dataset] | None = None, init_generator: dict[str, Tensor] | None = None,
                 freeze_encoder: bool = False) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.info = info or init_distributed()
        self.device = self.info.device
        if cfg.train.threads and self.device.type == "cpu":
            torch.set_num_threads(cfg.train.threads)
        self._seed_all(cfg.seed + self.info.rank)
        self.g = UNetGenerator(cfg.model)
        if init_generator is not None:
            self.g.load_state_dict(init_generator)
        elif cfg.train.init_from:
            init_from_weights(self.g, cfg.train.init_from)
        self.g.to(self.device)
        if freeze_encoder:
            for mod in (self.g.stem, self.g.downs):
                mod.requires_grad_(False)
        self.d = PatchDiscriminator(self.g.in_channels, cfg.discriminator.ndf, cfg.discriminator.n_layers).to(self.device)
        self._memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
        self.g.to(memory_format=self._memory_format)
        self.d.to(memory_format=self._memory_format)
        o = cfg.optim
        self.opt_g = torch.optim.Adam([p for p in self.g.parameters() if p.requires_grad], lr=o.lr_g, betas=o.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=o.lr_d, betas=o.betas)
        self.g_run, self.d_run = wrap_model(self.g, self.info), wrap_model(self.d, self.info)
        self.train_set, self.val_set = datasets or build_datasets(cfg)
        self.sampler = ResumableSampler(self.train_set, self.info, seed=cfg.seed)
        self.aug = torch.Generator().manual_seed(cfg.seed * 1000 + self.info.rank)
        self.step = 0
        self.history: dict[str, list[list[float]]] = {}
        self.last_grid: np.ndarray | None = None
        self._amp_dtype = self._pick_amp()
        self.tb = _tensorboard(self.out) if self.info.is_main else None
        self._seconds_before, self._fit_t0 = 0.0, None

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _seed_all(seed: int) -> None:
        """Seed Python, numpy and torch."""
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _pick_amp(self) -> torch.dtype | None:
        """bf16 autocast dtype on CUDA when enabled and supported, else None (float32).

        fp16 autocast would need loss scaling; GPUs without bf16 train in float32 instead.
        """
        if not (self.cfg.train.amp and self.device.type == "cuda"):
            return None
        if not torch.cuda.is_bf16_supported():
            logger.info("this GPU has no bf16: training in float32")
            return None
        return torch.bfloat16

    def _autocast(self) -> Any:
        """Autocast context on CUDA (no-op elsewhere)."""
        return torch.autocast("cuda", dtype=self._amp_dtype or torch.float32, enabled=self._amp_dtype is not None)

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per pass over this rank's share of the training set."""
        return max(1, len(self.sampler.inner) // self.cfg.data.batch_size)

    def progress(self) -> float:
        """Share of the run done, 0..1: steps done / ``train.steps``, or, with ``train.time_limit_min``,
        the larger of that and the training time so far / the limit (kept across resumes)."""
        t = self.step / max(1, self.cfg.train.steps)
        limit = self.cfg.train.time_limit_min
        if limit > 0:
            t = max(t, self.train_seconds() / (60.0 * limit))
        return min(1.0, t)

    def train_seconds(self) -> float:
        """Training time of this run so far, resumed runs included."""
        running = time.monotonic() - self._fit_t0 if self._fit_t0 is not None else 0.0
        return self._seconds_before + running

    def _lr_scale(self, step: int) -> float:
        """Learning-rate multiplier (cosine decay over :meth:`progress` to ``min_lr_frac``, or constant);
        ``step`` is the current step (the schedule follows :meth:`progress`)."""
        o = self.cfg.optim
        if o.decay == "none":
            return 1.0
        t = self.progress()
        return o.min_lr_frac + (1 - o.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t))

    # ------------------------------------------------------------------ one step
    def _compose(self, x: Tensor, rgb: Tensor) -> Tensor:
        """The image the losses see: ``rgb`` times the line art when ``loss.ink_multiply``, else ``rgb``."""
        return self.g.compose_ink(x, rgb) if self.cfg.loss.ink_multiply else rgb

    def _pixel_pairs(self, x: Tensor, raw: Tensor, comp: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(prediction, target) for the reconstruction losses, ``(N, 3, H, W)`` each.

        ``ink_target = "composite"``: the composite against the target. ``"under"``: on ink pixels the raw
        output against the target's colour averaged over the paper pixels of a 9 x 9 neighbourhood.
        """
        if self.cfg.loss.ink_target != "under" or "line" not in self.g.slices:
            return comp, y
        paper = (x[:, self.g.slices["line"]] > 0.8).to(y.dtype)
        den = F.avg_pool2d(paper, 9, stride=1, padding=4)
        under = F.avg_pool2d(y * paper, 9, stride=1, padding=4) / den.clamp_min(1e-3)
        ink = (paper < 0.5) & (den > 0.05)
        return torch.where(ink, raw, comp), torch.where(ink, under, y)

    def _prepare(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Move a batch to the device, flip half of it left-right (seeded), set the memory format."""
        x, y = batch["input"], batch["target"]
        if self.cfg.data.hflip:
            flip = torch.rand(x.shape[0], generator=self.aug) < 0.5
            i = flip.nonzero().flatten()  # the collated batch is the trainer's own: flip those rows in place
            if i.numel():
                x[i], y[i] = x[i].flip(3), y[i].flip(3)
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self._memory_format)
        y = y.to(self.device, non_blocking=True).contiguous(memory_format=self._memory_format)
        return x, y

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One discriminator + generator update; returns the losses (``loss`` = total generator loss)."""
        cfg, lc = self.cfg, self.cfg.loss
        for opt, base in ((self.opt_g, cfg.optim.lr_g), (self.opt_d, cfg.optim.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * self._lr_scale(self.step)
        x, y = self._prepare(batch)
        gan_from = cfg.discriminator.start_step / max(1, cfg.train.steps)
        use_gan = cfg.discriminator.enabled and lc.adv > 0 and (self.step >= cfg.discriminator.start_step
                                                                 or self.progress() >= gan_from)
        with self._autocast():
            raw, logits = self.g_run(x, return_logits=True)
            fake = self._compose(x, raw)
        out: dict[str, float] = {}
        if use_gan:
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                loss_d = 0.5 * (adversarial_loss(self.d_run(x, y), True, lc.gan_mode)
                                + adversarial_loss(self.d_run(x, fake.detach()), False, lc.gan_mode))
            loss_d.backward()
            self.opt_d.step()
            out["d"] = loss_d.item()
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            pred, tgt = self._pixel_pairs(x, raw.float(), fake.float(), y)
            l1 = l1_loss(pred, tgt)
            loss = lc.l1 * l1
            if lc.l2 > 0:
                l2 = (pred - tgt).pow(2).mean()
                loss = loss + lc.l2 * l2
                out["l2"] = l2.item()
            if use_gan:
                g_adv = adversarial_loss(self.d_run(x, fake), True, lc.gan_mode)
                loss = loss + lc.adv * g_adv
                out["g_adv"] = g_adv.item()
            if logits is not None and self.g.color_head is not None:
                ce = rebalanced_ce(logits.float(), self.g.color_head.targets(y), self.g.color_head.weights)
                loss = loss + lc.color_ce * ce
                out["color_ce"] = ce.item()
        loss.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.g.parameters(), cfg.optim.grad_clip)
        self.opt_g.step()
        out["l1"], out["loss"] = l1.item(), all_reduce_mean(loss.detach(), self.info).item()
        self.step += 1
        return out

    # ------------------------------------------------------------------ validation and pictures
    @torch.no_grad()
    def validate(self, max_items: int | None = None) -> dict[str, float]:
        """PSNR / SSIM / mean CIEDE2000 of the generator on the validation set (rank 0 only).

        Also writes ``samples/step_XXXXXXX.png`` with the first four validation items.
        """
        self.g.eval()
        loader = DataLoader(self.val_set, batch_size=self.cfg.data.batch_size, shuffle=False)
        sums: dict[str, list[float]] = {"psnr": [], "ssim": [], "ciede2000": []}
        for k, batch in enumerate(loader):
            x = batch["input"].to(self.device).contiguous(memory_format=self._memory_format)
            y = batch["target"].to(self.device)
            with self._autocast():
                pred = self._compose(x, self.g(x)).float()
            for name, vals in image_metrics(pred, y).items():
                sums[name].extend(vals.tolist())
            if k == 0:
                self.last_grid = sample_grid(x[:4], pred[:4], y[:4], self.g.slices)
                save_png(self.out / "samples" / f"step_{self.step:07d}.png", self.last_grid)
            if max_items is not None and len(sums["psnr"]) >= max_items:
                break
        self.g.train()
        return {k: float(np.mean(v)) for k, v in sums.items() if v}

    def _record(self, name: str, value: float) -> None:
        """Append (step, value) to the history and TensorBoard."""
        self.history.setdefault(name, []).append([self.step, value])
        if self.tb is not None:
            self.tb.add_scalar(name, value, self.step)

    def _write_curves(self) -> None:
        """Redraw ``curves.png`` from the history."""
        h = {k: [tuple(p) for p in v] for k, v in self.history.items()}
        panels = {"train L1": {"l1": h.get("train/l1", [])},
                  "GAN": {k.split("/")[1]: h[k] for k in ("train/d", "train/g_adv") if k in h},
                  "val PSNR (dB)": {"psnr": h.get("val/psnr", [])},
                  "val CIEDE2000": {"dE00": h.get("val/ciede2000", [])},
                  "val SSIM": {"ssim": h.get("val/ssim", [])}}
        draw_curves(panels, self.out / "curves.png")

    def _validate_and_log(self) -> dict[str, float]:
        """Validate, record metrics, append to metrics.jsonl, redraw curves (rank 0)."""
        metrics = self.validate()
        for k, v in metrics.items():
            self._record(f"val/{k}", v)
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": self.step, "time": time.time(), **metrics}) + "\n")
        self._write_curves()
        logger.info("step %d validation: PSNR %.2f dB, SSIM %.4f, CIEDE2000 %.2f", self.step,
                    metrics.get("psnr", float("nan")), metrics.get("ssim", float("nan")), metrics.get("ciede2000", float("nan")))
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Everything needed to resume: (tensors, JSON metadata)."""
        tensors = {f"g.{k}": v for k, v in self.g.state_dict().items()}
        tensors |= {f"d.{k}": v for k, v in self.d.state_dict().items()}
        tg, mg = ckpt.flatten_optimizer(self.opt_g, "opt_g")
        td, md = ckpt.flatten_optimizer(self.opt_d, "opt_d")
        tr, mr = ckpt.capture_rng()
        tensors |= tg | td | tr | {"rng.aug": self.aug.get_state()}
        meta = {"format": 1, "step": self.step, "config": config_to_dict(self.cfg), "opt_g": mg, "opt_d": md,
                "rng": mr, "history": self.history, "time": time.time(), "train_seconds": self.train_seconds()}
        return tensors, meta

    def save(self) -> Path:
        """Write ``checkpoints/step_XXXXXXX.safetensors`` and ``latest.safetensors``; prune old ones."""
        folder = self.out / "checkpoints"
        tensors, meta = self.state()
        path = ckpt.save_checkpoint(folder / f"step_{self.step:07d}.safetensors", tensors, meta)
        with atomic_write(folder / "latest.safetensors") as tmp:
            shutil.copyfile(path, tmp)
        for old in sorted(folder.glob("step_*.safetensors"))[: -self.cfg.train.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return path

    def _keep_best(self, metrics: dict[str, float]) -> None:
        """Write ``checkpoints/best.safetensors`` when the validation CIEDE2000 is the lowest so far."""
        score = metrics.get("ciede2000")
        if score is None:
            return
        previous = [v for s, v in self.history.get("val/ciede2000", []) if s < self.step]
        if previous and score >= min(previous):
            return
        tensors, meta = self.state()
        ckpt.save_checkpoint(self.out / "checkpoints" / "best.safetensors", tensors, meta)
        logger.info("step %d: best validation CIEDE2000 so far (%.3f)", self.step, score)

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save` (models, optimizers, RNGs, step, history).

        Raises:
            ModelError: unreadable checkpoint or one from a different architecture.
        """
        tensors, meta = ckpt.load_checkpoint(path)
        self.g.load_state_dict(ckpt.sub_state(tensors, "g"))
        self.d.load_state_dict(ckpt.sub_state(tensors, "d"))
        ckpt.unflatten_optimizer(self.opt_g, "opt_g", tensors, meta["opt_g"])
        ckpt.unflatten_optimizer(self.opt_d, "opt_d", tensors, meta["opt_d"])
        ckpt.restore_rng(tensors, meta["rng"])
        self.aug.set_state(tensors["rng.aug"].to(torch.uint8))
        self.step, self.history = int(meta["step"]), meta.get("history", {})
        self._seconds_before = float(meta.get("train_seconds", 0.0))
        logger.info("resumed from %s at step %d", path, self.step)

    # ------------------------------------------------------------------ the loop
    def _batches(self) -> Any:
        """Endless batches starting at the current step's position in its epoch."""
        while True:
            epoch, within = divmod(self.step, self.steps_per_epoch)
            self.sampler.set_position(epoch, within * self.cfg.data.batch_size)
            loader = DataLoader(self.train_set, batch_size=self.cfg.data.batch_size, sampler=self.sampler,
                                drop_last=True, num_workers=self.cfg.data.workers, persistent_workers=False,
                                pin_memory=self.device.type == "cuda")  # so that non_blocking copies are async
            yield from loader

    def _estimate_color_prior(self) -> None:
        """Fill the colour head's rebalancing weights from the first training batches (once)."""
        head = self.g.color_head
        if head is None or bool(head.prior_set):
            return
        n = min(len(self.train_set), self.cfg.loss.color_prior_batches * self.cfg.data.batch_size)
        loader = DataLoader(Subset(self.train_set, range(n)), batch_size=self.cfg.data.batch_size)
        prior = torch.zeros(head.num_bins, device=self.device)
        for batch in loader:
            prior += head.targets(batch["target"].to(self.device)).sum(dim=(0, 2, 3))
        head.set_prior(all_reduce_mean(prior, self.info))

    def fit(self, resume: bool = False, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
            checkpoint: str | Path | None = None, sample_cb: SampleFn | None = None) -> dict[str, float]:
        """Train to ``cfg.train.steps``.

        Args:
            resume: continue from ``checkpoint`` or ``out_dir/checkpoints/latest.safetensors`` when present.
            progress: called as ``progress(step, total, loss, eta_seconds)`` after every step (rank 0).
            cancel: polled every step; when it returns True a checkpoint is written and
                :class:`~mangacolor_app.core.errors.CancelledError` raised.
            checkpoint: explicit checkpoint to resume from.
            sample_cb: called as ``sample_cb(step, grid)`` after each validation with the (H, W, 3) uint8
                sample grid (line | hints | output | target).

        Returns:
            The last validation metrics.
        """
        tc = self.cfg.train
        latest = Path(checkpoint) if checkpoint else self.out / "checkpoints" / "latest.safetensors"
        if resume and latest.exists():
            self.load(latest)
        self.out.mkdir(parents=True, exist_ok=True)
        self._estimate_color_prior()
        main = self.info.is_main
        bar = tqdm(total=tc.steps, initial=self.step, disable=not main, dynamic_ncols=True, desc="train",
                   mininterval=1.0 if sys.stderr.isatty() else 30.0)
        start_step, t0, last_ckpt, metrics = self.step, time.monotonic(), time.monotonic(), {}
        self._fit_t0 = t0
        batches = self._batches()
        while self.step < tc.steps:
            if cancel is not None and cancel():
                if main:
                    self.save()
                raise CancelledError("training cancelled")
            losses = self.train_step(next(batches))
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3f}", l1=f"{losses['l1']:.4f}", refresh=False)
            rate = (self.step - start_step) / max(time.monotonic() - t0, 1e-6)
            eta = (tc.steps - self.step) / max(rate, 1e-9)
            if main and progress is not None:
                progress(self.step, tc.steps, losses["loss"], eta)
            if main and (self.step % tc.log_every == 0 or self.step == tc.steps):
                for k, v in losses.items():
                    self._record(f"train/{k}", v)
                logger.info("step %d/%d loss %.4f l1 %.4f %.2f img/s eta %.0fs", self.step, tc.steps, losses["loss"],
                            losses["l1"], rate * self.cfg.data.batch_size * self.info.world_size, eta)
            if tc.time_limit_min > 0 and self.progress() >= 1.0 and self.step < tc.steps:
                logger.info("time limit of %.1f min reached at step %d", tc.time_limit_min, self.step)
                tc.steps = self.step
            if main and (self.step % tc.val_every == 0 or self.step == tc.steps):
                metrics = self._validate_and_log()
                self._keep_best(metrics)
                if sample_cb is not None and self.last_grid is not None:
                    sample_cb(self.step, self.last_grid)
            due = self.step % tc.ckpt_every == 0 or time.monotonic() - last_ckpt > 60 * tc.ckpt_minutes
            if main and (due or self.step == tc.steps):
                self.save()
                last_ckpt = time.monotonic()
            if tc.ckpt_every and self.step % tc.ckpt_every == 0:
                barrier(self.info)
        bar.close()
        barrier(self.info)  # rank 0 validates and saves last: every rank waits before the group is destroyed
        if self.tb is not None:
            self.tb.close()
        return metrics

