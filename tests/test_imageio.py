"""Tests for core.imageio and core.atomic: format round trips, odd modes and every bad input."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from mangacolor_app.core import atomic, imageio
from mangacolor_app.core.errors import ImageLoadError, ImageSaveError, ImageTooLargeError
from mangacolor_app.core.imageio import DEFAULT_MAX_PIXELS, Page, load_image, load_rgba, save_image


def _smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth float32 (H, W, 3) gradient that lossy codecs reproduce closely."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / (w - 1), y / (h - 1), 0.5 + 0.25 * np.sin(x / 9.0)], axis=2).astype(np.float32)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _swapped_srgb_profile() -> bytes:
    """The built-in sRGB profile with its red and blue primaries swapped (a 'modified' profile)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    entries = {bytes(data[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    r, b = entries[b"rXYZ"], entries[b"bXYZ"]
    data[r + 4 : r + 12], data[b + 4 : b + 12] = data[b + 4 : b + 12], data[r + 4 : r + 12]
    return bytes(data)


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", ["png", "tif", "tiff", "bmp"])
@pytest.mark.parametrize("channels", [0, 3, 4])
def test_lossless_round_trip_8bit(tmp_path: Path, ext: str, channels: int) -> None:
    rgb = _smooth_rgb()
    image = rgb[..., 0] if channels == 0 else rgb
    if channels == 4:
        image = np.dstack([rgb, np.linspace(0, 1, rgb.shape[1], dtype=np.float32)[None, :].repeat(rgb.shape[0], 0)])
    out = save_image(tmp_path / f"page.{ext}", image, dpi=(600, 600))
    page = load_image(out)
    assert isinstance(page, Page) and page.path == out
    assert page.rgb.dtype == np.float32 and page.rgb.shape == (48, 64, 3)
    assert page.dpi == (600.0, 600.0)
    assert page.bit_depth == 8
    if channels == 4 and ext == "bmp":  # BMP: flattened onto white, no alpha
        assert page.alpha is None
        expected = rgb * image[..., 3:] + (1 - image[..., 3:])
    else:
        expected = np.repeat(image[..., None], 3, 2) if channels == 0 else image[..., :3]
        assert (page.alpha is not None) == (channels == 4)
    assert np.abs(page.rgb - expected).max() <= 1 / 255 + 1e-6
    if channels == 4 and ext != "bmp":
        assert page.alpha is not None and page.alpha.dtype == np.float32
        assert np.abs(page.alpha - image[..., 3]).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("ext", ["jpg", "jpeg", "webp"])
def test_lossy_round_trip(tmp_path: Path, ext: str) -> None:
    rgb = _smooth_rgb()
    page = load_image(save_image(tmp_path / f"page.{ext}", rgb, quality=95))
    assert page.rgb.shape == rgb.shape and page.rgb.dtype == np.float32
    assert np.abs(page.rgb - rgb).mean() < 0.01


def test_webp_lossless_and_alpha(tmp_path: Path) -> None:
    rgba = np.dstack([_smooth_rgb(), np.full((48, 64), 0.5, np.float32)])
    page = load_image(save_image(tmp_path / "page.webp", rgba, lossless=True))
    assert page.alpha is not None
    assert np.abs(page.rgb - rgba[..., :3]).max() <= 1 / 255 + 1e-6
    assert np.abs(page.alpha - 0.5).max() <= 1 / 255


def test_jpeg_flattens_alpha_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((16, 16, 4), np.float32)  # fully transparent black
    page = load_image(save_image(tmp_path / "page.jpg", rgba))
    assert page.alpha is None and page.rgb.min() > 0.95


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("channels", [0, 3, 4])
def test_16bit_round_trip(tmp_path: Path, ext: str, channels: int) -> None:
    rng = np.random.default_rng(1)
    shape = (20, 30) if channels == 0 else (20, 30, channels)
    image = rng.integers(0, 65536, shape, dtype=np.uint16)
    page = load_image(save_image(tmp_path / f"deep.{ext}", image, bit_depth=16, dpi=(350, 350)))
    assert page.bit_depth == 16
    assert page.dpi == (350.0, 350.0)
    expected = image.astype(np.float32) / 65535
    rgb = np.repeat(expected[..., None], 3, 2) if channels == 0 else expected[..., :3]
    assert np.abs(page.rgb - rgb).max() < 1e-6  # all 16 bits survive (8-bit would be off by 1/512)
    if channels == 4:
        assert page.alpha is not None and np.abs(page.alpha - expected[..., 3]).max() < 1e-6


def test_16bit_rgb_png_written_by_opencv_loads_as_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((4, 5, 3), np.uint16)
    bgr[..., 2] = 40000  # red in OpenCV's BGR order
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    (tmp_path / "red16.png").write_bytes(buf.tobytes())
    page = load_image(tmp_path / "red16.png")
    assert page.mode == "RGB" and page.bit_depth == 16
    np.testing.assert_allclose(page.rgb[0, 0], [40000 / 65535, 0, 0], atol=1e-6)


def test_save_accepts_uint8_and_explicit_format(tmp_path: Path) -> None:
    arr = np.full((3, 4, 3), 200, np.uint8)
    out = save_image(tmp_path / "no_extension", arr, format="PNG")
    with Image.open(out) as im:
        assert im.format == "PNG"
    np.testing.assert_allclose(load_image(out).rgb, 200 / 255, atol=1e-6)


def test_save_rejects_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="page.gif"):
        save_image(tmp_path / "page.gif", _smooth_rgb())
    with pytest.raises(ImageSaveError, match="16-bit"):
        save_image(tmp_path / "page.jpg", _smooth_rgb(), bit_depth=16)
    with pytest.raises(ValueError):
        save_image(tmp_path / "page.png", np.zeros((4, 4, 2), np.float32))


def test_load_rgba_opaque_and_transparent(tmp_path: Path) -> None:
    rgb = _smooth_rgb(8, 8)
    opaque = load_rgba(save_image(tmp_path / "a.png", rgb))
    assert opaque.shape == (8, 8, 4) and opaque.dtype == np.float32
    assert np.all(opaque[..., 3] == 1.0)
    rgba = np.dstack([rgb, np.zeros((8, 8), np.float32)])
    assert np.all(load_rgba(save_image(tmp_path / "b.png", rgba))[..., 3] == 0.0)


# ------------------------------------------------------------------------------- source modes


def test_1x1_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (255, 0, 0)).save(tmp_path / "dot.png")
    page = load_image(tmp_path / "dot.png")
    assert page.rgb.shape == (1, 1, 3)
    np.testing.assert_allclose(page.rgb[0, 0], [1, 0, 0])


def test_16bit_grayscale(tmp_path: Path) -> None:
    grey = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000 + 7).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    page = load_image(tmp_path / "grey16.png")
    assert page.mode.startswith("I;16") and page.bit_depth == 16 and page.alpha is None
    np.testing.assert_allclose(page.rgb[..., 1], grey / 65535, atol=1e-6)


