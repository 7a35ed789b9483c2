"""`mangacolor colorize ... --reference REF`: one page, a chapter carried page by page, bad references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.cli import main
from tests.test_reference_matching import pair, save_reference_project, truth_rgb
from training.data.character_pair import draw_character, random_pose, random_spec

SIZE = (512, 448)


def _colorize(*args: str | Path) -> int:
    return main(["colorize", *(str(a) for a in args)])


def _save_line(path: Path, line: np.ndarray) -> Path:
    Image.fromarray(np.round(line * 255).astype(np.uint8), "L").save(path)
    return path


def _flats_accuracy(flats_png: Path, drawing, palette: dict) -> float:
    """Share of the drawing's region pixels whose flats colour is their true colour."""
    with Image.open(flats_png) as im:
        rgba = np.asarray(im.convert("RGBA"), np.int16)
    truth, region = truth_rgb(drawing, palette)
    right = (np.abs(rgba[..., :3] - np.round(truth * 255)).max(-1) <= 1) & (rgba[..., 3] > 0) & region
    return float(right.sum() / region.sum())


@pytest.fixture
def character_chapter(tmp_path: Path) -> tuple[Path, Path, dict, list]:
    """A reference project (page 0, hinted) and a folder of four unhinted pages of the same character."""
    palette, first, _ = pair(11, sizes=(SIZE, SIZE))
    rng = np.random.default_rng(5)
    ref = save_reference_project(tmp_path / "page0.mcproj", first, palette)
    folder = tmp_path / "chapter"
    folder.mkdir()
    spec = random_spec(np.random.default_rng(11))  # the spec pair(11) drew
    assert spec.palette == palette
    drawings = []
    for i in range(1, 5):
        d = draw_character(spec, random_pose(rng, SIZE), SIZE, seed=100 + i)
        _save_line(folder / f"p{i}.png", d.line)
        drawings.append(d)
    return ref, folder, palette, drawings


def test_one_page_from_a_project_reference(character_chapter, tmp_path: Path, tiny_onnx_model: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ref, folder, palette, drawings = character_chapter
    flats = tmp_path / "p1.flats.png"
    assert _colorize(folder / "p1.png", "--reference", ref, "-o", flats, "--flats-only", "--no-ink") == 0
    assert _flats_accuracy(flats, drawings[0], palette) >= 0.85
    colour = tmp_path / "p1.colour.png"
    assert _colorize(folder / "p1.png", "--reference", ref, "-o", colour, "--model", tiny_onnx_model) == 0
    with Image.open(colour) as im:
        assert im.size == (SIZE[1], SIZE[0])
    assert "Traceback" not in capsys.readouterr().err


def test_chapter_carries_colours_resumes_and_reports_bad_pages(
        character_chapter, tmp_path: Path, tiny_onnx_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, folder, palette, drawings = character_chapter
    (folder / "p3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # one bad page: reported, the others go on
    out = tmp_path / "flats"
    assert _colorize(folder, "--reference", ref, "-o", out, "--flats-only", "--no-ink") == 1
    cap = capsys.readouterr()
    assert "p3.png" in cap.err and "Traceback" not in cap.err
    assert "3 done, 0 skipped, 1 failed of 4 pages" in cap.out
    for i in (1, 2, 4):
        assert _flats_accuracy(out / f"p{i}.flats.png", drawings[i - 1], palette) >= 0.85, i
    mtime = (out / "p1.flats.png").stat().st_mtime_ns
    assert _colorize(folder, "--reference", ref, "-o", out, "--flats-only", "--no-ink") == 1  # resume
    assert "0 done, 3 skipped, 1 failed of 4 pages" in capsys.readouterr().out
    assert (out / "p1.flats.png").stat().st_mtime_ns == mtime
    model_out = tmp_path / "colour"
    assert _colorize(folder, "--reference", ref, "-o", model_out, "--model", tiny_onnx_model, "--carry", "0") == 1
    assert sorted(p.name for p in model_out.iterdir()) == ["p1.png", "p2.png", "p4.png"]


def test_bad_references_are_named_and_nothing_is_written(character_chapter, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, folder, _, _ = character_chapter
    grey = tmp_path / "grey-ref.png"
    Image.fromarray(np.tile(np.arange(0, 256, 2, dtype=np.uint8), (90, 1))).save(grey)
    broken = tmp_path / "broken-ref.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    cases = [(grey, "greyscale"), (broken, "broken-ref.jpg"), (tmp_path / "nowhere.mcproj", "not found")]
    for path, words in cases:
        out = tmp_path / f"out-{path.stem}"
        assert _colorize(folder, "--reference", path, "-o", out, "--flats-only") == 2
        err = capsys.readouterr().err
        assert path.name in err and words in err and "Traceback" not in err
        assert not any(out.glob("*.png"))


def test_resumed_chapter_carries_the_outputs_it_skips(character_chapter, tmp_path: Path) -> None:
    from mangacolor_app.colour_memory import ReferenceBank

    ref, _, _, drawings = character_chapter
    outputs = []
    for i, d in enumerate(drawings[:3]):
        outputs.append(tmp_path / f"p{i + 1}.png")
        Image.fromarray(np.round(d.color * 255).astype(np.uint8)).save(outputs[-1])
    outputs.append(tmp_path / "p4.png")  # not made yet: the resumed run starts here
    bank = ReferenceBank.load([ref], carry=2)
    bank.catch_up(outputs, outputs[3])
    assert [Path(r.name).name for r in bank.carried] == ["p2.png", "p3.png"]
    bank.catch_up(outputs, outputs[3])  # once per run
    assert len(bank.carried) == 2
    fresh = ReferenceBank.load([ref], carry=2)
    fresh.catch_up(outputs, outputs[0])  # a first page has nothing before it
    assert fresh.carried == []
