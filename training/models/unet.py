"""Light U-Net generator (pix2pix family) with a bounded receptive field and residual colour prediction.

Input: ``(N, C, H, W)`` float32 in [0, 1], channels in the order of the manifest ``channels`` tokens
(``line`` 1, ``hint_rgb`` 3, ``hint_mask`` 1, ``hint_blur_rgb`` 3, ``hint_blur_conf`` 1, ``flats_rgb`` 3,
``flats_mask`` 1). ``H`` and ``W`` must be multiples of
``size_multiple = space_to_depth * 2 ** len(widths[1:])``.
Output: ``(N, 3, H, W)`` float32 RGB in (0, 1).

CPU efficiency: with ``space_to_depth = s > 1`` the input is pixel-unshuffled (each s x s block becomes
``s * s * C`` channels at 1/s resolution), every convolution runs at 1/s resolution or lower with wide
channel counts, and the head predicts ``3 * s * s`` channels that are pixel-shuffled back, so no
convolution runs on thin full-resolution feature maps (which reach far less of the CPU's matrix-product
rate than 64+-channel maps; ``benchmarks/tiling.py``). Nothing is lost: pixel-unshuffle is a bijection.

Tile safety: there is no global pooling, attention or spatial normalisation (no BatchNorm, InstanceNorm
or GroupNorm, whose statistics span the tile); the only optional norm is per pixel across channels, so a
tile's output equals the whole page's output away from the tile's borders.

Residual prediction: the network predicts a logit offset over a *base* image built from the inputs
(the flats colour where flats exist, else the blurred-hint colour, else the grey line),
``output = clamp(base + delta, 0, 1)`` (unclamped while training, so no gradient vanishes on white
paper or black ink); an untrained head (delta ~ 0) already reproduces the base.
The app multiplies the line art over the output (``preserve_ink``); training composes the same way
(:meth:`UNetGenerator.compose_ink`) before its losses when ``loss.ink_multiply`` is on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mangacolor_app.core.model_inputs import token_slices

__all__ = ["GeneratorConfig", "UNetGenerator", "token_slices", "PixelNorm", "count_flops_per_mp"]

logger = logging.getLogger(__name__)


@dataclass
class GeneratorConfig:
    """Generator hyper-parameters.

    Attributes:
        channels: manifest input tokens.
        widths: feature widths per level (level 0 = full resolution); ``len(widths) - 1`` downsamplings.
        bottleneck_blocks: residual blocks at the coarsest level.
        norm: ``"none"`` or ``"pixel"`` (per-pixel channel normalisation; tile-safe).
        residual: predict a logit offset over the flats/hint base instead of the colour itself.
        color_bins: 0, or the grid step (Lab ab units) of the optional colour-classification head.
        skip: ``"add"`` (cheaper) or ``"concat"`` (pix2pix) skip connections.
        space_to_depth: 1, or the pixel-unshuffle factor applied before the first convolution (see the
            module docstring); ``widths[0]`` is then the width at ``1 / space_to_depth`` resolution.
    """

    channels: tuple[str, ...] = ("line", "hint_rgb", "hint_mask", "flats_rgb", "flats_mask")
    widths: tuple[int, ...] = (16, 32, 48, 96)
    bottleneck_blocks: int = 0
    norm: str = "none"
    residual: bool = True
    color_bins: int = 0
    skip: str = "add"
    space_to_depth: int = 1

    @property
    def size_multiple(self) -> int:
        """Input sizes must be multiples of this (``space_to_depth * 2 ** downsamplings``)."""
        return self.space_to_depth * 2 ** (len(self.widths) - 1)


class PixelNorm(nn.Module):
    """Per-pixel layer norm across channels: ``(N, C, H, W) -> (N, C, H, W)``; no spatial statistics."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, ch, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each pixel's channel vector to zero mean, unit variance, then scale and shift."""
        mu = x.mean(dim=1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)
        return (x - mu) * torch.rsqrt(var + 1e-5) * self.weight + self.bias


