"""U-Net / convolutional autoencoder with selectable down- and up-sampling and optional
skip connections (``skips=False`` gives a plain autoencoder)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import conv3x3
from restora.nn.spec import ArchSpec

DOWN_MODES = ("strided", "maxpool", "avgpool", "unshuffle")
UP_MODES = ("bilinear", "transposed", "shuffle")


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout), nn.ReLU(inplace=True), conv3x3(cout, cout), nn.ReLU(inplace=True))


def _down(mode: str, ch: int) -> nn.Module:
    if mode == "strided":
        return nn.Conv2d(ch, ch, 4, stride=2, padding=1)
    if mode == "maxpool":
        return nn.MaxPool2d(2)
    if mode == "avgpool":
        return nn.AvgPool2d(2)
    if mode == "unshuffle":
        return nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * ch, ch, 1))
    raise ValueError(f"down must be one of {DOWN_MODES}, got {mode!r}")


def _up(mode: str, cin: int, cout: int) -> nn.Module:
    if mode == "bilinear":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv3x3(cin, cout))
    if mode == "transposed":
        return nn.ConvTranspose2d(cin, cout, 2, stride=2)
    if mode == "shuffle":
        return nn.Sequential(nn.Conv2d(cin, 4 * cout, 1), nn.PixelShuffle(2))
    raise ValueError(f"up must be one of {UP_MODES}, got {mode!r}")


class UNet(nn.Module):
    """Encoder-decoder with ``levels`` resolutions (features double per level).

    ``residual=True`` adds the input to the output (image-to-image restoration)."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        features: int = 32,
        levels: int = 4,
        down: str = "strided",
        up: str = "transposed",
        skips: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        chans = [features * 2**i for i in range(levels)]
        self.head = _double_conv(in_channels, chans[0])
        self.downs = nn.ModuleList()
        self.encoders = nn.ModuleList()
        for i in range(1, levels):
            self.downs.append(_down(down, chans[i - 1]))
            self.encoders.append(_double_conv(chans[i - 1], chans[i]))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(levels - 1, 0, -1):
            self.ups.append(_up(up, chans[i], chans[i - 1]))
            self.decoders.append(_double_conv(chans[i - 1] * (2 if skips else 1), chans[i - 1]))
        self.tail = nn.Conv2d(chans[0], out_channels, 1)
        self.skips = skips
        self.residual = residual and in_channels == out_channels
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.head(x)]
        for down, enc in zip(self.downs, self.encoders):
            feats.append(enc(down(feats[-1])))
        y = feats[-1]
        for up, dec, skip in zip(self.ups, self.decoders, reversed(feats[:-1])):
            y = up(y)
            y = dec(torch.cat([y, skip], 1) if self.skips else y)
        out = self.tail(y)
        return x + out if self.residual else out


SPEC = ArchSpec(
    name="unet",
    task="restore",
    build=UNet,
    description="U-Net/autoencoder with selectable down (strided/pool/unshuffle) and up (bilinear/transposed/shuffle) sampling",
    defaults={"in_channels": 3, "features": 32, "levels": 4, "down": "strided", "up": "transposed", "skips": True, "residual": True},
    size_multiple_of=lambda a: 2 ** (int(a.get("levels", 4)) - 1),
)
