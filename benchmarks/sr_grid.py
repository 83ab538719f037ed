"""A PNG grid of matching crops for super-resolution methods: LR | methods... | HR.

The LR inputs are exactly the benchmark task's (same seed per image as ``restora bench``),
the crop of each image is the window with the most detail (``restora.bench.figures.detail_box``).

    python benchmarks/sr_grid.py --task sr-realesrgan-x4 --dataset Set14 \\
        --methods bicubic,edsr-x4,runs/edsr-blind-x4/edsr-blind-x4.safetensors \\
        --images baboon,comic,zebra --out results/sr_grid.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from restora import io as rio
from restora.bench.datasets import resolve_dataset
from restora.bench.figures import crop, crop_grid, detail_box
from restora.bench.methods import resolve_methods
from restora.bench.tasks import get_task, quantize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="sr-realesrgan-x4")
    ap.add_argument("--dataset", default="Set14")
    ap.add_argument("--methods", required=True, help="comma-separated catalogue names or weights files")
    ap.add_argument("--labels", default="", help="column labels for the methods (comma-separated)")
    ap.add_argument("--images", default="", help="image names (file stems); default: the first 3")
    ap.add_argument("--crop", type=int, default=128, help="crop side in HR pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/sr_grid.png"))
    args = ap.parse_args()
    task = get_task(args.task)
    data = resolve_dataset(args.dataset, task)
    wanted = [s for s in args.images.split(",") if s]
    files = [f for f in data.images if f.stem in wanted] if wanted else list(data.images[:3])
    methods = resolve_methods([m for m in args.methods.split(",") if m], task)
    names = [s for s in args.labels.split(",") if s] or [m.name for m in methods]
    rows = []
    for f in files:
        sample = task.make_sample(rio.read_image(f), name=f.stem, seed=args.seed)
        hr = sample.reference
        box = detail_box(hr, min(args.crop, *hr.shape[:2]), multiple=int(sample.condition.get("scale", 1)))
        outs = [quantize(np.asarray(m.restorer(sample.degraded, **sample.condition), np.float32)) for m in methods]
        rows.append([crop(sample.degraded, box, hr.shape)] + [crop(o, box, hr.shape) for o in outs] + [crop(hr, box, hr.shape)])
        print(f"{f.stem}: crop {box}")
    grid = crop_grid(rows, ["LR"] + names + ["HR"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rio.write_image(args.out, grid, bit_depth=8, overwrite=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
