"""Pixel noise: Gaussian, Poisson (shot), Poisson-Gaussian, salt-and-pepper, dead/hot
pixels, speckle and quantization.

Noise levels ``sigma`` are in 8-bit levels (sigma = 25 means a standard deviation of
25/255 on the [0, 1] scale). Results are never clipped unless ``clip=True``; every random
function takes ``rng`` (seed or Generator) and returns ``Degraded(image, record)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_range

__all__ = [
    "gaussian_noise",
    "poisson_noise",
    "poisson_gaussian_noise",
    "salt_and_pepper_noise",
    "dead_hot_pixels",
    "speckle_noise",
    "quantize",
]

# ITU-R BT.601 luma weights (as OpenCV's RGB2GRAY), for channel-shared noise.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _finish(out: np.ndarray, clip: bool, record: dict[str, Any]) -> Degraded:
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return Degraded(np.ascontiguousarray(out, dtype=np.float32), jsonable(record))


def gaussian_noise(
    image: np.ndarray,
    sigma: float,
    rng: RngLike = None,
    *,
    gray: bool = False,
    clip: bool = False,
) -> Degraded:
    """Add white Gaussian noise of standard deviation ``sigma/255``.

    ``gray=True`` draws one noise plane and adds it to every channel (Real-ESRGAN's "gray
    noise"); otherwise channels get independent noise.
    """
    s = check_range("sigma", sigma, 0, None)
    img = as_image(image)
    gen = as_generator(rng)
    h, w, c = img.shape
    noise = gen.standard_normal((h, w, 1 if gray else c), dtype=np.float32)
    noise *= np.float32(s / 255.0)
    out = img + noise
    return _finish(out, clip, {"op": "gaussian_noise", "sigma": s, "gray": bool(gray), "clip": bool(clip)})


def poisson_noise(
    image: np.ndarray,
    peak: float,
    rng: RngLike = None,
    *,
    gray: bool = False,
    clip: bool = False,
) -> Degraded:
    """Add Poisson (photon shot) noise: ``y = x + (Poisson(x * peak) / peak - x)``.

    ``peak`` is the photon count of a pixel of value 1, so the noise has mean 0 and variance
    ``x / peak`` (proportional to intensity); larger ``peak`` means less noise. Negative
    values count as 0 photons (they get no noise). ``gray=True`` draws the noise from the
    BT.601 luma of an RGB image and adds it to every channel.
    """
    p = check_range("peak", peak, 0, None, lo_open=True)
    img = as_image(image)
    gen = as_generator(rng)
    if gray and img.shape[2] == 3:
        base = np.maximum(img @ _LUMA, 0.0)[:, :, None]
    else:
        base = np.maximum(img, 0.0)
    lam = base.astype(np.float64) * p
    noise = (gen.poisson(lam) / p - base).astype(np.float32)
    out = img + noise
    return _finish(out, clip, {"op": "poisson_noise", "peak": p, "gray": bool(gray), "clip": bool(clip)})


def poisson_gaussian_noise(
    image: np.ndarray,
    shot: float,
    read: float,
    rng: RngLike = None,
    *,
    clip: bool = False,
) -> Degraded:
    """Add signal-dependent sensor noise with variance ``shot * x + read²`` (all in [0, 1] units).

    The shot part is a scaled Poisson variable, ``shot * Poisson(x / shot) - x`` (mean 0,
    variance ``shot * x``; ``shot`` is the value of one photo-electron, i.e. ``1 / peak``),
    the read part is Gaussian with standard deviation ``read`` (not in 8-bit levels: read =
    0.01 is 2.55/255). Negative values count as 0 for the shot part.
    """
    a = check_range("shot", shot, 0, None)
    b = check_range("read", read, 0, None)
    img = as_image(image)
    gen = as_generator(rng)
    out = img.copy()
    if a > 0:
        base = np.maximum(img, 0.0)
        out += (a * gen.poisson(base.astype(np.float64) / a) - base).astype(np.float32)
    if b > 0:
        out += gen.standard_normal(img.shape, dtype=np.float32) * np.float32(b)
    return _finish(out, clip, {"op": "poisson_gaussian_noise", "shot": a, "read": b, "clip": bool(clip)})


def salt_and_pepper_noise(
    image: np.ndarray,
    amount: float,
    rng: RngLike = None,
    *,
    salt_ratio: float = 0.5,
    per_channel: bool = False,
) -> Degraded:
    """Set a fraction ``amount`` of pixels to 1 (salt, share ``salt_ratio``) or 0 (pepper).

    Each pixel is hit independently with probability ``amount``; a hit sets all its channels
    unless ``per_channel=True`` (then channels are hit independently).
    """
    frac = check_range("amount", amount, 0, 1)
    ratio = check_range("salt_ratio", salt_ratio, 0, 1)
    img = as_image(image)
    gen = as_generator(rng)
    h, w, c = img.shape
    shape = (h, w, c if per_channel else 1)
    hit = gen.random(shape) < frac
    salt = gen.random(shape) < ratio
    out = np.where(hit, np.where(salt, np.float32(1.0), np.float32(0.0)), img).astype(np.float32)
    record = {
        "op": "salt_and_pepper_noise",
        "amount": frac,
        "salt_ratio": ratio,
        "per_channel": bool(per_channel),
        "n_salt": int(np.count_nonzero(hit & salt)),
        "n_pepper": int(np.count_nonzero(hit & ~salt)),
    }
    return Degraded(out, jsonable(record))


def dead_hot_pixels(
    image: np.ndarray,
    fraction: float,
    rng: RngLike = None,
    *,
    hot_ratio: float = 0.5,
) -> Degraded:
    """Simulate defective sensor pixels: ``round(fraction * H * W)`` distinct pixel sites.

    Each defective site is hot (stuck at 1) with probability ``hot_ratio``, else dead
    (stuck at 0). As on a colour-filter-array sensor a defect hits one colour: for RGB
    images one random channel of the pixel is affected (a coloured dot); unlike
    :func:`salt_and_pepper_noise`, which sets whole pixels.
    """
    frac = check_range("fraction", fraction, 0, 1)
    ratio = check_range("hot_ratio", hot_ratio, 0, 1)
    img = as_image(image)
    gen = as_generator(rng)
    h, w, c = img.shape
    n = int(round(frac * h * w))
    out = img.copy()
    sites = gen.choice(h * w, size=n, replace=False) if n else np.zeros(0, dtype=np.int64)
    channel = gen.integers(0, c, size=n)
    hot = gen.random(n) < ratio
    rows, cols = np.divmod(sites, w)
    out[rows, cols, channel] = np.where(hot, 1.0, 0.0).astype(np.float32)
    record = {
        "op": "dead_hot_pixels",
        "fraction": frac,
        "hot_ratio": ratio,
        "n_hot": int(hot.sum()),
        "n_dead": int(n - hot.sum()),
    }
    return Degraded(out, jsonable(record))


def speckle_noise(
    image: np.ndarray,
    sigma: float,
    rng: RngLike = None,
    *,
    clip: bool = False,
) -> Degraded:
    """Multiplicative noise ``y = x * (1 + n)``, ``n ~ N(0, (sigma/255)²)``.

    ``sigma`` is in 8-bit levels at full scale: at ``x = 1`` the noise std is ``sigma/255``,
    at ``x`` it is ``x * sigma / 255``.
    """
    s = check_range("sigma", sigma, 0, None)
    img = as_image(image)
    gen = as_generator(rng)
    n = gen.standard_normal(img.shape, dtype=np.float32)
    n *= np.float32(s / 255.0)
    out = img + img * n
    return _finish(out, clip, {"op": "speckle_noise", "sigma": s, "clip": bool(clip)})


def quantize(image: np.ndarray, bits: int, *, clip: bool = False) -> Degraded:
    """Round values to the grid of a ``bits``-bit converter: ``round(x * L) / L``, ``L = 2^bits - 1``.

    Deterministic. Values outside [0, 1] stay outside (rounded on the same grid) unless
    ``clip=True``, which saturates them like an ADC.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise InvalidParameterError(f"bits must be an integer in [1, 32], got {bits!r}")
    img = as_image(image)
    levels = float(2 ** int(bits) - 1)
    out = (np.round(img.astype(np.float64) * levels) / levels).astype(np.float32)
    return _finish(out, clip, {"op": "quantize", "bits": int(bits), "clip": bool(clip)})
