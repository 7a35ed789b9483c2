"""Score a model the way the app runs it, on the held-out validation drawings: the split that chooses settings.

For every validation case (held-out drawings of a rendered art folder, plus procedural pictures of a
seed no training run uses) and every hint budget (0, 8, 32 simulated strokes with fixed seeds), the
line art and hints go through the app's own path: ``core.flats.page_flats`` and
``inference.pipeline.Colorizer.colorize`` with the ink multiplied back, at each ``unhinted`` strength
asked for (``1.0`` is the automatic mode: the gate off). Scores are PSNR and mean CIEDE2000 against the
drawing's own colours and the paint on the drawing's paper (the sessions harness's flood), next to the
flats baseline (flats over paper, times the line).

The test data (``../shared/samples``) is never read here: settings are chosen on these figures only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mangacolor_app.core.color import ciede2000, rgb_to_lab
from mangacolor_app.core.flats import flats_composite, page_flats
from .data.artset import read_art
from .data.hintsim import render_strokes, sample_strokes
from .data.lineart import extract_lines
from .data.procedural import generate_illustration
from .data.svgart import list_art

log = logging.getLogger(__name__)

__all__ = ["ValCase", "validation_cases", "score_model"]

#: seed of the validation cases (procedural pictures, hint strokes, extracted lines): used by no training run
VAL_SEED = 424242


@dataclass
class ValCase:
    """One validation picture: colour (H, W, 3) float32, line (H, W) float32 (1 = paper), its name."""

    name: str
    color: np.ndarray
    line: np.ndarray


def validation_cases(art_dir: str | Path | None, *, procedural: int = 24, size: int = 256,
                     limit: int | None = None) -> list[ValCase]:
    """The held-out drawings of ``art_dir`` (own line art, else XDoG lines) resized to ``size``, then
    ``procedural`` pictures of :data:`VAL_SEED`.

    Raises:
        FileNotFoundError: ``art_dir`` has no validation drawings.
    """
    import cv2

    cases = []
    if art_dir is not None:
        for k, (cpath, lpath) in enumerate(list_art(art_dir, "val")[:limit]):
            color, line = read_art(cpath, lpath)
            color = cv2.resize(color, (size, size), interpolation=cv2.INTER_AREA)
            if line is None:
                line = extract_lines(color, np.random.default_rng([VAL_SEED, k]), method="xdog")
            else:
                line = cv2.resize(line, (size, size), interpolation=cv2.INTER_AREA)
            cases.append(ValCase(cpath.name.split("__")[0], color, np.clip(line, 0, 1).astype(np.float32)))
    for k in range(procedural):
        color, ink, _ = generate_illustration(np.random.default_rng([VAL_SEED, 10_000 + k]), (size, size))
        cases.append(ValCase(f"procedural_{k}", color, ink))
    return cases


def _hints(case: ValCase, strokes: int, index: int) -> np.ndarray:
    """The case's simulated hint layer with ``strokes`` strokes (fixed seed): (H, W, 4) float32."""
    rng = np.random.default_rng([VAL_SEED, index, strokes])
    return render_strokes(sample_strokes(case.color, case.line, strokes, rng), case.color)


def _scores(out: np.ndarray, target: np.ndarray, line: np.ndarray) -> tuple[float, float, float]:
    """(PSNR dB, mean CIEDE2000, paint on paper) of an (H, W, 3) float32 result against the target.

    Paint on paper is the share of the target's paper pixels (L* > 92, chroma < 6, off the ink:
    line > 0.75) that the result paints (CIE76 difference from white > 12): the definition of
    ``../shared/eval/sessions.py``'s flood, with the drawing's own colours in place of the peer's output."""
    out_lab, target_lab = rgb_to_lab(np.clip(out, 0, 1)), rgb_to_lab(target)
    mse = float(np.mean((np.clip(out, 0, 1) - target) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-10))
    chroma = np.hypot(target_lab[..., 1], target_lab[..., 2])
    paper = (target_lab[..., 0] > 92) & (chroma < 6) & (line > 0.75)
    white = np.array([100.0, 0.0, 0.0], np.float32)
    painted = np.linalg.norm(out_lab - white, axis=-1) > 12
    paint = float(painted[paper].mean()) if paper.any() else 0.0
    return float(psnr), float(np.mean(ciede2000(out_lab, target_lab))), paint


def score_model(model: str | Path, cases: Sequence[ValCase], *, strokes: Sequence[int] = (0, 8, 32),
                unhinted: Sequence[float] = (0.0, 0.25, 0.5, 1.0)) -> dict[str, dict[str, float]]:
    """Mean PSNR / CIEDE2000 / paint on paper (see :func:`_scores`) per (strokes, unhinted) and of the
    flats baseline per strokes.

    Returns:
        ``{"s8_u0.25": {"psnr": .., "ciede2000": .., "paint_on_paper": ..}, "s8_flats": {...}, ...}``.
    """
    from mangacolor_app.inference.pipeline import Colorizer

    colorizer = Colorizer(Path(model), device="cpu")
    sums: dict[str, list[tuple[float, float]]] = {}
    for i, case in enumerate(cases):
        for n in strokes:
            hints = _hints(case, n, i)
            flats = page_flats(case.line, hints, None)
            base = flats_composite(flats, case.line)
            sums.setdefault(f"s{n}_flats", []).append(_scores(base, case.color, case.line))
            for u in unhinted:
                out = colorizer.colorize(case.line, hints, flats=flats, unhinted=u, preserve_ink=True)
                sums.setdefault(f"s{n}_u{u:g}", []).append(_scores(out, case.color, case.line))
    result = {k: {"psnr": float(np.mean([v[0] for v in vals])), "ciede2000": float(np.mean([v[1] for v in vals])),
                  "paint_on_paper": float(np.mean([v[2] for v in vals]))}
              for k, vals in sums.items()}
    log.info("%s on %d validation cases: %s", model, len(cases), result)
    return result
