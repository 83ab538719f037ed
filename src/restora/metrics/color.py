"""Colour conversion for metrics: the BT.601 luma (Y) plane as MATLAB's ``rgb2ycbcr`` gives it."""

from __future__ import annotations

import numpy as np

from restora.errors import InvalidParameterError

__all__ = ["rgb_to_y", "Y_WEIGHTS", "Y_OFFSET"]

#: BT.601 luma weights of MATLAB ``rgb2ycbcr`` for RGB in [0, 1] (Y in 8-bit levels).
Y_WEIGHTS = (65.481, 128.553, 24.966)
#: Offset of Y in 8-bit levels (Y spans [16, 235] for RGB in [0, 1]).
Y_OFFSET = 16.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """The Y (luma) plane of ITU-R BT.601 exactly as MATLAB's ``rgb2ycbcr`` on a double image.

    ``Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255`` for RGB in [0, 1], so Y lies in
    [16/255, 235/255]. The result is ``H x W x 1`` (float64 input stays float64, anything
    else becomes float32); no rounding and no clipping. A one-channel (gray) image passes
    through unchanged: gray test sets are measured as stored.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise InvalidParameterError(
            f"image must be H x W x C with C in (1, 3) for rgb_to_y; got shape {np.shape(image)}"
        )
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    if arr.shape[2] == 1:
        return arr.astype(dtype, copy=False)
    a = arr.astype(np.float64, copy=False)
    y = (Y_OFFSET + Y_WEIGHTS[0] * a[..., 0] + Y_WEIGHTS[1] * a[..., 1] + Y_WEIGHTS[2] * a[..., 2]) / 255.0
    return y[:, :, None].astype(dtype, copy=False)
