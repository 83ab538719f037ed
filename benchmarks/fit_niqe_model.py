"""Fit restora's NIQE pristine model (src/restora/metrics/niqe_pristine.npz).

Pristine set: every image of the shared training set ``train/CBSD432`` (the 432 BSDS500
photographs outside CBSD68: natural scenes, 481 x 321 JPEG). Per image, as the NIQE
authors' ``estimatemodelparam.m``: 8-bit gray (MATLAB ``rgb2gray``), cropped to a multiple
of 96, 96 x 96 patches, keep the patches whose sharpness (mean local sigma) exceeds 0.75 x
the image's sharpest patch; the model is the mean and covariance of the kept patches'
36 features. No test image is used (CBSD68/BSD68 are excluded from CBSD432).

    python benchmarks/fit_niqe_model.py [--dataset train/CBSD432] [--out PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from restora.data import data_root, dataset_images
from restora.metrics._imread import read_rgb_or_gray
from restora.metrics.niqe import DEFAULT_NIQE_MODEL, NIQE_SHARPNESS_THRESHOLD, niqe_features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="train/CBSD432")
    ap.add_argument("--out", type=Path, default=DEFAULT_NIQE_MODEL)
    ap.add_argument("--threshold", type=float, default=NIQE_SHARPNESS_THRESHOLD)
    args = ap.parse_args()

    paths = dataset_images(args.dataset)
    t0 = time.perf_counter()
    kept = []
    for p in paths:
        feats, sharp = niqe_features(read_rgb_or_gray(p))
        kept.append(feats[sharp > args.threshold * sharp.max()])
    allf = np.concatenate(kept, axis=0)
    complete = allf[np.all(np.isfinite(allf), axis=1)]
    mu = np.nanmean(allf, axis=0)
    cov = np.cov(complete, rowvar=False)
    source = (
        f"restora NIQE pristine model: {len(paths)} images of {args.dataset} (under {data_root().name}/), "
        f"96x96 patches with sharpness > {args.threshold} x image max, {allf.shape[0]} patches "
        f"({complete.shape[0]} complete); benchmarks/fit_niqe_model.py"
    )
    np.savez(args.out, mu=mu, cov=cov, source=np.array(source), n_images=np.array(len(paths)),
             n_patches=np.array(allf.shape[0]), sharpness_threshold=np.array(args.threshold))
    dt = time.perf_counter() - t0
    print(source)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {dt:.1f} s; "
          f"cond(cov) = {np.linalg.cond(cov):.3g}")


if __name__ == "__main__":
    main()
