"""Losses: L1 reconstruction, adversarial (LSGAN or BCE) and the rebalanced colour-bin cross-entropy.

All inputs are float32 tensors; images are ``(N, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["adversarial_loss", "l1_loss", "rebalanced_ce"]


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error between two ``(N, 3, H, W)`` images (scalar tensor)."""
    return (pred - target).abs().mean()


def adversarial_loss(scores: Tensor, real: bool, mode: str = "lsgan") -> Tensor:
    """GAN loss of discriminator ``scores`` against the real (True) or fake (False) label.

    Args:
        scores: ``(N, 1, h, w)`` raw discriminator outputs.
        real: target label.
        mode: ``"lsgan"`` (least squares) or ``"bce"`` (binary cross-entropy with logits).

    Raises:
        ValueError: unknown mode.
    """
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    if mode == "lsgan":
        return F.mse_loss(scores, target)
    if mode == "bce":
        return F.binary_cross_entropy_with_logits(scores, target)
    raise ValueError(f"adversarial loss must be 'lsgan' or 'bce', got {mode!r}")


def rebalanced_ce(logits: Tensor, soft_target: Tensor, class_weights: Tensor) -> Tensor:
    """Zhang et al.'s class-rebalanced multinomial cross-entropy.

    Args:
        logits: ``(N, Q, h, w)`` bin logits.
        soft_target: ``(N, Q, h, w)`` soft-encoded ground truth (sums to 1 over Q).
        class_weights: ``(Q,)`` rebalancing weights (mean 1 under the prior); each pixel is weighted by
            the weight of its most likely ground-truth bin.

    Returns:
        Scalar loss.
    """
    logp = F.log_softmax(logits, dim=1)
    ce = -(soft_target * logp).sum(dim=1)
    w = class_weights[soft_target.argmax(dim=1)]
    return (w * ce).mean()
