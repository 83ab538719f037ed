"""MPRNet building blocks (Zamir et al. 2021) and a compact multi-stage restorer.

- :class:`CAB`: channel attention block (conv-act-conv + squeeze-excitation, residual).
- :class:`ORB` / :class:`ORSNet`: original-resolution blocks / subnetwork (no downsampling).
- :class:`SAM`: supervised attention module; produces a stage's image estimate and gates the
  features passed to the next stage with attention maps computed from that estimate.

:class:`MultiStageNet` chains two encoder-decoder stages (U-Nets of CABs, applied to the whole
image rather than MPRNet's patch splits) and a final ORSNet stage, with SAMs in between and
cross-stage feature fusion. ``forward`` returns the final image; ``forward_stages`` returns
every stage's image for the multi-stage (supervised-at-each-stage) loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import ChannelAttention, conv3x3
from restora.nn.spec import ArchSpec


class CAB(nn.Module):
    def __init__(self, c: int, reduction: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(c, c, bias=False), nn.PReLU(), conv3x3(c, c, bias=False))
        self.ca = ChannelAttention(c, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ca(self.body(x))


class ORB(nn.Module):
    def __init__(self, c: int, n_cab: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(*[CAB(c) for _ in range(n_cab)], conv3x3(c, c, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SAM(nn.Module):
    """Supervised attention: image = conv(f) + x; features gated by sigmoid(conv(image))."""

    def __init__(self, c: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = conv3x3(c, c)
        self.conv2 = conv3x3(c, in_channels)
        self.conv3 = conv3x3(in_channels, c)

    def forward(self, feat: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.conv2(feat) + x
        gate = torch.sigmoid(self.conv3(image))
        return self.conv1(feat) * gate + feat, image


class _EncoderDecoder(nn.Module):
    """Three-scale U-Net of CABs; returns decoder features at each scale (fine first)."""

    def __init__(self, c: int, growth: int) -> None:
        super().__init__()
        c1, c2, c3 = c, c + growth, c + 2 * growth
        self.enc1 = nn.Sequential(CAB(c1), CAB(c1))
        self.enc2 = nn.Sequential(CAB(c2), CAB(c2))
        self.enc3 = nn.Sequential(CAB(c3), CAB(c3))
        self.down12 = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c1, c2, 1, bias=False))
        self.down23 = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c2, c3, 1, bias=False))
        self.dec3 = nn.Sequential(CAB(c3), CAB(c3))
        self.dec2 = nn.Sequential(CAB(c2), CAB(c2))
        self.dec1 = nn.Sequential(CAB(c1), CAB(c1))
        self.up32 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c3, c2, 1, bias=False))
        self.up21 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c2, c1, 1, bias=False))

    def forward(self, x: torch.Tensor, prev: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        e1 = self.enc1(x if prev is None else x + prev[0])
        e2 = self.enc2(self.down12(e1) if prev is None else self.down12(e1) + prev[1])
        e3 = self.enc3(self.down23(e2) if prev is None else self.down23(e2) + prev[2])
        d3 = self.dec3(e3)
        d2 = self.dec2(self.up32(d3) + e2)
        d1 = self.dec1(self.up21(d2) + e1)
        return [d1, d2, d3]


class ORSNet(nn.Module):
    """Original-resolution subnetwork: ORBs (``n_cab`` CABs each; MPRNet: 8), each fused
    with upsampled stage-2 features."""

    def __init__(self, c: int, growth: int, n_orb: int = 3, n_cab: int = 4) -> None:
        super().__init__()
        self.orbs = nn.ModuleList(ORB(c, n_cab) for _ in range(n_orb))
        self.fuse = nn.ModuleList(
            [nn.Conv2d(c, c, 1, bias=False), nn.Conv2d(c + growth, c, 1, bias=False), nn.Conv2d(c + 2 * growth, c, 1, bias=False)][:n_orb]
        )

    def forward(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        for orb, fuse, f in zip(self.orbs, self.fuse, feats):
            f = F.interpolate(f, size=x.shape[-2:], mode="bilinear", align_corners=False) if f.shape[-2:] != x.shape[-2:] else f
            x = orb(x) + fuse(f)
        return x


class MultiStageNet(nn.Module):
    def __init__(self, in_channels: int = 3, features: int = 40, growth: int = 20, orb_cabs: int = 4) -> None:
        super().__init__()
        c = features
        self.shallow1 = nn.Sequential(conv3x3(in_channels, c), CAB(c))
        self.shallow2 = nn.Sequential(conv3x3(in_channels, c), CAB(c))
        self.shallow3 = nn.Sequential(conv3x3(in_channels, c), CAB(c))
        self.stage1 = _EncoderDecoder(c, growth)
        self.stage2 = _EncoderDecoder(c, growth)
        self.sam1 = SAM(c, in_channels)
        self.sam2 = SAM(c, in_channels)
        self.concat2 = conv3x3(2 * c, c)
        self.concat3 = conv3x3(2 * c, c)
        self.stage3 = ORSNet(c, growth, n_cab=orb_cabs)
        self.tail = conv3x3(c, in_channels)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        f1 = self.stage1(self.shallow1(xp))
        g1, img1 = self.sam1(f1[0], xp)
        f2 = self.stage2(self.concat2(torch.cat([self.shallow2(xp), g1], 1)), f1)
        g2, img2 = self.sam2(f2[0], xp)
        f3 = self.stage3(self.concat3(torch.cat([self.shallow3(xp), g2], 1)), f2)
        img3 = self.tail(f3) + xp
        return [img[..., :h, :w] for img in (img1, img2, img3)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(x)[-1]


SPEC = ArchSpec(
    name="multistage",
    task="restore",
    build=MultiStageNet,
    description="MPRNet-style multi-stage restorer: CAB U-Net stages, SAM, ORSNet; forward_stages for stage losses",
    defaults={"in_channels": 3, "features": 40, "growth": 20},
)
