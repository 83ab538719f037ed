"""Haze by the atmospheric scattering model (Koschmieder; McCartney; He et al. 2009).

``I = J * t + A * (1 - t)`` with transmission ``t = exp(-beta * d)``: ``J`` is the clean
image, ``A`` the airlight (global atmospheric light), ``d`` the scene depth and ``beta``
the scattering coefficient. Since ``0 < t <= 1`` every hazy pixel lies between ``J`` and
``A``; ``beta = 0`` leaves the image unchanged.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image, check_range

__all__ = ["haze", "synthetic_depth", "transmission"]


def synthetic_depth(height: int, width: int, rng: RngLike = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A plausible smooth depth map in [0, 1] (far = 1 at the top, near = 0 at the bottom).

    A vertical gradient ``(1 - y) ** power`` (ground receding to a horizon) blended with
    low-frequency noise (a coarse random grid upsampled bicubically) of weight
    ``noise_weight``. Returns ``(depth, params)``; the same ``rng`` seed gives the same map.
    """
    h, w = int(height), int(width)
    if h < 1 or w < 1:
        raise InvalidParameterError(f"depth map size must be positive, got {h}x{w}")
    gen = as_generator(rng)
    power = float(gen.uniform(0.5, 2.0))
    noise_weight = float(gen.uniform(0.1, 0.4))
    grid = (int(gen.integers(3, 8)), int(gen.integers(3, 8)))
    coarse = gen.random(grid).astype(np.float32)
    noise = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w)
    span = float(noise.max() - noise.min())
    noise = (noise - noise.min()) / span if span > 0 else np.zeros_like(noise)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None] if h > 1 else np.zeros((1, 1), np.float32)
    gradient = (1.0 - y) ** power
    depth = np.clip((1.0 - noise_weight) * gradient + noise_weight * noise, 0.0, 1.0).astype(np.float32)
    params = {"kind": "vertical_gradient+lowfreq_noise", "power": power, "noise_weight": noise_weight,
              "noise_grid": list(grid)}
    return depth, params


def transmission(depth: np.ndarray, beta: float) -> np.ndarray:
    """Transmission map ``t = exp(-beta * depth)`` (float32, in (0, 1] for depth >= 0).

    Values that would underflow float32 are held at its smallest normal number, so ``t``
    never reaches 0 (such pixels are the airlight to float precision anyway).
    """
    b = check_range("beta", beta, 0, None)
    t = np.exp(-b * np.asarray(depth, dtype=np.float64))
    return np.maximum(t, np.finfo(np.float32).tiny).astype(np.float32)


def _airlight(airlight: float | Sequence[float], channels: int) -> np.ndarray:
    vals = np.atleast_1d(np.asarray(airlight, dtype=np.float64)).ravel()
    if vals.size == 1:
        vals = np.repeat(vals, channels)
    if vals.size != channels:
        raise InvalidParameterError(
            f"airlight must be a number or {channels} values (one per channel); got {airlight!r}"
        )
    for i, v in enumerate(vals):
        check_range(f"airlight[{i}]", v, 0, 1)
    return vals


def haze(
    image: np.ndarray,
    beta: float = 1.0,
    *,
    airlight: float | tuple[float, ...] = 0.9,
    depth: np.ndarray | None = None,
    rng: RngLike = None,
) -> Degraded:
    """Add haze: ``I = J t + A (1 - t)``, ``t = exp(-beta * depth)``.

    ``airlight`` is one value or one per channel, in [0, 1]. ``depth`` is an ``H x W``
    map of non-negative distances (any unit; ``beta`` is per that unit); if ``None``, a
    smooth map in [0, 1] is synthesised by :func:`synthetic_depth` from a seed drawn from
    ``rng`` and the record holds its parameters and that seed
    (``synthetic_depth(h, w, rng=record["depth"]["seed"])`` re-creates it).
    """
    img = as_image(image)
    h, w, c = img.shape
    b = check_range("beta", beta, 0, None)
    a = _airlight(airlight, c)
    if depth is None:
        seed = child_seed(as_generator(rng))
        d, params = synthetic_depth(h, w, rng=seed)
        depth_record: dict[str, Any] = {"source": "synthetic", "seed": seed, **params}
    else:
        d = np.asarray(depth, dtype=np.float32)
        if d.ndim == 3 and d.shape[2] == 1:
            d = d[:, :, 0]
        if d.shape != (h, w):
            raise InvalidParameterError(f"depth must have shape {(h, w)} (the image's H x W), got {np.shape(depth)}")
        if not np.all(np.isfinite(d)) or float(d.min()) < 0:
            raise InvalidParameterError("depth must be finite and non-negative")
        depth_record = {"source": "given", "min": float(d.min()), "max": float(d.max())}
    t = transmission(d, b)[:, :, None]
    out = (img * t + a.astype(np.float32)[None, None, :] * (1.0 - t)).astype(np.float32)
    record = {
        "op": "haze",
        "beta": b,
        "airlight": a.tolist(),
        "depth": depth_record,
        "transmission_range": [float(t.min()), float(t.max())],
    }
    return Degraded(out, jsonable(record))
