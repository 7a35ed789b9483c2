"""Training pairs from a rendered art folder (``training.data.svgart``) mixed with procedural pictures.

Sample ``i`` is a pure function of ``(seed, i)``: a coin with probability ``procedural_frac`` picks a
procedural illustration (``training.data.procedural``), otherwise a drawing of the split is drawn at
random and turned into a pair by ``training.data.dataset.make_pair`` with the drawing's own line art as
its ink layer when it has one (else the lines are extracted from the colour).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mangacolor_app.core.model_inputs import channel_count, validate_channels
from .dataset import DEFAULT_CHANNELS, PROCEDURAL_CROP_SCALE, make_pair
from .procedural import generate_illustration
from .svgart import list_art

log = logging.getLogger(__name__)

__all__ = ["ArtPairDataset", "ART_CROP_SCALE", "read_art"]

#: the drawings sit on a square canvas with a margin: crops from half of it to all of it
ART_CROP_SCALE = (0.5, 1.0)


def read_art(color_path: Path, line_path: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A rendered drawing: colour (H, W, 3) float32 RGB [0, 1] and its line art (H, W) float32 or None.

    Raises:
        OSError: a file that cannot be decoded (names it).
    """
    bgr = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{color_path}: cannot be decoded")
    color = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    line = None
    if line_path is not None:
        g = cv2.imread(str(line_path), cv2.IMREAD_GRAYSCALE)
        if g is None or g.shape != color.shape[:2]:
            raise OSError(f"{line_path}: cannot be decoded or does not match its colour picture")
        line = g.astype(np.float32) / 255.0
    return color, line


class ArtPairDataset(Dataset):
    """Pairs from a rendered art folder's ``split``, mixed with procedural pictures.

    Args:
        art_dir: a ``mangacolor-train render-svg`` output folder.
        split: ``"train"`` or ``"val"`` (drawings are split by drawing, so no crop of a validation drawing
            is ever trained on).
        size: sample side in px.
        seed: base seed (sample ``i`` uses ``default_rng([seed, i])``).
        length: number of samples (indices wrap over the drawings with new crops and hints).
        channels: model input channel tokens.
        procedural_frac: share of procedural samples, 0..1.
        zero_hint_prob: share of samples with no hint at all (automatic colour).
        max_strokes: most simulated hint strokes per sample.

    Items are {"input": (C, size, size) float32 tensor [0, 1], "target": (3, size, size) float32 tensor}.

    Raises:
        FileNotFoundError: no drawings in the split; ValueError: ``procedural_frac`` outside 0..1.
    """

    def __init__(self, art_dir: str | Path, split: str = "train", *, size: int = 256, seed: int = 0,
                 length: int = 10000, channels: Sequence[str] = DEFAULT_CHANNELS, procedural_frac: float = 0.3,
                 zero_hint_prob: float = 0.1, max_strokes: int = 40) -> None:
        if not 0.0 <= procedural_frac <= 1.0:
            raise ValueError(f"procedural_frac must be in [0, 1], got {procedural_frac}")
        self.art = list_art(art_dir, split) if procedural_frac < 1.0 else []
        self.channels = validate_channels(channels)
        self.n_channels = channel_count(self.channels)
        self.size, self.seed, self.length = int(size), int(seed), int(length)
        self.procedural_frac, self.zero_hint_prob, self.max_strokes = procedural_frac, zero_hint_prob, max_strokes
        log.info("art pairs: %d drawings in %s/%s, %.0f %% procedural", len(self.art), art_dir, split,
                 100 * procedural_frac)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> dict[str, np.ndarray]:
        """The numpy pair for ``index`` (see ``make_pair``); deterministic per (seed, index)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range 0..{self.length - 1}")
        rng = np.random.default_rng([self.seed, index])
        if not self.art or rng.random() < self.procedural_frac:
            color, ink, _ = generate_illustration(rng, (self.size, self.size))
            crop = PROCEDURAL_CROP_SCALE
        else:
            color_path, line_path = self.art[int(rng.integers(len(self.art)))]
            color, ink = read_art(color_path, line_path)
            crop = ART_CROP_SCALE
        return make_pair(color, rng, size=self.size, channels=self.channels, ink=ink, crop_scale=crop,
                         max_strokes=self.max_strokes, zero_hint_prob=self.zero_hint_prob)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v) for k, v in self.sample(int(index)).items()}
