"""RRDBNet, the ESRGAN / Real-ESRGAN generator (Wang et al. 2018, 2021): residual-in-residual
dense blocks without BN, nearest-neighbour + conv upsampling. For x2/x1 Real-ESRGAN feeds a
pixel-unshuffled input, which ``scale=2``/``scale=1`` reproduce."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.spec import ArchSpec


class DenseBlock(nn.Module):
    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1) for i in range(5)
        )
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(self.act(out))
        return x + 0.2 * out


class RRDB(nn.Module):
    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[DenseBlock(features, growth) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int | None = None, features: int = 64, blocks: int = 23, growth: int = 32, scale: int = 4) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
        self.scale = scale
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.unshuffle = unshuffle
        self.conv_first = nn.Conv2d(in_channels * unshuffle**2, features, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(features, growth) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(features, features, 3, padding=1)
        self.conv_up1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv_up2 = nn.Conv2d(features, features, 3, padding=1)
        self.conv_hr = nn.Conv2d(features, features, 3, padding=1)
        self.conv_last = nn.Conv2d(features, out_channels or in_channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.act(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.act(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(feat)))


SPEC = ArchSpec(
    name="rrdb",
    task="sr",
    build=RRDBNet,
    description="RRDBNet (ESRGAN/Real-ESRGAN generator), scale 1/2/4",
    defaults={"in_channels": 3, "features": 64, "blocks": 23, "growth": 32, "scale": 4},
    size_multiple_of=lambda a: {4: 1, 2: 2, 1: 4}[int(a.get("scale", 4))],
    out_channels_of=lambda a: int(a.get("out_channels") or a.get("in_channels", 3)),
)
