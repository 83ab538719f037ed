"""Peak signal-to-noise ratio with explicit benchmark conventions."""

from __future__ import annotations

import math

import numpy as np

from restora.metrics._common import prepare_pair

__all__ = ["psnr", "mse"]


def mse(
    a: np.ndarray,
    b: np.ndarray,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> float:
    """Mean squared error in units of ``data_range`` (options as :func:`psnr`)."""
    x, y = prepare_pair(a, b, crop=crop, y_channel=y_channel, data_range=data_range,
                        round_to_uint8=round_to_uint8, what="MSE")
    return float(np.mean((x - y) ** 2))


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    *,
    crop: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
    round_to_uint8: bool = False,
) -> float:
    """PSNR in dB: ``10 log10(data_range**2 / MSE)``, the MSE taken over all pixels and channels.

    Parameters
    ----------
    a, b : images of the same shape, ``H x W x C`` (C = 1 or 3) float in ``[0, data_range]``
        (uint8/uint16 arrays are read as [0, 1]). The metric is symmetric.
    crop : pixels removed from each border before measuring (SR convention: ``crop = scale``).
    y_channel : measure the BT.601 Y plane (MATLAB ``rgb2ycbcr``) of RGB images; gray
        images are measured as they are.
    data_range : the value of white (1.0 for restora images).
    round_to_uint8 : measure as MATLAB does on 8-bit images: both images are saturated
        and rounded to 8 bit (half away from zero) first, and the Y plane is rounded to
        8 bit as well (``rgb2ycbcr`` of a uint8 image is uint8). The published SR tables
        use this; see docs/metrics.md.

    Returns ``inf`` for identical images (after rounding and cropping). Computed in float64.
    """
    err = mse(a, b, crop=crop, y_channel=y_channel, data_range=data_range, round_to_uint8=round_to_uint8)
    if err == 0.0:
        return math.inf
    return float(10.0 * math.log10(1.0 / err))
