"""Signal-dependent and correlated noise: a noise level function per channel.

:func:`estimate_noise_level_function` measures the noise of an image as a function of
intensity, ``sigma(I)^2 = a * I + b`` per channel (the Poisson-Gaussian model of Foi,
Trimeche, Katkovnik & Egiazarian, "Practical Poissonian-Gaussian noise modeling and fitting
for single-image raw-data", IEEE TIP 2008), and says whether the noise is spatially
correlated (camera noise after demosaicing, JPEG of a noisy photo) and correlated across
colour channels.

How it measures (all vectorised, cost bounded by a strided subset of block rows):

1. Each channel (8-bit scale) is filtered with two separable second differences
   ``d2 (x) d2``, ``d2 = [1, -2, 1]``: with adjacent taps (the *fine* energy: white noise
   passes with gain 36, smooth texture is cancelled; demosaiced noise, which has almost no
   energy near the Nyquist frequency, is mostly missed) and with taps 3 px apart (the
   *total* energy: sees practically all of white and demosaiced noise). A Gaussian-smoothed
   gradient energy serves as the texture measure (noise is smoothed away, texture is not).
2. Energies are averaged over non-overlapping 8 x 8 blocks. Blocks with more than 1/64 of
   their pixels at 0 or 1 (clipped: their noise is censored) are left out.
3. Blocks are binned by mean intensity (equal-count bins, up to 12). In each bin, among
   the 15 % least textured blocks, the 10 % quantile of the energy is taken and divided by
   the same statistic for pure noise (simulated once with a fixed seed; for correlated
   noise interpolated towards bilinear-demosaiced noise): textured blocks only add energy.
4. ``a`` and ``b`` are fitted to the bins by non-negative weighted least squares, bins far
   above the fit (no flat block at that intensity) down-weighted and refitted.
5. In the flattest blocks the residuals of a quadratic fit give the lag-1 autocorrelation
   (about 0 for white noise, 0.35-0.4 for the camera pipeline of ``restora.degrade.isp``)
   and the correlation across channels; the noise is called correlated when that
   autocorrelation exceeds 0.2 *and* the step-2 and step-3 energies exceed 6.5 times the
   fine energy there (texture alone also raises the autocorrelation; clean Kodak
   photographs reach energy ratios of 5.8, demosaiced noise 7.6 and more). Correlated noise
   is then measured with the total energy, and its noise level function is a robust
   quadratic in ``I`` (a tone curve makes camera noise non-affine in sRGB); otherwise with
   the fine energy and the affine model.

Units: intensities and sigmas are in 8-bit levels (0..255), so ``a`` is in levels and
``b`` in levels squared; Poisson noise of peak ``p`` photons has ``a = 255 / p``, ``b = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import optimize

from restora.validation import as_image

__all__ = ["NoiseLevel", "estimate_noise_level_function", "estimate_noise_under_jpeg", "LUMA_NOISE_GAIN"]

NoiseKind = Literal["none", "gaussian", "poisson", "camera"]

_QUANTILE = 0.1  # low quantile of block energies taken per intensity bin ...
_TEX_FRACTION = 0.15  # ... among this fraction of its least textured blocks
_TEXTURE_SCALE = 2.0  # Gaussian std (px) of the smoothing before the texture gradient
_STEP_TOTAL = 3  # tap spacing of the second difference that sees all of the noise
_BLOCK = 8  # block side
_MAX_BLOCKS = 6000  # per channel; larger images use a strided subset of blocks
_CLIP_LO = 0.5 / 255.0
_CLIP_HI = 1.0 - 0.5 / 255.0
_NONE_SIGMA = 1.0  # below this (8-bit levels) the image counts as noise-free
_CORRELATED = 0.2  # mean lag-1 noise autocorrelation above which noise is "correlated"
_CORRELATED_RATIO = 6.5  # ... and coarser-scale noise energy over the finest above this
_SIGNAL_DEPENDENT = 1.25  # sigma ratio between bright and dark (10th / 90th pct) intensities


@dataclass(frozen=True)
class NoiseLevel:
    """Noise level function of an image, per channel, in 8-bit levels.

    ``a`` (levels) and ``b`` (levels²) are arrays with one entry per channel: the fit
    ``sigma(I)^2 = a I + b`` (intensity ``I`` and sigma in 8-bit levels). ``intensities`` /
    ``sigmas`` (``C x K`` arrays, NaN-padded) are the intensity bins and their sigmas: the
    measurements for the affine model, a robust quadratic through them for the curve.
    ``model`` says which :meth:`sigma_at` and :meth:`sigma_map` use: ``"affine"`` (the fit;
    white and Poisson-Gaussian noise) or ``"curve"`` (the bins, linearly interpolated and
    held constant outside; camera noise after a tone curve is not affine in ``I``).

    ``sigma_mean`` is the root-mean-square sigma over the image's unclipped intensities
    (the single sigma for a white-noise denoiser); it is the std of the whole noise, also
    for correlated noise. ``sigma_highpass`` is the fine-scale part only (what a white-noise
    estimator reads): much smaller than ``sigma_mean`` for demosaiced noise.
    ``neighbour_correlation`` is the mean lag-1 (horizontal, vertical) autocorrelation of
    the noise in the flattest blocks (about 0 for white noise; texture also raises it, so
    ``correlated`` needs the fine/whole energy test as well), ``channel_correlation`` the
    mean correlation of the noise between colour channels (0 for gray).
    """

    a: np.ndarray
    b: np.ndarray
    sigma_mean: float
    sigma_highpass: float
    neighbour_correlation: float
    channel_correlation: float
    signal_dependent: bool
    correlated: bool
    kind: NoiseKind
    model: Literal["affine", "curve"] = "affine"
    intensities: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)), repr=False)
    sigmas: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)), repr=False)

    def _var(self, i: np.ndarray, ch: int) -> np.ndarray:
        if self.model == "curve":
            xs, ys = self.intensities[ch], self.sigmas[ch]
            ok = np.isfinite(xs) & np.isfinite(ys)
            if ok.any():
                return np.square(np.interp(i, xs[ok], ys[ok]))
        return np.maximum(self.a[ch] * i + self.b[ch], 0.0)

    def sigma_at(self, intensity: float | np.ndarray, channel: int | None = None) -> np.ndarray | float:
        """Noise sigma (8-bit levels) at ``intensity`` (8-bit levels, scalar or array).

        ``channel=None`` gives the root-mean-square over channels.
        """
        i = np.asarray(intensity, dtype=np.float64)
        if channel is None:
            var = np.mean([self._var(i, ch) for ch in range(len(self.a))], axis=0)
        else:
            var = self._var(i, channel)
        s = np.sqrt(var)
        return float(s) if s.ndim == 0 else s

    def sigma_map(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel noise sigma (8-bit levels) for ``image``: ``H x W x C`` float32.

        The intensity at each pixel is its 5 x 5 local mean (so the noise barely moves the
        map). A gray model applied to a colour image uses its one channel for all three.
        """
        import cv2

        img = as_image(image)
        c = img.shape[2]
        mean = cv2.blur(img, (5, 5), borderType=cv2.BORDER_REFLECT)
        if mean.ndim == 2:
            mean = mean[:, :, None]
        mean = np.clip(mean, 0.0, 1.0) * np.float32(255.0)
        out = np.empty(mean.shape, dtype=np.float32)
        for k in range(c):
            out[:, :, k] = np.sqrt(self._var(mean[:, :, k], k if len(self.a) == c else 0))
        return out


