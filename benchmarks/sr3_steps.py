"""SR3 on test/Faces: PSNR / SSIM / NIQE and seconds per image against the number of
sampling steps, with bicubic as the baseline, plus the samples figure.

    OMP_NUM_THREADS=1 python benchmarks/sr3_steps.py \\
        --weights ~/.cache/restora/runs/sr3-faces/sr3-faces-x4.safetensors \\
        --steps 10,25,50,100,250 --limit 34 --out benchmarks/results/sr3

Protocol: each test face is resized to 64 px (area filter, as in training), LR = MATLAB
bicubic x1/4 (16 px), bicubic baseline = MATLAB bicubic x4 of the LR. PSNR and SSIM on the
BT.601 Y channel with a 4-px border cropped (the SR convention), on outputs clipped to
[0, 1] and rounded to 8 bits. NIQE needs 96 px patches, so it is measured on a mosaic: the
method's outputs tiled edge to edge into one square-ish image (the same tiling for every
method and for HR). All images are sampled in one batch with one seed; seconds per image =
batch wall time / N (one thread).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from restora.degrade.torch_ops import imresize
from restora.metrics import niqe, psnr, ssim
from restora.sr3_restorer import SR3Restorer
from restora.train.gan_prior import load_face_images


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255) / 255.0


def _np(t: torch.Tensor) -> np.ndarray:
    return _u8(t.numpy().transpose(0, 2, 3, 1)).astype(np.float32)


def _mosaic(imgs: np.ndarray) -> np.ndarray:
    n, h, w, c = imgs.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    pad = rows * cols - n
    if pad:
        imgs = np.concatenate([imgs, imgs[:pad]], axis=0)  # repeat the first faces to fill the grid
    return imgs.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def _scores(out: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    p = [psnr(o, g, crop=4, y_channel=True) for o, g in zip(out, hr)]
    s = [ssim(o, g, crop=4, y_channel=True) for o, g in zip(out, hr)]
    return {"psnr_y": float(np.mean(p)), "ssim_y": float(np.mean(s)), "niqe_mosaic": float(niqe(_mosaic(out)))}


def _figure(path: Path, lr: np.ndarray, bic: np.ndarray, samples: dict[int, np.ndarray], hr: np.ndarray, rows: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("LR (16 px)", lr), ("bicubic", bic)] + [(f"SR3 {k} steps", v) for k, v in samples.items()] + [("HR", hr)]
    fig, axes = plt.subplots(rows, len(cols), figsize=(1.6 * len(cols), 1.7 * rows), squeeze=False)
    for r in range(rows):
        for c, (title, arr) in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(np.clip(arr[r], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="sr3-faces-x4.safetensors (default: $RESTORA_SR3 / zoo)")
    ap.add_argument("--steps", default="10,25,50,100,250")
    ap.add_argument("--limit", type=int, default=34, help="first N test faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/sr3")
    ap.add_argument("--figure", default="docs/images/sr3_faces.png")
    ap.add_argument("--figure-steps", default="10,50,250", help="step counts shown in the figure")
    ap.add_argument("--figure-rows", type=int, default=4)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    steps = [int(s) for s in a.steps.split(",")]
    hr_t = (load_face_images("test/Faces", 64)[: a.limit] + 1) / 2
    lr_t = imresize(hr_t, 0.25, method="bicubic")
    bic_t = imresize(lr_t, 4.0, method="bicubic")
    hr, lr, bic = _np(hr_t), _np(lr_t), _np(bic_t)
    n = hr.shape[0]
    restorer = SR3Restorer(a.weights, seed=a.seed, progress=False)
    rows = [{"method": "bicubic", "steps": 0, **_scores(bic, hr), "sec_per_image": 0.0}]
    print(json.dumps(rows[-1]), flush=True)
    fig_steps = {int(s) for s in a.figure_steps.split(",")}
    shown: dict[int, np.ndarray] = {}
    with torch.no_grad():
        for k in steps:
            t0 = time.perf_counter()
            out = _np(restorer.sample(lr_t, k))
            dt = (time.perf_counter() - t0) / n
            rows.append({"method": "sr3", "steps": k, **_scores(out, hr), "sec_per_image": dt})
            print(json.dumps(rows[-1]), flush=True)
            if k in fig_steps:
                shown[k] = out
    rows.append({"method": "HR (reference)", "steps": 0, "psnr_y": float("inf"), "ssim_y": 1.0,
                 "niqe_mosaic": float(niqe(_mosaic(hr))), "sec_per_image": 0.0})
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"weights": str(restorer.card.get("name")), "trained_steps": restorer.card.get("trained_steps"),
            "n_images": n, "seed": a.seed, "threads": a.threads, "command": " ".join(sys.argv)}
    (out_dir / "steps.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"SR3 faces x4 (16 -> 64), test/Faces first {n}, model trained {meta['trained_steps']} steps", "",
             "| method | steps | PSNR-Y | SSIM-Y | NIQE (mosaic) | s / image |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['steps'] or '-'} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['niqe_mosaic']:.2f} | {r['sec_per_image']:.2f} |")
    (out_dir / "steps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if a.figure and shown:
        up = np.repeat(np.repeat(lr, 4, axis=1), 4, axis=2)
        _figure(Path(a.figure), up, bic, dict(sorted(shown.items())), hr, min(a.figure_rows, n))


if __name__ == "__main__":
    main()
