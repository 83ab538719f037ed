"""Differentiable augmentation for GANs on small data (DiffAugment, Zhao et al. 2020).

The same policy is applied to the real and the generated batches that the discriminator
sees (each sample draws its own parameters), and every operation is differentiable in the
image, so the generator is trained through it and the R1 penalty can be taken with respect to
the un-augmented reals. Images are ``B x C x H x W`` tensors, in [-1, 1] as the GAN sees them
(the brightness shift of +-0.5 and the contrast/saturation factors are DiffAugment's for that
range). Randomness comes from a ``torch.Generator`` (a CPU one: its draws are moved to the
image's device), so a seed gives the same augmentation on every machine.

Policies (comma-separated, applied in order): ``color`` (brightness, saturation, contrast),
``translation`` (integer shift of up to ``translation_ratio`` of the size, zero fill),
``cutout`` (one zeroed square of ``cutout_ratio`` of the size at a random centre).
"""

from __future__ import annotations

import torch

from restora.errors import InvalidParameterError

__all__ = ["POLICIES", "diff_augment", "rand_brightness", "rand_saturation", "rand_contrast", "rand_translation", "rand_cutout"]

POLICIES = ("color", "translation", "cutout")


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=generator).to(device=like.device, dtype=like.dtype)


def _randint(high: torch.Tensor | int, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Integers uniform in ``[0, high)`` (``high`` may be per-sample)."""
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * high).floor().long()


def rand_brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add a per-sample offset uniform in [-0.5, 0.5)."""
    return x + (_rand((x.shape[0], 1, 1, 1), generator, x) - 0.5)


def rand_saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale each sample's deviation from its per-pixel channel mean by a factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), generator, x) * 2.0) + mean


def rand_contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale each sample's deviation from its global mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), generator, x) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each sample by integers in ``[-s, s]`` (``s = round(ratio * size)``) per axis, zero fill."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = _randint(2 * sy + 1, (b, 1, 1), generator) - sy
    tx = _randint(2 * sx + 1, (b, 1, 1), generator) - sx
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))
    dev = x.device
    rows = (torch.arange(h)[None, :, None] + sy - ty).to(dev)
    cols = (torch.arange(w)[None, None, :] + sx - tx).to(dev)
    bidx = torch.arange(b, device=dev)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bidx, rows, cols].permute(0, 3, 1, 2)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one ``round(ratio * H) x round(ratio * W)`` rectangle per sample at a random centre
    (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(h + (1 - ch % 2), (b, 1, 1), generator) - ch // 2
    cx = _randint(w + (1 - cw % 2), (b, 1, 1), generator) - cw // 2
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    inside = (ys >= cy) & (ys < cy + ch) & (xs >= cx) & (xs < cx + cw)
    mask = (~inside).to(device=x.device, dtype=x.dtype)[:, None]
    return x * mask


def diff_augment(
    x: torch.Tensor,
    policy: str = "color,translation,cutout",
    *,
    generator: torch.Generator | None = None,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> torch.Tensor:
    """Apply the DiffAugment ``policy`` (see the module docstring) to ``x``; ``""`` is identity."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in POLICIES:
            raise InvalidParameterError(f"augmentation policy {name!r} is unknown; valid: {', '.join(POLICIES)}")
    for name in names:
        if name == "color":
            x = rand_contrast(rand_saturation(rand_brightness(x, generator), generator), generator)
        elif name == "translation":
            x = rand_translation(x, translation_ratio, generator)
        else:
            x = rand_cutout(x, cutout_ratio, generator)
    return x.contiguous()
