"""Tests for mangacolor_app.core.chapter: listing, natural order, CBZ IO and the resumable job."""

from __future__ import annotations

import random
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.core.chapter import (
    PageSource,
    find_hints_for,
    list_pages,
    natural_key,
    read_cbz_member,
    write_cbz,
)
from mangacolor_app.core.errors import ImageLoadError, ImageSaveError
from mangacolor_app.core.imageio import save_image


def _png(path: Path, size: tuple[int, int] = (40, 30), value: int = 200) -> Path:
    """A small grey page with a black stroke."""
    arr = np.full((size[1], size[0]), value, np.uint8)
    arr[size[1] // 2, :] = 0
    Image.fromarray(arr).save(path)
    return path


def _colorize(page: PageSource, output: Path) -> None:
    """A cheap per-page 'colorizer': decode, tint, save a thumbnail (the output must exist)."""
    rgb = page.load().rgb
    tinted = rgb * np.array([1.0, 0.9, 0.8], np.float32)
    save_image(output, tinted[::8, ::8])


def test_natural_key_orders_numbers_as_numbers() -> None:
    names = ["page10.png", "page2.png", "Page1.png", "page02b.png", "cover.png", "page100.png", "page9.jpg"]
    assert sorted(names, key=natural_key) == [
        "cover.png", "Page1.png", "page2.png", "page02b.png", "page9.jpg", "page10.png", "page100.png",
    ]  # fmt: skip
    assert sorted(["ch10/p1", "ch2/p10", "ch2/p9"], key=natural_key) == ["ch2/p9", "ch2/p10", "ch10/p1"]
    assert natural_key("p01") != natural_key("p1")  # a total order: ties broken by the text


def test_list_pages_folder_skips_hints_outputs_and_others(tmp_path: Path) -> None:
    for name in ["p10.png", "p2.jpg", "p1.png", "p3.webp"]:
        path = tmp_path / name
        Image.new("RGB", (8, 8), "white").save(path)
    _png(tmp_path / "p1.hints.png")
    _png(tmp_path / "p2.jpg.hints.png")
    _png(tmp_path / "p1.color.png")
    _png(tmp_path / "p1.flats.png")
    _png(tmp_path / ".hidden.png")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "p0.png")
    pages = list_pages(tmp_path)
    assert [p.name for p in pages] == ["p1.png", "p2.jpg", "p3.webp", "p10.png"]
    assert pages[0].hints is not None and pages[0].hints.path == tmp_path / "p1.hints.png"
    assert pages[1].hints is not None and pages[1].hints.path == tmp_path / "p2.jpg.hints.png"
    assert pages[2].hints is None
    assert pages[0].stem == "p1" and pages[0].member is None


def test_find_hints_for(tmp_path: Path) -> None:
    page = _png(tmp_path / "a.png")
    assert find_hints_for(page) is None
    _png(tmp_path / "a.hints.png")
    assert find_hints_for(page) == tmp_path / "a.hints.png"
    _png(tmp_path / "a.png.hints.png")
    assert find_hints_for(page) == tmp_path / "a.png.hints.png"  # <page>.hints.png wins


def test_list_pages_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="no such"):
        list_pages(tmp_path / "missing")
    text = tmp_path / "x.txt"
    text.write_text("not pages")
    with pytest.raises(ImageLoadError, match="not a folder"):
        list_pages(text)
    bad = tmp_path / "bad.cbz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ImageLoadError, match="bad.cbz"):
        list_pages(bad)


def test_cbz_write_read_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = [_png(src / f"page{i}.png", value=100 + i) for i in (1, 2, 10, 3, 20)]
    random.Random(0).shuffle(files)
    hints = _png(src / "page2.hints.png")
    cbz = write_cbz(tmp_path / "out.cbz", [*files, hints])
    with zipfile.ZipFile(cbz) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == [
        "page1.png", "page2.hints.png", "page2.png", "page3.png", "page10.png", "page20.png",
    ]  # fmt: skip
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    pages = list_pages(cbz)
    assert [p.name for p in pages] == ["page1.png", "page2.png", "page3.png", "page10.png", "page20.png"]
    assert all(p.path == cbz and p.member == p.name for p in pages)
    assert pages[1].hints is not None and pages[1].hints.member == "page2.hints.png"
    assert pages[3].read_bytes() == (src / "page10.png").read_bytes()
    loaded = pages[3].load()
    assert loaded.rgb.shape == (30, 40, 3) and loaded.rgb.dtype == np.float32
    assert abs(float(loaded.rgb[0, 0, 0]) - 110 / 255) < 1e-6
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".out.cbz.*"))


