"""One procedural character drawn several times: same palette and build, another pose, scale and place.

For colour-memory tests and benchmarks (:mod:`mangacolor_app.core.matching`): the first drawing is the
reference, the others are pages to colour from it. A :class:`CharacterSpec` fixes what identifies the
character (palette, proportions, hair shape); a :class:`Pose` says how one drawing differs (position,
scale, a whole-body tilt, arm and leg angles, head turn). :func:`draw_character` paints it with the
hand-like primitives of :mod:`training.data.drawing` on white paper and returns the colour picture,
its line art, its region labels and each label's palette colour name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drawing import _Canvas, _Style, blob, ellipse, fill
from .procedural import _finish

__all__ = ["CharacterSpec", "Pose", "Drawing", "random_spec", "random_pose", "draw_character"]

#: Palette entries of a character (name -> role). Several parts share a colour (skin, shirt).
PART_COLOURS = ("hair", "skin", "eye_white", "iris", "shirt", "collar", "ribbon", "skirt", "shoe", "sock")


@dataclass
class CharacterSpec:
    """What stays the same from drawing to drawing: colours (0..255 RGB) and proportions."""

    palette: dict[str, tuple[int, int, int]]
    head_aspect: float
    hair_long: float
    hair_seed: int
    torso_width: float
    skirt_len: float


@dataclass
class Pose:
    """How one drawing differs: head centre (px), head half-height (px), tilt and limb angles (rad)."""

    cx: float
    cy: float
    scale: float
    tilt: float
    arm_l: float
    arm_r: float
    leg_spread: float


@dataclass
class Drawing:
    """A drawn character: colour (H,W,3) f32 [0,1], line (H,W) f32 (1 = paper), labels (H,W) int32
    (0 = paper), and ``parts[label]`` = the palette name painted in that label."""

    color: np.ndarray
    line: np.ndarray
    labels: np.ndarray
    parts: dict[int, str]


def _distinct(rng: np.random.Generator, n: int) -> list[tuple[int, int, int]]:
    """n colours with well separated hues and values."""
    hues = (rng.uniform(0, 1) + np.arange(n) / n) % 1.0
    rng.shuffle(hues)
    out = []
    for i, hue in enumerate(hues):
        s, v = (0.35 + 0.5 * ((i * 7) % 5) / 4), (0.45 + 0.5 * ((i * 3) % 4) / 3)
        k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
        rgb = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)
        out.append(tuple(int(round(c * 255)) for c in rgb))
    return out


def random_spec(rng: np.random.Generator) -> CharacterSpec:
    """A character with a random distinct palette (eye white is white) and random proportions."""
    names = [p for p in PART_COLOURS if p != "eye_white"]
    palette = dict(zip(names, _distinct(rng, len(names))))
    palette["eye_white"] = (255, 255, 255)
    return CharacterSpec(palette=palette, head_aspect=float(rng.uniform(0.75, 0.9)),
                         hair_long=float(rng.uniform(1.2, 2.2)), hair_seed=int(rng.integers(1 << 30)),
                         torso_width=float(rng.uniform(1.5, 2.1)), skirt_len=float(rng.uniform(1.6, 2.4)))


def random_pose(rng: np.random.Generator, size: tuple[int, int]) -> Pose:
    """A pose that keeps the figure (about 9 head half-heights tall) on a page of ``size`` (H, W)."""
    h, w = size
    scale = min(h, w) * float(rng.uniform(0.045, 0.085))
    return Pose(cx=float(rng.uniform(0.3, 0.7) * w), cy=float(h * 0.12 + scale * rng.uniform(1.0, 2.0)),
                scale=scale, tilt=float(rng.uniform(-0.2, 0.2)), arm_l=float(rng.uniform(0.1, 0.9)),
                arm_r=float(rng.uniform(0.1, 0.9)), leg_spread=float(rng.uniform(0.0, 0.35)))


def _limb(x: float, y: float, length: float, width: float, angle: float) -> np.ndarray:
    """A rectangle hanging from (x, y) down at ``angle`` (0 = straight down, + = outwards to the right)."""
    d = np.array([np.sin(angle), np.cos(angle)])
    n = np.array([d[1], -d[0]]) * width / 2
    a, b = np.array([x, y]), np.array([x, y]) + d * length
    return np.array([a - n, a + n, b + n, b - n], np.float32)


def _parts(spec: CharacterSpec, pose: Pose) -> list[tuple[str, np.ndarray]]:
    """(palette name, polygon in figure units: head centre at 0, head half-height 1), back to front."""
    rx, tw, sk = spec.head_aspect, spec.torso_width, spec.skirt_len
    hair_rng = np.random.default_rng(spec.hair_seed)
    back = blob(hair_rng, 0.0, 0.3, rx * 1.25, wobble=0.12, spikes=6)
    back[:, 1] = np.where(back[:, 1] > 0, back[:, 1] * spec.hair_long, back[:, 1])
    parts: list[tuple[str, np.ndarray]] = [("hair", back)]
    for side, ang in ((-1, -pose.leg_spread), (1, pose.leg_spread)):
        parts.append(("sock", _limb(side * 0.45 * tw, 5.3, 2.6, 0.55, ang)))
        tip = _limb(side * 0.45 * tw, 5.3, 2.6, 0.55, ang).mean(axis=0) + np.array([np.sin(ang), np.cos(ang)]) * 1.3
        parts.append(("shoe", ellipse(tip[0] + side * 0.1, tip[1] + 0.1, 0.45, 0.25, ang)))
    top = 1.6
    parts.append(("skirt", np.array([[-tw * 0.9, top + 3.2], [tw * 0.9, top + 3.2], [tw * 1.4, top + 3.2 + sk],
                                     [-tw * 1.4, top + 3.2 + sk]], np.float32)))
    parts.append(("shirt", np.array([[-tw, top + 0.4], [-tw * 0.5, top], [tw * 0.5, top], [tw, top + 0.4],
                                     [tw * 0.95, top + 3.3], [-tw * 0.95, top + 3.3]], np.float32)))
    for side, ang in ((-1, -pose.arm_l), (1, pose.arm_r)):
        sleeve = _limb(side * tw * 0.85, top + 0.35, 2.4, 0.7, ang)
        parts.append(("shirt", sleeve))
        end = (sleeve[2] + sleeve[3]) / 2 + np.array([np.sin(ang), np.cos(ang)]) * 0.35
        parts.append(("skin", ellipse(end[0], end[1], 0.33, 0.38, ang)))
    parts.append(("skin", np.array([[-0.3, 0.6], [0.3, 0.6], [0.3, top + 0.1], [-0.3, top + 0.1]], np.float32)))
    head = ellipse(0.0, 0.0, rx, 1.0, n=56)
    low = head[:, 1] > 0
    head[low, 0] *= 1 - 0.4 * np.clip(head[low, 1], 0, 1) ** 2
    head[low, 1] *= 1.15
    parts.append(("skin", head))
    for side in (-1, 1):
        ex = side * rx * 0.42
        parts.append(("eye_white", ellipse(ex, 0.2, rx * 0.2, 0.24)))
        parts.append(("iris", ellipse(ex, 0.23, rx * 0.12, 0.17)))
    bangs = ellipse(0.0, -0.05, rx * 1.12, 1.12, n=40)[20:]
    xs = np.linspace(rx * 1.1, -rx * 1.1, 11)
    ys = np.where(np.arange(11) % 2 == 1, -0.05 + 0.1 * hair_rng.random(11), -0.4 + 0.1 * hair_rng.random(11))
    ys[0] = ys[-1] = 0.3
    parts.append(("hair", np.vstack([bangs, np.stack([xs, ys], 1)]).astype(np.float32)))
    parts.append(("collar", np.array([[-0.8, top], [0.0, top + 0.8], [0.8, top], [0.45, top - 0.05],
                                      [0.0, top + 0.3], [-0.45, top - 0.05]], np.float32)))
    parts.append(("ribbon", np.array([[0.0, top + 0.75], [-0.45, top + 0.5], [-0.45, top + 1.1],
                                      [0.0, top + 0.9], [0.45, top + 1.1], [0.45, top + 0.5]], np.float32)))
    return parts


def draw_character(spec: CharacterSpec, pose: Pose, size: tuple[int, int], seed: int = 0,
                   ink_style: _Style | None = None) -> Drawing:
    """Draw ``spec`` in ``pose`` on white paper of ``size`` (H, W) px, cel-flat (no shading).

    Args:
        seed: seeds the stroke jitter of this drawing.
        ink_style: the line style; default a clean dark ink without gaps.

    Raises:
        ValueError: a size under 64 px.
    """
    h, w = int(size[0]), int(size[1])
    if h < 64 or w < 64:
        raise ValueError(f"draw_character needs at least 64x64 px, got {h}x{w}")
    unit = min(h, w) / 256
    style = ink_style or _Style(width=unit * 1.2, dark=0.95, sketchy=0.0, gaps=0.0, grain=0.0, detail=0.0)
    cv = _Canvas(h, w, np.random.default_rng(seed), style)
    c, s = np.cos(pose.tilt), np.sin(pose.tilt)
    rot = np.array([[c, -s], [s, c]], np.float32)
    names: dict[int, str] = {}
    for name, poly in _parts(spec, pose):
        pts = (poly @ rot.T) * pose.scale + np.array([pose.cx, pose.cy], np.float32)
        colour = np.array(spec.palette[name], np.float32) / 255.0
        names[fill(cv, pts.astype(np.float32), colour, shade=0.0)] = name
    color, line = _finish(cv)
    return Drawing(color=color, line=line, labels=cv.labels.copy(), parts=names)