@pytest.mark.parametrize("mode,value,expected", [("1", 1, 1.0), ("L", 51, 0.2), ("F", 0.25, 0.25), ("I", 32768, 32768 / 65535)])
def test_grey_modes(tmp_path: Path, mode: str, value: float, expected: float) -> None:
    ext = "png" if mode in ("1", "L") else "tif"
    Image.new(mode, (3, 2), value).save(tmp_path / f"g.{ext}")
    page = load_image(tmp_path / f"g.{ext}")
    assert page.mode == mode and page.rgb.shape == (2, 3, 3)
    np.testing.assert_allclose(page.rgb, expected, atol=1e-6)


def test_la_mode(tmp_path: Path) -> None:
    Image.new("LA", (3, 2), (102, 51)).save(tmp_path / "la.png")
    page = load_image(tmp_path / "la.png")
    assert page.alpha is not None
    np.testing.assert_allclose(page.rgb, 0.4, atol=1e-6)
    np.testing.assert_allclose(page.alpha, 0.2, atol=1e-6)


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 3), 0)
    pal.putpalette([255, 255, 255, 0, 128, 255] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "pal.png", transparency=0)
    page = load_image(tmp_path / "pal.png")
    assert page.mode == "P" and page.alpha is not None
    assert page.alpha[1, 1] == 1.0 and page.alpha[0, 0] == 0.0 and page.alpha.sum() == 1.0
    np.testing.assert_allclose(page.rgb[1, 1], [0, 128 / 255, 1], atol=1e-6)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / "cyan.jpg", quality=95)
    assert b"Adobe" in (tmp_path / "cyan.jpg").read_bytes()  # libjpeg writes Adobe (inverted) CMYK
    page = load_image(tmp_path / "cyan.jpg")
    assert page.mode == "CMYK"
    np.testing.assert_allclose(page.rgb[4, 4], [0, 1, 1], atol=0.03)


