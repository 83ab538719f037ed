"""Blind deconvolution: estimate an unknown (motion) blur kernel, then deconvolve.

:func:`estimate_kernel` follows the scheme of Cho & Lee ("Fast motion deblurring", SIGGRAPH
Asia 2009): coarse-to-fine over an image pyramid (kernel sizes sqrt(2) apart); at each
scale it alternates

1. *prediction* of sharp edges. Two predictors:

   * ``"l0"`` (default): an L0-gradient-regularised latent image (in the manner of Xu,
     Zheng & Jia 2013 and Pan et al. 2014: half-quadratic splitting with hard thresholding
     of gradients) computed from the blurred image and the current kernel; it has only
     strong, step-like edges, which is what kernel estimation needs. Measured clearly
     more robust than the shock filter under noise (benchmarks/bench_deblur.py);
   * ``"shock"``: Cho & Lee's bilateral filter + shock filter of the current latent image,
     then their gradient threshold (each of four orientations keeps at least
     ``r * kernel_size`` pixels; lowered by 1.1 per iteration), and a Tikhonov latent
     update after each kernel step;

2. *kernel estimation* from the predicted gradients: least squares ``||k * p - b||^2 +
   w ||k||^2`` with the normal equations formed in the Fourier domain and solved by
   conjugate gradients on the kernel support, then projected (non-negative) gradient
   steps; values below 1/20 of the peak are removed and the kernel is normalised. Each
   level ends by dropping weak disconnected parts and centring the kernel's mass.

:func:`blind_deconvolve` estimates the kernel on the luminance and then runs the
non-blind MAP deconvolution (hyper-Laplacian prior) of
:mod:`restora.classical.deconvolve` on every channel.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import cv2
import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from restora.classical.deconvolve import default_lam, map_deconvolution, pad_for_deconvolution, psf2otf
from restora.errors import InvalidParameterError
from restora.validation import as_image, check_choice, check_range

__all__ = ["estimate_kernel", "estimate_kernel_pair", "reblur_residual", "blind_deconvolve", "center_kernel"]


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _gray(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float64)
    return (0.299 * img[:, :, 0] + 0.587 * img[:, :, 1] + 0.114 * img[:, :, 2]).astype(np.float64)


def _noise_sigma(image: np.ndarray) -> float:
    """Noise std (8-bit levels): restora.classical.estimate's estimator, else Donoho's MAD."""
    try:
        from restora.classical.estimate import estimate_noise_sigma

        return float(estimate_noise_sigma(image))
    except ImportError:  # pragma: no cover - estimate module absent
        pass
    g = _gray(as_image(image))
    h, w = (g.shape[0] // 2) * 2, (g.shape[1] // 2) * 2
    g = g[:h, :w]
    hh = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745 * 255.0)


def center_kernel(kernel: np.ndarray, *, subpixel: bool = True) -> np.ndarray:
    """Shift ``kernel`` so that its centre of mass lies on the centre pixel ``(kh//2, kw//2)``.

    Blind estimation fixes a kernel only up to a translation (shifting the kernel one way and
    the image the other explains the data equally well); centring the centre of mass
    removes that ambiguity. ``subpixel`` shifts by the exact fraction (bilinear), otherwise
    by whole pixels. The result is non-negative and sums to 1.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.sum() <= 0:
        return k
    cy, cx = ndimage.center_of_mass(k)
    dy, dx = k.shape[0] // 2 - cy, k.shape[1] // 2 - cx
    if not subpixel:
        dy, dx = round(dy), round(dx)
    if abs(dy) < 1e-6 and abs(dx) < 1e-6:
        return k / k.sum()
    out = ndimage.shift(k, (dy, dx), order=1, mode="constant", cval=0.0)
    out = np.maximum(out, 0)
    return out / out.sum() if out.sum() > 0 else k / k.sum()


def _clean_kernel(k: np.ndarray, rel_threshold: float) -> np.ndarray:
    """Non-negative, small values removed, only components touching the strong part, normalised, centred."""
    k = np.maximum(k, 0.0)
    if k.max() <= 0:
        out = np.zeros_like(k)
        out[k.shape[0] // 2, k.shape[1] // 2] = 1.0
        return out
    k[k < rel_threshold * k.max()] = 0.0
    # Keep the connected components that hold significant mass (drops isolated specks).
    lab, n = ndimage.label(k > 0, structure=np.ones((3, 3)))
    if n > 1:
        mass = ndimage.sum(k, lab, index=np.arange(1, n + 1))
        keep = np.zeros(n + 1, bool)
        keep[1:] = mass >= 0.1 * mass.max()
        k = k * keep[lab]
    k = k / k.sum()
    return center_kernel(k, subpixel=False)


def _resize(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if img.shape == (h, w):
        return img.copy()
    interp = cv2.INTER_AREA if h < img.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(img.astype(np.float32), (w, h), interpolation=interp).astype(np.float64)


def _resize_kernel(k: np.ndarray, size: int) -> np.ndarray:
    out = cv2.resize(k.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    out = np.maximum(out, 0)
    return out / out.sum() if out.sum() > 0 else _delta(size)


def _delta(size: int) -> np.ndarray:
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def _grads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences (replicated last row/column gives 0)."""
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    gy[:-1, :] = x[1:, :] - x[:-1, :]
    return gx, gy


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------


def _shock_filter(x: np.ndarray, iterations: int, dt: float) -> np.ndarray:
    """Osher-Rudin shock filter: ``x <- x - dt * sign(laplacian x) * |grad x|``."""
    x = x.copy()
    for _ in range(iterations):
        gx = 0.5 * (np.roll(x, -1, 1) - np.roll(x, 1, 1))
        gy = 0.5 * (np.roll(x, -1, 0) - np.roll(x, 1, 0))
        lap = cv2.Laplacian(x, cv2.CV_64F, borderType=cv2.BORDER_REFLECT)
        x = x - dt * np.sign(lap) * np.sqrt(gx**2 + gy**2)
    return x


def _orientation_threshold(gx: np.ndarray, gy: np.ndarray, min_count: int) -> float:
    """Largest threshold t such that each of 4 orientation bins keeps >= min_count gradients above t."""
    mag = np.sqrt(gx**2 + gy**2)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.floor(ang / (np.pi / 4) + 0.5).astype(int) % 4
    t = np.inf
    for b in range(4):
        m = mag[bins == b]
        if m.size == 0:
            continue
        kth = min(min_count, m.size)
        t = min(t, np.partition(m, m.size - kth)[m.size - kth])
    return float(t if np.isfinite(t) else 0.0)


def _estimate_kernel_ls(
    px: np.ndarray,
    py: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    size: int,
    weight: float,
    k0: np.ndarray | None = None,
    cg_iterations: int = 20,
    nonneg_iterations: int = 0,
) -> np.ndarray:
    """``argmin_k ||k * p - b||^2 + weight ||k||^2`` over gradients, ``k`` supported on ``size x size``.

    The normal equations ``(P^T P + weight I) k = P^T b`` are formed in the Fourier domain
    (``P^T P`` is a multiplication by ``|P_x|^2 + |P_y|^2``) and solved by conjugate
    gradients on the kernel support, which is far better conditioned than dividing spectra
    and cropping afterwards.
    """
    h, w = px.shape
    Px, Py = sfft.rfft2(px), sfft.rfft2(py)
    M = np.abs(Px) ** 2 + np.abs(Py) ** 2
    r = size // 2

    def crop(full: np.ndarray) -> np.ndarray:
        return np.roll(full, (r, r), axis=(0, 1))[:size, :size]

    def apply(k: np.ndarray) -> np.ndarray:
        return crop(sfft.irfft2(M * psf2otf(k, (h, w)), s=(h, w))) + weight * k

    rhs = crop(sfft.irfft2(np.conj(Px) * sfft.rfft2(bx) + np.conj(Py) * sfft.rfft2(by), s=(h, w)))
    k = np.full((size, size), 1.0 / (size * size)) if k0 is None else k0.copy()
    res = rhs - apply(k)
    d = res.copy()
    rr = float(np.sum(res * res))
    for _ in range(cg_iterations):
        Ad = apply(d)
        denom = float(np.sum(d * Ad))
        if denom <= 0 or rr < 1e-20:
            break
        a = rr / denom
        k = k + a * d
        res = res - a * Ad
        rr_new = float(np.sum(res * res))
        d = res + (rr_new / rr) * d
        rr = rr_new
    if nonneg_iterations > 0:
        # Non-negative least squares by accelerated projected gradient (FISTA) from the
        # clipped CG solution: non-negativity keeps kernels thin where an L2 term spreads them.
        lip = float(M.max()) + weight
        k = np.maximum(k, 0.0)
        z, t = k.copy(), 1.0
        for _ in range(nonneg_iterations):
            k_next = np.maximum(z - (apply(z) - rhs) / lip, 0.0)
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            z = k_next + ((t - 1.0) / t_next) * (k_next - k)
            k, t = k_next, t_next
    return k


def _tikhonov_latent(blurred: np.ndarray, kernel: np.ndarray, weight: float) -> np.ndarray:
    """``argmin ||k * x - b||^2 + weight ||grad x||^2`` (FFT on the padded, tapered image)."""
    padded, crop = pad_for_deconvolution(blurred[:, :, None], kernel)
    shape = padded.shape[:2]
    K = psf2otf(kernel, shape)
    dx = np.zeros(shape)
    dx[0, 0], dx[0, -1] = -1, 1
    dy = np.zeros(shape)
    dy[0, 0], dy[-1, 0] = -1, 1
    D = np.abs(sfft.rfft2(dx)) ** 2 + np.abs(sfft.rfft2(dy)) ** 2
    X = np.conj(K) * sfft.rfft2(padded[:, :, 0]) / (np.abs(K) ** 2 + weight * D)
    return sfft.irfft2(X, s=shape)[crop]


def _refine_kernel(b: np.ndarray, k: np.ndarray, rounds: int, fraction: float, weight: float, threshold: float,
                   nonneg_iterations: int) -> np.ndarray:
    """Re-estimate the full-resolution kernel ``k`` of the blurred ``b`` ``rounds`` times from the
    strongest ``fraction`` of the gradients of a natural-image latent: the hyper-Laplacian MAP
    deconvolution of ``b`` by the current kernel (sigma 1), instead of the L0 prediction's
    cartoon, whose step edges put a motion stroke's width into the kernel."""
    bx, by = _grads(b)
    for _ in range(rounds):
        latent = map_deconvolution(b[:, :, None], k, prior="hyper-laplacian", sigma=1.0)
        px, py = _grads(np.asarray(latent, np.float64).reshape(b.shape))
        mag = np.hypot(px, py)
        strong = mag >= np.quantile(mag, 1.0 - fraction)
        k_new = np.maximum(_estimate_kernel_ls(px * strong, py * strong, bx, by, k.shape[0], weight, k0=k,
                                               nonneg_iterations=nonneg_iterations), 0.0)
        if k_new.max() <= 0:
            break
        k = _clean_kernel(k_new, threshold)  # thresholds, drops specks, normalises, centres
    return k


def _l0_latent(blurred: np.ndarray, kernel: np.ndarray, lam: float, beta_max: float = 1e5) -> np.ndarray:
    """``argmin ||k * x - b||^2 + lam ||grad x||_0`` by half-quadratic splitting (Xu et al. 2013)."""
    padded, crop = pad_for_deconvolution(blurred[:, :, None], kernel)
    shape = padded.shape[:2]
    y = padded[:, :, 0]
    K = psf2otf(kernel, shape)
    dx = np.zeros(shape)
    dx[0, 0], dx[0, -1] = -1, 1
    dy = np.zeros(shape)
    dy[0, 0], dy[-1, 0] = -1, 1
    Fx, Fy = sfft.rfft2(dx), sfft.rfft2(dy)
    D = np.abs(Fx) ** 2 + np.abs(Fy) ** 2
    KtY = np.conj(K) * sfft.rfft2(y)
    KK = np.abs(K) ** 2
    x = y.copy()
    beta = 2 * lam
    while beta < beta_max:
        gx = np.roll(x, -1, 1) - x
        gy = np.roll(x, -1, 0) - x
        keep = (gx**2 + gy**2) > lam / beta
        gx *= keep
        gy *= keep
        num = KtY + beta * (np.conj(Fx) * sfft.rfft2(gx) + np.conj(Fy) * sfft.rfft2(gy))
        x = sfft.irfft2(num / (KK + beta * D), s=shape)
        beta *= 2.0
    return x[crop]


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _coarse_to_fine(
    image: np.ndarray,
    kernel_size: int,
    *,
    predictor: str,
    iterations: int,
    min_size: int,
    level_ratio: float,
    kernel_weight: float,
    latent_weight: float,
    r: float,
    edge_threshold: bool | None,
    l0_lambda: float,
    l0_decay: float,
    l0_min: float,
    shock_iterations: int,
    shock_dt: float,
    threshold: float,
    nonneg_iterations: int,
    verbose: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`estimate_kernel`'s pyramid: the kernel (centred to the whole pixel) and the luminance it was estimated on."""
    img = as_image(image)
    check_choice("predictor", predictor, ("shock", "l0"))
    ks = int(kernel_size)
    if ks != kernel_size or ks < 3:
        raise InvalidParameterError(f"kernel_size must be an integer >= 3; got {kernel_size!r}")
    if ks % 2 == 0:
        ks += 1
    iterations = int(check_range("iterations", iterations, 1, 100))
    if edge_threshold is None:
        edge_threshold = predictor == "shock"
    check_range("kernel_weight", kernel_weight, 0, None, lo_open=True)
    if ks > min(img.shape[:2]) // 2:
        raise InvalidParameterError(
            f"kernel_size {kernel_size} is too large for an image of {img.shape[0]}x{img.shape[1]}"
        )
    b_full = _gray(img)
    # Pyramid: kernel sizes from ks down by level_ratio to >= min_size (odd).
    sizes = [ks]
    while True:
        nxt = int(round(sizes[-1] / level_ratio))
        nxt += (nxt + 1) % 2
        if nxt < min_size or nxt >= sizes[-1]:
            break
        sizes.append(nxt)
    sizes = sizes[::-1]
    k = np.zeros((sizes[0], sizes[0]))
    c = sizes[0] // 2
    k[c, c - 1 : c + 2] = 1.0
    k[c - 1 : c + 2, c] = 1.0
    k /= k.sum()
    latent = None
    lam = l0_lambda
    for level, size in enumerate(sizes):
        f = size / ks
        shape = (max(int(round(b_full.shape[0] * f)), 2 * size + 2), max(int(round(b_full.shape[1] * f)), 2 * size + 2))
        b = _resize(b_full, shape)
        k = _resize_kernel(k, size) if k.shape[0] != size else k
        latent = b.copy() if latent is None else _resize(latent, shape)
        bx, by = _grads(b)
        tau = None
        for _ in range(iterations):
            # (1) prediction of sharp edges
            if predictor == "shock":
                p = cv2.bilateralFilter(latent.astype(np.float32), d=5, sigmaColor=0.5, sigmaSpace=2.0)
                p = _shock_filter(p.astype(np.float64), shock_iterations, shock_dt)
            else:
                p = _l0_latent(b, k, lam)
                lam = max(lam / l0_decay, l0_min)
            px, py = _grads(p)
            if edge_threshold:
                if tau is None:
                    tau = _orientation_threshold(px, py, int(r * size))
                else:
                    tau /= 1.1
                mask = np.sqrt(px**2 + py**2) >= tau
                px, py = px * mask, py * mask
            # (2) kernel
            k_new = _estimate_kernel_ls(
                px, py, bx, by, size, kernel_weight, k0=k, nonneg_iterations=nonneg_iterations
            )
            k_new = np.maximum(k_new, 0.0)
            if k_new.max() > 0:
                k_new[k_new < threshold * k_new.max()] = 0.0
                k = k_new / k_new.sum()
            # (3) latent
            if predictor == "shock":
                latent = _tikhonov_latent(b, k, latent_weight)
        k = _clean_kernel(k, threshold)
        if verbose:
            print(f"  level {level}: kernel {size}, image {shape}")
    return k, b_full


def estimate_kernel(
    image: np.ndarray,
    kernel_size: int,
    *,
    predictor: str = "l0",
    iterations: int = 5,
    min_size: int = 5,
    level_ratio: float = math.sqrt(2.0),
    kernel_weight: float = 0.2,
    latent_weight: float = 0.003,
    r: float = 2.0,
    edge_threshold: bool | None = None,
    l0_lambda: float = 1.6e-2,
    l0_decay: float = 1.1,
    l0_min: float = 1e-4,
    shock_iterations: int = 2,
    shock_dt: float = 0.5,
    threshold: float = 0.05,
    nonneg_iterations: int = 100,
    refine: int = 0,
    refine_fraction: float = 0.1,
    subpixel: bool = True,
    verbose: bool = False,
) -> np.ndarray:
    """Estimate a ``kernel_size x kernel_size`` blur kernel (sums to 1, centred) from ``image``.

    Coarse-to-fine (levels ``level_ratio`` apart, coarsest kernel ``min_size``), with
    ``iterations`` alternations per level of

    * edge prediction: ``predictor="l0"`` (default; an L0-gradient-regularised latent
      image, weight ``l0_lambda`` divided by ``l0_decay`` per iteration down to ``l0_min``)
      or ``"shock"`` (Cho & Lee: bilateral filter + shock filter of the current latent
      image), followed if ``edge_threshold`` (default: only for ``"shock"``) by Cho & Lee's
      gradient threshold keeping >= ``r * kernel_size`` pixels per orientation, lowered by
      1.1 per iteration;
    * kernel least squares on the gradients with Tikhonov weight ``kernel_weight``, solved
      by conjugate gradients on the kernel support and then ``nonneg_iterations`` steps of
      projected (non-negative) gradient descent; values below ``threshold`` x peak are
      removed and the kernel is normalised;
    * (``"shock"`` only) a Tikhonov latent update with weight ``latent_weight``.

    Each level ends by removing weak disconnected parts and centring the kernel's mass; the
    result's mass is moved to the exact centre by a bilinear sub-pixel shift (``subpixel``).
    ``refine`` > 0 then re-estimates the full-resolution kernel that many times from the
    strongest ``refine_fraction`` of the gradients of its hyper-Laplacian deconvolution, and
    ``subpixel=False`` centres to the whole pixel instead. Both give thinner kernels, which
    pay on blur that is an exact convolution and cost on real camera shake (session 33,
    ``docs/deblur.md``): on 12 CBSD432 photos blurred by bank kernels, MAP at level 1 / 2 gave
    27.07 / 27.77 dB as default, 28.06 / 28.05 whole-pixel, 28.74 / 28.42 whole-pixel with
    ``refine=4`` (true kernels 32.86 / 30.75); on Levin's real shake (two images, level 3)
    29.36 / 34.38 dB as default, 28.96 / 31.75 whole-pixel, 27.33 / 29.94 refined. So the
    defaults stay the robust ones; ``restore`` computes both (:func:`estimate_kernel_pair`) on
    noise-free photos and keeps the refined kernel only where it explains the blur clearly
    better (:data:`restora.pipeline.plan.REFINED_KERNEL_RESIDUAL`).
    """
    k, gray = _coarse_to_fine(
        image, kernel_size, predictor=predictor, iterations=iterations, min_size=min_size, level_ratio=level_ratio,
        kernel_weight=kernel_weight, latent_weight=latent_weight, r=r, edge_threshold=edge_threshold, l0_lambda=l0_lambda,
        l0_decay=l0_decay, l0_min=l0_min, shock_iterations=shock_iterations, shock_dt=shock_dt, threshold=threshold,
        nonneg_iterations=nonneg_iterations, verbose=verbose,
    )
    if refine > 0:
        k = _refine_kernel(gray, k, int(refine), float(check_range("refine_fraction", refine_fraction, 0, 1, lo_open=True)),
                           kernel_weight, threshold, nonneg_iterations)
    return center_kernel(k, subpixel=subpixel)


def estimate_kernel_pair(image: np.ndarray, kernel_size: int, *, rounds: int = 4, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two kernels from one coarse-to-fine pass of :func:`estimate_kernel` (``options``: its
    pyramid options): ``(default, refined)``, i.e. ``estimate_kernel(image, kernel_size)``
    and ``estimate_kernel(image, kernel_size, refine=rounds, subpixel=False)``.

    The refinement must start from the pyramid's own kernel: started from the sub-pixel
    centred default (bilinearly spread) it converges elsewhere (CBSD68 148089, a 11-px motion
    kernel: 25.2 dB against 29.3 at sigma 1.5). Callers compare the two, e.g. by
    :func:`reblur_residual`, because the refined one pays on exact convolutions and can cost
    on photographed shake (see :func:`estimate_kernel`).
    """
    own = {"refine", "refine_fraction", "subpixel"}
    pyramid = {k: p.default for k, p in inspect.signature(estimate_kernel).parameters.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in own}
    unknown = sorted(set(options) - set(pyramid) - {"refine_fraction"})
    if unknown:
        raise InvalidParameterError(f"unknown kernel estimation option(s) {', '.join(unknown)}; valid: {', '.join(sorted(pyramid))}, refine_fraction")
    fraction = float(check_range("refine_fraction", options.pop("refine_fraction", 0.1), 0, 1, lo_open=True))
    rounds = int(check_range("rounds", rounds, 1, 50))
    pyramid.update(options)
    k, gray = _coarse_to_fine(image, kernel_size, **pyramid)
    refined = _refine_kernel(gray, k, rounds, fraction, pyramid["kernel_weight"], pyramid["threshold"], pyramid["nonneg_iterations"])
    return center_kernel(k, subpixel=True), center_kernel(refined, subpixel=False)


def reblur_residual(blurred: np.ndarray, latent: np.ndarray, kernel: np.ndarray) -> float:
    """RMS (8-bit levels) of ``kernel * latent - blurred`` on the luminance, a kernel's width
    away from the borders: how well a deconvolution and its kernel explain the blurred image.
    At one regularisation level the truer of two kernels leaves the smaller residual."""
    b, x = _gray(as_image(blurred)), _gray(as_image(latent))
    if b.shape != x.shape:
        raise InvalidParameterError(f"latent {x.shape} and blurred image {b.shape} differ in size")
    k = np.asarray(kernel, np.float64)
    m = max(k.shape) // 2 + 1
    if min(b.shape) <= 2 * m:
        raise InvalidParameterError(f"image {b.shape} too small for a {k.shape[0]}-px kernel residual")
    r = cv2.filter2D(x, -1, k[::-1, ::-1], borderType=cv2.BORDER_REFLECT) - b
    return float(np.sqrt(np.mean(r[m:-m, m:-m] ** 2)) * 255.0)


def blind_deconvolve(
    image: np.ndarray,
    kernel_size: int = 31,
    *,
    sigma: float | None = None,
    prior: str = "hyper-laplacian",
    lam: float | None = None,
    lam_scale: float = 0.7,
    **estimate_options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the blur kernel of ``image`` and deconvolve it; returns ``(restored, kernel)``.

    ``kernel_size`` is the (odd) support searched, an upper bound of the blur extent.
    ``sigma`` (8-bit levels) is the noise level for the non-blind MAP step (estimated from
    the image if None). ``lam`` defaults to ``lam_scale`` times the non-blind default: a
    little more regularisation absorbs the errors of an estimated kernel.
    ``estimate_options`` go to :func:`estimate_kernel`.
    """
    img = as_image(image)
    kernel = estimate_kernel(img, kernel_size, **estimate_options)
    s = _noise_sigma(img) if sigma is None else float(sigma)
    if lam is None:
        lam = check_range("lam_scale", lam_scale, 0, None, lo_open=True) * default_lam(prior, s)
    restored = map_deconvolution(img, kernel, prior=prior, sigma=s, lam=lam)
    return restored, kernel
