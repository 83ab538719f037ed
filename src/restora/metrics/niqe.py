"""NIQE, the no-reference Natural Image Quality Evaluator (Mittal, Soundararajan, Bovik 2013).

Follows the authors' MATLAB release (``computequality.m``, ``computefeature.m``,
``estimateaggdparam.m``, ``estimatemodelparam.m``):

* the image is turned into 8-bit gray as MATLAB's ``rgb2gray`` of a uint8 image does
  (values saturated to [0, 1] and rounded first), cropped to a multiple of 96 pixels;
* MSCN coefficients ``(I - mu) / (sigma + 1)`` with a 7x7 Gaussian (sigma 7/6), replicate
  borders; 96 x 96 non-overlapping patches;
* per patch 18 features: an AGGD fit of the MSCN values (shape, mean of the two scales)
  and, for the products of horizontally, vertically and both diagonally adjacent
  coefficients (circular shifts inside the patch), AGGD shape, mean, left and right scales;
* the same at half resolution (MATLAB bicubic ``imresize(im, 0.5)``, 48 x 48 patches):
  36 features per patch; a multivariate Gaussian fitted to the patches of the image;
* quality = ``sqrt((mu_p - mu_d)^T pinv((C_p + C_d) / 2) (mu_p - mu_d))`` against the
  pristine model ``(mu_p, C_p)``. Lower is better (more natural).

The pristine model shipped with restora (``niqe_pristine.npz``) was fitted by
``benchmarks/fit_niqe_model.py`` on CBSD432 (see docs/metrics.md), so values are *not*
numerically identical to those from MATLAB's ``modelparameters.mat``; load that file with
:func:`load_niqe_model` to compare with MATLAB-based papers.
"""

from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable, NamedTuple

import cv2
import numpy as np
import scipy.io
from scipy.special import gamma

from restora.errors import InvalidParameterError, MissingResourceError
from restora.metrics._common import as_float64_image, check_crop

__all__ = [
    "niqe",
    "niqe_features",
    "fit_niqe_model",
    "load_niqe_model",
    "NiqeModel",
    "NIQE_PATCH_SIZE",
    "NIQE_SHARPNESS_THRESHOLD",
    "DEFAULT_NIQE_MODEL",
]

NIQE_PATCH_SIZE = 96
NIQE_SHARPNESS_THRESHOLD = 0.75
#: The pristine model shipped in the package.
DEFAULT_NIQE_MODEL = Path(__file__).with_name("niqe_pristine.npz")
_N_FEATURES = 36

# MATLAB rgb2gray coefficients (first row of inv of the NTSC YIQ matrix).
_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)
# estimateaggdparam.m: gam = 0.2:0.001:10 and the ratio it inverts.
_GAM = np.linspace(0.2, 10.0, 9801)
_R_GAM = gamma(2.0 / _GAM) ** 2 / (gamma(1.0 / _GAM) * gamma(3.0 / _GAM))
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


class NiqeModel(NamedTuple):
    """A pristine multivariate Gaussian: ``mu`` (36,), ``cov`` (36, 36), and where it came from."""

    mu: np.ndarray
    cov: np.ndarray
    source: str = ""


# --------------------------------------------------------------------------- pieces
def _gray_u8(image: object) -> np.ndarray:
    """8-bit gray (float64 in 0..255) as MATLAB ``double(rgb2gray(uint8 image))``."""
    x = np.floor(np.clip(as_float64_image(image, "image"), 0.0, 1.0) * 255.0 + 0.5)
    if x.shape[2] == 1:
        return x[:, :, 0]
    g = _GRAY[0] * x[..., 0] + _GRAY[1] * x[..., 1] + _GRAY[2] * x[..., 2]
    return np.floor(g + 0.5)


def _gauss7() -> np.ndarray:
    t = np.arange(7, dtype=np.float64) - 3.0
    g = np.exp(-(t * t) / (2.0 * (7.0 / 6.0) ** 2))
    return g / g.sum()


