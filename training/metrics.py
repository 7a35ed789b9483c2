"""Image-quality metrics for validation: PSNR, SSIM (torch) and mean CIEDE2000 (``core.color``).

Inputs are ``(N, 3, H, W)`` float32 RGB tensors in [0, 1]; every function returns per-image values
``(N,)`` float64 numpy arrays (take the mean for a batch figure).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mangacolor_app.core.color import ciede2000, rgb_to_lab

__all__ = ["psnr", "ssim", "mean_ciede2000", "image_metrics"]


def _check(pred: Tensor, target: Tensor) -> None:
    """Raise ValueError unless both are (N, 3, H, W) with equal shapes."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"metrics need two (N, 3, H, W) tensors of one shape, got {tuple(pred.shape)} {tuple(target.shape)}")


def psnr(pred: Tensor, target: Tensor) -> np.ndarray:
    """Peak signal-to-noise ratio in dB (peak 1.0), per image; capped at 100 dB for identical images."""
    _check(pred, target)
    mse = (pred.float().clamp(0, 1) - target.float()).pow(2).flatten(1).mean(1).double()
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).cpu().numpy()


def _gauss(size: int = 11, sigma: float = 1.5) -> Tensor:
    """Normalised 1-D Gaussian window."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(pred: Tensor, target: Tensor) -> np.ndarray:
    """Structural similarity (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5, valid region),
    averaged over the RGB channels, per image."""
    _check(pred, target)
    x, y = pred.double().clamp(0, 1), target.double()
    g = _gauss().to(x.device)
    kx, ky = g.view(1, 1, 1, -1).repeat(3, 1, 1, 1), g.view(1, 1, -1, 1).repeat(3, 1, 1, 1)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(t, kx, groups=3), ky, groups=3)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1).cpu().numpy()


def mean_ciede2000(pred: Tensor, target: Tensor) -> np.ndarray:
    """Mean CIEDE2000 colour difference per image (``core.color.ciede2000`` on D65 Lab)."""
    _check(pred, target)
    p = pred.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    t = target.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    return np.array([float(np.mean(ciede2000(rgb_to_lab(a), rgb_to_lab(b)))) for a, b in zip(p, t)])


def image_metrics(pred: Tensor, target: Tensor) -> dict[str, np.ndarray]:
    """``{"psnr", "ssim", "ciede2000"}`` per-image arrays for a batch."""
    return {"psnr": psnr(pred, target), "ssim": ssim(pred, target), "ciede2000": mean_ciede2000(pred, target)}
