"""Blind estimation of what hurt an image: noise level, JPEG quality, blur.

- :func:`estimate_noise_sigma`: additive white Gaussian noise std (8-bit levels) by the
  weak-texture patch method of Liu, Tanaka & Okutomi ("Single-image noise level estimation for
  blind denoising", IEEE TIP 2013): patches whose gradient energy is compatible with pure noise
  are selected iteratively and the noise variance is the smallest eigenvalue of their
  covariance. Two changes of ours: the texture test also looks at the ring of pixels around
  the patch (whose noise is independent of the patch's), which removes most of the downward
  bias of selecting on the patch's own noisy gradients, and the eigenvalue is corrected for
  the Marchenko-Pastur shrinkage of a finite sample.
- :func:`estimate_jpeg_quality`: the IJG quality factor, exactly from a JPEG file's
  quantisation tables, or from decoded pixels by detecting the quantisation steps that the
  8x8 block DCT coefficients still cluster on (blockiness as a last resort).
- :func:`estimate_blur`: Gaussian-blur sigma from the gradient ratio of the image and a
  re-blurred copy at edges (Zhuo & Sim, "Defocus map estimation from a single image", 2011),
  plus the variance of the Laplacian as a sharpness score.
- :func:`analyse`: all of the above in one dict, for the restore pipeline.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from restora.errors import ImageReadError, InvalidParameterError
from restora.validation import as_image

__all__ = [
    "analyse",
    "defocus_of_halves",
    "blockiness",
    "estimate_blur",
    "estimate_jpeg_quality",
    "estimate_noise_sigma",
    "jpeg_quality_from_pixels",
    "jpeg_quality_from_tables",
    "jpeg_steps_from_pixels",
    "jpeg_quant_table",
]

# ------------------------------------------------------------------------------ noise level

_PATCH = 7  # patch side
_CONF = 0.99  # a patch's ring must look like noise at this confidence ...
_CONF_OWN = 0.999  # ... and so must the patch itself (Liu et al.'s test)
_CONFIDENCE_QUANTILE_CACHE: dict[tuple[int, float], float] = {}


def _gamma_quantile(d: int, conf: float) -> float:
    """``F^-1(conf)`` of the Gamma law of a pure-noise patch's gradient energy / sigma^2."""
    key = (d, conf)
    if key not in _CONFIDENCE_QUANTILE_CACHE:
        from scipy.special import gammaincinv

        n = d * d
        tr = 4 * d * (d - 1)  # trace(Dh^T Dh + Dv^T Dv) for valid differences in a d x d patch
        _CONFIDENCE_QUANTILE_CACHE[key] = float(2.0 * tr / n * gammaincinv(n / 2.0, conf))
    return _CONFIDENCE_QUANTILE_CACHE[key]


def _min_eig_sigma2(patches: np.ndarray) -> float:
    """Smallest eigenvalue of the patches' covariance, corrected for sample size."""
    n, dim = patches.shape
    q = patches - patches.mean(0, dtype=np.float64).astype(np.float32)
    cov = (q.T @ q).astype(np.float64) / n
    lam = float(np.linalg.eigvalsh(cov)[0])
    # For pure noise the smallest sample eigenvalue sits near the lower Marchenko-Pastur edge
    # sigma^2 (1 - sqrt(dim / n))^2: undo that shrinkage.
    ratio = min(dim / n, 0.5)
    return max(lam, 0.0) / (1.0 - np.sqrt(ratio)) ** 2


_RING = 2  # width of the ring around a patch on which its texture is judged


