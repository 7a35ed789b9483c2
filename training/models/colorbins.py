"""Quantised ab colour bins (Zhang et al., "Colorful Image Colorization", 2016) for the optional
colour-classification head: in-gamut ab grid, soft encoding, class rebalancing, annealed-mean decoding.

Conventions: RGB tensors are ``(N, 3, H, W)`` float32 sRGB in [0, 1]; Lab tensors ``(N, 3, H, W)`` with
L in [0, 100] and a, b roughly in [-110, 110] (D65). Every op used by :meth:`ColorHead.decode` exports
to ONNX (softmax, matmul via 1x1 conv, pow, where).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "rgb_to_lab",
    "lab_to_rgb",
    "ab_bin_centers",
    "soft_encode",
    "rebalance_weights",
    "ColorHead",
]

_M_RGB2XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_DELTA = 6.0 / 29.0


def _mix(x: Tensor, m: Tensor) -> Tensor:
    """Apply a 3x3 matrix over the channel axis of ``(N, 3, H, W)``."""
    return torch.einsum("ij,njhw->nihw", m.to(x), x)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB ``(N, 3, H, W)`` in [0, 1] -> CIE Lab (D65), differentiable."""
    rgb = rgb.clamp(0.0, 1.0)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(1e-8) ** 2.4, rgb / 12.92)
    xyz = _mix(lin, _M_RGB2XYZ) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(1e-8) ** (1.0 / 3.0), xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIE Lab (D65) ``(N, 3, H, W)`` -> sRGB in [0, 1] (clamped), differentiable and ONNX-exportable."""
    fy = (lab[:, 0:1] + 16.0) / 116.0
    f = torch.cat([fy + lab[:, 1:2] / 500.0, fy, fy - lab[:, 2:3] / 200.0], dim=1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0)) * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = _mix(xyz, torch.linalg.inv(_M_RGB2XYZ)).clamp(0.0, 1.0)
    srgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-8) ** (1.0 / 2.4) - 0.055, 12.92 * lin)
    return srgb.clamp(0.0, 1.0)


def ab_bin_centers(grid: int = 10, samples: int = 24) -> Tensor:
    """Centres ``(Q, 2)`` of the ``grid``-spaced ab bins reachable by some sRGB colour.

    With ``grid=10`` this gives about 300 bins (Zhang et al. use 313). Deterministic.

    Args:
        grid: bin spacing in ab units.
        samples: sRGB cube samples per axis used to find the in-gamut bins.
    """
    v = torch.linspace(0.0, 1.0, samples)
    cube = torch.stack(torch.meshgrid(v, v, v, indexing="ij"), dim=0).reshape(1, 3, -1, 1)
    ab = rgb_to_lab(cube)[0, 1:, :, 0].T
    idx = torch.unique(torch.round(ab / grid).to(torch.int64), dim=0)
    return idx.to(torch.float32) * grid


def soft_encode(ab: Tensor, centers: Tensor, k: int = 5, sigma: float = 5.0) -> Tensor:
    """Soft one-hot of ab values over the ``k`` nearest bins with Gaussian weights.

    Args:
        ab: ``(N, 2, h, w)`` ab values.
        centers: ``(Q, 2)`` bin centres.
        k: neighbours per pixel.
        sigma: Gaussian width in ab units.

    Returns:
        ``(N, Q, h, w)`` float32, summing to 1 over Q.
    """
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, centers.to(ab)).pow(2)
    near, idx = d2.topk(k, dim=1, largest=False)
    wts = torch.softmax(-near / (2 * sigma**2), dim=1)
    out = torch.zeros(flat.shape[0], centers.shape[0], device=ab.device, dtype=ab.dtype)
    out.scatter_(1, idx, wts)
    return out.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def rebalance_weights(prior: Tensor, lam: float = 0.5, sigma_bins: float = 0.0) -> Tensor:
    """Class-rebalancing weights ``w ~ ((1 - lam) p + lam / Q) ** -1``, normalised so ``E_p[w] = 1``.

    Args:
        prior: ``(Q,)`` empirical bin frequencies (any non-negative scale).
        lam: mixing with the uniform distribution (Zhang et al.: 0.5).
        sigma_bins: unused smoothing hook kept at 0 (priors here come from soft encodings, already smooth).
    """
    p = prior.clamp_min(0)
    p = p / p.sum().clamp_min(1e-12)
    w = 1.0 / ((1 - lam) * p + lam / p.numel())
    return w / (p * w).sum().clamp_min(1e-12)


class ColorHead(nn.Module):
    """ab-bin classification head with annealed-mean decoding.

    Args:
        in_channels: feature channels at half resolution.
        grid: ab bin spacing.
        temperature: annealing temperature T (0.38 in Zhang et al.).

    Buffers (saved in checkpoints): ``centers`` (Q, 2), ``weights`` (Q,) rebalancing weights (1 until
    :meth:`set_prior` is called), ``prior_set`` flag.
    """

    def __init__(self, in_channels: int, grid: int = 10, temperature: float = 0.38) -> None:
        super().__init__()
        centers = ab_bin_centers(grid)
        self.temperature = temperature
        self.register_buffer("centers", centers)
        self.register_buffer("weights", torch.ones(centers.shape[0]))
        self.register_buffer("prior_set", torch.zeros(()))
        self.proj = nn.Conv2d(in_channels, centers.shape[0], 1)

    @property
    def num_bins(self) -> int:
        """Q, the number of ab bins."""
        return int(self.centers.shape[0])

    def forward(self, feat: Tensor) -> Tensor:
        """``(N, in_channels, h, w) -> (N, Q, h, w)`` logits."""
        return self.proj(feat)

    def set_prior(self, prior: Tensor, lam: float = 0.5) -> None:
        """Store rebalancing weights computed from a ``(Q,)`` empirical prior."""
        self.weights.copy_(rebalance_weights(prior.to(self.weights), lam))
        self.prior_set.fill_(1.0)

    def targets(self, rgb: Tensor) -> Tensor:
        """Soft bin targets of an ``(N, 3, H, W)`` RGB target at the logits' half resolution."""
        ab = rgb_to_lab(F.avg_pool2d(rgb, 2))[:, 1:]
        return soft_encode(ab, self.centers)

    def decode(self, rgb: Tensor, logits: Tensor) -> Tensor:
        """Annealed-mean chroma + regression lightness -> RGB.

        Args:
            rgb: ``(N, 3, H, W)`` regression output in [0, 1] (gives L).
            logits: ``(N, Q, H/2, W/2)``.

        Returns:
            ``(N, 3, H, W)`` sRGB in [0, 1].
        """
        probs = torch.softmax(logits / self.temperature, dim=1)
        ab = F.conv2d(probs, self.centers.t().reshape(2, -1, 1, 1))
        ab = F.interpolate(ab, scale_factor=2.0, mode="bilinear", align_corners=False)
        lightness = rgb_to_lab(rgb)[:, :1]
        return lab_to_rgb(torch.cat([lightness, ab], dim=1))
