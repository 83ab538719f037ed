"""GAN discriminators: the SRGAN VGG-style classifier, the Real-ESRGAN U-Net
discriminator with spectral normalisation (per-pixel realness map) and the pix2pix /
DeblurGAN PatchGAN critic (one logit per overlapping 70x70 patch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from restora.errors import InvalidParameterError
from restora.nn.spec import ArchSpec


class VGGStyleDiscriminator(nn.Module):
    """SRGAN discriminator: strided conv+BN+LeakyReLU stages, then a dense head.

    Adaptive pooling to 4x4 lets it take any input size >= 32 (SRGAN used 96x96 crops)."""

    def __init__(self, in_channels: int = 3, features: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        cin = features
        for i, cout in enumerate([features, 2 * features, 2 * features, 4 * features, 4 * features, 8 * features, 8 * features]):
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(cin * 16, 1024), nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class UNetDiscriminatorSN(nn.Module):
    """U-Net discriminator with spectral norm (Real-ESRGAN): outputs a B x 1 x H x W map."""

    def __init__(self, in_channels: int = 3, features: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        f = features
        sn = spectral_norm
        self.skip = skip_connection
        self.conv0 = nn.Conv2d(in_channels, f, 3, padding=1)
        self.conv1 = sn(nn.Conv2d(f, 2 * f, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(2 * f, 4 * f, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(4 * f, 8 * f, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(8 * f, 4 * f, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(4 * f, 2 * f, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(2 * f, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)


class PatchGANDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017; DeblurGAN's critic): 4x4 convs, ``layers`` of them with
    stride 2, then two with stride 1; LeakyReLU(0.2). ``layers=3`` is the 70x70 PatchGAN: each
    output logit sees a 70x70 input patch, and a ``H x W`` input gives a
    ``B x 1 x (H/8 - 2) x (W/8 - 2)`` map (inputs of at least 24 px; 32 px gives 2 x 2).

    ``norm``: ``"instance"`` (per-sample, no running statistics: keeps the WGAN-GP penalty
    per sample, as DeblurGAN) or ``"none"``. Batch norm is not offered: it couples the samples
    of a batch, which breaks the gradient penalty's per-sample gradients."""

    NORMS = ("instance", "none")

    def __init__(self, in_channels: int = 3, features: int = 64, layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if norm not in self.NORMS:
            raise InvalidParameterError(f"patchgan norm must be one of {', '.join(self.NORMS)}, got {norm!r}")
        if int(layers) < 1:
            raise InvalidParameterError(f"patchgan layers must be >= 1, got {layers}")
        layers = int(layers)
        f = int(features)
        bias = norm == "none"  # a bias before an affine-free instance norm is cancelled by it

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            out: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride=stride, padding=1, bias=bias)]
            if norm == "instance":
                out.append(nn.InstanceNorm2d(cout, affine=False, track_running_stats=False))
            return out + [nn.LeakyReLU(0.2, inplace=True)]

        seq: list[nn.Module] = [nn.Conv2d(in_channels, f, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2**n, 8)
            seq += block(f * prev, f * mult, 2 if n < layers else 1)
        seq.append(nn.Conv2d(f * mult, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


SPECS = [
    ArchSpec(
        name="vgg-discriminator",
        task="discriminator",
        build=VGGStyleDiscriminator,
        description="SRGAN discriminator (strided conv+BN+LeakyReLU, dense head); real/fake logit per image",
        defaults={"in_channels": 3, "features": 64},
        out_channels_of=lambda a: 1,
        size_multiple_of=lambda a: 16,
    ),
    ArchSpec(
        name="unet-discriminator",
        task="discriminator",
        build=UNetDiscriminatorSN,
        description="U-Net discriminator with spectral norm (Real-ESRGAN); per-pixel logits",
        defaults={"in_channels": 3, "features": 64, "skip_connection": True},
        out_channels_of=lambda a: 1,
        size_multiple_of=lambda a: 8,
    ),
    ArchSpec(
        name="patchgan",
        task="discriminator",
        build=PatchGANDiscriminator,
        description="PatchGAN critic (pix2pix / DeblurGAN; layers=3: 70x70 patches); logit map, instance norm or none (WGAN-GP safe)",
        defaults={"in_channels": 3, "features": 64, "layers": 3, "norm": "instance"},
        out_channels_of=lambda a: 1,
        size_multiple_of=lambda a: 2 ** int(a.get("layers", 3)),
    ),
]
