"""Figure: blind motion kernels as the estimator was and is (issue 15, session 33).

For a few CBSD432 (training) photos blurred by a bank kernel: the true kernel, the default
estimate (sub-pixel centring, no refinement), whole-pixel centring, and whole-pixel + 4
refinement rounds (thinner; better on this exact-convolution blur, worse on Levin's real
shake, so not the default), on one canvas per photo, each titled with the PSNR of the
hyper-Laplacian MAP deconvolution at level 1.5 (up to the bench's translation)::

    OMP_NUM_THREADS=1 python benchmarks/blind_kernel_figure.py docs/images/blind_kernel_refine.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: (photo, bank kernel, searched support): photos of the session's study
CASES = (("140075", "m_23.npy", 23), ("64061", "m_19.npy", 19), ("28075", "m_06.npy", 17))
ROWS = (("true kernel", None), ("default (sub-pixel centred)", {}),
        ("subpixel=False", {"subpixel": False}), ("subpixel=False, refine=4", {"subpixel": False, "refine": 4}))


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from restora.bench.runner import _read
    from restora.classical.blind import estimate_kernel
    from restora.classical.deconvolve import map_deconvolution
    from restora.data import data_root
    from restora.degrade.realistic import apply_damage

    from deblur_sigma_study import _score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    fig, axes = plt.subplots(len(CASES), len(ROWS), figsize=(2.3 * len(ROWS), 2.4 * len(CASES)))
    for r, (photo, kname, ks) in enumerate(CASES):
        ref = _read(next((data_root() / "train" / "CBSD432").glob(photo + ".*")))
        dmg = apply_damage(ref, {"steps": [{"kind": "motion_blur", "kernel_name": kname, "source": "kernels/motion32", "seed": 1}]})
        img = np.round(np.clip(dmg.image, 0, 1) * 255) / 255
        true_k = np.asarray(dmg.record["steps"][0]["kernel"], np.float64)
        shift = true_k.shape[0] // 2
        for c, (label, opts) in enumerate(ROWS):
            k = true_k if opts is None else estimate_kernel(img, ks, **opts)
            db = _score(map_deconvolution(img, k, prior="hyper-laplacian", sigma=1.5), ref, shift)
            side = max(ks, true_k.shape[0])  # every kernel on the same canvas, centred
            canvas = np.zeros((side, side))
            a, b = (side - k.shape[0]) // 2, (side - k.shape[1]) // 2
            canvas[a : a + k.shape[0], b : b + k.shape[1]] = k / k.max()
            ax = axes[r, c]
            ax.imshow(canvas, cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}\n{db:.2f} dB" if r == 0 else f"{db:.2f} dB", fontsize=8)
        axes[r, 0].set_ylabel(f"{photo} ({kname[:-4]})\nblurred {_score(img, ref, shift):.2f} dB", fontsize=8)
        print(photo, flush=True)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
