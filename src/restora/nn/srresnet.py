"""SRResNet, the SRGAN generator (Ledig et al. 2017): residual blocks with BN, global skip,
pixel-shuffle upsampling. (The SRGAN discriminator is in :mod:`restora.nn.discriminators`.)"""

from __future__ import annotations

import torch
from torch import nn

from restora.nn.blocks import PixelShuffleUpsampler, conv3x3
from restora.nn.spec import ArchSpec


class ResidualBlock(nn.Module):
    def __init__(self, features: int, batch_norm: bool = True, res_scale: float = 1.0) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(features)) if batch_norm else nn.Identity
        self.body = nn.Sequential(conv3x3(features, features), norm(), nn.PReLU(features) if batch_norm else nn.ReLU(inplace=True), conv3x3(features, features), norm())
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class SRResNet(nn.Module):
    """``batch_norm=False, res_scale=0.1`` turns it into an EDSR-style network."""

    def __init__(self, in_channels: int = 3, features: int = 64, blocks: int = 16, scale: int = 4, batch_norm: bool = True, res_scale: float = 1.0) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(in_channels, features, 9, padding=4), nn.PReLU(features))
        self.body = nn.Sequential(*[ResidualBlock(features, batch_norm, res_scale) for _ in range(blocks)])
        self.body_tail = nn.Sequential(conv3x3(features, features), nn.BatchNorm2d(features) if batch_norm else nn.Identity())
        self.upsample = nn.Sequential(PixelShuffleUpsampler(scale, features), nn.PReLU(features))
        self.tail = nn.Conv2d(features, in_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body_tail(self.body(h))
        return self.tail(self.upsample(h))


SPEC = ArchSpec(
    name="srresnet",
    task="sr",
    build=SRResNet,
    description="SRResNet (SRGAN generator); EDSR-style with batch_norm=False",
    defaults={"in_channels": 3, "features": 64, "blocks": 16, "scale": 4, "batch_norm": True, "res_scale": 1.0},
)
