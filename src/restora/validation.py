"""Small argument checks that raise one-line :class:`InvalidParameterError` messages."""

from __future__ import annotations

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


def as_image(image: Any, name: str = "image", *, channels: Iterable[int] = (1, 3)) -> np.ndarray:
    """Return ``image`` as a float32 ``H x W x C`` array (a 2-D array gains C = 1).

    Raises :class:`InvalidParameterError` for wrong rank, channel count, or non-finite values.
    Values are not clipped: out-of-range values are legal inside the API.
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
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr
