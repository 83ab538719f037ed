"""EDSR (Lim et al. 2017, "Enhanced Deep Residual Networks for Single Image Super-Resolution"):
residual blocks without batch norm at low resolution, a long skip, pixel-shuffle upsampling.

The optional ``image_skip`` adds the bicubic-upscaled input to the output, so the network
only predicts the detail bicubic misses (VDSR's residual learning, at LR cost instead of HR
cost). It makes short training runs converge much faster and costs almost nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import PixelShuffleUpsampler, conv3x3
from restora.nn.spec import ArchSpec


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip, the branch scaled by ``res_scale``."""

    def __init__(self, features: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=True), conv3x3(features, features))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """EDSR super-resolution network; ``features=64, blocks=16`` is EDSR-baseline."""

    def __init__(self, in_channels: int = 3, features: int = 64, blocks: int = 16, scale: int = 4, res_scale: float = 1.0, image_skip: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.image_skip = image_skip
        self.head = conv3x3(in_channels, features)
        self.body = nn.Sequential(*[ResBlock(features, res_scale) for _ in range(blocks)], conv3x3(features, features))
        self.upsample = PixelShuffleUpsampler(scale, features)
        self.tail = conv3x3(features, in_channels)
        if image_skip:  # start as bicubic upscaling: the detail branch begins at zero
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        out = self.tail(self.upsample(h + self.body(h)))
        if self.image_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


SPEC = ArchSpec(
    name="edsr",
    task="sr",
    build=EDSR,
    description="EDSR: BN-free residual blocks at LR, pixel-shuffle upsampling, optional bicubic image skip",
    defaults={"in_channels": 3, "features": 64, "blocks": 16, "scale": 4, "res_scale": 1.0, "image_skip": True},
)