def _mscn(im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients and local sigma (``imfilter(..., 'replicate')``)."""
    k = _gauss7()
    mu = cv2.sepFilter2D(im, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)
    ex2 = cv2.sepFilter2D(im * im, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)
    sigma = np.sqrt(np.abs(ex2 - mu * mu))
    return (im - mu) / (sigma + 1.0), sigma


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=64)
def _half_matrix(n: int) -> np.ndarray:
    """The ``ceil(n/2) x n`` matrix of MATLAB ``imresize(x, 0.5)`` (bicubic, antialiased)
    along one axis: kernel ``0.5 cubic(0.5 t)`` (width 8), ``u = 2 x - 0.5``, mirrored borders."""
    s = 0.5
    m = int(math.ceil(n * s))
    x = np.arange(1, m + 1, dtype=np.float64)
    u = x / s + 0.5 * (1.0 - 1.0 / s)
    left = np.floor(u - 4.0 / s / 2.0)
    taps = int(math.ceil(4.0 / s)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    w = s * _cubic(s * (u[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n)]
    mat = np.zeros((m, n))
    np.add.at(mat, (np.repeat(np.arange(m), taps), cols.ravel()), w.ravel())
    return mat


def _resize_half(im: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(im, 0.5)`` of a double 2-D image (rows first, as MATLAB on equal scales)."""
    return _half_matrix(im.shape[0]) @ im @ _half_matrix(im.shape[1]).T


def _blocks(x: np.ndarray, size: int) -> np.ndarray:
    nr, nc = x.shape[0] // size, x.shape[1] // size
    return x[: nr * size, : nc * size].reshape(nr, size, nc, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def _aggd(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD fit of each row of ``v`` (``estimateaggdparam.m``): alpha, beta_left, beta_right."""
    with np.errstate(divide="ignore", invalid="ignore"):
        neg, pos = v < 0, v > 0
        sq = v * v
        left = np.sqrt((sq * neg).sum(axis=1) / neg.sum(axis=1))
        right = np.sqrt((sq * pos).sum(axis=1) / pos.sum(axis=1))
        ghat = left / right
        rhat = np.mean(np.abs(v), axis=1) ** 2 / np.mean(sq, axis=1)
        rnorm = rhat * (ghat**3 + 1.0) * (ghat + 1.0) / (ghat**2 + 1.0) ** 2
    idx = np.empty(v.shape[0], dtype=np.int64)
    for start in range(0, v.shape[0], 256):  # argmin over the table, in chunks (memory)
        r = rnorm[start : start + 256, None]
        d = (_R_GAM[None, :] - r) ** 2
        d[np.isnan(d)] = np.inf  # MATLAB's min ignores NaN; all-NaN -> first entry
        idx[start : start + 256] = np.argmin(d, axis=1)
    alpha = _GAM[idx]
    const = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, left * const, right * const


def _patch_features(blocks: np.ndarray) -> np.ndarray:
    """The 18 features (``computefeature.m``) of each ``n x s x s`` MSCN patch."""
    n = blocks.shape[0]
    flat = blocks.reshape(n, -1)
    alpha, bl, br = _aggd(flat)
    cols = [alpha, (bl + br) / 2.0]
    for shift in _SHIFTS:
        pair = flat * np.roll(blocks, shift, axis=(1, 2)).reshape(n, -1)
        alpha, bl, br = _aggd(pair)
        mean = (br - bl) * (gamma(2.0 / alpha) / gamma(1.0 / alpha))
        cols += [alpha, mean, bl, br]
    return np.stack(cols, axis=1)


# --------------------------------------------------------------------------- public API
def niqe_features(image: np.ndarray, *, crop: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch NIQE features (``N x 36``) and patch sharpness (``N``, mean local sigma at
    full scale, used to select pristine patches) of an ``H x W x C`` image in [0, 1]."""
    im = _gray_u8(image)
    c = check_crop(crop, im.shape, NIQE_PATCH_SIZE, "NIQE")
    if c:
        im = im[c:-c, c:-c]
    p = NIQE_PATCH_SIZE
    im = im[: (im.shape[0] // p) * p, : (im.shape[1] // p) * p]
    feats = []
    sharpness = np.empty(0)
    for scale in (1, 2):
        structdis, sigma = _mscn(im)
        feats.append(_patch_features(_blocks(structdis, p // scale)))
        if scale == 1:
            sharpness = _blocks(sigma, p).mean(axis=(1, 2))
            im = _resize_half(im)
    return np.concatenate(feats, axis=1), sharpness


def _mvg(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``nanmean`` and ``nancov`` (complete rows) as in the MATLAB code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, as MATLAB
        mu = np.nanmean(features, axis=0)
    complete = features[np.all(np.isfinite(features), axis=1)]
    if complete.shape[0] >= 2:
        cov = np.cov(complete, rowvar=False)
    else:
        cov = np.zeros((features.shape[1], features.shape[1]))
    return mu, cov


def niqe(image: np.ndarray, *, crop: int = 0, model: NiqeModel | str | os.PathLike[str] | None = None) -> float:
    """NIQE of an ``H x W x C`` image in [0, 1] (lower = more natural). Deterministic.

    ``crop`` removes border pixels first; the image then needs at least one 96 x 96 patch
    (MATLAB's convention; with a single patch the image's own covariance is taken as 0).
    ``model``: a :class:`NiqeModel`, a path to a ``.npz`` (``mu``, ``cov``) or MATLAB
    ``modelparameters.mat`` file, or ``None`` for restora's shipped pristine model.
    """
    m = model if isinstance(model, NiqeModel) else load_niqe_model(model)
    feats, _ = niqe_features(image, crop=crop)
    mu_d, cov_d = _mvg(feats)
    if not np.all(np.isfinite(mu_d)):
        raise InvalidParameterError("NIQE is undefined for this image (a flat image has no natural statistics)")
    d = m.mu - mu_d
    inv = np.linalg.pinv((m.cov + cov_d) / 2.0)
    return float(np.sqrt(max(float(d @ inv @ d), 0.0)))


def fit_niqe_model(
    images: Iterable[np.ndarray],
    *,
    sharpness_threshold: float = NIQE_SHARPNESS_THRESHOLD,
    source: str = "",
) -> NiqeModel:
    """Fit a pristine model (``estimatemodelparam.m``): from each image keep the patches whose
    sharpness exceeds ``sharpness_threshold`` times that image's sharpest patch, then take
    the mean and covariance of all kept patches' features."""
    kept = []
    for img in images:
        feats, sharp = niqe_features(img)
        kept.append(feats[sharp > sharpness_threshold * sharp.max()])
    if not kept:
        raise InvalidParameterError("fit_niqe_model needs at least one image")
    mu, cov = _mvg(np.concatenate(kept, axis=0))
    return NiqeModel(mu, cov, source)


def load_niqe_model(path: str | os.PathLike[str] | None = None) -> NiqeModel:
    """A pristine model from ``.npz`` (``mu``, ``cov``) or MATLAB's ``modelparameters.mat``
    (``mu_prisparam``, ``cov_prisparam``); ``None`` is restora's shipped model."""
    return _load_model(str(Path(path).expanduser()) if path is not None else str(DEFAULT_NIQE_MODEL))


@lru_cache(maxsize=8)
def _load_model(path: str) -> NiqeModel:
    p = Path(path)
    if not p.is_file():
        raise MissingResourceError(f"NIQE model file {p} not found (give a .npz with mu/cov or MATLAB modelparameters.mat)")
    try:
        if p.suffix.lower() == ".mat":
            data = scipy.io.loadmat(p)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
        else:
            with np.load(p, allow_pickle=False) as data:
                mu, cov = data["mu"], data["cov"]
    except KeyError as exc:
        raise MissingResourceError(f"NIQE model file {p} lacks the entry {exc}") from None
    except Exception as exc:
        raise MissingResourceError(f"NIQE model file {p} could not be read: {exc}") from None
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    cov = np.asarray(cov, dtype=np.float64)
    if mu.shape != (_N_FEATURES,) or cov.shape != (_N_FEATURES, _N_FEATURES):
        raise MissingResourceError(
            f"NIQE model file {p} must hold a 36-vector and a 36x36 matrix; got {mu.shape} and {cov.shape}"
        )
    mu.setflags(write=False)
    cov.setflags(write=False)
    return NiqeModel(mu, cov, str(p))
