"""Shared input handling of the full-reference metrics (PSNR, SSIM, MS-SSIM).

Order of operations, the same for every metric and documented in docs/metrics.md:
validate -> scale by ``data_range`` to [0, 1] -> (optional) quantise to 8 bit ->
(optional) Y channel -> crop ``crop`` pixels from every border. Everything runs in float64.
"""

from __future__ import annotations

import numpy as np

from restora.errors import InvalidParameterError
from restora.metrics.color import Y_OFFSET, Y_WEIGHTS
from restora.validation import check_range

__all__: list[str] = []


def as_float64_image(image: object, name: str) -> np.ndarray:
    """``image`` as a float64 ``H x W x C`` array (C in 1, 3); uint8/uint16 are read as k/255, k/65535."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise InvalidParameterError(
            f"{name} must be an H x W x C array with C in (1, 3); got shape {np.shape(image)}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidParameterError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float64) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.bool_:
        out = arr.astype(np.float64)
    else:
        raise InvalidParameterError(f"{name} must be float, uint8 or uint16; got dtype {arr.dtype}")
    if not np.all(np.isfinite(out)):
        raise InvalidParameterError(f"{name} contains NaN or infinite values")
    return out


def quantize_u8(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``uint8(255 * x) / 255``: saturate to [0, 1], round half away from zero."""
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5) / 255.0


def y_plane(x: np.ndarray, *, round_to_uint8: bool) -> np.ndarray:
    """BT.601 Y (MATLAB ``rgb2ycbcr``) of a float64 [0, 1] image; gray passes through.

    With ``round_to_uint8`` the Y plane is rounded to 8 bit too, because MATLAB's
    ``rgb2ycbcr`` of a uint8 image returns uint8 (the published SR numbers use this).
    """
    if x.shape[2] == 1:
        return x
    y = (Y_OFFSET + Y_WEIGHTS[0] * x[..., 0] + Y_WEIGHTS[1] * x[..., 1] + Y_WEIGHTS[2] * x[..., 2]) / 255.0
    if round_to_uint8:
        y = np.floor(y * 255.0 + 0.5) / 255.0
    return y[:, :, None]


def check_crop(crop: int, shape: tuple[int, ...], min_size: int, what: str) -> int:
    """Validate ``crop`` (pixels removed from each border) against an ``H x W`` shape."""
    if isinstance(crop, bool) or int(crop) != crop or crop < 0:
        raise InvalidParameterError(f"crop must be a non-negative integer; got {crop!r}")
    crop = int(crop)
    h, w = shape[0] - 2 * crop, shape[1] - 2 * crop
    if h < min_size or w < min_size:
        raise InvalidParameterError(
            f"crop={crop} leaves {max(h, 0)}x{max(w, 0)} pixels of a {shape[0]}x{shape[1]} image; "
            f"{what} needs at least {min_size}x{min_size}"
        )
    return crop


def prepare_pair(
    a: object,
    b: object,
    *,
    crop: int,
    y_channel: bool,
    data_range: float,
    round_to_uint8: bool,
    min_size: int = 1,
    what: str = "the metric",
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 ``H x W x C`` in [0, 1] units, after rounding, Y and crop."""
    x = as_float64_image(a, "a")
    y = as_float64_image(b, "b")
    if x.shape != y.shape:
        raise InvalidParameterError(f"a and b must have the same shape; got {x.shape} and {y.shape}")
    rng = check_range("data_range", data_range, 0, None, lo_open=True)
    if rng != 1.0:
        for arr, name in ((a, "a"), (b, "b")):
            if np.asarray(arr).dtype in (np.uint8, np.uint16):
                raise InvalidParameterError(
                    f"data_range applies to float inputs; {name} is {np.asarray(arr).dtype} and is "
                    "read as [0, 1] already (leave data_range=1.0)"
                )
        x = x / rng
        y = y / rng
    if round_to_uint8:
        x, y = quantize_u8(x), quantize_u8(y)
    if y_channel:
        x = y_plane(x, round_to_uint8=round_to_uint8)
        y = y_plane(y, round_to_uint8=round_to_uint8)
    c = check_crop(crop, x.shape, min_size, what)
    if c:
        x = x[c:-c, c:-c]
        y = y[c:-c, c:-c]
    return x, y