def test_cbz_with_arcnames_and_subfolders(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    cbz = write_cbz(tmp_path / "c.cbz", [("Chapter 1/002.png", a), ("Chapter 1/001.png", b)])
    pages = list_pages(cbz)
    assert [p.name for p in pages] == ["Chapter 1/001.png", "Chapter 1/002.png"]
    assert pages[0].stem == "001" and pages[0].display_name == "c.cbz:Chapter 1/001.png"
    with pytest.raises(ImageSaveError, match="twice|two pages"):
        write_cbz(tmp_path / "d.cbz", [("x.png", a), ("x.png", b)])
    with pytest.raises(ImageSaveError, match="unsafe"):
        write_cbz(tmp_path / "e.cbz", [("../x.png", a)])


@pytest.mark.parametrize("member", ["../evil.png", "pages/../../evil.png", "/abs.png", "C:/win.png"])
def test_cbz_member_escaping_is_refused(tmp_path: Path, member: str) -> None:
    page = _png(tmp_path / "ok.png")
    cbz = tmp_path / "evil.cbz"
    with zipfile.ZipFile(cbz, "w") as zf:
        zf.write(page, "001.png")
        zf.writestr(member, page.read_bytes())
    with pytest.raises(ImageLoadError, match="unsafe archive member") as info:
        list_pages(cbz)
    assert member in str(info.value) and "evil.cbz" in str(info.value)
    with pytest.raises(ImageLoadError, match="leaves the archive"):
        read_cbz_member(cbz, member)


def test_cbz_corrupt_member_names_the_page(tmp_path: Path) -> None:
    cbz = tmp_path / "c.cbz"
    with zipfile.ZipFile(cbz, "w") as zf:
        zf.writestr("001.png", b"\x89PNG\r\n\x1a\n garbage")
    (page,) = list_pages(cbz)
    with pytest.raises(ImageLoadError, match="001.png"):
        page.load()
    with pytest.raises(ImageLoadError, match="no member"):
        read_cbz_member(cbz, "002.png")


def _chapter(folder: Path, n: int, size: tuple[int, int] = (64, 48), corrupt: int | None = None) -> list[PageSource]:
    """``n`` generated pages (one file copied, to be quick); page ``corrupt`` is garbage."""
    folder.mkdir(parents=True, exist_ok=True)
    template = _png(folder / "template.tmp.png", size)
    data = template.read_bytes()
    template.unlink()
    for i in range(1, n + 1):
        (folder / f"page{i}.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png" if i == corrupt else data)
    return list_pages(folder)


def _job_peak(pages: list[PageSource], out: Path) -> int:
    """Traced peak of the CLI's page loop (``batch.run_pages``) over ``pages``."""
    from mangacolor_app.batch import OutputPlan, _Console, run_pages

    out.mkdir()
    plan = OutputPlan("folder", out, [out / f"{p.stem}.color.png" for p in pages], "png", resumable=True)
    tracemalloc.start()
    try:
        summary = run_pages(pages, plan, _colorize, (), _Console(quiet=True), force=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.done == len(pages)
    return peak


def test_chapter_memory_does_not_grow_with_pages(tmp_path: Path) -> None:
    size = (1000, 1400)
    few = _chapter(tmp_path / "few", 3, size)
    many = _chapter(tmp_path / "many", 30, size)
    peak_few = _job_peak(few, tmp_path / "out_few")
    peak_many = _job_peak(many, tmp_path / "out_many")
    assert peak_few > 1000 * 1400 * 3 * 4  # the page's float32 RGB was traced
    assert peak_many <= 1.2 * peak_few, (peak_few, peak_many)
