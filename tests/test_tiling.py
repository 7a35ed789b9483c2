"""Tests for core.tiling (planning, blending, exact tiled runs, memory, OOM retry) and core.receptive."""

from __future__ import annotations

import logging
import tracemalloc

import cv2
import numpy as np
import pytest

from mangacolor_app.core.errors import CancelledError, TilingError
from mangacolor_app.core.receptive import measure_receptive_radius, preferred_tile, recommended_overlap
from mangacolor_app.core.blending import blend_margin, ramp
from mangacolor_app.core.tiling import (
    TilePlan,
    axis_weights,
    best_plan,
    best_tile,
    plan_tiles,
    reflect_indices,
    run_tiled,
    run_tiled_with_retry,
    run_whole,
    tiled_with_oom_retry,
    validate_origins,
)

# A numpy "U-Net": K_PRE 3x3 convs (zero padding), 2x2 average pool + nearest upsample, K_POST 3x3
# convs, then a 1x1 channel mix. Its receptive radius is K_PRE + 1 + K_POST and it needs origins
# that are multiples of 2 (the pooling grid).
K_PRE, K_POST = 2, 2
MODEL_RADIUS = K_PRE + 1 + K_POST
_RNG = np.random.default_rng(1234)
_KERNELS = [(_RNG.uniform(0.2, 1.0, (3, 3)) / 4.5).astype(np.float32) for _ in range(K_PRE + K_POST)]
_MIX = _RNG.uniform(0.1, 0.6, (2, 3)).astype(np.float32)


def _conv(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(img.shape)


def _model_one(img: np.ndarray) -> np.ndarray:
    x = img
    for k in _KERNELS[:K_PRE]:
        x = _conv(x, k)
    h, w, c = x.shape
    pooled = x.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))
    x = np.ascontiguousarray(np.repeat(np.repeat(pooled, 2, axis=0), 2, axis=1))
    for k in _KERNELS[K_PRE:]:
        x = _conv(x, k)
    return x @ _MIX


def model(batch: np.ndarray) -> np.ndarray:
    """(N, H, W, 2) float32 -> (N, H, W, 3); H and W must be even."""
    assert batch.dtype == np.float32 and batch.ndim == 4 and batch.shape[3] == 2
    return np.stack([_model_one(img) for img in batch])


def _page(h: int, w: int, c: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, c)).astype(np.float32)


# ---------------------------------------------------------------- planning


@pytest.mark.parametrize(
    "h,w,tile,overlap,multiple",
    [(150, 203, 64, 16, 2), (1000, 700, 256, 48, 16), (37, 20, 64, 16, 8), (512, 512, 512, 64, 16), (97, 300, 48, 32, 16)],
)
def test_plan_covers_page_with_fixed_aligned_tiles(h: int, w: int, tile: int, overlap: int, multiple: int) -> None:
    plan = plan_tiles(h, w, tile, overlap, multiple)
    hp, wp = plan.padded_height, plan.padded_width
    assert hp % multiple == 0 and wp % multiple == 0 and hp - h < multiple and wp - w < multiple
    assert (plan.tile_h, plan.tile_w) == (min(tile, hp), min(tile, wp))
    for origins, t, size in ((plan.ys, plan.tile_h, hp), (plan.xs, plan.tile_w, wp)):
        assert origins[0] == 0 and origins[-1] + t == size
        assert all(o % multiple == 0 for o in origins)
        covered = np.zeros(size, bool)
        for o in origins:
            covered[o : o + t] = True
        assert covered.all()
        assert all(b - a == tile - overlap for a, b in zip(origins[:-2], origins[1:-1]))
    assert plan.n_tiles == len(plan.ys) * len(plan.xs)


@pytest.mark.parametrize(
    "args", [(100, 100, 60, 16, 16), (100, 100, 64, 8, 16), (100, 100, 64, 64, 16), (100, 100, 64, -16, 16), (0, 5, 64, 16, 16), (5, 5, 64, 16, 0)]
)
def test_plan_rejects_bad_parameters(args: tuple[int, ...]) -> None:
    with pytest.raises(TilingError):
        plan_tiles(*args)


