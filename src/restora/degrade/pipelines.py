"""Degradation pipelines: the classical model, BSRGAN, Real-ESRGAN and user pipelines
written as a YAML list of steps.

Every pipeline returns :class:`Degraded` ``(image, record)``. The record lists the steps
that were applied, in order, each with its drawn parameters made concrete and, where the
step is random, the integer ``seed`` it ran with. A record's ``steps`` are themselves a
valid pipeline: :func:`replay` (``run_pipeline(image, record["steps"])``) re-creates the
output bit for bit, without the generator that drew them. Keys named ``drawn`` hold what a
step computed (the kernel's family and sigmas, JPEG size, ...) and are ignored on replay.

Step grammar (``docs/degradations.md`` has the full table). A step is a one-key mapping
``{op: params}`` (the YAML form) or ``{"op": op, **params}`` (the record form):

* ``blur``: ``kernel`` = ``gaussian`` / ``generalized_gaussian`` / ``plateau`` (``sigma`` or
  ``sigma_x``, ``sigma_y``, ``angle``; ``beta``), ``sinc`` (``cutoff``), ``defocus``
  (``radius``), ``motion`` (``intensity``, ``length``), ``identity``, a random family of
  :func:`restora.degrade.random_kernel` (``realesrgan``, ``realesrgan2``, ``final_sinc``,
  ``bsrgan``, ``iso``, ``aniso``, ...) or an explicit 2-D list; ``size``, ``boundary``.
* ``noise``: ``type`` = ``gaussian`` (``sigma``, ``gray``), ``poisson`` (``peak``, or
  Real-ESRGAN's ``scale``), ``poisson_gaussian`` (``shot``, ``read``), ``camera``,
  ``correlated`` (BSRGAN's cross-channel noise, ``sigma``), ``salt_pepper`` (``amount``),
  ``dead_hot`` (``fraction``), ``speckle`` (``sigma``); ``clip``.
* ``resize``: ``scale`` (of the current image, or ``of: input``) or ``size: [h, w]``;
  ``method`` (a name or a list to draw from).
* ``jpeg`` (``quality``, ``chroma_subsampling``), ``haze`` (``beta``, ``airlight``),
  ``exposure`` (``ev``, ``gamma``, ``clip``), ``clip`` (``low``, ``high``), ``quantize``
  (``bits``), ``modcrop`` (``multiple``), ``decimate`` (``factor``, ``offset``).
* ``shuffle: [steps]`` (random order), ``one_of: [steps]`` (one, uniformly or by
  ``weights``), ``{prob: p, steps: [...]}`` (all with probability p).

A numeric value given as a two-element list ``[lo, hi]`` is drawn uniformly from that
range (integers for integer keys such as ``quality``); a list of names is a uniform choice;
any op takes ``p`` (apply with that probability). Steps are numbered from 1 in error
messages (``step 2.3`` is the third step inside step 2).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from restora.degrade import isp as _isp
from restora.degrade import sensor as _sensor
from restora.degrade.convolve import BOUNDARIES, convolve
from restora.degrade.exposure import exposure as _exposure
from restora.degrade.haze import haze as _haze
from restora.degrade.jpeg import CHROMA_SUBSAMPLING
from restora.degrade.jpeg import jpeg as _jpeg
from restora.degrade.kernels import (
    KERNEL_KINDS,
    defocus_kernel,
    gaussian_kernel,
    generalized_gaussian_kernel,
    motion_kernel,
    plateau_kernel,
    random_kernel,
    sinc_kernel,
)
from restora.degrade.noise import (
    dead_hot_pixels,
    gaussian_noise,
    poisson_gaussian_noise,
    poisson_noise,
    quantize,
    salt_and_pepper_noise,
    speckle_noise,
)
from restora.degrade.record import Degraded, jsonable
from restora.degrade.resize import RESIZE_METHODS
from restora.degrade.resize import resize as _resize
from restora.errors import ConfigError, InvalidParameterError, RestoraError
from restora.rng import RngLike, as_generator, child_seed
from restora.validation import as_image

__all__ = [
    "classical_degradation",
    "bsrgan_degradation",
    "realesrgan_degradation",
    "run_pipeline",
    "load_pipeline",
    "validate_pipeline",
    "replay",
    "PIPELINE_OPS",
    "REALESRGAN_DEFAULTS",
    "BSRGAN_DEFAULTS",
]

#: Version of the record format written by the pipelines.
RECORD_VERSION = 1

#: Operations accepted in a pipeline step list.
PIPELINE_OPS = (
    "blur", "noise", "resize", "jpeg", "haze", "exposure", "clip", "quantize", "modcrop", "decimate",
    "shuffle", "one_of", "prob",
)  # fmt: skip

#: Real-ESRGAN's degradation settings (Wang et al. 2021, the released x4 training options).
REALESRGAN_DEFAULTS: dict[str, Any] = {
    "kernel_size": 21,
    "resize_prob": (0.2, 0.7, 0.1),  # up, down, keep
    "resize_range": (0.15, 1.5),
    "gaussian_noise_prob": 0.5,
    "noise_range": (1.0, 30.0),
    "poisson_scale_range": (0.05, 3.0),
    "gray_noise_prob": 0.4,
    "jpeg_range": (30, 95),
    "second_blur_prob": 0.8,
    "resize_prob2": (0.3, 0.4, 0.3),
    "resize_range2": (0.3, 1.2),
    "gaussian_noise_prob2": 0.5,
    "noise_range2": (1.0, 25.0),
    "poisson_scale_range2": (0.05, 2.5),
    "gray_noise_prob2": 0.4,
    "jpeg_range2": (30, 95),
    "final_sinc_prob": 0.8,
    # torch's interpolate modes area / bilinear / bicubic (no antialiasing) in OpenCV terms
    "resize_methods": ("area", "bilinear", "cv2_bicubic"),
}

#: BSRGAN's degradation settings (Zhang et al. 2021, ``degradation_bsrgan``).
BSRGAN_DEFAULTS: dict[str, Any] = {
    "kernel_size": 25,
    "scale2_prob": 0.25,  # x4 only: first halve the image (then the rest works at x2)
    "noise_range": (2, 25),  # Gaussian noise level, integer 8-bit levels
    "jpeg_prob": 0.9,
    "jpeg_range": (30, 95),
    "isp_prob": 0.25,  # camera sensor noise (restora.degrade.isp)
    "direct_downsample_prob": 0.25,  # the blur-and-decimate ("nearest") branch of downsample2
    # cv2.INTER_LINEAR / INTER_CUBIC / INTER_AREA
    "resize_methods": ("bilinear", "cv2_bicubic", "area"),
}


# ============================================================================ helpers
class _Ctx:
    """What a running pipeline needs besides the image: the generator and the input shape."""

    def __init__(self, gen: np.random.Generator, input_shape: tuple[int, ...]):
        self.gen = gen
        self.input_shape = input_shape


def _fail(path: str, op: str, msg: str) -> ConfigError:
    return ConfigError(f"step {path} ({op}): {msg}")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _num(p: dict, key: str, gen: np.random.Generator, path: str, op: str, *, default: Any = None,
         lo: float | None = None, hi: float | None = None, lo_open: bool = False, required: bool = False) -> Any:
    """A number, or a uniform draw from a ``[lo, hi]`` list; range-checked."""
    if key not in p or p[key] is None:
        if required:
            raise _fail(path, op, f"key {key!r} is required")
        return default
    v = p[key]
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(_is_num(x) for x in v) or float(v[0]) > float(v[1]):
            raise _fail(path, op, f"key {key!r} must be a number or a [low, high] range with low <= high; got {v!r}")
        vals = [float(x) for x in v]
        value = float(gen.uniform(vals[0], vals[1])) if vals[0] < vals[1] else vals[0]
        check = vals
    elif _is_num(v):
        value = float(v)
        check = [value]
    else:
        raise _fail(path, op, f"key {key!r} must be a number or a [low, high] range; got {v!r}")
    for x in check:
        if not math.isfinite(x) or (lo is not None and (x < lo or (lo_open and x == lo))) or (hi is not None and x > hi):
            lo_s = "-inf" if lo is None else f"{lo:g}"
            hi_s = "inf" if hi is None else f"{hi:g}"
            raise _fail(path, op, f"key {key!r} must be in {'(' if lo_open else '['}{lo_s}, {hi_s}]; got {v!r}")
    return value


def _int(p: dict, key: str, gen: np.random.Generator, path: str, op: str, *, default: Any = None,
         lo: int | None = None, hi: int | None = None, odd: bool = False, required: bool = False) -> Any:
    """An integer, or a uniform integer draw from ``[lo, hi]`` (inclusive; odd ones if ``odd``)."""
    if key not in p or p[key] is None:
        if required:
            raise _fail(path, op, f"key {key!r} is required")
        return default
    v = p[key]

    def is_int(x: Any) -> bool:
        return _is_num(x) and float(x).is_integer()

    what = "an odd integer" if odd else "an integer"
    if isinstance(v, (list, tuple)):
        if len(v) != 2 or not all(is_int(x) for x in v) or int(v[0]) > int(v[1]):
            raise _fail(path, op, f"key {key!r} must be {what} or a [low, high] integer range; got {v!r}")
        a, b = int(v[0]), int(v[1])
        check = [a, b]
        if odd:
            a, b = a + (1 - a % 2), b - (1 - b % 2)
            if a > b:
                raise _fail(path, op, f"key {key!r}: range {v!r} holds no odd integer")
            value = int(a + 2 * gen.integers(0, (b - a) // 2 + 1))
        else:
            value = int(gen.integers(a, b + 1))
    elif is_int(v):
        value = int(v)
        check = [value]
        if odd and value % 2 == 0:
            raise _fail(path, op, f"key {key!r} must be {what}; got {v!r}")
    else:
        raise _fail(path, op, f"key {key!r} must be {what} or a [low, high] integer range; got {v!r}")
    for x in check:
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise _fail(path, op, f"key {key!r} must be in [{lo if lo is not None else '-inf'}, "
                                  f"{hi if hi is not None else 'inf'}]; got {v!r}")
    return value


def _choice(p: dict, key: str, gen: np.random.Generator, path: str, op: str, options: Sequence[str], *,
            default: Any = None) -> Any:
    """A name from ``options``, or a uniform choice from a list of them."""
    if key not in p or p[key] is None:
        return default
    v = p[key]
    vals = list(v) if isinstance(v, (list, tuple)) else [v]
    if not vals:
        raise _fail(path, op, f"key {key!r} must not be an empty list")
    for x in vals:
        if x not in options:
            raise _fail(path, op, f"key {key!r} must be one of {', '.join(map(str, options))}; got {x!r}")
    return vals[int(gen.integers(0, len(vals)))] if len(vals) > 1 else vals[0]


def _flag(p: dict, key: str, gen: np.random.Generator, path: str, op: str, *, default: bool = False) -> bool:
    """A bool, or a probability in [0, 1] of being true (drawn)."""
    if key not in p or p[key] is None:
        return default
    v = p[key]
    if isinstance(v, bool):
        return v
    if _is_num(v) and 0.0 <= float(v) <= 1.0:
        return bool(gen.random() < float(v))
    raise _fail(path, op, f"key {key!r} must be true, false or a probability in [0, 1]; got {v!r}")


def _bool(p: dict, key: str, path: str, op: str, *, default: bool) -> bool:
    if key not in p or p[key] is None:
        return default
    if not isinstance(p[key], bool):
        raise _fail(path, op, f"key {key!r} must be true or false; got {p[key]!r}")
    return p[key]


def _seed(p: dict, gen: np.random.Generator, path: str, op: str) -> int:
    if p.get("seed") is None:
        return child_seed(gen)
    v = p["seed"]
    if not _is_num(v) or not float(v).is_integer() or int(v) < 0:
        raise _fail(path, op, f"key 'seed' must be a non-negative integer; got {v!r}")
    return int(v)


def _pair_list(p: dict, key: str, path: str, op: str) -> list[float] | None:
    if key not in p or p[key] is None:
        return None
    v = p[key]
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_num(x) for x in v):
        raise _fail(path, op, f"key {key!r} must be a [low, high] pair of numbers; got {v!r}")
    return [float(v[0]), float(v[1])]


# ============================================================================ steps
# Each op has a resolver (draws random parameters -> a concrete step dict, the record
# entry) and an applier (concrete step + image -> image, drawn info).

_DETERMINISTIC_KERNELS = ("gaussian", "generalized_gaussian", "plateau", "sinc", "defocus", "identity", "motion")
_RANDOM_KERNELS = tuple(k for k in KERNEL_KINDS if k not in _DETERMINISTIC_KERNELS)
_BLUR_KINDS = _DETERMINISTIC_KERNELS + _RANDOM_KERNELS
_RANDOM_KERNEL_OPTIONS = ("sigma_range", "size_range", "betag_range", "betap_range", "cutoff_range", "radius_range")


def _resolve_blur(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "blur"
    kernel = p.get("kernel", "gaussian")
    boundary = _choice(p, "boundary", gen, path, op, BOUNDARIES, default="reflect")
    if isinstance(kernel, (list, tuple)):
        arr = np.asarray(kernel, dtype=object)
        try:
            k = np.asarray(kernel, dtype=np.float64)
        except (TypeError, ValueError):
            raise _fail(path, op, "an explicit kernel must be a 2-D list of numbers") from None
        if arr.ndim != 2 or k.size == 0 or not np.all(np.isfinite(k)):
            raise _fail(path, op, f"an explicit kernel must be a non-empty 2-D list of finite numbers; got shape {arr.shape}")
        extra = set(p) - {"kernel", "boundary", "p", "drawn"}
        if extra:
            raise _fail(path, op, f"key {sorted(extra)[0]!r} does not apply to an explicit kernel")
        return {"op": op, "kernel": k.tolist(), "boundary": boundary}
    if kernel not in _BLUR_KINDS:
        raise _fail(path, op, f"key 'kernel' must be one of {', '.join(_BLUR_KINDS)} or a 2-D list; got {kernel!r}")
    out: dict[str, Any] = {"op": op, "kernel": kernel}
    allowed: set[str] = {"kernel", "boundary", "p", "drawn"}
    if kernel in ("gaussian", "generalized_gaussian", "plateau"):
        allowed |= {"sigma", "sigma_x", "sigma_y", "angle", "size", "beta", "shift"}
        if "sigma" in p and ("sigma_x" in p or "sigma_y" in p):
            raise _fail(path, op, "give either 'sigma' (isotropic) or 'sigma_x'/'sigma_y', not both")
        if "sigma" in p:
            sx = _num(p, "sigma", gen, path, op, lo=0, lo_open=True)
            sy, angle = sx, 0.0
            if "angle" in p:
                raise _fail(path, op, "key 'angle' needs 'sigma_x'/'sigma_y' (an isotropic kernel has no angle)")
        else:
            sx = _num(p, "sigma_x", gen, path, op, lo=0, lo_open=True, required=True)
            sy = _num(p, "sigma_y", gen, path, op, lo=0, lo_open=True, default=sx)
            angle = _num(p, "angle", gen, path, op, default=0.0)
        default_size = max(3, 2 * int(math.ceil(3.0 * max(sx, sy))) + 1)
        out["size"] = _int(p, "size", gen, path, op, lo=1, odd=True, default=default_size)
        out.update({"sigma_x": sx, "sigma_y": sy, "angle": angle})
        if kernel != "gaussian":
            out["beta"] = _num(p, "beta", gen, path, op, lo=0, lo_open=True,
                               default=1.0 if kernel == "generalized_gaussian" else 2.0)
        elif "beta" in p:
            raise _fail(path, op, "key 'beta' applies to generalized_gaussian and plateau kernels only")
        if p.get("shift") is not None:
            if kernel != "gaussian":
                raise _fail(path, op, "key 'shift' applies to the gaussian kernel only")
            out["shift"] = _pair_list(p, "shift", path, op)
    elif kernel == "sinc":
        allowed |= {"size", "cutoff"}
        out["size"] = _int(p, "size", gen, path, op, lo=1, odd=True, default=21)
        out["cutoff"] = _num(p, "cutoff", gen, path, op, lo=0, lo_open=True, hi=math.pi, required=True)
    elif kernel == "defocus":
        allowed |= {"size", "radius"}
        out["radius"] = _num(p, "radius", gen, path, op, lo=0, required=True)
        size = _int(p, "size", gen, path, op, lo=1, odd=True)
        if size is not None:
            out["size"] = size
    elif kernel == "motion":
        allowed |= {"size", "intensity", "length", "seed"}
        out["size"] = _int(p, "size", gen, path, op, lo=3, odd=True, default=31)
        out["intensity"] = _num(p, "intensity", gen, path, op, lo=0, hi=1, default=0.5)
        length = _num(p, "length", gen, path, op, lo=0, lo_open=True)
        if length is not None:
            out["length"] = length
        out["seed"] = _seed(p, gen, path, op)
    elif kernel == "identity":
        pass
    else:  # a random family of random_kernel
        allowed |= {"size", "seed", "sinc_prob", "intensity", "scale", *_RANDOM_KERNEL_OPTIONS}
        out["size"] = _int(p, "size", gen, path, op, lo=1, odd=True, default=25 if kernel == "bsrgan" else 21)
        for key in _RANDOM_KERNEL_OPTIONS:
            pair = _pair_list(p, key, path, op)
            if pair is not None:
                out[key] = pair
        if p.get("sinc_prob") is not None:
            out["sinc_prob"] = _num(p, "sinc_prob", gen, path, op, lo=0, hi=1)
        if p.get("scale") is not None:
            out["scale"] = _int(p, "scale", gen, path, op, lo=1)
        out["seed"] = _seed(p, gen, path, op)
    extra = set(p) - allowed
    if extra:
        raise _fail(path, op, f"key {sorted(extra)[0]!r} does not apply to kernel {kernel!r}; "
                              f"valid keys: {', '.join(sorted(allowed - {'drawn'}))}")
    out["boundary"] = boundary
    return out


def _shifted_gaussian(size: int, sigma: float, shift: Sequence[float]) -> np.ndarray:
    """Isotropic Gaussian whose centre sits ``shift = (dx, dy)`` pixels off the middle element."""
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    gx = np.exp(-0.5 * ((ax - shift[0]) / sigma) ** 2)
    gy = np.exp(-0.5 * ((ax - shift[1]) / sigma) ** 2)
    k = np.outer(gy, gx)
    return k / k.sum()


def _make_kernel(c: dict) -> tuple[np.ndarray, dict | None]:
    kind = c["kernel"]
    if isinstance(kind, list):
        return np.asarray(kind, dtype=np.float64), None
    if kind == "gaussian":
        if c.get("shift"):
            if c["sigma_x"] != c["sigma_y"]:
                raise InvalidParameterError("a shifted gaussian kernel must be isotropic (sigma_x == sigma_y)")
            return _shifted_gaussian(c["size"], c["sigma_x"], c["shift"]), None
        return gaussian_kernel(c["size"], c["sigma_x"], c["sigma_y"], c["angle"]), None
    if kind == "generalized_gaussian":
        return generalized_gaussian_kernel(c["size"], c["sigma_x"], c["sigma_y"], c["angle"], c["beta"]), None
    if kind == "plateau":
        return plateau_kernel(c["size"], c["sigma_x"], c["sigma_y"], c["angle"], c["beta"]), None
    if kind == "sinc":
        return sinc_kernel(c["size"], c["cutoff"]), None
    if kind == "defocus":
        return defocus_kernel(c["radius"], c.get("size")), None
    if kind == "identity":
        return np.ones((1, 1)), None
    if kind == "motion":
        return motion_kernel(c["size"], c["seed"], length=c.get("length"), intensity=c["intensity"])
    kwargs = {k: c[k] for k in (*_RANDOM_KERNEL_OPTIONS, "sinc_prob", "scale") if k in c}
    return random_kernel(c["seed"], kind=kind, size=c["size"], **kwargs)


def _apply_blur(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    k, drawn = _make_kernel(c)
    if k.shape == (1, 1):
        return image * np.float32(k[0, 0]), drawn
    return convolve(image, k, c["boundary"]), drawn


_NOISE_TYPES = ("gaussian", "poisson", "poisson_gaussian", "camera", "sensor", "correlated", "salt_pepper", "dead_hot", "speckle")
_SENSOR_CONDITIONS = {"exposure_time": (0.0, 3600.0, 1 / 30), "temperature": (-60.0, 120.0, 25.0), "gain": (1.0, 1024.0, 1.0)}
_SENSOR_CONSTANTS = ("full_well", "read_noise", "dark_current", "bits")
_NOISE_KEYS = {
    "gaussian": {"sigma", "gray", "clip", "seed"},
    "poisson": {"peak", "scale", "gray", "clip", "seed"},
    "poisson_gaussian": {"shot", "read", "clip", "seed"},
    "camera": {"shot", "read", "seed"},
    "sensor": {*_SENSOR_CONDITIONS, *_SENSOR_CONSTANTS, "pattern_seed", "seed"},
    "correlated": {"sigma", "clip", "seed"},
    "salt_pepper": {"amount", "salt_ratio", "per_channel", "seed"},
    "dead_hot": {"fraction", "hot_ratio", "seed"},
    "speckle": {"sigma", "clip", "seed"},
}


def _resolve_noise(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "noise"
    kind = p.get("type", "gaussian")
    if kind not in _NOISE_TYPES:
        raise _fail(path, op, f"key 'type' must be one of {', '.join(_NOISE_TYPES)}; got {kind!r}")
    allowed = _NOISE_KEYS[kind] | {"type", "p", "drawn"}
    extra = set(p) - allowed
    if extra:
        raise _fail(path, op, f"key {sorted(extra)[0]!r} does not apply to {kind} noise; "
                              f"valid keys: {', '.join(sorted(allowed - {'drawn'}))}")
    out: dict[str, Any] = {"op": op, "type": kind}
    if kind in ("gaussian", "correlated", "speckle"):
        out["sigma"] = _num(p, "sigma", gen, path, op, lo=0, required=True)
        if kind == "gaussian":
            out["gray"] = _flag(p, "gray", gen, path, op)
    elif kind == "poisson":
        if ("peak" in p) == ("scale" in p):
            raise _fail(path, op, "poisson noise needs exactly one of 'peak' (photons at white) or 'scale' (Real-ESRGAN)")
        if "peak" in p:
            out["peak"] = _num(p, "peak", gen, path, op, lo=0, lo_open=True)
        else:
            out["scale"] = _num(p, "scale", gen, path, op, lo=0)
        out["gray"] = _flag(p, "gray", gen, path, op)
    elif kind == "poisson_gaussian":
        out["shot"] = _num(p, "shot", gen, path, op, lo=0, required=True)
        out["read"] = _num(p, "read", gen, path, op, lo=0, required=True)
    elif kind == "camera":
        for key in ("shot", "read"):
            v = _num(p, key, gen, path, op, lo=0)
            if v is not None:
                out[key] = v
    elif kind == "sensor":
        for key, (lo, hi, default) in _SENSOR_CONDITIONS.items():
            out[key] = _num(p, key, gen, path, op, lo=lo, hi=hi, lo_open=key == "exposure_time", default=default)
        for key in _SENSOR_CONSTANTS:
            v = _num(p, key, gen, path, op, lo=0)
            if v is not None:
                out[key] = int(v) if key == "bits" else v
        out["pattern_seed"] = int(_num(p, "pattern_seed", gen, path, op, lo=0, default=0))
    elif kind == "salt_pepper":
        out["amount"] = _num(p, "amount", gen, path, op, lo=0, hi=1, required=True)
        out["salt_ratio"] = _num(p, "salt_ratio", gen, path, op, lo=0, hi=1, default=0.5)
        out["per_channel"] = _bool(p, "per_channel", path, op, default=False)
    elif kind == "dead_hot":
        out["fraction"] = _num(p, "fraction", gen, path, op, lo=0, hi=1, required=True)
        out["hot_ratio"] = _num(p, "hot_ratio", gen, path, op, lo=0, hi=1, default=0.5)
    if "clip" in _NOISE_KEYS[kind]:
        out["clip"] = _bool(p, "clip", path, op, default=False)
    out["seed"] = _seed(p, gen, path, op)
    return out


def _correlated_noise(image: np.ndarray, sigma: float, seed: int, clip: bool) -> tuple[np.ndarray, dict]:
    """BSRGAN's channel-correlated Gaussian noise: covariance ``(sigma/255)² UᵀDU`` with
    ``D = diag(uniform(0, 1)³)`` and ``U`` an orthonormal basis of a uniform random 3x3 matrix."""
    from scipy.linalg import orth

    gen = np.random.default_rng(seed)
    h, w, c = image.shape
    d = gen.random(3)
    u = orth(gen.random((3, 3)))
    cov = (sigma / 255.0) ** 2 * (u.T @ np.diag(d) @ u)
    if c == 3:
        vals, vecs = np.linalg.eigh(cov)
        factor = vecs * np.sqrt(np.clip(vals, 0.0, None))  # cov = factor @ factor.T
        z = gen.standard_normal((h * w, 3))
        noise = (z @ factor.T).reshape(h, w, 3)
    else:  # one channel: the first diagonal entry of the covariance as a variance
        noise = gen.standard_normal((h, w, c)) * math.sqrt(cov[0, 0])
    out = (image + noise).astype(np.float32)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out, {"covariance": cov}


def _apply_noise(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    kind, seed = c["type"], c["seed"]
    if kind == "gaussian":
        return gaussian_noise(image, c["sigma"], seed, gray=c["gray"], clip=c["clip"]).image, None
    if kind == "poisson":
        if "peak" in c:
            return poisson_noise(image, c["peak"], seed, gray=c["gray"], clip=c["clip"]).image, None
        # Real-ESRGAN: x + scale * (Poisson(255 x) / 255 - x), x clipped to [0, 1] for the count
        base = np.clip(image, 0.0, 1.0)
        residual = poisson_noise(base, 255.0, seed, gray=c["gray"]).image - base
        out = (image + np.float32(c["scale"]) * residual).astype(np.float32)
        if c["clip"]:
            np.clip(out, 0.0, 1.0, out=out)
        return out, {"equivalent_peak": 255.0 / c["scale"] ** 2 if c["scale"] > 0 else None}
    if kind == "poisson_gaussian":
        return poisson_gaussian_noise(image, c["shot"], c["read"], seed, clip=c["clip"]).image, None
    if kind == "camera":
        out, rec = _isp.camera_sensor_noise(image, seed, shot=c.get("shot"), read=c.get("read"))
        return out, {k: rec[k] for k in ("shot", "read", "rgb_gain", "red_gain", "blue_gain") if k in rec}
    if kind == "sensor":
        model = _sensor.with_overrides(_sensor.SensorModel(), **{k: c[k] for k in _SENSOR_CONSTANTS if k in c})
        out, rec = _sensor.sensor_noise(image, seed, exposure_time=c["exposure_time"], temperature=c["temperature"],
                                        gain=c["gain"], sensor=model, pattern_seed=c["pattern_seed"])
        return out, {k: rec[k] for k in ("shot", "read", "dark_electrons", "read_electrons")}
    if kind == "correlated":
        return _correlated_noise(image, c["sigma"], seed, c["clip"])
    if kind == "salt_pepper":
        out, rec = salt_and_pepper_noise(image, c["amount"], seed, salt_ratio=c["salt_ratio"],
                                         per_channel=c["per_channel"])
        return out, {"n_salt": rec["n_salt"], "n_pepper": rec["n_pepper"]}
    if kind == "dead_hot":
        out, rec = dead_hot_pixels(image, c["fraction"], seed, hot_ratio=c["hot_ratio"])
        return out, {"n_hot": rec["n_hot"], "n_dead": rec["n_dead"]}
    return speckle_noise(image, c["sigma"], seed, clip=c["clip"]).image, None


def _resolve_resize(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "resize"
    extra = set(p) - {"scale", "size", "of", "method", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: method, of, p, scale, size")
    if ("scale" in p) == ("size" in p):
        raise _fail(path, op, "give exactly one of 'scale' or 'size'")
    method = _choice(p, "method", gen, path, op, RESIZE_METHODS, default="bicubic")
    of = _choice(p, "of", gen, path, op, ("current", "input"), default="current")
    if "size" in p:
        v = p["size"]
        if (not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(_is_num(x) and float(x).is_integer() and x >= 1 for x in v)):
            raise _fail(path, op, f"key 'size' must be [height, width] of positive integers; got {v!r}")
        if "of" in p:
            raise _fail(path, op, "key 'of' applies to 'scale' only")
        return {"op": op, "size": [int(v[0]), int(v[1])], "method": method}
    s = _num(p, "scale", gen, path, op, lo=0, lo_open=True)
    if of == "input":
        h, w = ctx.input_shape[:2]
        return {"op": op, "size": [max(1, int(h * s)), max(1, int(w * s))], "method": method}
    return {"op": op, "scale": s, "method": method}


def _apply_resize(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    if "size" in c:
        return _resize(image, size=tuple(c["size"]), method=c["method"]).image, None
    out = _resize(image, c["scale"], method=c["method"]).image
    return out, {"out_size": list(out.shape[:2])}


def _resolve_jpeg(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "jpeg"
    extra = set(p) - {"quality", "chroma_subsampling", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: chroma_subsampling, p, quality")
    q = _int(p, "quality", gen, path, op, lo=1, hi=100, required=True)
    cs = _choice(p, "chroma_subsampling", gen, path, op, tuple(CHROMA_SUBSAMPLING), default="4:2:0")
    return {"op": op, "quality": q, "chroma_subsampling": cs}


def _apply_jpeg(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    out, rec = _jpeg(image, c["quality"], chroma_subsampling=c["chroma_subsampling"])
    return out, {"bytes": rec["bytes"]}


def _resolve_haze(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "haze"
    extra = set(p) - {"beta", "airlight", "seed", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: airlight, beta, p, seed")
    beta = _num(p, "beta", gen, path, op, lo=0, default=1.0)
    a = p.get("airlight")
    if isinstance(a, (list, tuple)) and len(a) == 3:
        if not all(_is_num(x) and 0 <= x <= 1 for x in a):
            raise _fail(path, op, f"key 'airlight' per channel must be three numbers in [0, 1]; got {a!r}")
        airlight: Any = [float(x) for x in a]
    else:
        airlight = _num(p, "airlight", gen, path, op, lo=0, hi=1, default=0.9)
    return {"op": op, "beta": beta, "airlight": airlight, "seed": _seed(p, gen, path, op)}


def _apply_haze(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    airlight = c["airlight"]
    if isinstance(airlight, list) and image.shape[2] != len(airlight):
        raise InvalidParameterError(f"airlight has {len(airlight)} values but the image has {image.shape[2]} channels")
    out, rec = _haze(image, c["beta"], airlight=airlight, rng=c["seed"])
    return out, {"transmission_range": rec.get("transmission_range")}


def _resolve_exposure(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "exposure"
    extra = set(p) - {"ev", "gamma", "clip", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: clip, ev, gamma, p")
    return {
        "op": op,
        "ev": _num(p, "ev", gen, path, op, lo=-20, hi=20, default=0.0),
        "gamma": _num(p, "gamma", gen, path, op, lo=0, lo_open=True, hi=10, default=1.0),
        "clip": _bool(p, "clip", path, op, default=True),
    }


def _apply_exposure(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    out, rec = _exposure(image, c["ev"], gamma=c["gamma"], clip=c["clip"])
    return out, {"clipped_fraction": rec.get("clipped_fraction")}


def _resolve_clip(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "clip"
    extra = set(p) - {"low", "high", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: high, low, p")
    lo = _num(p, "low", gen, path, op, default=0.0)
    hi = _num(p, "high", gen, path, op, default=1.0)
    if lo > hi:
        raise _fail(path, op, f"'low' ({lo:g}) must not exceed 'high' ({hi:g})")
    return {"op": op, "low": lo, "high": hi}


def _apply_clip(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    return np.clip(image, np.float32(c["low"]), np.float32(c["high"])), None


def _resolve_quantize(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "quantize"
    extra = set(p) - {"bits", "clip", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: bits, clip, p")
    return {"op": op, "bits": _int(p, "bits", gen, path, op, lo=1, hi=32, default=8),
            "clip": _bool(p, "clip", path, op, default=True)}


def _apply_quantize(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    return quantize(image, c["bits"], clip=c["clip"]).image, None


def _resolve_modcrop(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "modcrop"
    extra = set(p) - {"multiple", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: multiple, p")
    return {"op": op, "multiple": _int(p, "multiple", gen, path, op, lo=1, required=True)}


def _apply_modcrop(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    m = c["multiple"]
    h, w = image.shape[:2]
    if h < m or w < m:
        raise InvalidParameterError(f"modcrop: the image ({h}x{w}) is smaller than the multiple {m}")
    return image[: h - h % m, : w - w % m], None


def _resolve_decimate(p: dict, gen: np.random.Generator, ctx: _Ctx, path: str) -> dict:
    op = "decimate"
    extra = set(p) - {"factor", "offset", "p", "drawn"}
    if extra:
        raise _fail(path, op, f"unknown key {sorted(extra)[0]!r}; valid keys: factor, offset, p")
    f = _int(p, "factor", gen, path, op, lo=1, required=True)
    off = _int(p, "offset", gen, path, op, lo=0, default=0)
    if off >= f:
        raise _fail(path, op, f"key 'offset' must be < factor ({f}); got {off}")
    return {"op": op, "factor": f, "offset": off}


def _apply_decimate(image: np.ndarray, c: dict, ctx: _Ctx) -> tuple[np.ndarray, Any]:
    f, o = c["factor"], c["offset"]
    return np.ascontiguousarray(image[o::f, o::f]), None


_Resolver = Callable[[dict, np.random.Generator, _Ctx, str], dict]
_Applier = Callable[[np.ndarray, dict, _Ctx], tuple[np.ndarray, Any]]
_OPS: dict[str, tuple[_Resolver, _Applier]] = {
    "blur": (_resolve_blur, _apply_blur),
    "noise": (_resolve_noise, _apply_noise),
    "resize": (_resolve_resize, _apply_resize),
    "jpeg": (_resolve_jpeg, _apply_jpeg),
    "haze": (_resolve_haze, _apply_haze),
    "exposure": (_resolve_exposure, _apply_exposure),
    "clip": (_resolve_clip, _apply_clip),
    "quantize": (_resolve_quantize, _apply_quantize),
    "modcrop": (_resolve_modcrop, _apply_modcrop),
    "decimate": (_resolve_decimate, _apply_decimate),
}
# The parameter a bare value stands for: ``- jpeg: 40`` is ``- jpeg: {quality: 40}``.
_SHORTHAND = {
    "blur": "sigma", "noise": "sigma", "resize": "scale", "jpeg": "quality", "haze": "beta",
    "exposure": "ev", "quantize": "bits", "modcrop": "multiple", "decimate": "factor",
}  # fmt: skip


# ============================================================================ parsing
class _Step:
    __slots__ = ("op", "params", "path", "children", "p", "weights")

    def __init__(self, op: str, params: dict, path: str, children: list[_Step] | None = None,
                 p: float | None = None, weights: list[float] | None = None):
        self.op, self.params, self.path, self.children, self.p, self.weights = op, params, path, children, p, weights


def _probability(v: Any, path: str, op: str, key: str = "p") -> float:
    if not _is_num(v) or not 0.0 <= float(v) <= 1.0:
        raise _fail(path, op, f"key {key!r} must be a probability in [0, 1]; got {v!r}")
    return float(v)


def _parse_steps(raw: Any, prefix: str = "") -> list[_Step]:
    if not isinstance(raw, (list, tuple)):
        where = f"step {prefix}" if prefix else "the pipeline"
        raise ConfigError(f"{where} must be a list of steps; got {type(raw).__name__}")
    return [_parse_step(item, f"{prefix}{i + 1}") for i, item in enumerate(raw)]


def _parse_step(raw: Any, path: str) -> _Step:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"step {path}: must be a mapping such as {{noise: {{sigma: 25}}}}; got {raw!r}")
    raw = dict(raw)
    if "op" in raw:  # record form {"op": name, **params}
        op = raw.pop("op")
        params: Any = raw
    elif ("prob" in raw or "p" in raw) and "steps" in raw:  # {prob: p, steps: [...]}
        key = "prob" if "prob" in raw else "p"
        extra = set(raw) - {key, "steps"}
        if extra:
            raise _fail(path, "prob", f"unknown key {sorted(extra)[0]!r}; a prob wrapper has 'prob' and 'steps'")
        p = _probability(raw[key], path, "prob", key)
        return _Step("prob", {}, path, _parse_steps(raw["steps"], f"{path}."), p=p)
    elif len(raw) == 1:
        op, params = next(iter(raw.items()))
    else:
        raise ConfigError(f"step {path}: expected one operation per step, got keys {', '.join(map(str, raw))}")
    if op not in PIPELINE_OPS:
        raise ConfigError(f"step {path}: unknown operation {op!r}; valid: {', '.join(PIPELINE_OPS)}")
    if op in ("shuffle", "one_of", "prob"):
        p = None
        weights = None
        if isinstance(params, dict):
            extra = set(params) - {"steps", "p", "weights"}
            if extra or "steps" not in params:
                raise _fail(path, op, "expected a list of steps or {steps: [...], p: ..., weights: ...}")
            if params.get("p") is not None:
                p = _probability(params["p"], path, op)
            if params.get("weights") is not None:
                weights = params["weights"]
            children_raw = params["steps"]
        else:
            children_raw = params
        if op == "prob" and p is None:
            raise _fail(path, op, "write a probability wrapper as {prob: 0.5, steps: [...]}")
        children = _parse_steps(children_raw, f"{path}.")
        if not children:
            raise _fail(path, op, "needs at least one step")
        if weights is not None:
            if op != "one_of":
                raise _fail(path, op, "key 'weights' applies to one_of only")
            if (not isinstance(weights, (list, tuple)) or len(weights) != len(children)
                    or not all(_is_num(w) and w >= 0 for w in weights) or sum(weights) <= 0):
                raise _fail(path, op, f"key 'weights' must be {len(children)} non-negative numbers with a positive sum")
            weights = [float(w) / sum(weights) for w in weights]
        return _Step(op, {}, path, children, p=p, weights=weights)
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        if op not in _SHORTHAND:
            raise _fail(path, op, f"parameters must be a mapping; got {params!r}")
        params = {_SHORTHAND[op]: params}
    params = dict(params)
    p = None
    if "p" in params:
        p = _probability(params.pop("p"), path, op)
    params.pop("drawn", None)
    return _Step(op, params, path, p=p)


def _validate(steps: list[_Step], ctx: _Ctx) -> None:
    """Resolve every step (including all branches) with a scratch generator to check values."""
    for s in steps:
        if s.children is not None:
            _validate(s.children, ctx)
        else:
            _OPS[s.op][0](s.params, ctx.gen, ctx, s.path)


def _execute(steps: list[_Step], image: np.ndarray, ctx: _Ctx, record: list[dict]) -> np.ndarray:
    gen = ctx.gen
    for s in steps:
        if s.p is not None and not gen.random() < s.p:
            continue
        if s.op in ("shuffle", "prob", "one_of"):
            assert s.children is not None
            if s.op == "shuffle":
                order = [s.children[i] for i in gen.permutation(len(s.children))]
            elif s.op == "one_of":
                order = [s.children[int(gen.choice(len(s.children), p=s.weights))]]
            else:
                order = s.children
            image = _execute(order, image, ctx, record)
            continue
        resolve, apply = _OPS[s.op]
        concrete = resolve(s.params, gen, ctx, s.path)
        image = _apply_one(image, concrete, ctx, s.path)
        record.append(concrete)
    return image


def _apply_one(image: np.ndarray, concrete: dict, ctx: _Ctx, path: str) -> np.ndarray:
    op = concrete["op"]
    try:
        out, drawn = _OPS[op][1](image, concrete, ctx)
    except RestoraError as exc:
        raise type(exc)(f"step {path} ({op}): {exc}") from None
    if drawn:
        concrete["drawn"] = jsonable(drawn)
    return np.ascontiguousarray(out, dtype=np.float32)


def _seed_of(rng: RngLike) -> int | None:
    return int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None


def _finish(name: str, image: np.ndarray, out: np.ndarray, rng: RngLike, steps: list[dict],
            **extra: Any) -> Degraded:
    record = {
        "pipeline": name,
        "version": RECORD_VERSION,
        "seed": _seed_of(rng),
        **extra,
        "input_shape": list(image.shape),
        "output_shape": list(out.shape),
        "steps": steps,
    }
    return Degraded(out, jsonable(record))


# ============================================================================ user pipelines
def load_pipeline(source: str | os.PathLike[str]) -> list[dict]:
    """Read a pipeline (a YAML list of steps, or a mapping with a ``steps`` list) from a
    file path or from YAML text, check it, and return the list of step dicts.

    Raises :class:`ConfigError` with a one-line message naming the step and key at fault.
    """
    import yaml

    text: str
    name = "pipeline"
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and source.lower().endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"pipeline file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read pipeline file {path}: {exc}") from None
        name = str(path)
    elif isinstance(source, str):
        text = source
    else:
        raise ConfigError(f"pipeline must be a path or YAML text; got {type(source).__name__}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name} is not valid YAML{where}: {problem}") from None
    if isinstance(data, dict) and "steps" in data:
        data = data["steps"]
    if data is None:
        raise ConfigError(f"{name} is empty; expected a list of steps")
    validate_pipeline(data)
    return data


def validate_pipeline(steps: Sequence[dict]) -> None:
    """Check a step list (structure, operation names, keys and values) without running it."""
    parsed = _parse_steps(steps)
    _validate(parsed, _Ctx(np.random.default_rng(0), (64, 64, 3)))


def run_pipeline(image: np.ndarray, steps: Sequence[dict], rng: RngLike = None) -> Degraded:
    """Run a user pipeline (a list of step dicts, e.g. from :func:`load_pipeline`).

    The whole list is checked before the image is touched. Random values are drawn from
    ``rng`` in step order; the record's ``steps`` are the executed steps with every value
    concrete (ranges drawn, choices made, seeds fixed), so ``run_pipeline(image,
    record["steps"])`` reproduces the output exactly.
    """
    img = as_image(image)
    parsed = _parse_steps(list(steps))
    _validate(parsed, _Ctx(np.random.default_rng(0), img.shape))
    ctx = _Ctx(as_generator(rng), img.shape)
    done: list[dict] = []
    out = _execute(parsed, img, ctx, done)
    return _finish("custom", img, out, rng, done)


def replay(image: np.ndarray, record: dict) -> Degraded:
    """Re-apply the steps of a pipeline ``record`` to ``image`` (bit-identical to the original run)."""
    if not isinstance(record, dict) or not isinstance(record.get("steps"), list):
        raise ConfigError("record must be a pipeline record with a 'steps' list")
    out, rec = run_pipeline(image, record["steps"])
    rec["pipeline"] = f"replay:{record.get('pipeline', 'custom')}"
    rec["seed"] = record.get("seed")
    return Degraded(out, rec)


# ============================================================================ classical
def classical_degradation(
    image: np.ndarray,
    *,
    kernel: np.ndarray | None = None,
    scale: int = 1,
    sigma: float = 0.0,
    rng: RngLike = None,
    downsample: str = "bicubic",
    boundary: str = "reflect",
) -> Degraded:
    """The classical model ``y = (x * k)↓s + n``.

    ``kernel`` (2-D array, or None for no blur) is convolved with ``boundary`` handling;
    the image is first cropped to a multiple of ``scale``. ``downsample="direct"`` keeps
    every ``scale``-th pixel starting at the top-left one (``y = x[0::s, 0::s]``, the
    classical decimation); ``"bicubic"`` is MATLAB ``imresize(x, 1/s)``. ``n`` is white
    Gaussian noise of ``sigma`` 8-bit levels, not clipped. Output size ``(H // s, W // s)``.
    """
    img = as_image(image)
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InvalidParameterError(f"scale must be a positive integer, got {scale!r}")
    if downsample not in ("bicubic", "direct"):
        raise InvalidParameterError(f"downsample must be one of bicubic, direct; got {downsample!r}")
    if not _is_num(sigma) or not math.isfinite(float(sigma)) or sigma < 0:
        raise InvalidParameterError(f"sigma must be a number >= 0, got {sigma!r}")
    gen = as_generator(rng)
    steps: list[dict] = []
    if scale > 1:
        steps.append({"op": "modcrop", "multiple": int(scale)})
    if kernel is not None:
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.size == 0 or not np.all(np.isfinite(k)):
            raise InvalidParameterError(f"kernel must be a non-empty 2-D array of finite numbers, got shape {k.shape}")
        steps.append({"op": "blur", "kernel": k.tolist(), "boundary": boundary})
    if scale > 1:
        if downsample == "direct":
            steps.append({"op": "decimate", "factor": int(scale), "offset": 0})
        else:
            steps.append({"op": "resize", "scale": 1.0 / scale, "method": "bicubic"})
    if sigma > 0:
        steps.append({"op": "noise", "type": "gaussian", "sigma": float(sigma), "gray": False, "clip": False,
                      "seed": child_seed(gen)})
    ctx = _Ctx(gen, img.shape)
    out = img
    for i, s in enumerate(steps):
        out = _apply_one(out, s, ctx, str(i + 1))
    return _finish("classical", img, out, rng, steps, scale=int(scale), sigma=float(sigma), downsample=downsample)


# ============================================================================ Real-ESRGAN
def _options(defaults: dict[str, Any], overrides: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise InvalidParameterError(f"unknown {what} option {sorted(unknown)[0]!r}; valid: {', '.join(defaults)}")
    opts = {**defaults, **overrides}
    for key, value in opts.items():
        if key.endswith("_prob") and not isinstance(value, (list, tuple)):
            if not _is_num(value) or not 0 <= value <= 1:
                raise InvalidParameterError(f"{key} must be a probability in [0, 1], got {value!r}")
        elif key.endswith("_range"):
            if (not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_is_num(v) for v in value)
                    or value[0] > value[1] or value[0] < 0):
                raise InvalidParameterError(f"{key} must be a (low, high) pair with 0 <= low <= high, got {value!r}")
        elif key.startswith("resize_prob"):
            if (not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_is_num(v) and v >= 0 for v in value)
                    or sum(value) <= 0):
                raise InvalidParameterError(f"{key} must be three non-negative (up, down, keep) weights, got {value!r}")
        elif key == "resize_methods":
            if not value or any(m not in RESIZE_METHODS for m in value):
                raise InvalidParameterError(f"resize_methods must name methods from {', '.join(RESIZE_METHODS)}")
    return opts


def _draw_resize_scale(gen: np.random.Generator, probs: Sequence[float], rng_range: Sequence[float]) -> tuple[str, float]:
    """Real-ESRGAN's choice: up (scale in [1, hi]), down ([lo, 1]) or keep (1)."""
    p = np.asarray(probs, dtype=np.float64)
    direction = ("up", "down", "keep")[int(gen.choice(3, p=p / p.sum()))]
    if direction == "up":
        return direction, float(gen.uniform(1.0, rng_range[1]))
    if direction == "down":
        return direction, float(gen.uniform(rng_range[0], 1.0))
    return direction, 1.0


def _realesrgan_noise(gen: np.random.Generator, o: dict[str, Any], suffix: str) -> dict:
    gray = bool(gen.random() < o["gray_noise_prob" + suffix])
    if gen.random() < o["gaussian_noise_prob" + suffix]:
        lo, hi = o["noise_range" + suffix]
        return {"op": "noise", "type": "gaussian", "sigma": float(gen.uniform(lo, hi)), "gray": gray, "clip": True,
                "seed": child_seed(gen)}
    lo, hi = o["poisson_scale_range" + suffix]
    return {"op": "noise", "type": "poisson", "scale": float(gen.uniform(lo, hi)), "gray": gray, "clip": True,
            "seed": child_seed(gen)}


def _jpeg_step(gen: np.random.Generator, rng_range: Sequence[int]) -> dict:
    return {"op": "jpeg", "quality": int(gen.integers(int(rng_range[0]), int(rng_range[1]) + 1)),
            "chroma_subsampling": "4:2:0"}


def realesrgan_degradation(image: np.ndarray, scale: int = 4, rng: RngLike = None, **options: Any) -> Degraded:
    """Real-ESRGAN's second-order degradation (Wang et al. 2021) of an HR image.

    Stage 1: blur (random kernel: six Gaussian-like families or a sinc, see
    :func:`random_kernel` ``kind="realesrgan"``), random resize (up / down / keep with
    probabilities 0.2 / 0.7 / 0.1, scale in [0.15, 1.5], method area / bilinear / bicubic),
    noise (Gaussian sigma in [1, 30] or Poisson scale in [0.05, 3], half each; gray with
    probability 0.4; clipped), JPEG quality in [30, 95]. Stage 2: blur with probability 0.8
    (sigma in [0.2, 1.5]), random resize (0.3 / 0.4 / 0.3, [0.3, 1.2] of HR/scale), noise
    (sigma [1, 25], scale [0.05, 2.5]); then in random order either [resize to HR/scale +
    sinc filter (p 0.8), JPEG] or [JPEG, resize + sinc]. Finally rounded to 8 bits.

    Output size is ``(H // scale, W // scale)``. ``options`` override
    :data:`REALESRGAN_DEFAULTS` (same names as the Real-ESRGAN training options).
    """
    img = as_image(image)
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InvalidParameterError(f"scale must be a positive integer, got {scale!r}")
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise InvalidParameterError(f"image {h}x{w} is smaller than the scale {scale}")
    o = _options(REALESRGAN_DEFAULTS, options, "realesrgan")
    gen = as_generator(rng)
    methods = list(o["resize_methods"])
    ks = int(o["kernel_size"])
    ctx = _Ctx(gen, img.shape)
    steps: list[dict] = []
    out = img

    def do(step: dict) -> None:
        nonlocal out
        out = _apply_one(out, step, ctx, str(len(steps) + 1))
        steps.append(step)

    def method() -> str:
        return methods[int(gen.integers(0, len(methods)))]

    # ---- stage 1
    do({"op": "blur", "kernel": "realesrgan", "size": ks, "seed": child_seed(gen), "boundary": "reflect"})
    direction, s = _draw_resize_scale(gen, o["resize_prob"], o["resize_range"])
    m = method()
    if direction != "keep":
        ch, cw = out.shape[:2]
        do({"op": "resize", "size": [max(1, int(ch * s)), max(1, int(cw * s))], "method": m})
    do(_realesrgan_noise(gen, o, ""))
    do(_jpeg_step(gen, o["jpeg_range"]))
    # ---- stage 2
    if gen.random() < o["second_blur_prob"]:
        do({"op": "blur", "kernel": "realesrgan2", "size": ks, "seed": child_seed(gen), "boundary": "reflect"})
    direction, s = _draw_resize_scale(gen, o["resize_prob2"], o["resize_range2"])
    m = method()
    do({"op": "resize", "size": [max(1, int(h / scale * s)), max(1, int(w / scale * s))], "method": m})
    do(_realesrgan_noise(gen, o, "2"))
    # ---- final: [resize back + sinc] and JPEG in random order
    sinc_first = bool(gen.random() < 0.5)
    m = method()
    sinc = ({"op": "blur", "kernel": "final_sinc", "size": ks, "seed": child_seed(gen), "boundary": "reflect"}
            if gen.random() < o["final_sinc_prob"] else None)
    jpeg_step = _jpeg_step(gen, o["jpeg_range2"])
    back = {"op": "resize", "size": [h // scale, w // scale], "method": m}
    order = [back, sinc, jpeg_step] if sinc_first else [jpeg_step, back, sinc]
    for step in order:
        if step is not None:
            do(step)
    do({"op": "quantize", "bits": 8, "clip": True})
    return _finish("realesrgan", img, out, rng, steps, scale=int(scale),
                   options={k: v for k, v in o.items() if k in options})


# ============================================================================ BSRGAN
def bsrgan_degradation(image: np.ndarray, scale: int = 4, rng: RngLike = None, **options: Any) -> Degraded:
    """BSRGAN's degradation (Zhang et al. 2021, "Designing a Practical Degradation Model").

    The HR image is cropped to a multiple of ``scale`` (2, 3 or 4). For x4, with probability
    0.25 it is first halved (OpenCV bilinear / bicubic / area or MATLAB bicubic) and the rest
    runs at x2. Then seven steps in random order, except that the first downsampling comes
    before the second: blur twice (each an isotropic or anisotropic Gaussian,
    :func:`random_kernel` ``kind="bsrgan"``), downsample (with p 0.75 by a random factor in
    [1, 2s] with a random OpenCV method, else a Gaussian blur shifted to the block centres
    and s-fold decimation), downsample to exactly HR/scale (random OpenCV method), Gaussian
    noise (level 2..25: channel-independent 40 %, gray 40 %, channel-correlated 20 %),
    JPEG (p 0.9, quality 30..95), camera sensor noise (p 0.25, :mod:`restora.degrade.isp`).
    A final JPEG (30..95). Values are clipped to [0, 1] after each resize and noise, as in
    BSRGAN. Output size is exactly ``(H // scale, W // scale)``.
    """
    img = as_image(image)
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale not in (2, 3, 4):
        raise InvalidParameterError(f"scale must be 2, 3 or 4 for BSRGAN, got {scale!r}")
    o = _options(BSRGAN_DEFAULTS, options, "bsrgan")
    h0, w0 = img.shape[:2]
    if h0 < 4 * scale or w0 < 4 * scale:
        raise InvalidParameterError(f"image {h0}x{w0} is too small for BSRGAN x{scale} (needs at least {4 * scale} px)")
    gen = as_generator(rng)
    methods = list(o["resize_methods"])
    ks = int(o["kernel_size"])
    ctx = _Ctx(gen, img.shape)
    steps: list[dict] = []
    out = img

    def do(step: dict) -> None:
        nonlocal out
        out = _apply_one(out, step, ctx, str(len(steps) + 1))
        steps.append(step)

    def method() -> str:
        return methods[int(gen.integers(0, len(methods)))]

    do({"op": "modcrop", "multiple": int(scale)})
    sf = int(scale)
    if sf == 4 and gen.random() < o["scale2_prob"]:
        hh, ww = out.shape[:2]
        if gen.random() < 0.5:
            do({"op": "resize", "size": [hh // 2, ww // 2], "method": method()})
        else:
            do({"op": "resize", "scale": 0.5, "method": "bicubic"})
        do({"op": "clip", "low": 0.0, "high": 1.0})
        sf = 2
    order = [int(i) for i in gen.permutation(7)]
    i2, i3 = order.index(2), order.index(3)
    if i2 > i3:
        order[i2], order[i3] = order[i3], order[i2]
    before_down: tuple[int, int] = out.shape[:2]
    nlo, nhi = (int(v) for v in o["noise_range"])
    for i in order:
        if i in (0, 1):
            do({"op": "blur", "kernel": "bsrgan", "size": ks, "scale": sf, "seed": child_seed(gen),
                "boundary": "reflect"})
        elif i == 2:
            before_down = out.shape[:2]
            hh, ww = before_down
            if gen.random() > o["direct_downsample_prob"]:
                sf1 = float(gen.uniform(1, 2 * sf))
                do({"op": "resize", "size": [max(1, int(hh / sf1)), max(1, int(ww / sf1))], "method": method()})
            else:
                sigma = float(gen.uniform(0.1, 0.6 * sf))
                d = (sf - 1) / 2.0  # centre the kernel on the middle of each sf x sf block
                do({"op": "blur", "kernel": "gaussian", "size": ks, "sigma_x": sigma, "sigma_y": sigma,
                    "angle": 0.0, "shift": [-d, -d], "boundary": "reflect"})
                do({"op": "decimate", "factor": sf, "offset": 0})
            do({"op": "clip", "low": 0.0, "high": 1.0})
        elif i == 3:
            hh, ww = before_down
            do({"op": "resize", "size": [hh // sf, ww // sf], "method": method()})
            do({"op": "clip", "low": 0.0, "high": 1.0})
        elif i == 4:
            level = float(gen.integers(nlo, nhi + 1))
            r = float(gen.random())
            if r > 0.6 or out.shape[2] == 1:
                do({"op": "noise", "type": "gaussian", "sigma": level, "gray": False, "clip": True,
                    "seed": child_seed(gen)})
            elif r < 0.4:
                do({"op": "noise", "type": "gaussian", "sigma": level, "gray": True, "clip": True,
                    "seed": child_seed(gen)})
            else:  # BSRGAN scales the correlated noise by the top of the range
                do({"op": "noise", "type": "correlated", "sigma": float(nhi), "clip": True, "seed": child_seed(gen)})
        elif i == 5:
            if gen.random() < o["jpeg_prob"]:
                do(_jpeg_step(gen, o["jpeg_range"]))
        elif i == 6:
            if gen.random() < o["isp_prob"] and out.shape[2] == 3:
                do({"op": "noise", "type": "camera", "seed": child_seed(gen)})
                do({"op": "clip", "low": 0.0, "high": 1.0})
    do(_jpeg_step(gen, o["jpeg_range"]))
    expect = (h0 // scale, w0 // scale)
    if out.shape[:2] != expect:  # pragma: no cover - guarded by construction
        raise RestoraError(f"bsrgan_degradation produced {out.shape[:2]}, expected {expect}")
    return _finish("bsrgan", img, out, rng, steps, scale=int(scale), order=order,
                   options={k: v for k, v in o.items() if k in options})

