"""HLLHGAN table, face grid and LR-realism check on test/Faces (16 -> 64 px).

    OMP_NUM_THREADS=1 python benchmarks/hllhgan_table.py \\
        --runs ~/.cache/restora/runs --out benchmarks/results/hllhgan

Protocol: the 34 test faces at 64 px (area filter, as in training) are degraded by the
held-out camera chain (:func:`restora.train.hllhgan.camera_degrade`, noise seeds 100000 + i,
never used in training) to 16 px. Methods: ``bicubic`` (bicubic x4 of that LR), (a) L2H trained
on bicubic LR, (b) L2H on H2L outputs with pixel loss, (c) L2H on H2L outputs with pixel + GAN
(HLLHGAN). PSNR/SSIM on the BT.601 Y channel, 4-px border cropped, outputs clipped and
rounded to 8 bits; NIQE (restora's) on a mosaic of the 34 outputs (NIQE needs 96 px patches);
identity similarity (``restora.metrics.identity``, dlib) to the HR face when available.

LR realism: on the same test faces, the camera LR (the "real" domain), H2L(x, z) and the
bicubic LR are compared at 16 px: PSNR to the camera LR, the std of the Laplacian (sharpness
and noise), and the 1-D Wasserstein distance of their Laplacian-value histograms to the
camera LR's; a histogram figure is written too.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restora.metrics import niqe, psnr, ssim
from restora.train.hllhgan import bicubic_down, load_faces01, load_h2l, load_l2h, real_lr_set

METHODS = [("bicubic", None), ("a_bicubic_lr", "hllhgan-l2h-bicubic"), ("b_h2l_pixel", "hllhgan-l2h-pixel"),
           ("c_hllhgan", "hllhgan-l2h-gan")]


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(x, 0, 1) * 255) / 255.0).astype(np.float32)


def _np(t: torch.Tensor) -> np.ndarray:
    return _u8(t.detach().numpy().transpose(0, 2, 3, 1))


def _mosaic(imgs: np.ndarray) -> np.ndarray:
    n, h, w, c = imgs.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    if rows * cols > n:
        imgs = np.concatenate([imgs, imgs[: rows * cols - n]], axis=0)
    return imgs.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def _identity():
    try:
        from restora.metrics.identity import identity_models_available, identity_similarity
    except ImportError:
        return None
    return identity_similarity if identity_models_available() else None


def _laplacian(x: np.ndarray) -> np.ndarray:
    import cv2

    g = x @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.stack([cv2.Laplacian(im, cv2.CV_32F, borderType=cv2.BORDER_REFLECT) for im in g])


def _figure(path: Path, lr: np.ndarray, outs: dict[str, np.ndarray], hr: np.ndarray, rows: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("LR (camera)", lr)] + [(k, v) for k, v in outs.items()] + [("HR", hr)]
    fig, axes = plt.subplots(rows, len(cols), figsize=(1.4 * len(cols), 1.45 * rows))
    for r in range(rows):
        for c, (name, arr) in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(np.clip(arr[r], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=7)
    fig.tight_layout(pad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(Path("~/.cache/restora/runs").expanduser()))
    ap.add_argument("--out", default="benchmarks/results/hllhgan")
    ap.add_argument("--figure", default="docs/images/hllhgan_faces.png")
    ap.add_argument("--rows", type=int, default=6)
    a = ap.parse_args()
    torch.set_num_threads(1)
    runs = Path(a.runs).expanduser()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    hr_t = load_faces01("test/Faces", 64)
    lr_t = real_lr_set(hr_t, seed_offset=100000)
    hr = _np(hr_t)
    lr = _np(lr_t)
    id_sim = _identity()
    outs: dict[str, np.ndarray] = {}
    rows = []
    with torch.no_grad():
        for name, run in METHODS:
            t = time.process_time()
            if run is None:
                sr = F.interpolate(lr_t, scale_factor=4, mode="bicubic", align_corners=False)
            else:
                sr = load_l2h(runs / run)(lr_t)
            cpu = time.process_time() - t
            o = _np(sr)
            outs[name] = o
            rec = {
                "method": name,
                "psnr_y": float(np.mean([psnr(x, g, crop=4, y_channel=True) for x, g in zip(o, hr)])),
                "ssim_y": float(np.mean([ssim(x, g, crop=4, y_channel=True) for x, g in zip(o, hr)])),
                "niqe_mosaic": float(niqe(_mosaic(o))),
                "cpu_s_per_image": cpu / len(o),
            }
            if id_sim is not None:
                rec["id_sim"] = float(np.mean([id_sim(x, g) for x, g in zip(o, hr)]))
            rows.append(rec)
            print(rec, flush=True)
    ref = {"method": "HR (reference)", "psnr_y": float("inf"), "ssim_y": 1.0, "niqe_mosaic": float(niqe(_mosaic(hr)))}
    rows.append(ref)

    # LR realism
    from scipy.stats import wasserstein_distance

    with torch.no_grad():
        h2l = load_h2l(runs / "hllhgan-h2l")
        z = torch.randn(hr_t.shape[0], h2l.z_dim, generator=torch.Generator().manual_seed(0))
        lr_sets = {"camera (real)": lr, "H2L(x, z)": _np(h2l(hr_t, z)), "bicubic": _np(bicubic_down(hr_t))}
    lap_real = _laplacian(lr).ravel()
    realism = []
    for name, s in lr_sets.items():
        lap = _laplacian(s).ravel()
        realism.append({
            "lr_set": name,
            "psnr_to_camera_lr": float(np.mean([psnr(x, g) for x, g in zip(s, lr)])) if name != "camera (real)" else float("inf"),
            "laplacian_std": float(lap.std()),
            "w1_laplacian_to_camera": float(wasserstein_distance(lap, lap_real)),
        })
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    bins = np.linspace(-0.6, 0.6, 61)
    for name, s in lr_sets.items():
        ax.hist(_laplacian(s).ravel(), bins=bins, histtype="step", density=True, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("Laplacian of Y at 16 px")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "lr_realism_hist.png", dpi=110)
    plt.close(fig)

    _figure(Path(a.figure), lr, {"bicubic": outs["bicubic"], "(a) bicubic-LR": outs["a_bicubic_lr"],
                                 "(b) H2L pixel": outs["b_h2l_pixel"], "(c) HLLHGAN": outs["c_hllhgan"]}, hr, a.rows)

    cols = ["psnr_y", "ssim_y", "niqe_mosaic"] + (["id_sim"] if id_sim is not None else [])
    lines = ["| method | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for r in rows:
        lines.append(f"| {r['method']} | " + " | ".join(f"{r[c]:.4f}" if c in r else "-" for c in cols) + " |")
    lines += ["", "| LR set (16 px) | PSNR to camera LR | Laplacian std | W1(Laplacian) to camera |", "|---|---|---|---|"]
    for r in realism:
        lines.append(f"| {r['lr_set']} | {r['psnr_to_camera_lr']:.2f} | {r['laplacian_std']:.4f} | {r['w1_laplacian_to_camera']:.4f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({"rows": rows, "lr_realism": realism}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
