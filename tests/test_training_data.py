"""Tests of training/data: procedural pictures, line extraction, screentone, hint simulation, datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.core.model_inputs import channel_count
from training.data import augment, lineart, screentone
from training.data.dataset import (DEFAULT_CHANNELS, CachedPairDataset, PairDataset, make_pair,
                                   render_pairs)
from training.data.hintsim import render_strokes, sample_stroke_count, sample_strokes, simulate_hints
from training.data.procedural import generate_illustration


@pytest.fixture(scope="module")
def picture() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return generate_illustration(np.random.default_rng(7), (128, 160))


def test_generate_illustration_contract(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color, ink, regions = picture
    assert color.shape == (128, 160, 3) and color.dtype == np.float32
    assert ink.shape == (128, 160) and ink.dtype == np.float32
    assert regions.shape == (128, 160) and regions.dtype == np.int32
    assert 0 <= color.min() and color.max() <= 1 and 0 <= ink.min() and ink.max() <= 1
    assert np.median(ink) > 0.98  # mostly paper
    assert len(np.unique(regions)) > 3


def test_generate_illustration_deterministic() -> None:
    a = generate_illustration(np.random.default_rng(3), (96, 96))
    b = generate_illustration(np.random.default_rng(3), (96, 96))
    c = generate_illustration(np.random.default_rng(4), (96, 96))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_generate_illustration_rejects_tiny() -> None:
    with pytest.raises(ValueError):
        generate_illustration(np.random.default_rng(0), (16, 64))


def test_ink_is_antialiased_grey() -> None:
    """Lines are not binary: many ink pixels are intermediate greys (pressure, AA, pencil)."""
    fractions = []
    for seed in range(6):
        _, ink, _ = generate_illustration(np.random.default_rng(seed), (128, 128))
        dark = ink < 0.98
        fractions.append(((ink > 0.1) & (ink < 0.9)).sum() / max(dark.sum(), 1))
    assert np.mean(fractions) > 0.4


@pytest.mark.parametrize("method", sorted(lineart.METHODS))
def test_extraction_methods_run(method: str, picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color = picture[0]
    line = lineart.extract_lines(color, np.random.default_rng(1), method)
    assert line.shape == color.shape[:2] and line.dtype == np.float32
    assert 0 <= line.min() and line.max() <= 1
    assert np.median(line) > 0.8  # mostly paper
    assert (line < 0.7).mean() > 0.005  # some lines found


def test_extract_lines_unknown_method(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    with pytest.raises(KeyError):
        lineart.extract_lines(picture[0], np.random.default_rng(0), "nope")


def test_screentone_changes_mid_tones_only() -> None:
    gray = np.tile(np.linspace(0, 1, 200, dtype=np.float32), (64, 1))
    line = np.ones_like(gray)
    line[30:33] = 0.2
    rng = np.random.default_rng(5)
    changed_any = False
    for _ in range(5):
        out = screentone.apply_tones(line, gray, rng, band=(0.3, 0.7))
        outside = ~screentone.mid_tone_mask(gray, (0.3, 0.7))
        np.testing.assert_array_equal(out[outside], line[outside])
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
        assert (out <= line + 1e-6).all()  # tone only darkens
        changed_any |= bool((out < line - 0.1).any())
    assert changed_any


def test_screentone_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        screentone.apply_tones(np.ones((4, 4), np.float32), np.ones((4, 5), np.float32), np.random.default_rng())


def test_tone_patterns_antialiased() -> None:
    tone = screentone.dot_tone((64, 64), 0.6, 5.0, 45.0)
    assert ((tone > 0.05) & (tone < 0.95)).any() and (tone < 0.05).any() and (tone > 0.95).any()


def test_hint_colours_equal_target_median(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color, ink, _ = picture
    rng = np.random.default_rng(2)
    strokes = sample_strokes(color, ink, 12, rng)
    assert 0 < len(strokes) <= 12
    for s in strokes:
        hints = render_strokes([s], color)
        sel = hints[..., 3] > 0
        assert sel.any()
        np.testing.assert_allclose(hints[sel][0, :3], np.median(color[sel], axis=0), atol=1e-6)
        assert (hints[sel][:, :3] == hints[sel][0, :3]).all()


def test_simulated_hints_mostly_match_target(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color, ink, _ = picture
    hints = simulate_hints(color, ink, np.random.default_rng(11), max_strokes=30, zero_prob=0.0)
    assert hints.shape == (*color.shape[:2], 4) and hints.dtype == np.float32
    alpha = hints[..., 3]
    assert set(np.unique(alpha)) <= {0.0, 1.0} and alpha.any()
    err = np.abs(hints[..., :3] - color).max(axis=2)[alpha > 0]
    assert np.mean(err < 0.06) > 0.8  # strokes stop at colour changes
    assert (hints[..., :3][alpha == 0] == 0).all()


def test_zero_stroke_samples_occur(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    counts = [sample_stroke_count(rng, 40) for _ in range(500)]
    assert 0.04 < np.mean(np.equal(counts, 0)) < 0.2
    assert max(counts) <= 40 and max(counts) > 20
    empty = [not simulate_hints(picture[0], picture[1], np.random.default_rng(s))[..., 3].any() for s in range(60)]
    assert any(empty) and not all(empty)


def test_augmentations_keep_contract() -> None:
    rng = np.random.default_rng(0)
    a, b = np.random.default_rng(1).random((90, 120, 3), np.float32), np.random.default_rng(2).random((90, 120), np.float32)
    ca, cb = augment.random_resized_crop([a, b], rng, 64)
    assert ca.shape == (64, 64, 3) and cb.shape == (64, 64)
    with pytest.raises(ValueError):
        augment.random_resized_crop([a, b[:50]], rng, 64)
    for _ in range(10):
        out = augment.augment_line(cb, rng, weight_prob=1, contrast_prob=1, noise_prob=1, jpeg_prob=1)
        assert out.shape == cb.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_make_pair_contract(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color, ink, _ = picture
    pair = make_pair(color, np.random.default_rng(0), size=64, ink=ink)
    assert pair["input"].shape == (9, 64, 64) and pair["input"].dtype == np.float32
    assert pair["target"].shape == (3, 64, 64) and pair["target"].dtype == np.float32
    for v in pair.values():
        assert 0 <= v.min() and v.max() <= 1
    small = make_pair(color, np.random.default_rng(0), size=48, channels=("line", "hint_rgb", "hint_mask"))
    assert small["input"].shape == (5, 48, 48)


def test_make_pair_hint_channels_match_target(picture: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    color, ink, _ = picture
    for seed in range(4):
        pair = make_pair(color, np.random.default_rng(seed), size=96, ink=ink,
                         channels=("line", "hint_rgb", "hint_mask"), max_strokes=20)
        mask = pair["input"][4] > 0
        if mask.any():
            err = np.abs(pair["input"][1:4] - pair["target"]).max(axis=0)[mask]
            assert np.mean(err < 0.06) > 0.7


def test_pair_dataset_deterministic() -> None:
    ds = PairDataset(None, size=64, seed=5, length=10)
    a, b = ds[3], PairDataset(None, size=64, seed=5, length=10)[3]
    assert a["input"].shape == (9, 64, 64) and a["target"].shape == (3, 64, 64)
    assert str(a["input"].dtype) == "torch.float32"
    for k in a:
        assert (a[k] == b[k]).all()
    assert not (PairDataset(None, size=64, seed=6, length=10)[3]["target"] == a["target"]).all()
    assert not (ds[4]["target"] == a["target"]).all()
    with pytest.raises(IndexError):
        ds.sample(10)


def test_pair_dataset_folder_source(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for i, sub in enumerate(["", "a", "a/b"]):
        color, _, _ = generate_illustration(np.random.default_rng(i), (80, 100))
        Image.fromarray((color * 255 + 0.5).astype(np.uint8)).save(tmp_path / sub / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = PairDataset(tmp_path, size=48, seed=1, channels=("line", "hint_rgb", "hint_mask"))
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        assert item["input"].shape == (5, 48, 48) and item["target"].shape == (3, 48, 48)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError):
        PairDataset(tmp_path / "empty", size=48)
    with pytest.raises(FileNotFoundError):
        PairDataset(tmp_path / "missing", size=48)


def test_render_pairs_round_trip(tmp_path: Path) -> None:
    shards = render_pairs(tmp_path / "cache", n=5, size=48, seed=2, workers=1, shard_size=2)
    assert len(shards) == 3 and all(p.suffix == ".npz" for p in shards)
    with np.load(shards[0]) as z:
        assert z["input"].dtype == np.uint8 and z["input"].shape == (2, len_channels(), 48, 48)
    cached = CachedPairDataset(tmp_path / "cache", flip=False)
    live = PairDataset(None, size=48, seed=2, length=5)
    assert len(cached) == 5
    for i in range(5):
        c, lv = cached[i], live[i]
        for k in ("input", "target"):
            assert c[k].shape == lv[k].shape
            assert float((c[k] - lv[k]).abs().max()) <= 0.5 / 255 + 1e-6
    cropped = CachedPairDataset(tmp_path / "cache", crop=32)[4]
    assert cropped["input"].shape == (len_channels(), 32, 32) and cropped["target"].shape == (3, 32, 32)


def test_cached_pairs_give_a_subset_of_their_channels(tmp_path: Path) -> None:
    """An ablation trains on the same pairs without some channels: the planes are picked by token."""
    render_pairs(tmp_path / "cache", n=2, size=32, seed=4, workers=1, shard_size=2)
    full = CachedPairDataset(tmp_path / "cache", flip=False)
    sub = CachedPairDataset(tmp_path / "cache", flip=False, channels=["line", "flats_mask"])
    assert sub.channels == ("line", "flats_mask") and sub[1]["input"].shape == (2, 32, 32)
    assert all(shard["input"].shape[1] == 2 for shard in sub._cache.values())  # planes picked when read
    tokens = list(full.channels)
    mask_at = channel_count(tokens[: tokens.index("flats_mask")])
    assert np.array_equal(sub[1]["input"][0].numpy(), full[1]["input"][0].numpy())
    assert np.array_equal(sub[1]["input"][1].numpy(), full[1]["input"][mask_at].numpy())
    with pytest.raises(ValueError, match="hint_blur_rgb"):
        CachedPairDataset(tmp_path / "cache", channels=["line", "hint_blur_rgb"])


def test_render_pairs_same_with_workers(tmp_path: Path) -> None:
    render_pairs(tmp_path / "one", n=3, size=32, seed=9, workers=1, shard_size=2)
    render_pairs(tmp_path / "two", n=3, size=32, seed=9, workers=2, shard_size=2)
    for name in ("shard_00000.npz", "shard_00001.npz"):
        with np.load(tmp_path / "one" / name) as a, np.load(tmp_path / "two" / name) as b:
            np.testing.assert_array_equal(a["input"], b["input"])


def test_cached_dataset_missing_meta(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CachedPairDataset(tmp_path)


def len_channels() -> int:
    return 9 if DEFAULT_CHANNELS == ("line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask") else -1
