"""Classical (non-learned) restoration: denoisers, degradation estimators, interpolation and
example-based SR, Wiener/Richardson-Lucy/MAP and blind deconvolution.

Names are imported lazily from their modules (importing them registers the methods in
:mod:`restora.restorers`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "denoise": ("DENOISERS", "box", "gaussian", "median", "bilateral", "guided", "nlm", "tv", "wavelet",
                "collaborative_wiener", "bm3d_reference"),
    "estimate": ("analyse", "estimate_noise_sigma", "estimate_jpeg_quality", "estimate_blur"),
    "upscale": ("upscale", "UPSCALE_METHODS"),
    "patch_sr": ("PatchSR",),
    "deconvolve": ("wiener", "richardson_lucy", "map_deconvolution", "edgetaper", "psf2otf"),
    "blind": ("estimate_kernel", "blind_deconvolve"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"restora.classical.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'restora.classical' has no attribute {name!r}")