def test_misaligned_origin_rejected() -> None:
    with pytest.raises(TilingError, match="multiples"):
        TilePlan(100, 100, 64, 64, 16, 16, ys=(0, 24, 48), xs=(0, 48))  # 24: misaligned, yet covering
    with pytest.raises(TilingError, match="multiples"):
        validate_origins((0, 40), 64, 104, 8 * 2)
    with pytest.raises(TilingError, match="flush"):
        TilePlan(100, 100, 64, 64, 16, 16, ys=(0, 32), xs=(0, 48))
    with pytest.raises(TilingError, match="gap"):
        validate_origins((0, 80, 96), 64, 160, 16)


def test_reflect_indices_match_numpy_pad() -> None:
    for size in range(1, 6):
        data = np.arange(size)
        for pad in range(0, 13):
            expected = np.pad(data, (0, pad), mode="reflect") if size > 1 else np.zeros(size + pad, int)
            assert np.array_equal(data[reflect_indices(size, 0, size + pad)], expected)


# ---------------------------------------------------------------- blending weights


@pytest.mark.parametrize(
    "h,w,tile,overlap,multiple",
    [(150, 203, 64, 16, 2), (1000, 700, 256, 48, 16), (37, 20, 64, 16, 8), (300, 290, 64, 48, 16), (130, 97, 32, 0, 16)],
)
def test_weights_sum_to_one_and_vanish_near_inner_edges(h: int, w: int, tile: int, overlap: int, multiple: int) -> None:
    plan = plan_tiles(h, w, tile, overlap, multiple)
    wy, wx = axis_weights(plan.ys, plan.tile_h), axis_weights(plan.xs, plan.tile_w)
    assert wy.dtype == np.float32 and wy.shape == (len(plan.ys), plan.tile_h)
    total = np.zeros((plan.padded_height, plan.padded_width), np.float32)
    for i, y in enumerate(plan.ys):
        for j, x in enumerate(plan.xs):
            total[y : y + plan.tile_h, x : x + plan.tile_w] += np.outer(wy[i], wx[j])
    assert np.abs(total - 1.0).max() <= 1e-6
    for weights, origins, t in ((wy, plan.ys, plan.tile_h), (wx, plan.xs, plan.tile_w)):
        assert (weights >= 0).all()
        for k in range(1, len(origins)):
            ov = origins[k - 1] + t - origins[k]
            margin = blend_margin(ov)
            assert margin >= ov // 4 or ov < 4  # at least the old zero-weight margin
            assert not weights[k, :margin].any() and not weights[k - 1, t - margin :].any()
        assert weights[0, 0] == 1.0 and weights[-1, -1] == 1.0


# ---------------------------------------------------------------- exact tiled runs


@pytest.mark.parametrize("h,w,tile,multiple", [(150, 203, 64, 2), (131, 97, 48, 8), (40, 50, 64, 2), (66, 250, 64, 2)])
def test_tiled_equals_whole_image(h: int, w: int, tile: int, multiple: int) -> None:
    page = _page(h, w)
    overlap = recommended_overlap(MODEL_RADIUS, multiple)
    plan = plan_tiles(h, w, tile, overlap, multiple)
    tiled = run_tiled(page, model, plan, 3)
    whole = run_whole(page, model, multiple, 3)
    assert tiled.shape == whole.shape == (h, w, 3) and tiled.dtype == np.float32
    assert np.abs(tiled - whole).max() <= 1 / 255
    assert np.abs(tiled - whole).max() <= 1e-5  # in fact exact up to float rounding


def test_too_small_overlap_is_not_exact() -> None:
    """Sanity check of the test model: an overlap below the recommended one shows seams."""
    page = _page(150, 203)
    plan = plan_tiles(150, 203, 64, 8, 2)
    assert np.abs(run_tiled(page, model, plan, 3) - run_whole(page, model, 2, 3)).max() > 1e-3


