"""Benchmark of the tiled CPU colorization pipeline; prints ONE JSON object on stdout.

Keys: seam_max_levels / seam_mean_levels (tiled vs whole-page output, 8-bit levels),
overlap_disagreement_levels (two neighbouring tiles' raw outputs where both are blended),
mp_per_s / peak_rss_mb / compute_limit_fraction keyed by page size ("1mp", "4mp", "16mp", "36mp"),
each size run end to end (uint8 page in, uint8 colour out) in a fresh subprocess so that peak RSS
(``resource.getrusage``) is per size; ort_vs_torch (torch eager time / onnxruntime time, same model,
same input, equal threads), gflop_per_mp (2 x conv MACs counted from the ONNX graph), machine_gflops
(best float32 numpy matmul), plus the configuration used. These time the model on every tile
(``unhinted=1``, no hints); ``seconds_per_mp_with_hints`` / ``compute_limit_fraction_with_hints`` time
one run as the app does it (two hint strokes, so flats, gate and the manifest's ``unhinted_strength``).
The tile area budget is the model's ``preferred_tile`` squared unless ``--tile`` is given (for the
default architecture: ``core.receptive.preferred_tile`` of its measured overlap, as training/export.py writes).

The model is the real default architecture (``training.models.unet.UNetGenerator`` built from the
``[model]`` section of ``training/configs/default.toml``, random He-initialised weights so every path
carries signal) exported from torch
here; when the training package cannot be imported, a built-in U-Net of similar size (4
downsamplings, ~1.9M params, ~37 GFLOP/MP) is used instead; ``--model PATH`` benchmarks a given file.
``model`` in the output says which.

Load robustness (the machine may be shared): ``machine_gflops`` is the best float32 matmul rate
measured best-of-N interleaved with the model runs (in every child, between repetitions), model
times are best-of-N, and ``compute_limit_fraction_cpu`` gives the same ratio with CPU time instead of
wall time on both sides (model FLOP per CPU-second over matmul FLOP per CPU-second), which time
slicing by other processes does not distort. ``load_avg`` is the 1-minute load average at the end.

With ``--device cuda`` only the ``gpu`` section is measured (benchmarks/gpu.py: an A4 300 dpi page with
hints, CPU vs GPU, fp32 vs fp16, seconds per page).

Usage: python benchmarks/tiling.py [--quick] [--model PATH] [--builtin] [--tile N] [--overlap N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mangacolor_app.core.model_inputs import CHANNEL_WIDTHS, ModelInputBuilder  # noqa: E402
from mangacolor_app.core.receptive import preferred_tile  # noqa: E402
from mangacolor_app.core.tiling import axis_weights  # noqa: E402
from mangacolor_app.inference.manifest import ModelManifest, read_manifest  # noqa: E402
from mangacolor_app.inference.pipeline import Colorizer, make_tile_fn, measure_model_overlap  # noqa: E402
from mangacolor_app.inference.session import get_session, physical_cores  # noqa: E402

#: page sizes (H, W), manga-page aspect 0.7
SIZES = {"1mp": (1200, 840), "4mp": (2400, 1680), "16mp": (4800, 3360), "36mp": (7200, 5040)}
CHANNELS = ["line", "hint_rgb", "hint_mask"]
DEFAULT_TILE = 1024  # placeholder written into the benchmark model's manifest (replaced in main)
#: model repetitions (best-of) per page size
REPS = {"1mp": 3, "4mp": 3, "16mp": 3, "36mp": 3}


# ----------------------------------------------------------------------------- model


def build_unet(in_ch: int = 5, widths: tuple[int, ...] = (8, 16, 40, 112, 320)):  # noqa: ANN201
    """U-Net: per level a stride-2 conv + conv; decoder transposed conv + conv on the skip concat."""
    import torch
    from torch import nn

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inc = nn.Sequential(nn.Conv2d(in_ch, widths[0], 3, padding=1), nn.ReLU(inplace=True))
            self.down = nn.ModuleList(
                nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU(inplace=True),
                              nn.Conv2d(b, b, 3, padding=1), nn.ReLU(inplace=True))
                for a, b in zip(widths[:-1], widths[1:]))
            self.up = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths[:-1], widths[1:]))
            self.merge = nn.ModuleList(
                nn.Sequential(nn.Conv2d(2 * a, a, 3, padding=1), nn.ReLU(inplace=True)) for a in widths[:-1])
            self.out = nn.Conv2d(widths[0], 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.inc(x)
            skips = [h]
            for down in self.down:
                h = down(h)
                skips.append(h)
            skips.pop()
            for up, merge in zip(reversed(self.up), reversed(self.merge)):
                h = merge(torch.cat([up(h), skips.pop()], dim=1))
            return torch.sigmoid(self.out(h))

    torch.manual_seed(0)
    net = UNet().eval()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.zeros_(mod.bias)
    return net


def build_default_generator():  # noqa: ANN201 - torch type
    """The generator architecture of ``training/configs/default.toml`` (the shipped model's recipe) with
    random He-initialised weights (as ``training.export.architecture_radius`` does), and its channel
    tokens. Raises ImportError when the training package is unavailable."""
    import torch
    from training.config import load_config
    from training.models.unet import UNetGenerator

    cfg = load_config(ROOT / "training" / "configs" / "default.toml").model
    net = UNetGenerator(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / (p[0].numel())) ** 0.5)
    label = f"training/configs/default.toml architecture, widths {tuple(cfg.widths)}, space_to_depth {cfg.space_to_depth}"
    return net, list(cfg.channels), net.size_multiple, label


def export_model(folder: Path, builtin: bool = False) -> tuple[Path, object, str, int]:
    """Export the benchmark model with a manifest into ``folder``: (path, torch module, label, in_channels)."""
    import torch

    net = None
    if not builtin:
        try:
            net, channels, multiple, label = build_default_generator()
        except ImportError as exc:
            logging.getLogger("benchmarks.tiling").warning("default architecture unavailable (%s); using the built-in U-Net", exc)
    if net is None:
        net, channels, multiple, label = build_unet(), CHANNELS, 16, "built-in U-Net (benchmarks/tiling.py)"
    in_ch = sum(CHANNEL_WIDTHS[c] for c in channels)
    path = folder / "bench-unet.onnx"
    axes = {0: "N", 2: "H", 3: "W"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, in_ch, 4 * multiple, 6 * multiple),), str(path), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": axes, "output": axes})
    manifest = {"name": "bench-unet", "channels": channels, "size_multiple": multiple, "overlap": 0,
                "preferred_tile": DEFAULT_TILE, "description": f"benchmark model, {label} (random weights)"}
    from gpu import store_manifest  # sidecar JSON where the onnx package is missing (a GPU machine)

    store_manifest(path, ModelManifest.from_dict(manifest))
    return path, net, label + " (random weights)", in_ch


def count_gflop_per_mp(onnx_path: Path, size: int = 512) -> float:
    """2 x (Conv + ConvTranspose MACs) per megapixel, from ONNX shape inference at size x size."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(onnx_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, None, size, size)):
        if v is not None:
            d.ClearField("dim_param")
            d.dim_value = v
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    weights = {w.name: list(w.dims) for w in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        w = weights[node.input[1]]
        if node.op_type == "Conv":
            macs += int(np.prod(shapes[node.output[0]])) * w[1] * w[2] * w[3]  # w: (Cout, Cin/g, kh, kw)
        else:
            macs += int(np.prod(shapes[node.input[0]])) * w[1] * w[2] * w[3]  # w: (Cin, Cout/g, kh, kw)
    return 2.0 * macs / (size * size / 1e6) / 1e9


# ----------------------------------------------------------------------------- measurements


def machine_gflops(n: int = 2048, repeats: int = 4) -> tuple[float, float]:
    """Best float32 matmul throughput of numpy's BLAS: (GFLOP per wall second, GFLOP per CPU second)."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return 2.0 * n**3 / best / 1e9, 2.0 * n**3 / max(best_cpu, 1e-9) / 1e9


def ort_vs_torch(onnx_path: Path, net: object, in_ch: int, threads: int, size: int = 768, repeats: int = 5) -> dict:
    """Best-of times of the same model on the same input, interleaved: torch eager vs onnxruntime (CPU),
    both with ``threads`` intra-op threads; onnxruntime through the app's cached, tuned session."""
    import torch

    torch.set_num_threads(threads)
    x = np.random.default_rng(0).random((1, in_ch, size, size), dtype=np.float32)
    sess, _ = get_session(onnx_path, "cpu", threads=threads)
    name = sess.get_inputs()[0].name
    xt = torch.from_numpy(x)

    def timed(fn) -> float:  # noqa: ANN001
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def run_torch() -> None:
        with torch.inference_mode():
            net(xt)

    def run_ort() -> None:
        sess.run(None, {name: x})

    run_ort(), run_torch()
    t_ort, t_torch = [], []
    for _ in range(repeats):
        t_ort.append(timed(run_ort))
        t_torch.append(timed(run_torch))
    return {"ratio": min(t_torch) / min(t_ort), "ort_s": min(t_ort), "torch_s": min(t_torch), "size": size,
            "median_ratio": float(np.median(t_torch) / np.median(t_ort))}


def synthetic_page(h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 (H, W) line-art-like page: white paper, black strokes and frames."""
    import cv2

    rng = np.random.default_rng(seed)
    page = np.full((h, w), 255, np.uint8)
    for _ in range(int(h * w / 4000)):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (p0[0] + int(rng.integers(-80, 80)), p0[1] + int(rng.integers(-80, 80)))
        cv2.line(page, p0, p1, 0, int(rng.integers(1, 4)), lineType=cv2.LINE_AA)
    return page


def seam_metrics(model: Path, tile: int, overlap: int, shape: tuple[int, int] = (1200, 1640)) -> dict:
    """Tiled vs whole-page difference, and raw disagreement of two neighbouring tiles."""
    page = synthetic_page(*shape, seed=7)
    hints = np.zeros((*shape, 4), np.float32)
    hints[200:260, 300:380] = [0.9, 0.3, 0.2, 1.0]
    hints[800:840, 1000:1100] = [0.2, 0.4, 0.9, 1.0]
    tiled_c = Colorizer(model, device="cpu", tile=tile, overlap=overlap)
    tiled = tiled_c.colorize(page, hints)
    whole = Colorizer(model, device="cpu", tile=4096, overlap=overlap).colorize(page, hints)
    diff = np.abs(tiled - whole) * 255.0
    m = tiled_c.manifest
    plan = tiled_c.plan_for(*shape)
    builder = ModelInputBuilder(page, hints, m.channels)
    fn = make_tile_fn(tiled_c.session, m)
    y0, (xa, xb) = plan.ys[0], plan.xs[:2]
    a = fn(builder.read_region(y0, xa, plan.tile_h, plan.tile_w)[None])[0]
    b = fn(builder.read_region(y0, xb, plan.tile_h, plan.tile_w)[None])[0]
    wx = axis_weights(plan.xs, plan.tile_w)
    cols = np.arange(xb, xa + plan.tile_w)
    both = (wx[0][cols - xa] > 0) & (wx[1][cols - xb] > 0)
    sel = cols[both]
    rows = slice(0, plan.tile_h)
    disagree = np.abs(a[rows, sel - xa] - b[rows, sel - xb]) * 255.0 if sel.size else np.zeros(1)
    return {"seam_max_levels": float(diff.max()), "seam_mean_levels": float(diff.mean()),
            "overlap_disagreement_levels": float(disagree.max()), "seam_page": f"{shape[1]}x{shape[0]}"}


def _hints_for(h: int, w: int) -> np.ndarray:
    hints = np.zeros((h, w, 4), np.float32)
    hints[h // 6 : h // 6 + 60, w // 4 : w // 4 + 80] = [0.9, 0.3, 0.2, 1.0]
    hints[2 * h // 3 : 2 * h // 3 + 40, w // 2 : w // 2 + 100] = [0.2, 0.4, 0.9, 1.0]
    return hints


def child(size_key: str, model: Path, tile: int, overlap: int, threads: int) -> dict:
    """One page size, end to end (runs in a fresh process): time, MP/s and peak RSS; matmul probes
    interleaved with the repetitions; then the cost of the page-wide input preparation with hints."""
    h, w = SIZES[size_key]
    colorizer = Colorizer(model, device="cpu", tile=tile, overlap=overlap, threads=threads)
    colorizer.colorize(synthetic_page(256, 256), out_dtype=np.uint8)  # warm-up (session, arena)
    page = synthetic_page(h, w)
    best, best_cpu, with_hints = float("inf"), float("inf"), float("inf")
    hints = _hints_for(h, w)
    gflops, gflops_cpu = machine_gflops(repeats=3)
    for _ in range(REPS[size_key]):
        c, t = time.process_time(), time.perf_counter()
        out = colorizer.colorize(page, out_dtype=np.uint8, unhinted=1.0)  # the model on every tile
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        g, gc = machine_gflops(repeats=3)
        gflops, gflops_cpu = max(gflops, g), max(gflops_cpu, gc)
    assert out.shape == (h, w, 3)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # the model run's peak, before flats
    for _ in range(REPS[size_key]):  # as the app runs it: hints (and flats, gate) with the manifest's settings
        t = time.perf_counter()
        colorizer.colorize(page, hints, out_dtype=np.uint8)
        with_hints = min(with_hints, time.perf_counter() - t)
    plan = colorizer.plan_for(h, w)
    prep = {}
    if h * w <= 5_000_000:  # page-wide encodings + per-tile input assembly with hints (and flats if used)
        t = time.perf_counter()
        builder = ModelInputBuilder(page, hints, colorizer.manifest.channels,
                                    blur_sigma=colorizer.manifest.hint_blur_sigma)
        page_wide = time.perf_counter() - t
        t = time.perf_counter()
        for y0 in plan.ys:
            for x0 in plan.xs:
                builder.read_region(y0, x0, plan.tile_h, plan.tile_w)
        prep = {"page_wide_s": page_wide, "tile_inputs_s": time.perf_counter() - t}
    return {"seconds": best, "cpu_seconds": best_cpu, "mp": h * w / 1e6, "peak_rss_mb": rss_mb,
            "tile": f"{plan.tile_w}x{plan.tile_h}", "tiles": plan.n_tiles, "computed_fraction": plan.computed_fraction,
            "gflops": gflops, "gflops_cpu": gflops_cpu, "prep_with_hints": prep, "seconds_with_hints": with_hints}


def run_child(size_key: str, model: Path, tile: int, overlap: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", size_key, "--model", str(model), "--tile", str(tile),
           "--overlap", str(overlap), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {size_key} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 and 4 MP only")
    ap.add_argument("--model", type=Path, help="benchmark this .onnx instead of the default architecture")
    ap.add_argument("--builtin", action="store_true", help="use the built-in U-Net, not training/models/unet.py")
    ap.add_argument("--tile", type=int, help="tile side; the tile AREA budget is its square (default: the model's preferred tile)")
    ap.add_argument("--overlap", type=int, help="default: recommended_overlap(measured receptive radius), and never less than a given --model's manifest overlap")
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: only the gpu section (A4 page)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(child(args.child, args.model, args.tile, args.overlap, args.threads)))
        return 0
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        net, in_ch = None, 0
        model, label = args.model, str(args.model)
        if model is None:
            model, net, label, in_ch = export_model(Path(tmp), builtin=args.builtin)
        if args.device == "cuda":
            from gpu import A4_300DPI, gpu_section

            page = synthetic_page(*A4_300DPI)
            print(json.dumps({"model": label, "gpu": gpu_section(model, net, in_ch, page, _hints_for(*A4_300DPI))}))
            return 0
        radius, measured_overlap = measure_model_overlap(model, size=512)
        manifest = read_manifest(model)
        if args.model is not None:  # a trained model's manifest overlap is sized for its architecture bound:
            measured_overlap = max(measured_overlap, manifest.overlap)  # a probe can underestimate
        overlap = args.overlap if args.overlap is not None else measured_overlap
        # the benchmark model's manifest is written before its overlap is measured: give it the tile
        # training/export.py would write (core.receptive.preferred_tile); a given --model keeps its own
        args.tile = args.tile or (manifest.preferred_tile if args.model is not None
                                  else preferred_tile(overlap, manifest.size_multiple))
        result: dict = {"model": label, "receptive_radius": radius, "overlap": overlap, "tile_area_budget": f"{args.tile}^2",
                        "threads": args.threads, "ort_spinning": os.environ.get("MANGACOLOR_ORT_SPIN", "0") == "1"}
        result["gflop_per_mp"] = count_gflop_per_mp(model)
        if net is not None:
            result["params_m"] = sum(p.numel() for p in net.parameters()) / 1e6
        seam_tile = max(min(args.tile, 768), overlap + 256)  # seams depend on the overlap, not the tile size
        result["seam_tile"] = seam_tile
        result.update(seam_metrics(model, seam_tile, overlap))
        keys = ["1mp", "4mp"] if args.quick else list(SIZES)
        runs = {k: run_child(k, model, args.tile, overlap, args.threads) for k in keys}
        g, gc = machine_gflops()
        result["machine_gflops"] = max([g] + [r["gflops"] for r in runs.values()])
        result["machine_gflops_per_cpu_s"] = max([gc] + [r["gflops_cpu"] for r in runs.values()])
        result["mp_per_s"] = {k: r["mp"] / r["seconds"] for k, r in runs.items()}
        result["seconds_per_mp"] = {k: r["seconds"] / r["mp"] for k, r in runs.items()}
        result["peak_rss_mb"] = {k: r["peak_rss_mb"] for k, r in runs.items()}
        result["tiles"] = {k: f"{r['tiles']} x {r['tile']}px ({r['computed_fraction']:.2f}x pixels)" for k, r in runs.items()}
        result["compute_limit_fraction"] = {
            k: result["gflop_per_mp"] * r["mp"] / r["seconds"] / result["machine_gflops"] for k, r in runs.items()}
        result["compute_limit_fraction_cpu"] = {
            k: result["gflop_per_mp"] * r["mp"] / r["cpu_seconds"] / result["machine_gflops_per_cpu_s"]
            for k, r in runs.items()}
        result["seconds_per_mp_with_hints"] = {k: r["seconds_with_hints"] / r["mp"] for k, r in runs.items()}
        result["compute_limit_fraction_with_hints"] = {
            k: result["gflop_per_mp"] * r["mp"] / r["seconds_with_hints"] / result["machine_gflops"] for k, r in runs.items()}
        spm = list(result["seconds_per_mp"].values())
        result["time_per_mp_spread"] = max(spm) / min(spm) - 1.0
        med = float(np.median(spm))
        result["time_per_mp_max_dev_from_median"] = max(abs(v / med - 1.0) for v in spm)
        if "36mp" in runs:
            result["rss_36mp_over_4mp"] = runs["36mp"]["peak_rss_mb"] / runs["4mp"]["peak_rss_mb"]
        result["prep_with_hints_share"] = {
            k: (r["prep_with_hints"]["page_wide_s"] + r["prep_with_hints"]["tile_inputs_s"]) / r["seconds"]
            for k, r in runs.items() if r["prep_with_hints"]}
        if net is not None:
            detail = ort_vs_torch(model, net, in_ch, args.threads)
            result["ort_vs_torch"] = detail.pop("ratio")
            result["ort_vs_torch_detail"] = detail
        result["load_avg"] = os.getloadavg()[0]
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
