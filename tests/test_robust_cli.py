"""`mangacolor colorize` against careless users and flaky disks (issue #12 items 1, 2, 3, 4, 5, 6, 9)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.cli import main
from mangacolor_app.core.project import Project, save_project

REPO = Path(__file__).resolve().parents[1]
H, W = 64, 48


def _page(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arr = np.full((H, W), 255, np.uint8)
    arr[rng.integers(0, H, 8), :] = 0
    Image.fromarray(arr, "L").save(path)
    return path


def _hints(path: Path, alpha: bool = True) -> Path:
    arr = np.zeros((H, W, 4), np.uint8)
    arr[10:30, 10:30] = [255, 40, 40, 255]
    Image.fromarray(arr if alpha else arr[..., :3], "RGBA" if alpha else "RGB").save(path)
    return path


# ------------------------------------------------------------------------------ 1: output onto input


def test_output_onto_the_input_page_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(tmp_path / "p.png")
    before = page.read_bytes()
    rc = main(["colorize", str(page), "-o", str(page), "--flats-only"])
    err = capsys.readouterr().err
    assert rc == 2 and "p.png" in err and "overwritten" in err
    assert page.read_bytes() == before


def test_output_hard_link_to_the_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(tmp_path / "p.png")
    link = tmp_path / "out" / "p.flats.png"
    link.parent.mkdir()
    os.link(page, link)
    rc = main(["colorize", str(tmp_path / "p.png"), "-o", str(tmp_path / "out"), "--flats-only", "--force"])
    assert rc == 2 and "link" in capsys.readouterr().err
    symlink = tmp_path / "sym.png"
    symlink.symlink_to(page)
    assert main(["colorize", str(page), "-o", str(symlink), "--flats-only"]) == 2


@pytest.mark.parametrize("force", [False, True])
def test_cbz_onto_the_input_archive_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               force: bool) -> None:
    archive = tmp_path / "v.cbz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(_page(tmp_path / "a.png"), "001.png")
    before = archive.read_bytes()
    rc = main(["colorize", str(archive), "-o", str(archive), "--flats-only", *(["--force"] if force else [])])
    err = capsys.readouterr()
    assert rc == 2 and "v.cbz" in err.err and "skipped" not in err.out
    assert archive.read_bytes() == before


# ------------------------------------------------------------------------------ 2: chapter folders


def test_cbz_chapter_folders_keep_reading_order(tmp_path: Path) -> None:
    archive = tmp_path / "vol.cbz"
    with zipfile.ZipFile(archive, "w") as zf:
        for member, seed in (("ch2/002.png", 4), ("ch1/001.png", 1), ("ch10/001.png", 5),
                             ("ch2/001.png", 3), ("ch1/002.png", 2)):
            zf.write(_page(tmp_path / f"s{seed}.png", seed), member)
    out = tmp_path / "out.cbz"
    assert main(["colorize", str(archive), "-o", str(out), "--flats-only", "-q"]) == 0
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert names == ["ch1/001.flats.png", "ch1/002.flats.png", "ch2/001.flats.png", "ch2/002.flats.png",
                     "ch10/001.flats.png"]
    folder = tmp_path / "outdir"
    assert main(["colorize", str(archive), "-o", str(folder), "--flats-only", "-q"]) == 0
    assert (folder / "ch2" / "002.flats.png").is_file() and (folder / "ch10" / "001.flats.png").is_file()


def test_two_chapter_inputs_into_one_cbz_do_not_interleave(tmp_path: Path) -> None:
    chapters = []
    for ch in ("ch1", "ch2"):
        folder = tmp_path / ch
        folder.mkdir()
        for i in (1, 2):
            _page(folder / f"{i:03d}.png", i)
        chapters.append(str(folder))
    out = tmp_path / "all.cbz"
    assert main(["colorize", *chapters, "-o", str(out), "--flats-only", "-q"]) == 0
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["ch1/001.flats.png", "ch1/002.flats.png", "ch2/001.flats.png",
                                 "ch2/002.flats.png"]


# ------------------------------------------------------------------------------ 3 and 4: alpha


def test_transparent_line_art_page_is_not_black(tiny_onnx_model: Path, tmp_path: Path) -> None:
    """An RGBA line-art layer (transparent = black) colours like the same page on white paper."""
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[20:23, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "layer.png")
    out = tmp_path / "o.png"
    assert main(["colorize", str(tmp_path / "layer.png"), "-o", str(out), "--model", str(tiny_onnx_model),
                 "-q"]) == 0
    result = np.asarray(Image.open(out).convert("L"), np.float32)
    assert result[:15].mean() > 100 and result[21].mean() < result[:15].mean()


def test_hints_without_alpha_are_refused_by_the_cli(tiny_onnx_model: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    page = _page(tmp_path / "p.png")
    rgb_hints = _hints(tmp_path / "h.png", alpha=False)
    out = tmp_path / "o.png"
    rc = main(["colorize", str(page), "-o", str(out), "--hints", str(rgb_hints), "--model", str(tiny_onnx_model)])
    err = capsys.readouterr().err
    assert rc == 1 and "h.png" in err and "alpha" in err and not out.exists()
    _hints(tmp_path / "p.hints.png", alpha=False)  # found beside the page
    rc = main(["colorize", str(page), "-o", str(out), "--flats-only"])
    assert rc == 1 and "p.hints.png" in capsys.readouterr().err


# ------------------------------------------------------------------------------ 5: NaN model


def _nonfinite_model(path: Path, kind: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mangacolor_app.inference.manifest import ModelManifest, write_manifest_metadata

    w = numpy_helper.from_array(np.full((3, 5, 1, 1), 0.1, np.float32), "w")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    one = numpy_helper.from_array(np.ones((1,), np.float32), "one")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"])]
    if kind == "nan":  # sqrt(0 * c - 1)
        nodes += [helper.make_node("Mul", ["c", "zero"], ["z"]), helper.make_node("Sub", ["z", "one"], ["m"]),
                  helper.make_node("Sqrt", ["m"], ["output"])]
    else:  # (c + 1) / 0
        nodes += [helper.make_node("Add", ["c", "one"], ["p"]), helper.make_node("Div", ["p", "zero"], ["output"])]
    graph = helper.make_graph(nodes, "broken", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                              ["N", 5, "H", "W"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              initializer=[w, zero, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    manifest = {"format": 1, "name": f"broken-{kind}", "version": "0.1", "input_name": "input",
                "output_name": "output", "channels": ["line", "hint_rgb", "hint_mask"], "size_multiple": 1,
                "receptive_radius": 0, "overlap": 0, "preferred_tile": 64}
    write_manifest_metadata(path, ModelManifest.from_dict(manifest))
    return path


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_model_returning_nan_or_inf_is_a_model_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     kind: str) -> None:
    model = _nonfinite_model(tmp_path / f"{kind}.onnx", kind)
    page = _page(tmp_path / "p.png")
    out = tmp_path / "o.png"
    rc = main(["colorize", str(page), "-o", str(out), "--hints", str(_hints(tmp_path / "h.png")),
               "--model", str(model)])
    err = capsys.readouterr().err
    assert rc == 1 and f"broken-{kind}" in err and "NaN or infinite" in err and str(model) in err
    assert not out.exists()


# ------------------------------------------------------------------------------ 6: projects in a batch


def test_damaged_project_beside_a_page_fails_that_page_only(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    chapter = tmp_path / "ch"
    chapter.mkdir()
    for i in (1, 2, 3):
        _page(chapter / f"p{i}.png", i)
    project = Project.new(np.ones((H, W, 3), np.float32))
    project.hints[5:10, 5:10] = (0, 200, 0, 255)
    good = save_project(chapter / "p1.png.mcproj", project)
    data = bytearray(good.read_bytes())
    data[data.index(b"PK\x01\x02") + 10] = 99  # the manifest's compression method: unknown
    (chapter / "p2.png.mcproj").write_bytes(bytes(data))
    out = tmp_path / "out"
    rc = main(["colorize", str(chapter), "-o", str(out), "--flats-only"])
    err = capsys.readouterr().err
    assert rc == 1 and "p2.png.mcproj" in err and "Traceback" not in err
    assert (out / "p1.flats.png").is_file() and (out / "p3.flats.png").is_file()
    assert not (out / "p2.flats.png").exists()


# ------------------------------------------------------------------------------ 9: small ones


def test_gif_and_psd_pages_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chapter = tmp_path / "ch"
    chapter.mkdir()
    _page(chapter / "001.png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(chapter / "002.gif")
    (chapter / "003.psd").write_bytes(b"8BPS" + bytes(40))
    rc = main(["colorize", str(chapter), "-o", str(tmp_path / "out"), "--flats-only", "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and "002.gif" in err and "GIF" in err and "003.psd" in err and "PSD" in err
    assert (tmp_path / "out" / "001.flats.png").is_file()


_FSIZE_SCRIPT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from mangacolor_app.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_full_disk_while_packing_a_cbz_is_exit_1(tmp_path: Path) -> None:
    chapter = tmp_path / "ch"
    chapter.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # noise pages: each page file is big, the archive bigger than any one of them
        Image.fromarray((rng.random((H, W)) * 255).astype(np.uint8)).save(chapter / f"{i:03d}.png")
    probe = tmp_path / "probe"
    assert main(["colorize", str(chapter), "-o", str(probe), "--flats-only", "-q"]) == 0
    biggest = max(p.stat().st_size for p in probe.iterdir())
    out = tmp_path / "out.cbz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _FSIZE_SCRIPT, str(biggest + 4096), "colorize", str(chapter),
                           "-o", str(out), "--flats-only", "-q"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "out.cbz" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and (tmp_path / "out.cbz.partial").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
