"""Tests for mangacolor_app.core.export: flat formats and the layered PSD."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import BlendMode, Resource

from mangacolor_app.core.errors import ImageSaveError
from mangacolor_app.core.export import ExportLayers, composite_layers, export_flats_png, export_page
from mangacolor_app.core.imageio import load_image, load_rgba

H, W = 96, 72
ONE_LSB = 1.0 / 255.0 + 1e-6


def _page(*, flats: bool = True, hints: bool = True, dpi: tuple[float, float] | None = (350.0, 350.0)) -> ExportLayers:
    """A generated page: smooth colour, black frame and strokes with grey anti-aliasing, flats, hints."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    color = np.stack([xx / (W - 1), yy / (H - 1), 0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 5.0)], axis=-1)
    ink = np.ones((H, W), np.float32)
    ink[:, :3] = ink[:, -3:] = ink[:3, :] = ink[-3:, :] = 0.0
    ink[40:43, 10:60] = 0.0
    ink[43, 10:60] = 0.5  # anti-aliased edge
    ink[10:80, 30] = 0.25
    flats_arr = hints_arr = None
    if flats:
        flats_arr = np.zeros((H, W, 4), np.float32)
        flats_arr[3:40, 3:-3] = (0.9, 0.3, 0.2, 1.0)
        flats_arr[44:-3, 3:-3] = (0.2, 0.5, 0.9, 1.0)
    if hints:
        hints_arr = np.zeros((H, W, 4), np.float32)
        hints_arr[10:14, 10:14] = (1.0, 0.0, 0.0, 1.0)
        hints_arr[60:64, 20:24] = (0.0, 0.0, 1.0, 1.0)
    return ExportLayers(ink=ink, color=color.astype(np.float32), flats=flats_arr, hints=hints_arr, dpi=dpi)


def _compose_visible(psd: PSDImage) -> np.ndarray:
    """Compose the visible layers ourselves: white paper, Normal = alpha over, Multiply = product."""
    out = np.ones((psd.height, psd.width, 3), np.float64)
    for layer in psd:
        if not layer.visible:
            continue
        assert (layer.left, layer.top, layer.width, layer.height) == (0, 0, psd.width, psd.height)
        arr = layer.numpy().astype(np.float64)
        rgb = arr[..., :3]
        alpha = arr[..., 3:4] if arr.shape[2] == 4 else np.ones_like(arr[..., :1])
        if layer.blend_mode == BlendMode.MULTIPLY:
            out = out * (1 - alpha) + out * rgb * alpha
        else:
            assert layer.blend_mode == BlendMode.NORMAL
            out = out * (1 - alpha) + rgb * alpha
    return out


def _png_rgb(path: Path) -> np.ndarray:
    return load_image(path).rgb.astype(np.float64)


def _dpi(psd: PSDImage) -> tuple[float, float]:
    info = psd.image_resources.get_data(Resource.RESOLUTION_INFO)
    return info.horizontal / 65536, info.vertical / 65536


def test_psd_layers_order_modes_dpi_and_composite(tmp_path: Path) -> None:
    layers = _page()
    psd_path = export_page(tmp_path / "page.psd", layers)
    png_path = export_page(tmp_path / "page.png", layers)
    psd = PSDImage.open(psd_path)
    assert (psd.width, psd.height, psd.depth) == (W, H, 8)
    assert [layer.name for layer in psd] == ["Flats", "Color", "Ink", "Hints"]
    assert [layer.visible for layer in psd] == [True, True, True, False]
    assert psd[2].blend_mode == BlendMode.MULTIPLY
    assert all(layer.blend_mode == BlendMode.NORMAL for layer in (psd[0], psd[1], psd[3]))
    assert _dpi(psd) == (350.0, 350.0)
    png = _png_rgb(png_path)
    assert np.abs(_compose_visible(psd) - png).max() <= ONE_LSB
    # the stored merged image (what viewers and thumbnails show) is the same composite
    assert np.abs(psd.numpy()[..., :3] - png).max() <= ONE_LSB
    # psd-tools' own compositor agrees (it rounds its intermediate steps: allow 2 LSB)
    rendered = np.asarray(psd.composite(force=True).convert("RGB"), np.float64) / 255.0
    assert np.abs(rendered - png).max() <= 2 * ONE_LSB
    # an independent reader (Pillow's PSD plugin) sees the same layers and merged image
    with Image.open(psd_path) as im:
        assert im.format == "PSD" and im.size == (W, H)
        assert [layer[0] for layer in im.layers] == ["Flats", "Color", "Ink", "Hints"]
        merged = np.asarray(im.convert("RGB"), np.float64) / 255.0
    assert np.abs(merged - png).max() <= ONE_LSB


def test_psd_layer_contents_kept(tmp_path: Path) -> None:
    layers = _page()
    psd = PSDImage.open(export_page(tmp_path / "page.psd", layers))
    flats, color, ink, hints = list(psd)
    assert np.abs(hints.numpy() - layers.hints).max() <= ONE_LSB
    assert np.abs(flats.numpy() - layers.flats).max() <= ONE_LSB
    assert np.abs(color.numpy()[..., :3] - layers.color).max() <= ONE_LSB
    assert np.abs(ink.numpy()[..., 0] - layers.ink).max() <= ONE_LSB


