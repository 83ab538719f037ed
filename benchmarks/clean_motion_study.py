"""Noise-free camera shake in the restore-auto bench: where the gap to the oracle comes from
(issue 15, session 35).

For every restore-auto sample (seed 0) whose only damage is a motion blur, the plan's blind
kernel (the deblur step's support) is deconvolved (MAP, hyper-Laplacian) at several noise
floors, and the true kernel at the oracle's; PSNR up to the bench's translation. The kernel
estimate is compared with the truth by its best normalised correlation over shifts::

    OMP_NUM_THREADS=1 python benchmarks/clean_motion_study.py CBSD68 [Kodak24 ...] > out.jsonl
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.signal import correlate2d

FLOORS = (1.0, 1.5, 2.0, 3.0)


def kernel_match(est: np.ndarray, true: np.ndarray) -> float:
    """The best normalised cross-correlation of two kernels over all shifts (1: same shape)."""
    a, b = est / np.linalg.norm(est), true / np.linalg.norm(true)
    return float(correlate2d(a, b, mode="full").max())


def main() -> None:
    from restora.bench.restore_auto import ORACLE_DEBLUR_SIGMA
    from restora.bench.runner import _read, score_output
    from restora.bench.tasks import get_task
    from restora.classical.blind import estimate_kernel
    from restora.classical.deconvolve import map_deconvolution
    from restora.data import data_root
    from restora.metrics import psnr
    from restora.pipeline.core import RestorePipeline

    task = get_task("restore-auto")
    pipe = RestorePipeline(device="cpu")
    for dataset in sys.argv[1:]:
        for path in sorted((data_root() / "test" / dataset).glob("*.*")):
            sample = task.make_sample(_read(path), name=path.stem, seed=0)
            if (sample.record.get("kinds") or []) != ["motion_blur"]:
                continue
            score = lambda out, s=sample: score_output(s, np.clip(out, 0, 1), task, {"psnr": psnr})["psnr"]
            true = np.asarray(next(s for s in sample.record["steps"] if s["kind"] == "motion_blur")["kernel"], np.float64)
            img = sample.degraded
            plan = pipe.plan(img)
            deblur = next((s for s in plan.steps if s.name == "deblur"), None)
            row = {"dataset": dataset, "image": path.stem, "input": score(img), "true_px": int(max(true.shape)),
                   "plan": [s.name for s in plan.steps], "blur": plan.analysis.get("blur", {}).get("size_px")}
            auto = pipe.run(img, plan)
            row["auto"] = score(auto.image)
            row["auto_dropped"] = [s.name for s in auto.plan.steps if s.dropped]
            row["oracle"] = score(map_deconvolution(img, true / true.sum(), prior="hyper-laplacian", sigma=ORACLE_DEBLUR_SIGMA))
            ks = int(deblur.params.get("kernel_size", 0)) if deblur is not None else 0
            if ks:
                est = estimate_kernel(img, ks)
                row["kernel_size"] = ks
                row["match"] = round(kernel_match(est, true), 3)
                for f in FLOORS:
                    row[f"est_s{f:g}"] = score(map_deconvolution(img, est, prior="hyper-laplacian", sigma=f))
                row["true_s3"] = score(map_deconvolution(img, true / true.sum(), prior="hyper-laplacian", sigma=3.0))
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
