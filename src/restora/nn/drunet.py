"""DRUNet-style denoiser (Zhang et al. 2021, "Plug-and-Play Image Restoration with Deep
Denoiser Prior"): a bias-free U-Net of residual blocks over ``levels`` scales, fed with the
image and a noise-level map. ``forward(x, noise_map)``, noise_map: B x 1 x H x W (sigma/255).

Differences from the paper, chosen for CPU budgets (documented on the model cards):
- ``unshuffle=True`` first pixel-unshuffles the input by 2 (as FFDNet), so the top level runs
  at a quarter of the pixels: a larger receptive field per FLOP;
- widths are parameters (the paper's 64-128-256-512 with 4 blocks per level is 32.6 M
  parameters; a CPU model uses e.g. 32-64-128-256 with 2 blocks);
- the output is residual (input + predicted correction) and the last layer starts at zero,
  so training starts at the identity rather than at random noise.
Down-sampling is a 2x2 stride-2 convolution and up-sampling a 2x2 transposed convolution,
as in the paper; skips are additive."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.spec import ArchSpec


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with an identity skip, bias-free."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DRUNet(nn.Module):
    """Residual U-Net denoiser with a noise-level map input."""

    def __init__(
        self,
        in_channels: int = 1,
        features: int = 32,
        levels: int = 4,
        blocks: int = 2,
        unshuffle: bool = True,
    ) -> None:
        super().__init__()
        if levels < 1 or blocks < 1 or features < 1:
            raise ValueError(f"levels, blocks and features must be >= 1; got {levels}, {blocks}, {features}")
        self.in_channels = in_channels
        self.unshuffle = unshuffle
        self.levels = levels
        f = 4 if unshuffle else 1
        chans = [features * 2**i for i in range(levels)]
        self.head = nn.Conv2d(f * in_channels + 1, chans[0], 3, padding=1, bias=False)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i in range(levels - 1):
            self.encoders.append(nn.Sequential(*[ResBlock(chans[i]) for _ in range(blocks)]))
            self.downs.append(nn.Conv2d(chans[i], chans[i + 1], 2, stride=2, bias=False))
        self.bottom = nn.Sequential(*[ResBlock(chans[-1]) for _ in range(blocks)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(levels - 2, -1, -1):
            self.ups.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2, bias=False))
            self.decoders.append(nn.Sequential(*[ResBlock(chans[i]) for _ in range(blocks)]))
        self.tail = nn.Conv2d(chans[0], f * in_channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.tail.weight)

    @property
    def size_multiple(self) -> int:
        return (2 if self.unshuffle else 1) * 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            noise_map = F.pad(noise_map, (0, pw, 0, ph), mode="replicate")
        if self.unshuffle:
            z = torch.cat([F.pixel_unshuffle(x, 2), F.avg_pool2d(noise_map, 2)], dim=1)
        else:
            z = torch.cat([x, noise_map], dim=1)
        z = self.head(z)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            z = enc(z)
            skips.append(z)
            z = down(z)
        z = self.bottom(z)
        for up, dec in zip(self.ups, self.decoders):
            z = dec(up(z) + skips.pop())
        z = self.tail(z)
        if self.unshuffle:
            z = F.pixel_shuffle(z, 2)
        return (x + z)[..., :h, :w]


SPEC = ArchSpec(
    name="drunet",
    task="denoise",
    build=DRUNet,
    description="DRUNet-style residual U-Net (bias-free resblocks, 4 scales) with a noise-level map; CPU widths",
    defaults={"in_channels": 1, "features": 32, "levels": 4, "blocks": 2, "unshuffle": True},
    condition="noise_map",
    size_multiple_of=lambda a: (2 if a.get("unshuffle", True) else 1) * 2 ** (int(a.get("levels", 4)) - 1),
)
