"""Classical denoisers for additive white Gaussian noise, and their catalogue entries.

Every denoiser is a plain function ``name(image, sigma=None, **params) -> image`` on float32
``H x W x C`` arrays (C = 1 or 3, values nominally in [0, 1]; out-of-range values are legal
and are not clipped). ``sigma`` is the noise standard deviation in 8-bit levels (0..255
scale); when it is ``None`` it is estimated with
:func:`restora.classical.estimate.estimate_noise_sigma`. Parameters left at ``None`` are
chosen from ``sigma`` by rules tuned on BSD68 (gray, 8 images, seeded noise at sigma 10, 25
and 50; see ``benchmarks/bench_classical_denoise.py``); each function documents its rule.

Methods, roughly from fastest/weakest to slowest/strongest:

``box``, ``gaussian``
    Linear low-pass filters (OpenCV).
``median``
    Median filter (OpenCV for 3x3/5x5 on float32, SciPy for larger windows).
``bilateral``
    Edge-preserving bilateral filter (OpenCV, on float32).
``guided``
    Self-guided filter (He et al. 2013), box-filter formulation, per channel.
``tv``
    Total-variation denoising, Chambolle's projection algorithm (scikit-image).
``wavelet``
    BayesShrink soft thresholding of a 2-D wavelet transform with cycle spinning (scikit-image).
``nlm``
    Non-local means, fast integral-image formulation with distance offset ``2 sigma^2``
    (scikit-image), on float data.
``collaborative_wiener``
    restora's block-matching collaborative filter: hard-thresholding then empirical-Wiener
    shrinkage of groups of similar patches in a 3-D transform domain (see
    :mod:`restora.classical.denoise_collaborative`). The strongest classical method here.
``bm3d_reference``
    The reference BM3D from the optional ``bm3d`` package, registered as a peer ("bm3d")
    for comparison only.

Measured on BSD68 at sigma 25 (68 gray images, seeded unclipped noise, output rounded to
8 bits; ``python benchmarks/bench_classical_denoise.py quality``; seconds per 481 x 321
image on a shared 2-core machine): median 24.57 dB, box 25.59, gaussian 26.18, guided 26.74,
bilateral 26.91, wavelet 27.43, tv 27.49, nlm 27.73 (0.2 s), collaborative_wiener 28.51
(3.3 s), bm3d package 28.63 (8.7 s).
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

from restora.errors import InvalidParameterError, MissingResourceError
from restora.restorers import RestorerInfo, register
from restora.validation import as_image, check_choice, check_range

__all__ = [
    "DENOISERS",
    "bilateral",
    "bm3d_reference",
    "box",
    "collaborative_wiener",
    "gaussian",
    "guided",
    "median",
    "nlm",
    "resolve_sigma",
    "tv",
    "wavelet",
]


def resolve_sigma(image: np.ndarray, sigma: float | None) -> float:
    """``sigma`` checked to lie in [0, 255], or estimated from ``image`` when ``None``."""
    if sigma is None:
        from restora.classical.estimate import estimate_noise_sigma

        return estimate_noise_sigma(image)
    return check_range("sigma", sigma, 0, 255)


def _prepare(image: Any, sigma: float | None) -> tuple[np.ndarray, float]:
    img = np.ascontiguousarray(as_image(image))
    return img, resolve_sigma(img, sigma)


def _odd(n: float, lo: int = 1) -> int:
    k = max(lo, int(round(n)))
    return k if k % 2 else k + 1


def _per_channel(img: np.ndarray, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a 2-D filter ``f`` to every channel of ``img`` (``H x W x C``)."""
    out = np.empty_like(img)
    for c in range(img.shape[2]):
        out[:, :, c] = f(np.ascontiguousarray(img[:, :, c]))
    return out


# --------------------------------------------------------------------------- linear filters


def box(image: np.ndarray, sigma: float | None = None, *, size: int | None = None) -> np.ndarray:
    """Box (moving-average) filter of odd side ``size``.

    Rule: ``size = 1`` (identity: a 3x3 box loses more detail than it removes noise on
    natural images) for sigma < 11, ``3`` for sigma < 30, ``5`` for sigma < 48, else ``7``.
    """
    img, s = _prepare(image, sigma)
    if size is None:
        size = 1 if s < 11 else (3 if s < 30 else (5 if s < 48 else 7))
    size = int(check_range("size", size, 1, 255))
    if size == 1:
        return img.copy()
    return cv2.blur(img, (size, size), borderType=cv2.BORDER_REFLECT).reshape(img.shape)


