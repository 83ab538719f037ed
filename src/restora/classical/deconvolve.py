"""Non-blind deconvolution with a known blur kernel (PSF): Wiener, Richardson-Lucy and MAP
(half-quadratic splitting with a total-variation or hyper-Laplacian gradient prior).

All solvers work in the Fourier domain on an image that is first padded with mirrored
borders and then edge-tapered (:func:`edgetaper`), so that the circular convolution the FFT
assumes matches the data near the image frame and no ringing frames the result.

The kernel is a point-spread function in the *convolution* sense: ``blurred = kernel (*)
sharp`` with the kernel centre at ``(kh // 2, kw // 2)``, the convention of
:func:`restora.degrade.convolve.convolve` and :func:`scipy.ndimage.convolve`.

Noise levels ``sigma`` are in 8-bit levels (0..255 scale), as everywhere in restora.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft as sfft

from restora.errors import InvalidParameterError
from restora.restorers import RestorerInfo, register
from restora.validation import as_image, check_choice, check_range

__all__ = [
    "as_kernel",
    "psf2otf",
    "edgetaper",
    "pad_for_deconvolution",
    "wiener",
    "richardson_lucy",
    "map_deconvolution",
    "hyper_laplacian_shrink",
    "default_lam",
    "DEFAULT_SIGMA",
]

#: Noise level (8-bit levels) assumed when a solver is not told ``sigma``.
DEFAULT_SIGMA = 1.0

_WORKERS = -1  # scipy.fft: use all cores


# --------------------------------------------------------------------------------------
# Kernels, OTFs and boundaries
# --------------------------------------------------------------------------------------


def as_kernel(kernel: Any, name: str = "kernel") -> np.ndarray:
    """Return ``kernel`` as a float64 2-D array with non-negative sum normalised to 1.

    Raises :class:`InvalidParameterError` if it is not 2-D, not finite, or sums to <= 0.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 3 and k.shape[2] == 1:
        k = k[:, :, 0]
    if k.ndim != 2 or k.size == 0:
        raise InvalidParameterError(f"{name} must be a non-empty 2-D array; got shape {np.shape(kernel)}")
    if not np.all(np.isfinite(k)):
        raise InvalidParameterError(f"{name} must be finite")
    s = k.sum()
    if s <= 0:
        raise InvalidParameterError(f"{name} must have a positive sum; got {s:g}")
    return k / s


