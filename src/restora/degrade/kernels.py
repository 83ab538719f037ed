"""Blur kernels: Gaussian (anisotropic, rotated), generalized Gaussian, plateau, circular
sinc (jinc), defocus disk, random camera-shake trajectories, and random sampling of them as
in Real-ESRGAN and BSRGAN.

Every kernel is a float64 2-D array of odd size whose entries sum to 1. Coordinates follow
the image: ``x`` runs along columns (to the right), ``y`` along rows (downwards), and the
kernel centre is the middle element. A rotation ``angle`` (radians) turns the ``sigma_x``
axis from the ``+x`` axis towards ``+y``; since rows grow downwards this is clockwise on
screen. The covariance of an anisotropic Gaussian is ``R(angle) diag(sx², sy²) R(angle)ᵀ``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import special

from restora.degrade.record import jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import check_choice, check_range

__all__ = [
    "gaussian_kernel",
    "generalized_gaussian_kernel",
    "plateau_kernel",
    "sinc_kernel",
    "defocus_kernel",
    "motion_kernel",
    "random_kernel",
    "kernel_covariance",
    "kernel_center",
    "pad_kernel",
    "fit_kernel_size",
    "KERNEL_KINDS",
    "MAX_KERNEL_SIZE",
]

#: Kinds accepted by :func:`random_kernel`.
KERNEL_KINDS: tuple[str, ...] = (
    "realesrgan",
    "realesrgan2",
    "bsrgan",
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
    "gaussian",
    "generalized_gaussian",
    "plateau",
    "sinc",
    "final_sinc",
    "defocus",
    "motion",
)

# Camera-shake walk: canonical length and number of steps, and the anxiety at intensity 1.
#: Largest kernel side (pixels) the kernel makers accept; bounds their memory (a Gaussian of
#: sigma 1e9 would otherwise ask for tens of GiB).
MAX_KERNEL_SIZE = 1001
_MOTION_CANON_LENGTH = 60.0
_MOTION_STEPS = 2000
_MAX_ANXIETY = 0.005

_ALIASES = {"gaussian": "aniso", "generalized_gaussian": "generalized_aniso", "plateau": "plateau_aniso"}

# Real-ESRGAN's first-stage mixture of families and their probabilities.
_REALESRGAN_FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
_REALESRGAN_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


# --------------------------------------------------------------------------- helpers
def _check_size(size: Any, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise InvalidParameterError(f"{name} must be a positive odd integer, got {size!r}")
    if size > MAX_KERNEL_SIZE:
        raise InvalidParameterError(
            f"{name} must be at most {MAX_KERNEL_SIZE} (kernel side in pixels), got {size!r}; "
            "a blur that wide leaves no image detail (use a smaller sigma, radius or length)"
        )
    return int(size)


def fit_kernel_size(size: int, image_shape: Sequence[int]) -> int:
    """``size`` reduced to the largest odd side a kernel needs for an image of
    ``image_shape`` (H, W, ...): ``2 * max(H, W) + 1``; wider taps never meet the image."""
    h, w = int(image_shape[0]), int(image_shape[1])
    return int(min(int(size), 2 * max(h, w, 1) + 1))


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Column (x) and row (y) offsets from the centre of a ``size x size`` kernel."""
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    return np.meshgrid(ax, ax, indexing="xy")  # x varies along columns, y along rows


def _sigmas(sigma_x: float, sigma_y: float | None, angle: float) -> tuple[float, float, float]:
    sx = check_range("sigma_x", sigma_x, 0, None, lo_open=True)
    sy = sx if sigma_y is None else check_range("sigma_y", sigma_y, 0, None, lo_open=True)
    theta = check_range("angle", angle)
    return sx, sy, theta