def gaussian(
    image: np.ndarray, sigma: float | None = None, *, blur_sigma: float | None = None
) -> np.ndarray:
    """Gaussian low-pass filter with standard deviation ``blur_sigma`` pixels.

    Rule: ``blur_sigma = 0.25 + 0.028 * sigma`` pixels (0.53 at sigma 10, 0.95 at 25, 1.65 at
    50; the BSD68 optima are 0.5, 0.9, 1.7).
    """
    img, s = _prepare(image, sigma)
    if blur_sigma is None:
        blur_sigma = 0.0 if s <= 0 else 0.25 + 0.028 * s
    blur_sigma = check_range("blur_sigma", blur_sigma, 0, 100)
    if blur_sigma == 0:
        return img.copy()
    k = _odd(6 * blur_sigma + 1, 3)
    out = cv2.GaussianBlur(img, (k, k), blur_sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def median(image: np.ndarray, sigma: float | None = None, *, size: int | None = None) -> np.ndarray:
    """Median filter of odd side ``size`` (per channel).

    Rule: ``size = 1`` (identity) for sigma < 11, ``3`` for sigma < 22, ``5`` for sigma < 40,
    else ``7``. OpenCV handles 3 and 5 on float32 directly; larger windows use SciPy.
    """
    img, s = _prepare(image, sigma)
    if size is None:
        size = 1 if s < 11 else (3 if s < 22 else (5 if s < 40 else 7))
    size = int(check_range("size", size, 1, 255))
    if size % 2 == 0:
        raise InvalidParameterError(f"size must be odd, got {size}")
    if size == 1:
        return img.copy()
    if size <= 5:
        return _per_channel(img, lambda p: cv2.medianBlur(p, size))
    from scipy.ndimage import median_filter

    return median_filter(img, size=(size, size, 1), mode="reflect")


# ----------------------------------------------------------------------- edge-aware filters


def bilateral(
    image: np.ndarray,
    sigma: float | None = None,
    *,
    sigma_color: float | None = None,
    sigma_space: float | None = None,
    diameter: int | None = None,
) -> np.ndarray:
    """Bilateral filter (OpenCV on float32); ``sigma_color`` in [0, 1] units, space in pixels.

    Rule: ``sigma_color = (1.6 + 0.05 sigma) sigma / 255`` (2.1, 2.85 and 4.1 times the noise
    std at sigma 10, 25, 50), ``sigma_space = 1.0 + 0.03 sigma`` pixels and a window
    ``diameter = 2 ceil(2 sigma_space) + 1``. OpenCV compares colour pixels by the L1 distance
    over the three channels, so for colour images ``sigma_color`` is 1.7 times larger.
    """
    img, s = _prepare(image, sigma)
    if sigma_color is None:
        sigma_color = (1.6 + 0.05 * s) * s / 255.0 * (1.7 if img.shape[2] == 3 else 1.0)
    if sigma_space is None:
        sigma_space = 1.0 + 0.03 * s
    sigma_color = check_range("sigma_color", sigma_color, 0, None)
    sigma_space = check_range("sigma_space", sigma_space, 0, 100)
    if sigma_color == 0 or sigma_space == 0:
        return img.copy()
    if diameter is None:
        diameter = 2 * int(np.ceil(2 * sigma_space)) + 1
    diameter = int(check_range("diameter", diameter, 1, 255))
    out = cv2.bilateralFilter(img, diameter, sigma_color, sigma_space, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def guided(
    image: np.ndarray,
    sigma: float | None = None,
    *,
    radius: int | None = None,
    eps: float | None = None,
) -> np.ndarray:
    """Self-guided filter (He, Sun & Tang 2013): per channel ``q = a I + b`` from box means.

    ``eps`` regularises the local linear model (in [0, 1]^2 units): flat regions (variance well
    below ``eps``) are smoothed, edges (variance above it) kept. Rule: ``radius = 1`` for
    sigma <= 30, else ``2``; ``eps = ((1.6 + 0.05 sigma) sigma / 255)^2``.
    """
    img, s = _prepare(image, sigma)
    if radius is None:
        radius = 1 if s <= 30 else 2
    if eps is None:
        eps = ((1.6 + 0.05 * s) * s / 255.0) ** 2
    radius = int(check_range("radius", radius, 0, 100))
    eps = check_range("eps", eps, 0, None)
    if radius == 0 or eps == 0:
        return img.copy()
    k = (2 * radius + 1, 2 * radius + 1)

    def mean(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)

    def f(p: np.ndarray) -> np.ndarray:
        mu = mean(p)
        var = mean(p * p) - mu * mu
        a = var / (var + eps)
        b = mu - a * mu
        return mean(a) * p + mean(b)

    return _per_channel(img, f)


# -------------------------------------------------------------- iterative / transform methods


def tv(
    image: np.ndarray,
    sigma: float | None = None,
    *,
    weight: float | None = None,
    max_iter: int = 200,
) -> np.ndarray:
    """Total-variation denoising (Chambolle 2004, scikit-image's ``denoise_tv_chambolle``).

    Colour channels are denoised independently. Rule: ``weight = (0.55 + 0.007 sigma) sigma
    / 255`` (0.62, 0.73 and 0.9 times the noise std at sigma 10, 25, 50).
    """
    from skimage.restoration import denoise_tv_chambolle

    img, s = _prepare(image, sigma)
    if weight is None:
        weight = (0.55 + 0.007 * s) * s / 255.0
    weight = check_range("weight", weight, 0, None)
    if weight == 0:
        return img.copy()
    if img.shape[2] == 1:
        out = denoise_tv_chambolle(img[:, :, 0], weight=weight, max_num_iter=int(max_iter))
    else:
        out = denoise_tv_chambolle(img, weight=weight, max_num_iter=int(max_iter), channel_axis=-1)
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


def wavelet(
    image: np.ndarray,
    sigma: float | None = None,
    *,
    method: str = "BayesShrink",
    wavelet_name: str = "db2",
    levels: int | None = None,
    shifts: int = 3,
) -> np.ndarray:
    """Wavelet shrinkage (scikit-image ``denoise_wavelet``) with cycle spinning.

    ``method`` is "BayesShrink" (adaptive soft threshold per sub-band) or "VisuShrink"
    (universal threshold). ``shifts``: cycle spinning over ``(shifts + 1)^2`` circular shifts
    (0 disables it; 3 gains about 1 dB over none at sigma 25). Colour images are shrunk in
    YCbCr. Daubechies-2 with BayesShrink was the best of db1/db2/db4/sym4/sym8 at sigma 10-50
    on BSD68 with cycle spinning.
    """
    from skimage.restoration import cycle_spin, denoise_wavelet

    img, s = _prepare(image, sigma)
    check_choice("method", method, ("BayesShrink", "VisuShrink"))
    shifts = int(check_range("shifts", shifts, 0, 16))
    if s <= 0:
        return img.copy()
    colour = img.shape[2] == 3
    kw: dict[str, Any] = dict(
        sigma=s / 255.0,
        wavelet=wavelet_name,
        mode="soft",
        method=method,
        rescale_sigma=True,
        wavelet_levels=levels,
    )
    data = img if colour else img[:, :, 0]
    if colour:
        kw.update(channel_axis=-1, convert2ycbcr=True)
    if shifts == 0:
        out = denoise_wavelet(data, **kw)
    else:
        out = cycle_spin(data, denoise_wavelet, max_shifts=shifts, func_kw=kw, workers=1, channel_axis=-1 if colour else None)
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


def nlm(
    image: np.ndarray,
    sigma: float | None = None,
    *,
    h: float | None = None,
    patch_size: int | None = None,
    patch_distance: int | None = None,
) -> np.ndarray:
    """Non-local means (Buades et al. 2005) on float data, scikit-image's fast mode.

    Patch distances are reduced by ``2 sigma^2`` before weighting (the unbiased distance).
    ``h`` is in [0, 1] units. Rule: ``h = (0.7 - 0.003 min(sigma, 100)) sigma / 255`` (tuned
    at sigma 10-50; above 100 it grows as ``0.4 sigma / 255``, so it stays positive over the
    whole range [0, 255]), ``patch_size = 5`` for sigma <= 30 else ``7``, ``patch_distance = 6``
    (13 x 13 search window; 19 x 19 is 2-3 times slower for at most 0.05 dB). Colour images
    (patch distances averaged over the channels) use 0.88 times that ``h``.
    """
    from skimage.restoration import denoise_nl_means

    img, s = _prepare(image, sigma)
    if h is None:
        h = (0.7 - 0.003 * min(s, 100.0)) * s / 255.0 * (0.88 if img.shape[2] == 3 else 1.0)
    if patch_size is None:
        patch_size = 5 if s <= 30 else 7
    if patch_distance is None:
        patch_distance = 6
    h = check_range("h", h, 0, None)
    patch_size = int(check_range("patch_size", patch_size, 1, 63))
    patch_distance = int(check_range("patch_distance", patch_distance, 1, 100))
    if h == 0:
        return img.copy()
    out = denoise_nl_means(
        img,
        h=h,
        sigma=s / 255.0,
        patch_size=patch_size,
        patch_distance=patch_distance,
        fast_mode=True,
        channel_axis=-1,
    )
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


def collaborative_wiener(image: np.ndarray, sigma: float | None = None, **params: Any) -> np.ndarray:
    """Block-matching collaborative filter: 3-D hard thresholding, then empirical Wiener.

    See :mod:`restora.classical.denoise_collaborative` for the algorithm and
    :func:`~restora.classical.denoise_collaborative.collaborative_params` for the parameter
    rule and the names of ``params`` (``patch1``, ``group1``, ``radius1``, ``lambda_hard``,
    ``patch2``, ``group2``, ``radius2``, ``step1``, ``step2``, ``chunk``). ``device`` selects
    a torch device (default CPU).
    """
    from restora.classical.denoise_collaborative import (
        collaborative_params,
        collaborative_wiener_sigma,
    )

    img, s = _prepare(image, sigma)
    device = params.pop("device", None)
    try:
        p = collaborative_params(s, **params)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"collaborative_wiener: {exc}") from None
    if s <= 0:
        return img.copy()
    return collaborative_wiener_sigma(img, s / 255.0, p, device=device)


def bm3d_reference(image: np.ndarray, sigma: float | None = None, **params: Any) -> np.ndarray:
    """Reference BM3D (Mäkinen, Azzari & Foi) from the optional ``bm3d`` package (a peer).

    Gray images use ``bm3d.bm3d``, colour images ``bm3d.bm3d_rgb``. Raises
    :class:`~restora.errors.MissingResourceError` when the package is not installed
    (``pip install 'restora[bench]'``).
    """
    try:
        import bm3d as _bm3d
    except ImportError:
        raise MissingResourceError(
            "the 'bm3d' package is not installed; install it with: pip install 'restora[bench]'"
        ) from None
    img, s = _prepare(image, sigma)
    if s <= 0:
        return img.copy()
    if img.shape[2] == 3:
        out = _bm3d.bm3d_rgb(img, s / 255.0, **params)
    else:
        out = _bm3d.bm3d(img[:, :, 0], s / 255.0, **params)
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


# ------------------------------------------------------------------------------ catalogue

DENOISERS: dict[str, Callable[..., np.ndarray]] = {
    "box": box,
    "gaussian": gaussian,
    "median": median,
    "bilateral": bilateral,
    "guided": guided,
    "tv": tv,
    "wavelet": wavelet,
    "nlm": nlm,
    "collaborative-wiener": collaborative_wiener,
    "bm3d": bm3d_reference,
}
"""Registered name -> function."""

_DESCRIPTIONS = {
    "box": "box (moving-average) low-pass filter, size from sigma",
    "gaussian": "Gaussian low-pass filter, width from sigma",
    "median": "median filter, 3x3 to 7x7 from sigma",
    "bilateral": "bilateral filter (OpenCV), range/space widths from sigma",
    "guided": "self-guided edge-aware filter (He et al.), eps from sigma",
    "tv": "total-variation denoising (Chambolle), weight from sigma",
    "wavelet": "BayesShrink wavelet shrinkage with cycle spinning",
    "nlm": "non-local means on float data (scikit-image fast mode), h from sigma",
    "collaborative-wiener": (
        "restora's block-matching collaborative filter: 3-D transform hard thresholding "
        "then empirical Wiener (BM3D-style, vectorised torch)"
    ),
    "bm3d": "reference BM3D from the optional 'bm3d' package (peer, for comparison)",
}


def _factory(func: Callable[..., np.ndarray]) -> Callable[..., Callable[..., np.ndarray]]:
    def factory(**options: Any) -> Callable[..., np.ndarray]:
        fixed_sigma = options.pop("sigma", None)

        def restore(image: np.ndarray, **condition: Any) -> np.ndarray:
            s = condition.get("sigma", fixed_sigma)
            return func(image, s, **options)

        restore.__name__ = func.__name__
        restore.__doc__ = func.__doc__
        return restore

    return factory


for _name, _func in DENOISERS.items():
    register(
        RestorerInfo(
            name=_name,
            task="denoise",
            kind="peer" if _name == "bm3d" else "classical",
            description=_DESCRIPTIONS[_name],
            factory=_factory(_func),
            tags=("gaussian-noise", "gray", "color"),
        )
    )
