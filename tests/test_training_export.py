"""ONNX export (parity, manifest, fp16), tiled == whole through the app, fine-tuning + install + CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.cli import main as train_main
from training.config import load_config
from training.export import export_generator
from training.models.unet import UNetGenerator
from training.trainer import save_weights

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[1]


def _random_tiny(seed: int = 0, **model: object) -> tuple[UNetGenerator, object]:
    """The tiny config's generator (``model`` overrides its ``[model]`` fields) with He-initialised
    convs (a real receptive field to tile across)."""
    cfg = load_config("tiny")
    for key, value in model.items():
        setattr(cfg.model, key, value)
    torch.manual_seed(seed)  # the biases keep torch's default (global-RNG) initialisation
    g = UNetGenerator(cfg.model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)
    return g.eval(), cfg


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    g, cfg = _random_tiny()
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    res = export_generator(g, cfg, out)
    assert res.max_abs_diff <= 1e-3
    return out


def test_export_manifest_read_by_app(exported: Path) -> None:
    from mangacolor_app.inference.manifest import read_manifest

    m = read_manifest(exported)
    assert m.name == "mangacolor-tiny" and m.channels == ("line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask")
    assert m.size_multiple == 4 and not m.fp16
    assert m.receptive_radius is not None and 4 <= m.receptive_radius <= 40
    from mangacolor_app.core.receptive import recommended_overlap

    assert m.overlap >= recommended_overlap(m.receptive_radius, 4) and m.overlap % 4 == 0
    assert m.gflop_per_mp is not None and m.gflop_per_mp > 0


def test_fp16_variant(tmp_path: Path) -> None:
    from mangacolor_app.inference.manifest import read_manifest

    g, cfg = _random_tiny()
    res = export_generator(g, cfg, tmp_path / "tiny16.onnx", fp16=True)
    assert res.max_abs_diff <= 2e-2
    m = read_manifest(res.path)
    assert m.fp16 and m.name.endswith("-fp16")


def test_tiled_equals_whole(exported: Path) -> None:
    from mangacolor_app.inference.pipeline import Colorizer

    rng = np.random.default_rng(1)
    page = np.ones((200, 264), np.float32)
    page[rng.random(page.shape) < 0.05] = 0.0
    hints = np.zeros((200, 264, 4), np.float32)
    hints[40:60, 30:90] = (0.9, 0.2, 0.1, 1.0)
    hints[120:140, 150:240] = (0.1, 0.3, 0.9, 1.0)
    whole = Colorizer(exported, device="cpu", tile=512).colorize(page, hints)
    tiled_model = Colorizer(exported, device="cpu", tile=128)
    tiled = tiled_model.colorize(page, hints)
    assert tiled_model.tile_for(200, 264) < 200
    # The overlap covers the radius where an input still moves the output by > 0.5/255 (core.receptive),
    # so tiles may differ from the whole page by less than one 8-bit level, never visibly.
    assert np.abs(tiled - whole).max() < 1.0 / 255


def test_space_to_depth_export_parity_manifest_and_tiling(tmp_path: Path) -> None:
    """The pixel-unshuffled architecture exports (torch parity), states its size multiple, measured
    overlap and a preferred tile that keeps the overlap small, and tiles exactly through the app."""
    from mangacolor_app.core.receptive import preferred_tile
    from mangacolor_app.inference.manifest import read_manifest
    from mangacolor_app.inference.pipeline import Colorizer

    g, cfg = _random_tiny(widths=(16, 24), space_to_depth=4)
    res = export_generator(g, cfg, tmp_path / "s2d.onnx")
    assert res.max_abs_diff <= 1e-3
    m = read_manifest(res.path)
    assert m.size_multiple == 8 and m.overlap % 8 == 0 and m.overlap > 0
    assert m.preferred_tile == preferred_tile(m.overlap, 8) and m.preferred_tile >= 12 * m.overlap
    rng = np.random.default_rng(2)
    page = np.ones((200, 264), np.float32)
    page[rng.random(page.shape) < 0.05] = 0.0
    hints = np.zeros((200, 264, 4), np.float32)
    hints[40:60, 30:90] = (0.9, 0.2, 0.1, 1.0)
    whole = Colorizer(res.path, device="cpu", tile=512).colorize(page, hints, unhinted=1.0)
    tiled_model = Colorizer(res.path, device="cpu", tile=m.overlap * 2 + 32)
    assert tiled_model.tile_for(200, 264) < 200
    tiled = tiled_model.colorize(page, hints, unhinted=1.0)
    assert np.abs(tiled - whole).max() < 1.0 / 255


def test_cli_export(tmp_path: Path) -> None:
    g, cfg = _random_tiny()
    weights = save_weights(g, cfg, tmp_path / "w.safetensors")
    assert train_main(["export", str(weights), "-o", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").is_file()
    assert train_main(["export", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "x.onnx")]) == 1


def _export_tiny(channels: list[str], out: Path) -> tuple[Path, UNetGenerator]:
    """The tiny generator (He-initialised, seed 0) taking ``channels``, exported to ``out``."""
    cfg = load_config("tiny")
    cfg.model.channels = tuple(channels)
    torch.manual_seed(0)
    g = UNetGenerator(cfg.model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in g.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)
    return export_generator(g.eval(), cfg, out).path, g


def test_evaluate_model_on_a_channel_subset_of_the_pairs(tmp_path: Path, exported: Path) -> None:
    """A model taking some of the pairs' channels is scored on its own planes, wherever ``line`` sits."""
    from mangacolor_app.core.errors import ModelError
    from mangacolor_app.core.model_inputs import token_slices
    from training.data.dataset import render_pairs
    from training.evaluate import evaluate_onnx

    render_pairs(tmp_path / "pairs", n=3, size=32, seed=5, workers=1)  # the 5 default tokens
    first = ["line", "hint_rgb", "hint_mask"]
    last = ["hint_rgb", "hint_mask", "line"]
    path_a, g_a = _export_tiny(first, tmp_path / "a.onnx")
    # the same function with its input planes reordered: line is the last token (plane 4)
    cfg_b = load_config("tiny")
    cfg_b.model.channels = tuple(last)
    g_b = UNetGenerator(cfg_b.model).eval()
    state = g_a.state_dict()
    sa = token_slices(first)
    planes = torch.cat([torch.arange(sa[t].start, sa[t].stop) for t in last])
    state["stem.0.0.weight"] = state["stem.0.0.weight"][:, planes]
    g_b.load_state_dict(state)
    path_b = export_generator(g_b, cfg_b, tmp_path / "b.onnx").path
    a = evaluate_onnx(path_a, tmp_path / "pairs", batch=2)
    b = evaluate_onnx(path_b, tmp_path / "pairs", batch=2)
    assert a["n"] == b["n"] == 3.0 and all(np.isfinite(v) for v in a.values())
    for k in ("psnr", "ssim", "ciede2000"):
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-4)
    render_pairs(tmp_path / "few", n=1, size=32, seed=5, workers=1, channels=first)
    with pytest.raises(ModelError, match="flats_rgb"):
        evaluate_onnx(exported, tmp_path / "few")


