"""HLLHGAN (Bulat et al. 2018, "To learn image super-resolution, use a GAN to learn how to do
image degradation first") at CPU scale: faces 16 -> 64 px.

- :class:`HighToLow` (H2L): a 64 px HR face plus a noise vector (projected to a 64 x 64 map and
  concatenated as a fourth input channel) -> a 16 px LR face. Residual blocks at 64, 32 and
  16 px with average-pool downsampling; the output is a residual over the 4x area-downsampled
  input, so the net starts as a plain box downscaler and learns the degradation on top.
- :class:`LowToHigh` (L2H): 16 -> 64 px, residual blocks at 16 px, two conv + pixel-shuffle
  x2 stages, output a residual over the bicubic-upsampled input.
- :class:`SNDiscriminator`: strided convolutions with spectral norm
  (``torch.nn.utils.parametrizations.spectral_norm``) on every layer, one logit per image;
  used at 16 px (H2L's critic) and at 64 px (L2H's critic) with the hinge loss
  (:func:`hinge_d_loss`, :func:`hinge_g_loss`).

Images are in [0, 1] (B x 3 x H x W). Widths are small (default 32 features) for CPU training;
see ``docs/hllhgan.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from restora.nn.spec import ArchSpec

__all__ = [
    "HighToLow",
    "LowToHigh",
    "SNDiscriminator",
    "ResBlock",
    "hinge_d_loss",
    "hinge_g_loss",
    "SPECS",
]


class ResBlock(nn.Module):
    """conv3 - LeakyReLU - conv3 with an identity skip."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.leaky_relu(self.c1(x), 0.2))


class HighToLow(nn.Module):
    """HR (B x 3 x 4s x 4s) + noise z (B x z_dim) -> LR (B x 3 x s x s)."""

    def __init__(self, features: int = 32, blocks: int = 2, z_dim: int = 16, resolution: int = 64) -> None:
        super().__init__()
        self.z_dim = int(z_dim)
        self.resolution = int(resolution)
        self.noise_fc = nn.Linear(self.z_dim, self.resolution * self.resolution)
        self.head = nn.Conv2d(4, features, 3, padding=1)
        self.stage64 = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.stage32 = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.stage16 = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.tail = nn.Conv2d(features, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        if z is None:
            z = torch.zeros(b, self.z_dim, dtype=x.dtype, device=x.device)
        zmap = self.noise_fc(z).view(b, 1, self.resolution, self.resolution)
        if zmap.shape[-2:] != (h, w):
            zmap = F.interpolate(zmap, size=(h, w), mode="bilinear", align_corners=False)
        f = self.stage64(self.head(torch.cat([x, zmap], 1)))
        f = self.stage32(F.avg_pool2d(f, 2))
        f = self.stage16(F.avg_pool2d(f, 2))
        return F.avg_pool2d(x, 4) + self.tail(F.leaky_relu(f, 0.2))


class LowToHigh(nn.Module):
    """LR (B x 3 x s x s) -> SR (B x 3 x 4s x 4s)."""

    def __init__(self, features: int = 32, blocks: int = 4, scale: int = 4) -> None:
        super().__init__()
        if scale != 4:
            raise ValueError("LowToHigh supports scale=4 only")
        self.scale = scale
        self.head = nn.Conv2d(3, features, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.up1 = nn.Conv2d(features, features * 4, 3, padding=1)
        self.mid = ResBlock(features)
        self.up2 = nn.Conv2d(features, features * 4, 3, padding=1)
        self.tail = nn.Conv2d(features, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.body(f)
        f = F.leaky_relu(F.pixel_shuffle(self.up1(f), 2), 0.2)
        f = self.mid(f)
        f = F.leaky_relu(F.pixel_shuffle(self.up2(f), 2), 0.2)
        base = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
        return base + self.tail(f)


class SNDiscriminator(nn.Module):
    """Spectral-normalised strided conv critic: ``resolution`` -> 4 x 4 -> one logit."""

    def __init__(self, resolution: int = 16, features: int = 32, max_features: int = 128) -> None:
        super().__init__()
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, features, 3, padding=1)), nn.LeakyReLU(0.2)]
        ch, r = features, int(resolution)
        while r > 4:
            nxt = min(ch * 2, max_features)
            layers += [spectral_norm(nn.Conv2d(ch, nxt, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            ch, r = nxt, r // 2
        self.body = nn.Sequential(*layers)
        self.fc = spectral_norm(nn.Linear(ch * 4 * 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x * 2.0 - 1.0).flatten(1)).squeeze(1)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge critic loss ``E relu(1 - D(real)) + E relu(1 + D(fake))``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss ``-E D(fake)``."""
    return -fake_logits.mean()


SPECS = [
    ArchSpec(
        name="hllhgan_l2h",
        task="sr",
        build=LowToHigh,
        description="HLLHGAN Low-to-High 16->64 face SR net (residual blocks + pixel shuffle), CPU scale",
        defaults={"features": 32, "blocks": 4, "scale": 4},
        scale_of=lambda a: 4,
    ),
]