def test_batching_reader_source_and_uint8_input() -> None:
    page = _page(150, 203)
    plan = plan_tiles(150, 203, 64, 20, 2)
    ref = run_tiled(page, model, plan, 3)
    assert np.array_equal(run_tiled(page, model, plan, 3, batch_size=3), ref)

    def reader(y0: int, x0: int, h: int, w: int) -> np.ndarray:
        rows, cols = reflect_indices(150, y0, h), reflect_indices(203, x0, w)
        return page[rows[:, None], cols[None, :]]

    assert np.array_equal(run_tiled(reader, model, plan, 3), ref)
    assert np.allclose(run_whole(reader, model, 2, 3, shape_hw=(150, 203)), run_whole(page, model, 2, 3), atol=1e-6)
    page8 = (page * 255 + 0.5).astype(np.uint8)
    out8 = run_tiled(page8, model, plan, 3)
    assert np.abs(out8 - run_tiled(page8.astype(np.float32) / 255, model, plan, 3)).max() <= 1e-5


def test_uint8_output_matches_float_output() -> None:
    page = _page(150, 203)
    plan = plan_tiles(150, 203, 64, 20, 2)
    as_float = run_tiled(page, model, plan, 3)
    as_u8 = run_tiled(page, model, plan, 3, out_dtype=np.uint8)
    assert as_u8.dtype == np.uint8 and as_u8.shape == as_float.shape
    assert np.abs(as_u8 / 255.0 - np.clip(as_float, 0, 1)).max() <= 1 / 255
    assert np.array_equal(run_whole(page, model, 2, 3, out_dtype=np.uint8).shape, as_u8.shape)


