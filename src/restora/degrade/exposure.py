"""Exposure and tone errors: EV gain in linear light, sensor clipping, gamma.

Images in restora are sRGB-encoded. An exposure change of ``ev`` stops multiplies the
*linear* light by ``2 ** ev``, so :func:`exposure` decodes sRGB (IEC 61966-2-1) to linear,
scales, optionally clips to [0, 1] the way a sensor saturates (highlights burn out; with
``clip=False`` values above 1 are kept), and re-encodes to sRGB. An optional power-law
``gamma`` is then applied to the encoded values (``out = in ** gamma``: ``gamma > 1``
darkens mid-tones, ``gamma < 1`` brightens them). Values below 0 are handled by odd
symmetry (``f(-x) = -f(x)``), so nothing is clipped unless asked.
"""

from __future__ import annotations

import math

import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_range

__all__ = ["exposure", "gamma_correction", "random_exposure", "srgb_to_linear", "linear_to_srgb"]


def _out_dtype(x: np.ndarray) -> np.dtype:
    return np.result_type(x.dtype, np.float32)


def _srgb_to_linear64(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    return np.copysign(lin, x)


def _linear_to_srgb64(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    enc = np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1 / 2.4) - 0.055)
    return np.copysign(enc, x)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Decode sRGB values to linear light (IEC 61966-2-1; odd-symmetric below 0)."""
    arr = np.asarray(x)
    return _srgb_to_linear64(arr.astype(np.float64)).astype(_out_dtype(arr))


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Encode linear light as sRGB values (IEC 61966-2-1; odd-symmetric below 0)."""
    arr = np.asarray(x)
    return _linear_to_srgb64(arr.astype(np.float64)).astype(_out_dtype(arr))


def _power(x: np.ndarray, gamma: float) -> np.ndarray:
    return np.copysign(np.abs(x) ** gamma, x)


def exposure(image: np.ndarray, ev: float = 0.0, *, gamma: float = 1.0, clip: bool = True) -> Degraded:
    """Change exposure by ``ev`` stops (gain ``2 ** ev`` in linear light), then apply ``gamma``.

    ``clip=True`` saturates linear light to [0, 1] like a sensor (over-exposed highlights
    are lost); ``clip=False`` keeps out-of-range values. ``ev = 0, gamma = 1, clip=False``
    is the identity up to float rounding.
    """
    img = as_image(image)
    e = check_range("ev", ev, -20, 20)
    g = check_range("gamma", gamma, 0, 10, lo_open=True)
    lin = _srgb_to_linear64(img.astype(np.float64)) * (2.0**e)
    clipped = float(np.mean(lin > 1.0)) if clip else 0.0
    if clip:
        lin = np.clip(lin, 0.0, 1.0)
    out = _linear_to_srgb64(lin)
    if g != 1.0:
        out = _power(out, g)
    record = {"op": "exposure", "ev": e, "gain": 2.0**e, "gamma": g, "clip": bool(clip),
              "clipped_fraction": clipped}
    return Degraded(out.astype(np.float32), jsonable(record))


def gamma_correction(image: np.ndarray, gamma: float) -> Degraded:
    """Power-law tone change ``out = in ** gamma`` (``gamma > 1`` darkens; odd-symmetric below 0)."""
    img = as_image(image)
    g = check_range("gamma", gamma, 0, 10, lo_open=True)
    out = _power(img.astype(np.float64), g).astype(np.float32)
    return Degraded(out, jsonable({"op": "gamma", "gamma": g}))


def random_exposure(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    ev_range: tuple[float, float] = (-2, 2),
    gamma_range: tuple[float, float] = (0.7, 1.4),
) -> Degraded:
    """:func:`exposure` with ``ev`` uniform in ``ev_range`` and ``gamma`` log-uniform in
    ``gamma_range`` (so darkening and brightening are equally likely), clipping on."""
    lo, hi = (check_range("ev_range", v, -20, 20) for v in ev_range)
    glo, ghi = (check_range("gamma_range", v, 0, 10, lo_open=True) for v in gamma_range)
    if lo > hi or glo > ghi:
        raise InvalidParameterError(
            f"ev_range and gamma_range must be (low, high) with low <= high; got {ev_range!r}, {gamma_range!r}"
        )
    gen = as_generator(rng)
    ev = float(gen.uniform(lo, hi))
    gamma = float(math.exp(gen.uniform(math.log(glo), math.log(ghi))))
    out, record = exposure(image, ev, gamma=gamma, clip=True)
    record.update({"ev_range": [lo, hi], "gamma_range": [glo, ghi]})
    return Degraded(out, record)
