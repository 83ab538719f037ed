"""Batched, differentiable torch versions of PSNR, SSIM and MS-SSIM for training-time validation.

Same conventions and results as the numpy functions (``restora.metrics.psnr`` etc.; tested to
1e-5): inputs are ``B x C x H x W`` (or ``C x H x W``) tensors in ``[0, data_range]``, C = 1 or 3,
and each function returns one value per image, a ``Tensor[B]``. Computation runs in float64
(float32 on Apple MPS, which has no float64) on the inputs' device; rounding
(``round_to_uint8=True``) stops gradients, everything else is differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from restora.errors import InvalidParameterError
from restora.metrics.color import Y_OFFSET, Y_WEIGHTS
from restora.metrics.ms_ssim import MS_SSIM_WEIGHTS, ms_ssim_min_size
from restora.metrics.ssim import SSIM_K1, SSIM_K2, SSIM_WINDOW, gaussian_window
from restora.validation import check_range

__all__ = ["psnr_torch", "ssim_torch", "ms_ssim_torch", "rgb_to_y_torch"]


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float32 if t.device.type == "mps" else torch.float64


def rgb_to_y_torch(x: torch.Tensor) -> torch.Tensor:
    """BT.601 Y (MATLAB ``rgb2ycbcr``) of a ``B x 3 x H x W`` tensor in [0, 1]; ``B x 1 x H x W``.
    One-channel input passes through."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (Y_OFFSET + (x * w).sum(dim=1, keepdim=True)) / 255.0


def _u8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def _prepare(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    crop: int,
    y_channel: bool,
    data_range: float,
    round_to_uint8: bool,
    min_size: int,
    what: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise InvalidParameterError("a and b must be torch tensors (B x C x H x W)")
    if a.dim() == 3:
        a = a.unsqueeze(0)
    if b.dim() == 3:
        b = b.unsqueeze(0)
    if a.dim() != 4 or a.shape[1] not in (1, 3):
        raise InvalidParameterError(f"a must be B x C x H x W with C in (1, 3); got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise InvalidParameterError(f"a and b must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    rng = check_range("data_range", data_range, 0, None, lo_open=True)
    dt = _compute_dtype(a)
    x = a.to(dtype=dt) / rng
    y = b.to(device=a.device, dtype=dt) / rng
    if round_to_uint8:
        x, y = _u8(x), _u8(y)
    if y_channel:
        x, y = rgb_to_y_torch(x), rgb_to_y_torch(y)
        if round_to_uint8 and a.shape[1] == 3:
            x = torch.floor(x * 255.0 + 0.5) / 255.0
            y = torch.floor(y * 255.0 + 0.5) / 255.0
    if isinstance(crop, bool) or int(crop) != crop or crop < 0:
        raise InvalidParameterError(f"crop must be a non-negative integer; got {crop!r}")
    c = int(crop)
    h, w = x.shape[2] - 2 * c, x.shape[3] - 2 * c
    if h < min_size or w < min_size:
        raise InvalidParameterError(
            f"crop={c} leaves {max(h, 0)}x{max(w, 0)} pixels of a {x.shape[2]}x{x.shape[3]} image; "
            f"{what} needs at least {min_size}x{min_size}"
        )
    if c:
        x, y = x[:, :, c:-c, c:-c], y[:, :, c:-c, c:-c]
    return x, y


def psnr_torch(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> torch.Tensor:
    """Per-image PSNR in dB, ``Tensor[B]`` (``inf`` where identical); see :func:`restora.metrics.psnr`."""
    x, y = _prepare(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                    round_to_uint8=round_to_uint8, min_size=1, what="PSNR")
    err = ((x - y) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / err)


def _gauss_valid(x: torch.Tensor) -> torch.Tensor:
    """'Valid' separable Gaussian filtering (11 taps, sigma 1.5) of ``B x N x H x W``.

    Written as weighted sums of shifted views: exact in float64 and several times faster on
    CPU than a float64 depthwise ``conv2d`` (which has no optimised CPU kernel).
    """
    g = [float(v) for v in gaussian_window()]
    h = x.shape[2] - (SSIM_WINDOW - 1)
    f = x[:, :, 0:h, :] * g[0]
    for i in range(1, SSIM_WINDOW):
        f = f.add_(x[:, :, i : i + h, :], alpha=g[i])
    w = x.shape[3] - (SSIM_WINDOW - 1)
    out = f[:, :, :, 0:w] * g[0]
    for i in range(1, SSIM_WINDOW):
        out = out.add_(f[:, :, :, i : i + w], alpha=g[i])
    return out


def _ssim_parts(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps ('valid' Gaussian filtering), ``B x C x H' x W'``."""
    c = x.shape[1]
    f = _gauss_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1))  # B x 5C x H' x W'
    mu1, mu2, e11, e22, e12 = torch.split(f, c, dim=1)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    lum = (2.0 * mu12 + c1) / (mu1_sq + mu2_sq + c1)
    cs = (2.0 * (e12 - mu12) + c2) / ((e11 - mu1_sq) + (e22 - mu2_sq) + c2)
    return lum, cs


def ssim_torch(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> torch.Tensor:
    """Per-image mean SSIM, ``Tensor[B]``; same convention as :func:`restora.metrics.ssim`
    (Gaussian 11x11 sigma 1.5, valid window, channel mean)."""
    x, y = _prepare(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                    round_to_uint8=round_to_uint8, min_size=SSIM_WINDOW, what="SSIM")
    lum, cs = _ssim_parts(x, y)
    return (lum * cs).mean(dim=(1, 2, 3))


def _downsample2(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[2], x.shape[3]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2, stride=2)


def ms_ssim_torch(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
) -> torch.Tensor:
    """Per-image MS-SSIM, ``Tensor[B]``; same convention as :func:`restora.metrics.ms_ssim`."""
    levels = len(weights)
    if levels < 1:
        raise InvalidParameterError("weights must be a non-empty sequence of numbers")
    need = ms_ssim_min_size(levels)
    x, y = _prepare(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                    round_to_uint8=round_to_uint8, min_size=need, what=f"MS-SSIM ({levels} scales)")
    total = torch.ones(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    for j, wj in enumerate(weights):
        lum, cs = _ssim_parts(x, y)
        m = (lum * cs).mean(dim=(2, 3)) if j == levels - 1 else cs.mean(dim=(2, 3))
        total = total * m.clamp_min(0.0) ** float(wj)
        if j < levels - 1:
            x, y = _downsample2(x), _downsample2(y)
    return total.mean(dim=1)
