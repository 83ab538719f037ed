"""Classical upscaling: interpolation (nearest, bilinear, MATLAB bicubic, Lanczos) and
example-based super-resolution (:class:`restora.classical.patch_sr.PatchSR`).

``upscale(image, scale, method=...)`` returns the ``ceil(scale * h) x ceil(scale * w)``
image (MATLAB's size rule). ``"nearest"``, ``"bilinear"`` and ``"bicubic"`` are MATLAB's
``imresize`` (:func:`restora.degrade.resize.imresize`); ``"lanczos"`` is OpenCV's
Lanczos-4 (8 x 8 taps); ``"patch_sr"`` runs the shipped A+-style regressor for integer
scales 2, 3 and 4 (or a model you pass).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from restora.classical.patch_sr import PatchSR, default_model_path
from restora.errors import InvalidParameterError
from restora.restorers import RestorerInfo, register
from restora.validation import as_image, check_choice, check_range

__all__ = ["upscale", "UPSCALE_METHODS", "load_patch_sr"]

#: Methods accepted by :func:`upscale` (``"patch-sr"`` is accepted as an alias of ``"patch_sr"``).
UPSCALE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos", "patch_sr")

_MODEL_CACHE: dict[str, PatchSR] = {}
_LOCK = threading.Lock()


def load_patch_sr(scale: int, model: str | Path | PatchSR | None = None) -> PatchSR:
    """The :class:`PatchSR` model for ``scale``: ``model`` itself, a file, or the shipped one (cached)."""
    if isinstance(model, PatchSR):
        return model
    path = Path(model) if model is not None else default_model_path(scale)
    key = str(path.resolve())
    with _LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE[key] = PatchSR.load(path) if model is not None else PatchSR.pretrained(scale)
        return _MODEL_CACHE[key]


def upscale(
    image: np.ndarray,
    scale: float,
    method: str = "bicubic",
    *,
    model: str | Path | PatchSR | None = None,
    ensemble: bool = False,
) -> np.ndarray:
    """Upscale ``image`` (float32 H x W x C) by ``scale`` with ``method``; returns float32.

    ``method``: ``"nearest"``, ``"bilinear"``, ``"bicubic"`` (MATLAB-compatible, the SR
    benchmark baseline), ``"lanczos"`` (Lanczos-4) or ``"patch_sr"`` (example-based,
    integer ``scale`` with a trained model: the shipped x2/x3/x4 ones or ``model``, a
    :class:`PatchSR` or a ``.npz`` path). ``ensemble`` (patch_sr only) averages the 8
    flips/rotations. No clipping: bicubic/Lanczos overshoot slightly at edges.
    """
    img = as_image(image)
    if method == "patch-sr":
        method = "patch_sr"
    method = check_choice("method", method, UPSCALE_METHODS)
    s = check_range("scale", scale, 0, 64, lo_open=True)
    h, w = img.shape[:2]
    oh, ow = int(math.ceil(s * h - 1e-9)), int(math.ceil(s * w - 1e-9))
    if method == "patch_sr":
        if abs(s - round(s)) > 1e-9 or round(s) < 2:
            raise InvalidParameterError(f"scale must be an integer >= 2 for patch_sr; got {scale!r}")
        sr = load_patch_sr(int(round(s)), model)
        if sr.scale != int(round(s)):
            raise InvalidParameterError(f"the patch_sr model is for scale {sr.scale}, not {scale!r}")
        return sr.predict(img, ensemble=ensemble)
    from restora.degrade.resize import imresize, resize

    if method == "lanczos":
        return resize(img, size=(oh, ow), method="lanczos").image
    return imresize(img, output_shape=(oh, ow), method=method)


def _make(method: str):
    def factory(**options: Any):
        def run(image: np.ndarray, **condition: Any) -> np.ndarray:
            scale = condition.get("scale")
            if scale is None:
                raise InvalidParameterError(f"{method}: pass condition scale= (the SR factor)")
            return upscale(image, scale, method, **options)

        return run

    return factory


for _name, _method, _desc in (
    ("nearest", "nearest", "nearest-neighbour interpolation (MATLAB imresize)"),
    ("bilinear", "bilinear", "bilinear interpolation (MATLAB imresize)"),
    ("bicubic", "bicubic", "bicubic interpolation, MATLAB-compatible imresize (the SR baseline)"),
    ("lanczos", "lanczos", "Lanczos-4 interpolation (OpenCV)"),
    (
        "patch-sr",
        "patch_sr",
        "example-based SR: A+-style anchored neighbourhood regression (shipped x2/x3/x4 models)",
    ),
):
    register(RestorerInfo(name=_name, task="sr", kind="classical", description=_desc, factory=_make(_method)))
