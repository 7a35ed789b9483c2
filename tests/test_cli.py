"""The `mangacolor` command line, end to end on real images and real ONNX models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.cli import main


def _write_page(path: Path, h: int = 90, w: int = 70, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arr = np.full((h, w), 255, np.uint8)
    arr[rng.integers(0, h, 40), :] = 0
    Image.fromarray(arr, "L").save(path)
    return path


def _write_hints(path: Path, h: int = 90, w: int = 70) -> Path:
    arr = np.zeros((h, w, 4), np.uint8)
    arr[10:30, 10:30] = [255, 40, 40, 255]
    Image.fromarray(arr, "RGBA").save(path)
    return path


def test_single_file_to_file_with_hints(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, hints = _write_page(tmp_path / "page.png"), _write_hints(tmp_path / "hints.png")
    out = tmp_path / "out" / "colored.png"
    out.parent.mkdir()
    rc = main(["colorize", str(src), "-o", str(out), "--hints", str(hints), "--model", str(tiny_onnx_model)])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (70, 90) and im.mode == "RGB"
    assert f"-> {out}" in capsys.readouterr().out


def test_installed_default_model_and_quiet(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", str(tiny_onnx_model)]) == 0
    src = _write_page(tmp_path / "a.png")
    assert main(["colorize", str(src), "-o", str(tmp_path / "outdir"), "--quiet", "--tile", "32", "--no-ink"]) == 0
    assert (tmp_path / "outdir" / "a.png").is_file()
    assert "a.png" not in capsys.readouterr().out
    assert main(["models"]) == 0
    assert "tiny-test  [user]" in capsys.readouterr().out


def test_folder_with_corrupt_input_subprocess(tiny_onnx_model: Path, tmp_path: Path, mangacolor_home: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _write_page(folder / "p1.png", seed=1)
    (folder / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    _write_page(folder / "p3.jpg", seed=3)
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    env = {**os.environ, "MANGACOLOR_HOME": str(mangacolor_home)}
    proc = subprocess.run(
        [sys.executable, "-m", "mangacolor_app", "colorize", str(folder), "-o", str(out), "--model", str(tiny_onnx_model)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 1
    assert (out / "p1.png").is_file() and (out / "p3.png").is_file() and not (out / "p2.png").exists()
    assert "p2.png" in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "error" in line]) == 1


def test_hints_of_other_aspect_is_a_clear_error(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, hints = _write_page(tmp_path / "page.png"), _write_hints(tmp_path / "wide.png", 40, 90)
    rc = main(["colorize", str(src), "-o", str(tmp_path / "o.png"), "--hints", str(hints), "--model", str(tiny_onnx_model)])
    err = capsys.readouterr().err
    assert rc == 1 and "wide.png" in err and "aspect" in err and len(err.strip().splitlines()) == 1
    same_aspect = _write_hints(tmp_path / "half.png", 45, 35)
    assert main(["colorize", str(src), "-o", str(tmp_path / "o.png"), "--hints", str(same_aspect), "--model", str(tiny_onnx_model)]) == 0


def test_unwritable_output_is_a_clear_error(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_page(tmp_path / "page.png")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    rc = main(["colorize", str(src), "-o", str(blocker / "o.png"), "--model", str(tiny_onnx_model)])
    err = capsys.readouterr().err
    assert rc != 0 and "o.png" in err and "cannot" in err and "Traceback" not in err
    rc = main(["colorize", str(src), str(src), "-o", str(blocker / "sub"), "--model", str(tiny_onnx_model)])
    err = capsys.readouterr().err
    assert rc == 2 and "output folder" in err


@pytest.mark.parametrize("which, words", [("bad", "not a colorization model"), ("garbage", "not a valid ONNX"),
                                          ("empty", "empty")])
def test_unusable_models_are_clear_errors(which: str, words: str, request: pytest.FixtureRequest, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model = request.getfixturevalue({"bad": "bad_onnx_model", "garbage": "garbage_onnx_file", "empty": "empty_onnx_file"}[which])
    src = _write_page(tmp_path / "page.png")
    rc = main(["colorize", str(src), "-o", str(tmp_path / "o.png"), "--model", str(model)])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and model.name in err and len(err.strip().splitlines()) == 1


def test_no_model_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_page(tmp_path / "page.png")
    assert main(["colorize", str(src), "-o", str(tmp_path / "o.png")]) == 2
    assert "no colorization model is installed" in capsys.readouterr().err


def test_models_lists_problems_and_missing_input(garbage_onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mangacolor_app.core import paths

    shutil.copyfile(garbage_onnx_file, paths.user_models_dir() / "junk.onnx")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "No colorization model installed" in out and "unusable:" in out and "junk.onnx" in out
    assert main(["colorize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 1
    assert "missing.png: file not found" in capsys.readouterr().err


def test_measure_rf_and_version(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.onnx"
    shutil.copyfile(tiny_onnx_model, model)
    assert main(["measure-rf", str(model), "--write"]) == 0
    assert "receptive radius" in capsys.readouterr().out and model.with_suffix(".json").is_file()
    assert main(["--version"]) == 0
    assert "mangacolor" in capsys.readouterr().out
    assert main(["colorize"]) == 2  # usage error, no traceback


def test_editor_missing_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "mangacolor_app.qt.app", None)  # import fails
    assert main([]) == 2
    assert "editor cannot start" in capsys.readouterr().err


def test_unhinted_option(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--unhinted 0 without hints gives back the line art; an out-of-range value is a usage error."""
    src = _write_page(tmp_path / "p.png")
    out = tmp_path / "o.png"
    assert main(["colorize", str(src), "-o", str(out), "--unhinted", "0", "--model", str(tiny_onnx_model)]) == 0
    got = np.asarray(Image.open(out).convert("L"), np.int16)
    ref = np.asarray(Image.open(src).convert("L"), np.int16)
    assert np.abs(got - ref).max() <= 2
    rc = main(["colorize", str(src), "-o", str(out), "--unhinted", "1.5", "--model", str(tiny_onnx_model)])
    assert rc == 2 and "between 0 and 1" in capsys.readouterr().err


def test_hints_png_paper_key_keeps_region_blank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI hints PNG carries the Paper key RGBA (255, 255, 255, 254): that room stays paper."""
    page = np.full((90, 120), 255, np.uint8)
    page[5:85, 5:8] = page[5:85, 112:115] = page[5:8, 5:115] = page[82:85, 5:115] = 0
    page[5:85, 59:62] = 0  # two rooms
    src = tmp_path / "page.png"
    Image.fromarray(page).save(src)
    hints = np.zeros((90, 120, 4), np.uint8)
    hints[40:50, 20:30] = (200, 30, 30, 255)
    hints[40:50, 80:90] = (200, 30, 30, 255)
    hints[30:60, 85:100] = (255, 255, 255, 254)  # Paper key over the right room's hint
    Image.fromarray(hints, "RGBA").save(tmp_path / "hints.png")
    out = tmp_path / "flats.png"
    rc = main(["colorize", str(src), "-o", str(out), "--hints", str(tmp_path / "hints.png"), "--flats-only",
               "--no-ink"])
    assert rc == 0, capsys.readouterr().err
    with Image.open(out) as im:
        flats = np.asarray(im.convert("RGBA"))
    assert tuple(flats[20, 30, :3]) == (200, 30, 30) and flats[20, 30, 3] == 255
    assert flats[20, 90, 3] == 0 and flats[70, 70, 3] == 0
