"""JPEG compression in torch: batched, per-sample quality, on CPU or GPU, differentiable.

The codec is written out as the baseline JPEG standard (ITU-T T.81) does it, the way the
IJG library (libjpeg / libjpeg-turbo, which OpenCV and Pillow use) does by default:

1. quantise the input to 8 bits, convert RGB to JFIF YCbCr (full-range BT.601), round;
2. pad each plane by edge replication to whole MCUs (16 x 16 for 4:2:0, 8 x 8 otherwise);
3. 4:2:0: average the chroma planes over 2 x 2 (libjpeg's ``h2v2_downsample``);
4. level shift by -128, 8 x 8 orthonormal DCT-II (two matrix products per block);
5. divide by the IJG quantisation tables (Annex K tables scaled by quality exactly as
   ``jpeg_quality_scaling``: ``5000 / q`` below 50, ``200 - 2 q`` above, baseline-clamped
   to 1..255), round, multiply back (the lossy step);
6. inverse DCT, +128, round and clamp to 0..255;
7. 4:2:0: upsample chroma with libjpeg's "fancy" triangle filter (weights 3/4, 1/4 = bilinear
   with half-pixel centres), convert back to RGB, round and clamp to 8 bits.

Rounding uses a straight-through estimator: the forward pass rounds exactly, the backward
pass treats rounding as the identity, so gradients reach the input. What differs from the
real codec: libjpeg computes the DCT/IDCT and colour conversion in fixed point (``islow``)
and rounds the chroma average with an alternating bias; here they are float. The entropy
coding stage is lossless and is skipped. See ``docs/degradations.md`` for the measured
agreement with OpenCV (PSNR between the two outputs).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from restora.errors import InvalidParameterError

__all__ = ["jpeg", "jpeg_quantization_tables", "rgb_to_ycbcr_jpeg", "ycbcr_jpeg_to_rgb"]

# ITU-T T.81 Annex K.1 luminance and K.2 chrominance tables (natural row-major order).
_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip

_SUBSAMPLING = ("4:2:0", "4:4:4")


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    if not x.requires_grad:
        return torch.round(x)
    return x + (torch.round(x) - x).detach()


@lru_cache(maxsize=16)
def _dct_matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """64 x 64 matrix of the 8 x 8 orthonormal 2-D DCT-II on row-major flattened blocks.

    It is ``kron(D, D)`` for the 1-D DCT matrix ``D`` (``coef = D @ block @ D.T``); one
    large matrix product over all blocks is faster than many 8 x 8 ones.
    """
    n = torch.arange(8, dtype=torch.float64)
    k = n[:, None]
    d = torch.cos((2 * n[None, :] + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    d[0] = math.sqrt(1 / 8)
    return torch.kron(d, d).to(device=device, dtype=dtype)


# JFIF RGB -> YCbCr matrix and its inverse (offsets 0, 128, 128).
_RGB2YCC = ((0.299, 0.587, 0.114), (-0.168735892, -0.331264108, 0.5), (0.5, -0.418687589, -0.081312411))
_YCC2RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136286, -0.714136286), (1.0, 1.772, 0.0))


def jpeg_quantization_tables(quality: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """IJG luminance and chrominance tables for each quality: two ``B x 8 x 8`` float tensors.

    ``quality`` in [1, 100] (integers give exactly libjpeg's tables; fractions are allowed).
    """
    q = torch.as_tensor(quality, dtype=torch.float64).reshape(-1)
    if torch.any((q < 1) | (q > 100)) or not torch.all(torch.isfinite(q)):
        raise InvalidParameterError(f"quality must be in [1, 100], got {q.tolist()}")
    scale = torch.where(q < 50, torch.floor(5000.0 / q), 200.0 - 2.0 * q)
    out = []
    for base in (_LUMA, _CHROMA):
        t = torch.tensor(base, dtype=torch.float64).reshape(1, 8, 8)
        table = torch.floor((t * scale.view(-1, 1, 1) + 50.0) / 100.0).clamp(1.0, 255.0)
        out.append(table.to(torch.float32))
    return out[0], out[1]


def _mix(x: torch.Tensor, matrix: tuple, offset: tuple) -> torch.Tensor:
    m = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    off = torch.tensor(offset, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return torch.einsum("ij,bjhw->bihw", m, x) + off


def rgb_to_ycbcr_jpeg(x: torch.Tensor) -> torch.Tensor:
    """JFIF (full-range BT.601) RGB -> YCbCr on ``B x 3 x H x W`` tensors in 0..255 units."""
    return _mix(x, _RGB2YCC, (0.0, 128.0, 128.0))


def ycbcr_jpeg_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr_jpeg` (0..255 units)."""
    return _mix(x - torch.tensor((0.0, 128.0, 128.0), dtype=x.dtype, device=x.device).view(1, 3, 1, 1),
                _YCC2RGB, (0.0, 0.0, 0.0))


def _code_planes(planes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """DCT, quantise, dequantise, IDCT level-shifted (-128..127) ``B x P x H x W`` planes
    (H, W multiples of 8); the result is rounded and clamped to -128..127 like libjpeg's."""
    b, p, h, w = planes.shape
    k = _dct_matrix(planes.device, planes.dtype)
    blocks = planes.reshape(b, p, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, 64)
    coef = blocks @ k.T
    t = table.to(device=planes.device, dtype=planes.dtype).reshape(b, 1, 64)
    coef = _ste_round(coef / t) * t
    rec = (coef @ k).reshape(b, p, h // 8, w // 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, p, h, w)
    return _ste_round(rec).clamp(-128.0, 127.0)


def jpeg(
    x: torch.Tensor,
    quality: torch.Tensor | float | int,
    *,
    chroma_subsampling: str = "4:2:0",
) -> torch.Tensor:
    """JPEG-compress a ``B x C x H x W`` batch (C = 1 or 3, values in [0, 1]) and decode it.

    ``quality`` is a number or a length-B tensor (per-sample quality, 1..100). Values are
    clipped to [0, 1] first (JPEG is defined on 8-bit samples); the output is 8-bit
    quantised (``k / 255``) like a decoded file. Gradients flow to ``x`` (straight-through
    rounding). ``chroma_subsampling``: ``"4:2:0"`` (the IJG/OpenCV default) or ``"4:4:4"``.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise InvalidParameterError(f"x must be a B x C x H x W tensor with C in (1, 3); got shape {tuple(x.shape)}")
    if chroma_subsampling not in _SUBSAMPLING:
        raise InvalidParameterError(
            f"chroma_subsampling must be one of {', '.join(_SUBSAMPLING)}; got {chroma_subsampling!r}"
        )
    b, c, h, w = x.shape
    q = torch.as_tensor(quality, dtype=torch.float64).reshape(-1)
    if q.numel() == 1:
        q = q.expand(b)
    if q.numel() != b:
        raise InvalidParameterError(f"quality must be a number or have one value per sample ({b}); got {q.numel()}")
    luma_t, chroma_t = jpeg_quantization_tables(q)
    work = x.float() if x.dtype not in (torch.float32, torch.float64) else x
    pix = _ste_round(work.clamp(0.0, 1.0) * 255.0)
    sub = c == 3 and chroma_subsampling == "4:2:0"
    mcu = 16 if sub else 8
    ph, pw = (-h) % mcu, (-w) % mcu
    if ph or pw:
        pix = F.pad(pix, (0, pw, 0, ph), mode="replicate")
    # Work on level-shifted samples (value - 128), as the DCT stage does.
    if c == 1:
        out = _code_planes(pix - 128.0, luma_t) + 128.0
    else:
        ycc = _ste_round(_mix(pix, _RGB2YCC, (-128.0, 0.0, 0.0)))  # Y - 128, Cb - 128, Cr - 128
        y = _code_planes(ycc[:, 0:1], luma_t)
        chroma = ycc[:, 1:3]
        if sub:
            chroma = _ste_round(F.avg_pool2d(chroma, 2))
        chroma = _code_planes(chroma, chroma_t)
        if sub:
            chroma = _ste_round(F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False))
        out = _mix(torch.cat([y, chroma], dim=1), _YCC2RGB, (128.0, 128.0, 128.0))
    out = _ste_round(out).clamp(0.0, 255.0)[:, :, :h, :w] / 255.0
    return out.to(x.dtype)
