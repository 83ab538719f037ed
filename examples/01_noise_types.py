"""Lecture 001 exercise 1: the noise types, with restora and with scikit-image side by side.

For each noise model the lecture lists, add it to a clean image with restora's degradation
functions and with ``skimage.util.random_noise`` at matched parameters, and compare the
residual statistics (mean, standard deviation, share of impulse pixels). The two must agree
to sampling error: they implement the same models.

    python examples/01_noise_types.py [--image clean.png] [--out figures/]
"""

from __future__ import annotations

import numpy as np
from skimage.util import random_noise

from _common import load_clean, parser
from restora.degrade import gaussian_noise, poisson_noise, salt_and_pepper_noise, speckle_noise

SIGMA = 25.0  # 8-bit levels
AMOUNT = 0.05  # impulse share
PEAK = 256.0  # photons at white: skimage's choice for an 8-bit image


def noise_pairs(clean: np.ndarray, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (restora, skimage)}`` noisy images at matched parameters (no clipping)."""
    var = (SIGMA / 255.0) ** 2
    return {
        "gaussian": (gaussian_noise(clean, SIGMA, seed).image,
                     random_noise(clean, mode="gaussian", var=var, rng=seed, clip=False)),
        "poisson": (poisson_noise(clean, PEAK, seed).image,
                    random_noise(clean, mode="poisson", rng=seed, clip=False)),
        "salt & pepper": (salt_and_pepper_noise(clean, AMOUNT, seed, per_channel=True).image,
                          random_noise(clean, mode="s&p", amount=AMOUNT, rng=seed)),
        "speckle": (speckle_noise(clean, SIGMA, seed).image,
                    random_noise(clean, mode="speckle", var=var, rng=seed, clip=False)),
    }


def residual_stats(clean: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of ``noisy - clean`` in 8-bit levels, and the impulse share."""
    r = (np.asarray(noisy, np.float64) - clean) * 255.0
    impulses = np.mean((noisy == 0.0) | (noisy == 1.0))
    return {"mean": float(r.mean()), "std": float(r.std()), "impulses": float(impulses)}


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    clean = load_clean(args.image, args.size).astype(np.float64)
    # skimage counts distinct values to pick the Poisson scale: quantise to 8 bits first
    clean = np.round(clean * 255.0) / 255.0
    table: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'noise':<14} {'library':<9} {'mean':>7} {'std':>7} {'impulses':>9}")
    pairs = noise_pairs(clean.astype(np.float32), args.seed)
    for name, (ours, theirs) in pairs.items():
        table[name] = {"restora": residual_stats(clean, ours), "skimage": residual_stats(clean, theirs)}
        for lib, s in table[name].items():
            print(f"{name:<14} {lib:<9} {s['mean']:7.2f} {s['std']:7.2f} {s['impulses']:9.4f}")
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(2, len(pairs), figsize=(3 * len(pairs), 6))
        for col, (name, images) in enumerate(pairs.items()):
            for row, (lib, img) in enumerate(zip(("restora", "skimage"), images)):
                axes[row, col].imshow(np.clip(img, 0, 1).squeeze(), cmap="gray")
                axes[row, col].set_title(f"{name} ({lib})", fontsize=9)
                axes[row, col].axis("off")
        fig.tight_layout()
        fig.savefig(args.out / "noise_types.png", dpi=100)
        print(f"figure: {args.out / 'noise_types.png'}")
    return table


if __name__ == "__main__":
    main()
