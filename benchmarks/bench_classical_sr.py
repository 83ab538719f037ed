"""Classical super-resolution on Set5/Set14: interpolators and the example-based patch SR.

Evaluate (Y-PSNR/SSIM, MATLAB ``rgb2ycbcr`` BT.601, crop = scale, 8-bit rounding; HR
cropped to a multiple of the scale, LR = MATLAB bicubic of the 8-bit HR, rounded)::

    python benchmarks/bench_classical_sr.py eval --scales 2,4 --datasets Set5,Set14
    python benchmarks/bench_classical_sr.py eval --scales 2 --methods patch-sr,patch-sr-ens --limit 2

Train the shipped patch SR models (train/CBSD432 + train/Urban100, never test sets)::

    python benchmarks/bench_classical_sr.py train --scale 2 --anchors 4096
    python benchmarks/bench_classical_sr.py train --scale 3 --anchors 1536
    python benchmarks/bench_classical_sr.py train --scale 4 --anchors 1024

(2 M training pairs, 2048 neighbours, seed 0, int8 regressors; about 20-45 min each on a
shared 2-core machine.) Results go to ``results/classical_sr/`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from restora.classical.patch_sr import PatchSR, default_model_path
from restora.classical.upscale import upscale
from restora.data import dataset_images
from restora.degrade.resize import imresize
from restora.io import read_image
from restora.metrics.psnr import psnr
from restora.metrics.ssim import ssim

METHODS = ("nearest", "bilinear", "bicubic", "lanczos", "patch-sr", "patch-sr-ens")
TRAIN_SETS = ("train/CBSD432", "train/Urban100")

# Published Y-PSNR (dB) for reference rows (not measured here).
PUBLISHED = {
    # Bicubic: Kim et al. (VDSR, CVPR 2016) table; A+: Timofte et al. (ACCV 2014), 91 images.
    "Bicubic (published)": {("Set5", 2): 33.66, ("Set5", 4): 28.42, ("Set14", 2): 30.24, ("Set14", 4): 26.00,
                            ("Set5", 3): 30.39, ("Set14", 3): 27.55},
    "A+ (published)": {("Set5", 2): 36.55, ("Set5", 4): 30.28, ("Set14", 2): 32.28, ("Set14", 4): 27.32,
                       ("Set5", 3): 32.59, ("Set14", 3): 29.13},
}


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def make_pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR float cropped to a multiple of scale, LR float = MATLAB bicubic of the 8-bit HR, rounded)."""
    hr = to_u8(read_image(path))
    h, w = hr.shape[:2]
    hr = hr[: h - h % scale, : w - w % scale]
    lr = imresize(hr, 1.0 / scale)  # uint8 input: MATLAB rounding after each pass
    return hr.astype(np.float32) / 255.0, lr


def run_method(method: str, lr: np.ndarray, scale: int) -> np.ndarray:
    if method == "patch-sr-ens":
        return upscale(lr, scale, "patch_sr", ensemble=True)
    return upscale(lr, scale, method)


def cmd_eval(args: argparse.Namespace) -> None:
    scales = [int(s) for s in args.scales.split(",")]
    datasets = args.datasets.split(",")
    methods = args.methods.split(",")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[tuple[str, int], tuple[float, float, float]]] = {m: {} for m in methods}
    for scale in scales:
        for ds in datasets:
            paths = dataset_images(ds)[: args.limit or None]
            pairs = [make_pair(p, scale) for p in paths]
            for m in methods:
                if m.startswith("patch-sr") and not default_model_path(scale).is_file():
                    continue
                ps, ss, ts = [], [], []
                for hr, lr in pairs:
                    t0 = time.perf_counter()
                    sr = run_method(m, lr, scale)
                    ts.append(time.perf_counter() - t0)
                    sr = np.floor(np.clip(sr, 0, 1) * 255.0 + 0.5) / 255.0  # saved as 8-bit
                    ps.append(psnr(sr, hr, crop=scale, y_channel=True, round_to_uint8=True))
                    ss.append(ssim(sr, hr, crop=scale, y_channel=True, round_to_uint8=True))
                rows[m][(ds, scale)] = (float(np.mean(ps)), float(np.mean(ss)), float(np.mean(ts)))
                print(f"x{scale} {ds:6s} {m:13s} {np.mean(ps):7.3f} dB  SSIM {np.mean(ss):.4f}  "
                      f"{np.mean(ts):.3f} s/img", flush=True)
    cols = [(ds, s) for s in scales for ds in datasets]
    lines = ["| Method | " + " | ".join(f"x{s} {ds}" for ds, s in cols) + " | s/img (mean) |",
             "|:---|" + "---:|" * (len(cols) + 1)]
    for m in methods:
        if not rows[m]:
            continue
        cells = [f"{rows[m][c][0]:.2f} / {rows[m][c][1]:.4f}" if c in rows[m] else "-" for c in cols]
        t = np.mean([v[2] for v in rows[m].values()])
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {t:.3f} |")
    for name, vals in PUBLISHED.items():
        lines.append(f"| {name} | " + " | ".join(f"{vals[c]:.2f}" if c in vals else "-" for c in cols) + " | - |")
    table = "\n".join(lines)
    print("\nY-PSNR (dB) / SSIM, crop = scale" + (f", first {args.limit} images" if args.limit else ""))
    print(table)
    (out_dir / "table.md").write_text(table + "\n")
    (out_dir / "result.json").write_text(json.dumps(
        {"command": " ".join(sys.argv), "rows": {m: {f"{d}x{s}": v for (d, s), v in r.items()} for m, r in rows.items()}},
        indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    images = [p for d in TRAIN_SETS for p in dataset_images(d)]
    print(f"training x{args.scale} on {len(images)} images ({', '.join(TRAIN_SETS)})", flush=True)
    t0 = time.perf_counter()
    model = PatchSR.fit(images, args.scale, max_patches=args.patches, n_anchors=args.anchors,
                        neighbours=args.neighbours, rng=args.seed, verbose=True)
    out = Path(args.output) if args.output else default_model_path(args.scale)
    model.meta["training_sets"] = list(TRAIN_SETS)
    model.meta["training_command"] = " ".join(["python", *sys.argv])
    model.save(out, dtype=args.dtype)
    print(f"{model} -> {out} ({out.stat().st_size / 2**20:.2f} MiB) in {time.perf_counter() - t0:.0f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="Set5/Set14 table")
    e.add_argument("--scales", default="2,4")
    e.add_argument("--datasets", default="Set5,Set14")
    e.add_argument("--methods", default="nearest,bilinear,bicubic,lanczos,patch-sr")
    e.add_argument("--limit", type=int, default=0, help="first N images of each set (0: all)")
    e.add_argument("--out", default="results/classical_sr")
    t = sub.add_parser("train", help="train a patch SR model")
    t.add_argument("--scale", type=int, required=True)
    t.add_argument("--anchors", type=int, default=1024)
    t.add_argument("--patches", type=int, default=2_000_000)
    t.add_argument("--neighbours", type=int, default=2048)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="int8", choices=("int8", "float16", "float32"))
    t.add_argument("--output", default="", help="default: the shipped model path")
    args = ap.parse_args(argv)
    cmd_eval(args) if args.cmd == "eval" else cmd_train(args)


if __name__ == "__main__":
    main()
