"""Strong repetitive-pattern noise: periodic stripes, moire, halftone and screen-door
patterns over a dark, photon-starved capture (issue 18's degradation).

:func:`pattern_noise` draws 1-3 periodic patterns (random kind, period, angle, phase,
amplitude and colour), darkens the image (low light), lays the patterns over it, adds
signal-dependent Poisson-Gaussian sensor noise (shot noise from a small photon count plus
read noise), then clips and rounds to 8 bits (a stored photograph). A *calibration* then
raises one common ``strength`` (pattern amplitude x s, read noise x s, photons / s^2) by a
factor ``growth`` until ``SSIM(output, clean) <= target_ssim``, so every generated input is
as damaged as the issue asks (SSIM <= 0.5). The SSIM is :func:`restora.metrics.ssim` on all
channels of the 8-bit output (what ``restora bench`` scores the ``input`` method with).

Pattern kinds (each a field ``P`` in [-1, 1] on rotated coordinates ``u = x cos(a) + y sin(a)``,
``v = -x sin(a) + y cos(a)``; ``f`` = 1 / period):

* ``stripes``: ``sin(2 pi f u + phase)``, added (interference bands);
* ``moire``: the product of two gratings of nearby period and angle (its difference term
  is the slow moire beat), added, often with a per-channel phase shift (rainbow moire);
* ``halftone``: a dot screen ``cos(2 pi f u) cos(2 pi f v)`` thresholded against the image's
  local luminance (+1 ink-free / -1 ink): the image is mixed with its binary halftone;
* ``screen_door``: a dark grid of lines (duty 15-40 % of the period), multiplied in.

The same ``rng`` gives the same image bit for bit: every draw, including the noise of each
calibration step, comes from seeds drawn once from ``rng``.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError, RestoraError
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image, check_range

__all__ = ["PATTERN_KINDS", "draw_patterns", "pattern_field", "pattern_noise"]

#: The pattern kinds :func:`pattern_noise` draws from.
PATTERN_KINDS = ("stripes", "moire", "halftone", "screen_door")

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def draw_patterns(rng: RngLike = None, *, kinds: Sequence[str] = PATTERN_KINDS, count: int | None = None,
                  channels: int = 3) -> list[dict[str, Any]]:
    """Draw the parameters of ``count`` (default 1-3, random) patterns of the given ``kinds``.

    Each is a dict: ``kind``, ``period`` (pixels, 3-24), ``angle`` (degrees), ``phase``
    (radians), ``amplitude`` (at strength 1: 0.10-0.30), ``color`` (per-channel gain), and
    kind-specific ``period2``/``angle2``/``phase2``/``channel_shift`` (moire) or ``duty``
    (screen door).
    """
    gen = as_generator(rng)
    kinds = tuple(kinds)
    for k in kinds:
        if k not in PATTERN_KINDS:
            raise InvalidParameterError(f"pattern kind {k!r} is unknown; valid: {', '.join(PATTERN_KINDS)}")
    if not kinds:
        raise InvalidParameterError(f"kinds must name at least one of {', '.join(PATTERN_KINDS)}")
    n = int(gen.integers(1, 4)) if count is None else int(count)
    if n < 1:
        raise InvalidParameterError(f"count must be at least 1, got {count}")
    out = []
    for _ in range(n):
        kind = kinds[int(gen.integers(0, len(kinds)))]
        period = float(np.exp(gen.uniform(np.log(3.0), np.log(24.0))))
        chroma = float(gen.uniform(0.0, 0.5))
        color = (1.0 + chroma * gen.standard_normal(channels)).clip(0.2, 2.0) if channels > 1 else np.ones(1)
        p: dict[str, Any] = {
            "kind": kind,
            "period": period,
            "angle": float(gen.uniform(0.0, 180.0)),
            "phase": float(gen.uniform(0.0, 2 * np.pi)),
            "amplitude": float(gen.uniform(0.10, 0.30)),
            "color": color.astype(np.float64).tolist(),
        }
        if kind == "moire":
            p["period2"] = period * float(gen.uniform(0.85, 1.15))
            p["angle2"] = p["angle"] + float(gen.uniform(-8.0, 8.0))
            p["phase2"] = float(gen.uniform(0.0, 2 * np.pi))
            p["channel_shift"] = float(gen.uniform(0.0, 2.0)) if gen.random() < 0.5 else 0.0
        elif kind == "screen_door":
            p["duty"] = float(gen.uniform(0.15, 0.40))
        out.append(p)
    return out


def _coords(h: int, w: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.deg2rad(angle_deg)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = x * np.float32(np.cos(a)) + y * np.float32(np.sin(a))
    v = -x * np.float32(np.sin(a)) + y * np.float32(np.cos(a))
    return u, v


def pattern_field(height: int, width: int, spec: dict[str, Any], *, channels: int = 3,
                  luminance: np.ndarray | None = None) -> np.ndarray:
    """The field ``P`` (float32 ``H x W x C``, values in [-1, 1]) of one pattern ``spec``
    (see :func:`draw_patterns`), before its colour and amplitude are applied.

    ``halftone`` needs the image's ``luminance`` (``H x W`` in [0, 1]) to threshold against.
    """
    h, w, c = int(height), int(width), int(channels)
    kind = spec["kind"]
    f = 1.0 / float(spec["period"])
    two_pi = np.float32(2 * np.pi)
    u, v = _coords(h, w, float(spec["angle"]))
    if kind == "stripes":
        p = np.sin(two_pi * f * u + np.float32(spec["phase"]))
        return np.repeat(p[:, :, None], c, axis=2)
    if kind == "moire":
        u2, _ = _coords(h, w, float(spec["angle2"]))
        f2 = 1.0 / float(spec["period2"])
        shift = float(spec.get("channel_shift", 0.0))
        planes = []
        for ch in range(c):
            d = np.float32(shift * ch)
            planes.append(np.sin(two_pi * f * u + np.float32(spec["phase"]) + d) * np.sin(two_pi * f2 * u2 + np.float32(spec["phase2"])))
        return np.stack(planes, axis=2)
    if kind == "halftone":
        if luminance is None:
            raise InvalidParameterError("a halftone pattern needs the image luminance")
        screen = 0.5 + 0.5 * np.cos(two_pi * f * u + np.float32(spec["phase"])) * np.cos(two_pi * f * v)
        lum = cv2.GaussianBlur(np.asarray(luminance, np.float32), (0, 0), sigmaX=max(0.5, 0.5 * float(spec["period"])))
        p = np.where(lum > screen, np.float32(1.0), np.float32(-1.0))
        return np.repeat(p[:, :, None], c, axis=2)
    if kind == "screen_door":
        duty = float(spec["duty"])
        fu = (f * u + np.float32(spec["phase"] / (2 * np.pi))) % 1.0
        fv = (f * v) % 1.0
        lines = (fu < duty) | (fv < duty)
        p = np.where(lines, np.float32(-1.0), np.float32(0.0))
        return np.repeat(p[:, :, None], c, axis=2)
    raise InvalidParameterError(f"pattern kind {kind!r} is unknown; valid: {', '.join(PATTERN_KINDS)}")


def _render(img: np.ndarray, lum: np.ndarray, fields: list[np.ndarray], specs: list[dict[str, Any]],
            exposure: float, peak: float, read_sigma: float, s: float, noise_seed: int) -> np.ndarray:
    """One rendering at strength ``s`` (deterministic for a given ``noise_seed``)."""
    x = img * np.float32(exposure)
    for field, spec in zip(fields, specs):
        a = np.float32(min(1.0, spec["amplitude"] * s))
        col = np.asarray(spec["color"], np.float32)[None, None, :]
        if spec["kind"] == "halftone":  # mix with the binary halftone (0/1 ink)
            x = (1 - a) * x + a * np.float32(exposure) * (field > 0).astype(np.float32) * np.minimum(col, 1.0)
        elif spec["kind"] == "screen_door":  # dark grid: multiplicative
            x = x * np.maximum(0.0, 1.0 + a * field * col)
        else:  # interference: additive, at the exposure's scale
            x = x + a * np.float32(exposure) * field * col
    x = np.maximum(x, 0.0)
    gen = np.random.default_rng(noise_seed)
    photons = np.float32(peak / (s * s))
    shot = gen.poisson(x.astype(np.float64) * photons).astype(np.float32) / photons
    out = shot + gen.standard_normal(x.shape, dtype=np.float32) * np.float32(read_sigma * s / 255.0)
    return (np.floor(np.clip(out, 0.0, 1.0) * 255.0 + 0.5) / 255.0).astype(np.float32)


def pattern_noise(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    strength: float = 0.15,
    target_ssim: float | None = 0.5,
    growth: float = 1.25,
    max_steps: int = 24,
    kinds: Sequence[str] = PATTERN_KINDS,
    patterns: list[dict[str, Any]] | None = None,
) -> Degraded:
    """Strong repetitive-pattern noise in low light (see the module docstring).

    ``strength`` scales every part at once (pattern amplitude x s, read noise x s, photon
    count / s^2). With ``target_ssim`` set, ``strength`` is the starting point: it is
    multiplied by ``growth`` (up to ``max_steps`` times) until the 8-bit output's
    ``SSIM <= target_ssim`` against ``image`` (starting weak, the result lands just below
    the target: on test/Faces SSIM 0.41-0.50); ``None`` renders once at ``strength``.
    ``patterns`` replaces the drawn ones (a list as :func:`draw_patterns` returns).
    The output is clipped to [0, 1] and rounded to 8 bits. The record holds every drawn
    parameter, the final strength, the calibration steps and the achieved SSIM.
    """
    from restora.metrics import ssim

    img = as_image(image)
    h, w, c = img.shape
    s0 = check_range("strength", strength, 0, None, lo_open=True)
    if target_ssim is not None:
        target = check_range("target_ssim", target_ssim, -1, 1, hi_open=True)
        check_range("growth", growth, 1, None, lo_open=True)
    steps = int(max_steps)
    if steps < 0:
        raise InvalidParameterError(f"max_steps must be >= 0, got {max_steps}")
    if min(h, w) < 11:
        raise InvalidParameterError(f"pattern_noise needs at least 11 x 11 pixels (SSIM window), got {h}x{w}")
    gen = as_generator(rng)
    specs = draw_patterns(gen, kinds=kinds, channels=c) if patterns is None else [dict(p) for p in patterns]
    for p in specs:
        if len(p.get("color", [])) != c:
            p["color"] = (list(p.get("color", [1.0])) * c)[:c]
    exposure = float(gen.uniform(0.45, 0.85))
    peak = float(np.exp(gen.uniform(np.log(8.0), np.log(60.0))))
    read_sigma = float(gen.uniform(3.0, 10.0))
    noise_seed = child_seed(gen)
    lum = img[:, :, 0] if c == 1 else np.tensordot(img[:, :, :3], _LUMA, axes=([2], [0])).astype(np.float32)
    fields = [pattern_field(h, w, p, channels=c, luminance=lum) for p in specs]

    s = s0
    out = _render(img, lum, fields, specs, exposure, peak, read_sigma, s, noise_seed)
    score = float(ssim(out, img))
    n = 0
    if target_ssim is not None:
        while score > target and n < steps:
            s *= float(growth)
            n += 1
            out = _render(img, lum, fields, specs, exposure, peak, read_sigma, s, noise_seed)
            score = float(ssim(out, img))
        if score > target:
            raise RestoraError(f"pattern_noise: SSIM {score:.3f} still above target_ssim={target} after {steps} "
                               f"calibration steps (strength {s:.3g}); raise max_steps or strength")
    record = {
        "op": "pattern_noise",
        "patterns": specs,
        "exposure": exposure,
        "peak_photons": peak,
        "read_sigma": read_sigma,
        "strength": s,
        "strength_start": s0,
        "noise_seed": noise_seed,
        "calibration": {"target_ssim": target_ssim, "growth": float(growth), "steps": n, "ssim": score},
        "clip": True,
        "uint8": True,
    }
    return Degraded(out, jsonable(record))
