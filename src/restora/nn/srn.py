"""SRN-DeblurNet (Tao et al. 2018, "Scale-recurrent network for deep image deblurring").

One encoder-decoder runs at every image scale, coarse to fine (``scales`` levels, each half
the size of the next), with the *same* weights at every scale. Its input at a scale is the
blurry image at that scale concatenated with the estimate of the coarser scale, upsampled
(bilinear, x2); at the coarsest scale the blurry image stands in for the estimate.

The encoder-decoder has three stages (``features``, 2x, 4x channels; two stride-2 convs),
``blocks`` ResBlocks (conv-ReLU-conv + skip) per encoder and decoder stage, ``kernel_size``
convolutions (5x5 in the paper), transposed-conv upsampling and additive skips from the
encoder. With ``recurrent="lstm"`` a ConvLSTM (3x3 gates) sits in the bottleneck; its hidden
and cell states are carried from scale to scale (upsampled bilinearly), the paper's model.
``recurrent="none"`` is the ablation without it (nothing is carried but the image).

``residual=True`` (default) predicts the sharp image as the blurry input at that scale plus
the network output, which trains faster from scratch (its output conv starts at zero, so an
untrained network returns its input); ``residual=False`` is the paper's direct prediction.
The input is padded internally (reflect) to a multiple of ``4 * 2 ** (scales - 1)`` and every
output is cropped back to the input's extent at its scale.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from restora.errors import InvalidParameterError
from restora.nn.blocks import ResBlock
from restora.nn.spec import ArchSpec

__all__ = ["SRNDeblurNet", "ConvLSTMCell", "SPEC"]

RECURRENT = ("lstm", "none")
_State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: the four gates from one conv over ``[x, h]``; the forget gate's
    bias starts at 1 (remember by default). ``state=None`` starts from zeros."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel_size, padding=kernel_size // 2)
        with torch.no_grad():
            self.gates.bias[channels : 2 * channels].fill_(1.0)  # order: input, forget, output, cell

    def forward(self, x: torch.Tensor, state: _State | None) -> tuple[torch.Tensor, _State]:
        h, c = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def _stage(layers: list[nn.Module], c: int, k: int, blocks: int) -> list[nn.Module]:
    return layers + [ResBlock(c, k) for _ in range(blocks)]


class _EncoderDecoder(nn.Module):
    """The per-scale network (weights shared by all scales)."""

    def __init__(self, cin: int, cout: int, f: int, blocks: int, k: int, recurrent: str) -> None:
        super().__init__()
        p = k // 2
        self.enc1 = nn.Sequential(*_stage([nn.Conv2d(cin, f, k, padding=p), nn.ReLU(inplace=True)], f, k, blocks))
        self.enc2 = nn.Sequential(*_stage([nn.Conv2d(f, 2 * f, k, stride=2, padding=p), nn.ReLU(inplace=True)], 2 * f, k, blocks))
        self.enc3 = nn.Sequential(*_stage([nn.Conv2d(2 * f, 4 * f, k, stride=2, padding=p), nn.ReLU(inplace=True)], 4 * f, k, blocks))
        self.lstm = ConvLSTMCell(4 * f, 3) if recurrent == "lstm" else None
        self.dec3 = nn.Sequential(*_stage([], 4 * f, k, blocks), nn.ConvTranspose2d(4 * f, 2 * f, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.dec2 = nn.Sequential(*_stage([], 2 * f, k, blocks), nn.ConvTranspose2d(2 * f, f, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.dec1 = nn.Sequential(*_stage([], f, k, blocks), nn.Conv2d(f, cout, k, padding=p))

    def forward(self, x: torch.Tensor, state: _State | None) -> tuple[torch.Tensor, _State | None]:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        z = self.enc3(e2)
        if self.lstm is not None:
            z, state = self.lstm(z, state)
        d = self.dec3(z) + e2
        d = self.dec2(d) + e1
        return self.dec1(d), state


def _pad_to(x: torch.Tensor, m: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if not (ph or pw):
        return x
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _up2(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)


class SRNDeblurNet(nn.Module):
    """Scale-recurrent deblurring network; see the module docstring."""

    def __init__(
        self,
        in_channels: int = 3,
        features: int = 32,
        blocks: int = 3,
        scales: int = 3,
        kernel_size: int = 5,
        recurrent: Literal["lstm", "none"] = "lstm",
        residual: bool = True,
    ) -> None:
        super().__init__()
        if recurrent not in RECURRENT:
            raise InvalidParameterError(f"srn recurrent must be one of {', '.join(RECURRENT)}, got {recurrent!r}")
        if int(scales) < 1:
            raise InvalidParameterError(f"srn scales must be >= 1, got {scales}")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise InvalidParameterError(f"srn kernel_size must be odd and >= 1, got {kernel_size}")
        self.scales = int(scales)
        self.recurrent = recurrent
        self.residual = bool(residual)
        self.net = _EncoderDecoder(2 * in_channels, in_channels, int(features), int(blocks), int(kernel_size), recurrent)
        if self.residual:
            out_conv = self.net.dec1[-1]
            nn.init.zeros_(out_conv.weight)  # starts as the identity at every scale
            nn.init.zeros_(out_conv.bias)

    @property
    def size_multiple(self) -> int:
        """The side multiple the input is padded to internally."""
        return 4 * 2 ** (self.scales - 1)

    def forward_scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The estimates at every scale, coarse first (the last at the input's size)."""
        h, w = x.shape[-2:]
        pyramid = [_pad_to(x, self.size_multiple)]
        for _ in range(self.scales - 1):
            pyramid.insert(0, F.avg_pool2d(pyramid[0], 2))
        est = pyramid[0]
        state: _State | None = None
        outs: list[torch.Tensor] = []
        for i, blur in enumerate(pyramid):
            if i > 0:
                est = _up2(outs[-1])
                if state is not None:
                    state = (_up2(state[0]), _up2(state[1]))
            y, state = self.net(torch.cat([blur, est], 1), state)
            outs.append(blur + y if self.residual else y)
        n = self.scales
        return [o[..., : -(-h // 2 ** (n - 1 - i)), : -(-w // 2 ** (n - 1 - i))] for i, o in enumerate(outs)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(x)[-1]


SPEC = ArchSpec(
    name="srn",
    task="deblur",
    build=SRNDeblurNet,
    description="SRN-DeblurNet: scale-recurrent encoder-decoder, weights shared across scales, ConvLSTM bottleneck (recurrent=none: ablation)",
    defaults={"in_channels": 3, "features": 32, "blocks": 3, "scales": 3, "kernel_size": 5, "recurrent": "lstm", "residual": True},
    size_multiple_of=lambda a: 1,  # pads internally
)
