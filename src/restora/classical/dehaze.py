"""Single-image dehazing by the dark channel prior (He, Sun and Tang, CVPR 2009 / TPAMI 2011),
with the transmission refined by the guided filter (He, Sun and Tang, ECCV 2010).

The haze model is ``I = J t + A (1 - t)`` (see :mod:`restora.degrade.haze`). The *dark
channel* of an image is the minimum over the colour channels followed by a minimum filter
over a ``patch x patch`` window; in haze-free outdoor images it is close to zero, so in a
hazy image it measures the haze. The method:

1. dark channel of ``I`` (min over channels, then a square min filter: ``cv2.erode``);
2. airlight ``A``: the per-channel mean of ``I`` over the brightest 0.1 % pixels of the dark
   channel (He et al. take the single brightest input pixel among them; the mean is the
   usual, less noise-sensitive variant);
3. transmission ``t = 1 - omega * dark(I / A)`` (``omega < 1`` keeps a little haze for depth
   perception);
4. ``t`` refined by the guided filter with the gray input as guide (replaces the soft matting
   of the 2009 paper);
5. ``J = (I - A) / max(t, t0) + A``.

Output values are not clipped (restora's convention: clipping happens on write).
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from restora.errors import InvalidParameterError
from restora.restorers import RestorerInfo, register
from restora.validation import as_image, check_range

__all__ = ["dark_channel", "estimate_airlight", "guided_filter", "dehaze_dark_channel"]


def _box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2 r + 1)^2`` window (mirrored borders), float32, same shape as ``x``."""
    k = 2 * int(radius) + 1
    return cv2.boxFilter(x, ddepth=-1, ksize=(k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def dark_channel(image: np.ndarray, patch: int = 15) -> np.ndarray:
    """The dark channel: minimum over channels, then a ``patch x patch`` minimum filter
    (``cv2.erode``; borders use the pixels inside the image). Returns ``H x W`` float32."""
    img = as_image(image)
    p = int(check_range("patch", patch, 1, 1001))
    m = np.ascontiguousarray(img.min(axis=2), dtype=np.float32)
    if p == 1:
        return m
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (p, p))
    return cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)


