"""Resizing: a MATLAB-compatible ``imresize`` and OpenCV resamplers.

:func:`imresize` re-implements MATLAB's ``imresize`` (Image Processing Toolbox) exactly:
cubic convolution with ``a = -0.5`` (Keys 1981), an antialiasing kernel widened by
``1/scale`` when shrinking, MATLAB's coordinate mapping ``u = x/scale + 0.5*(1 - 1/scale)``,
symmetric (mirrored) boundary indices, output size ``ceil(in * scale)``, and the
dimension with the smaller scale resized first. It is the convention of the super-resolution
benchmarks (LR = ``imresize(HR, 1/s, 'bicubic')``). See ``docs/matlab_bicubic.md``.

Each 1-D pass is a sparse ``out x in`` weight matrix applied with one matrix product
(computed in float64), so it is fast.

uint8 convention: MATLAB keeps the class of its input, so ``imresize`` of a uint8 image
rounds (half away from zero) and saturates to 0..255 *after each 1-D pass*. Passing
``round_to_uint8=True`` (or a uint8 array) reproduces that; the result is returned as
float32 ``k / 255``. The SR benchmark pipeline (HR uint8 -> LR uint8 -> bicubic SR uint8)
is therefore ``imresize(hr_u8, 1/s)`` then ``imresize(lr, s, round_to_uint8=True)``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Sequence

import cv2
import numpy as np
import scipy.sparse as sp

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_choice, check_range

__all__ = ["imresize", "imresize_matrix", "resize", "down_up", "random_resize", "RESIZE_METHODS"]

#: Methods accepted by :func:`resize`.
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "area", "lanczos", "cv2_bicubic")

_CV2_FLAGS = {
    "nearest": cv2.INTER_NEAREST_EXACT,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
    "cv2_bicubic": cv2.INTER_CUBIC,
}


# --------------------------------------------------------------------------- kernels
def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (support [-2, 2])."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    ) * ((ax > 1) & (ax <= 2))


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1.0) * ((x >= -1) & (x < 0)) + (1.0 - x) * ((x >= 0) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


_BOUNDARIES = ("symmetric", "replicate")

_KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic, 4.0),
    "bilinear": (_triangle, 2.0),
    "nearest": (_box, 1.0),
}


@lru_cache(maxsize=256)
def _weights(
    in_length: int, out_length: int, scale: float, method: str, antialias: bool, boundary: str = "symmetric"
) -> sp.csr_matrix:
    """The ``out_length x in_length`` resampling matrix of one axis (MATLAB contributions())."""
    kernel, width = _KERNELS[method]
    if scale < 1 and antialias:
        h: Callable[[np.ndarray], np.ndarray] = lambda t: scale * kernel(scale * t)  # noqa: E731
        width = width / scale
    else:
        h = kernel
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # input-space coordinate (1-based)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    w = h(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    n = in_length
    if boundary == "symmetric":  # mirror indices over [1..n, n..1] (period 2n)
        mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
        cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n)]
    else:  # "replicate": clamp to [1, n]
        cols = np.clip(idx.astype(np.int64) - 1, 0, n - 1)
    rows = np.repeat(np.arange(out_length), taps)
    mat = sp.csr_matrix((w.ravel(), (rows, cols.ravel())), shape=(out_length, n))
    mat.sum_duplicates()
    mat.eliminate_zeros()
    return mat


@lru_cache(maxsize=256)
def _column_operator(
    in_length: int, out_length: int, scale: float, method: str, antialias: bool, boundary: str, channels: int
) -> sp.csr_matrix:
    """``kron(W, I_c)^T`` so that ``X(h, w*c) @ op`` resizes the width of a channels-last image."""
    mat = _weights(in_length, out_length, scale, method, antialias, boundary)
    return sp.kron(mat, sp.identity(channels, format="csr"), format="csr").T.tocsr()


def imresize_matrix(
    in_length: int,
    out_length: int,
    scale: float | None = None,
    *,
    method: str = "bicubic",
    antialias: bool = True,
    boundary: str = "symmetric",
) -> np.ndarray:
    """The dense ``out_length x in_length`` float64 matrix of one MATLAB ``imresize`` pass.

    ``resized_axis = matrix @ signal``. ``scale`` defaults to ``out_length / in_length``
    (what MATLAB uses when an output size is given). Useful to build exact batched versions.
    """
    check_choice("method", method, tuple(_KERNELS))
    check_choice("boundary", boundary, _BOUNDARIES)
    in_length, out_length = int(in_length), int(out_length)
    if in_length < 1 or out_length < 1:
        raise InvalidParameterError(f"lengths must be >= 1, got {in_length} -> {out_length}")
    s = out_length / in_length if scale is None else check_range("scale", scale, 0, None, lo_open=True)
    aa = bool(antialias) and method != "nearest"
    return _weights(in_length, out_length, float(s), method, aa, boundary).toarray()


def _parse_size(
    shape: tuple[int, int],
    scale: float | Sequence[float] | None,
    output_shape: Sequence[int | None] | None,
) -> tuple[tuple[float, float], tuple[int, int]]:
    """MATLAB's scale/size rules: size = ceil(scale * in); scale = out / in."""
    h, w = shape
    if (scale is None) == (output_shape is None):
        raise InvalidParameterError("give exactly one of scale or output_shape")
    if scale is not None:
        if np.ndim(scale) == 0:
            sh = sw = check_range("scale", scale, 0, None, lo_open=True)  # type: ignore[arg-type]
        else:
            vals = list(scale)  # type: ignore[arg-type]
            if len(vals) != 2:
                raise InvalidParameterError(f"scale must be a number or (sh, sw); got {scale!r}")
            sh = check_range("scale[0]", vals[0], 0, None, lo_open=True)
            sw = check_range("scale[1]", vals[1], 0, None, lo_open=True)
        out = (int(math.ceil(sh * h)), int(math.ceil(sw * w)))
        return (sh, sw), out
    assert output_shape is not None
    vals = list(output_shape)
    if len(vals) != 2 or all(v is None for v in vals):
        raise InvalidParameterError(
            f"output_shape must be (height, width) with at most one None; got {output_shape!r}"
        )
    for name, v in zip(("height", "width"), vals):
        if v is not None and (int(v) != v or v < 1):
            raise InvalidParameterError(f"output_shape {name} must be a positive integer; got {v!r}")
    if vals[0] is None:  # keep aspect ratio, scale from the given dimension (as MATLAB)
        ow = int(vals[1])  # type: ignore[arg-type]
        s = ow / w
        return (s, s), (int(math.ceil(ow * h / w)), ow)
    if vals[1] is None:
        oh = int(vals[0])  # type: ignore[arg-type]
        s = oh / h
        return (s, s), (oh, int(math.ceil(oh * w / h)))
    oh, ow = int(vals[0]), int(vals[1])  # type: ignore[arg-type]
    return (oh / h, ow / w), (oh, ow)


