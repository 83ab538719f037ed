"""NLRN (Liu, Wen, Fan, Loy, Huang, "Non-Local Recurrent Network for Image Restoration",
NeurIPS 2018): a recurrent residual network whose every step mixes features non-locally.

* An input convolution lifts the noisy image to ``features`` channels, ``x0``.
* One recurrent cell, unrolled ``steps`` times with **shared weights**:
  ``s_t = x0 + body(NL(s_{t-1}))``, where ``body`` is ReLU-conv3x3-ReLU-conv3x3 and ``NL`` is
  a non-local block restricted to a neighbourhood: embedded-Gaussian affinities
  ``theta(s_i) . phi(s_j)`` (1x1 convolutions to ``embed`` channels), softmax over the
  neighbourhood, weighted mean of the neighbours' features, added to the input.
* **Correlation propagation**: the affinity logits of a step are added to those of the
  previous step on the same neighbourhoods before the softmax, so the weights are refined
  across steps rather than re-estimated from scratch.

**Reduction: window neighbourhoods.** The paper's neighbourhood is a sliding ``q x q`` window
centred on every pixel. Gathering it (``F.unfold``) costs ``features * q^2`` floats per pixel
per step and ran at about 40 s per training step on this project's CPU (q = 9); here the
neighbourhoods are the non-overlapping ``window x window`` tiles of the feature map (one
batched matrix product each), shifted by half a window on every other step (as in Swin) so
that information crosses tile borders; logits propagate between the steps that share a grid.
* An output convolution predicts the noise; the result is ``image - noise`` (residual learning).

The paper uses 128 features, 64 embedding channels, 12 steps, a 45 x 45 neighbourhood on
43 x 43 training patches and batch normalisation; ``restora`` defaults to a CPU-sized 32 / 16
/ 6 steps / 8 x 8 windows and no normalisation (small batches). Inputs must be a multiple of
the window (the engine pads).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restora.nn.spec import ArchSpec

__all__ = ["NLRN", "WindowNonLocal"]


def _windows(x: torch.Tensor, size: int) -> torch.Tensor:
    """``B x C x H x W`` -> ``(B * H/size * W/size) x size^2 x C`` non-overlapping windows."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // size, size, w // size, size).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, size * size, c)


def _unwindows(x: torch.Tensor, size: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_windows`."""
    c = x.shape[-1]
    x = x.reshape(b, h // size, w // size, size, size, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h, w)


class WindowNonLocal(nn.Module):
    """Non-local mean over each pixel's ``size x size`` window, with embedded-Gaussian weights
    (``softmax(theta . phi / sqrt(embed))``); ``shift`` moves the window grid by half a window
    (cyclically) so that alternate steps see across the previous grid's borders. Returns
    ``(x + mixed, logits)``; ``prev_logits`` (same grid) are added before the softmax."""

    def __init__(self, features: int, embed: int, size: int) -> None:
        super().__init__()
        self.size = size
        self.theta = nn.Conv2d(features, embed, 1)
        self.phi = nn.Conv2d(features, embed, 1)
        self.scale = embed**-0.5

    def forward(self, x: torch.Tensor, prev_logits: torch.Tensor | None = None, *, shift: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        s = self.size // 2 if shift else 0
        roll = (lambda t: torch.roll(t, (-s, -s), (2, 3))) if s else (lambda t: t)
        q = _windows(roll(self.theta(x)), self.size)
        k = _windows(roll(self.phi(x)), self.size)
        v = _windows(roll(x), self.size)
        logits = torch.bmm(q, k.transpose(1, 2)) * self.scale  # N x size^2 x size^2
        if prev_logits is not None:
            logits = logits + prev_logits
        mixed = _unwindows(torch.bmm(logits.softmax(dim=-1), v), self.size, b, h, w)
        if s:
            mixed = torch.roll(mixed, (s, s), (2, 3))
        return x + mixed, logits


class NLRN(nn.Module):
    """Non-local recurrent denoiser (see the module notes)."""

    def __init__(self, in_channels: int = 1, features: int = 32, embed: int = 16, steps: int = 6, window: int = 8) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if window < 2 or window % 2:
            raise ValueError(f"window must be an even number >= 2, got {window}")
        self.steps = steps
        self.head = nn.Conv2d(in_channels, features, 3, padding=1)
        self.non_local = WindowNonLocal(features, embed, window)
        self.body = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
        )
        self.tail = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(features, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.head(x)
        state = x0
        logits: list[torch.Tensor | None] = [None, None]  # per window grid (plain, shifted)
        for t in range(self.steps):  # one cell, shared weights, unrolled
            grid = t % 2
            mixed, logits[grid] = self.non_local(state, logits[grid], shift=bool(grid))
            state = x0 + self.body(mixed)
        return x - self.tail(state)


SPEC = ArchSpec(
    name="nlrn",
    task="denoise",
    build=NLRN,
    description="NLRN: recurrent residual cell (shared weights) with neighbourhood non-local blocks and correlation propagation",
    defaults={"in_channels": 1, "features": 32, "embed": 16, "steps": 6, "window": 8},
    in_channels_of=lambda a: int(a.get("in_channels", 1)),
    size_multiple_of=lambda a: int(a.get("window", 8)),
)
