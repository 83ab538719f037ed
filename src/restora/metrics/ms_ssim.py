"""Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) as the authors' ``msssim.m`` computes it."""

from __future__ import annotations

import numpy as np

from restora.errors import InvalidParameterError
from restora.metrics._common import prepare_pair
from restora.metrics.ssim import SSIM_K1, SSIM_K2, SSIM_WINDOW, _ssim_parts

__all__ = ["ms_ssim", "MS_SSIM_WEIGHTS", "ms_ssim_min_size"]

#: The five scale weights of Wang et al. 2003 (finest first).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_min_size(levels: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest side (after cropping) for which every scale still holds an 11 x 11 window."""
    n = SSIM_WINDOW
    for _ in range(levels - 1):
        n = 2 * n - 1  # ceil(m / 2) >= n  <=>  m >= 2n - 1
    return n


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2x2 average, then keep every other pixel, as ``msssim.m`` does.

    ``imfilter(x, ones(2)/4, 'symmetric')`` then ``x(1:2:end, 1:2:end)``: for even sizes it
    is plain 2x2 average pooling; an odd size repeats its last row/column (symmetric pad).
    """
    h, w = x.shape[:2]
    if h % 2 or w % 2:
        x = np.pad(x, ((0, h % 2), (0, w % 2), (0, 0)), mode="symmetric")
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
) -> float:
    """MS-SSIM: ``prod_j mean(cs_j) ** w_j  *  mean(l_M cs_M) ** w_M`` over M = 5 scales.

    Each scale uses the SSIM of :func:`restora.metrics.ssim` (Gaussian 11x11, sigma 1.5,
    valid window, K1 = 0.01, K2 = 0.03); between scales the images are 2x2-averaged and
    subsampled (``msssim.m``). Options as :func:`ssim`; RGB without ``y_channel`` is the
    mean over channels of each channel's MS-SSIM. A negative contrast-structure mean
    (images anti-correlated at some scale) is clamped to 0 so the power stays real.
    Needs a side of at least :func:`ms_ssim_min_size` (161 for 5 scales) after cropping.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size < 1 or not np.all(np.isfinite(w)):
        raise InvalidParameterError(f"weights must be a non-empty sequence of numbers; got {weights!r}")
    levels = w.size
    need = ms_ssim_min_size(levels)
    x, y = prepare_pair(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                        round_to_uint8=round_to_uint8, min_size=need, what=f"MS-SSIM ({levels} scales)")
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    values = []
    for c in range(x.shape[2]):
        xc, yc = x[:, :, c : c + 1], y[:, :, c : c + 1]
        total = 1.0
        for j in range(levels):
            lum, cs = _ssim_parts(xc[:, :, 0], yc[:, :, 0], c1, c2)
            m = float(np.mean(lum * cs)) if j == levels - 1 else float(np.mean(cs))
            total *= max(m, 0.0) ** w[j]
            if j < levels - 1:
                xc, yc = _downsample2(xc), _downsample2(yc)
        values.append(total)
    return float(np.mean(values))