def test_progress_reaches_total_and_cancel_raises() -> None:
    page = _page(150, 203)
    plan = plan_tiles(150, 203, 64, 20, 2)
    calls: list[tuple[int, int]] = []
    run_tiled(page, model, plan, 3, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (plan.n_tiles, plan.n_tiles)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    polls = iter(range(100))
    with pytest.raises(CancelledError):
        run_tiled(page, model, plan, 3, cancel=lambda: next(polls) >= 2)


def test_bad_function_output_and_source_rejected() -> None:
    page = _page(64, 64)
    plan = plan_tiles(64, 64, 32, 8, 8)
    with pytest.raises(TilingError, match="shape"):
        run_tiled(page, lambda b: b[:, :-1], plan, 2)
    with pytest.raises(TilingError):
        run_tiled(_page(60, 64), model, plan, 3)
    with pytest.raises(TilingError):
        run_tiled(page, model, plan, 3, out_dtype=np.int32)
    with pytest.raises(TilingError, match="shape_hw"):
        run_whole(lambda y, x, h, w: page[:h, :w], model, 2, 3)


def test_memory_bounded_by_tile_size() -> None:
    h, w = 2048, 2000
    page = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    plan = plan_tiles(h, w, 256, 32, 16)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = run_tiled(page, lambda b: b, plan, 3, out_dtype=np.uint8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    page_float_bytes = h * w * 3 * 4
    assert peak - out.nbytes < page_float_bytes / 4, (peak, out.nbytes)
    assert np.array_equal(out, page)


# ---------------------------------------------------------------- OOM retry


def _fn_failing_above(limit: int, error: BaseException, seen: list[int]):  # noqa: ANN202
    def fn(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape[1])
        if max(batch.shape[1:3]) > limit:
            raise error
        return model(batch)

    return fn


def test_oom_retry_halves_tile(caplog: pytest.LogCaptureFixture) -> None:
    page = _page(300, 290)
    seen: list[int] = []
    fn = _fn_failing_above(64, MemoryError("boom"), seen)
    with caplog.at_level(logging.WARNING, logger="mangacolor_app.core.tiling"):
        out = run_tiled_with_retry(page, fn, tile=256, overlap=32, multiple=16, out_channels=3)
    assert sorted(set(seen), reverse=True) == [256, 128, 64]
    assert "out of memory" in caplog.text
    assert np.abs(out - run_whole(page, model, 16, 3)).max() <= 1 / 255


def test_oom_retry_custom_predicate_and_give_up() -> None:
    page = _page(200, 200)
    seen: list[int] = []
    fn = _fn_failing_above(96, RuntimeError("Failed to allocate memory for requested buffer"), seen)
    out = tiled_with_oom_retry(
        page, fn, tile=192, overlap=32, multiple=16, out_channels=3, is_oom=lambda e: "allocate" in str(e)
    )
    assert out.shape == (200, 200, 3) and max(seen[-1:]) == 96
    with pytest.raises(TilingError, match="out of memory"):
        run_tiled_with_retry(page, _fn_failing_above(0, MemoryError(), []), tile=192, overlap=32, multiple=16,
                             out_channels=3, min_tile=64)
    with pytest.raises(RuntimeError):  # not an OOM: propagates unchanged
        run_tiled_with_retry(page, _fn_failing_above(0, RuntimeError("bad"), []), tile=192, overlap=32,
                             multiple=16, out_channels=3)


# ---------------------------------------------------------------- receptive field


def test_measure_receptive_radius_of_known_model() -> None:
    assert measure_receptive_radius(model, 2, size=64, multiple=2) == MODEL_RADIUS
    assert measure_receptive_radius(model, 2, size=64, multiple=16) == MODEL_RADIUS
    assert measure_receptive_radius(lambda b: b * 0.5, 3, size=32) == 0


def test_recommended_overlap() -> None:
    assert recommended_overlap(0, 16) == 0
    # blend margin 2 * ov // 5 >= radius (was ov // 4 >= radius: 20, 80, 96 for these three)
    assert recommended_overlap(5, 2) == 14
    assert recommended_overlap(20, 16) == 64
    assert recommended_overlap(21, 16) == 64
    assert recommended_overlap(54, 16) == 144  # the benchmark U-Net's radius: was 224
    for r in range(40):
        ov = recommended_overlap(r, 8)
        assert ov % 8 == 0 and blend_margin(ov) >= r and blend_margin(ov - 8) < r or ov == 0
        assert ov <= -(-(5 * r // 2 + 1) // 8) * 8  # about 2.5 x the radius, never the old 4 x
    with pytest.raises(TilingError):
        recommended_overlap(-1, 16)


def test_preferred_tile_keeps_the_overlap_a_small_share() -> None:
    assert preferred_tile(80, 8) == 1024 and preferred_tile(160, 16) == 2048
    assert preferred_tile(0, 8) == 1024 and preferred_tile(16, 16, minimum=100) == 208  # 12.8 x 16 = 204.8
    assert preferred_tile(600, 16, minimum=64) == 7680
    for ov, m in ((40, 4), (96, 16), (200, 8), (1000, 32)):
        side = preferred_tile(ov, m, minimum=32)
        assert side % m == 0 and side >= 12.8 * ov and side - m < max(12.8 * ov, 2 * ov + m, 32)
    with pytest.raises(TilingError):
        preferred_tile(-1, 16)


# ---------------------------------------------------------------- rectangular tiles, best plan, narrow ramp


@pytest.mark.parametrize("h,w,tile,overlap,multiple", [(150, 203, (48, 96), 16, 2), (1000, 700, (256, 512), 48, 16),
                                                       (37, 20, (64, 32), 16, 8)])
def test_plan_with_rectangular_tiles(h: int, w: int, tile: tuple[int, int], overlap: int, multiple: int) -> None:
    plan = plan_tiles(h, w, tile, overlap, multiple)
    assert (plan.tile_h, plan.tile_w) == (min(tile[0], plan.padded_height), min(tile[1], plan.padded_width))
    for origins, _t, req in ((plan.ys, plan.tile_h, tile[0]), (plan.xs, plan.tile_w, tile[1])):
        assert all(b - a == req - overlap for a, b in zip(origins[:-2], origins[1:-1]))
    assert plan.computed_pixels == plan.n_tiles * plan.tile_h * plan.tile_w
    assert plan_tiles(h, w, tile[0], overlap, multiple) == plan_tiles(h, w, (tile[0], tile[0]), overlap, multiple)
    with pytest.raises(TilingError):
        plan_tiles(h, w, (tile[0], overlap), overlap, multiple)
    with pytest.raises(TilingError):
        plan_tiles(h, w, (64, 64, 64), overlap, multiple)  # type: ignore[arg-type]


@pytest.mark.parametrize("h,w", [(1200, 840), (2400, 1680), (4800, 3360), (7200, 5040), (40, 50), (3000, 200)])
def test_best_plan_minimises_computed_pixels_within_budget(h: int, w: int) -> None:
    overlap, multiple, cap = 144, 16, 2048
    plan = best_plan(h, w, overlap, multiple, cap * cap)
    assert plan.tile_h * plan.tile_w <= cap * cap
    assert plan.n_tiles == 1 or plan.tile_h * plan.padded_width <= 2 * cap * cap  # strip memory bounded
    assert plan.tile_h % multiple == 0 and plan.tile_w % multiple == 0
    # never worse than any square tile within the same budget
    squares = [plan_tiles(h, w, t, overlap, multiple) for t in range(overlap + multiple, cap + 1, multiple)]
    assert plan.computed_pixels <= min(p.computed_pixels for p in squares)
    assert plan.computed_fraction < 1.15 or h * w < 10_000  # overlap waste small for manga pages
    assert plan == plan_tiles(h, w, best_tile(h, w, overlap, multiple, cap * cap), overlap, multiple)


def test_best_plan_single_tile_pages_and_small_budgets() -> None:
    assert best_plan(2400, 1680, 144, 16, 2048 * 2048).n_tiles == 1  # 4 MP fits one 2048^2 budget
    assert best_plan(2400, 1680, 224, 16, 2048 * 2048, max_strip_pixels=1).n_tiles > 1
    plan = best_plan(500, 500, 64, 16, 128 * 128)  # budget below any covering shape: smallest tiles
    assert plan.tile_h * plan.tile_w <= 128 * 128 and plan.n_tiles > 4
    with pytest.raises(TilingError):
        best_plan(100, 100, 8, 16, 4096)  # overlap not a multiple
    with pytest.raises(TilingError):
        best_plan(100, 100, 16, 16, 0)


def test_ramp_is_narrow_symmetric_and_centred() -> None:
    for ov in (0, 1, 5, 14, 144, 150):
        r = ramp(ov)
        m = blend_margin(ov)
        assert r.shape == (ov,) and np.allclose(r + r[::-1], 1.0)
        assert not r[:m].any() and (r[ov - m :] == 1.0).all()
    assert blend_margin(144) == 57 and np.count_nonzero((ramp(144) > 0) & (ramp(144) < 1)) == 30


@pytest.mark.parametrize("h,w,multiple", [(150, 203, 2), (131, 97, 8), (260, 70, 2)])
def test_tiled_equals_whole_image_with_best_rectangular_plan(h: int, w: int, multiple: int) -> None:
    page = _page(h, w)
    overlap = recommended_overlap(MODEL_RADIUS, multiple)
    plan = best_plan(h, w, overlap, multiple, 48 * 64)
    assert plan.n_tiles > 1 and plan.tile_h != plan.tile_w
    tiled = run_tiled(page, model, plan, 3)
    assert np.abs(tiled - run_whole(page, model, multiple, 3)).max() <= 1e-5


def test_oom_retry_halves_rectangular_tile() -> None:
    page = _page(300, 290)
    seen: list[tuple[int, int]] = []

    def fn(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.shape[1:3])
        if batch.shape[1] * batch.shape[2] > 64 * 128:
            raise MemoryError("boom")
        return model(batch)

    out = run_tiled_with_retry(page, fn, tile=(128, 256), overlap=32, multiple=16, out_channels=3)
    assert seen[0] == (128, 256) and seen[-1] == (64, 128)
    assert np.abs(out - run_whole(page, model, 16, 3)).max() <= 1 / 255


def test_run_tiled_never_modifies_the_callers_data() -> None:
    page = _page(64, 80)
    keep = page.copy()

    def view_reader(y0: int, x0: int, h: int, w: int) -> np.ndarray:
        return page[y0 : y0 + h, x0 : x0 + w]  # views into the caller's page (no reflection needed)

    for plan in (plan_tiles(64, 80, (64, 80), 0, 16), plan_tiles(64, 80, 48, 16, 16)):
        out = run_tiled(view_reader, lambda b: b, plan, 2)  # identity: the result IS the batch
        assert np.array_equal(page, keep) and np.allclose(out, page, atol=1e-6)