# ------------------------------------------------------------------------------ block stats


def _second_difference(step: int) -> np.ndarray:
    """``d2 (x) d2`` with taps ``step`` apart, ``d2 = [1, -2, 1]``; gain 36 on white noise."""
    d = np.zeros(2 * step + 1, dtype=np.float32)
    d[0], d[step], d[-1] = 1.0, -2.0, 1.0
    return np.outer(d, d)


def _poly_basis(n: int) -> np.ndarray:
    """Orthonormal basis (``n*n x 6``) of quadratic polynomials on an ``n x n`` block."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    y = (y - (n - 1) / 2) / n
    x = (x - (n - 1) / 2) / n
    m = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=-1).reshape(n * n, 6)
    q, _ = np.linalg.qr(m)
    return q


def _block_view(a: np.ndarray, n: int) -> np.ndarray:
    """``H x W x C`` -> ``(gh*gw, C, n*n)`` non-overlapping blocks (a copy)."""
    h, w, c = a.shape
    gh, gw = h // n, w // n
    b = a[: gh * n, : gw * n].reshape(gh, n, gw, n, c).transpose(0, 2, 4, 1, 3)
    return b.reshape(gh * gw, c, n * n)


def _bin_statistic(energy: np.ndarray, texture: np.ndarray) -> float:
    """Noise energy of a set of blocks: the ``_QUANTILE`` quantile of the energies of the
    ``_TEX_FRACTION`` least textured blocks (not yet corrected, see ``_calibration``)."""
    keep = max(int(round(_TEX_FRACTION * energy.size)), min(energy.size, 20))
    if keep < energy.size:
        energy = energy[np.argsort(texture, kind="stable")[:keep]]
    return float(np.quantile(energy, _QUANTILE))


_CALIBRATION: dict[tuple[int, str, float, float, float], tuple[float, float]] = {}


def _calibration(n: int, noise: str) -> tuple[float, float]:
    """``_bin_statistic`` / true variance for pure noise, for the fine and the whole-noise
    energies (simulated once per setting with a fixed seed): ``noise="white"`` or
    ``"demosaic"`` (bilinear-demosaiced red channel: strongly correlated)."""
    key = (n, noise, _QUANTILE, _TEX_FRACTION, _TEXTURE_SCALE)
    if key not in _CALIBRATION:
        import cv2

        z = np.random.default_rng(20080101).standard_normal((768, 768)).astype(np.float32)
        if noise == "demosaic":
            k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4
            sparse = np.zeros_like(z)
            sparse[0::2, 0::2] = 2.0 * z[0::2, 0::2]
            z = cv2.filter2D(sparse, -1, k, borderType=cv2.BORDER_REFLECT_101)
        var = float(z[16:-16, 16:-16].var())
        fine, _, total, tex, _ = _block_stats(z[:, :, None], n, np.arange(768 // n))
        _CALIBRATION[key] = (
            _bin_statistic(fine[:, 0], tex[:, 0]) / var,
            _bin_statistic(total[:, 0], tex[:, 0]) / var,
        )
    return _CALIBRATION[key]


_MARGIN = 8  # rows of context around each block row for the filters


def _block_stats(x255: np.ndarray, n: int, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per ``n x n`` block of the block ``rows`` of ``x255`` (H x W x C, 8-bit scale):
    fine-scale (taps 1 apart), mid (2) and whole (``_STEP_TOTAL``) noise energies
    (``(nb, C)``, variance units for white noise),
    texture energy (gradient energy of a Gaussian-smoothed copy) and the pixels
    ``(nb, C, n*n)``."""
    import cv2

    h, w, c = x255.shape
    gw = w // n
    m = _MARGIN
    out: dict[str, list[np.ndarray]] = {"fine": [], "mid": [], "total": [], "tex": [], "pix": []}
    k1, k2, k3 = _second_difference(1), _second_difference(2), _second_difference(_STEP_TOTAL)
    # Block rows are processed in runs of consecutive rows (all of them when not strided).
    runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
    for run in runs:
        lo, hi = run[0] * n - m, (run[-1] + 1) * n + m
        s = x255[np.clip(np.arange(lo, hi), 0, h - 1), : gw * n]
        for ch in range(c):
            plane = np.ascontiguousarray(s[:, :, ch])
            e1 = np.square(cv2.filter2D(plane, -1, k1, borderType=cv2.BORDER_REFLECT))
            e2 = np.square(cv2.filter2D(plane, -1, k2, borderType=cv2.BORDER_REFLECT))
            e3 = np.square(cv2.filter2D(plane, -1, k3, borderType=cv2.BORDER_REFLECT))
            sm = cv2.GaussianBlur(plane, (0, 0), _TEXTURE_SCALE, borderType=cv2.BORDER_REFLECT)
            gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
            gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
            for key, arr in (("fine", e1), ("mid", e2), ("total", e3), ("tex", gx * gx + gy * gy)):
                out[key].append(_block_view(arr[m:-m, :, None], n).mean(axis=2)[:, 0])
        out["pix"].append(_block_view(s[m:-m], n))
    nrun = len(runs)
    stack = lambda key: np.concatenate(  # noqa: E731
        [np.stack(out[key][i * c : (i + 1) * c], axis=1) for i in range(nrun)], axis=0
    )
    return (
        stack("fine") / 36.0,
        stack("mid") / 36.0,
        stack("total") / 36.0,
        stack("tex"),
        np.concatenate(out["pix"], axis=0).astype(np.float64),
    )


