"""FFDNet-style denoiser (Zhang et al. 2018): the image is pixel-unshuffled by 2 and
concatenated with a noise-level map, so one network handles a range of noise levels and
spatially varying noise. ``forward(x, noise_map)``, noise_map: B x 1 x H x W (sigma/255).

``residual=True`` (not in the paper) adds the input back, so the body predicts the negated
noise as in DnCNN: this converges much faster from scratch, which matters on small budgets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.blocks import conv3x3
from restora.nn.spec import ArchSpec


class FFDNet(nn.Module):
    def __init__(self, in_channels: int = 1, features: int | None = None, depth: int | None = None, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        features = features or (64 if in_channels == 1 else 96)
        depth = depth or (15 if in_channels == 1 else 12)
        cin = 4 * in_channels + 1
        layers: list[nn.Module] = [conv3x3(cin, features), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [conv3x3(features, features, bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True)]
        layers.append(conv3x3(features, 4 * in_channels))
        if residual:
            # Start as the identity: a random last layer adds noise that the first steps then
            # shrink to ~0, a plateau a colour run did not leave in 600 steps.
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = h % 2, w % 2
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            noise_map = F.pad(noise_map, (0, pw, 0, ph), mode="replicate")
        down = F.pixel_unshuffle(x, 2)
        level = F.avg_pool2d(noise_map, 2)
        out = F.pixel_shuffle(self.body(torch.cat([down, level], dim=1)), 2)
        if self.residual:
            out = out + x
        return out[..., :h, :w]


SPEC = ArchSpec(
    name="ffdnet",
    task="denoise",
    build=FFDNet,
    description="FFDNet: pixel-unshuffled input + noise-level map, non-blind over a range of sigma",
    defaults={"in_channels": 1},
    condition="noise_map",
)
