"""JPEG step models on camera JPEGs and on clean colour JPEGs (issues 15/16, session 35).

For each model the ``jpeg`` step alone (forced with ``steps=["jpeg:MODEL"]``, so the
never-worse check does not intervene) on:

* PolyU's real camera JPEGs (``*_real`` against the averaged ``*_mean``; every STEP-th pair),
  RGB PSNR on the 8-bit output, quality from the pixels as in ``denoise-polyu``;
* LIVE1 colour images saved by libjpeg (4:2:0) at the given qualities, clean input: a model
  for camera JPEGs must not lose on a clean JPEG where the gray remover is made for it.

    python benchmarks/jpeg_camera_eval.py OUT.json MODEL [MODEL ...] [--step 4] [--qualities 60,75,90]

Candidate weights can be offered through ``RESTORA_CACHE`` (a folder with NAME.safetensors
and NAME.json); the package's zoo wins on a name clash.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--step", type=int, default=4, help="every STEP-th PolyU pair")
    ap.add_argument("--qualities", default="60,75,90", help="LIVE1 JPEG qualities ('' skips LIVE1)")
    ap.add_argument("--live1-images", type=int, default=10)
    args = ap.parse_args(argv)

    from restora.data import data_root, list_images
    from restora.degrade import jpeg
    from restora.io import read_image
    from restora.metrics import psnr
    from restora.pipeline import RestorePipeline

    pipe = RestorePipeline(device="cpu")
    rows: list[dict] = []

    def run(name: str, lq: np.ndarray, ref: np.ndarray, **info) -> None:
        row = {**info, "input": round(float(psnr(lq, ref)), 4)}
        for m in args.models:
            out = pipe.restore(lq, steps=[f"jpeg:{m}"]).image
            row[m] = round(float(psnr(np.round(np.clip(out, 0, 1) * 255) / 255, ref)), 4)
        rows.append(row)
        print(name, " ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), flush=True)

    polyu = sorted((data_root() / "test" / "PolyU").glob("*_real.JPG"))[:: args.step]
    for f in polyu:
        run(f.name, read_image(f), read_image(str(f).replace("_real", "_mean")), set="PolyU", image=f.name)
    qualities = [int(q) for q in args.qualities.split(",") if q]
    for f in list_images(data_root() / "test" / "LIVE1")[: args.live1_images]:
        ref = read_image(f)
        if ref.ndim == 2 or ref.shape[2] != 3:
            continue
        for q in qualities:
            run(f"{f.name} q{q}", jpeg(ref, q).image, ref, set=f"LIVE1-q{q}", image=f.name)

    summary = {}
    for s in sorted({r["set"] for r in rows}):
        sub = [r for r in rows if r["set"] == s]
        summary[s] = {k: round(float(np.mean([r[k] for r in sub])), 3) for k in ["input", *args.models]}
        summary[s]["n"] = len(sub)
    for s, v in summary.items():
        print(s, v)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"models": args.models, "summary": summary, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
