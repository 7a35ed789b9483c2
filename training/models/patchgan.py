"""Conditional PatchGAN discriminator (pix2pix, 70x70 receptive field with ``n_layers=3``).

Input: the generator input ``(N, C, H, W)`` and an RGB image ``(N, 3, H, W)``, both float32 in [0, 1];
output: ``(N, 1, H', W')`` unbounded real/fake scores, one per overlapping patch. InstanceNorm is fine
here (the discriminator is never tiled at inference: it is not exported).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN.

    Args:
        in_channels: generator input channels (the condition); 3 RGB channels are added.
        ndf: width of the first layer (doubles per layer up to 8x).
        n_layers: stride-2 layers; 3 gives the classic 70x70 patches.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels + 3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for i in range(1, n_layers + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1),
                nn.InstanceNorm2d(ndf * mult, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, cond: Tensor, rgb: Tensor) -> Tensor:
        """Score ``rgb`` given the condition: ``(N, C, H, W), (N, 3, H, W) -> (N, 1, H', W')``."""
        return self.net(torch.cat([cond, rgb], dim=1))
