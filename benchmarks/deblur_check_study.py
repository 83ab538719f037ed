"""What the never-worse check does to `restore`'s deblur steps (issue 15), with references.

For every bench image whose damage includes blur (restore-auto's seeded damage on CBSD68 /
Kodak24) and for PolyU photos whose plan had a deblur step, run ``restore`` with no options,
record the deblur step's no-reference verdict (:func:`restora.pipeline.check.judge_step`:
NIQE, fine-scale noise, kernel agreement), the blur size the analysis measured, the extent
of the blind kernel, and the PSNR of the step's input and output against the reference
(blurred images up to the bench's translation), i.e. what keeping the step would gain::

    OMP_NUM_THREADS=1 python benchmarks/deblur_check_study.py OUT.jsonl CBSD68 Kodak24 PolyU
    python benchmarks/deblur_check_study.py --table OUT.jsonl

PolyU rows need ``benchmarks/results/restore-polyu-s27/images.json`` (which photos had a
deblur step planned) and are run with their file path, as a user would (the JPEG tables).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

POLYU_PLANS = Path("benchmarks/results/restore-polyu-s27/images.json")


def _aligned_psnr(ref: np.ndarray, x: np.ndarray, shift: int) -> float:
    """PSNR of the 8-bit ``x`` against ``ref`` as the bench scores blurred images: moved by the
    best integer shift up to ``shift`` px (:func:`restora.bench.runner.align_to`), border cropped."""
    from restora.bench.runner import align_to
    from restora.metrics import psnr

    q = align_to(np.round(np.clip(x, 0, 1) * 255) / 255, ref, shift)
    h, w = ref.shape[:2]
    return psnr(ref[shift : h - shift, shift : w - shift], q[shift : h - shift, shift : w - shift])


def _items(datasets: list[str]) -> list[tuple[str, str, np.ndarray, np.ndarray, int, str | None]]:
    from restora.bench.runner import _read
    from restora.bench.tasks import get_task
    from restora.data import data_root, dataset_images

    task = get_task("restore-auto")
    items = []
    for ds in datasets:
        if ds == "PolyU":
            for row in json.loads(POLYU_PLANS.read_text()):
                if any(s.startswith("deblur") for s in row["steps"]):
                    f = data_root() / "test" / "PolyU" / row["image"]
                    items.append((ds, row["image"], _read(f), _read(Path(str(f).replace("_real", "_mean"))), 0, str(f)))
            continue
        for p in dataset_images(ds):
            s = task.make_sample(_read(p), name=p.stem, seed=0)
            if any(k in s.record.get("kinds", []) for k in ("motion_blur", "defocus_blur")):
                items.append((ds, p.stem, s.degraded, s.reference, int(s.record.get("score_align", 0)), None))
    return items


def run(out: Path, datasets: list[str]) -> None:
    """Append one JSON line per image to ``out``."""
    import restora.pipeline.check as check
    from restora.pipeline import RestorePipeline

    seen: dict[str, Any] = {}
    judge = check.judge_step

    def spy(name: str, before: np.ndarray, after: np.ndarray, params: dict | None = None, **kw: Any) -> Any:
        verdict = judge(name, before, after, params, **kw)
        if name == "deblur":
            seen.update(before=before, after=after, verdict=verdict)
        return verdict

    check.judge_step = spy  # the pipeline imports it at call time
    pipe = RestorePipeline(device="cpu")
    with out.open("a") as fh:
        for ds, name, degraded, reference, shift, path in _items(datasets):
            seen.clear()
            result = pipe.restore(degraded, path=path) if path else pipe.restore(degraded)
            row: dict[str, Any] = {"dataset": ds, "image": name, "steps": [s.name + (" (dropped)" if s.dropped else "") for s in result.plan.steps],
                                   "blur": result.plan.analysis.get("blur")}
            step = result.plan.step("deblur")
            if step is not None and "verdict" in seen:
                v = seen["verdict"]
                row.update(keep=v.keep, reason=v.reason, params={k: v for k, v in step.params.items() if k != "_check"},
                           psnr_before=_aligned_psnr(reference, seen["before"], shift), psnr_after=_aligned_psnr(reference, seen["after"], shift))
            fh.write(json.dumps(row, default=float) + "\n")
            fh.flush()
            print(name, row.get("psnr_before"), row.get("psnr_after"), row.get("reason"), flush=True)


def table(path: Path) -> str:
    """Markdown: one row per deblur step, sorted by the kernel / measured blur ratio."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "psnr_before" in r]
    lines = ["| set | image | kept | gain if kept (dB) | measured blur px | kernel px | ratio | verdict |", "|---|---|---|---:|---:|---:|---:|---|"]
    def ratio(r: dict) -> float:
        p = r["params"]
        return p["_kernel_px"] / p["_blur_px"] if p.get("_kernel_px") and p.get("_blur_px") else float("nan")
    for r in sorted(rows, key=lambda r: (np.nan_to_num(ratio(r), nan=9.0))):
        p = r["params"]
        lines.append(f"| {r['dataset']} | {r['image'][:28]} | {'yes' if r['keep'] else 'no'} | {r['psnr_after'] - r['psnr_before']:+.2f} | "
                     f"{p.get('_blur_px', '')} | {p.get('_kernel_px', '')} | {ratio(r):.2f} | {r['reason']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("datasets", nargs="*", default=["CBSD68", "Kodak24", "PolyU"])
    ap.add_argument("--table", action="store_true", help="print the markdown table of OUT instead of running")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.out))
    else:
        run(args.out, args.datasets)


if __name__ == "__main__":
    main()
