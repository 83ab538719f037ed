"""SRCNN (Dong et al. 2014) and VDSR live on the bicubic-upsampled image: ``scale`` only
labels the model; the input is the interpolated low-resolution image."""

from __future__ import annotations

import torch
from torch import nn

from restora.nn.spec import ArchSpec


class SRCNN(nn.Module):
    """9-5-5 SRCNN (64/32 features) on an already-upscaled image."""

    def __init__(self, in_channels: int = 1, features: tuple[int, int] = (64, 32), kernels: tuple[int, int, int] = (9, 5, 5), scale: int = 1) -> None:
        super().__init__()
        f1, f2 = features
        k1, k2, k3 = kernels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, f1, k1, padding=k1 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(f1, f2, k2, padding=k2 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(f2, in_channels, k3, padding=k3 // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


SPEC = ArchSpec(
    name="srcnn",
    task="sr",
    build=SRCNN,
    description="SRCNN 9-5-5 on the bicubic-upscaled input (pre-upsampling SR)",
    defaults={"in_channels": 1, "features": (64, 32), "kernels": (9, 5, 5), "scale": 1},
    scale_of=lambda a: 1,  # operates at output resolution
)
