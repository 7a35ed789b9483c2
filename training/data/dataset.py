"""Training pairs (model input, target colour) from colour images or the procedural generator.

`make_pair` is the whole recipe for one sample: random crop/scale/flip of the colour image, line art
(extracted by a random method, mixed with the generator's own ink when there is one), optional
screentone, line augmentations, simulated hints, then `core.model_inputs.build_model_input`, the same
function inference uses, so training and inference inputs cannot drift apart.

`PairDataset` serves pairs on the fly (deterministic per (seed, index)); `render_pairs` pre-renders
pairs to compressed uint8 .npz shards and `CachedPairDataset` reads them back, so CPU training is not
bound by sample generation.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mangacolor_app.core.model_inputs import build_model_input, channel_count, token_slices, validate_channels
from . import augment, lineart, screentone
from .hintsim import simulate_hints
from .procedural import generate_illustration

log = logging.getLogger(__name__)

DEFAULT_CHANNELS: tuple[str, ...] = ("line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
SHARD_SIZE = 64
META_NAME = "meta.json"
#: procedural pictures are drawn at the sample size; zooming in far would blur and fatten their lines
PROCEDURAL_CROP_SCALE = (0.7, 1.0)


def make_pair(color: np.ndarray, rng: np.random.Generator, *, size: int = 256,
              channels: Sequence[str] = DEFAULT_CHANNELS, ink: np.ndarray | None = None,
              screentone_prob: float = 0.3, max_strokes: int = 40,
              crop_scale: tuple[float, float] = (0.35, 1.0), zero_hint_prob: float = 0.1) -> dict[str, np.ndarray]:
    """Build one training pair from a colour image.

    Args:
        color: (H,W,3) float32 [0,1] RGB target (any size; cropped/scaled to `size`).
        rng: random generator (the pair is a pure function of its state and the inputs).
        size: output side in px.
        channels: model input channel tokens (see DEVELOPERS.md).
        ink: optional (H,W) float32 [0,1] line layer drawn by the generator (1 = paper).
        screentone_prob: probability of screentone over the line's mid-tones.
        max_strokes: most hint strokes per sample.
        zero_hint_prob: probability of a sample with no hint at all (what automatic colour learns from).
        crop_scale: range of the crop side as a fraction of the short side (see augment.random_resized_crop).

    Returns:
        dict(input=(C,size,size) float32 [0,1], target=(3,size,size) float32 [0,1]).

    Raises:
        ValueError: bad shapes; ModelError: bad channel tokens.
    """
    tokens = validate_channels(channels)
    if color.ndim != 3 or color.shape[2] != 3:
        raise ValueError(f"color must be (H, W, 3), got {color.shape}")
    arrays = [np.asarray(color, np.float32)] + ([np.asarray(ink, np.float32)] if ink is not None else [])
    arrays = augment.random_flip(augment.random_resized_crop(arrays, rng, size, crop_scale), rng)
    target = np.clip(arrays[0], 0, 1)
    line = lineart.extract_lines(target, rng)
    if ink is not None:
        line = lineart.mix_with_ink(line, arrays[1], rng)
    if rng.random() < screentone_prob:
        line = screentone.apply_tones(line, lineart.to_gray(target), rng)
    line = np.clip(augment.augment_line(line, rng), 0, 1)
    hints = simulate_hints(target, line, rng, max_strokes=max_strokes, zero_prob=zero_hint_prob)
    inp = build_model_input(line, hints, tokens)
    return {"input": np.ascontiguousarray(inp.transpose(2, 0, 1), np.float32),
            "target": np.ascontiguousarray(target.transpose(2, 0, 1), np.float32)}


def list_images(folder: str | Path) -> list[Path]:
    """All image files under `folder` (recursive, sorted, by suffix).

    Raises:
        FileNotFoundError: the folder does not exist; ValueError: it holds no images.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    return files


