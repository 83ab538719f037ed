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


def color_from_gray(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A colour FFDNet's weights made from a trained gray one, to start a colour run from.

    The first layer sees the mean of R, G and B (whose noise level is sigma/sqrt(3), so the
    noise-map weights are scaled to match) and the last layer writes the same residual into
    every channel: the colour model starts as the gray model denoising the mean image, and
    training has only to add the chroma. Every other tensor is copied."""
    first = [k for k, v in state.items() if k.endswith("weight") and v.ndim == 4]
    if not first:
        raise ValueError("not an FFDNet state dict: no convolution weights")
    head, tail = first[0], first[-1]
    w = state[head]
    if w.shape[1] != 5 or state[tail].shape[0] != 4:
        raise ValueError(f"not a gray FFDNet: first conv takes {w.shape[1]} planes, last writes {state[tail].shape[0]}")
    out = dict(state)
    image, level = w[:, :4], w[:, 4:]
    out[head] = torch.cat([image / 3.0] * 3 + [level / 3.0**0.5], dim=1).contiguous()
    out[tail] = state[tail].repeat(3, 1, 1, 1).contiguous()
    bias = tail[: -len("weight")] + "bias"
    if bias in state:
        out[bias] = state[bias].repeat(3).contiguous()
    return out


SPEC = ArchSpec(
    name="ffdnet",
    task="denoise",
    build=FFDNet,
    description="FFDNet: pixel-unshuffled input + noise-level map, non-blind over a range of sigma",
    defaults={"in_channels": 1},
    condition="noise_map",
    color_from_gray=color_from_gray,
)
