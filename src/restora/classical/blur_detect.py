"""What kind of blur an image has and how large it is: none, motion, defocus or Gaussian.

:func:`detect_blur` works in two stages:

1. A cheap gate: the Gaussian-equivalent edge blur of
   :func:`restora.classical.estimate.estimate_blur` (reblur gradient ratio). Sharp
   photographs read 0-0.65 px on Kodak24; every motion kernel of ``kernels/motion32`` and
   every defocus disk of diameter >= 5 reads more than 0.35 px (a straight 7 px motion, the
   weakest case). Below ``gate_sigma`` the image is called sharp without further work.
2. Otherwise the blur kernel is estimated blind by
   :func:`restora.classical.blind.estimate_kernel` (L0 edge prediction, coarse to fine) on
   the most textured ``crop x crop`` window of the luma, and the kernel is described by
   :func:`describe_kernel`: its support (entries >= 10 % of the peak), extent (largest
   distance between two support pixels, + 1), second moments (anisotropy, direction),
   fill (support area over the disk of that extent) and flatness (mass near the peak
   value less the mass in the inner half radius). Thin or elongated kernels are motion; round flat ones
   defocus; round peaked ones Gaussian; kernels within about 4 px are "none".

Sizes: motion ``size_px`` is the extent of the path (the same measure as
:func:`kernel_extent` of the true kernel); defocus ``size_px`` is the disk diameter
(``2 sqrt(area / pi)`` of the support); Gaussian ``size_px`` is ``4 sigma``. The second
stage costs a few seconds per image on one core (it is skipped on sharp images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from restora.errors import InvalidParameterError
from restora.validation import as_image, check_range

__all__ = ["BlurEstimate", "detect_blur", "describe_kernel", "kernel_extent", "kernel_support", "blind_kernel_size"]

BlurKind = Literal["none", "motion", "defocus", "gaussian"]

_SUPPORT = 0.1  # support of a kernel: entries >= this times the peak
_NONE_EXTENT = 4.5  # kernels no wider than this (px) are no blur worth restoring
_MOTION_ANISOTROPY = 3.0  # eigenvalue ratio of the kernel covariance above which: motion
_MOTION_FILL = 0.55  # ... or support area / disk of the extent below which: motion
_FILL_SUPPORT = 0.25  # support threshold (share of the peak) for the fill
_FLAT = 0.36  # flatness (see describe_kernel) above which a round kernel is a disk


@dataclass(frozen=True)
class BlurEstimate:
    """Blur found in an image.

    ``kind``: "none", "motion", "defocus" or "gaussian". ``size_px``: motion path extent,
    defocus diameter or ``4 sigma`` of a Gaussian; for "none" 1 (the gate decided) or the
    extent of the tiny estimated kernel. ``angle_deg``: direction of the motion's principal axis, counter-clockwise
    from the image x axis (y up), in [0, 180); ``None`` unless motion. ``confidence`` in
    [0, 1] (heuristic: margin of the deciding test). ``anisotropy``: eigenvalue ratio of
    the kernel's covariance (1 = round). ``gate_sigma``: the Gaussian-equivalent edge blur
    of the first stage. ``kernel``: the estimated kernel (``None`` when the gate decided).
    """

    kind: BlurKind
    size_px: float
    angle_deg: float | None
    confidence: float
    anisotropy: float = 1.0
    gate_sigma: float = float("nan")
    kernel: np.ndarray | None = field(default=None, repr=False)


def _support(kernel: np.ndarray, rel: float = _SUPPORT) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0 or not np.isfinite(k).all() or k.max() <= 0:
        raise InvalidParameterError(f"kernel must be a non-empty 2-D array with a positive peak, got shape {k.shape}")
    mask = k >= rel * k.max()
    # Parts: entries >= 2 % of the peak, joined across gaps of a pixel or two (real motion
    # paths fade in places); stray blobs of a blind estimate lie further away.
    weak = cv2.dilate((k >= 0.02 * k.max()).astype(np.uint8), np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    if n > 2:  # keep the part holding most of the mass
        mass = np.bincount(labels.ravel(), weights=k.ravel(), minlength=n)
        mass[0] = -1.0
        mask &= labels == int(np.argmax(mass))
    ys, xs = np.nonzero(mask)
    return np.stack([ys, xs], axis=1).astype(np.float64), k[ys, xs]


def _extent(p: np.ndarray) -> float:
    if len(p) > 2000:  # keep the pairwise distances cheap
        p = p[:: len(p) // 2000 + 1]
    return float(np.sqrt(np.square(p[:, None, :] - p[None, :, :]).sum(-1)).max() + 1.0)


def kernel_extent(kernel: np.ndarray) -> float:
    """Largest distance (px) between two pixels of the kernel's support, plus one: a straight
    motion of length L gives about L, a delta 1. The support: entries >= 10 % of the peak in
    the part of the kernel holding most of the mass (entries >= 2 % of the peak, joined
    across 1-2 px gaps)."""
    return _extent(_support(kernel)[0])


def describe_kernel(kernel: np.ndarray) -> BlurEstimate:
    """Classify a blur kernel as none / motion / defocus / Gaussian and measure it.

    See the module notes for the measures and thresholds. Used on the blind estimate by
    :func:`detect_blur`, and on true kernels to get comparable reference sizes.
    """
    k = np.asarray(kernel, dtype=np.float64)
    p, w = _support(k)
    extent = kernel_extent(k)
    mu = (p * w[:, None]).sum(0) / w.sum()
    q = p - mu
    cov = (q.T * w) @ q / w.sum() + np.eye(2) / 12.0  # + pixel footprint
    ev, vec = np.linalg.eigh(cov)
    aniso = float(ev[1] / max(ev[0], 1e-9))
    area = float(len(p))
    # Fill: area over the disk of the same extent, on the stronger support (>= 25 % of the
    # peak; blind estimates have weak tails): true motion kernels <= 0.43, round >= 0.65.
    p25, _ = _support(k, _FILL_SUPPORT)
    fill = len(p25) / (math.pi / 4.0 * _extent(p25) ** 2)
    # Flatness: mass in entries >= half of a robust peak (90th percentile of the support)
    # less the mass within half the support's radius; a disk is flat with mass spread to
    # its rim (true disks 0.66-0.73, blind estimates >= 0.42), a Gaussian is peaked (true
    # 0.10-0.13, estimates <= 0.30).
    top = float(np.quantile(w, 0.9))
    rr = np.sqrt(np.square(q).sum(1))
    flat = float(w[w >= 0.5 * top].sum() / w.sum() - w[rr <= 0.5 * math.sqrt(area / math.pi)].sum() / w.sum())
    if extent <= _NONE_EXTENT:
        conf = float(np.clip((_NONE_EXTENT + 1.0 - extent) / 2.0, 0.0, 1.0))
        return BlurEstimate("none", extent, None, conf, aniso, kernel=k)
    if aniso > _MOTION_ANISOTROPY or fill < _MOTION_FILL:
        vy, vx = vec[:, 1]  # principal axis (rows, cols); y up -> negate rows
        angle = round(float(np.degrees(np.arctan2(-vy, vx)) % 180.0), 1) % 180.0
        conf = float(np.clip(max(aniso / (2 * _MOTION_ANISOTROPY), (1.0 - fill) / (1.0 - _MOTION_FILL) - 0.5), 0.0, 1.0))
        return BlurEstimate("motion", extent, angle, conf, aniso, kernel=k)
    if flat >= _FLAT:
        diameter = 2.0 * math.sqrt(area / math.pi)
        conf = float(np.clip(0.5 + (flat - _FLAT) / 0.3, 0.0, 1.0))
        return BlurEstimate("defocus", diameter, None, conf, aniso, kernel=k)
    sigma = math.sqrt(max(float(np.trace(cov)) / 2.0, 0.0))
    conf = float(np.clip(0.5 + (_FLAT - flat) / 0.3, 0.0, 1.0))
    return BlurEstimate("gaussian", 4.0 * sigma, None, conf, aniso, kernel=k)


def _luma(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return img[:, :, 0]
    return img[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _textured_window(y: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size x size`` window with the most gradient energy
    (searched on a coarse grid); the centre when the image is barely larger."""
    h, w = y.shape
    if h <= size and w <= size:
        return 0, 0
    f = max(1, min(h, w) // 128)
    small = cv2.resize(y, (w // f, h // f), interpolation=cv2.INTER_AREA)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    e = np.sqrt(gx * gx + gy * gy)
    s = max(1, size // f)
    box = cv2.boxFilter(e, -1, (s, s), normalize=True, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    hh, ww = max(1, small.shape[0] - s + 1), max(1, small.shape[1] - s + 1)
    box = box[:hh, :ww]
    i, j = np.unravel_index(int(np.argmax(box)), box.shape)
    return int(min(i * f, h - size)) if h > size else 0, int(min(j * f, w - size)) if w > size else 0


def detect_blur(
    image: np.ndarray,
    *,
    crop: int = 192,
    kernel_size: int = 31,
    gate_sigma: float = 0.3,
) -> BlurEstimate:
    """Detect the kind and size of blur in ``image`` (float H x W x C in [0, 1]).

    ``gate_sigma``: Gaussian-equivalent edge blur (px) under which the image is called sharp
    without estimating a kernel. ``crop``: side of the most textured window on which the
    kernel is estimated; ``kernel_size``: the largest kernel considered (odd; blur longer
    than about ``kernel_size - 4`` px is under-measured). Noise makes images look sharper to
    the gate: denoise strongly noisy images first. See the module notes for the method.
    """
    from restora.classical.blind import estimate_kernel
    from restora.classical.estimate import estimate_blur

    img = as_image(image)
    check_range("gate_sigma", gate_sigma, 0, None)
    crop = int(check_range("crop", crop, 32, None))
    ks = int(check_range("kernel_size", kernel_size, 5, None))
    y = _luma(img).astype(np.float32)
    h, w = y.shape
    if min(h, w) < 32:
        return BlurEstimate("none", 1.0, None, 0.0)
    i, j = _textured_window(y, crop)
    window = y[i : i + crop, j : j + crop]
    gate = float(estimate_blur(window[:, :, None])["sigma"])
    if not math.isfinite(gate):  # no edges: nothing to judge blur by
        return BlurEstimate("none", 1.0, None, 0.0, gate_sigma=gate)
    if gate < gate_sigma:
        conf = float(np.clip(1.0 - gate / max(gate_sigma, 1e-6), 0.0, 1.0)) * 0.5 + 0.5
        return BlurEstimate("none", 1.0, None, conf, gate_sigma=gate)
    ks = min(ks, (min(window.shape) // 2 - 1) | 1)
    ks += 1 - ks % 2
    kernel = estimate_kernel(window[:, :, None], ks)
    est = describe_kernel(kernel)
    return BlurEstimate(est.kind, est.size_px, est.angle_deg, est.confidence, est.anisotropy, gate, kernel)


def kernel_support(size_px: float, *, cap: int = 51) -> int:
    """The odd kernel side a blind estimate should search for a blur measured at ``size_px``
    (:attr:`BlurEstimate.size_px`): ``2 ceil(0.65 size + 2) + 1``, at least 9 and at most ``cap``."""
    return int(min(cap, max(9, 2 * math.ceil(0.65 * float(size_px) + 2) + 1)))


def blind_kernel_size(image: np.ndarray, *, default: int = 31) -> int:
    """The kernel support a blind estimate should search on ``image``: fitted to the blur
    :func:`detect_blur` measures (``default`` when it finds none), and no larger than the
    image allows (odd, at most half its shorter side)."""
    found = detect_blur(image)
    size = kernel_support(found.size_px) if found.kind != "none" and found.size_px > 0 else int(default)
    fit = min(np.asarray(image).shape[:2]) // 2
    fit -= 1 - fit % 2
    return int(max(3, min(size, fit)))