def test_exif_rotated_jpeg(tmp_path: Path) -> None:
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:3, :3] = 255  # white block at the top-left of the stored pixels
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    page = load_image(tmp_path / "rot.jpg")
    assert page.rgb.shape == (20, 10, 3)
    assert page.rgb[1, 8].min() > 0.9  # the block is now at the top-right
    assert page.rgb[1, 1].max() < 0.1


def test_icc_profile_converted(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (4, 4), (200, 100, 50)).save(tmp_path / "srgb.png", icc_profile=srgb)
    page = load_image(tmp_path / "srgb.png")
    assert page.icc_converted
    np.testing.assert_allclose(page.rgb[0, 0] * 255, [200, 100, 50], atol=1.0)

    Image.new("RGB", (4, 4), (200, 100, 50)).save(tmp_path / "swapped.png", icc_profile=_swapped_srgb_profile())
    page = load_image(tmp_path / "swapped.png")
    assert page.icc_converted
    np.testing.assert_allclose(page.rgb[0, 0] * 255, [50, 100, 200], atol=2.0)


def test_broken_icc_profile_keeps_pixels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Image.new("RGB", (4, 4), (200, 100, 50)).save(tmp_path / "bad.png", icc_profile=b"not a profile" * 20)
    page = load_image(tmp_path / "bad.png")
    assert not page.icc_converted
    np.testing.assert_allclose(page.rgb[0, 0] * 255, [200, 100, 50], atol=1e-3)
    assert "bad.png" in caplog.text and "profile" in caplog.text


# ------------------------------------------------------------------------------- bad inputs


def _assert_load_error(path: Path, *words: str, error: type[Exception] = ImageLoadError) -> str:
    with pytest.raises(error) as info:
        load_image(path)
    text = str(info.value)
    assert path.name in text
    for word in words:
        assert word in text.lower()
    return text


def test_missing_file(tmp_path: Path) -> None:
    _assert_load_error(tmp_path / "nope.png", "not found")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    _assert_load_error(tmp_path / "empty.png", "empty")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("these are my notes, not a picture\n", encoding="utf-8")
    _assert_load_error(tmp_path / "notes.png", "text")


def test_folder_and_unsupported_format(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    _assert_load_error(tmp_path / "dir.png", "folder")
    Image.new("RGB", (4, 4)).save(tmp_path / "anim.gif")
    _assert_load_error(tmp_path / "anim.gif", "gif", "not supported")


@pytest.mark.parametrize("lenient", [False, True])
def test_truncated_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lenient: bool) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient)  # must not make us accept it
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _assert_load_error(tmp_path / "cut.png", "truncated")
    (tmp_path / "header_only.png").write_bytes(data[:20])
    _assert_load_error(tmp_path / "header_only.png", "truncated")


