"""Where blind deblurring of a noise-free motion-blurred photo loses to the true kernel (issue 15, session 33).

Training photos only (CBSD432): each sample is one photo blurred by one kernel of the
real-motion bank (``kernels/motion32``), 8-bit rounded, nothing else: the restore-auto
bench's pure-motion case, where ``restore`` sits 8-10 dB under the oracle. For each sample
``restore``'s plan gives the searched support; then every estimator variant of
``VARIANTS`` (options of :func:`restora.classical.blind.estimate_kernel`, or a different
support) estimates a kernel, and each kernel is used by the non-blind deconvolutions of
``DECONV`` (hyper-Laplacian MAP at a level, or plug-and-play). The true kernel is scored
the same way. PSNR against the clean photo up to the bench's translation; one JSON line
per photo, and a mean table at the end::

    OMP_NUM_THREADS=1 python benchmarks/blind_motion_study.py OUT.jsonl --count 12 --seed 3
    python benchmarks/blind_motion_study.py OUT.jsonl --table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: estimator variants: name -> (support multiplier, estimate_kernel options)
VARIANTS: dict[str, tuple[float, dict[str, Any]]] = {
    "default": (1.0, {}),
    "whole": (1.0, {"subpixel": False}),
    "refine2": (1.0, {"subpixel": False, "refine": 2}),
    "refine4": (1.0, {"subpixel": False, "refine": 4}),
    "it3": (1.0, {"iterations": 3}),
    "it10": (1.0, {"iterations": 10}),
    "ks1.4": (1.4, {}),
    "kw0.05": (1.0, {"kernel_weight": 0.05}),
    "thr0.02": (1.0, {"threshold": 0.02}),
}


def _deconv() -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    from restora.classical.deconvolve import map_deconvolution

    return {
        "map1": lambda x, k: map_deconvolution(x, k, prior="hyper-laplacian", sigma=1.0),
        "map1.5": lambda x, k: map_deconvolution(x, k, prior="hyper-laplacian", sigma=1.5),
        "map2": lambda x, k: map_deconvolution(x, k, prior="hyper-laplacian", sigma=2.0),
        "map3": lambda x, k: map_deconvolution(x, k, prior="hyper-laplacian", sigma=3.0),
    }


def _odd(n: float) -> int:
    m = int(round(n))
    return m + (1 - m % 2)


def run(out: Path, count: int, seed: int, variants: list[str]) -> None:
    from restora.bench.restore_auto import _pipeline
    from restora.bench.runner import _read
    from restora.classical.blind import estimate_kernel
    from restora.data import data_root
    from restora.degrade.realistic import apply_damage, motion_kernel_bank

    from deblur_sigma_study import _score  # same scoring as the session-30 study

    pipe = _pipeline("cpu")
    deconv = _deconv()
    gen = np.random.default_rng(seed)
    bank, files = motion_kernel_bank(), sorted((data_root() / "train" / "CBSD432").glob("*"))
    with open(out, "a") as fh:
        for _ in range(count):
            p = files[int(gen.integers(len(files)))]
            ref = _read(p)
            kname = bank[int(gen.integers(len(bank)))].name
            dmg = apply_damage(ref, {"steps": [{"kind": "motion_blur", "kernel_name": kname, "source": "kernels/motion32", "seed": int(gen.integers(1 << 30))}]})
            img = np.round(np.clip(dmg.image, 0, 1) * 255) / 255
            true_k = np.asarray(dmg.record["steps"][0]["kernel"], np.float64)
            shift = true_k.shape[0] // 2
            plan = pipe.plan(img)
            d = plan.step("deblur")
            ks = int(d.params["kernel_size"]) if d is not None and "kernel_size" in d.params else 31
            row: dict[str, Any] = {"img": p.stem, "kernel": kname, "true_size": int(true_k.shape[0]), "ks": ks,
                                   "planned": d is not None, "none": _score(img, ref, shift)}
            row["true"] = {n: _score(f(img, true_k), ref, shift) for n, f in deconv.items()}
            for v in variants:
                mult, opts = VARIANTS[v]
                t0 = time.perf_counter()
                size = min(_odd(ks * mult), min(img.shape[:2]) // 2 - 1)
                k = estimate_kernel(img, size, **opts)
                row[v] = {n: _score(f(img, k), ref, shift) for n, f in deconv.items()}
                row[v]["s"] = round(time.perf_counter() - t0, 1)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(p.stem, kname, ks, {k: (round(v["map2"], 2) if isinstance(v, dict) else v) for k, v in row.items() if k not in ("img", "kernel")}, flush=True)


def table(path: Path) -> None:
    rows = [json.loads(line) for line in open(path)]
    keys = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    cols = [c for c in rows[0]["true"]]
    print(f"{len(rows)} photos; none {np.mean([r['none'] for r in rows]):.2f} dB")
    print("| kernel | " + " | ".join(cols) + " | s |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for k in keys:
        have = [r for r in rows if k in r]
        s = np.mean([r[k].get("s", 0) for r in have])
        print(f"| {k} ({len(have)}) | " + " | ".join(f"{np.mean([r[k][c] for r in have]):.2f}" for c in cols) + f" | {s:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--table", action="store_true", help="print the mean table of OUT and stop")
    args = ap.parse_args()
    if args.table:
        table(args.out)
        return
    run(args.out, args.count, args.seed, args.variants.split(","))


if __name__ == "__main__":
    main()