class PairDataset(Dataset):
    """Training pairs on the fly from a folder of colour images or the procedural generator.

    Args:
        source: folder of colour images (any depth, decoded lazily with core.imageio), or None for
            procedural illustrations.
        size: sample side in px.
        seed: base seed; sample `i` uses `np.random.default_rng([seed, i])`, so it is the same in every
            run, worker and process.
        length: number of samples; default len(images) for a folder, 10000 procedural. Indices wrap
            around the image list, so a length above it yields different crops/hints of the same images.
        channels: model input channel tokens.
        proc_size: canvas side of procedural pictures (cropped/scaled to `size`); default `size`.
        screentone_prob, max_strokes: see `make_pair`.

    Items are {"input": (C,size,size) float32 tensor, "target": (3,size,size) float32 tensor}.
    """

    def __init__(self, source: str | Path | None = None, *, size: int = 256, seed: int = 0,
                 length: int | None = None, channels: Sequence[str] = DEFAULT_CHANNELS,
                 proc_size: int | None = None, screentone_prob: float = 0.3, max_strokes: int = 40) -> None:
        self.channels = validate_channels(channels)
        self.n_channels = channel_count(self.channels)
        self.size, self.seed = int(size), int(seed)
        self.files = list_images(source) if source is not None else []
        self.length = int(length if length is not None else (len(self.files) or 10000))
        self.proc_size = int(proc_size or size)
        self.screentone_prob, self.max_strokes = screentone_prob, max_strokes

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> dict[str, np.ndarray]:
        """The numpy pair for `index` (see `make_pair`); deterministic per (seed, index)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range 0..{self.length - 1}")
        rng = np.random.default_rng([self.seed, index])
        ink = None
        if self.files:
            from mangacolor_app.core.imageio import load_image

            color = load_image(self.files[index % len(self.files)]).rgb
        else:
            color, ink, _ = generate_illustration(rng, (self.proc_size, self.proc_size))
        return make_pair(color, rng, size=self.size, channels=self.channels, ink=ink,
                         screentone_prob=self.screentone_prob, max_strokes=self.max_strokes,
                         crop_scale=(0.35, 1.0) if self.files else PROCEDURAL_CROP_SCALE)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pair = self.sample(int(index))
        return {k: torch.from_numpy(v) for k, v in pair.items()}


def worker_init(_worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn`: one OpenCV thread per worker (threads fighting over a few cores
    cost up to 3x CPU time per sample)."""
    cv2.setNumThreads(1)


def _to_u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def _render_shard(args: tuple[str, int, int, int, int, int, str | None, tuple[str, ...]]) -> str:
    """Worker: render samples [start, stop) into one shard file; returns its path."""
    out_dir, shard, start, stop, size, seed, source, channels = args
    ds = PairDataset(source, size=size, seed=seed, length=stop, channels=channels)
    pairs = [ds.sample(i) for i in range(start, stop)]
    path = Path(out_dir) / f"shard_{shard:05d}.npz"
    np.savez_compressed(path, input=np.stack([_to_u8(p["input"]) for p in pairs]),
                        target=np.stack([_to_u8(p["target"]) for p in pairs]))
    return str(path)


