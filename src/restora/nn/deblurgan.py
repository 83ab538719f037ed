"""DeblurGAN generator (Kupyn et al. 2018): a ResNet image-to-image generator.

7x7 conv in, two stride-2 3x3 convs (``features`` -> 2x -> 4x channels), ``blocks`` ResBlocks
(reflect-padded conv - instance norm - ReLU - dropout - conv - instance norm, + skip), two
transposed 3x3 convs back to full resolution, a 7x7 conv out and tanh; the output is the
blurry input plus that residual (the paper's global skip, ``learn_residual``). Nothing is
clamped: the residual form and [0, 1] clipping on write are enough, and clamping would stop
gradients in training. The output conv starts at zero, so an untrained generator returns its
input (a change of initialisation only; it makes early validation meaningful). Instance norm has no running statistics, so train and eval normalise
alike; dropout is active in training only.

The paper's generator has ``features=64, blocks=9``; the defaults here (32, 6) are a CPU-sized
version. Pair it with the ``patchgan`` critic of :mod:`restora.nn.discriminators` and a
``gan: {kind: wgan-gp}`` loss (the paper also adds a perceptual term). Inputs are padded
internally (reflect) to a multiple of 4 and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError
from restora.nn.spec import ArchSpec

__all__ = ["DeblurGANGenerator", "SPEC"]


def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class _ResBlock(nn.Module):
    def __init__(self, c: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(c)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DeblurGANGenerator(nn.Module):
    """ResNet generator with a global residual; see the module docstring."""

    def __init__(self, in_channels: int = 3, features: int = 32, blocks: int = 6, dropout: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= float(dropout) < 1.0:
            raise InvalidParameterError(f"deblurgan dropout must be in [0, 1), got {dropout}")
        f = int(features)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, f, 7), _norm(f), nn.ReLU(inplace=True)]
        for m in (1, 2):
            layers += [nn.Conv2d(f * m, 2 * f * m, 3, stride=2, padding=1), _norm(2 * f * m), nn.ReLU(inplace=True)]
        layers += [_ResBlock(4 * f, float(dropout)) for _ in range(int(blocks))]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(f * m, f * m // 2, 3, stride=2, padding=1, output_padding=1), _norm(f * m // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(f, in_channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        out_conv = layers[-2]
        assert isinstance(out_conv, nn.Conv2d)
        nn.init.zeros_(out_conv.weight)  # starts as the identity (output = input)
        nn.init.zeros_(out_conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = x
        if ph or pw:
            xp = F.pad(x, (0, pw, 0, ph), mode="reflect" if (ph < h and pw < w) else "replicate")
        return (xp + self.body(xp))[..., :h, :w]


SPEC = ArchSpec(
    name="deblurgan",
    task="deblur",
    build=DeblurGANGenerator,
    description="DeblurGAN ResNet generator (instance norm, dropout, global residual); paper size features=64, blocks=9",
    defaults={"in_channels": 3, "features": 32, "blocks": 6, "dropout": 0.5},
    size_multiple_of=lambda a: 1,  # pads internally
)
