"""Small argument checks that raise one-line :class:`InvalidParameterError` messages."""

from __future__ import annotations

import warnings
from typing import Any, Iterable

import numpy as np

from restora.errors import InvalidParameterError


def check_range(
    name: str,
    value: float,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` if ``lo <= value <= hi`` (open ends optional), else raise naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}")
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise InvalidParameterError(f"{name} must be in {left}{lo_s}, {hi_s}{right}, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid ones."""
    options = list(choices)
    if value not in options:
        raise InvalidParameterError(
            f"{name} must be one of {', '.join(map(str, options))}; got {value!r}"
        )
    return value


class ValueRangeWarning(UserWarning):
    """A float image's values lie far outside [0, 1] (e.g. 0-255 data passed as floats)."""


#: A float image whose largest value exceeds this is almost surely 0-255 (or 0-65535) data,
#: not a [0, 1] image with overshoot (noise of sigma 255 reaches about 6): :func:`as_image` warns.
RANGE_WARN_ABOVE = 16.0


def as_image(image: Any, name: str = "image", *, channels: Iterable[int] = (1, 3)) -> np.ndarray:
    """Return ``image`` as a float32 ``H x W x C`` array (a 2-D array gains C = 1).

    uint8 and uint16 arrays are scaled by 1/255 and 1/65535; other dtypes are cast to float32
    unchanged. Raises :class:`InvalidParameterError` (naming ``name``) for a wrong rank or
    channel count, an empty array, or NaN/infinite values.

    Range rule: values are never clipped or rescaled here (slightly out-of-range values are
    legal inside the API, e.g. after adding noise). If the largest value exceeds
    :data:`RANGE_WARN_ABOVE` (16) the array is almost surely 0-255 or 0-65535 data passed as
    floats, so a :class:`ValueRangeWarning` is issued (the values are still used as given);
    divide by 255 / 65535 or pass a uint8 / uint16 array instead.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    allowed = tuple(channels)
    if arr.ndim != 3 or arr.shape[2] not in allowed:
        raise InvalidParameterError(
            f"{name} must be an H x W x C array with C in {allowed}; got shape {np.shape(image)}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidParameterError(f"{name} is empty: shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype != np.float32:
        if arr.dtype.kind not in "biufO":
            raise InvalidParameterError(f"{name} must be a real-valued numeric array, got dtype {arr.dtype}")
        try:
            with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused below
                arr = arr.astype(np.float32)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name} must be a numeric array, got dtype {arr.dtype}") from None
    hi = float(arr.max())
    lo = float(arr.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        raise InvalidParameterError(f"{name} contains NaN or infinite values")
    if hi > RANGE_WARN_ABOVE:
        warnings.warn(
            f"{name} has float values up to {hi:g}; restora expects floats in [0, 1] "
            "(divide 0-255 data by 255, 0-65535 data by 65535, or pass a uint8/uint16 array)",
            ValueRangeWarning,
            stacklevel=3,
        )
    return arr
