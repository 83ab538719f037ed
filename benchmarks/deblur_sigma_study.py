"""Which deconvolution level a blind motion kernel wants on noisy photos (issue 15, session 30).

Training photos only (CBSD432). Two kinds of samples:

* ``chains``: every ``--step``-th photo through restore-auto's own seeded damage
  (``make_sample``), kept when the chain has motion blur;
* ``camera``: seeded chains built here: a bank motion kernel, camera noise at ISO 400-1600,
  and JPEG 40-90 (4:2:0) three times in four.

For each, ``restore``'s planned ``jpeg``/``denoise`` steps run, the blind kernel is estimated
once with the planned support, and the image is deconvolved (hyper-Laplacian MAP) at each
level of ``LEVELS``; PSNR against the clean photo up to the bench's translation. One JSON
line per photo (the analysis's noise reading and kind, the steps, every level's PSNR)::

    OMP_NUM_THREADS=1 python benchmarks/deblur_sigma_study.py chains OUT.jsonl --count 24
    OMP_NUM_THREADS=1 python benchmarks/deblur_sigma_study.py camera OUT.jsonl --count 16 --seed 7
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

LEVELS = (3, 4, 5, 6.5, 8)


def _score(x: np.ndarray, ref: np.ndarray, shift: int) -> float:
    from restora.bench.runner import align_to
    from restora.metrics import psnr

    q = align_to(np.round(np.clip(x, 0, 1) * 255) / 255, ref, shift)
    h, w = ref.shape[:2]
    return float(psnr(ref[shift : h - shift, shift : w - shift], q[shift : h - shift, shift : w - shift]) if shift else psnr(ref, q))


def _photos() -> list[Path]:
    from restora.data import data_root

    return sorted((data_root() / "train" / "CBSD432").glob("*"))


def chain_samples(step: int) -> Iterator[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]:
    from restora.bench.runner import _read
    from restora.bench.tasks import get_task

    task = get_task("restore-auto")
    for p in _photos()[::step]:
        s = task.make_sample(_read(p), name=p.stem, seed=0)
        if "motion_blur" in s.record.get("kinds", []):
            yield p.stem, s.degraded, s.reference, s.record


def camera_samples(seed: int) -> Iterator[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]:
    from restora.bench.runner import _read
    from restora.degrade.realistic import apply_damage, motion_kernel_bank

    gen = np.random.default_rng(seed)
    bank, files = motion_kernel_bank(), _photos()
    while True:
        p = files[int(gen.integers(len(files)))]
        ref = _read(p)
        steps: list[dict[str, Any]] = [
            {"kind": "motion_blur", "kernel_name": bank[int(gen.integers(len(bank)))].name, "source": "kernels/motion32", "seed": int(gen.integers(1 << 30))},
            {"kind": "camera_noise", "iso": int(gen.choice([400, 800, 1600])), "seed": int(gen.integers(1 << 30))},
        ]
        if gen.random() < 0.75:
            steps.append({"kind": "jpeg", "quality": int(gen.integers(40, 91)), "chroma_subsampling": "4:2:0", "seed": int(gen.integers(1 << 30))})
        out = apply_damage(ref, {"steps": steps})
        yield p.stem, out.image, ref, out.record


def study(samples: Iterator[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]], count: int, out: Path) -> None:
    from restora.bench.restore_auto import _pipeline
    from restora.pipeline.deblur import deblur_image
    from restora.pipeline.plan import Plan

    pipe = _pipeline("cpu")
    with open(out, "w") as fh:
        for n, (name, img, ref, record) in enumerate(samples):
            if n >= count:
                break
            shift = max(np.shape(st["kernel"])[0] for st in record["steps"] if "kernel" in st) // 2
            plan = pipe.plan(img)
            d = plan.step("deblur")
            if d is None or "kernel_size" not in d.params:
                print(name, "no deblur step planned", flush=True)
                continue
            pre = [st for st in plan.steps if st.name in ("jpeg", "denoise")]
            x = pipe.run(img, Plan(pre, plan.analysis)).image if pre else img
            k = deblur_image(x, method="blind", kernel_size=d.params["kernel_size"], sigma=3).kernel
            res = {str(s): _score(deblur_image(x, method="map", kernel=k, sigma=s).image, ref, shift) for s in LEVELS}
            a = plan.analysis
            row = {"img": name, "label": [(st["kind"], st.get("rms_sigma"), st.get("quality"), st.get("iso")) for st in record["steps"]],
                   "steps": [st.name for st in pre], "fine": a["noise_sigma"], "kind": (a.get("noise") or {}).get("kind"),
                   "q": a.get("jpeg_quality"), "none": _score(img, ref, shift), "pre": _score(x, ref, shift), "res": res}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(name, {k: round(v, 2) for k, v in res.items()}, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("chains", "camera"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=16, help="samples to draw (chains: photos with motion blur)")
    ap.add_argument("--step", type=int, default=3, help="chains: every STEP-th photo")
    ap.add_argument("--seed", type=int, default=7, help="camera: seed of the chains")
    args = ap.parse_args()
    samples = chain_samples(args.step) if args.kind == "chains" else camera_samples(args.seed)
    study(samples, args.count, args.out)


if __name__ == "__main__":
    main()
