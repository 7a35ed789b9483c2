"""Page files that try to break the loader (issue #12 items 3, 7, 9): the image fuzz test,
decompression bombs (peak memory measured in a subprocess), transparent line art, quiet TIFF errors.

``MANGACOLOR_FUZZ_IMAGES`` sets the number of fuzzed files (default 150; the issue's run: 1500+).
"""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor_app.core.errors import ImageTooLargeError, MangaColorError
from mangacolor_app.core.imageio import load_image
from mangacolor_app.core.memory import MAX_DECODE_ENV, available_memory, decode_budget
from mangacolor_app.core.pagefile import page_on_paper

REPO = Path(__file__).resolve().parents[1]
TWO_GB_KB = 2 * 1024 * 1024


def _seed_files() -> dict[str, bytes]:
    """Small valid images in every supported format and mode."""
    rng = np.random.default_rng(7)
    grey = (rng.random((37, 53)) * 255).astype(np.uint8)
    rgb = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    rgba = np.dstack([rgb, grey])
    out: dict[str, bytes] = {}

    def put(name: str, im: Image.Image, fmt: str, **kw: object) -> None:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        out[name] = buf.getvalue()

    put("rgb.png", Image.fromarray(rgb), "PNG")
    put("rgba.png", Image.fromarray(rgba), "PNG")
    put("p.png", Image.fromarray(rgb).convert("P"), "PNG", transparency=0)
    put("bits.png", Image.fromarray(grey).convert("1"), "PNG")
    put("i16.png", Image.fromarray(grey.astype(np.uint16) * 257), "PNG")
    put("q.jpg", Image.fromarray(rgb), "JPEG", quality=80)
    put("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG")
    put("lzw.tif", Image.fromarray(rgb), "TIFF", compression="tiff_lzw")
    put("g4.tif", Image.fromarray(grey).convert("1"), "TIFF", compression="group4")
    put("raw.tif", Image.fromarray(rgba), "TIFF")
    put("lossy.webp", Image.fromarray(rgb), "WEBP", quality=70)
    put("lossless.webp", Image.fromarray(rgba), "WEBP", lossless=True)
    put("b.bmp", Image.fromarray(rgb), "BMP")
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
    elif kind == 1:  # flips in the header, where sizes and offsets live
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(min(len(buf), 64))
            buf[pos] ^= 1 << rng.randrange(8)
    elif kind == 2:  # truncation
        del buf[rng.randrange(1, len(buf)):]
    else:  # random bytes over a span
        pos = rng.randrange(len(buf))
        buf[pos:pos + 16] = bytes(rng.randrange(256) for _ in range(16))
    return bytes(buf)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF/EXIF complaints (silenced in the app)
def test_image_fuzz_raises_only_our_errors(tmp_path: Path) -> None:
    seeds = _seed_files()
    total = int(os.environ.get("MANGACOLOR_FUZZ_IMAGES", "150"))
    rng = random.Random(12)
    names = sorted(seeds)
    counts = {"loaded": 0, "refused": 0}
    for i in range(total):
        name = names[i % len(names)]
        path = tmp_path / f"f{i % 7}{Path(name).suffix}"
        path.write_bytes(_mutate(seeds[name], rng))
        try:
            page = load_image(path)
            assert page.rgb.dtype == np.float32 and page.rgb.ndim == 3
            counts["loaded"] += 1
        except MangaColorError as exc:
            assert str(path) in str(exc)
            counts["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"file {i} (from {name}) raised {type(exc).__name__}: {exc}")
    print(f"IMAGE FUZZ {total}: {counts}")
    assert counts["refused"] > total // 10, counts


# ----------------------------------------------------------------------------------------- bombs


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(path: Path, side: int) -> Path:
    """A 1-bit greyscale PNG of side x side black pixels, written without allocating the image."""
    row = b"\x00" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data)
                     + _png_chunk(b"IEND", b""))
    return path


def _webp_bomb(path: Path, side: int) -> Path:
    """A lossless WebP whose header announces side x side pixels (the data of a 16 x 16 image)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (255, 255, 255)).save(buf, "WEBP", lossless=True)
    data = bytearray(buf.getvalue())
    at = data.index(b"VP8L") + 9
    bits = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at, (bits & ~((1 << 28) - 1)) | (side - 1) | ((side - 1) << 14))
    path.write_bytes(bytes(data))
    return path


def _tiff_bomb(path: Path, side: int) -> Path:
    """A 1-bit group 4 TIFF of side x side white pixels."""
    Image.new("1", (side, side), 1).save(path, compression="group4")
    return path


# Peak RSS of this process's own memory: /proc/self/status VmHWM (per address space, so it starts afresh
# at exec). ru_maxrss is not: Linux carries it over from the forking parent, here the whole test run's
# pytest process, which can itself be past 2 GB by the time this test runs.
_PEAK_SCRIPT = """
import resource, sys
from mangacolor_app.cli import main
rc = main(sys.argv[1:])
try:
    with open("/proc/self/status") as fh:
        peak = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RC", rc, "PEAK_KB", peak)
