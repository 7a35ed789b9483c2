"""`mangacolor colorize` on whole chapters: folders and .cbz, resume, export formats, hints, flats."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.cli import main

H, W = 128, 96


def _page_array(seed: int) -> np.ndarray:
    """A small line-art page: white paper, a black frame and a few black lines (uint8 (H, W))."""
    rng = np.random.default_rng(seed)
    arr = np.full((H, W), 255, np.uint8)
    arr[[0, -1], :] = 0
    arr[:, [0, -1]] = 0
    arr[64, :] = 0
    arr[rng.integers(2, H - 2, 6), 2:-2] = 0
    return arr


def _write_page(path: Path, seed: int = 0, dpi: tuple[int, int] | None = None) -> Path:
    extra = {"dpi": dpi} if dpi else {}
    Image.fromarray(_page_array(seed), "L").save(path, **extra)
    return path


def _write_hints(path: Path, box: tuple[int, int, int, int] = (10, 30, 10, 40)) -> Path:
    y0, y1, x0, x1 = box
    arr = np.zeros((H, W, 4), np.uint8)
    arr[y0:y1, x0:x1] = [230, 40, 40, 255]
    Image.fromarray(arr, "RGBA").save(path)
    return path


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _colorize(*args: str | Path) -> int:
    return main(["colorize", *(str(a) for a in args)])


@pytest.fixture
def chapter(tmp_path: Path) -> Path:
    """30 pages p1..p30 (PNG and JPEG), p15 corrupt."""
    folder = tmp_path / "chapter"
    folder.mkdir()
    for i in range(1, 31):
        if i == 15:
            (folder / "p15.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
        else:
            _write_page(folder / (f"p{i}.jpg" if i % 7 == 0 else f"p{i}.png"), seed=i)
    return folder


def test_chapter_resume_force_and_bad_page(chapter: Path, tiny_onnx_model: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    model = ["--model", tiny_onnx_model]
    assert _colorize(chapter, "-o", out, *model) == 1
    cap = capsys.readouterr()
    made = sorted(p.name for p in out.iterdir())
    assert len(made) == 29 and "p15.png" not in made
    errors = [line for line in cap.err.splitlines() if "error" in line]
    assert len(errors) == 1 and "p15.png" in errors[0] and "Traceback" not in cap.err
    assert "29 done, 0 skipped, 1 failed of 30 pages" in cap.out
    assert "failed: p15.png" in cap.out
    order = [line.split(" -> ")[0].rsplit("/", 1)[-1] for line in cap.out.splitlines() if " -> " in line]
    assert order == [f"p{i}.{'jpg' if i % 7 == 0 else 'png'}" for i in range(1, 31) if i != 15]
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    assert _colorize(chapter, "-o", out, *model) == 1
    cap = capsys.readouterr()
    assert "0 done, 29 skipped, 1 failed of 30 pages" in cap.out and "p15.png" in cap.err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes

    assert _colorize(chapter, "-o", out, "--force", "--quiet", *model) == 1
    cap = capsys.readouterr()
    assert cap.out == "" and "p15.png" in cap.err
    assert all(p.stat().st_mtime_ns != mtimes[p.name] for p in out.iterdir())


def test_cbz_round_trip_natural_order(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.cbz"
    names = ["p10.png", "p2.png", "p1.png", "p9.jpg"]
    with zipfile.ZipFile(src, "w") as zf:
        for i, name in enumerate(names):
            page = _write_page(tmp_path / f"tmp{i}{Path(name).suffix}", seed=i)
            zf.write(page, name)
        zf.writestr("ComicInfo.xml", "<ComicInfo/>")
    out = tmp_path / "sub" / "out.cbz"
    assert _colorize(src, "-o", out, "--model", tiny_onnx_model) == 0
    assert "wrote" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["p1.png", "p2.png", "p9.png", "p10.png"]
        for name in zf.namelist():
            with zf.open(name) as handle, Image.open(handle) as im:
                assert im.size == (W, H) and im.mode == "RGB"
    assert not (tmp_path / "sub" / "out.cbz.partial").exists()
    assert _colorize(src, "-o", out, "--model", tiny_onnx_model) == 0  # done already: skipped
    assert "4 pages skipped" in capsys.readouterr().out


def test_cbz_with_bad_page_keeps_staging_and_resumes(tiny_onnx_model: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.cbz"
    with zipfile.ZipFile(src, "w") as zf:
        zf.write(_write_page(tmp_path / "a.png", 1), "001.png")
        zf.writestr("002.png", b"\x89PNG\r\n\x1a\n broken")
        zf.write(_write_page(tmp_path / "c.png", 3), "003.png")
    out = tmp_path / "out.cbz"
    assert _colorize(src, "-o", out, "--model", tiny_onnx_model, "--format", "jpeg", "--quality", "80") == 1
    cap = capsys.readouterr()
    assert "in.cbz:002.png" in cap.err and "kept" in cap.out
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["001.jpg", "003.jpg"]
    assert _colorize(src, "-o", out, "--model", tiny_onnx_model, "--format", "jpeg") == 1
    assert "0 done, 2 skipped, 1 failed of 3 pages" in capsys.readouterr().out


def test_psd_export_layers(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode, Resource

    page = _write_page(tmp_path / "page.png", seed=3, dpi=(600, 600))
    _write_hints(tmp_path / "page.hints.png")
    out = tmp_path / "page.psd"
    assert _colorize(page, "-o", out, "--model", tiny_onnx_model) == 0, capsys.readouterr().err
    psd = PSDImage.open(out)
    assert (psd.width, psd.height) == (W, H)
    layers = list(psd)
    assert [layer.name for layer in layers] == ["Flats", "Color", "Ink", "Hints"]
    assert layers[2].blend_mode == BlendMode.MULTIPLY and layers[2].visible
    assert not layers[3].visible
    flats = np.asarray(layers[0].numpy())
    assert flats.shape[:2] == (H, W) and flats[20, 20, 0] > 0.8  # the hinted region is filled red
    info = psd.image_resources.get_data(Resource.RESOLUTION_INFO)
    assert round(info.horizontal / 65536) == 600
    no_ink = tmp_path / "noink.psd"
    assert _colorize(tmp_path / "page.png", "-o", no_ink, "--model", tiny_onnx_model, "--no-ink", "--bit-depth", "16") == 0
    psd16 = PSDImage.open(no_ink)
    assert psd16.depth == 16 and not next(layer for layer in psd16 if layer.name == "Ink").visible


def test_per_page_hints_are_used(tiny_onnx_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ch"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        _write_page(folder / name, seed=5)  # the same page three times
    _write_hints(folder / "a.png.hints.png")
    out = tmp_path / "out"
    assert _colorize(folder, "-o", out, "--model", tiny_onnx_model, "--quiet") == 0
    a, b = _read(out / "a.png"), _read(out / "b.png")
    diff = np.abs(a - b).max(axis=2)
    assert diff[10:30, 10:40].mean() > 10  # different where the hints are
    assert diff[80:, :].max() == 0  # identical far from them
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # hints are not pages


def test_hints_from_a_project_file_beside_the_page(tiny_onnx_model: Path, tmp_path: Path) -> None:
    project = pytest.importorskip("mangacolor_app.core.project")
    folder = tmp_path / "ch"
    folder.mkdir()
    _write_page(folder / "a.png", seed=5)
    _write_page(folder / "b.png", seed=5)
    page = np.repeat(_page_array(5)[..., None], 3, axis=2).astype(np.float32) / 255.0
    proj = project.Project.new(page)
    proj.hints[10:30, 10:40] = [40, 200, 40, 255]
    project.save_project(folder / "a.mcproj", proj)
    out = tmp_path / "out"
    assert _colorize(folder, "-o", out, "--model", tiny_onnx_model, "--quiet") == 0
    diff = np.abs(_read(out / "a.png") - _read(out / "b.png")).max(axis=2)
    assert diff[10:30, 10:40].mean() > 10 and diff[80:, :].max() == 0


def test_flats_only_needs_no_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ch"
    folder.mkdir()
    _write_page(folder / "p1.png", seed=1)
    _write_page(folder / "p2.png", seed=2)
    _write_hints(folder / "p1.hints.png")
    out = tmp_path / "flats"
    assert _colorize(folder, "-o", out, "--flats-only") == 0
    assert sorted(p.name for p in out.iterdir()) == ["p1.flats.png", "p2.flats.png"]
    flat = _read(out / "p1.flats.png")
    assert tuple(flat[20, 20]) == (230, 40, 40) and tuple(flat[100, 50]) == (255, 255, 255)
    single = tmp_path / "p1-layer.png"
    assert _colorize(folder / "p1.png", "-o", single, "--flats-only", "--no-ink") == 0
    with Image.open(single) as im:
        assert im.mode == "RGBA" and im.getpixel((20, 20))[3] == 255 and im.getpixel((50, 100))[3] == 0


def test_formats_and_usage_errors(tiny_onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ch"
    folder.mkdir()
    _write_page(folder / "p1.png", 1)
    _write_page(folder / "p2.png", 2)
    model = ["--model", str(tiny_onnx_model)]
    assert _colorize(folder, "-o", tmp_path / "t", "--format", "tiff", "--bit-depth", "16", *model) == 0
    with Image.open(tmp_path / "t" / "p1.tif") as im:
        assert im.size == (W, H)
    assert _colorize(folder, "-o", tmp_path / "w", "--format", "webp", *model) == 0
    assert (tmp_path / "w" / "p2.webp").is_file()
    capsys.readouterr()
    assert _colorize(folder, "-o", tmp_path / "one.png", *model) == 2
    assert "give a folder" in capsys.readouterr().err
    assert _colorize(folder / "p1.png", "-o", tmp_path / "x.jpg", "--format", "png", *model) == 2
    assert "contradicts" in capsys.readouterr().err
    assert _colorize(folder, "-o", tmp_path / "x.cbz", "--format", "psd", *model) == 2
    assert _colorize(folder, "-o", folder, *model, "--quiet") == 0  # never overwrites the pages
    assert sorted(p.name for p in folder.iterdir()) == ["p1.color.png", "p1.png", "p2.color.png", "p2.png"]
    assert _colorize(folder, "-o", folder, *model, "--quiet") == 0  # outputs are not taken as pages
    assert len(list(folder.iterdir())) == 4
