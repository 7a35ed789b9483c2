"""Draw MangaColor's bundled sample: a simple character + speech bubble sketch and example hints.

Our own art, generated deterministically with OpenCV: grey anti-aliased, slightly wobbly
"pencil" lines on white paper (``sample_sketch.png``, 8-bit greyscale) and a sparse RGBA hint
layer (``sample_hints.png``; alpha = hint strength). Run from anywhere::

    python resources/samples/make_sample.py
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

W, H = 1000, 1400
HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(7)


def _wobble(points: np.ndarray, amount: float = 1.2) -> np.ndarray:
    """Jitter a polyline a little, like a hand-drawn pencil line."""
    return points + RNG.normal(0.0, amount, points.shape)


def pencil(img: np.ndarray, points: np.ndarray, closed: bool = False, width: int = 3, tone: int = 55) -> None:
    """Draw a pencil-like stroke: two slightly offset anti-aliased passes of a grey line."""
    for pass_tone, w, jitter in ((tone + 40, width + 1, 1.6), (tone, width, 0.8)):
        pts = np.round(_wobble(points.astype(np.float64), jitter) * 16).astype(np.int32)
        cv2.polylines(img, [pts], closed, pass_tone, w, cv2.LINE_AA, shift=4)


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 60) -> np.ndarray:
    """Points on an elliptical arc (angles in degrees)."""
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def draw_sketch() -> np.ndarray:
    """The (H, W) uint8 sketch (255 = paper)."""
    img = np.full((H, W), 255, np.uint8)
    pencil(img, np.array([[40, 40], [W - 40, 40], [W - 40, H - 40], [40, H - 40]]), closed=True, width=4, tone=30)
    # head and neck
    pencil(img, arc(480, 620, 190, 220, -8, 188), width=3)
    pencil(img, np.array([[420, 830], [410, 930]]))
    pencil(img, np.array([[545, 830], [555, 930]]))
    # hair: a cap with spikes
    spikes = [[290, 640], [300, 470], [260, 430], [350, 420], [360, 330], [430, 390], [480, 300],
              [520, 385], [600, 320], [610, 410], [700, 400], [660, 470], [675, 640]]
    pencil(img, np.array(spikes, float), width=4)
    pencil(img, np.array([[300, 520], [380, 480], [430, 540], [500, 470], [560, 540], [620, 480], [665, 540]], float))
    # eyes, brows, mouth
    for cx in (410, 560):
        pencil(img, arc(cx, 640, 42, 50, 0, 360, 50), closed=True)
        pencil(img, arc(cx + 6, 648, 16, 22, 0, 360, 30), closed=True, tone=40)
        pencil(img, np.array([[cx - 45, 565], [cx, 550], [cx + 45, 562]], float))
    pencil(img, arc(485, 745, 45, 18, 20, 160, 20))
    # shoulders and shirt collar
    pencil(img, np.array([[150, 1360], [190, 1040], [300, 960], [410, 930]], float), width=4)
    pencil(img, np.array([[555, 930], [680, 960], [790, 1040], [830, 1360]], float), width=4)
    pencil(img, np.array([[410, 930], [480, 1030], [555, 930]], float))
    pencil(img, np.array([[480, 1030], [480, 1360]], float))
    # speech bubble with a tail, and "text" squiggles
    pencil(img, arc(760, 180, 170, 105, 0, 360, 90), closed=True, width=3)
    pencil(img, np.array([[690, 275], [650, 360], [740, 283]], float))
    for row in range(3):
        y = 140 + row * 38
        xs = np.linspace(660, 860 - row * 30, 24)
        ys = y + 6 * np.sin(xs / 7.0)
        pencil(img, np.stack([xs, ys], 1), width=2, tone=80)
    # background: a few clouds
    for cx, cy in ((180, 200), (300, 260)):
        pencil(img, arc(cx, cy, 70, 30, 180, 360, 30), width=2, tone=110)
    return img


def _blob(hints: np.ndarray, pts: list[tuple[int, int]], rgb: tuple[int, int, int], width: int) -> None:
    """A hint stroke through ``pts``: anti-aliased alpha, the exact colour (straight alpha)."""
    mask = np.zeros(hints.shape[:2], np.uint8)
    cv2.polylines(mask, [np.array(pts, np.int32)], False, 255, width, cv2.LINE_AA)
    on = mask > 0
    hints[on, :3] = rgb
    hints[on, 3] = np.maximum(hints[on, 3], mask[on])


def draw_hints() -> np.ndarray:
    """The (H, W, 4) uint8 RGBA example hints."""
    hints = np.zeros((H, W, 4), np.uint8)
    _blob(hints, [(400, 760), (480, 790), (560, 760)], (246, 205, 180), 26)   # skin
    _blob(hints, [(430, 880), (520, 890)], (246, 205, 180), 20)               # neck
    _blob(hints, [(390, 440), (480, 390), (570, 440)], (60, 70, 120), 20)     # hair
    _blob(hints, [(260, 1200), (330, 1100), (420, 1200)], (200, 60, 70), 30)  # shirt left
    _blob(hints, [(560, 1200), (660, 1100), (720, 1250)], (200, 60, 70), 30)  # shirt right
    _blob(hints, [(120, 900), (110, 600), (150, 400)], (140, 190, 235), 30)   # sky left
    _blob(hints, [(860, 700), (880, 900), (870, 1000)], (140, 190, 235), 30)  # sky right
    for cx in (410, 560):
        _blob(hints, [(cx + 2, 654), (cx + 10, 660)], (90, 150, 90), 10)      # eyes
    return hints


def main() -> None:
    """Write sample_sketch.png and sample_hints.png next to this script."""
    sketch = draw_sketch()
    hints = draw_hints()
    cv2.imwrite(str(HERE / "sample_sketch.png"), sketch, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    cv2.imwrite(str(HERE / "sample_hints.png"), cv2.cvtColor(hints, cv2.COLOR_RGBA2BGRA),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    logger.info("wrote %s", HERE)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
