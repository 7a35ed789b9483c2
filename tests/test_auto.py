"""Automatic colour (``--auto``): the shipped model colours a page without hints; hints steer it; the
default for a page without hints stays the clean sketch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mangacolor_app.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "resources" / "models" / "mangacolor-default.onnx"


def _page(path: Path, size: int = 192) -> Path:
    """A figure-like line drawing: head, body and a few shapes outlined in black on white."""
    img = np.full((size, size), 255, np.uint8)
    cv2.ellipse(img, (96, 60), (34, 38), 0, 0, 360, 0, 3, cv2.LINE_AA)
    cv2.rectangle(img, (60, 100), (132, 180), 0, 3, cv2.LINE_AA)
    cv2.circle(img, (84, 56), 5, 0, -1, cv2.LINE_AA)
    cv2.circle(img, (108, 56), 5, 0, -1, cv2.LINE_AA)
    cv2.line(img, (60, 130), (20, 170), 0, 3, cv2.LINE_AA)
    Image.fromarray(img).save(path)
    return path


def _saturation(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    return rgb.max(axis=2) - rgb.min(axis=2)


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no bundled default model")
def test_auto_colours_a_page_without_hints(tmp_path: Path) -> None:
    page = _page(tmp_path / "p.png")
    plain, auto = tmp_path / "plain.png", tmp_path / "auto.png"
    assert main(["colorize", str(page), "-o", str(plain), "--model", str(DEFAULT_MODEL), "-q"]) == 0
    assert main(["colorize", str(page), "-o", str(auto), "--model", str(DEFAULT_MODEL), "--auto", "-q"]) == 0
    assert _saturation(plain).max() <= 2  # the default: the clean sketch, no colour anywhere
    sat = _saturation(auto)
    assert (sat > 12).mean() > 0.05, "the model coloured almost nothing with --auto"


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no bundled default model")
def test_auto_is_steered_by_hints(tmp_path: Path) -> None:
    page = _page(tmp_path / "p.png")
    hints = np.zeros((192, 192, 4), np.uint8)
    hints[130:150, 80:110] = (40, 90, 220, 255)  # blue in the body
    Image.fromarray(hints, "RGBA").save(tmp_path / "h.png")
    out = tmp_path / "out.png"
    assert main(["colorize", str(page), "-o", str(out), "--hints", str(tmp_path / "h.png"),
                 "--model", str(DEFAULT_MODEL), "--auto", "-q"]) == 0
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(np.float32)
    body = rgb[110:170, 70:122].reshape(-1, 3).mean(axis=0)
    assert body[2] > body[0] + 40, f"the body is not blue: {body}"


def test_auto_conflicts_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(tmp_path / "p.png")
    code = main(["colorize", str(page), "-o", str(tmp_path / "o.png"), "--auto", "--unhinted", "0.5"])
    assert code == 2 and "--auto" in capsys.readouterr().err