def _covariance(sx: float, sy: float, theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([sx * sx, sy * sy]) @ rot.T


def _quadratic_form(size: int, sigma_x: float, sigma_y: float | None, angle: float) -> np.ndarray:
    """``q = v^T Σ^-1 v`` on the kernel grid, ``v = (x, y)``."""
    size = _check_size(size)
    sx, sy, theta = _sigmas(sigma_x, sigma_y, angle)
    inv = np.linalg.inv(_covariance(sx, sy, theta))
    x, y = _grid(size)
    return inv[0, 0] * x * x + 2.0 * inv[0, 1] * x * y + inv[1, 1] * y * y


def _normalise(kernel: np.ndarray, what: str) -> np.ndarray:
    total = float(kernel.sum())
    if not np.isfinite(total) or abs(total) < 1e-12:
        raise InvalidParameterError(f"{what}: kernel sums to {total:g}; choose a larger size or parameter")
    return np.ascontiguousarray(kernel / total, dtype=np.float64)


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad an odd square kernel symmetrically to ``size x size`` (``size`` odd, not smaller)."""
    k = np.asarray(kernel, dtype=np.float64)
    size = _check_size(size)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise InvalidParameterError(f"kernel must be a square 2-D array of odd size, got shape {k.shape}")
    if k.shape[0] > size:
        raise InvalidParameterError(f"size must be >= the kernel size {k.shape[0]}, got {size}")
    p = (size - k.shape[0]) // 2
    return np.pad(k, p) if p else k.copy()


# --------------------------------------------------------------------------- families
def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, angle: float = 0.0) -> np.ndarray:
    """Sampled (anisotropic, rotated) Gaussian ``exp(-v^T Σ^-1 v / 2)``, normalised to sum 1.

    ``sigma_y=None`` gives an isotropic kernel. ``angle`` (radians) rotates the ``sigma_x``
    axis from ``+x`` (columns) towards ``+y`` (rows). The support is not widened: choose
    ``size >= 6 * max(sigma)`` (better 8x) for the kernel's covariance to match ``Σ``.
    """
    q = _quadratic_form(size, sigma_x, sigma_y, angle)
    return _normalise(np.exp(-0.5 * q), "gaussian_kernel")


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, angle: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """Generalized Gaussian ``exp(-0.5 * (v^T Σ^-1 v)^beta)`` (Real-ESRGAN's shape family).

    ``beta = 1`` is the Gaussian; ``beta < 1`` has heavier tails, ``beta > 1`` a flatter top.
    """
    b = check_range("beta", beta, 0, None, lo_open=True)
    q = _quadratic_form(size, sigma_x, sigma_y, angle)
    return _normalise(np.exp(-0.5 * np.power(q, b)), "generalized_gaussian_kernel")


def plateau_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, angle: float = 0.0, beta: float = 2.0
) -> np.ndarray:
    """Plateau-shaped kernel ``1 / (1 + (v^T Σ^-1 v)^beta)`` (Real-ESRGAN)."""
    b = check_range("beta", beta, 0, None, lo_open=True)
    q = _quadratic_form(size, sigma_x, sigma_y, angle)
    return _normalise(1.0 / (1.0 + np.power(q, b)), "plateau_kernel")


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """Circular low-pass (2-D "sinc") kernel with cutoff frequency ``cutoff`` (radians/pixel).

    The ideal circular low-pass filter of radius ``cutoff`` in the frequency plane has the
    impulse response ``cutoff * J1(cutoff * r) / (2 pi r)`` (jinc), with value
    ``cutoff² / (4 pi)`` at ``r = 0``; it is truncated to ``size x size`` and normalised to
    sum 1. ``cutoff = pi`` is the Nyquist frequency. Entries may be negative (ringing).
    """
    size = _check_size(size)
    wc = check_range("cutoff", cutoff, 0, math.pi, lo_open=True)
    x, y = _grid(size)
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = wc * special.j1(wc * r) / (2.0 * math.pi * r)
    k[r == 0] = wc * wc / (4.0 * math.pi)
    return _normalise(k, "sinc_kernel")


def defocus_kernel(radius: float, size: int | None = None) -> np.ndarray:
    """Out-of-focus blur: a uniform disk of ``radius`` pixels, anti-aliased by area coverage.

    Each entry is the fraction of its pixel square covered by the disk (estimated with a
    16 x 16 sub-pixel grid, coarser above 256 pixels so the grid stays under 4096 x 4096
    samples), normalised to sum 1. ``size`` defaults to ``2*ceil(radius)+1``;
    ``radius = 0`` gives the identity (delta) kernel.
    """
    r = check_range("radius", radius, 0, None)
    if size is None:
        size = 2 * int(math.ceil(r)) + 1
    size = _check_size(size)
    if r == 0:
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        return k
    ss = max(2, min(16, 4096 // size))
    sub = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss - size / 2.0  # sub-sample centres
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= r * r
    k = inside.reshape(size, ss, size, ss).sum(axis=(1, 3)).astype(np.float64)
    if k.sum() == 0:  # disk smaller than the sub-pixel grid: a point
        k[size // 2, size // 2] = 1.0
    return _normalise(k, "defocus_kernel")


def motion_kernel(
    size: int = 31,
    rng: RngLike = None,
    *,
    length: float | None = None,
    intensity: float = 0.5,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Random camera-shake kernel from a simulated hand-held trajectory.

    The trajectory is a random walk with inertia in the manner of Boracchi & Foi (2012,
    "Modeling the performance of image restoration from motion blur"): the velocity keeps a
    constant speed and turns under Gaussian jitter, a centripetal pull towards the start
    and rare abrupt shakes, all weighted by an "anxiety" ``0.005 * intensity``. The walk has
    2000 steps over a canonical path of 60 pixels (so its shape does not depend on the
    length) and is then scaled to ``length`` pixels of path (default: uniform in
    ``[size/4, size-1]``). ``intensity`` in [0, 1]: 0 is a straight (linear) motion, 0.5 a
    typical curved stroke, 1 a looping scribble. The 2000 positions are rasterised with
    bilinear (sub-pixel, anti-aliased) splatting, the centroid is put on the kernel centre,
    and the path is shrunk if it does not fit in ``size x size`` (record ``scale`` < 1).
    Sizes up to 71 x 71 and beyond are fine.

    Returns ``(kernel, record)``; the record (JSON-serialisable) holds every drawn parameter.
    """
    size = _check_size(size)
    if size < 3:
        raise InvalidParameterError(f"size must be >= 3 for a motion kernel, got {size}")
    level = check_range("intensity", intensity, 0, 1)
    gen = as_generator(rng)
    if length is None:
        path = float(gen.uniform(size / 4.0, size - 1.0))
    else:
        path = check_range("length", length, 0, None, lo_open=True)

    anxiety = _MAX_ANXIETY * level
    centripetal = 0.7 * float(gen.random())
    prob_big_shake = 0.2 * float(gen.random())
    gaussian_shake = 10.0 * float(gen.random())
    init_angle = 2.0 * math.pi * float(gen.random())
    # The walk is simulated in canonical units (path length 60, 2000 steps, as Boracchi &
    # Foi) so that the shape does not depend on the requested length, then scaled.
    n = _MOTION_STEPS
    step = _MOTION_CANON_LENGTH / (n - 1)

    shake_u = gen.random(n - 1).tolist()
    turn_u = gen.random(n - 1).tolist()
    jitter = (gen.standard_normal(n - 1) + 1j * gen.standard_normal(n - 1)).tolist()

    # Walk with constant speed ``step``; plain Python complex scalars are fastest here.
    heading = complex(math.cos(init_angle), math.sin(init_angle))
    v = heading * step
    pos = 0j
    traj = [0j] * n
    shakes = 0
    for t in range(n - 1):
        if shake_u[t] < prob_big_shake * anxiety:
            turn = math.pi + turn_u[t] - 0.5
            big = 2.0 * v * complex(math.cos(turn), math.sin(turn))
            shakes += 1
        else:
            big = 0j
        v = v + big + anxiety * (gaussian_shake * jitter[t] - centripetal * pos) * step
        speed = abs(v)
        v = v / speed * step if speed > 0 else heading * step
        pos = pos + v
        traj[t + 1] = pos

    z = np.asarray(traj)
    z = (z - z.mean()) * (path / _MOTION_CANON_LENGTH)
    half = (size - 1) / 2.0 - 1.0  # leave one pixel for the bilinear footprint
    extent = max(float(np.abs(z.real).max()), float(np.abs(z.imag).max()), 1e-12)
    scale = min(1.0, half / extent) if half > 0 else 0.0
    z = z * scale

    xs = z.real + (size - 1) / 2.0
    ys = z.imag + (size - 1) / 2.0
    x0 = np.floor(xs).astype(np.int64)
    y0 = np.floor(ys).astype(np.int64)
    fx = xs - x0
    fy = ys - y0
    idx = np.concatenate([y0 * size + x0, y0 * size + x0 + 1, (y0 + 1) * size + x0, (y0 + 1) * size + x0 + 1])
    w = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    k = np.bincount(idx, weights=w, minlength=size * size)[: size * size].reshape(size, size)
    kernel = _normalise(k, "motion_kernel")
    record = {
        "family": "motion",
        "size": size,
        "length": path * scale,
        "requested_length": path,
        "scale": scale,
        "intensity": level,
        "anxiety": anxiety,
        "centripetal": centripetal,
        "prob_big_shake": prob_big_shake,
        "gaussian_shake": gaussian_shake,
        "init_angle": init_angle,
        "n_steps": n,
        "abrupt_shakes": shakes,
    }
    return kernel, jsonable(record)


# --------------------------------------------------------------------------- moments
def _check_kernel(kernel: Any) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise InvalidParameterError(f"kernel must be a non-empty 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise InvalidParameterError("kernel must contain only finite values")
    return k


def kernel_center(kernel: np.ndarray) -> np.ndarray:
    """Centre of mass ``[x, y]`` of ``kernel`` in array index coordinates (x = column, y = row).

    A centred odd ``k x k`` kernel gives ``[(k-1)/2, (k-1)/2]``.
    """
    k = _check_kernel(kernel)
    total = k.sum()
    if abs(total) < 1e-12:
        raise InvalidParameterError("kernel sums to 0; its centre is undefined")
    rows, cols = np.indices(k.shape, dtype=np.float64)
    return np.array([(k * cols).sum() / total, (k * rows).sum() / total])


def kernel_covariance(kernel: np.ndarray) -> np.ndarray:
    """Second central moments ``[[Cxx, Cxy], [Cxy, Cyy]]`` of ``kernel`` (x = columns, y = rows).

    For a Gaussian kernel with enough support this is ``R diag(sx², sy²) Rᵀ``.
    """
    k = _check_kernel(kernel)
    cx, cy = kernel_center(k)
    total = k.sum()
    rows, cols = np.indices(k.shape, dtype=np.float64)
    dx, dy = cols - cx, rows - cy
    cxx = (k * dx * dx).sum() / total
    cyy = (k * dy * dy).sum() / total
    cxy = (k * dx * dy).sum() / total
    return np.array([[cxx, cxy], [cxy, cyy]])


# --------------------------------------------------------------------------- sampling
def _odd_choice(gen: np.random.Generator, lo: int, hi: int) -> int:
    lo = lo + (1 - lo % 2)
    hi = hi - (1 - hi % 2)
    if hi < lo:
        raise InvalidParameterError(f"size_range ({lo}, {hi}) contains no odd size")
    return int(lo + 2 * gen.integers(0, (hi - lo) // 2 + 1))


def _beta(gen: np.random.Generator, rng_range: Sequence[float]) -> float:
    lo, hi = float(rng_range[0]), float(rng_range[1])
    if gen.random() < 0.5:
        return float(gen.uniform(lo, 1.0)) if lo < 1.0 else 1.0
    return float(gen.uniform(1.0, hi)) if hi > 1.0 else 1.0


def _pair(name: str, value: Sequence[float], lo: float = 0.0) -> tuple[float, float]:
    try:
        a, b = float(value[0]), float(value[1])
    except (TypeError, IndexError, ValueError):
        raise InvalidParameterError(f"{name} must be a (low, high) pair, got {value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b)) or a > b or a < lo:
        raise InvalidParameterError(f"{name} must be a (low, high) pair with {lo:g} <= low <= high, got {value!r}")
    return a, b


def random_kernel(
    rng: RngLike = None,
    *,
    kind: str = "realesrgan",
    size: int = 21,
    size_range: Sequence[int] | None = None,
    sigma_range: Sequence[float] | None = None,
    betag_range: Sequence[float] = (0.5, 4.0),
    betap_range: Sequence[float] = (1.0, 2.0),
    sinc_prob: float | None = None,
    cutoff_range: Sequence[float] | None = None,
    radius_range: Sequence[float] = (1.0, 5.0),
    intensity: float | None = None,
    scale: int = 4,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw a random blur kernel; returns ``(kernel, record)`` with the kernel padded to ``size``.

    ``kind``:

    * ``"realesrgan"``: Real-ESRGAN's first-stage blur. Support size uniform over odd sizes in
      ``size_range`` (default 7..21, capped at ``size``); with probability ``sinc_prob``
      (default 0.1) a sinc kernel with cutoff uniform in [pi/3, pi] (support < 13) or
      [pi/5, pi]; otherwise a family from iso / aniso / generalized_iso / generalized_aniso /
      plateau_iso / plateau_aniso with probabilities 0.45 / 0.25 / 0.12 / 0.03 / 0.12 / 0.03,
      sigmas uniform in ``sigma_range`` (default [0.2, 3]), angle uniform in [-pi, pi],
      beta for generalized (``betag_range``) and plateau (``betap_range``) drawn half the time
      below 1 and half above.
    * ``"realesrgan2"``: the second stage: same, with ``sigma_range`` default [0.2, 1.5].
    * ``"final_sinc"``: Real-ESRGAN's final sinc filter, cutoff uniform in [pi/3, pi].
    * ``"bsrgan"``: BSRGAN's blur for scale ``scale``: half the time an anisotropic Gaussian
      with covariance eigenvalues uniform in [0, 4 + scale] and angle uniform in [0, pi],
      otherwise an isotropic Gaussian with sigma uniform in [0, 2 + 0.2 scale]; support odd
      in 7..25 (capped at ``size``: pass ``size=25`` for BSRGAN's exact distribution).
    * a single family: ``"iso"``, ``"aniso"``, ``"generalized_iso"``, ``"generalized_aniso"``,
      ``"plateau_iso"``, ``"plateau_aniso"`` (``"gaussian"``, ``"generalized_gaussian"``,
      ``"plateau"`` are their anisotropic versions), ``"sinc"``, ``"defocus"`` (radius uniform
      in ``radius_range``, capped to fit), ``"motion"`` (:func:`motion_kernel` of ``size``;
      ``intensity`` default uniform in [0, 1]).

    The record is JSON-serialisable: ``kind``, ``family``, ``size``, ``support`` and the
    drawn parameters (sigmas, angle, beta, cutoff, radius, motion parameters).
    """
    check_choice("kind", kind, KERNEL_KINDS)
    size = _check_size(size)
    gen = as_generator(rng)
    family = _ALIASES.get(kind, kind)

    if family == "bsrgan":
        lo, hi = _pair("size_range", size_range or (7, 25), 1)
        support = min(_odd_choice(gen, int(lo), int(hi)), size)
        if gen.random() < 0.5:
            wd2 = 4.0 + scale
            l1, l2 = wd2 * float(gen.random()), wd2 * float(gen.random())
            theta = math.pi * float(gen.random())
            sx, sy = max(math.sqrt(l1), 0.05), max(math.sqrt(l2), 0.05)
            k = gaussian_kernel(support, sx, sy, theta)
            params = {"family": "aniso", "sigma_x": sx, "sigma_y": sy, "angle": theta}
        else:
            sigma = max((2.0 + 0.2 * scale) * float(gen.random()), 0.05)
            k = gaussian_kernel(support, sigma)
            params = {"family": "iso", "sigma_x": sigma, "sigma_y": sigma, "angle": 0.0}
        record = {"kind": kind, "size": size, "support": support, "scale": scale, **params}
        return pad_kernel(k, size), jsonable(record)

    if family == "motion":
        level = float(gen.random()) if intensity is None else intensity
        k, mrec = motion_kernel(size, gen, intensity=level)
        return k, jsonable({"kind": kind, **mrec, "support": size})

    default_hi = 21
    lo, hi = _pair("size_range", size_range or (min(7, size), min(default_hi, size)), 1)
    support = _odd_choice(gen, int(lo), int(min(hi, size)))
    record: dict[str, Any] = {"kind": kind, "size": size, "support": support}

    if family in ("realesrgan", "realesrgan2"):
        p_sinc = 0.1 if sinc_prob is None else check_range("sinc_prob", sinc_prob, 0, 1)
        if gen.random() < p_sinc:
            family = "sinc"
        else:
            family = _REALESRGAN_FAMILIES[int(gen.choice(len(_REALESRGAN_FAMILIES), p=_REALESRGAN_PROBS))]
        if sigma_range is None:
            sigma_range = (0.2, 3.0) if kind == "realesrgan" else (0.2, 1.5)
    elif sigma_range is None:
        sigma_range = (0.2, 3.0)
    record["family"] = family

    if family in ("sinc", "final_sinc"):
        if cutoff_range is None:
            if family == "final_sinc":
                cutoff_range = (math.pi / 3, math.pi)
            else:
                cutoff_range = (math.pi / 3, math.pi) if support < 13 else (math.pi / 5, math.pi)
        clo, chi = _pair("cutoff_range", cutoff_range)
        cutoff = float(gen.uniform(clo, chi))
        record["cutoff"] = cutoff
        k = sinc_kernel(support, cutoff)
    elif family == "defocus":
        rlo, rhi = _pair("radius_range", radius_range)
        radius = min(float(gen.uniform(rlo, rhi)), (support - 1) / 2.0)
        record["radius"] = radius
        k = defocus_kernel(radius, support)
    else:
        slo, shi = _pair("sigma_range", sigma_range)
        if slo <= 0:
            raise InvalidParameterError(f"sigma_range must be positive, got {sigma_range!r}")
        sx = float(gen.uniform(slo, shi))
        if family == "iso" or family.endswith("_iso"):
            sy, theta = sx, 0.0
        else:
            sy = float(gen.uniform(slo, shi))
            theta = float(gen.uniform(-math.pi, math.pi))
        record.update({"sigma_x": sx, "sigma_y": sy, "angle": theta})
        if family.startswith("generalized"):
            beta = _beta(gen, _pair("betag_range", betag_range))
            record["beta"] = beta
            k = generalized_gaussian_kernel(support, sx, sy, theta, beta)
        elif family.startswith("plateau"):
            beta = _beta(gen, _pair("betap_range", betap_range))
            record["beta"] = beta
            k = plateau_kernel(support, sx, sy, theta, beta)
        else:
            k = gaussian_kernel(support, sx, sy, theta)
    return pad_kernel(k, size), jsonable(record)