@pytest.mark.timeout(300)
def test_finetune_installs_model_usable_by_cli(tmp_path: Path, mangacolor_home: Path) -> None:
    from PIL import Image

    from mangacolor_app.inference.registry import ModelRegistry
    from training.data.procedural import generate_illustration
    from training.finetune import finetune

    style = tmp_path / "style"
    style.mkdir()
    for i in range(8):
        color, _, _ = generate_illustration(np.random.default_rng(i), (96, 96))
        Image.fromarray((color * 255 + 0.5).astype(np.uint8)).save(style / f"art{i}.png")
    g, cfg = _random_tiny()
    bundled = Path(os.environ["MANGACOLOR_BUNDLED_MODELS"])
    save_weights(g, cfg, bundled / "mangacolor-default.safetensors")
    calls: list[tuple[int, int]] = []
    model = finetune(style, name="my-style", steps=3, batch_size=2, size=64,
                     progress=lambda s, t, loss, eta: calls.append((s, t)))
    assert calls[-1] == (3, 3)
    assert "my-style" in [m.name for m in ModelRegistry().list()]
    assert model.path.parent == mangacolor_home / "models"
    exe = Path(sys.executable).with_name("mangacolor")
    if not exe.exists() or shutil.which(str(exe)) is None:
        pytest.skip("the mangacolor CLI is not installed")
    page = np.full((64, 80, 3), 255, np.uint8)
    page[20:22, :] = 0
    Image.fromarray(page).save(tmp_path / "page.png")
    res = subprocess.run([str(exe), "colorize", str(tmp_path / "page.png"), "-o", str(tmp_path / "out.png"),
                          "--model", "my-style", "--device", "cpu", "-q"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "out.png").size == (80, 64)


def test_model_object_with_flats_and_paper_is_what_the_app_produces(exported: Path) -> None:
    """The exported flats model through ``OnnxModel`` (gate from the page's hint and flats layers, the
    paper the flats keep included) equals the app's tiled run, at full and at reduced unhinted colour."""
    from mangacolor_app.core.flats import page_flats, paper_mask
    from mangacolor_app.core.model_inputs import build_model_input
    from mangacolor_app.inference.pipeline import Colorizer

    line = np.ones((96, 128), np.float32)
    line[16:64, 16] = line[16:64, 64] = line[16, 16:65] = line[64, 16:65] = 0.0
    hints = np.zeros((96, 128, 4), np.float32)
    hints[30:36, 24:50] = (0.9, 0.2, 0.1, 1.0)
    flats = page_flats(line, hints, None)
    assert paper_mask(flats).any()  # the unhinted background is kept paper
    colorizer = Colorizer(exported, device="cpu", tile=512)
    m = colorizer.manifest
    x = np.ascontiguousarray(build_model_input(line, hints, m.channels, flats=flats,
                                               blur_sigma=m.hint_blur_sigma).transpose(2, 0, 1)[None])
    for unhinted in (1.0, 0.3):
        app = colorizer.colorize(line, hints, flats=flats, unhinted=unhinted, preserve_ink=True)
        got = colorizer.model(x, unhinted=unhinted, preserve_ink=True, hints=hints[None], flats=flats[None])
        np.testing.assert_allclose(got[0].transpose(1, 2, 0), app, atol=2e-5)
