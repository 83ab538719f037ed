"""DnCNN (Zhang et al., TIP 2017): a plain conv-BN-ReLU stack that predicts the noise
(residual learning). Blind when trained over a range of noise levels; non-blind when
trained at one level. ``depth=17`` is DnCNN-S, ``depth=20`` DnCNN-B/-3."""

from __future__ import annotations

import torch
from torch import nn

from restora.nn.spec import ArchSpec


class DnCNN(nn.Module):
    """``depth`` 3x3 conv layers of ``features`` channels; returns ``x - noise(x)``."""

    def __init__(
        self,
        in_channels: int = 1,
        features: int = 64,
        depth: int = 17,
        batch_norm: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"depth must be >= 3, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(features, features, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(features, eps=1e-4, momentum=0.05))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, in_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x - out if self.residual else out


SPEC = ArchSpec(
    name="dncnn",
    task="denoise",
    build=DnCNN,
    description="DnCNN: conv+BN+ReLU stack with residual (noise) learning",
    defaults={"in_channels": 1, "features": 64, "depth": 17, "batch_norm": True, "residual": True},
)
