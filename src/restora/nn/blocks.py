"""Small building blocks shared by several architectures."""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution with 'same' zero padding."""
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class PixelShuffleUpsampler(nn.Sequential):
    """Upsample by ``scale`` (2, 3, 4, 8) with conv + pixel-shuffle stages."""

    def __init__(self, scale: int, features: int) -> None:
        layers: list[nn.Module] = []
        if scale in (2, 4, 8):
            for _ in range({2: 1, 4: 2, 8: 3}[scale]):
                layers += [conv3x3(features, 4 * features), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv3x3(features, 9 * features), nn.PixelShuffle(3)]
        elif scale != 1:
            raise ValueError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a B x C x H x W tensor."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN / MPRNet CA layer)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` with ``k x k`` convolutions and no normalisation (the
    block of DeepDeblur and SRN)."""

    def __init__(self, c: int, k: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2), nn.ReLU(inplace=True), nn.Conv2d(c, c, k, padding=k // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