def _bin_estimates(
    means: np.ndarray, energy: np.ndarray, texture: np.ndarray, nbins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per intensity bin (equal counts): median intensity, ``_bin_statistic`` and count."""
    order = np.argsort(means, kind="stable")
    mi, vi, ni = [], [], []
    for idx in np.array_split(order, nbins):
        if idx.size < 8:
            continue
        mi.append(float(np.median(means[idx])))
        vi.append(_bin_statistic(energy[idx], texture[idx]))
        ni.append(float(idx.size))
    return np.array(mi), np.array(vi), np.array(ni)


def _fit_affine(m: np.ndarray, v: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Non-negative weighted least squares of ``v ~ a m + b`` (relative errors), bins far
    above the fit (no flat block at that intensity) down-weighted and refitted."""
    if m.size == 0:
        return 0.0, 0.0
    if m.size == 1 or np.ptp(m) < 1.0:
        return 0.0, float(np.average(v, weights=n))
    w = n.astype(np.float64)
    a = b = 0.0
    floor = 1e-3 * max(float(v.max()), 1e-6)
    design = np.stack([m, np.ones_like(m)], axis=1)
    for _ in range(5):
        sw = np.sqrt(w) / np.maximum(v, floor)
        (a, b), _ = optimize.nnls(design * sw[:, None], v * sw)
        r = v / np.maximum(a * m + b, floor)
        w = n * np.where(r > 1.6, 0.05, 1.0) * np.where(r < 0.4, 0.3, 1.0)
    return float(a), float(b)


def _fit_quadratic(m: np.ndarray, v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Robust weighted least squares of ``v ~ c0 + c1 m + c2 m^2`` (relative errors), bins far
    above the fit down-weighted as in ``_fit_affine``; returns the fitted values at ``m``
    (at least 0). Fewer than 4 bins: an affine fit."""
    if m.size < 4 or np.ptp(m) < 1.0:
        a, b = _fit_affine(m, v, n)
        return np.maximum(a * m + b, 0.0)
    floor = 1e-3 * max(float(v.max()), 1e-6)
    x = (m - m.mean()) / max(float(np.ptp(m)), 1.0)
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    w = n.astype(np.float64)
    fit = v
    for _ in range(6):
        sw = np.sqrt(w) / np.maximum(v, floor)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], v * sw, rcond=None)
        fit = np.maximum(design @ coef, floor)
        r = v / fit
        w = n * np.where(r > 1.6, 0.05, 1.0) * np.where(r < 0.4, 0.3, 1.0)
    return fit


def _lag_correlation(res: np.ndarray, n: int) -> tuple[float, float]:
    """Lag-1 horizontal and vertical autocorrelation of block residuals ``(k, n*n)``."""
    r = res.reshape(-1, n, n)
    e = float(np.sum(r * r))
    if e <= 0:
        return 0.0, 0.0
    h = float(np.sum(r[:, :, 1:] * r[:, :, :-1])) / e * n / (n - 1)
    v = float(np.sum(r[:, 1:, :] * r[:, :-1, :])) / e * n / (n - 1)
    return h, v


def estimate_noise_level_function(image: np.ndarray) -> NoiseLevel:
    """Estimate the noise level function ``sigma(I)^2 = a I + b`` of ``image`` per channel.

    ``image``: float H x W x C (C = 1 or 3) in [0, 1] (2-D and uint8/uint16 accepted).
    Returns a :class:`NoiseLevel`; ``kind`` is ``"none"`` when ``sigma_mean`` is below 1
    level, ``"camera"`` when the noise is spatially correlated (see the module notes),
    ``"poisson"`` when its sigma grows with intensity by more than 25 % between the 10th
    and 90th intensity percentiles, else ``"gaussian"``. At least 16 x 16 pixels. Sigmas are the std of the
    whole noise (not only its fine-scale part), so for camera noise they exceed what a
    white-noise estimator such as ``estimate_noise_sigma`` reports (``sigma_highpass``).
    Deterministic; the cost is bounded (a strided subset of blocks on large images).
    """
    import cv2

    img = as_image(image).astype(np.float32, copy=False)
    h, w, c = img.shape
    n = _BLOCK if min(h, w) >= 8 * _BLOCK else 8
    if min(h, w) < 2 * n:
        _raise_small(h, w)
    x255 = img * np.float32(255.0)
    gh, gw = h // n, w // n
    if gh * gw > _MAX_BLOCKS:  # a strided subset of block rows: bounded cost
        keep_rows = np.linspace(0, gh - 1, max(_MAX_BLOCKS // gw, 4)).round().astype(np.int64)
    else:
        keep_rows = np.arange(gh)
    fine, mid, total, tex, blocks = _block_stats(x255, n, keep_rows)
    means = blocks.mean(axis=2)
    clipped = ((blocks <= _CLIP_LO * 255.0) | (blocks >= _CLIP_HI * 255.0)).mean(axis=2)
    valid = clipped <= 1.0 / 64.0
    sample = blocks[: min(200, len(blocks))]
    quantised = bool(np.all(np.abs(sample - np.round(sample)) < 1e-3))
    qvar = 1.0 / 12.0 if quantised else 0.0  # 8-bit rounding: not noise

    # Flattest blocks (least texture energy, jointly over channels).
    joint = valid.all(axis=1)
    use = joint if joint.sum() >= 8 else np.ones(len(fine), bool)
    score = (tex / np.maximum(np.median(tex[use], axis=0), 1e-9)).mean(axis=1)
    score[~use] = np.inf
    flat = np.argsort(score, kind="stable")[: max(8, int(_QUANTILE * use.sum()))]
    basis = _poly_basis(n)
    fb = blocks[flat]
    res = fb - (fb @ basis) @ basis.T
    rh, rv = zip(*(_lag_correlation(res[:, ch], n) for ch in range(c)))
    rho = float(np.mean(rh + rv))
    if c > 1:
        cc = np.einsum("kcp,kdp->cd", res, res)
        d = np.sqrt(np.diag(cc))
        cc = cc / np.maximum(np.outer(d, d), 1e-12)
        chan_corr = float(np.mean(cc[np.triu_indices(c, 1)]))
    else:
        chan_corr = 0.0
    # Statistic-to-variance ratio for pure noise: white, or interpolated towards strongly
    # correlated (demosaiced) noise by the measured lag-1 correlation.
    t = float(np.clip(rho / 0.6, 0.0, 1.0))
    cal_w, cal_d = _calibration(n, "white"), _calibration(n, "demosaic")
    q_fine = cal_w[0]
    q_total = (1 - t) * cal_w[1] + t * cal_d[1]

    nbins_max = 12
    fits = {}
    for name, energy, q in (("fine", fine, q_fine), ("total", total, q_total)):
        a_all, b_all = np.zeros(c), np.zeros(c)
        ints = np.full((c, nbins_max), np.nan)
        sigs = np.full((c, nbins_max), np.nan)
        for ch in range(c):
            ok = valid[:, ch]
            if ok.sum() < 8:
                ok = np.ones_like(ok)
            nbins = int(np.clip(ok.sum() // 60, 1, nbins_max))
            mi, vi, ni = _bin_estimates(means[ok, ch], energy[ok, ch], tex[ok, ch], nbins)
            vi = np.maximum(vi / q - qvar, 0.0)
            a_all[ch], b_all[ch] = _fit_affine(mi, vi, ni)
            ints[ch, : mi.size] = mi
            # The curve: a robust quadratic through the bins (a bin whose every block is
            # textured reads high and is down-weighted), for tone-mapped camera noise.
            sigs[ch, : mi.size] = np.sqrt(_fit_quadratic(mi, vi, ni)) if name == "total" else np.sqrt(vi)
        fits[name] = (a_all, b_all, ints, sigs)
    # Mean noise power over the image's (unclipped) intensities.
    inside = (blocks > _CLIP_LO * 255.0) & (blocks < _CLIP_HI * 255.0)
    mean_int = np.array(
        [blocks[:, k][inside[:, k]].mean() if inside[:, k].any() else 127.5 for k in range(c)]
    )

    def mean_sigma(fit: tuple[np.ndarray, ...], curve: bool) -> float:
        if curve:  # equal-count bins: their mean is the mean over the image's blocks
            return float(np.sqrt(np.nanmean(np.square(fit[3]))))
        return float(np.sqrt(np.maximum(fit[0] * mean_int + fit[1], 0.0).mean()))

    sigma_hp = mean_sigma(fits["fine"], False)
    sigma_tot = mean_sigma(fits["total"], True)
    # Correlated (demosaiced) noise: neighbours correlate AND, in the flattest blocks, the
    # finest operator misses most of the noise that the coarser ones see. Texture alone
    # raises the residual correlation too, but the energy ratios much less (clean Kodak
    # photographs: at most 5.8 and 10.3; bilinear-demosaiced camera noise: 7.6-15 and 10-20).
    fl_fine = np.maximum(fine[flat], 1e-3)
    r_mid = float(np.median(mid[flat] / fl_fine))
    r_tot = float(np.median(total[flat] / fl_fine))
    correlated = bool(
        rho > _CORRELATED
        and r_mid > _CORRELATED_RATIO
        and r_tot > _CORRELATED_RATIO
        and sigma_tot >= _NONE_SIGMA
    )
    a_all, b_all, ints, sigs = fits["total" if correlated else "fine"]
    sigma_mean = sigma_tot if correlated else sigma_hp

    allin = inside.all(axis=1)
    lum = blocks.mean(axis=1)[allin] if allin.any() else blocks.mean(axis=1).ravel()
    lo, hi = np.percentile(lum, [10, 90])
    s_lo = np.sqrt(np.maximum(a_all * lo + b_all, 1e-12)).mean()
    s_hi = np.sqrt(np.maximum(a_all * hi + b_all, 1e-12)).mean()
    signal_dependent = bool(s_hi > _SIGNAL_DEPENDENT * s_lo and sigma_mean >= _NONE_SIGMA)
    kind: NoiseKind
    if sigma_mean < _NONE_SIGMA:
        kind = "none"
    elif correlated:
        kind = "camera"
    elif signal_dependent:
        kind = "poisson"
    else:
        kind = "gaussian"
    return NoiseLevel(
        a=a_all,
        b=b_all,
        sigma_mean=sigma_mean,
        sigma_highpass=sigma_hp,
        neighbour_correlation=rho,
        channel_correlation=chan_corr,
        signal_dependent=signal_dependent,
        correlated=correlated,
        kind=kind,
        model="curve" if correlated else "affine",
        intensities=ints,
        sigmas=sigs,
    )


_BT601 = np.array([0.299, 0.587, 0.114], np.float32)
#: Std of the BT.601 luma of i.i.d. per-channel noise of std 1: sqrt(0.299² + 0.587² + 0.114²).
LUMA_NOISE_GAIN = float(np.linalg.norm(_BT601))


def estimate_noise_under_jpeg(image: np.ndarray) -> float:
    """Per-channel std (8-bit levels) of the noise a JPEG was saved over, read where the JPEG
    kept it: in the luma, at half resolution.

    JPEG quantisation removes the fine part of noise (and 4:2:0 subsampling most of the
    chroma's), so a fine-scale estimate after it reads a fraction of the noise that is there
    (e.g. 6 levels for Gaussian noise of std 35 under quality 30); the coarse luma keeps it.
    The luma (BT.601) is 2 x 2 box-averaged (white noise: std halved), the fine-scale part
    of its noise level function taken (``sigma_highpass`` of
    :func:`estimate_noise_level_function`: its correlated-noise reading takes the texture of
    a blurred photo for noise, up to 28 on clean blurred photos), doubled and divided by
    :data:`LUMA_NOISE_GAIN`, which assumes noise independent across channels (Gaussian,
    Poisson; camera noise is correlated across channels and reads high). Measured on 16
    CBSD432 photos (``benchmarks/results/jpeg-noise-s30``): 0.86-1.05 of the true std for
    std 25-50 under quality 30-90, 4:2:0 or 4:4:4, 0.45-1.1 for std 10; a strongly textured
    clean photo reads up to 21, so the planner uses it only where the fine scale found
    Gaussian or Poisson noise too. At least 32 x 32 pixels.
    """
    img = as_image(image).astype(np.float32, copy=False)
    h, w, c = img.shape
    if min(h, w) < 32:
        _raise_small(h, w)
    import cv2

    y = img[..., :3] @ _BT601 if c >= 3 else img[..., 0]
    half = cv2.resize(y[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # 2 x 2 means
    sigma = 2.0 * estimate_noise_level_function(half[..., None]).sigma_highpass
    return float(sigma / LUMA_NOISE_GAIN) if c >= 3 else float(sigma)


def _raise_small(h: int, w: int) -> None:
    from restora.errors import InvalidParameterError

    raise InvalidParameterError(f"image must be at least 16 x 16 pixels to estimate its noise, got {h} x {w}")
