"""Damaged, hand-edited and crafted project files (issue #12 item 6) and the project fuzz test.

The fuzz test flips random bits of a real saved project, of its compressed ``project.json`` only,
and truncates it; every load must give a project or a ``ProjectError`` naming the file, nothing
else. ``MANGACOLOR_FUZZ_N`` sets the number of mutations (default 300, the issue's long run: 3000).
"""

from __future__ import annotations

import json
import os
import random
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mangacolor_app.core.errors import ProjectError
from mangacolor_app.core.project import Project, load_project, read_manifest, save_project


def _real_project(tmp_path: Path, name: str = "real.mcproj") -> Path:
    rng = np.random.default_rng(3)
    page = (rng.random((40, 56, 3)) > 0.2).astype(np.float32)
    project = Project.new(page, source_path="/art/p1.png", dpi=(350.0, 350.0), model_name="m")
    project.hints[5:20, 5:30] = (200, 40, 40, 255)
    project.set_result_float(rng.random((40, 56, 3)).astype(np.float32))
    project.palette.push_recent("#aabbcc")
    project.settings = {"layers.hints_opacity": 0.8, "flats_only": False}
    return save_project(tmp_path / name, project)


def _rewrite_manifest(src: Path, dst: Path, edit: object) -> Path:
    """Copy the project with its manifest changed by ``edit(dict)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "project.json":
                manifest = json.loads(data)
                edit(manifest)  # type: ignore[operator]
                data = json.dumps(manifest).encode()
            zout.writestr(info.filename, data, compress_type=info.compress_type)
    return dst


def _load_outcome(path: Path) -> str:
    try:
        load_project(path)
    except ProjectError as exc:
        assert str(path) in str(exc)
        return "refused"
    return "loaded"


def _manifest_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the compressed project.json bytes inside the archive."""
    with _zip_of(data) as zf:
        info = zf.getinfo("project.json")
    offset = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[offset + 26:offset + 30])
    start = offset + 30 + name_len + extra_len
    return start, start + info.compress_size


def _repacked_with_flips(members: dict[str, bytes], rng: random.Random) -> bytes:
    """The archive rebuilt with a few bits of one member flipped (valid zip, damaged content)."""
    import io

    name = rng.choice(sorted(members))
    content = bytearray(members[name])
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(content))
        content[pos] ^= 1 << rng.randrange(8)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for member, body in members.items():
            zf.writestr(member, bytes(content) if member == name else body,
                        compress_type=zipfile.ZIP_DEFLATED if member == "project.json" else zipfile.ZIP_STORED)
    return out.getvalue()


def _zip_of(data: bytes) -> zipfile.ZipFile:
    import io

    return zipfile.ZipFile(io.BytesIO(data))


