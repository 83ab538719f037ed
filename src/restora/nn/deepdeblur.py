"""DeepDeblur-style multi-scale network (Nah et al. 2017): coarse-to-fine levels at 1/4, 1/2
and full resolution; each level is a ResNet whose input is the blurry image at that scale
concatenated with the upsampled estimate from the coarser level. ``forward_scales``
returns all levels (coarse first) for the multi-scale loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import ResBlock
from restora.nn.spec import ArchSpec


class _Level(nn.Module):
    def __init__(self, cin: int, cout: int, features: int, blocks: int, k: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, features, k, padding=k // 2),
            *[ResBlock(features, k) for _ in range(blocks)],
            nn.Conv2d(features, cout, k, padding=k // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MultiScaleDeblur(nn.Module):
    def __init__(self, in_channels: int = 3, features: int = 64, blocks: int = 19, levels: int = 3, kernel_size: int = 5) -> None:
        super().__init__()
        self.levels = levels
        self.nets = nn.ModuleList(
            _Level(in_channels if i == 0 else 2 * in_channels, in_channels, features, blocks, kernel_size) for i in range(levels)
        )
        self.ups = nn.ModuleList(nn.Sequential(nn.Conv2d(in_channels, 4 * in_channels, kernel_size, padding=kernel_size // 2), nn.PixelShuffle(2)) for _ in range(levels - 1))

    def forward_scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        pyramid = [xp]
        for _ in range(self.levels - 1):
            pyramid.insert(0, F.avg_pool2d(pyramid[0], 2))
        outs: list[torch.Tensor] = []
        for i, (net, inp) in enumerate(zip(self.nets, pyramid)):
            z = inp if i == 0 else torch.cat([inp, self.ups[i - 1](outs[-1])], 1)
            outs.append(inp + net(z))
        outs[-1] = outs[-1][..., :h, :w]
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(x)[-1]


SPEC = ArchSpec(
    name="deepdeblur",
    task="deblur",
    build=MultiScaleDeblur,
    description="DeepDeblur-style coarse-to-fine multi-scale ResNet deblurring",
    defaults={"in_channels": 3, "features": 64, "blocks": 19, "levels": 3, "kernel_size": 5},
)
