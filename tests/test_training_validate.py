"""The validation scorer (``mangacolor-train validate``): scores through the app's path, paint on paper."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.validate_app import _scores, score_model, validation_cases


def test_scores_count_paint_on_the_targets_paper_only() -> None:
    target = np.ones((40, 40, 3), np.float32)
    target[:, 20:] = (0.2, 0.4, 0.9)  # right half coloured, left half paper
    line = np.ones((40, 40), np.float32)
    line[:, 19:21] = 0.0  # ink between them: never counted as paper
    psnr, ciede, paint = _scores(target, target, line)
    assert psnr > 90 and ciede < 1e-3 and paint == 0.0
    washed = target.copy()
    washed[:, :10] = (0.9, 0.8, 0.6)  # a beige wash over half of the paper
    _, ciede_w, paint_w = _scores(washed, target, line)
    assert ciede_w > 1 and abs(paint_w - 10 / 19) < 1e-6


def test_score_model_runs_the_app_path(tiny_onnx_model: Path) -> None:
    cases = validation_cases(None, procedural=2, size=64)
    scores = score_model(tiny_onnx_model, cases, strokes=(0, 8), unhinted=(0.0, 1.0))
    assert set(scores) == {"s0_flats", "s8_flats", "s0_u0", "s0_u1", "s8_u0", "s8_u1"}
    for row in scores.values():
        assert set(row) == {"psnr", "ciede2000", "paint_on_paper"} and 0.0 <= row["paint_on_paper"] <= 1.0
    assert scores["s0_u0"]["paint_on_paper"] == 0.0  # no hints and the gate on: the clean sketch