def test_project_fuzz_raises_only_project_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Bit flips anywhere, in the compressed manifest, inside members (valid zip), truncations:
    ProjectError or a project, and no decoder library printing on stderr."""
    source = _real_project(tmp_path)
    data = source.read_bytes()
    m_start, m_end = _manifest_span(data)
    total = int(os.environ.get("MANGACOLOR_FUZZ_N", "300"))
    rng = random.Random(12)
    outcomes = {"loaded": 0, "refused": 0}
    target = tmp_path / "fuzzed.mcproj"
    with _zip_of(data) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    for i in range(total):
        buf = bytearray(data)
        kind = i % 4
        if kind == 3:  # damage inside a member, archive CRCs recomputed: reaches the JSON and PNG readers
            buf = bytearray(_repacked_with_flips(members, rng))
        elif kind == 0:
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(buf))
                buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            pos = rng.randrange(m_start, m_end)
            buf[pos] ^= 1 << rng.randrange(8)
        else:
            del buf[rng.randrange(len(buf)):]
        target.write_bytes(bytes(buf))
        try:
            outcomes[_load_outcome(target)] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"mutation {i} (kind {kind}) raised {type(exc).__name__}: {exc}")
    assert "libpng" not in capfd.readouterr().err
    print(f"PROJECT FUZZ {total}: {outcomes}")
    assert outcomes["refused"] > total // 4, outcomes


CRAFTED = {
    "opacity as text": lambda m: m["settings"].__setitem__("layers.hints_opacity", "high"),
    "dpi inf": lambda m: m["page"].__setitem__("dpi", [float("inf"), 300]),
    "dpi nan": lambda m: m["page"].__setitem__("dpi", [float("nan"), float("nan")]),
    "width as text": lambda m: m["page"].__setitem__("width", "56"),
    "page is a list": lambda m: m.__setitem__("page", [1, 2]),
    "settings is a list": lambda m: m.__setitem__("settings", ["a"]),
    "palette swatches not a list": lambda m: m["palette"].__setitem__("swatches", 3),
    "palette recent numbers": lambda m: m["palette"].__setitem__("recent", [1]),
    "model a number": lambda m: m.__setitem__("model", 5),
    "source_path a dict": lambda m: m["page"].__setitem__("source_path", {}),
    "format true": lambda m: m.__setitem__("format", True),
    "saved_at text": lambda m: m.__setitem__("saved_at", "yesterday"),
    "wrong width": lambda m: m["page"].__setitem__("width", 57),
    "huge size": lambda m: m["page"].update(width=40000, height=40000),
    "hints member missing": lambda m: m["hints"].__setitem__("member", "nope.png"),
    "hints member points at page": lambda m: m["hints"].__setitem__("member", "page.png"),
    "result is a string": lambda m: m.__setitem__("result", "result.png"),
    "autosave pid text": lambda m: m.__setitem__("autosave", {"pid": "12"}),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_hand_edited_manifest_is_a_project_error(tmp_path: Path, case: str) -> None:
    bad = _rewrite_manifest(_real_project(tmp_path), tmp_path / "bad.mcproj", CRAFTED[case])
    with pytest.raises(ProjectError) as info:
        load_project(bad)
    assert str(bad) in str(info.value)


def _set_flag_bits(data: bytearray, flag: int) -> None:
    """Set a general-purpose flag bit in every local and central header."""
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        while pos >= 0:
            value = struct.unpack_from("<H", data, pos + off)[0] | flag
            struct.pack_into("<H", data, pos + off, value)
            pos = data.find(sig, pos + 4)


def _set_method(data: bytearray, method: int) -> None:
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = data.find(sig)
        while pos >= 0:
            struct.pack_into("<H", data, pos + off, method)
            pos = data.find(sig, pos + 4)


@pytest.mark.parametrize("case", ["encrypted", "unknown method", "lzma method", "garbage manifest"])
def test_crafted_archives_are_project_errors(tmp_path: Path, case: str) -> None:
    data = bytearray(_real_project(tmp_path).read_bytes())
    if case == "encrypted":
        _set_flag_bits(data, 0x1)
    elif case == "unknown method":
        _set_method(data, 99)
    elif case == "lzma method":
        _set_method(data, 14)
    else:
        start, end = _manifest_span(bytes(data))
        data[start:end] = bytes(range(end - start)) if end - start < 256 else os.urandom(end - start)
    bad = tmp_path / "crafted.mcproj"
    bad.write_bytes(bytes(data))
    with pytest.raises(ProjectError) as info:
        load_project(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ProjectError):
        read_manifest(bad)


def test_png_bomb_layer_is_refused_before_decoding(tmp_path: Path) -> None:
    """A hint layer whose PNG header claims a huge image is refused from its header."""
    import cv2

    bomb = np.zeros((4000, 4000, 4), np.uint8)
    ok, buf = cv2.imencode(".png", bomb, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    source = _real_project(tmp_path)
    bad = tmp_path / "bomb.mcproj"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = buf.tobytes() if info.filename == "hints.png" else zin.read(info)
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(ProjectError, match="4000 x 4000") as info:
        load_project(bad)
    assert str(bad) in str(info.value)


def test_stale_temp_files_of_a_project_are_removed_on_open_and_save(tmp_path: Path) -> None:
    """Leftovers of killed saves (unlocked ``.NAME.<hex>.tmp``) go; other files stay."""
    path = _real_project(tmp_path)
    stale = [tmp_path / f".{path.name}.{i:012x}.tmp" for i in range(3)]
    for s in stale:
        s.write_bytes(b"half a project")
    other = tmp_path / f".other.mcproj.{0:012x}.tmp"
    other.write_bytes(b"x")
    unrelated = tmp_path / f".{path.name}.notours.tmp"
    unrelated.write_bytes(b"x")
    load_project(path)
    assert not any(s.exists() for s in stale)
    stale[0].write_bytes(b"again")
    save_project(path, load_project(path))
    assert not stale[0].exists()
    assert other.exists() and unrelated.exists()
