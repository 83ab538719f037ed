"""Lecture 001 exercise 3: PSNR and SSIM by hand, by restora and by scikit-image.

PSNR is ``10 log10(1 / MSE)`` for images in [0, 1]; SSIM compares local means, variances
and covariance in a Gaussian window (Wang et al. 2004: sigma 1.5, K1 0.01, K2 0.03). The
script computes both three ways on a noisy image and prints them side by side: by the
formula in numpy, with ``restora.metrics`` and with ``skimage.metrics`` (configured with
the paper's Gaussian window). It also shows why the convention matters: the same image
pair scored on RGB, on the Y channel, and with a border crop, as SR papers do.

    python examples/03_metrics.py [--image clean.png] [--sigma 15]
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from _common import load_clean, parser
from restora.degrade import gaussian_noise
from restora.metrics import psnr, ssim

C1, C2 = 0.01**2, 0.03**2


def psnr_by_hand(x: np.ndarray, ref: np.ndarray) -> float:
    """PSNR of two [0, 1] images: 10 log10(1 / MSE)."""
    return float(10.0 * np.log10(1.0 / np.mean((np.asarray(x, np.float64) - ref) ** 2)))


def ssim_by_hand(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM of two one-channel [0, 1] images with an 11x11-truncated Gaussian window (sigma 1.5)."""
    x, y = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    blur = lambda a: gaussian_filter(a, 1.5, truncate=3.5)  # noqa: E731  (11 x 11 support)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    smap = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))
    return float(smap[5:-5, 5:-5].mean())  # valid window positions only


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sigma", type=float, default=15.0)
    args = p.parse_args(argv)
    clean = load_clean(args.image, args.size).astype(np.float64)
    gray = clean.mean(axis=2)
    noisy = np.clip(gaussian_noise(gray[..., None].astype(np.float32), args.sigma, args.seed).image[..., 0], 0, 1).astype(np.float64)
    scores = {
        "psnr_hand": psnr_by_hand(noisy, gray),
        "psnr_restora": psnr(noisy, gray),
        "psnr_skimage": peak_signal_noise_ratio(gray, noisy, data_range=1.0),
        "ssim_hand": ssim_by_hand(noisy, gray),
        "ssim_restora": ssim(noisy, gray),
        "ssim_skimage": structural_similarity(gray, noisy, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False),
    }
    print(f"gray image, Gaussian noise sigma {args.sigma:g}")
    print(f"{'':<6} {'by hand':>9} {'restora':>9} {'skimage':>9}")
    for m in ("psnr", "ssim"):
        print(f"{m.upper():<6} {scores[m + '_hand']:9.4f} {scores[m + '_restora']:9.4f} {scores[m + '_skimage']:9.4f}")
    colour_noisy = np.clip(gaussian_noise(clean.astype(np.float32), args.sigma, args.seed).image, 0, 1)
    print("\nthe same colour pair under three conventions:")
    for label, kw in (("RGB", {}), ("Y (BT.601)", {"y_channel": True}), ("Y, 4-px border cropped", {"y_channel": True, "crop": 4})):
        score = psnr(colour_noisy, clean, **kw)
        scores[f"psnr_{label}"] = score
        print(f"  PSNR on {label:<24} {score:7.3f} dB")
    return scores


if __name__ == "__main__":
    main()
