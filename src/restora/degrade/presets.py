"""Named degradation presets (``restora degrade --preset NAME``).

A preset is either a step list for :func:`restora.degrade.run_pipeline` or one of the
named pipelines (Real-ESRGAN, BSRGAN) with fixed arguments. :func:`apply_preset` runs one;
the record's ``preset`` key names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from restora.degrade.pipelines import bsrgan_degradation, realesrgan_degradation, run_pipeline
from restora.degrade.record import Degraded
from restora.errors import InvalidParameterError
from restora.rng import RngLike

__all__ = ["Preset", "PRESETS", "list_presets", "get_preset", "apply_preset"]


@dataclass(frozen=True)
class Preset:
    """A named degradation: ``steps`` (a run_pipeline step list) or ``pipeline`` + ``kwargs``."""

    name: str
    description: str
    steps: tuple[dict[str, Any], ...] | None = None
    pipeline: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def scale(self) -> int:
        """Downscaling factor of the preset (1 when it keeps the size)."""
        if self.pipeline is not None:
            return int(self.kwargs.get("scale", 1))
        for step in self.steps or ():
            if "modcrop" in step:
                return int(step["modcrop"])
        return 1


_PIPELINES = {"realesrgan": realesrgan_degradation, "bsrgan": bsrgan_degradation}

ONE_PERCENT = 2.55  # 1 % of the 8-bit range, as a noise sigma


def _presets() -> dict[str, Preset]:
    out: list[Preset] = []
    for s in (15, 25, 50):
        out.append(Preset(f"noise-s{s}", f"additive white Gaussian noise, sigma {s} (8-bit levels), not clipped",
                          steps=({"noise": {"type": "gaussian", "sigma": s}},)))
    for q in (10, 20, 30, 40):
        out.append(Preset(f"jpeg-q{q}", f"JPEG (libjpeg, 4:2:0) at quality {q}", steps=({"jpeg": {"quality": q}},)))
    for s in (2, 3, 4):
        out.append(Preset(
            f"sr-bicubic-x{s}",
            f"crop to a multiple of {s}, then MATLAB bicubic imresize by 1/{s} (the SR benchmark LR)",
            steps=({"modcrop": s}, {"resize": {"scale": 1.0 / s, "method": "bicubic"}}),
        ))
    out.append(Preset(
        "blur-gauss",
        "isotropic Gaussian blur (25x25, sigma 1.6) and Gaussian noise of 1 % (sigma 2.55)",
        steps=({"blur": {"kernel": "gaussian", "size": 25, "sigma": 1.6}},
               {"noise": {"type": "gaussian", "sigma": ONE_PERCENT}}),
    ))
    out.append(Preset(
        "motion-blur",
        "random camera-shake kernel (31x31, intensity 0.2..0.8) and Gaussian noise of 1 % (sigma 2.55)",
        steps=({"blur": {"kernel": "motion", "size": 31, "intensity": [0.2, 0.8]}},
               {"noise": {"type": "gaussian", "sigma": ONE_PERCENT}}),
    ))
    out.append(Preset("camera-noise", "realistic sensor noise through an inverted camera ISP (random shot/read levels)",
                      steps=({"noise": {"type": "camera"}},)))
    out.append(Preset("haze", "haze with a synthetic depth map, beta 0.8..2.0, airlight 0.7..1.0",
                      steps=({"haze": {"beta": [0.8, 2.0], "airlight": [0.7, 1.0]}},)))
    out.append(Preset("underexposed", "exposure -2 EV (a quarter of the light), highlights kept",
                      steps=({"exposure": {"ev": -2.0}},)))
    out.append(Preset("overexposed", "exposure +1.5 EV, highlights clipped as a sensor would",
                      steps=({"exposure": {"ev": 1.5}},)))
    out.append(Preset("bsrgan-x4", "BSRGAN x4 degradation (random shuffle of blur, downsampling, noise, JPEG)",
                      pipeline="bsrgan", kwargs={"scale": 4}))
    out.append(Preset("realesrgan-x4", "Real-ESRGAN x4 second-order degradation", pipeline="realesrgan",
                      kwargs={"scale": 4}))
    out.append(Preset("realesrgan-x2", "Real-ESRGAN x2 second-order degradation", pipeline="realesrgan",
                      kwargs={"scale": 2}))
    return {p.name: p for p in out}


#: All presets by name.
PRESETS: dict[str, Preset] = _presets()


def list_presets() -> list[tuple[str, str]]:
    """``(name, description)`` of every preset, in a stable order."""
    return [(p.name, p.description) for p in PRESETS.values()]


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (raises :class:`InvalidParameterError` listing the valid names)."""
    if name not in PRESETS:
        raise InvalidParameterError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def apply_preset(image: np.ndarray, name: str, rng: RngLike = None) -> Degraded:
    """Degrade ``image`` with the preset ``name``; the record gains ``"preset": name``."""
    preset = get_preset(name)
    if preset.pipeline is not None:
        out, record = _PIPELINES[preset.pipeline](image, rng=rng, **preset.kwargs)
    else:
        assert preset.steps is not None
        out, record = run_pipeline(image, [dict(s) for s in preset.steps], rng=rng)
    record["preset"] = name
    return Degraded(out, record)