"""


def _run_cli_peak(args: list[str], env_extra: dict[str, str] | None = None) -> tuple[int, int, str]:
    """Run the CLI in a fresh process; (exit status, peak RSS in KiB, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RC "))
    _, rc, _, peak = line.split()
    return int(rc), int(peak), proc.stderr


@pytest.mark.parametrize("kind", ["png", "webp", "tiff"])
def test_small_decompression_bombs_stay_under_2gb(tmp_path: Path, kind: str) -> None:
    """A bomb of at most 20 KB is refused by name and size; the process never passes 2 GB."""
    make = {"png": (_png_bomb, 12000, ".png"), "webp": (_webp_bomb, 15000, ".webp"),
            "tiff": (_tiff_bomb, 15000, ".tif")}[kind]
    bomb = make[0](tmp_path / f"bomb{make[2]}", make[1])
    assert bomb.stat().st_size <= 20 * 1024
    rc, peak_kb, err = _run_cli_peak(["colorize", str(bomb), "-o", str(tmp_path / "out.png"), "--flats-only"])
    assert rc == 1, err
    assert str(bomb) in err and f"{make[1]} x {make[1]}" in err and "Traceback" not in err
    assert peak_kb < TWO_GB_KB, f"peak {peak_kb / 1024:.0f} MB"
    assert not (tmp_path / "out.png").exists()


def test_decode_is_bounded_by_the_memory_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ordinary image whose decode needs more than the budget is refused before decoding."""
    rng = np.random.default_rng(1)
    path = tmp_path / "noise.png"
    Image.fromarray((rng.random((600, 800, 3)) * 255).astype(np.uint8)).save(path)
    assert load_image(path).rgb.shape == (600, 800, 3)
    monkeypatch.setenv(MAX_DECODE_ENV, "4")  # 4 MiB: a machine with nearly no memory left
    with pytest.raises(ImageTooLargeError, match=r"800 x 600 .* memory") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_budget_follows_the_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_DECODE_ENV, raising=False)
    available = available_memory()
    assert available is not None and available > 0
    budget = decode_budget()
    assert budget is not None and 0 < budget < available


# ------------------------------------------------------------------------------ transparent pages


def test_transparent_line_art_is_composited_over_paper(tmp_path: Path) -> None:
    """RGBA and palette line art storing transparency as black loads as ink on white paper."""
    ink = np.zeros((20, 30), bool)
    ink[5:8, :] = True
    rgba = np.zeros((20, 30, 4), np.uint8)  # black everywhere; alpha only on the ink
    rgba[..., 3] = np.where(ink, 255, 0)
    Image.fromarray(rgba).save(tmp_path / "layer.png")
    pal = Image.fromarray(np.where(ink, 1, 0).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 0, 0, 0])  # both entries black; entry 0 transparent
    pal.save(tmp_path / "pal.png", transparency=0)
    for name in ("layer.png", "pal.png"):
        rgb = page_on_paper(load_image(tmp_path / name))
        assert rgb[0, 0].tolist() == [1.0, 1.0, 1.0], name
        assert rgb[6, 10].tolist() == [0.0, 0.0, 0.0], name


def test_corrupt_tiff_is_one_line_on_stderr(tmp_path: Path) -> None:
    """libtiff's own warnings are not printed: the CLI says one line naming the file."""
    rng = np.random.default_rng(0)
    good = io.BytesIO()
    Image.fromarray((rng.random((64, 80)) * 255).astype(np.uint8)).save(good, "TIFF", compression="tiff_lzw")
    bad = tmp_path / "bad.tif"
    rng_flip = random.Random(1)
    for _ in range(200):  # the first damaged copy that libtiff cannot decode
        data = bytearray(good.getvalue())
        for _ in range(3):
            pos = rng_flip.randrange(len(data))
            data[pos] ^= 1 << rng_flip.randrange(8)
        bad.write_bytes(bytes(data))
        try:
            load_image(bad)
        except MangaColorError as exc:
            if "decoder error" in str(exc):
                break
    else:
        pytest.fail("no undecodable TIFF made")
    rc, _, err = _run_cli_peak(["colorize", str(bad), "-o", str(tmp_path / "o.png"), "--flats-only"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 1 and len(lines) == 1 and str(bad) in lines[0], err