def _conv(cin: int, cout: int, norm: str, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (+ optional per-pixel norm) + LeakyReLU(0.1)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1)]
    if norm == "pixel":
        layers.append(PixelNorm(cout))
    elif norm != "none":
        raise ValueError(f"generator norm must be 'none' or 'pixel' (tile-safe), got {norm!r}")
    layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


class _ResBlock(nn.Module):
    """Two 3x3 convolutions with an identity skip: ``(N, C, h, w) -> (N, C, h, w)``."""

    def __init__(self, ch: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch, norm), nn.Conv2d(ch, ch, 3, padding=1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x + body(x)``."""
        return x + self.body(x)


class _Up(nn.Module):
    """2x transposed-conv upsample, merge the skip (add, or concatenate), fuse with a 3x3 conv."""

    def __init__(self, cin: int, cskip: int, norm: str, concat: bool) -> None:
        super().__init__()
        self.concat = concat
        self.up = nn.ConvTranspose2d(cin, cskip, 2, stride=2)
        self.fuse = _conv(2 * cskip if concat else cskip, cskip, norm)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """``(N, cin, h, w), (N, cskip, 2h, 2w) -> (N, cskip, 2h, 2w)``."""
        up = self.up(x)
        return self.fuse(torch.cat([up, skip], dim=1) if self.concat else up + skip)


class UNetGenerator(nn.Module):
    """U-Net colouriser; see the module docstring for the tensor contract.

    Args:
        cfg: the generator configuration.

    Raises:
        ValueError: unknown norm or skip mode, fewer than two levels, a space-to-depth factor below 1
            or combined with the colour head.
        ModelError: unknown channel token.
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        if len(cfg.widths) < 2:
            raise ValueError("the generator needs at least two levels (one downsampling)")
        if cfg.skip not in ("add", "concat"):
            raise ValueError(f"generator skip must be 'add' or 'concat', got {cfg.skip!r}")
        if cfg.space_to_depth < 1 or (cfg.space_to_depth > 1 and cfg.color_bins):
            raise ValueError(f"space_to_depth must be >= 1 and 1 with color_bins, got {cfg.space_to_depth}")
        self.cfg = cfg
        self.slices = token_slices(cfg.channels)
        self.in_channels = sum(s.stop - s.start for s in self.slices.values())
        w, norm, s2d = cfg.widths, cfg.norm, cfg.space_to_depth
        self.stem = nn.Sequential(_conv(self.in_channels * s2d * s2d, w[0], norm), _conv(w[0], w[0], norm))
        self.downs = nn.ModuleList(
            nn.Sequential(_conv(w[i - 1], w[i], norm, stride=2), _conv(w[i], w[i], norm)) for i in range(1, len(w))
        )
        self.bottleneck = nn.Sequential(*(_ResBlock(w[-1], norm) for _ in range(cfg.bottleneck_blocks)))
        concat = cfg.skip == "concat"
        self.ups = nn.ModuleList(_Up(w[i], w[i - 1], norm, concat) for i in range(len(w) - 1, 0, -1))
        self.head = nn.Conv2d(w[0], 3 * s2d * s2d, 3, padding=1)
        self.color_head: nn.Module | None = None
        if cfg.color_bins:
            from .colorbins import ColorHead

            self.color_head = ColorHead(w[1], grid=cfg.color_bins)
        if cfg.residual:
            nn.init.normal_(self.head.weight, std=1e-3)
            nn.init.zeros_(self.head.bias)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.cfg.size_multiple

    def base_image(self, x: Tensor) -> Tensor:
        """The colour the residual is predicted over: ``(N, C, H, W) -> (N, 3, H, W)`` in [0, 1].

        The flats colour where ``flats_mask`` is set, else the blurred hint colour weighted by its
        confidence, else the grey line. Flats are *not* multiplied by the line art: the app multiplies
        the line over the model's output (``preserve_ink``), and training does the same before its losses.
        """
        s = self.slices
        line = x[:, s["line"]] if "line" in s else torch.ones_like(x[:, :1])
        base = line.expand(-1, 3, -1, -1)
        if "hint_blur_rgb" in s and "hint_blur_conf" in s:
            conf = x[:, s["hint_blur_conf"]]
            base = conf * x[:, s["hint_blur_rgb"]] + (1 - conf) * base
        if "flats_rgb" in s and "flats_mask" in s:
            m = x[:, s["flats_mask"]]  # flats_rgb is premultiplied by the mask (core.model_inputs)
            base = x[:, s["flats_rgb"]] + (1 - m) * base
        return base

    def compose_ink(self, x: Tensor, rgb: Tensor) -> Tensor:
        """What the app shows with ``preserve_ink``: ``rgb`` ``(N, 3, H, W)`` times the line luma of ``x``."""
        return rgb * x[:, self.slices["line"]] if "line" in self.slices else rgb

    def features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Decoder features at the first two levels: ``(N, w0, H/s, W/s)``, ``(N, w1, H/2s, W/2s)``
        (``s = space_to_depth``)."""
        if self.cfg.space_to_depth > 1:
            x = nn.functional.pixel_unshuffle(x, self.cfg.space_to_depth)
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips.pop())
        outs = [y]
        for up in self.ups:
            y = up(y, skips.pop())
            outs.append(y)
        return y, outs[-2]

    def forward_logits(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Regression output and (when the colour head is on) its ab-bin logits.

        Returns:
            ``rgb`` (N, 3, H, W) in [0, 1] (residual models in training mode: not yet clamped) and
            ``logits`` (N, Q, H/2, W/2) or None.
        """
        feat, half = self.features(x)
        delta = self.head(feat)
        if self.cfg.space_to_depth > 1:
            delta = nn.functional.pixel_shuffle(delta, self.cfg.space_to_depth)
        if self.cfg.residual:
            rgb = self.base_image(x) + delta
            if not self.training:  # training keeps the unclamped value so that gradients never vanish
                rgb = rgb.clamp(0.0, 1.0)
        else:
            rgb = torch.sigmoid(delta)
        logits = self.color_head(half) if self.color_head is not None else None
        return rgb, logits

    def forward(self, x: Tensor, return_logits: bool = False) -> Tensor | tuple[Tensor, Tensor | None]:
        """``(N, C, H, W)`` float32 [0, 1] -> ``(N, 3, H, W)`` float32 RGB (0, 1).

        With the colour head on, chroma comes from the annealed-mean decoding of the ab-bin logits and
        lightness from the regression output (all ONNX-exportable ops). ``return_logits=True`` (training)
        returns :meth:`forward_logits`'s ``(rgb, logits)`` instead, through ``forward`` so that
        DistributedDataParallel sees the call.
        """
        rgb, logits = self.forward_logits(x)
        if return_logits:
            return rgb, logits
        if logits is None or self.color_head is None:
            return rgb
        return self.color_head.decode(rgb, logits)


def count_flops_per_mp(model: nn.Module, in_channels: int, size: int = 256) -> float:
    """Multiply-adds x 2 of convolutions, in GFLOP per megapixel, measured on a ``size`` x ``size`` input.

    Args:
        model: any module taking ``(1, in_channels, size, size)``.
        in_channels: input channel count.
        size: probe side in pixels (a multiple of the model's size multiple).
    """
    total = 0

    def hook(mod: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        area = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, nn.ConvTranspose2d):
            total += _inp[0].numel() * mod.out_channels * area // mod.groups
        elif isinstance(mod, nn.Conv2d):
            total += out.numel() * area * mod.in_channels // mod.groups

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, size, size))
    finally:
        for h in handles:
            h.remove()
    return 2.0 * total / (size * size) / 1e9 * 1e6
