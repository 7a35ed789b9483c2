"""Sessions, device reports and the tiled colorization pipeline on REAL onnxruntime models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mangacolor_app.core.blending import blend_margin
from mangacolor_app.core.errors import CancelledError, HintError, TilingError
from mangacolor_app.core.tiling import TilePlan
from mangacolor_app.inference.manifest import read_manifest, write_sidecar
from mangacolor_app.inference.pipeline import Colorizer, image_to_line, measure_model_overlap
from mangacolor_app.inference.session import (
    choose_providers,
    get_session,
    is_oom,
    physical_cores,
)


def _page(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A line-art-like float32 page (white with dark strokes) and a matching hint layer."""
    rng = np.random.default_rng(seed)
    img = np.ones((h, w, 3), np.float32)
    for _ in range(12):
        y, x = rng.integers(0, h), rng.integers(0, w)
        img[y : y + 2, max(0, x - 20) : x + 20] = 0.05
        img[max(0, y - 20) : y + 20, x : x + 2] = 0.05
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    hints = np.zeros((h, w, 4), np.float32)
    hints[h // 4 : h // 4 + 9, w // 3 : w // 3 + 15] = [0.9, 0.2, 0.1, 1.0]
    hints[3 * h // 4 : 3 * h // 4 + 5, w // 2 : w // 2 + 7] = [0.1, 0.3, 0.9, 1.0]
    return np.clip(img, 0, 1), hints


@pytest.mark.parametrize("shape", [(150, 203), (171, 229), (241, 187)])
def test_tiled_matches_whole_page_on_real_unet(unet_onnx_model: Path, shape: tuple[int, int]) -> None:
    manifest = read_manifest(unet_onnx_model)
    # exactness needs the zero-weight blend margin (was overlap // 4, now 2 * overlap // 5) >= radius
    assert manifest.size_multiple == 8 and blend_margin(manifest.overlap) >= (manifest.receptive_radius or 0) > 0
    img, hints = _page(*shape)
    whole = Colorizer(unet_onnx_model, device="cpu", tile=1024).colorize(img, hints)
    assert whole.shape == (*shape, 3) and whole.dtype == np.float32
    for tile in (manifest.overlap + 24, manifest.overlap + 40):  # neither divides the page
        tiles = []
        tiled = Colorizer(unet_onnx_model, device="cpu", tile=tile).colorize(
            img, hints, progress=lambda done, total, tiles=tiles: tiles.append(total))
        assert tiles and tiles[-1] > 1, "the page must really be split into several tiles"
        assert np.abs(tiled - whole).max() <= 1.0 / 255.0


def test_tiled_uint8_output_matches(tiny_onnx_model: Path) -> None:
    img, hints = _page(97, 131, seed=3)
    ref = Colorizer(tiny_onnx_model, device="cpu", tile=512).colorize(img, hints)
    out = Colorizer(tiny_onnx_model, device="cpu", tile=48).colorize(
        (img * 255).round().astype(np.uint8), hints, out_dtype=np.uint8)
    assert out.dtype == np.uint8 and out.shape == (97, 131, 3)
    assert np.abs(out.astype(np.float32) / 255 - ref).max() <= 2.0 / 255.0


def test_misaligned_tile_origin_rejected() -> None:
    with pytest.raises(TilingError):
        TilePlan(height=100, width=100, tile_h=64, tile_w=64, overlap=16, multiple=8, ys=(0, 36), xs=(0, 36))


def test_tile_and_overlap_rounded_to_size_multiple(unet_onnx_model: Path) -> None:
    c = Colorizer(unet_onnx_model, device="cpu", tile=130, overlap=20)
    assert (c.tile, c.overlap) == (136, 24)
    with pytest.raises(TilingError):
        Colorizer(unet_onnx_model, device="cpu", tile=64, overlap=64)


def test_ink_preservation_and_hints(tiny_onnx_model: Path) -> None:
    img, hints = _page(64, 90, seed=1)
    c = Colorizer(tiny_onnx_model, device="cpu")
    inked = c.colorize(img, hints)
    plain = c.colorize(img, hints, preserve_ink=False)
    line = image_to_line(img)
    assert np.allclose(inked, plain * line[..., None], atol=1e-5)
    assert not np.allclose(plain, c.colorize(img, None, preserve_ink=False))
    small = hints[::2, ::2]  # same aspect: fitted
    assert c.colorize(img, small).shape == (64, 90, 3)
    with pytest.raises(HintError, match="aspect"):
        c.colorize(img, hints[:, :40])


def test_max_side_preview(tiny_onnx_model: Path) -> None:
    img, hints = _page(120, 200)
    out = Colorizer(tiny_onnx_model, device="cpu").colorize(img, hints, max_side=100)
    assert out.shape == (60, 100, 3)


def test_gray_and_uint8_inputs(tiny_onnx_model: Path) -> None:
    img, _ = _page(40, 50)
    c = Colorizer(tiny_onnx_model, device="cpu")
    a = c.colorize(img)
    b = c.colorize(image_to_line(img))
    u = c.colorize((img * 255).round().astype(np.uint8))
    assert np.abs(a - b).max() < 1e-5 and np.abs(a - u).max() < 3 / 255


def test_cancel_and_progress(unet_onnx_model: Path) -> None:
    img, hints = _page(150, 203)
    c = Colorizer(unet_onnx_model, device="cpu", tile=136)
    calls: list[tuple[int, int]] = []
    c.colorize(img, hints, progress=lambda d, n: calls.append((d, n)))
    assert calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == sorted(d for d, _ in calls)
    polled = []

    def cancel() -> bool:
        polled.append(1)
        return len(polled) > 2

    with pytest.raises(CancelledError):
        c.colorize(img, hints, cancel=cancel)


def test_device_reports() -> None:
    assert choose_providers("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == ["CPUExecutionProvider"]
    assert choose_providers("auto", ["DmlExecutionProvider", "CPUExecutionProvider"])[0][0] == "DmlExecutionProvider"
    providers, notice = choose_providers("cuda", ["CPUExecutionProvider"])
    assert providers == ["CPUExecutionProvider"] and "CUDA requested" in (notice or "")
    with pytest.raises(ValueError):
        choose_providers("tpu")
    assert physical_cores() >= 1


def test_sessions_fall_back_to_cpu_with_notice(tiny_onnx_model: Path, capfd: pytest.CaptureFixture[str]) -> None:
    for device in ("cpu", "auto"):
        _, report = get_session(tiny_onnx_model, device)
        assert report.provider == "CPUExecutionProvider" and report.requested == device
    sess, report = get_session(tiny_onnx_model, "cuda")
    if report.provider == "CPUExecutionProvider":  # no usable GPU here
        assert report.notice and "CUDA requested but" in report.notice and "CPU" in report.notice
    assert get_session(tiny_onnx_model, "cuda")[0] is sess  # cached
    assert "onnxruntime" not in capfd.readouterr().err  # ORT's own spam silenced


def test_is_oom() -> None:
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer"))
    assert is_oom(RuntimeError("CUDA failure 2: out of memory"))
    assert not is_oom(ValueError("shape mismatch"))


def test_output_range_and_lab_space(tiny_onnx_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "lab.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    img, hints = _page(32, 48)
    rgb = Colorizer(model, device="cpu").colorize(img, hints, preserve_ink=False)
    write_sidecar(model, read_manifest(model).replace(output_range=[0.0, 2.0], name="half"))
    half = Colorizer(model, device="cpu").colorize(img, hints, preserve_ink=False)
    assert np.allclose(half, rgb / 2, atol=1e-5)
    write_sidecar(model, read_manifest(model).replace(output_space="lab", output_range=[0.0, 1.0], name="lab"))
    lab = Colorizer(model, device="cpu").colorize(img, hints, preserve_ink=False)
    assert lab.min() >= 0 and lab.max() <= 1 and not np.allclose(lab, rgb, atol=1e-3)


def test_measure_model_overlap_writes_sidecar(tiny_onnx_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    radius, overlap = measure_model_overlap(model, write=True)
    assert radius > 0 and blend_margin(overlap) >= radius and overlap % 2 == 0
    m = read_manifest(model)
    assert (m.receptive_radius, m.overlap) == (radius, overlap) and model.with_suffix(".json").is_file()


def test_measure_model_overlap_never_shrinks_the_manifest_overlap(tiny_onnx_model: Path, tmp_path: Path) -> None:
    """A one-pixel probe can underestimate a trained model's reach: writing keeps a larger stored overlap."""
    model = tmp_path / "m.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    write_sidecar(model, read_manifest(model).replace(overlap=64, preferred_tile=128))
    radius, overlap = measure_model_overlap(model, write=True)
    assert blend_margin(64) > radius and overlap == 64 and read_manifest(model).overlap == 64


def test_colorize_uses_rectangular_plan_with_less_waste(unet_onnx_model: Path) -> None:
    c = Colorizer(unet_onnx_model, device="cpu", tile=c_tile(unet_onnx_model))
    h, w = 241, 187
    plan = c.plan_for(h, w)
    assert isinstance(plan, TilePlan) and plan.n_tiles > 1
    old = tiling_plan(h, w, c.tile_for(h, w), c.overlap, c.manifest.size_multiple)  # the old square choice
    assert plan.computed_pixels <= old.computed_pixels
    assert plan.tile_h * plan.tile_w <= c.tile**2
    totals: list[int] = []
    c.colorize(*_page(h, w), progress=lambda done, total: totals.append(total))
    assert totals[-1] == plan.n_tiles


def c_tile(model: Path) -> int:
    """A tile side that forces several tiles on a ~240 px page."""
    m = read_manifest(model)
    return m.overlap + 5 * m.size_multiple


def tiling_plan(h: int, w: int, tile: int, overlap: int, multiple: int) -> TilePlan:
    from mangacolor_app.core.tiling import plan_tiles

    return plan_tiles(h, w, tile, overlap, multiple)


def test_tile_fn_ink_from_line_channel_equals_extra_plane(unet_onnx_model: Path) -> None:
    from mangacolor_app.inference.pipeline import make_tile_fn

    c = Colorizer(unet_onnx_model, device="cpu")
    x = np.random.default_rng(0).random((2, 32, 40, 5), dtype=np.float32)
    with_plane = make_tile_fn(c.session, c.manifest, ink_plane=True)(np.concatenate([x, x[..., :1]], axis=3))
    with_index = make_tile_fn(c.session, c.manifest, ink_index=0)(x)
    plain = make_tile_fn(c.session, c.manifest)(x)
    assert with_index.transpose(0, 3, 1, 2).flags.c_contiguous and with_index.shape == (2, 32, 40, 3) and with_index.dtype == np.float32
    assert np.array_equal(with_plane, with_index)
    assert np.allclose(with_index, plain * x[..., :1], atol=1e-6) and 0 <= plain.min() and plain.max() <= 1


def test_session_options_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    from mangacolor_app.inference import session as session_mod

    so = session_mod._session_options(None, 3)
    assert so.intra_op_num_threads == physical_cores() and so.inter_op_num_threads == 1
    assert so.graph_optimization_level == session_mod.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert so.execution_mode == session_mod.ort.ExecutionMode.ORT_SEQUENTIAL
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    monkeypatch.setenv(session_mod.SPIN_ENV, "1")
    assert session_mod._session_options(2, 3).get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_unhinted_zero_keeps_paper_where_no_hint_reaches(unet_onnx_model: Path) -> None:
    """unhinted=0: no hints -> exactly the line art (paper x ink); near hints the model's colour stays."""
    img, hints = _page(96, 128, seed=5)
    col = Colorizer(unet_onnx_model, device="cpu")
    line = image_to_line(img)
    bare = col.colorize(img, None, unhinted=0.0)
    assert np.abs(bare - line[..., None]).max() <= 1e-5
    full = col.colorize(img, hints, unhinted=1.0)
    gated = col.colorize(img, hints, unhinted=0.0)
    hinted = hints[..., 3] > 0  # hint pixels: confidence 1, so the model's colour is kept
    assert np.abs(gated[hinted] - full[hinted]).max() <= 1e-5
    far = np.zeros(line.shape, bool)
    far[:8, -8:] = True  # a corner far from both hint patches: paper x ink
    assert np.abs(gated[far] - np.repeat(line[far][:, None], 3, axis=1)).max() <= 0.05
    assert not np.allclose(gated, full)


def test_unhinted_is_validated(tiny_onnx_model: Path) -> None:
    img, hints = _page(40, 40)
    with pytest.raises(ValueError, match="unhinted"):
        Colorizer(tiny_onnx_model, device="cpu").colorize(img, hints, unhinted=1.5)


def test_unhinted_gate_keeps_tiled_equal_to_whole(unet_onnx_model: Path) -> None:
    img, hints = _page(171, 229, seed=2)
    manifest = read_manifest(unet_onnx_model)
    whole = Colorizer(unet_onnx_model, device="cpu", tile=1024).colorize(img, hints, unhinted=0.3)
    tiled = Colorizer(unet_onnx_model, device="cpu", tile=manifest.overlap + 24).colorize(img, hints, unhinted=0.3)
    assert np.abs(tiled - whole).max() <= 1.0 / 255.0


def test_no_hint_with_unhinted_zero_skips_the_model(unet_onnx_model: Path) -> None:
    """Nothing hinted and unhinted colour gated (strength < 1): the page is paper x ink, returned
    without a model run (one progress step instead of one per tile), in both dtypes and without ink."""
    col = Colorizer(unet_onnx_model, device="cpu", tile=read_manifest(unet_onnx_model).overlap + 24)
    img = (np.random.default_rng(3).random((120, 150)) * 255).astype(np.uint8)
    calls: list[tuple[int, int]] = []
    out8 = col.colorize(img, np.zeros((120, 150, 4), np.float32), unhinted=0.0, out_dtype=np.uint8,
                        progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 1)]
    assert out8.dtype == np.uint8 and np.array_equal(out8, np.repeat(img[:, :, None], 3, axis=2))
    out32 = col.colorize(img, None, unhinted=0.6)
    assert out32.dtype == np.float32 and np.allclose(out32[..., 1], img / 255.0, atol=1e-6)
    assert np.array_equal(col.colorize(img, None, unhinted=0.0, preserve_ink=False), np.ones((120, 150, 3), np.float32))
    calls.clear()
    col.colorize(img, None, unhinted=1.0, progress=lambda d, n: calls.append((d, n)))
    assert len(calls) == col.plan_for(120, 150).n_tiles > 1  # ungated: the model runs
    calls.clear()
    hints = np.zeros((120, 150, 4), np.float32)
    hints[10:14, 10:30] = [1.0, 0.0, 0.0, 1.0]
    col.colorize(img, hints, unhinted=0.3, progress=lambda d, n: calls.append((d, n)))
    assert len(calls) == col.plan_for(120, 150).n_tiles  # one hint: the model runs


def test_unhinted_colour_fades_with_distance_from_the_hints(unet_onnx_model: Path) -> None:
    """With 0 < unhinted < 1 the model's own colour is kept at the strength near the hinted area and
    fades to its square far from it (planes.gate_plane), exactly as the kept share predicts."""
    from mangacolor_app.core.model_inputs import ModelInputBuilder
    from mangacolor_app.inference.planes import gate_plane

    rng = np.random.default_rng(5)
    img = np.where(rng.random((96, 400)) < 0.03, 0.0, 1.0).astype(np.float32)
    hints = np.zeros((96, 400, 4), np.float32)
    hints[40:50, 10:30] = [0.1, 0.8, 0.2, 1.0]
    col = Colorizer(unet_onnx_model, device="cpu")
    builder = ModelInputBuilder(img, hints, col.manifest.channels)
    plane = np.empty((1, 96, 400), np.float32)
    gate_plane(builder, hints, None, 0.4)(*builder.window(0, 0, 96, 400), plane)
    kept = plane[0]
    assert kept[45, 20] == pytest.approx(1.0, abs=1e-3)  # on the stroke
    assert kept[45, 399] == pytest.approx(0.16, abs=0.01)  # far away: 0.4 ** 2
    assert 0.16 < kept[45, 38] < 1.0 and np.all(np.diff(kept[45, 30:]) <= 1e-6)  # fading with distance
    free = col.colorize(img, hints, unhinted=1.0, preserve_ink=False)
    gated = col.colorize(img, hints, unhinted=0.4, preserve_ink=False)
    assert np.allclose(gated, kept[..., None] * free + (1 - kept[..., None]), atol=2e-5)
