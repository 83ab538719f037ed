"""Noise under JPEG (issue 15): what the estimators read, and which denoising sigma pays.

Training photos only (every 27th / 53rd CBSD432 image; no test image), seeded Gaussian noise
of std ``s``, then JPEG at quality ``q`` (4:2:0 or 4:4:4). Two tables:

* ``estimators``: the median over the photos of the fine-scale noise level function
  (``estimate_noise_level_function``, what ``restore`` read before session 30), the same at
  half resolution, and :func:`restora.classical.noise_level.estimate_noise_under_jpeg`
  (luma at half resolution), as a ratio to ``s``; and the largest reading on the clean
  photos (the false-alarm risk of texture).
* ``sigma``: on 256 px crops, ``restore``'s ``jpeg`` + ``denoise`` steps run with the
  analysis told noise sigma ``f * s`` for several factors ``f``: the mean PSNR gain over the
  input for each factor, i.e. which sigma the planner should hand the denoiser.

    OMP_NUM_THREADS=1 python benchmarks/jpeg_noise_study.py estimators OUT.json
    OMP_NUM_THREADS=1 python benchmarks/jpeg_noise_study.py sigma OUT.json
    python benchmarks/jpeg_noise_study.py table OUT.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

import numpy as np

SIGMAS = (0, 10, 25, 35, 50)
FACTORS = (0.3, 0.45, 0.6, 0.75, 0.9, 1.0, 1.15)


def _photos(step: int, start: int, count: int) -> list[Any]:
    from restora.data import data_root

    files = sorted((data_root() / "train" / "CBSD432").glob("*"))
    return files[start::step][:count]


def _noisy(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return (np.round(np.clip(img + rng.normal(0, s / 255, img.shape), 0, 1) * 255) / 255).astype(np.float32)


def _half(x: np.ndarray) -> np.ndarray:
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def estimators() -> list[dict[str, Any]]:
    from restora.classical.noise_level import estimate_noise_level_function as nlf
    from restora.classical.noise_level import estimate_noise_under_jpeg
    from restora.degrade.jpeg import jpeg
    from restora.io import read_image

    rng = np.random.default_rng(0)
    rows = []
    for f in _photos(27, 0, 16):
        img = np.asarray(read_image(f), np.float32)
        for s in SIGMAS:
            noisy = _noisy(img, s, rng)
            for q in (30, 50, 70, 90, None):
                for sub in ("4:2:0", "4:4:4") if q else (None,):
                    x = noisy if q is None else np.asarray(jpeg(noisy, q, chroma_subsampling=sub).image, np.float32)
                    fine = nlf(x)
                    rows.append({"photo": f.stem, "s": s, "q": q, "sub": sub, "fine": fine.sigma_mean, "kind": fine.kind,
                                 "half": 2 * nlf(_half(x)).sigma_mean, "under_jpeg": estimate_noise_under_jpeg(x)})
        print(f.stem, flush=True)
    return rows


def sigma_sweep() -> list[dict[str, Any]]:
    from restora.bench.restore_auto import _pipeline
    from restora.degrade.jpeg import jpeg
    from restora.io import read_image
    from restora.metrics import psnr
    from restora.pipeline.plan import Plan

    pipe = _pipeline("cpu")
    rng = np.random.default_rng(1)
    rows = []
    for f in _photos(53, 5, 8):
        img = np.asarray(read_image(f), np.float32)[:256, :256]
        for s in SIGMAS[1:]:
            noisy = _noisy(img, s, rng)
            for q, sub in ((30, "4:2:0"), (50, "4:2:0"), (70, "4:2:0"), (50, "4:4:4")):
                x = np.asarray(jpeg(noisy, q, chroma_subsampling=sub).image, np.float32)
                gains = {}
                for fac in FACTORS:
                    told = {"noise_sigma": fac * s, "jpeg_quality": float(q), "jpeg_source": "tables", "blur": {"sigma": 0.0},
                            "height": 256, "width": 256, "channels": 3}
                    plan = pipe.plan(x, steps=["jpeg", "denoise"], analysis=told)
                    y = pipe.run(x, Plan(plan.steps, plan.analysis)).image
                    gains[str(fac)] = float(psnr(np.clip(y, 0, 1), img) - psnr(x, img))
                rows.append({"photo": f.stem, "s": s, "q": q, "sub": sub, "gain": gains})
            print(f.stem, s, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["s"], r["q"] or 100, r["sub"] or "-")].append(r)
    if "gain" in rows[0]:
        out = ["| noise std | JPEG q | chroma | " + " | ".join(f"f = {f:g}" for f in FACTORS) + " |", "|---|---|---|" + "---:|" * len(FACTORS)]
        for k in sorted(groups):
            g = [np.mean([r["gain"][str(f)] for r in groups[k]]) for f in FACTORS]
            out.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(f"{v:+.2f}" for v in g) + " |")
        return "\n".join(out)
    out = ["| noise std | JPEG q | chroma | fine (median) | half-res RGB | under_jpeg | under_jpeg / std | under_jpeg max |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for k in sorted(groups):
        g = groups[k]
        med = {n: float(np.median([r[n] for r in g])) for n in ("fine", "half", "under_jpeg")}
        ratio = f"{med['under_jpeg'] / k[0]:.2f}" if k[0] else "-"
        out.append(f"| {k[0]} | {'none' if k[1] == 100 else k[1]} | {k[2]} | {med['fine']:.1f} | {med['half']:.1f} | "
                   f"{med['under_jpeg']:.1f} | {ratio} | {max(r['under_jpeg'] for r in g):.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("estimators", "sigma", "table"))
    ap.add_argument("path")
    args = ap.parse_args()
    if args.what == "table":
        print(table(json.load(open(args.path))))
        return
    rows = estimators() if args.what == "estimators" else sigma_sweep()
    with open(args.path, "w") as fh:
        json.dump(rows, fh)
    print(table(rows))


if __name__ == "__main__":
    main()
