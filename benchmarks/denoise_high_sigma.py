"""A gray denoiser at the noise levels above the benchmarks' 50 (issue 16, session 37): the
campaign's ``drunet-gray-range60`` trains on sigma 0-60 instead of 0-75, and ``restore``
uses the gray denoiser on heavy-noise photos, so the cost at 60 and 75 is measured before
shipping. BSD68, seeded unclipped Gaussian noise, the true sigma given (and estimated)::

    python benchmarks/denoise_high_sigma.py A.safetensors [B.safetensors ...] [--sigmas 50,60,75] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from restora.data import data_root
from restora.io import read_image
from restora.metrics import psnr
from restora.zoo import load_file
from restora.zoo.restorers import NeuralRestorer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--sigmas", default="50,60,75")
    ap.add_argument("--limit", type=int, default=0, help="first N images (0: all 68)")
    args = ap.parse_args()
    files = sorted((data_root() / "test" / "BSD68").glob("*.*"))
    files = files[: args.limit] if args.limit else files
    clean = [read_image(f)[:, :, :1] for f in files]
    sigmas = [float(s) for s in args.sigmas.split(",")]
    print("| weights | " + " | ".join(f"sigma {s:g} given / blind" for s in sigmas) + " |")
    print("|---|" + "---:|" * len(sigmas))
    for w in args.weights:
        model = NeuralRestorer(load_file(w), device="cpu")
        cells = []
        for s in sigmas:
            given, blind = [], []
            for i, x in enumerate(clean):
                rng = np.random.default_rng([int(s), i])
                noisy = (x + rng.normal(0, s / 255.0, x.shape)).astype(np.float32)
                given.append(psnr(np.clip(model(noisy, sigma=s), 0, 1), x))
                blind.append(psnr(np.clip(model(noisy), 0, 1), x))
            cells.append(f"{np.mean(given):.2f} / {np.mean(blind):.2f}")
        print(f"| {w} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