def _grad_energy(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of squared horizontal and vertical differences inside every ``w x w`` window,
    indexed by the window's top-left pixel: shape ``(h - w + 1, w_ - w + 1)``."""
    h, wd = x.shape
    gh = np.square(x[:, 1:] - x[:, :-1])
    gv = np.square(x[1:, :] - x[:-1, :])
    sh = cv2.boxFilter(gh, -1, (w - 1, w), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    sv = cv2.boxFilter(gv, -1, (w, w - 1), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    return sh[: h - w + 1, : wd - w + 1] + sv[: h - w + 1, : wd - w + 1]


def _ring_energy(x: np.ndarray, d: int, k: int = _RING) -> np.ndarray:
    """Gradient energy of the ring of width ``k`` around every ``d x d`` patch, leaving out
    every difference that touches a patch pixel; indexed by the top-left pixel of the patches
    that have a full ring (rows ``k .. h - d - k``)."""
    big = _grad_energy(x, d + 2 * k)
    inner = _grad_energy(x, d + 2)[k - 1 :, k - 1 :]
    return big - inner[: big.shape[0], : big.shape[1]]


_ENERGY_QUANTILE: dict[tuple[int, float], float] = {}


def _noise_energy_quantile(d: int, conf: float) -> float:
    """``conf`` quantile of the ring energy for unit-variance white noise (simulated once
    with a fixed seed: it is a sum of correlated squared differences)."""
    key = (d, conf)
    if key not in _ENERGY_QUANTILE:
        n = np.random.default_rng(20130101).standard_normal((600, 600)).astype(np.float32)
        _ENERGY_QUANTILE[key] = float(np.quantile(_ring_energy(n, d), conf))
    return _ENERGY_QUANTILE[key]


def _noise_sigma_plane(x: np.ndarray, d: int = _PATCH, max_patches: int = 400_000) -> float:
    """Noise std (same units as ``x``) of one 2-D plane, weak-texture method.

    A patch counts as weak-textured when neither the ring of pixels around it (confidence
    ``_CONF``) nor the patch itself (``_CONF_OWN``, Liu et al.'s Gamma-law test) has more
    gradient energy than pure noise at the current estimate would. Selecting on the patch's
    own gradients alone favours patches whose noise happened to be weak and biased the
    estimate 3-4 % low on BSD68 (11 % on a synthetic picture at sigma 5); the ring's noise is
    independent of the patch's and catches most texture first.
    """
    h, w = x.shape
    k = _RING
    if h < 2 * (d + 2 * k) or w < 2 * (d + 2 * k):
        return _mad_sigma(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    energy = _ring_energy(x, d, k)  # patches with top-left in [k, h - d - k] x [k, w - d - k]
    stride = 1
    while ((energy.shape[0] - 1) // stride + 1) * ((energy.shape[1] - 1) // stride + 1) > max_patches:
        stride += 1
    energy = energy[::stride, ::stride].ravel()
    own = _grad_energy(x, d)[k : h - d - k + 1, k : w - d - k + 1][::stride, ::stride].ravel()
    patches = np.lib.stride_tricks.sliding_window_view(x[k : h - k, k : w - k], (d, d))[::stride, ::stride]
    patches = patches.reshape(-1, d * d)
    s2 = _min_eig_sigma2(patches)
    threshold = _noise_energy_quantile(d, _CONF)
    own_threshold = _gamma_quantile(d, _CONF_OWN)
    for _ in range(8):
        sel = (energy < threshold * s2) & (own < own_threshold * s2)
        if sel.sum() < 10 * d * d:
            break
        new = _min_eig_sigma2(patches[sel])
        converged = abs(new - s2) <= 1e-3 * s2
        s2 = new
        if converged:
            break
    return float(np.sqrt(s2))


def _mad_sigma(x: np.ndarray) -> float:
    """Donoho's robust estimate from the finest diagonal Haar detail coefficients."""
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return 0.0
    a = x[:h:2, :w:2] - x[1:h:2, :w:2] - x[:h:2, 1:w:2] + x[1:h:2, 1:w:2]
    return float(np.median(np.abs(a / 2.0)) / 0.6745)


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of additive white Gaussian noise in ``image``, in 8-bit levels.

    Weak-texture PCA method (after Liu, Tanaka & Okutomi 2013; see the module notes) with 7x7
    patches, per channel, the channel estimates averaged. What is measured is all the white
    noise in the image: on the 80 BSD68 + Set12 images with seeded Gaussian noise at sigma
    5-50 the mean relative error is 1.1 % and the worst 4.4 % from sigma 15 up; at sigma 5-10
    the estimates err high on grainy photographs (worst 19 % at sigma 5, BSD68 test031, whose
    clean version already reads 2.9 levels); see ``benchmarks/bench_classical_denoise.py
    noise-sweep``. Images smaller than 22 pixels a side fall back to Donoho's
    median-absolute-deviation estimate on the finest diagonal Haar details.
    """
    img = as_image(image)
    sig = [_noise_sigma_plane(img[:, :, c]) for c in range(img.shape[2])]
    return float(np.mean(sig) * 255.0)


# ----------------------------------------------------------------------------- JPEG quality

_STD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
)
_STD_CHROMA = np.full((8, 8), 99, dtype=np.int64)
_STD_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def jpeg_quant_table(quality: int, chroma: bool = False) -> np.ndarray:
    """The IJG (libjpeg) 8x8 quantisation table for ``quality`` in 1..100 (baseline, <= 255)."""
    q = int(quality)
    if not 1 <= q <= 100:
        raise InvalidParameterError(f"quality must be an integer in [1, 100], got {quality!r}")
    scale = 5000 // q if q < 50 else 200 - 2 * q
    base = _STD_CHROMA if chroma else _STD_LUMA
    return np.clip((base * scale + 50) // 100, 1, 255)


_ALL_TABLES = np.stack([jpeg_quant_table(q) for q in range(1, 101)])
_ALL_CHROMA = np.stack([jpeg_quant_table(q, chroma=True) for q in range(1, 101)])


def jpeg_quality_from_tables(tables: dict[int, Any] | list[Any]) -> float:
    """IJG quality that best explains JPEG quantisation ``tables`` (Pillow's ``quantization``).

    Table 0 is luminance, table 1 (if present) chrominance, each 64 values in natural
    (row-major) order. When some IJG quality reproduces the tables exactly that quality is
    returned (the middle one if several do); otherwise (tables of other encoders) the
    quality whose scaling best matches the median ratio to the standard tables, as a float.
    """
    if isinstance(tables, dict):
        items = [tables[k] for k in sorted(tables)]
    else:
        items = list(tables)
    if not items:
        raise InvalidParameterError("tables is empty: need at least the luminance table")
    luma = np.asarray(items[0], dtype=np.int64).reshape(8, 8)
    err = np.abs(_ALL_TABLES - luma).sum(axis=(1, 2))
    if len(items) > 1:
        chroma = np.asarray(items[1], dtype=np.int64).reshape(8, 8)
        err = err + np.abs(_ALL_CHROMA - chroma).sum(axis=(1, 2))
    best = np.flatnonzero(err == err.min())
    if err.min() == 0:
        return float(best[len(best) // 2] + 1)
    # Not an IJG table: invert the IJG scaling from the median ratio to the standard table.
    scale = float(np.median(luma * 100.0 / _STD_LUMA))
    q = 5000.0 / scale if scale > 100.0 else (200.0 - scale) / 2.0
    return float(np.clip(q, 1.0, 100.0))


def _rgb_to_luma255(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float32) * 255.0
    return (img[:, :, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) * 255.0


def blockiness(image: np.ndarray) -> tuple[float, tuple[int, int]]:
    """8x8 blocking strength of decoded pixels and the grid phase ``(row, col)``.

    For each direction the mean absolute first difference across every column (row) phase
    modulo 8 is compared with the median over the 8 phases; the strength is the mean over the
    two directions of ``excess = mean_at_boundary / median - 1`` at the strongest phase.
    About 0 for unblocked images; it grows as the JPEG quality drops.
    """
    img = as_image(image)
    y = _rgb_to_luma255(img)
    scores = []
    phases = []
    for axis in (1, 0):
        d = np.abs(np.diff(y, axis=axis))
        n = d.shape[axis]
        if n < 16:
            return 0.0, (0, 0)
        prof = d.mean(axis=1 - axis)  # mean per column (axis=1) or per row (axis=0)
        per_phase = np.array([prof[p::8].mean() for p in range(8)])
        ph = int(np.argmax(per_phase))
        med = float(np.median(per_phase))
        scores.append(per_phase[ph] / max(med, 1e-6) - 1.0)
        phases.append((ph + 1) % 8)
    return float(np.mean(scores)), (phases[1], phases[0])


def _dct8() -> np.ndarray:
    k = np.arange(8)[:, None]
    i = np.arange(8)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / 16) * np.sqrt(2.0 / 8)
    m[0] /= np.sqrt(2.0)
    return m


_DCT8 = _dct8()
_STEPS = np.arange(5, 256, dtype=np.float64)[:, None]


def _block_dct(y: np.ndarray, phase: tuple[int, int]) -> np.ndarray:
    """Orthonormal 8x8 DCT (= JPEG's FDCT) of the blocks of ``y`` starting at ``phase``."""
    y = y[phase[0] :, phase[1] :]
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    return _DCT8 @ b @ _DCT8.T  # [nblocks, 8, 8]


def _quant_step(coef: np.ndarray, min_count: int = 30, agree: float = 0.7) -> int | None:
    """Quantisation step ``q >= 5`` on whose nonzero multiples the coefficients cluster.

    Only clearly nonzero coefficients (``|c| >= 3``, beyond the rounding noise of the zero
    bin) are used. Each is compared with its nearest *nonzero* multiple of ``q`` and agrees
    when within ``tol = max(1.2, 0.06 q)`` of it (decoding rounds and clips, so decoded
    coefficients sit near, not on, the multiples). ``q`` fits when the agreeing fraction beats
    chance (``2 tol / q``) by ``agree`` of the possible margin; every divisor of the true step
    fits too and a multiple of it does not (its odd multiples disagree), so the largest
    fitting ``q`` is taken and refined by least squares on its clusters. ``None`` when nothing
    fits or fewer than ``min_count`` coefficients are usable.
    """
    a = np.abs(coef)
    a = a[a >= 3.0]
    if a.size > 5_000:  # plenty for the statistics; bounds time and memory on big images
        a = a[:: a.size // 5_000 + 1]
    a = a[None, :]
    if a.shape[1] < min_count:
        return None
    tol = np.maximum(1.2, 0.06 * _STEPS)
    mult = np.maximum(np.round(a / _STEPS), 1.0)
    ok = np.abs(a - _STEPS * mult) <= tol
    frac = ok.mean(axis=1)
    chance = np.minimum(2.0 * tol[:, 0] / _STEPS[:, 0], 0.999)
    good = np.flatnonzero((frac - chance) / (1.0 - chance) >= agree)
    if not good.size:
        return None
    i = good[-1]
    m, v = mult[i][ok[i]], a[0][ok[i]]
    return int(round(float((m * v).sum() / (m * m).sum())))


# AC frequencies in JPEG zigzag order: low frequencies (large populations) first.
_ZIGZAG = sorted(((u, v) for u in range(8) for v in range(8) if u + v), key=lambda t: (t[0] + t[1], t[0] if (t[0] + t[1]) % 2 else t[1]))


def jpeg_steps_from_pixels(image: np.ndarray, *, max_steps: int = 16) -> dict[tuple[int, int], int]:
    """Luminance quantisation steps ``{(u, v): step}`` detectable in decoded JPEG pixels.

    The luma (JPEG's ``0.299 R + 0.587 G + 0.114 B``, 8-bit levels, level-shifted) is cut
    into 8x8 blocks (those holding clipped pixels are skipped when at least a fifth remain) on the grid found by :func:`blockiness` (then on the unshifted grid if
    that finds fewer than 4 steps); AC frequencies are examined in zigzag order and, for each,
    the step is the largest ``q >= 5`` on whose multiples the block DCT coefficients cluster
    (see ``_quant_step``), until ``max_steps`` are found. Smaller steps (high qualities, low
    frequencies) cannot be told reliably from rounding noise and are not reported.
    """
    img = as_image(image)
    y = _rgb_to_luma255(img).astype(np.float64) - 128.0
    if min(y.shape) < 16:
        return {}
    # Blocks with a channel at 0 or 255 were clipped after the inverse DCT: their
    # coefficients are off the quantisation grid, so they are left out when enough remain.
    lo = img.min(axis=2) * 255.0 <= 0.5
    hi = img.max(axis=2) * 255.0 >= 254.5
    clipped = (lo | hi).astype(np.float64)
    _, phase = blockiness(img)
    found: list[tuple[float, dict[tuple[int, int], int]]] = []
    for ph in dict.fromkeys([phase, (0, 0)]):
        coef = _block_dct(y, ph)
        bad = _block_dct(clipped, ph)[:, 0, 0] > 0  # DC of the indicator: any clipped pixel
        if (~bad).sum() >= max(100, 0.2 * bad.size):
            coef = coef[~bad]
        steps: dict[tuple[int, int], int] = {}
        for u, v in _ZIGZAG:
            q = _quant_step(coef[:, u, v])
            if q is not None:
                steps[(u, v)] = q
                if len(steps) >= max_steps:
                    break
        err = _table_fit(steps)[1] if len(steps) >= 4 else np.inf
        found.append((err, steps))
        if err < 0.02 and len(steps) >= 8:  # a clean fit to an IJG table: this is the grid
            break
    # The grid whose steps fit an IJG table best (a wrong grid gives few, inconsistent steps).
    found.sort(key=lambda t: (t[0], -len(t[1])))
    return found[0][1]


def _table_fit(steps: dict[tuple[int, int], int]) -> tuple[float, float]:
    """(IJG quality, mean absolute log-step error) of the best-fitting luminance table."""
    idx = np.array([u * 8 + v for u, v in steps])
    vals = np.log(np.array(list(steps.values()), dtype=np.float64))
    err = np.abs(np.log(_ALL_TABLES.reshape(100, 64)[:, idx]) - vals).sum(axis=1)
    best = np.flatnonzero(err <= err.min() + 1e-9)
    # Tables of neighbouring qualities often agree on the detected steps; detection errs
    # towards larger steps (lower quality), so take the highest quality of the tie.
    return float(best[-1] + 1), float(err.min() / len(idx))


def _quality_from_steps(steps: dict[tuple[int, int], int]) -> float | None:
    """IJG quality whose luminance table best matches ``steps`` (L1 in log step)."""
    return _table_fit(steps)[0] if steps else None


# Fallback when no quantisation step can be detected: calibrated blockiness -> quality
# (medians over LIVE1/CBSD68 images encoded with Pillow). Above about quality 40 blockiness
# is within the spread of unblocked images, so only strong blocking is mapped.
_BLOCKINESS_CAL = np.array(
    [
        # quality, median blockiness
        [5, 2.14],
        [10, 1.14],
        [20, 0.63],
        [30, 0.46],
        [40, 0.36],
    ]
)
_BLOCKINESS_MIN = 0.4  # unblocked LIVE1/CBSD68 images reach 0.3


#: A pixel estimate is as good as the file's tables ("dct" evidence) when at least this many
#: quantisation steps were found and they fit an IJG table within this mean log error:
#: decoded JPEGs of Kodak24 (q 63-89) give 15-16 steps at error 0.00; of the sharp Set14
#: photos only coastguard shows steps, at error 0.28.
DCT_EVIDENCE_STEPS = 8
DCT_EVIDENCE_ERROR = 0.05


def jpeg_quality_from_pixels(image: np.ndarray) -> tuple[float | None, str | None]:
    """``(quality, evidence)`` of a decoded image: evidence ``"dct"`` when its 8x8 block DCT
    coefficients sit on the lattice of an IJG table (:func:`jpeg_steps_from_pixels`: at
    least :data:`DCT_EVIDENCE_STEPS` steps, fit error under :data:`DCT_EVIDENCE_ERROR`: as
    certain as reading the tables), ``"pixels"`` for a looser fit or the blockiness
    calibration, ``(None, None)`` when the image shows no JPEG."""
    steps = jpeg_steps_from_pixels(image)
    if steps:
        q, err = _table_fit(steps)
        return q, ("dct" if len(steps) >= DCT_EVIDENCE_STEPS and err < DCT_EVIDENCE_ERROR else "pixels")
    b = blockiness(image)[0]
    if b < _BLOCKINESS_MIN:
        return None, None
    qs, bb = _BLOCKINESS_CAL[:, 0], _BLOCKINESS_CAL[:, 1]
    return float(np.interp(np.log(b), np.log(bb[::-1]), qs[::-1])), "pixels"


def _quality_from_pixels(image: np.ndarray) -> float | None:
    return jpeg_quality_from_pixels(image)[0]


def estimate_jpeg_quality(source: str | os.PathLike[str] | bytes | np.ndarray) -> float | None:
    """JPEG quality factor (IJG scale, 1..100) of ``source``, or ``None`` if it shows none.

    ``source`` is a file path, the bytes of an encoded file, or a decoded image array. For a
    JPEG file the quality comes from its quantisation tables (exact for IJG/Pillow encoders,
    see :func:`jpeg_quality_from_tables`). For other files and for arrays (a JPEG decoded and
    perhaps saved losslessly) it is estimated from the pixels: the luminance quantisation
    steps that the 8x8 block DCT coefficients still cluster on
    (:func:`jpeg_steps_from_pixels`) are matched to the IJG tables (within 1 of the true
    quality for qualities 5-95 on LIVE1/CBSD68 images, unless the image was resized or
    filtered after decoding); failing that, strong 8x8 blockiness (:func:`blockiness`) is
    mapped through a calibration to a rough quality. ``None`` when neither is found.
    """
    from PIL import Image

    if isinstance(source, np.ndarray):
        return _quality_from_pixels(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        opener: Any = io.BytesIO(bytes(source))
        name = "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        opener = Path(source)
        name = str(source)
    else:
        raise InvalidParameterError(
            f"source must be a path, bytes or an image array; got {type(source).__name__}"
        )
    try:
        with Image.open(opener) as im:
            if im.format in ("JPEG", "MPO") and getattr(im, "quantization", None):
                return jpeg_quality_from_tables(im.quantization)
            arr = np.asarray(im.convert("L" if im.mode in ("1", "L", "LA") else "RGB"))
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"{name}: cannot read image ({exc})") from None
    return _quality_from_pixels(arr)


# --------------------------------------------------------------------------------------- blur


def estimate_blur(image: np.ndarray, *, reblur: float = 1.0) -> dict[str, float]:
    """Blur of ``image``: Gaussian-equivalent ``sigma`` (pixels) and sharpness scores.

    ``sigma`` comes from the ratio ``R`` of gradient magnitudes of the image and of a copy
    re-blurred with a Gaussian of std ``reblur`` at edge pixels: for a step edge blurred by
    ``s``, ``R = sqrt(s^2 + reblur^2) / s``, so ``s = reblur / sqrt(R^2 - 1)`` (median over
    Canny edges, less the blur of the gradient operator and pixel sampling). Returns
    ``{"sigma", "laplacian_var", "edge_fraction"}``: ``laplacian_var`` is the variance of the
    Laplacian of the luma in 8-bit levels (high = sharp), ``edge_fraction`` the share of
    pixels used. ``sigma`` is ``nan`` when the image has no edges. Noise makes images look
    sharper (denoise first for a reliable figure).
    """
    img = as_image(image)
    y = _rgb_to_luma255(img).astype(np.float32)
    lap = cv2.Laplacian(y, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    lap_var = float(lap.var())
    grad_sigma = 0.5  # derivative-of-Gaussian scale of the gradient operator

    def gradmag(a: np.ndarray) -> np.ndarray:
        a = cv2.GaussianBlur(a, (0, 0), grad_sigma, borderType=cv2.BORDER_REFLECT)
        gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
        gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
        return np.sqrt(gx * gx + gy * gy)

    g0 = gradmag(y)
    g1 = gradmag(cv2.GaussianBlur(y, (0, 0), reblur, borderType=cv2.BORDER_REFLECT))
    u8 = np.clip(y, 0, 255).astype(np.uint8)
    hi = float(np.percentile(g0, 90))
    edges = cv2.Canny(u8, max(hi * 0.5, 1.0) * 4, max(hi, 2.0) * 4, L2gradient=True) > 0
    edges &= g1 > 1e-3
    fraction = float(edges.mean())
    if edges.sum() < 20:
        return {"sigma": float("nan"), "laplacian_var": lap_var, "edge_fraction": fraction}
    r = g0[edges] / g1[edges]
    r = r[r > 1.0 + 1e-4]
    if r.size == 0:
        return {"sigma": float("inf"), "laplacian_var": lap_var, "edge_fraction": fraction}
    total = reblur / np.sqrt(np.square(r) - 1.0)
    s_total = float(np.median(total))
    # Remove the blur the measurement itself adds (gradient operator) and the pixel footprint.
    sigma = float(np.sqrt(max(s_total**2 - grad_sigma**2 - 1.0 / 12.0, 0.0)))
    return {"sigma": sigma, "laplacian_var": lap_var, "edge_fraction": fraction}


# ------------------------------------------------------------------------------------ summary


def analyse(image: np.ndarray, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What is wrong with ``image``: size, noise sigma, JPEG quality and blur, as a dict.

    ``path`` (the file the image came from) lets the JPEG quality be read from its
    quantisation tables; otherwise it is estimated from pixel blockiness. Keys: ``height``,
    ``width``, ``channels``, ``noise_sigma`` (8-bit levels: the standard deviation of the
    whole noise, signal-dependent and correlated noise included, from
    :func:`restora.classical.noise_level.estimate_noise_level_function`), ``noise`` (its
    ``kind``: none/gaussian/poisson/camera, ``correlated``, ``signal_dependent``, the
    ``a``, ``b`` of sigma^2 = a I + b per channel; with JPEG found, ``sigma_under_jpeg``:
    :func:`restora.classical.noise_level.estimate_noise_under_jpeg`), ``jpeg_quality`` (float or ``None``),
    ``jpeg_source`` ("tables"; "dct" when the pixels' DCT coefficients prove the tables, see
    :func:`jpeg_quality_from_pixels`; "pixels" for a looser estimate; or ``None``), ``blur`` (:func:`estimate_blur` plus
    :func:`restora.classical.blur_detect.detect_blur`'s ``kind``, ``size_px``,
    ``confidence`` and ``angle_deg``, and the spectral defocus fit of
    :func:`restora.classical.defocus.estimate_defocus`: ``defocus_radius``,
    ``defocus_evidence``, ``defocus_uniform``).
    """
    img = as_image(image, channels=(1, 2, 3, 4))
    if img.shape[2] in (2, 4):  # drop alpha
        img = img[:, :, : img.shape[2] - 1]
    h, w, c = img.shape
    quality: float | None = None
    source: str | None = None
    if path is not None and _is_jpeg(path):
        quality, source = estimate_jpeg_quality(path), "tables"
    else:
        quality, source = jpeg_quality_from_pixels(img)
    from restora.classical.noise_level import estimate_noise_level_function

    nl = estimate_noise_level_function(img) if min(h, w) >= 16 else None
    blur = estimate_blur(img)
    found, uniform = _blur_of_halves(img) if min(h, w) >= 64 else (None, True)
    if min(h, w) >= 64:
        blur.update(defocus_of_halves(img))
    if found is not None:
        blur["kind"] = found.kind
        blur["size_px"] = float(found.size_px)
        blur["confidence"] = float(found.confidence)
        blur["uniform"] = bool(uniform)
        if found.angle_deg is not None:
            blur["angle_deg"] = float(found.angle_deg)
    out: dict[str, Any] = {
        "height": int(h),
        "width": int(w),
        "channels": int(c),
        "noise_sigma": float(nl.sigma_mean) if nl is not None else estimate_noise_sigma(img),
        "jpeg_quality": quality,
        "jpeg_source": source,
        "blur": blur,
    }
    if nl is not None:
        out["noise"] = {
            "kind": nl.kind,
            "sigma_highpass": float(nl.sigma_highpass),
            "signal_dependent": bool(nl.signal_dependent),
            "correlated": bool(nl.correlated),
            "a": [round(float(v), 4) for v in np.atleast_1d(nl.a)],
            "b": [round(float(v), 4) for v in np.atleast_1d(nl.b)],
        }
        if quality is not None and min(h, w) >= 32:  # what a JPEG left of the noise: see the planner
            from restora.classical.noise_level import estimate_noise_under_jpeg

            out["noise"]["sigma_under_jpeg"] = round(estimate_noise_under_jpeg(img), 3)
    return out


#: Two halves of a frame blurred by motion along directions this close (degrees, modulo 180)
#: are one camera shake, whatever lengths they read.
SHAKE_ANGLE_TOLERANCE_DEG = 30.0


def _blur_of_halves(img: np.ndarray) -> tuple[Any, bool]:
    """Blur detected on the two halves of the image (split across its longer side), and
    whether it is uniform: camera shake and a mis-focused shot blur the whole frame alike,
    while depth of field (a sharp subject on a soft background) blurs only part of it, which
    deblurring must leave alone. Uniform: both halves find blur, of sizes within a factor of
    2, or both motion along directions within :data:`SHAKE_ANGLE_TOLERANCE_DEG` (a path's
    length read on half a frame is the noisier number: Levin's real shakes read 2.7x apart on
    the two halves of one photo, their directions 3-26 degrees apart). Returns the more
    confident half's estimate (the blurred one when only one is)."""
    from restora.classical.blur_detect import detect_blur

    h, w = img.shape[:2]
    if min(h, w) < 128:
        return detect_blur(img), True
    halves = (img[:, : w // 2], img[:, w // 2 :]) if w >= h else (img[: h // 2], img[h // 2 :])
    found = [detect_blur(np.ascontiguousarray(x)) for x in halves]
    blurred = [f for f in found if f.kind != "none"]
    if not blurred:
        return max(found, key=lambda f: f.confidence), True
    best = max(blurred, key=lambda f: f.confidence)
    sizes = [f.size_px for f in blurred]
    uniform = len(blurred) == 2 and (max(sizes) <= 2.0 * max(min(sizes), 1e-6) or _same_shake(*blurred))
    return best, uniform


def _same_shake(a: Any, b: Any) -> bool:
    """Whether two halves' motion readings point the same way (modulo 180 degrees)."""
    if a.kind != "motion" or b.kind != "motion" or a.angle_deg is None or b.angle_deg is None:
        return False
    diff = abs(float(a.angle_deg) - float(b.angle_deg)) % 180.0
    return min(diff, 180.0 - diff) <= SHAKE_ANGLE_TOLERANCE_DEG


def defocus_of_halves(img: np.ndarray) -> dict[str, Any]:
    """The spectral defocus fit (:func:`restora.classical.defocus.estimate_defocus`) of the
    whole image, and whether both halves (split across the longer side) find the same disk
    (radii within 30 %, each with evidence >= 4): a mis-focused shot is blurred alike
    everywhere, depth of field only in part. Keys ``defocus_radius``, ``defocus_evidence``,
    ``defocus_uniform``."""
    from restora.classical.defocus import estimate_defocus

    fit = estimate_defocus(img)
    out: dict[str, Any] = {"defocus_radius": fit.radius, "defocus_evidence": round(fit.evidence, 2), "defocus_uniform": True}
    h, w = img.shape[:2]
    if fit.radius > 0 and min(h, w) >= 128:
        halves = (img[:, : w // 2], img[:, w // 2 :]) if w >= h else (img[: h // 2], img[h // 2 :])
        fits = [estimate_defocus(np.ascontiguousarray(x)) for x in halves]
        radii = [f.radius for f in fits]
        out["defocus_uniform"] = bool(
            min(f.evidence for f in fits) >= 4.0 and min(radii) > 0 and max(radii) <= 1.3 * min(radii)
        )
    return out


def _is_jpeg(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(3) == b"\xff\xd8\xff"
    except OSError:
        return False