def render_pairs(out_dir: str | Path, n: int, size: int = 256, seed: int = 0, source: str | Path | None = None,
                 workers: int = 1, *, channels: Sequence[str] = DEFAULT_CHANNELS,
                 shard_size: int = SHARD_SIZE) -> list[Path]:
    """Pre-render `n` pairs to `out_dir` as compressed uint8 .npz shards plus `meta.json`.

    Sample i is `PairDataset(source, size=size, seed=seed)` sample i, whatever the number of workers.
    Each shard holds `input` (k,C,size,size) uint8 and `target` (k,3,size,size) uint8 (value x 255).

    Returns:
        the shard paths in order.

    Raises:
        ValueError: n < 1; ModelError: bad channel tokens.
    """
    tokens = validate_channels(channels)
    if n < 1:
        raise ValueError(f"render_pairs needs n >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = str(source) if source is not None else None
    jobs = [(str(out), k, s, min(s + shard_size, n), size, seed, src, tokens)
            for k, s in enumerate(range(0, n, shard_size))]
    if workers > 1:
        # spawn, not fork: a forked child of a process whose thread pools (OpenMP, onnxruntime, Qt)
        # hold locks can deadlock; spawn is also what Windows and macOS do anyway.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, initializer=worker_init, mp_context=ctx) as pool:
            paths = list(pool.map(_render_shard, jobs))
    else:
        paths = [_render_shard(j) for j in jobs]
    meta = {"n": n, "size": size, "seed": seed, "channels": list(tokens), "source": src,
            "shards": [Path(p).name for p in paths], "shard_size": shard_size}
    (out / META_NAME).write_text(json.dumps(meta, indent=1))
    log.info("rendered %d pairs into %d shards under %s", n, len(paths), out)
    return [Path(p) for p in paths]


class CachedPairDataset(Dataset):
    """Pairs pre-rendered by `render_pairs`, with cheap random flips and crops.

    Args:
        directory: the `render_pairs` output folder (with meta.json).
        crop: random square crop side (None = full size).
        flip: random left-right flips.
        preload: load all shards into memory (uint8) up front; default: when they total < 2 GiB.
            Otherwise the last few shards read are cached (shuffle within shards for speed).
        channels: the tokens to serve, a subset of the pairs' in any order (default: all of them); the
            planes are selected once per shard read, so preloaded shards hold only those.

    Items are {"input": (C,S,S) float32 tensor [0,1], "target": (3,S,S) float32 tensor [0,1]}.

    Raises:
        FileNotFoundError: no meta.json in `directory`.
        ValueError: a wanted channel the pairs do not have (names the folder).
    """

    def __init__(self, directory: str | Path, *, crop: int | None = None, flip: bool = True,
                 preload: bool | None = None, channels: Sequence[str] | None = None) -> None:
        self.dir = Path(directory)
        meta_path = self.dir / META_NAME
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: missing (not a render_pairs folder)")
        self.meta = json.loads(meta_path.read_text())
        self.channels = tuple(self.meta["channels"])
        self._planes: np.ndarray | None = None
        if channels is not None and tuple(channels) != self.channels:
            self._planes = _plane_index(self.channels, channels, self.dir)
            self.channels = tuple(channels)
        self.size, self.n, self.shard_size = int(self.meta["size"]), int(self.meta["n"]), int(self.meta["shard_size"])
        self.crop, self.flip = crop, flip
        c = channel_count(self.channels) + 3
        if preload is None:
            preload = self.n * c * self.size ** 2 < 2 << 30
        self._cache: dict[int, dict[str, np.ndarray]] = {}
        self._preloaded = bool(preload)
        if self._preloaded:
            for k in range(len(self.meta["shards"])):
                self._cache[k] = self._read(k)

    def _read(self, k: int) -> dict[str, np.ndarray]:
        """Shard ``k`` as uint8 arrays, its inputs reduced to the selected planes (a channel subset)."""
        with np.load(self.dir / self.meta["shards"][k]) as z:
            inp = z["input"]
            return {"input": inp if self._planes is None else inp[:, self._planes], "target": z["target"]}

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        if k not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            self._cache[k] = self._read(k)
        return self._cache[k]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range 0..{self.n - 1}")
        k, j = divmod(int(index), self.shard_size)
        shard = self._shard(k)
        inp, tgt = shard["input"][j], shard["target"][j]
        rng = np.random.default_rng()
        if self.crop is not None and self.crop < self.size:
            y, x = rng.integers(0, self.size - self.crop + 1, 2)
            inp, tgt = inp[:, y:y + self.crop, x:x + self.crop], tgt[:, y:y + self.crop, x:x + self.crop]
        if self.flip and rng.random() < 0.5:
            inp, tgt = inp[:, :, ::-1], tgt[:, :, ::-1]
        scale = np.float32(1 / 255)
        return {"input": torch.from_numpy(np.ascontiguousarray(inp).astype(np.float32) * scale),
                "target": torch.from_numpy(np.ascontiguousarray(tgt).astype(np.float32) * scale)}


def _plane_index(stored: Sequence[str], wanted: Sequence[str], where: Path) -> np.ndarray:
    """Indices of the input planes of the ``wanted`` tokens within pairs stored with ``stored`` tokens.

    Raises:
        ValueError: a wanted token the pairs do not have (names the folder).
    """
    starts = token_slices(stored)
    missing = [t for t in validate_channels(wanted) if t not in starts]
    if missing:
        raise ValueError(f"{where}: pairs have channels {list(stored)}, not {missing}")
    return np.concatenate([np.arange(starts[t].start, starts[t].stop) for t in wanted])