def _round_u8(x: np.ndarray) -> np.ndarray:
    """MATLAB's double -> uint8 conversion (saturate, round half away from zero), in 0..255 units."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5)


def imresize(
    image: np.ndarray,
    scale: float | tuple[float, float] | None = None,
    *,
    output_shape: tuple[int | None, int | None] | None = None,
    method: str = "bicubic",
    antialias: bool = True,
    round_to_uint8: bool | None = None,
    boundary: str = "symmetric",
) -> np.ndarray:
    """Resize like MATLAB's ``imresize`` (bicubic by default); returns float32 ``H x W x C``.

    Parameters
    ----------
    image : H x W or H x W x C array (float in [0, 1], or uint8/uint16).
    scale : factor (or ``(sh, sw)``); output size is ``ceil(scale * size)`` per axis.
    output_shape : ``(height, width)`` instead of ``scale``; one entry may be ``None``
        to keep the aspect ratio. The per-axis scale is then ``out / in`` (as MATLAB).
    method : ``"bicubic"`` (Keys a=-0.5), ``"bilinear"`` (triangle) or ``"nearest"`` (box).
    antialias : widen the kernel by ``1/scale`` when shrinking (MATLAB's default). MATLAB's
        default for ``"nearest"`` is no antialiasing, so it is ignored for that method.
    round_to_uint8 : emulate MATLAB on a uint8 image: quantise the input to ``k/255``,
        round and saturate after each 1-D pass. ``None`` (default) means "if ``image`` is uint8".
    boundary : ``"symmetric"`` (mirrored indices: MATLAB R2016b and later, the default) or
        ``"replicate"`` (clamped indices: earlier MATLAB releases). Only border pixels differ.
    """
    raw_dtype = np.asarray(image).dtype
    img = as_image(image)
    method = check_choice("method", method, tuple(_KERNELS))
    boundary = check_choice("boundary", boundary, _BOUNDARIES)
    if round_to_uint8 is None:
        round_to_uint8 = raw_dtype == np.uint8
    h, w, c = img.shape
    (sh, sw), (oh, ow) = _parse_size((h, w), scale, output_shape)
    if oh < 1 or ow < 1:
        raise InvalidParameterError(f"scale {scale!r} gives an empty output for a {h}x{w} image")
    aa = bool(antialias) and method != "nearest"
    out = img.astype(np.float64).reshape(h, w * c)  # rows x (columns * channels)
    if round_to_uint8:
        out = _round_u8(out * 255.0)
    # MATLAB resizes the dimension with the smaller scale first (stable sort: rows on ties).
    for axis in ((0, 1) if sh <= sw else (1, 0)):
        if axis == 0:
            out = _weights(h, oh, float(sh), method, aa, boundary) @ out
        else:  # right-multiply by kron(W, I_c)^T: resizes columns without any transpose
            out = out @ _column_operator(w, ow, float(sw), method, aa, boundary, c)
        if round_to_uint8:
            out = _round_u8(out)
    if round_to_uint8:
        out = out / 255.0
    out = out.reshape(oh, ow, c)
    return np.ascontiguousarray(out, dtype=np.float32)


# --------------------------------------------------------------------------- resize API
def _size_for(shape: tuple[int, int], scale: float | None, size: tuple[int, int] | None) -> tuple[int, int]:
    h, w = shape
    if (scale is None) == (size is None):
        raise InvalidParameterError("give exactly one of scale or size")
    if scale is not None:
        s = check_range("scale", scale, 0, None, lo_open=True)
        oh, ow = int(math.ceil(s * h)), int(math.ceil(s * w))
        if oh < 1 or ow < 1:
            raise InvalidParameterError(f"scale {scale!r} gives an empty output for a {h}x{w} image")
        return oh, ow
    assert size is not None
    if len(size) != 2 or any(int(v) != v or v < 1 for v in size):
        raise InvalidParameterError(f"size must be (height, width) of positive integers; got {size!r}")
    return int(size[0]), int(size[1])


def resize(
    image: np.ndarray,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    method: str = "bicubic",
) -> Degraded:
    """Resize by ``scale`` (output ``ceil(scale * size)``, MATLAB's rule) or to ``size=(h, w)``.

    ``method``: ``"bicubic"`` is MATLAB-compatible :func:`imresize` (antialiased when
    shrinking); ``"nearest"`` (pixel-centre exact), ``"bilinear"``, ``"area"``,
    ``"lanczos"`` (Lanczos-4) and ``"cv2_bicubic"`` (a = -0.75) use ``cv2.resize``.
    """
    img = as_image(image)
    method = check_choice("method", method, RESIZE_METHODS)
    h, w, c = img.shape
    oh, ow = _size_for((h, w), scale, size)
    if method == "bicubic":
        if scale is not None:
            out = imresize(img, float(scale), method="bicubic")
        else:
            out = imresize(img, output_shape=(oh, ow), method="bicubic")
    else:
        out = cv2.resize(img, (ow, oh), interpolation=_CV2_FLAGS[method])
        out = out.reshape(oh, ow, c).astype(np.float32, copy=False)
    rec_scale: float | list[float] = float(scale) if scale is not None else [oh / h, ow / w]
    record = {"op": "resize", "method": method, "scale": rec_scale, "in_size": [h, w], "out_size": [oh, ow]}
    return Degraded(out, jsonable(record))


def down_up(
    image: np.ndarray,
    scale: float,
    *,
    down_method: str = "bicubic",
    up_method: str = "bicubic",
) -> Degraded:
    """Downscale by ``scale`` then resize back to the original size (detail loss, same shape).

    ``scale`` is the shrink factor in (0, 1] (e.g. 0.25); a value > 1 is read as ``1/scale``
    (so ``4`` also means x1/4).
    """
    img = as_image(image)
    s = check_range("scale", scale, 0, None, lo_open=True)
    if s > 1:
        s = 1.0 / s
    h, w = img.shape[:2]
    small, rec_down = resize(img, s, method=down_method)
    out, rec_up = resize(small, size=(h, w), method=up_method)
    record = {"op": "down_up", "scale": s, "down": rec_down, "up": rec_up}
    return Degraded(out, jsonable(record))


def random_resize(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    scale_range: tuple[float, float] = (0.15, 1.5),
    methods: Sequence[str] = ("area", "bilinear", "bicubic"),
    probs: Sequence[float] | None = None,
    method_probs: Sequence[float] | None = None,
) -> Degraded:
    """Real-ESRGAN's random resize step: go up, down or keep, then resize by a random scale.

    ``probs`` are the probabilities of ``("up", "down", "keep")`` (default Real-ESRGAN's
    ``(0.2, 0.7, 0.1)``); "up" draws the scale uniformly in ``[1, scale_range[1]]``, "down"
    in ``[scale_range[0], 1]``. The method is drawn from ``methods`` (uniform unless
    ``method_probs``). "keep" returns the image unchanged. The draws always happen in the
    same order (direction, scale, method), so a seed fixes the result.
    """
    img = as_image(image)
    gen = as_generator(rng)
    lo = check_range("scale_range[0]", scale_range[0], 0, 1, lo_open=True)
    hi = check_range("scale_range[1]", scale_range[1], 1, None)
    methods = [check_choice("methods", m, RESIZE_METHODS) for m in methods]
    if not methods:
        raise InvalidParameterError("methods must name at least one resize method")
    p = _probabilities("probs", probs if probs is not None else (0.2, 0.7, 0.1), 3)
    mp = None if method_probs is None else _probabilities("method_probs", method_probs, len(methods))
    direction = ("up", "down", "keep")[int(gen.choice(3, p=p))]
    u = float(gen.uniform())
    if direction == "up":
        scale = 1.0 + u * (hi - 1.0)
    elif direction == "down":
        scale = lo + u * (1.0 - lo)
    else:
        scale = 1.0
    method = methods[int(gen.choice(len(methods), p=mp))]
    h, w = img.shape[:2]
    if direction == "keep":
        out, sub = img.copy(), {"op": "resize", "method": None, "scale": 1.0, "in_size": [h, w], "out_size": [h, w]}
    else:
        out, sub = resize(img, scale, method=method)
    record = {"op": "random_resize", "direction": direction, "scale": scale, "method": sub["method"],
              "in_size": [h, w], "out_size": sub["out_size"]}
    return Degraded(out, jsonable(record))


def _probabilities(name: str, values: Sequence[float], n: int) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64)
    if p.shape != (n,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise InvalidParameterError(f"{name} must be {n} non-negative numbers with a positive sum; got {values!r}")
    return p / p.sum()
