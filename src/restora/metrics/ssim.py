"""SSIM exactly as Wang et al.'s reference ``ssim_index.m`` (2004) computes it.

Gaussian window 11 x 11, sigma 1.5 (MATLAB ``fspecial('gaussian', 11, 1.5)``),
``K1 = 0.01``, ``K2 = 0.03``, ``L = data_range``, 'valid' filtering (no padding: the map is
``(H - 10) x (W - 10)``), population (biased) local variances, and **no automatic
downsampling** (Wang's later ``ssim.m`` and MATLAB's built-in ``ssim()`` differ here; see
docs/metrics.md). This is the convention of the SR/denoising benchmark tables (e.g. the
MATLAB scripts of EDSR/RCAN and BasicSR's ``calculate_ssim``).
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.metrics._common import prepare_pair

__all__ = ["ssim", "ssim_map", "gaussian_window", "SSIM_WINDOW", "SSIM_SIGMA", "SSIM_K1", "SSIM_K2"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian of ``fspecial('gaussian', size, sigma)`` (its 2-D form is the
    outer product of this vector with itself). float64, sums to 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(plane: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D 'valid' correlation of a float64 plane with the separable window ``kernel``."""
    r = (kernel.size - 1) // 2
    full = cv2.sepFilter2D(plane, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    return full[r : plane.shape[0] - r, r : plane.shape[1] - r]


def _ssim_parts(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and contrast-structure maps ('valid') of two float64 2-D planes."""
    k = gaussian_window()
    mu1 = _filter_valid(x, k)
    mu2 = _filter_valid(y, k)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(x * x, k) - mu1_sq
    s2 = _filter_valid(y * y, k) - mu2_sq
    s12 = _filter_valid(x * y, k) - mu12
    lum = (2.0 * mu12 + c1) / (mu1_sq + mu2_sq + c1)
    cs = (2.0 * s12 + c2) / (s1 + s2 + c2)
    return lum, cs


def _ssim_map_prepared(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    c1, c2 = (SSIM_K1 * 1.0) ** 2, (SSIM_K2 * 1.0) ** 2
    planes = []
    for c in range(x.shape[2]):
        lum, cs = _ssim_parts(x[:, :, c], y[:, :, c], c1, c2)
        planes.append(lum * cs)
    return np.stack(planes, axis=2)


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> np.ndarray:
    """The local SSIM map, float64 ``(H - 2 crop - 10) x (W - 2 crop - 10) x C``.

    Options as :func:`ssim`. Each channel is measured on its own.
    """
    x, y = prepare_pair(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                        round_to_uint8=round_to_uint8, min_size=SSIM_WINDOW, what="SSIM")
    return _ssim_map_prepared(x, y)


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> float:
    """Mean SSIM (MATLAB ``ssim_index.m`` convention: Gaussian 11x11 sigma 1.5, valid window).

    Parameters are those of :func:`restora.metrics.psnr` (crop, Y channel, data range,
    8-bit rounding, applied in that documented order). RGB without ``y_channel``: the
    mean over the three channels of each channel's mean SSIM (scikit-image's
    ``channel_axis`` convention). Needs at least 11 x 11 pixels after cropping.
    """
    return float(np.mean(ssim_map(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                                  round_to_uint8=round_to_uint8)))
