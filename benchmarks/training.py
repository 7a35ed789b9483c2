"""Training benchmark: prints one JSON object.

Fields: ``train_images_per_s_cpu`` for the default config at its crop size (L1 phase and L1+GAN phase),
``train_images_per_s_gpu`` where CUDA is present, ``gflop_per_mp``, ``export_parity_max_abs_diff``
(default architecture, ONNX vs torch), ``receptive_radius`` (measured on the untrained export, whose
near-zero residual head reaches almost nowhere), ``architecture_radius`` and the ``overlap`` sized for it,
``onnx_1mp_seconds`` (CPU onnxruntime, 1024 x 1024, median of 3).

    .venv/bin/python benchmarks/training.py [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the package it measures: keep its own folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from training.config import Config, load_config  # noqa: E402
from training.export import architecture_radius, export_generator, onnx_session  # noqa: E402
from training.models.unet import UNetGenerator, count_flops_per_mp  # noqa: E402
from training.trainer import Trainer  # noqa: E402


class _RandomPairs(torch.utils.data.Dataset):
    """Random tensors shaped like the default config's pairs (benchmarks the model, not the data)."""

    def __init__(self, n: int, channels: int, size: int) -> None:
        self.n, self.c, self.s = n, channels, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return {"input": torch.rand(self.c, self.s, self.s, generator=g), "target": torch.rand(3, self.s, self.s, generator=g)}


def _train_speed(cfg: Config, device: str, steps: int, gan: bool) -> float:
    """Images per second over ``steps`` timed steps (after one warm-up step)."""
    from training.ddp import DistInfo

    cfg.discriminator.start_step = 0 if gan else 10**9
    ch = UNetGenerator(cfg.model).in_channels
    data = _RandomPairs(64, ch, cfg.data.size)
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, tmp, info=DistInfo(device=torch.device(device)), datasets=(data, data))
        batches = tr._batches()
        tr.train_step(next(batches))
        t0 = time.perf_counter()
        for _ in range(steps):
            tr.train_step(next(batches))
        if device == "cuda":
            torch.cuda.synchronize()
        return steps * cfg.data.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("default")
    cfg.train.threads = args.threads
    result: dict[str, object] = {"config": "default", "crop": cfg.data.size, "batch": cfg.data.batch_size,
                                 "threads": args.threads}
    result["train_images_per_s_cpu"] = {"l1": round(_train_speed(load_config("default"), "cpu", args.steps, False), 2),
                                        "l1_gan": round(_train_speed(load_config("default"), "cpu", args.steps, True), 2)}
    if torch.cuda.is_available():
        result["train_images_per_s_gpu"] = round(_train_speed(load_config("default"), "cuda", 4 * args.steps, True), 2)
    g = UNetGenerator(cfg.model).eval()
    result["gflop_per_mp"] = round(count_flops_per_mp(g, g.in_channels), 2)
    with tempfile.TemporaryDirectory() as tmp:
        res = export_generator(g, cfg, Path(tmp) / "m.onnx")
        result["export_parity_max_abs_diff"] = res.max_abs_diff
        result["receptive_radius"], result["overlap"] = res.manifest["receptive_radius"], res.manifest["overlap"]
        result["architecture_radius"] = architecture_radius(cfg)
        sess = onnx_session(res.path, threads=args.threads)
        x = np.random.default_rng(0).random((1, g.in_channels, 1024, 1024), dtype=np.float32)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            sess.run(["output"], {"input": x})
            times.append(time.perf_counter() - t0)
        result["onnx_1mp_seconds"] = round(float(np.median(times)), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