def test_truncated_jpeg(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    _assert_load_error(tmp_path / "cut.jpg", "truncated")


def test_huge_header_refused_quickly(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    (tmp_path / "bomb.png").write_bytes(png + _png_chunk(b"IEND", b""))
    start = time.perf_counter()
    text = _assert_load_error(tmp_path / "bomb.png", "40000 x 40000", f"{DEFAULT_MAX_PIXELS:,}", error=ImageTooLargeError)
    assert "1,600,000,000" in text
    with pytest.raises(ImageTooLargeError, match="1,000"):
        load_image(tmp_path / "bomb.png", max_pixels=1000)
    assert time.perf_counter() - start < 2.0


def test_pixel_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("L", (10, 10)).save(tmp_path / "small.png")
    monkeypatch.setenv(imageio.MAX_PIXELS_ENV, "99")
    with pytest.raises(ImageTooLargeError, match="small.png"):
        load_image(tmp_path / "small.png")
    assert load_image(tmp_path / "small.png", max_pixels=100).rgb.shape == (10, 10, 3)  # argument wins
    monkeypatch.setenv(imageio.MAX_PIXELS_ENV, "lots")
    assert imageio.max_pixels_limit() == DEFAULT_MAX_PIXELS


# ------------------------------------------------------------------------------- saving safely


def _unwritable_folder(tmp_path: Path) -> Path:
    """A 'folder' nobody can write into: read-only for normal users, a regular file for root."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    blocker = tmp_path / "not_a_folder"
    blocker.write_bytes(b"x")
    return blocker


def test_unwritable_folder(tmp_path: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    try:
        with pytest.raises(ImageSaveError) as info:
            save_image(folder / "page.png", _smooth_rgb())
        assert "page.png" in str(info.value)
        with pytest.raises(ImageSaveError, match="data.bin"):
            atomic.atomic_write_bytes(folder / "data.bin", b"123")
    finally:
        if folder.is_dir():
            folder.chmod(0o700)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageSaveError, match="page.png"):
        save_image(tmp_path / "no" / "such" / "page.png", _smooth_rgb())


def test_failed_encode_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = save_image(tmp_path / "page.png", _smooth_rgb())
    before = target.read_bytes()

    def exploding_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(str(fp)).write_bytes(b"half a file")
        raise OSError("simulated disk failure")

    monkeypatch.setattr(Image.Image, "save", exploding_save)
    with pytest.raises(ImageSaveError, match="page.png"):
        save_image(target, np.zeros((48, 64, 3), np.float32))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.png"]


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "doc.bin"
    atomic.atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_write(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_bytes(b"new but broken")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    with atomic.atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.bin"]


def _write_int_case(path: Path, kind: str, rng: np.random.Generator) -> None:
    """A page file of one kind, with transparency for the alpha kinds (Pillow or OpenCV for 16 bits)."""
    shape = (300, 41)  # more rows than one conversion block of line_of_page
    if kind == "rgb16":
        arr = rng.integers(0, 65536, (*shape, 4), dtype=np.uint16)
        cv2.imwrite(str(path), cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA))
        return
    if kind == "picture":  # a smooth colour painting with alpha: its line is drawn out of it
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        arr = np.stack([100 + yy % 80, 60 + xx, 160 - yy % 50, 200 + (yy % 50)], axis=2).astype(np.uint8)
        Image.fromarray(arr, "RGBA").save(path)
        return
    if kind == "1":
        Image.fromarray(rng.integers(0, 2, shape).astype(bool)).save(path)
        return
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[kind]
    arr = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    Image.fromarray(arr[..., 0] if channels == 1 else arr, kind).save(path)


@pytest.mark.parametrize("kind", ["L", "LA", "RGB", "RGBA", "1", "rgb16", "picture"])
def test_integer_load_gives_the_float_page(tmp_path: Path, kind: str) -> None:
    """``as_int`` keeps the file's integers; ``to_float32`` of them, the line and the hint layer made
    from them equal the float load exactly (the CLI loads pages and hints this way)."""
    from mangacolor_app.core.color import to_float32
    from mangacolor_app.core.lineart import is_colour_picture, page_line
    from mangacolor_app.core.pagefile import hints_from_page, line_of_page, page_on_paper

    path = tmp_path / "p.png"
    _write_int_case(path, kind, np.random.default_rng(5))
    as_float, as_int = load_image(path), load_image(path, as_int=True)
    assert as_int.rgb.dtype == (np.uint16 if kind == "rgb16" else np.uint8)
    assert np.array_equal(to_float32(as_int.rgb), as_float.rgb)
    assert (as_int.alpha is None) == (as_float.alpha is None)
    expected = page_line(page_on_paper(as_float))
    line = line_of_page(as_int)  # an opaque 8-bit grey page gives its uint8 plane (1 B/px)
    assert line.dtype == (np.uint8 if kind in ("L", "1") else np.float32)
    assert np.array_equal(to_float32(line), expected)
    assert np.array_equal(line_of_page(as_float), expected)
    assert is_colour_picture(page_on_paper(as_float)) == (kind == "picture")
    if as_int.alpha is not None:
        hints = hints_from_page(as_int, path)
        assert hints.dtype == as_int.rgb.dtype
        assert np.array_equal(to_float32(hints), hints_from_page(as_float, path))
