"""Lecture 001 exercise 2: classical denoising filters, scored with PSNR and SSIM.

Gaussian noise (sigma 25) is removed by the filters of restora's catalogue (box, Gaussian,
median, bilateral, total variation, wavelet, non-local means), each at its default
parameters, and scored against the clean image; the table is sorted best first.

    python examples/02_filters.py [--image clean.png] [--sigma 25] [--out figures/]
"""

from __future__ import annotations

import time

import numpy as np

from _common import load_clean, parser
from restora.degrade import gaussian_noise
from restora.metrics import psnr, ssim
from restora.restorers import get_restorer

FILTERS = ("box", "gaussian", "median", "bilateral", "tv", "wavelet", "nlm")


def main(argv: list[str] | None = None) -> list[dict[str, float | str]]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sigma", type=float, default=25.0)
    args = p.parse_args(argv)
    clean = load_clean(args.image, args.size)
    noisy = np.clip(gaussian_noise(clean, args.sigma, args.seed).image, 0.0, 1.0)
    rows: list[dict[str, float | str]] = [{"filter": "noisy input", "psnr": psnr(noisy, clean), "ssim": ssim(noisy, clean), "seconds": 0.0}]
    outputs = {"noisy input": noisy}
    for name in FILTERS:
        t0 = time.perf_counter()
        out = get_restorer(name)(noisy, sigma=args.sigma)
        seconds = time.perf_counter() - t0
        outputs[name] = out
        rows.append({"filter": name, "psnr": psnr(out, clean), "ssim": ssim(out, clean), "seconds": seconds})
    rows.sort(key=lambda r: -float(r["psnr"]))
    print(f"{'filter':<12} {'PSNR dB':>8} {'SSIM':>7} {'s':>6}")
    for r in rows:
        print(f"{r['filter']:<12} {r['psnr']:8.2f} {r['ssim']:7.4f} {r['seconds']:6.2f}")
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(2, 4, figsize=(12, 6.5))
        for ax, (name, img) in zip(axes.ravel(), outputs.items()):
            ax.imshow(np.clip(img, 0, 1).squeeze(), cmap="gray")
            ax.set_title(f"{name}: {psnr(img, clean):.2f} dB", fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(args.out / "filters.png", dpi=100)
        print(f"figure: {args.out / 'filters.png'}")
    return rows


if __name__ == "__main__":
    main()