def test_psd_without_flats_and_hints(tmp_path: Path) -> None:
    psd = PSDImage.open(export_page(tmp_path / "p.psd", _page(flats=False, hints=False, dpi=None)))
    assert [layer.name for layer in psd] == ["Color", "Ink"]
    psd2 = PSDImage.open(export_page(tmp_path / "q.psd", _page(flats=False)))
    assert [layer.name for layer in psd2] == ["Color", "Ink", "Hints"]


def test_psd_without_preserve_ink_hides_ink(tmp_path: Path) -> None:
    layers = _page()
    psd = PSDImage.open(export_page(tmp_path / "p.psd", layers, preserve_ink=False))
    png = _png_rgb(export_page(tmp_path / "p.png", layers, preserve_ink=False))
    assert psd[2].name == "Ink" and not psd[2].visible
    assert np.abs(_compose_visible(psd) - png).max() <= ONE_LSB
    assert np.abs(png - layers.color).max() <= ONE_LSB


def test_psd_16bit(tmp_path: Path) -> None:
    layers = _page()
    psd = PSDImage.open(export_page(tmp_path / "p.psd", layers, bit_depth=16))
    assert psd.depth == 16
    assert psd[1].name == "Color" and np.abs(psd[1].numpy()[..., :3] - layers.color).max() < 2e-5
    expected = composite_layers(layers)
    assert np.abs(_compose_visible(psd) - expected).max() < 1e-4
    assert np.abs(psd.numpy()[..., :3] - expected).max() < 1e-4


def test_png_16bit_round_trip(tmp_path: Path) -> None:
    layers = _page()
    path = export_page(tmp_path / "deep.png", layers, bit_depth=16)
    page = load_image(path)
    assert page.bit_depth == 16
    assert np.abs(page.rgb - composite_layers(layers)).max() < 2e-5  # finer than 8-bit's 1/255
    assert page.dpi is not None and page.dpi == pytest.approx((350.0, 350.0), abs=0.1)
    with Image.open(path) as im:
        assert im.format == "PNG"


def test_png_8bit_matches_composite_and_ink_is_multiplied(tmp_path: Path) -> None:
    layers = _page()
    rgb = _png_rgb(export_page(tmp_path / "p.png", layers))
    assert np.abs(rgb - layers.color * layers.ink[..., None]).max() <= ONE_LSB
    assert rgb[0, 0].max() == 0.0  # black frame stays black


@pytest.mark.parametrize("ext", ["jpg", "webp"])
def test_lossy_quality_changes_size(tmp_path: Path, ext: str) -> None:
    layers = _page()
    rng = np.random.default_rng(1)
    layers.color = np.clip(layers.color + rng.normal(0, 0.05, layers.color.shape), 0, 1).astype(np.float32)
    low = export_page(tmp_path / f"low.{ext}", layers, quality=30)
    high = export_page(tmp_path / f"high.{ext}", layers, quality=95)
    assert low.stat().st_size < high.stat().st_size
    assert np.abs(_png_rgb(high) - composite_layers(layers)).mean() < 0.06  # noisy page, 4:2:0 WebP


def test_tiff_8_and_16_bit(tmp_path: Path) -> None:
    layers = _page()
    expected = composite_layers(layers)
    for depth, tol in ((8, ONE_LSB), (16, 2e-5)):
        path = export_page(tmp_path / f"p{depth}.tif", layers, bit_depth=depth)
        page = load_image(path)
        assert page.bit_depth == depth
        assert np.abs(page.rgb - expected).max() <= tol
        with Image.open(path) as im:
            assert im.format == "TIFF"


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = export_page(tmp_path / "page.out", _page(), format="PNG")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    psd = export_page(tmp_path / "layers.bin", _page(), format="psd")
    assert psd.read_bytes()[:4] == b"8BPS"


def test_errors_name_the_file(tmp_path: Path) -> None:
    layers = _page()
    with pytest.raises(ImageSaveError, match="page.gif"):
        export_page(tmp_path / "page.gif", layers)
    with pytest.raises(ImageSaveError, match="16-bit JPEG"):
        export_page(tmp_path / "page.jpg", layers, bit_depth=16)
    with pytest.raises(ImageSaveError, match="quality"):
        export_page(tmp_path / "page.jpg", layers, quality=0)
    with pytest.raises(ImageSaveError, match="missing"):
        export_page(tmp_path / "missing" / "page.psd", layers)
    bad = ExportLayers(ink=np.ones((H, W + 1), np.float32), color=layers.color)
    with pytest.raises(ImageSaveError, match="ink layer"):
        export_page(tmp_path / "bad.psd", bad)


def test_failed_export_leaves_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "page.psd"
    path.write_bytes(b"old")
    bad = ExportLayers(ink=np.ones((H, W), np.float32), color=np.ones((H, W, 4), np.float32))
    with pytest.raises(ImageSaveError):
        export_page(path, bad)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.psd"]