def psf2otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real-FFT optical transfer function (``rfft2``) of ``kernel`` for an image of ``shape``.

    The kernel centre ``(kh // 2, kw // 2)`` is moved to pixel (0, 0) before the transform,
    so that multiplying by the OTF is a (circular) convolution that does not shift the image.
    """
    kh, kw = kernel.shape
    h, w = shape
    if kh > h or kw > w:
        raise InvalidParameterError(f"kernel {kernel.shape} is larger than the image {shape}")
    pad = np.zeros((h, w), dtype=np.float64)
    pad[:kh, :kw] = kernel
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(pad, workers=_WORKERS)


def _fft(x: np.ndarray) -> np.ndarray:
    return sfft.rfft2(x, axes=(0, 1), workers=_WORKERS)


def _ifft(X: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return sfft.irfft2(X, s=shape, axes=(0, 1), workers=_WORKERS)


@lru_cache(maxsize=16)
def _gradient_otfs(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """OTFs of the forward differences ``x[i, j+1] - x[i, j]`` and ``x[i+1, j] - x[i, j]``."""
    h, w = shape
    dx = np.zeros((h, w))
    dx[0, 0], dx[0, -1] = -1.0, 1.0  # circular: (D x)[j] = x[j+1] - x[j]
    dy = np.zeros((h, w))
    dy[0, 0], dy[-1, 0] = -1.0, 1.0
    fx = sfft.rfft2(dx)
    fy = sfft.rfft2(dy)
    return fx, fy


def _grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circular forward differences along x (columns) and y (rows), matching :func:`_gradient_otfs`."""
    return np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x


def _autocorr_taper(length: int, profile: np.ndarray) -> np.ndarray:
    """1 - normalised circular autocorrelation of ``profile`` over ``length`` samples (MATLAB style)."""
    n = max(length - 1, 1)
    p = np.zeros(n)
    m = min(profile.size, n)
    p[:m] = profile[:m]
    ac = np.real(np.fft.ifft(np.abs(np.fft.fft(p)) ** 2))
    ac = ac / max(ac.max(), 1e-12)
    ac = np.append(ac, ac[0])[:length]
    return 1.0 - ac


def edgetaper(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blend the borders of ``image`` into its circularly blurred version (like MATLAB's edgetaper).

    The weight is 1 in the interior and falls to 0 at the frame over about one kernel width
    (one minus the autocorrelation of the kernel's projections), which makes the image
    consistent with the periodic convolution an FFT deconvolution assumes.
    """
    img = as_image(image)
    k = as_kernel(kernel)
    h, w = img.shape[:2]
    wy = _autocorr_taper(h, k.sum(axis=1))
    wx = _autocorr_taper(w, k.sum(axis=0))
    alpha = (wy[:, None] * wx[None, :])[:, :, None]
    otf = psf2otf(k, (h, w))[:, :, None]
    blurred = _ifft(_fft(img.astype(np.float64)) * otf, (h, w))
    return (alpha * img + (1.0 - alpha) * blurred).astype(np.float32)


def pad_for_deconvolution(
    image: np.ndarray, kernel: np.ndarray, *, margin: int | None = None
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Mirror-pad ``image`` for FFT deconvolution with ``kernel`` and edge-taper the padding.

    Returns ``(padded, crop)`` where ``padded[crop]`` is the original frame. The padded size
    is a fast FFT length; the outer border is tapered so the circular wrap is smooth.
    """
    img = as_image(image)
    k = as_kernel(kernel)
    h, w = img.shape[:2]
    m = int(margin) if margin is not None else int(max(k.shape) + 8)
    ph = sfft.next_fast_len(h + 2 * m, real=True)
    pw = sfft.next_fast_len(w + 2 * m, real=True)
    top, left = (ph - h) // 2, (pw - w) // 2
    bottom, right = ph - h - top, pw - w - left
    # numpy 'symmetric' repeats the edge pixel (d c b a | a b c d); several passes if the
    # padding is wider than the image.
    padded = img.astype(np.float64)
    pads = [[top, bottom], [left, right]]
    while any(p > 0 for pr in pads for p in pr):
        hh, ww = padded.shape[:2]
        step = [[min(p, n) for p in pr] for pr, n in zip(pads, (hh, ww))]
        padded = np.pad(padded, (step[0], step[1], (0, 0)), mode="symmetric")
        pads = [[p - s for p, s in zip(pr, sr)] for pr, sr in zip(pads, step)]
    padded = edgetaper(padded, k).astype(np.float64)
    return padded, (slice(top, top + h), slice(left, left + w))


def _prepare(image: Any, kernel: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[slice, slice]]:
    img = as_image(image)
    k = as_kernel(kernel)
    if k.shape[0] > 4 * img.shape[0] or k.shape[1] > 4 * img.shape[1]:
        raise InvalidParameterError(f"kernel {k.shape} is too large for an image of {img.shape[:2]}")
    padded, crop = pad_for_deconvolution(img, k)
    otf = psf2otf(k, padded.shape[:2])
    return img, padded, otf, crop


def _sigma01(sigma: float | None) -> float:
    s = DEFAULT_SIGMA if sigma is None else check_range("sigma", sigma, 0, 255)
    # Floor: 8-bit quantisation alone is noise of std 0.29 levels; a model never fits exactly.
    return max(s, 0.5) / 255.0


# --------------------------------------------------------------------------------------
# Wiener
# --------------------------------------------------------------------------------------


def wiener(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    nsr: float | None = None,
    sigma: float | None = None,
    prior: str = "gradient",
) -> np.ndarray:
    """Wiener (regularised inverse) deconvolution in the Fourier domain.

    ``X = conj(K) Y / (|K|^2 + nsr * R)`` where ``R`` is 1 for ``prior="flat"`` (classic
    Wiener with a white signal spectrum) or ``|Dx|^2 + |Dy|^2`` for ``prior="gradient"``
    (a 1/f^2 natural-image spectrum; usually clearly better). If ``nsr`` is None it is chosen
    from the noise level ``sigma`` (8-bit levels; :data:`DEFAULT_SIGMA` if also None):
    ``nsr = sigma^2 / P`` with ``P`` a typical natural-image signal (gradient) power.
    """
    check_choice("prior", prior, ("gradient", "flat"))
    img, padded, otf, crop = _prepare(image, kernel)
    shape = padded.shape[:2]
    if nsr is None:
        s2 = _sigma01(sigma) ** 2
        # Effective signal power per frequency for natural images in [0, 1]: tuned on Set12
        # with motion blur (flat: white spectrum; gradient: 1/f^2 spectrum).
        nsr = s2 / (0.006 if prior == "flat" else 0.005)
    else:
        nsr = check_range("nsr", nsr, 0, None, lo_open=True)
    if prior == "flat":
        reg = np.full(otf.shape, nsr)
    else:
        fx, fy = _gradient_otfs(shape)
        reg = nsr * (np.abs(fx) ** 2 + np.abs(fy) ** 2)
    filt = np.conj(otf) / (np.abs(otf) ** 2 + reg)
    out = _ifft(_fft(padded) * filt[:, :, None], shape)
    return out[crop].astype(np.float32)


# --------------------------------------------------------------------------------------
# Richardson-Lucy
# --------------------------------------------------------------------------------------


def richardson_lucy(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    iterations: int = 30,
    eps: float = 1e-4,
    clip: bool = False,
) -> np.ndarray:
    """Richardson-Lucy deconvolution (maximum likelihood under Poisson noise), FFT-based.

    ``x <- x * (K^T (y / (K x)))`` for ``iterations`` steps from ``x = y``, on the mirrored,
    edge-tapered image. Values are kept positive (``eps`` floor); ``clip`` also caps at 1.
    More iterations sharpen more and amplify noise (the iteration count is the regulariser).
    """
    iterations = int(check_range("iterations", iterations, 1, 10000))
    img, padded, otf, crop = _prepare(image, kernel)
    shape = padded.shape[:2]
    K = otf[:, :, None]
    Kc = np.conj(K)
    y = np.maximum(padded, eps)
    x = y.copy()
    for _ in range(iterations):
        est = _ifft(_fft(x) * K, shape)
        ratio = y / np.maximum(est, eps)
        x = x * _ifft(_fft(ratio) * Kc, shape)
        x = np.maximum(x, eps)
        if clip:
            np.minimum(x, 1.0, out=x)
    return x[crop].astype(np.float32)


# --------------------------------------------------------------------------------------
# MAP with half-quadratic splitting
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _hl_table(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Lookup table of ``g(t) = argmin_u |u|^alpha + (u - t)^2 / 2`` for ``t >= 0``."""
    t = np.unique(np.concatenate([np.linspace(0, 8, 8001), np.geomspace(8, 1e5, 4000)]))
    if alpha >= 1.0:  # soft threshold (alpha = 1) / shrink (alpha > 1 not used)
        return t, np.maximum(t - 1.0, 0.0)
    # Non-zero stationary points solve f(u) = u - t + alpha u^(alpha-1) = 0, f convex in u;
    # the local minimiser is the larger root, in [u_m, t] with u_m the minimiser of f.
    u_m = (alpha * (1 - alpha)) ** (1.0 / (2 - alpha))
    f = lambda u: u - t + alpha * np.power(np.maximum(u, 1e-300), alpha - 1)  # noqa: E731
    lo = np.full_like(t, u_m)
    hi = np.maximum(t, u_m)
    has_root = f(lo) < 0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        pos = f(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    u = 0.5 * (lo + hi)
    e_u = np.power(u, alpha) + 0.5 * (u - t) ** 2
    e_0 = 0.5 * t**2
    g = np.where(has_root & (e_u < e_0), u, 0.0)
    return t, g


def hyper_laplacian_shrink(v: np.ndarray, beta: float, alpha: float) -> np.ndarray:
    """Solve ``argmin_w |w|^alpha + beta/2 (w - v)^2`` elementwise (Krishnan & Fergus 2009).

    Uses the scale invariance ``w(v; beta) = s g(v / s)`` with ``s = beta^(-1/(2 - alpha))``
    and one lookup table ``g`` per ``alpha`` (exact to interpolation accuracy).
    """
    t_grid, g_grid = _hl_table(float(alpha))
    s = beta ** (-1.0 / (2.0 - alpha))
    a = np.abs(v) / s
    w = np.interp(a, t_grid, g_grid)
    big = a > t_grid[-1]
    if np.any(big):
        w = np.where(big, a - alpha * np.power(np.maximum(a, 1e-12), alpha - 1), w)
    return np.sign(v) * s * w


def default_lam(prior: str, sigma: float | None) -> float:
    """Data weight of :func:`map_deconvolution` for noise ``sigma`` (8-bit levels; None: :data:`DEFAULT_SIGMA`).

    ``lam = c / (sigma / 255)^2`` with ``c`` = 0.2 (hyper-Laplacian, alpha 2/3) or 0.1 (TV),
    tuned on Set12 with motion blur and sigma = 2.55.
    """
    check_choice("prior", prior, ("hyper-laplacian", "tv"))
    return (0.1 if prior == "tv" else 0.2) / _sigma01(sigma) ** 2


def map_deconvolution(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    prior: str = "hyper-laplacian",
    lam: float | None = None,
    sigma: float | None = None,
    alpha: float = 2.0 / 3.0,
    beta0: float = 1.0,
    beta_max: float = 256.0,
    beta_rate: float = 2.0 * np.sqrt(2.0),
    iterations: int | None = None,
) -> np.ndarray:
    """MAP deconvolution ``argmin_x lam/2 ||k * x - y||^2 + sum_i phi(grad x_i)`` by half-quadratic
    splitting with FFTs (Krishnan & Fergus 2009), with continuation on the splitting weight beta.

    ``prior="hyper-laplacian"``: ``phi(g) = |g_x|^alpha + |g_y|^alpha`` (``alpha`` = 2/3 or 1/2
    are the usual choices; any 0 < alpha <= 1 works through a lookup table);
    ``prior="tv"``: isotropic total variation ``phi(g) = sqrt(g_x^2 + g_y^2)``.
    ``lam`` (data weight) defaults to a value chosen from ``sigma`` (8-bit levels) that was
    tuned on natural images: ``lam = c / sigma01^2`` with ``c`` per prior.
    ``beta`` runs from ``beta0`` to ``beta_max`` multiplying by ``beta_rate``, with
    ``iterations`` inner alternations per beta (default 1 for hyper-Laplacian, 3 for TV).
    """
    check_choice("prior", prior, ("hyper-laplacian", "tv"))
    alpha = check_range("alpha", alpha, 0, 1, lo_open=True)
    check_range("beta0", beta0, 0, None, lo_open=True)
    check_range("beta_rate", beta_rate, 1, None, lo_open=True)
    if iterations is None:
        iterations = 3 if prior == "tv" else 1
    iterations = int(check_range("iterations", iterations, 1, 100))
    img, padded, otf, crop = _prepare(image, kernel)
    shape = padded.shape[:2]
    if lam is None:
        lam = default_lam(prior, sigma)
    else:
        lam = check_range("lam", lam, 0, None, lo_open=True)
    fx, fy = _gradient_otfs(shape)
    K = otf[:, :, None]
    Y = _fft(padded)
    KtY = np.conj(K) * Y
    KK = np.abs(K) ** 2
    DD = (np.abs(fx) ** 2 + np.abs(fy) ** 2)[:, :, None]
    Fx, Fy = np.conj(fx)[:, :, None], np.conj(fy)[:, :, None]
    x = padded.copy()
    beta = float(beta0)
    while beta <= beta_max * (1 + 1e-9):
        denom = KK + (beta / lam) * DD
        for _ in range(iterations):
            gx, gy = _grad(x)
            if prior == "tv":
                mag = np.sqrt(gx**2 + gy**2)
                scale = np.maximum(mag - 1.0 / beta, 0.0) / np.maximum(mag, 1e-12)
                wx, wy = gx * scale, gy * scale
            else:
                wx = hyper_laplacian_shrink(gx, beta, alpha)
                wy = hyper_laplacian_shrink(gy, beta, alpha)
            num = KtY + (beta / lam) * (Fx * _fft(wx) + Fy * _fft(wy))
            x = _ifft(num / denom, shape)
        beta *= beta_rate
    return x[crop].astype(np.float32)


# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


def _need_kernel(condition: dict[str, Any], method: str) -> np.ndarray:
    k = condition.get("kernel")
    if k is None:
        raise InvalidParameterError(f"{method} is non-blind: pass condition kernel= (the blur PSF)")
    return np.asarray(k)


def _make_wiener(**options: Any):
    def run(image: np.ndarray, **condition: Any) -> np.ndarray:
        return wiener(image, _need_kernel(condition, "wiener"), sigma=condition.get("sigma"), **options)

    return run


def _make_rl(**options: Any):
    def run(image: np.ndarray, **condition: Any) -> np.ndarray:
        return richardson_lucy(image, _need_kernel(condition, "richardson-lucy"), **options)

    return run


def _make_map(prior: str):
    def factory(**options: Any):
        def run(image: np.ndarray, **condition: Any) -> np.ndarray:
            k = _need_kernel(condition, f"map-{prior}")
            return map_deconvolution(image, k, prior=prior, sigma=condition.get("sigma"), **options)

        return run

    return factory


register(
    RestorerInfo(
        name="wiener",
        task="deblur",
        kind="classical",
        description="Wiener deconvolution with a gradient (1/f^2) prior; NSR from sigma (known kernel)",
        factory=_make_wiener,
    )
)
register(
    RestorerInfo(
        name="richardson-lucy",
        task="deblur",
        kind="classical",
        description="Richardson-Lucy deconvolution, FFT-based, 30 iterations (known kernel)",
        factory=_make_rl,
    )
)
register(
    RestorerInfo(
        name="map-tv",
        task="deblur",
        kind="classical",
        description="MAP deconvolution, isotropic TV prior, half-quadratic splitting (known kernel)",
        factory=_make_map("tv"),
    )
)
register(
    RestorerInfo(
        name="map-hyper-laplacian",
        task="deblur",
        kind="classical",
        description="MAP deconvolution, hyper-Laplacian prior alpha=2/3 (Krishnan & Fergus 2009, known kernel)",
        factory=_make_map("hyper-laplacian"),
    )
)


def _make_blind(module: str, function: str):
    """Catalogue factory for a blind method ``module.function(image, sigma=..., **options)``
    returning ``(restored, extra)``; imported on first use."""

    def factory(**options: Any):
        def run(image: np.ndarray, **condition: Any) -> np.ndarray:
            import importlib

            restored, _ = getattr(importlib.import_module(module), function)(image, sigma=condition.get("sigma"), **options)
            return restored

        return run

    return factory


register(
    RestorerInfo(
        name="blind-deconv",
        task="deblur",
        kind="classical",
        description="blind deconvolution: coarse-to-fine kernel estimation (Cho & Lee style) + MAP hyper-Laplacian",
        factory=_make_blind("restora.classical.blind", "blind_deconvolve"),
        blind=True,
    )
)


register(
    RestorerInfo(
        name="blind-vb",
        task="deblur",
        kind="classical",
        description="blind deconvolution: variational-Bayes kernel estimation (Levin et al. 2011 diagonal free energy) + MAP hyper-Laplacian",
        factory=_make_blind("restora.classical.blind_vb", "vb_blind_deconvolve"),
        blind=True,
    )
)
