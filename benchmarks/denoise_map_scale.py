"""Is the blind gray denoiser's noise-level input calibrated? (issue 16, session 39)

The blind benchmark feeds the estimated sigma to the noise-map input; if the network's
output were best at a scaled level (say 1.05 sigma), rescaling the estimate would be a free
gain. First N BSD68 images, seeded unclipped Gaussian noise at 15 / 25 / 50; the map is
given at the true sigma times each factor; the estimator's mean and spread are printed::

    python benchmarks/denoise_map_scale.py src/restora/zoo/weights/drunet-gray.safetensors [--limit 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from restora.classical.estimate import estimate_noise_sigma
from restora.data import data_root
from restora.io import read_image
from restora.metrics import psnr
from restora.zoo import load_file
from restora.zoo.restorers import NeuralRestorer

FACTORS = (0.9, 0.95, 1.0, 1.05, 1.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--limit", type=int, default=20)
    args = ap.parse_args()
    clean = [read_image(f)[:, :, :1] for f in sorted((data_root() / "test" / "BSD68").glob("*.*"))[: args.limit]]
    model = NeuralRestorer(load_file(args.weights), device="cpu")
    print("| sigma | " + " | ".join(f"map x{k:g}" for k in FACTORS) + " | estimate (mean ± sd) |")
    print("|---:|" + "---:|" * len(FACTORS) + "---|")
    for s in (15.0, 25.0, 50.0):
        scores, est = {k: [] for k in FACTORS}, []
        for i, x in enumerate(clean):
            noisy = (x + np.random.default_rng([int(s), i]).normal(0, s / 255.0, x.shape)).astype(np.float32)
            for k in FACTORS:
                scores[k].append(psnr(np.clip(model(noisy, sigma=s * k), 0, 1), x))
            est.append(estimate_noise_sigma(noisy))
        cells = " | ".join(f"{np.mean(v):.2f}" for v in scores.values())
        print(f"| {s:g} | {cells} | {np.mean(est):.2f} ± {np.std(est):.2f} |", flush=True)


if __name__ == "__main__":
    main()