def test_export_flats_png(tmp_path: Path) -> None:
    layers = _page()
    assert layers.flats is not None
    rgba = load_rgba(export_flats_png(tmp_path / "flats.png", layers.flats, None))
    assert np.abs(rgba - layers.flats).max() <= ONE_LSB
    rgb = _png_rgb(export_flats_png(tmp_path / "flats_ink.png", layers.flats, layers.ink, dpi=(300.0, 300.0)))
    paper = layers.flats[..., :3] * layers.flats[..., 3:] + (1 - layers.flats[..., 3:])
    assert np.abs(rgb - paper * layers.ink[..., None]).max() <= ONE_LSB
    with pytest.raises(ImageSaveError, match="flats"):
        export_flats_png(tmp_path / "x.png", layers.color, None)


def test_psd_fallback_to_psd_tools_save(tmp_path: Path) -> None:
    from mangacolor_app.core import psd_export  # noqa: PLC0415

    layers = _page()
    psd, merged = psd_export.build_psd(layers, 8, True)

    class NoRecord:
        """Hides psd-tools' low-level record, as a future psd-tools might."""

        def save(self, fp: Path) -> None:
            psd.save(fp)

    psd_export.write_psd_file(NoRecord(), merged, tmp_path / "f.psd")
    reopened = PSDImage.open(tmp_path / "f.psd")
    assert [layer.name for layer in reopened] == ["Flats", "Color", "Ink", "Hints"]
    assert np.abs(reopened.numpy()[..., :3] - composite_layers(layers)).max() <= 2 * ONE_LSB


@pytest.mark.parametrize(("suffix", "bit_depth"), [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16),
                                                  (".jpg", 8), (".webp", 8), (".psd", 8), (".psd", 16)])
def test_exports_embed_the_srgb_profile(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    """Every format that can carry an ICC profile gets sRGB (Krita reads a profile-less 16-bit PSD as linear)."""
    from mangacolor_app.core.icc import srgb_icc

    layers = _page()
    path = export_page(tmp_path / f"page{suffix}", layers, bit_depth=bit_depth)
    if suffix == ".psd":
        psd = PSDImage.open(path)
        assert psd.image_resources.get_data(Resource.ICC_PROFILE) == srgb_icc()
        assert psd.depth == bit_depth
        assert np.abs(psd.numpy()[..., :3] - composite_layers(layers)).max() <= ONE_LSB
        return
    with Image.open(path) as im:
        assert im.info.get("icc_profile") == srgb_icc()
    if suffix in (".png", ".tif"):  # lossless: the pixels are untouched by the added profile
        stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float64) / (2 ** bit_depth - 1)
        assert np.abs(stored - composite_layers(layers)).max() <= 1.0 / (2 ** bit_depth - 1)
        assert load_image(path).dpi == pytest.approx((350.0, 350.0), abs=0.01)


def test_srgb_profile_is_the_same_in_every_process() -> None:
    """LittleCMS stamps the current time into a new profile; ours is fixed so exports are reproducible."""
    import subprocess
    import sys

    from mangacolor_app.core.icc import srgb_icc

    code = "from mangacolor_app.core.icc import srgb_icc; print(srgb_icc().hex())"
    root = str(Path(__file__).resolve().parent.parent)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                           timeout=60).stdout.strip()
    assert other == srgb_icc().hex()


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_psd_layers_stored_without_float_copies_are_psd_tools_bytes(tmp_path: Path, bit_depth: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The PSD layers stored plane by plane from integers (no page-sized float32 copy) are the very bytes
    psd-tools' public ``create_pixel_layer_from_array`` writes for the same layers."""
    from mangacolor_app.core import psd_export

    rng = np.random.default_rng(7)
    h, w = 37, 53
    flats = np.zeros((h, w, 4), np.float32)
    flats[5:20, 4:30] = (0.8, 0.2, 0.4, 1.0)
    hints = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    layers = ExportLayers(ink=rng.random((h, w), dtype=np.float32), color=rng.integers(0, 65536, (h, w, 3), dtype=np.uint16),
                          flats=flats, hints=hints, dpi=(300.0, 300.0))
    from psd_tools.api.layers import PixelLayer

    calls: list[str] = []
    original = PixelLayer.fromarray.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(PixelLayer, "fromarray", classmethod(lambda cls, *a, **k: calls.append("f") or original(cls, *a, **k)))
    fast = export_page(tmp_path / "fast.psd", layers, bit_depth=bit_depth)
    assert calls == []  # no layer went through psd-tools' float32 conversion

    def public_path(psd, array, name, **kwargs):  # type: ignore[no-untyped-def]
        full = np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array
        return psd.create_pixel_layer_from_array(full, name=name, **kwargs)  # float32 per layer

    monkeypatch.setattr(psd_export, "_add_layer", public_path)
    public = export_page(tmp_path / "public.psd", layers, bit_depth=bit_depth)
    assert len(calls) == 4  # Flats, Color, Ink, Hints through the public path
    assert fast.read_bytes() == public.read_bytes()
