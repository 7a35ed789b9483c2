"""Generator, discriminator, losses, colour bins and configuration (fast, torch on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.config import ConfigError, config_from_dict, config_to_dict, load_config
from training.models.colorbins import ColorHead, ab_bin_centers, lab_to_rgb, rebalance_weights, rgb_to_lab, soft_encode
from training.models.losses import adversarial_loss, l1_loss, rebalanced_ce
from training.models.patchgan import PatchDiscriminator
from training.models.unet import GeneratorConfig, UNetGenerator, count_flops_per_mp

torch.set_num_threads(2)


def _randomize(g: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """He-initialise every conv so all paths carry signal (a fresh residual head is near zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            if p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / p[0].numel()) ** 0.5)
    return g.eval()


def test_default_generator_budget_and_shapes() -> None:
    cfg = load_config("default")
    g = UNetGenerator(cfg.model).eval()
    assert g.in_channels == 9 and g.size_multiple == 8
    gflop = count_flops_per_mp(g, g.in_channels)
    assert 10 <= gflop <= 55, gflop  # the CPU budget: preview <= 300 ms at 1 MP, A4 <= 4 s (benchmarks/)
    with torch.no_grad():
        out = g(torch.rand(2, 9, 48, 64))
    assert out.shape == (2, 3, 48, 64) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    banned = (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d, torch.nn.GroupNorm)
    assert not any(isinstance(m, banned) for m in g.modules())


def test_residual_start_reproduces_flats_base() -> None:
    g = UNetGenerator(GeneratorConfig(widths=(8, 16))).eval()
    x = torch.rand(1, 9, 32, 32)
    x[:, 8:9] = (x[:, 8:9] > 0.5).float()  # flats mask
    x[:, 5:8] *= x[:, 8:9]  # premultiplied flats colour
    with torch.no_grad():
        assert torch.allclose(g(x), g.base_image(x), atol=0.02)


def test_generator_is_tile_safe_and_bounded() -> None:
    """A crop's output equals the whole image's output away from the crop border (no spatial norms)."""
    g = _randomize(UNetGenerator(GeneratorConfig()))
    x = torch.rand(1, 9, 192, 192)
    with torch.no_grad():
        whole = g(x)
        crop = g(x[:, :, 32:160, 40:168])
    margin = 40
    inner = (slice(None), slice(None), slice(margin, 128 - margin), slice(margin, 128 - margin))
    assert float((crop[inner] - whole[:, :, 32:160, 40:168][inner]).abs().max()) < 1e-5


def test_space_to_depth_generator_shapes_base_and_tile_safety() -> None:
    """Pixel-unshuffled variant: size multiple s * 2^downs, full-resolution output, the untrained head
    reproduces the base at full resolution, and crops equal the whole image away from their border."""
    cfg = GeneratorConfig(widths=(16, 24), space_to_depth=4)
    g = UNetGenerator(cfg).eval()
    assert g.size_multiple == 8 and g.stem[0][0].in_channels == 9 * 16 and g.head.out_channels == 48
    x = torch.rand(1, 9, 48, 64)
    x[:, 8:9] = (x[:, 8:9] > 0.5).float()
    x[:, 5:8] *= x[:, 8:9]
    with torch.no_grad():
        out = g(x)
        assert out.shape == (1, 3, 48, 64)
        assert torch.allclose(out, g.base_image(x), atol=0.02)
    g = _randomize(UNetGenerator(cfg))
    x = torch.rand(1, 9, 160, 160)
    with torch.no_grad():
        whole, crop = g(x), g(x[:, :, 32:128, 40:136])  # crop origin on the size multiple
    inner = (slice(None), slice(None), slice(32, 64), slice(32, 64))
    assert float((crop[inner] - whole[:, :, 32:128, 40:136][inner]).abs().max()) < 1e-5
    with pytest.raises(ValueError):
        UNetGenerator(GeneratorConfig(widths=(8, 16), space_to_depth=0))
    with pytest.raises(ValueError):
        UNetGenerator(GeneratorConfig(widths=(8, 16), space_to_depth=2, color_bins=10))


def test_unknown_norm_and_skip_rejected() -> None:
    with pytest.raises(ValueError):
        UNetGenerator(GeneratorConfig(widths=(8, 16), norm="instance"))
    with pytest.raises(ValueError):
        UNetGenerator(GeneratorConfig(widths=(8, 16), skip="sum"))


def test_pixel_norm_variant_runs() -> None:
    g = UNetGenerator(GeneratorConfig(widths=(8, 16, 32), norm="pixel", skip="concat", bottleneck_blocks=1))
    assert g(torch.rand(1, 9, 32, 32)).shape == (1, 3, 32, 32)


def test_patchgan_shape() -> None:
    d = PatchDiscriminator(9, ndf=8, n_layers=3)
    assert d(torch.rand(2, 9, 64, 64), torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)


def test_losses() -> None:
    s = torch.zeros(2, 1, 4, 4)
    assert float(adversarial_loss(s, True, "lsgan")) == pytest.approx(1.0)
    assert float(adversarial_loss(s, False, "bce")) == pytest.approx(np.log(2), rel=1e-5)
    with pytest.raises(ValueError):
        adversarial_loss(s, True, "wgan")
    a = torch.rand(1, 3, 8, 8)
    assert float(l1_loss(a, a)) == 0.0


def test_lab_roundtrip_and_bins() -> None:
    rgb = torch.rand(2, 3, 16, 16)
    assert float((lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max()) < 1e-3
    from mangacolor_app.core.color import rgb_to_lab as np_lab

    ref = np_lab(rgb[0].permute(1, 2, 0).numpy())
    assert np.abs(rgb_to_lab(rgb)[0].permute(1, 2, 0).numpy() - ref).max() < 0.05
    centers = ab_bin_centers(10)
    assert 200 <= centers.shape[0] <= 330
    ab = rgb_to_lab(rgb)[:, 1:]
    enc = soft_encode(ab, centers)
    assert enc.shape == (2, centers.shape[0], 16, 16)
    assert torch.allclose(enc.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    prior = torch.rand(centers.shape[0])
    w = rebalance_weights(prior)
    assert float((prior / prior.sum() * w).sum()) == pytest.approx(1.0, rel=1e-4)
    assert float(rebalanced_ce(torch.zeros_like(enc), enc, w)) > 0


def test_color_head_decoding() -> None:
    head = ColorHead(8, grid=10)
    feat = torch.rand(1, 8, 8, 8)
    with torch.no_grad():
        out = head.decode(torch.rand(1, 3, 16, 16), head(feat))
    assert out.shape == (1, 3, 16, 16) and float(out.min()) >= 0 and float(out.max()) <= 1
    g = UNetGenerator(GeneratorConfig(widths=(8, 16, 32), color_bins=10))
    rgb, logits = g(torch.rand(1, 9, 32, 32), return_logits=True)
    assert logits is not None and logits.shape[1] == g.color_head.num_bins and logits.shape[2:] == (16, 16)
    assert g(torch.rand(1, 9, 32, 32)).shape == (1, 3, 32, 32)


def test_config_roundtrip_and_errors(tmp_path: Path) -> None:
    cfg = load_config("tiny")
    again = config_from_dict(config_to_dict(cfg))
    assert again.model == cfg.model and again.train == cfg.train
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nwidthz = [8, 16]\n")
    with pytest.raises(ConfigError, match="widthz"):
        load_config(bad)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")
    bad.write_text("[data]\nsize = 100\n")
    with pytest.raises(ConfigError, match="multiple"):
        load_config(bad)
