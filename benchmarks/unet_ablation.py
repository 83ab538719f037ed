"""Lecture 001's U-Net / autoencoder ablation (issue 21), at equal CPU time.

One factor at a time around a baseline U-Net (``restora.nn.unet``: strided-convolution
downsampling, transposed-convolution upsampling, skip connections, residual output):

* skips off (a plain convolutional autoencoder),
* downsampling by max pooling or pixel-unshuffle instead of a strided convolution,
* upsampling by bilinear interpolation + convolution or pixel shuffle instead of a
  transposed convolution.

Every variant trains with ``restora train`` for the same wall-clock budget on one torch
thread (its step count is set from a timed probe run: ``steps = budget / seconds per step``),
on CBSD432 colour patches with Gaussian noise sigma 25, and is scored on CBSD68 sigma 25 by
``restora bench`` (``denoise-color-s25``). Transposed convolutions with stride 2 give each
of the four output phases its own kernel, so a periodic 2-pixel "checkerboard" appears
where the phases disagree; the script measures it on each model's output for a flat gray
input (the mean absolute difference between the four 2x2 phase means) and draws those
outputs, contrast-stretched, in the figure.

    python benchmarks/unet_ablation.py --minutes 8 --out benchmarks/results/unet-ablation \\
        --figure docs/images/unet_checkerboard.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from restora.bench import run_benchmark
from restora.train import load_config, train
from restora.train.logs import read_log
from restora.zoo import load_file

BASE = {"features": 16, "levels": 3, "down": "strided", "up": "transposed", "skips": True, "residual": True}
VARIANTS: dict[str, dict] = {
    "baseline (strided, transposed, skips)": {},
    "no skips (autoencoder)": {"skips": False},
    "down: max pooling": {"down": "maxpool"},
    "down: pixel-unshuffle": {"down": "unshuffle"},
    "up: bilinear + conv": {"up": "bilinear"},
    "up: pixel shuffle": {"up": "shuffle"},
}


def recipe(name: str, args: dict, steps: int, out: Path) -> dict:
    return {
        "name": name,
        "output": str(out),
        "model": {"arch": "unet", "args": {"in_channels": 3, **BASE, **args}},
        "data": {"train": ["CBSD432"], "channels": 3, "patch_size": 64, "batch_size": 8, "workers": 0, "preload": True,
                 "degradation": {"type": "gaussian", "sigma": 25}},
        "val": {"data": None},
        "loss": {"l1": 1.0},
        "optim": {"name": "adam", "lr": 1e-3, "schedule": "cosine", "warmup_steps": 20, "min_lr": 1e-6},
        "train": {"steps": steps, "log_every": 10 if steps < 100 else 50, "checkpoint_every": max(steps, 1), "ema": 0.0, "grad_clip": 1.0,
                  "threads": 1, "seed": 0},
        "export": {"name": name, "use_ema": False},
    }


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-").replace("--", "-")


def flat_response(path: Path) -> np.ndarray:
    """The model's output minus its input for a flat mid-gray 64 x 64 colour image."""
    loaded = load_file(path)
    model = loaded.model.eval()
    x = torch.full((1, 3, 64, 64), 0.5)
    with torch.no_grad():
        y = model(x)
    return (y - x)[0].mean(0).numpy()


def checkerboard(response: np.ndarray) -> float:
    """Mean absolute difference (8-bit levels) between the four 2x2 phase means of the
    interior of ``response``: 0 for a smooth response, large for a checkerboard."""
    r = response[8:-8, 8:-8]
    phases = np.array([r[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)])
    return float(np.abs(phases - phases.mean()).mean() * 255.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=8.0, help="training wall time per variant (1 thread)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/unet-ablation"))
    ap.add_argument("--runs", type=Path, default=Path.home() / ".cache/restora/runs/unet-ablation")
    ap.add_argument("--limit", type=int, default=12, help="CBSD68 images scored")
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--only", default="", help="comma-separated variant numbers (0-5) to run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    picks = [int(i) for i in args.only.split(",") if i.strip()] or list(range(len(VARIANTS)))
    table_path = args.out / "ablation.json"
    table: dict = json.loads(table_path.read_text()) if table_path.is_file() else {}
    for i, (label, extra) in enumerate(VARIANTS.items()):
        if i not in picks:
            continue
        name = f"unet-{slug(label)}"
        probe_dir = args.runs / f"{name}-probe"
        train(load_config(data=recipe(name, extra, 40, probe_dir)))
        times = [r["step_time"] for r in read_log(probe_dir / "log.jsonl") if "step_time" in r]
        probe_s = float(np.median(times[1:] or times))  # seconds per step after the first
        steps = max(50, int(args.minutes * 60 / probe_s))
        t0 = time.perf_counter()
        result = train(load_config(data=recipe(name, extra, steps, args.runs / name)))
        train_s = time.perf_counter() - t0
        bench = run_benchmark([str(result.export_path)], "denoise-color-s25", ["CBSD68"], limit=args.limit, progress=False,
                              published=False)
        row = bench.measured_rows[0]
        response = flat_response(result.export_path)
        np.save(args.out / f"{name}-flat.npy", response)
        table[label] = {
            "args": {**BASE, **extra}, "steps": steps, "train_seconds": round(train_s, 1),
            "psnr": round(float(row.scores["psnr"]), 3), "ssim": round(float(row.scores["ssim"]), 4),
            "checkerboard_levels": round(checkerboard(response), 3), "params": row.params,
            "flops_per_pixel": row.flops_per_pixel, "images": row.n_images,
        }
        table_path.write_text(json.dumps(table, indent=1))
        print(f"{label}: {steps} steps in {train_s / 60:.1f} min, CBSD68 s25 {row.scores['psnr']:.2f} dB, "
              f"checkerboard {table[label]['checkerboard_levels']:.2f} levels", flush=True)
    lines = ["| variant | steps | train min | CBSD68 s25 PSNR | SSIM | checkerboard (levels) | params |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, r in table.items():
        lines.append(f"| {label} | {r['steps']} | {r['train_seconds'] / 60:.1f} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{r['checkerboard_levels']:.2f} | {r['params']} |")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = [label for label in table if (args.out / f"unet-{slug(label)}-flat.npy").is_file()]
        fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 3.0))
        for ax, label in zip(np.atleast_1d(axes), labels):
            resp = np.load(args.out / f"unet-{slug(label)}-flat.npy")[16:48, 16:48] * 255.0
            lim = max(1.0, float(np.abs(resp).max()))
            ax.imshow(resp, cmap="RdBu", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_title(f"{label}\n±{lim:.1f} levels, cb {table[label]['checkerboard_levels']:.2f}", fontsize=7)
            ax.axis("off")
        fig.suptitle("U-Net output minus input on a flat gray image (32 x 32 crop, stretched)", fontsize=9)
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