def estimate_airlight(image: np.ndarray, dark: np.ndarray, fraction: float = 0.001) -> np.ndarray:
    """Airlight ``A`` (one value per channel): the mean of ``image`` over the brightest
    ``fraction`` of the pixels of the dark channel ``dark`` (at least one pixel)."""
    img = as_image(image)
    f = check_range("fraction", fraction, 0, 1, lo_open=True)
    d = np.asarray(dark, dtype=np.float32).reshape(-1)
    if d.size != img.shape[0] * img.shape[1]:
        raise InvalidParameterError(f"dark must have the image's H x W {img.shape[:2]}, got {np.shape(dark)}")
    n = max(1, int(round(f * d.size)))
    idx = np.argpartition(d, d.size - n)[d.size - n:]
    return img.reshape(-1, img.shape[2])[idx].mean(axis=0).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter (He, Sun and Tang 2010): edge-preserving smoothing of ``src`` steered by ``guide``.

    Locally ``q = a * I + b`` over each ``(2 radius + 1)^2`` window, with ``a`` and ``b`` the
    ridge-regression fit of ``src`` on the guide (regulariser ``eps``), averaged over the
    windows that cover a pixel. A 1-channel guide uses the scalar form; a 3-channel guide
    the colour form (a 3 x 3 system per pixel, solved in closed form, vectorised). ``src``
    may be ``H x W`` or ``H x W x C`` (each channel filtered); the result has its shape.
    All means are ``cv2.boxFilter`` with mirrored borders, so the cost is independent of
    ``radius``.
    """
    r = int(check_range("radius", radius, 0, None))
    e = check_range("eps", eps, 0, None, lo_open=True)
    g = np.asarray(guide, dtype=np.float32)
    if g.ndim == 2:
        g = g[:, :, None]
    s = np.asarray(src, dtype=np.float32)
    squeeze = s.ndim == 2
    if squeeze:
        s = s[:, :, None]
    if g.ndim != 3 or g.shape[2] not in (1, 3):
        raise InvalidParameterError(f"guide must be H x W, H x W x 1 or H x W x 3; got shape {np.shape(guide)}")
    if s.ndim != 3 or s.shape[:2] != g.shape[:2]:
        raise InvalidParameterError(f"src must have the guide's H x W {g.shape[:2]}; got shape {np.shape(src)}")
    if r == 0:
        return np.array(s[:, :, 0] if squeeze else s, dtype=np.float32)
    out = np.empty_like(s)
    if g.shape[2] == 1:
        gi = np.ascontiguousarray(g[:, :, 0])
        mean_i = _box_mean(gi, r)
        var_i = _box_mean(gi * gi, r) - mean_i * mean_i
        for c in range(s.shape[2]):
            p = np.ascontiguousarray(s[:, :, c])
            mean_p = _box_mean(p, r)
            cov_ip = _box_mean(gi * p, r) - mean_i * mean_p
            a = cov_ip / (var_i + e)
            b = mean_p - a * mean_i
            out[:, :, c] = _box_mean(a, r) * gi + _box_mean(b, r)
    else:
        gs = [np.ascontiguousarray(g[:, :, k]) for k in range(3)]
        mu = [_box_mean(x, r) for x in gs]
        # covariance of the guide (symmetric 3 x 3 per pixel) + eps * identity
        cov = {}
        for i in range(3):
            for j in range(i, 3):
                cov[i, j] = _box_mean(gs[i] * gs[j], r) - mu[i] * mu[j] + (e if i == j else 0.0)
        s00, s01, s02, s11, s12, s22 = (cov[0, 0], cov[0, 1], cov[0, 2], cov[1, 1], cov[1, 2], cov[2, 2])
        # adjugate / determinant (closed-form inverse of a symmetric 3 x 3 matrix)
        i00 = s11 * s22 - s12 * s12
        i01 = s02 * s12 - s01 * s22
        i02 = s01 * s12 - s02 * s11
        i11 = s00 * s22 - s02 * s02
        i12 = s01 * s02 - s00 * s12
        i22 = s00 * s11 - s01 * s01
        det = s00 * i00 + s01 * i01 + s02 * i02
        inv = np.stack([np.stack([i00, i01, i02]), np.stack([i01, i11, i12]), np.stack([i02, i12, i22])]) / det
        for c in range(s.shape[2]):
            p = np.ascontiguousarray(s[:, :, c])
            mean_p = _box_mean(p, r)
            cov_ip = np.stack([_box_mean(gs[k] * p, r) - mu[k] * mean_p for k in range(3)])
            a = np.einsum("ijhw,jhw->ihw", inv, cov_ip)
            b = mean_p - (a * np.stack(mu)).sum(axis=0)
            q = _box_mean(b, r)
            for k in range(3):
                q = q + _box_mean(np.ascontiguousarray(a[k]), r) * gs[k]
            out[:, :, c] = q
    return out[:, :, 0] if squeeze else out


def _gray(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return np.ascontiguousarray(img[:, :, 0])
    return np.ascontiguousarray(img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def dehaze_dark_channel(
    image: np.ndarray,
    *,
    patch: int = 15,
    omega: float = 0.95,
    t0: float = 0.1,
    guided_radius: int = 60,
    eps: float = 1e-3,
    airlight: float | Sequence[float] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Remove haze with the dark channel prior; returns ``(restored, info)``.

    ``patch``: dark-channel window; ``omega``: fraction of the haze removed; ``t0``: floor
    of the transmission; ``guided_radius``/``eps``: the guided filter refining the
    transmission (``guided_radius=0`` keeps the coarse map). ``airlight`` (one value or one
    per channel) replaces the estimate when known. ``info`` holds ``airlight`` (per
    channel, list), ``transmission`` (the refined ``H x W`` float32 map, before the
    ``t0`` floor), ``transmission_coarse`` and ``dark_channel``. Gray images work (the
    dark channel is then a plain minimum filter).
    """
    img = as_image(image)
    h, w, c = img.shape
    om = check_range("omega", omega, 0, 1)
    tf = check_range("t0", t0, 0, 1, lo_open=True)
    dark = dark_channel(img, patch)
    if airlight is None:
        a = estimate_airlight(img, dark)
    else:
        a = np.atleast_1d(np.asarray(airlight, dtype=np.float32)).ravel()
        if a.size == 1:
            a = np.repeat(a, c)
        if a.size != c:
            raise InvalidParameterError(f"airlight must be a number or {c} values (one per channel); got {airlight!r}")
        for i, v in enumerate(a):
            check_range(f"airlight[{i}]", float(v), 0, 1, lo_open=True)
    a = np.maximum(a, 1e-3).astype(np.float32)  # a black airlight would divide by zero
    t_coarse = 1.0 - om * dark_channel(img / a[None, None, :], patch)
    t = guided_filter(_gray(img), t_coarse, guided_radius, eps) if guided_radius > 0 else t_coarse
    t = t.astype(np.float32)
    tt = np.maximum(t, tf)[:, :, None]
    restored = ((img - a[None, None, :]) / tt + a[None, None, :]).astype(np.float32)
    info = {"airlight": a.tolist(), "transmission": t, "transmission_coarse": t_coarse.astype(np.float32),
            "dark_channel": dark}
    return restored, info


def _factory(**options: Any):
    def restore(image: np.ndarray, **condition: Any) -> np.ndarray:
        return dehaze_dark_channel(image, **options)[0]

    restore.__name__ = "dehaze_dark_channel"
    restore.__doc__ = dehaze_dark_channel.__doc__
    return restore


register(
    RestorerInfo(
        name="dark-channel",
        task="dehaze",
        kind="classical",
        description="dark channel prior dehazing (He et al. 2009/2011), guided-filter transmission (He et al. 2010)",
        factory=_factory,
        blind=True,
        tags=("haze", "gray", "color"),
    )
)
