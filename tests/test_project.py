"""Project files (core.project): lossless round trip, unsafe archives, atomic save, autosave recovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mangacolor_app.core import project as proj
from mangacolor_app.core.errors import ImageSaveError, ProjectError


def _project(h: int = 48, w: int = 64, *, page_16bit: bool = False, with_result: bool = True) -> proj.Project:
    rng = np.random.default_rng(3)
    if page_16bit:
        page = (rng.integers(0, 65536, (h, w, 3)) / 65535.0).astype(np.float32)
    else:
        page = (rng.integers(0, 256, (h, w, 3)).astype(np.float32) / np.float32(255.0))
    hints = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    palette = proj.Palette(swatches=[proj.NamedColor("Hero hair", "#3C4678"), proj.NamedColor("Skin", "#f6cdb4")],
                           recent=["#ff0000", "#00ff00"])
    result = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16) if with_result else None
    return proj.Project(page=page, hints=hints, palette=palette, model_name="tiny-test",
                        settings={"hint_opacity": 0.8, "preserve_ink": True}, result=result,
                        source_path="/somewhere/page.png", dpi=(300.0, 300.0))


@pytest.mark.parametrize("page_16bit", [False, True])
def test_round_trip_is_exact(tmp_path: Path, page_16bit: bool) -> None:
    original = _project(page_16bit=page_16bit)
    path = proj.save_project(tmp_path / "a.mcproj", original)
    loaded = proj.load_project(path)
    assert np.array_equal(loaded.hints, original.hints)
    assert loaded.result is not None and np.array_equal(loaded.result, original.result)
    assert loaded.result.dtype == np.uint16
    assert loaded.palette.to_dict() == original.palette.to_dict()
    assert loaded.model_name == "tiny-test" and loaded.settings == original.settings
    assert loaded.dpi == (300.0, 300.0) and loaded.source_path == "/somewhere/page.png"
    if page_16bit:
        assert np.abs(loaded.page - original.page).max() <= 1.0 / 65535.0
    else:
        assert np.array_equal(loaded.page, original.page)
    again = proj.save_project(tmp_path / "b.mcproj", loaded)
    with zipfile.ZipFile(path) as za, zipfile.ZipFile(again) as zb:
        for member in ("page.png", "hints.png", "result.png"):
            assert za.read(member) == zb.read(member), member


def test_project_without_result(tmp_path: Path) -> None:
    loaded = proj.load_project(proj.save_project(tmp_path / "a.mcproj", _project(with_result=False)))
    assert loaded.result is None


def test_result_float_helpers() -> None:
    p = _project()
    rgb = np.full((48, 64, 3), 0.5, np.float32)
    p.set_result_float(rgb)
    assert p.result is not None and p.result.dtype == np.uint16
    assert np.allclose(p.result_float(), 0.5, atol=1e-4)
    assert p.hints_float().dtype == np.float32


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("bad", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "..\\evil.png", "C:/evil.png"])
def test_unsafe_member_paths_are_refused(tmp_path: Path, bad: str) -> None:
    good = proj.save_project(tmp_path / "good.mcproj", _project())
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[bad] = b"x"
    path = _write_zip(tmp_path / "bad.mcproj", members)
    with pytest.raises(ProjectError) as info:
        proj.load_project(path)
    assert "bad.mcproj" in str(info.value) and "unsafe" in str(info.value)


def test_manifest_pointing_outside_is_refused(tmp_path: Path) -> None:
    good = proj.save_project(tmp_path / "good.mcproj", _project())
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["project.json"])
    manifest["hints"]["member"] = "../hints.png"
    members["project.json"] = json.dumps(manifest).encode()
    with pytest.raises(ProjectError, match="unsafe"):
        proj.load_project(_write_zip(tmp_path / "bad.mcproj", members))


@pytest.mark.parametrize("case", ["not_zip", "no_manifest", "bad_json", "bad_version", "bad_layer", "missing"])
def test_broken_projects_raise_project_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.mcproj"
    good = proj.save_project(tmp_path / "good.mcproj", _project())
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if case == "not_zip":
        path.write_bytes(b"hello")
    elif case == "no_manifest":
        members.pop("project.json")
        _write_zip(path, members)
    elif case == "bad_json":
        _write_zip(path, {**members, "project.json": b"{"})
    elif case == "bad_version":
        manifest = json.loads(members["project.json"])
        manifest["format"] = 99
        _write_zip(path, {**members, "project.json": json.dumps(manifest).encode()})
    elif case == "bad_layer":
        _write_zip(path, {**members, "hints.png": b"garbage"})
    with pytest.raises(ProjectError) as info:
        proj.load_project(path)
    assert path.name in str(info.value)


def test_save_is_atomic(tmp_path: Path) -> None:
    path = proj.save_project(tmp_path / "a.mcproj", _project())
    before = path.read_bytes()
    bad = _project()
    bad.hints = np.zeros((3, 3, 4), np.uint8)
    with pytest.raises(ProjectError):
        proj.save_project(path, bad)
    assert path.read_bytes() == before
    with pytest.raises(ImageSaveError):
        proj.save_project(tmp_path / "missing-folder" / "a.mcproj", _project())
    assert not list(tmp_path.glob(".*tmp"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_autosave_recovery_candidates(tmp_path: Path) -> None:
    mine = proj.write_autosave(_project(), "me")
    assert mine.parent.name == "autosave" and mine.is_file()
    assert proj.find_recoverable(exclude_session="other") == []  # our own pid is alive
    crashed = proj.autosave_path("crashed")
    proj.save_project(crashed, _project(), extra={"autosave": {"pid": _dead_pid(), "session": "crashed",
                                                               "project_path": "/x/story.mcproj"}})
    found = proj.find_recoverable(exclude_session="me")
    assert [c.path for c in found] == [crashed]
    assert found[0].project_path == "/x/story.mcproj"
    proj.discard_autosave(crashed)
    assert proj.find_recoverable() == []
    assert os.environ["MANGACOLOR_HOME"] in str(mine)


def test_palette_rejects_bad_colours() -> None:
    with pytest.raises(ValueError):
        proj.NamedColor("x", "red")
    palette = proj.Palette()
    for i in range(20):
        palette.push_recent(f"#0000{i:02x}")
    palette.push_recent("#000005")
    assert palette.recent[0] == "#000005" and len(palette.recent) == palette.max_recent
