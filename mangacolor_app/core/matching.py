"""Colour memory: colour the regions of a new page from reference pages of the same characters.

Ideas taken from segment-matching colourisation (BasicPBC's *inclusion matching*: classify each
target segment into the reference's colours rather than pairing segments one to one; DACoN: pool a
descriptor per segment and compare it with every segment of any number of references), with
hand-made descriptors instead of learned ones, so it runs on a CPU at full page resolution:

1. the page is divided into the closed regions of its line art (:mod:`mangacolor_app.core.regions`);
2. each region gets a descriptor (:func:`describe`): size relative to the figure, position inside
   the figure's bounding box, shape (elongation, compactness, orientation), texture (mean and spread
   of the page's grey inside it on toned pages; the share of ink in its territory, i.e. inner strokes
   such as hair strands, on bare line art) and how many neighbours it has;
3. every target region is compared with every reference region of every reference (weighted
   distance, Gaussian kernel); its K nearest vote for their colour classes (all reference regions
   of one colour vote together, so many regions map to one colour);
4. the votes are refined by the neighbours (relaxation labelling): a colour is likelier when the
   colours of the neighbouring regions are those its reference regions touch;
5. regions whose best colour is under ``min_confidence`` (or is "uncoloured") stay unassigned.

The result, a :class:`Suggestion`, is an ordinary RGBA hint layer (each assigned region filled with
its colour) plus per-region and per-pixel confidence; it goes through the normal flats + model path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mangacolor_app.core.color import rgb_to_lab
from mangacolor_app.core.hints import PAPER_KEY_RGBA8
from mangacolor_app.core.regions import RegionMap, adjacency, is_toned, label_regions, region_stats

__all__ = ["Features", "Suggestion", "describe", "match_regions", "suggest_hints", "FEATURE_WEIGHTS"]

log = logging.getLogger(__name__)

#: Descriptor components and their weights (a weighted difference of 1 is one kernel sigma).
FEATURE_WEIGHTS = {
    "log_area": 1.2, "pos_x": 2.5, "pos_y": 2.5, "elong": 0.8, "compact": 2.0,
    "orient_c": 0.6, "orient_s": 0.6, "luma": 10.0, "texture": 4.0, "neighbours": 0.6, "ink": 4.0,
}
#: Kernel: a reference region at weighted distance d votes exp(-KERNEL_GAIN * d^2).
KERNEL_GAIN = 2.0
#: Nearest reference regions that vote for each target region.
K_NEAREST = 8
#: Colours per region kept through the neighbour relaxation (the rest have next to no vote).
TOP_CLASSES = 8
#: Relaxation rounds and the weight of the neighbours' evidence.
RELAX_ROUNDS = 6
NEIGHBOUR_WEIGHT = 1.0
#: A region with no reference region nearer than this (in kernel sigmas) leans to "unassigned".
REJECT_DISTANCE = 1.2
REJECT_WEIGHT = float(np.exp(-KERNEL_GAIN * REJECT_DISTANCE ** 2))
#: Target rows compared at once (bounds the (rows, reference regions) distance block).
_CHUNK = 1024


@dataclass
class Features:
    """Descriptors of one page's regions.

    Attributes:
        vec: (n+1, F) float32 weighted descriptors (row 0 unused).
        area: (n+1,) float64 pixels.
        pairs: (P, 2) int32 touching regions; lengths: (P,) float64 border length.
        n: number of regions.
    """

    vec: np.ndarray
    area: np.ndarray
    pairs: np.ndarray
    lengths: np.ndarray
    n: int


@dataclass
class Suggestion:
    """Suggested colours for a page.

    Attributes:
        hints: (H, W, 4) float32 RGBA hint layer: each assigned region's pixels in its colour, alpha 1.
        confidence: (H, W) float32 [0, 1] confidence of the region each pixel belongs to (0 = none).
        regions: the page's :class:`RegionMap`.
        region_colour: (n+1, 3) float32 RGB [0, 1] best colour per region (row 0 unused).
        region_conf: (n+1,) float32 [0, 1] probability of that colour.
        assigned: (n+1,) bool, the regions given a hint (confidence >= threshold, a real colour).
        paper: (n+1,) bool, the assigned regions matched to regions a reference kept blank: their
            hint is the Paper key (:data:`mangacolor_app.core.hints.PAPER_KEY_RGBA8`), colour white.
    """

    hints: np.ndarray
    confidence: np.ndarray
    regions: RegionMap
    region_colour: np.ndarray
    region_conf: np.ndarray
    assigned: np.ndarray
    paper: np.ndarray | None = None

    def touched(self, mask: np.ndarray) -> np.ndarray:
        """(n+1,) bool: the regions holding any pixel of ``mask`` ((H, W) bool, e.g. the artist's hints)."""
        out = np.zeros(self.regions.n + 1, bool)
        out[np.unique(self.regions.labels[mask])] = True
        out[0] = False
        return out

    def accepted(self, keep: np.ndarray | None = None) -> np.ndarray:
        """The hint layer restricted to the region ids in ``keep`` (all assigned when None): (H, W, 4) f32."""
        if keep is None:
            return self.hints
        mask = np.zeros(self.regions.n + 1, bool)
        mask[np.asarray(keep, np.int64)] = True
        out = self.hints.copy()
        out[~mask[self.regions.labels]] = 0.0
        return out


def _figure_box(area: np.ndarray, bbox: np.ndarray, shape: tuple[int, int]) -> tuple[float, float, float, float, float]:
    """(x0, y0, width, height, area) of the figure: the regions that do not touch the page border
    (all regions when every region touches it)."""
    h, w = shape
    inner = (bbox[:, 0] > 0) & (bbox[:, 1] > 0) & (bbox[:, 2] < w) & (bbox[:, 3] < h)
    inner[0] = False
    if not inner.any():
        inner = area > 0
        inner[0] = False
    if not inner.any():
        return 0.0, 0.0, float(w), float(h), float(h * w)
    x0, y0 = bbox[inner, 0].min(), bbox[inner, 1].min()
    x1, y1 = bbox[inner, 2].max(), bbox[inner, 3].max()
    return float(x0), float(y0), float(max(x1 - x0, 1)), float(max(y1 - y0, 1)), float(area[inner].sum())


def describe(rmap: RegionMap, line_gray: np.ndarray) -> Features:
    """Weighted descriptors of every region of ``rmap`` (``line_gray``: (H, W) float32 [0, 1])."""
    st = region_stats(rmap, line_gray)
    x0, y0, fw, fh, farea = _figure_box(st.area, st.bbox, rmap.shape)
    pairs, lengths = adjacency(rmap)
    n1 = rmap.n + 1
    neigh = np.bincount(pairs.ravel(), minlength=n1) if len(pairs) else np.zeros(n1)
    xx, yy, xy = st.cov[:, 0], st.cov[:, 1], st.cov[:, 2]
    half_tr, det_term = (xx + yy) / 2, np.sqrt(((xx - yy) / 2) ** 2 + xy * xy)
    l1, l2 = half_tr + det_term, np.maximum(half_tr - det_term, 1e-3)
    ecc = 1.0 - l2 / np.maximum(l1, 1e-3)
    theta2 = np.arctan2(2 * xy, xx - yy)
    area = np.maximum(st.area, 1.0)
    cols = {
        "log_area": np.log(area / max(farea, 1.0)) / 2.0,
        "pos_x": (st.cx - x0) / fw, "pos_y": (st.cy - y0) / fh,
        "elong": 0.5 * np.log(np.maximum(l1, 1e-3) / l2) / 2.0,
        "compact": np.clip(4 * np.pi * area / st.perimeter ** 2, 0, 1.5),
        "orient_c": ecc * np.cos(theta2), "orient_s": ecc * np.sin(theta2),
        "luma": st.luma_mean, "texture": np.minimum(st.luma_std, 0.5),
        "neighbours": np.log1p(neigh) / 2.0,
        "ink": st.ink_share,
    }
    vec = np.stack([cols[k] * FEATURE_WEIGHTS[k] for k in FEATURE_WEIGHTS], 1).astype(np.float32)
    return Features(vec=vec, area=st.area, pairs=pairs, lengths=lengths, n=rmap.n)


def _votes(target: Features, refs: Sequence[tuple[Features, np.ndarray]], n_classes: int, none_class: int) -> np.ndarray:
    """Kernel-weighted K-nearest votes: (n+1, n_classes) float64 (rows sum to 1; row 0 unused).

    ``refs``: (features, class per region (n_ref+1,) int64; -1 = not a region) per reference.
    ``none_class`` gets a constant vote ``REJECT_WEIGHT``: the weight of a reference region at
    ``REJECT_DISTANCE`` kernel sigmas.
    """
    bank = np.concatenate([f.vec[1:] for f, _ in refs])
    cls = np.concatenate([c[1:] for _, c in refs])
    ok = cls >= 0
    bank, cls = bank[ok], cls[ok]
    votes = np.full((target.n + 1, n_classes), 1e-6, np.float32)
    if len(bank) == 0 or target.n == 0:
        return votes / votes.sum(1, keepdims=True)
    k = min(K_NEAREST, len(bank))
    bank_sq = (bank * bank).sum(1)
    for lo in range(1, target.n + 1, _CHUNK):
        q = target.vec[lo : lo + _CHUNK]
        d2 = (q * q).sum(1)[:, None] + bank_sq[None, :] - 2.0 * (q @ bank.T)
        np.maximum(d2, 0.0, out=d2)
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(bank) else np.broadcast_to(np.arange(len(bank)), d2.shape)
        near = np.take_along_axis(d2, idx, 1)
        wgt = np.exp(-KERNEL_GAIN * near)
        rows = np.repeat(np.arange(len(q)), k)
        np.add.at(votes[lo : lo + len(q)], (rows, cls[idx].ravel()), wgt.ravel())
    votes[:, none_class] += REJECT_WEIGHT  # a region far from every reference region stays unassigned
    return votes / votes.sum(1, keepdims=True)


@dataclass
class _Compat:
    """Sparse colour adjacency of the references: P(a neighbour has colour b | a region has colour a).

    ``keys`` = a * C + b (sorted), ``share`` the border share of b among a's borders; any pair
    gets ``0.9 * share + 0.1 / C`` (unseen pairs: ``0.1 / C``).
    """

    keys: np.ndarray
    share: np.ndarray
    n_classes: int

    def lookup(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Compatibility of class arrays ``a`` and ``b`` (broadcast), float64."""
        key = a.astype(np.int64) * self.n_classes + b
        pos = np.minimum(np.searchsorted(self.keys, key), max(len(self.keys) - 1, 0))
        hit = self.share[pos] * (self.keys[pos] == key) if len(self.keys) else np.zeros(key.shape)
        return 0.9 * hit + 0.1 / self.n_classes


def _class_adjacency(refs: Sequence[tuple[Features, np.ndarray]], n_classes: int) -> _Compat:
    """How often each colour borders each other colour in the references (border length shares)."""
    keys, lengths = [], []
    for feats, cls in refs:
        if len(feats.pairs) == 0:
            continue
        a, b = cls[feats.pairs[:, 0]], cls[feats.pairs[:, 1]]
        ok = (a >= 0) & (b >= 0)
        for x, y in ((a[ok], b[ok]), (b[ok], a[ok])):
            keys.append(x * n_classes + y)
            lengths.append(feats.lengths[ok])
    if not keys:
        return _Compat(np.zeros(0, np.int64), np.zeros(0), n_classes)
    uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
    total = np.bincount(inv.ravel(), np.concatenate(lengths))
    row = uniq // n_classes
    share = total / np.bincount(row, total, n_classes)[row]
    return _Compat(uniq, share, n_classes)


def _relax(unary: np.ndarray, target: Features, compat: _Compat) -> tuple[np.ndarray, np.ndarray]:
    """Relaxation labelling over each region's ``TOP_CLASSES`` likeliest colours.

    Returns:
        classes (n+1, m) int64 and their probabilities (n+1, m) float64 (rows sum to 1).
    """
    m = min(TOP_CLASSES, unary.shape[1])
    cand = np.argpartition(-unary, m - 1, axis=1)[:, :m] if m < unary.shape[1] else np.broadcast_to(
        np.arange(m), unary.shape).copy()
    q = np.take_along_axis(unary, cand, 1).astype(np.float64)
    q /= q.sum(1, keepdims=True)
    if len(target.pairs) == 0:
        return cand, q
    a, b = target.pairs[:, 0].astype(np.int64), target.pairs[:, 1].astype(np.int64)
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    ln = np.concatenate([target.lengths, target.lengths])
    w = ln / np.maximum(np.bincount(src, ln, len(q))[src], 1e-9)
    comp = compat.lookup(cand[src][:, :, None], cand[dst][:, None, :])  # (P, m, m)
    log_u = np.log(np.maximum(q, 1e-12))
    for _ in range(RELAX_ROUNDS):
        support = np.log(np.maximum(np.einsum("pij,pj->pi", comp, q[dst]), 1e-12)) * w[:, None]
        total = np.zeros_like(q)
        np.add.at(total, src, support)
        logit = log_u + NEIGHBOUR_WEIGHT * total
        logit -= logit.max(1, keepdims=True)
        q = np.exp(logit)
        q /= q.sum(1, keepdims=True)
    return cand, q


_TONE_COLUMNS = [list(FEATURE_WEIGHTS).index("luma"), list(FEATURE_WEIGHTS).index("texture")]
_INK_COLUMNS = [list(FEATURE_WEIGHTS).index("ink")]
#: A page whose regions' grey levels spread less than this (area-weighted std) is bare line art.
BARE_LINE_STD = 0.04


def _is_bare_line_art(feats: Features) -> bool:
    """Whether the page's regions are all paper-white (line art without tones or greys)."""
    luma = feats.vec[1:, _TONE_COLUMNS[0]] / FEATURE_WEIGHTS["luma"]
    area = feats.area[1:]
    if area.sum() <= 0:
        return True
    mean = float(np.average(luma, weights=area))
    return float(np.sqrt(np.average((luma - mean) ** 2, weights=area))) < BARE_LINE_STD


def _without(feats: Features, columns: list[int]) -> Features:
    """A copy of ``feats`` without the given descriptor components."""
    vec = feats.vec.copy()
    vec[:, columns] = 0.0
    return Features(vec=vec, area=feats.area, pairs=feats.pairs, lengths=feats.lengths, n=feats.n)


def match_regions(target: Features, refs: Sequence[tuple[Features, np.ndarray]], n_classes: int,
                  none_class: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The likeliest colour class of every target region and its probability.

    Returns:
        best (n+1,) int64 class, probability (n+1,) float32 in [0, 1] (row 0 unused).

    Args:
        target: the page's :class:`Features`.
        refs: per reference, its features and the class of each of its regions ((n_ref+1,) int64,
            -1 = no class).
        n_classes: number of classes (the indices in ``refs``).
        none_class: the class meaning "leave uncoloured" (it also takes the reject vote).
    """
    unary = _votes(target, refs, n_classes, none_class)
    cand, q = _relax(unary, target, _class_adjacency(refs, n_classes))
    top = q.argmax(1)
    rows = np.arange(len(top))
    return cand[rows, top].astype(np.int64), q[rows, top].astype(np.float32)


#: Image colours closer than this (CIELAB units) form one colour class (exact colours stay exact).
IMAGE_MERGE_DE = 10.0


def colour_classes(refs: Sequence[Any], *, tints: bool = False) -> tuple[np.ndarray, list[np.ndarray], int, int]:
    """One palette of colour classes for several references.

    Args:
        refs: the references (:class:`mangacolor_app.core.reference.Reference`; typed loosely here so
            that ``core.matching`` does not import ``core.reference``, which imports it).
        tints: the palette holds each class's tint (to multiply over a toned page's grey) rather
            than its colour (for bare line art). Classes are formed on the colours either way.

    Returns:
        palette (C, 3) float32 RGB (row 0 = the "uncoloured" class, black, never painted),
        per reference (n+1,) int64 class of each region (-1 for row 0), the uncoloured class (0), and
        the Paper class (regions kept blank with the Paper key; white) or -1 when no reference has one.
    """
    palette: list[np.ndarray] = [np.zeros(3, np.float32)]
    exact_index: dict[tuple[int, ...], int] = {}
    approx_lab = np.zeros((0, 3), np.float32)  # one row per approximate class
    approx_class: list[int] = []
    per_ref: list[np.ndarray] = []
    for ref in refs:
        cls = np.zeros(len(ref.colour), np.int64)
        cls[0] = -1
        source = ref.tint if tints and ref.tint is not None else ref.colour
        labs = rgb_to_lab(ref.colour[None])[0]
        for r in np.argsort(-ref.features.area):
            if r == 0 or not ref.coloured[r]:
                continue
            if ref.exact:
                key = tuple(int(round(v * 255)) for v in ref.colour[r])
                if key not in exact_index:
                    exact_index[key] = len(palette)
                    palette.append(source[r].astype(np.float32))
                cls[r] = exact_index[key]
                continue
            if len(approx_lab):
                dist = np.sqrt(((approx_lab - labs[r]) ** 2).sum(1))
                j = int(dist.argmin())
                if dist[j] < IMAGE_MERGE_DE:
                    cls[r] = approx_class[j]
                    continue
            approx_lab = np.vstack([approx_lab, labs[r][None]])
            approx_class.append(len(palette))
            cls[r] = len(palette)
            palette.append(source[r].astype(np.float32))
        per_ref.append(cls)
    paper_class = -1
    if any(ref.paper is not None and ref.paper.any() for ref in refs):
        paper_class = len(palette)
        palette.append(np.ones(3, np.float32))
        for ref, cls in zip(refs, per_ref):
            if ref.paper is not None:
                cls[ref.paper] = paper_class
    return np.stack(palette), per_ref, 0, paper_class


def suggest_hints(
    line_gray: np.ndarray,
    references: Sequence[Any],
    *,
    dpi: float | None = None,
    min_confidence: float = 0.5,
) -> Suggestion:
    """Suggest a hint layer for a page from reference pages.

    Args:
        line_gray: (H, W) float32 [0, 1] page luma, 1 = paper.
        references: :class:`mangacolor_app.core.reference.Reference` objects (at least one).
        dpi: the page's resolution (scales the gap closing), if known.
        min_confidence: regions whose best colour has a lower probability stay unassigned.

    Returns:
        the :class:`Suggestion`.

    Raises:
        ValueError: no reference, or a malformed line.
    """
    if not references:
        raise ValueError("suggest_hints needs at least one reference")
    t0 = time.perf_counter()
    line = np.asarray(line_gray, np.float32)
    toned = is_toned(line)
    rmap = label_regions(line, dpi=dpi)
    feats = describe(rmap, line)
    palette, per_ref, none_class, paper_class = colour_classes(references, tints=toned)
    ref_feats = [r.features for r in references]
    # bare line art: no tones to compare (grey level and texture would only mislead), but inner ink
    # strokes (hair strands, folds) tell regions apart; on toned pages the ink share is not comparable
    # between a grey page and a colour reference (dark colours read as ink there)
    drop = _TONE_COLUMNS if _is_bare_line_art(feats) else _INK_COLUMNS
    feats, ref_feats = _without(feats, drop), [_without(f, drop) for f in ref_feats]
    best, conf = match_regions(feats, list(zip(ref_feats, per_ref)), len(palette), none_class)
    assigned = (conf >= min_confidence) & (best != none_class)
    assigned[0] = False
    colour = palette[best].astype(np.float32)
    paper = assigned & (best == paper_class)
    lut = np.zeros((rmap.n + 1, 4), np.float32)
    lut[assigned, :3] = colour[assigned]
    lut[assigned, 3] = 1.0
    lut[paper] = np.array(PAPER_KEY_RGBA8, np.float32) / 255.0  # kept blank, like the reference
    hints = lut[rmap.labels]
    conf_lut = np.where(np.arange(rmap.n + 1) > 0, conf, 0.0).astype(np.float32)
    confidence = conf_lut[rmap.owner]
    log.info("colour memory: %d of %d regions assigned (%.2f s)", int(assigned.sum()), rmap.n, time.perf_counter() - t0)
    return Suggestion(hints=hints, confidence=confidence, regions=rmap, region_colour=colour,
                      region_conf=conf, assigned=assigned, paper=paper)
