"""Deblurs dropped for ending above the original input's NIQE after a trusted JPEG step
(:data:`restora.pipeline.check.DEBLUR_INPUT_NIQE_MARGIN`): what a wider margin would keep
(issue 15, session 34).

Synthetic: the restore-auto bench's seeded chains (seed 0) that hold blur and JPEG, PSNR up
to the bench's translation; ``PolyU``: the real camera JPEGs, the path given as a user would,
PSNR against the averaged reference (optionally only the files a list names). One JSON line
per image; where the rule fired, ``relaxed`` is the PSNR with the wider margin::

    OMP_NUM_THREADS=1 python benchmarks/deblur_margin_study.py CBSD68 2.0 > cbsd68.jsonl
    OMP_NUM_THREADS=1 python benchmarks/deblur_margin_study.py PolyU 2.0 LIST.txt > polyu.jsonl
"""

from __future__ import annotations

import argparse
import glob
import json
from typing import Any, Callable, Iterator

import numpy as np


def _dropped_by_input(result: Any) -> bool:
    return any(s.name == "deblur" and s.dropped and "original input" in s.dropped for s in result.plan.steps)


def _cases(dataset: str, names: set[str] | None) -> Iterator[tuple[dict[str, Any], np.ndarray, str | None, Callable[[np.ndarray], float]]]:
    from restora.bench.runner import _read, score_output
    from restora.bench.tasks import get_task
    from restora.data import data_root
    from restora.io import read_image
    from restora.metrics import psnr

    if dataset == "PolyU":
        for f in sorted(glob.glob(str(data_root() / "test" / "PolyU" / "*_real.JPG"))):
            name = f.split("/")[-1]
            if names is not None and name not in names:
                continue
            noisy, mean = read_image(f), read_image(f.replace("_real", "_mean"))
            yield {"image": name, "input": psnr(noisy, mean)}, noisy, f, lambda out, m=mean: psnr(np.clip(out, 0, 1), m)
        return
    task = get_task("restore-auto")
    for path in sorted((data_root() / "test" / dataset).glob("*.*")):
        sample = task.make_sample(_read(path), name=path.stem, seed=0)
        kinds = sample.record.get("kinds") or []
        if "jpeg" in kinds and {"motion_blur", "defocus_blur"} & set(kinds):
            yield ({"image": path.stem, "kinds": kinds}, sample.degraded, None,
                   lambda out, s=sample: score_output(s, out, task, {"psnr": psnr})["psnr"])


def main() -> None:
    import restora.pipeline.check as check
    from restora.pipeline.core import RestorePipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="PolyU or a test folder name (CBSD68, Kodak24)")
    parser.add_argument("margin", type=float, help="the wider margin to try")
    parser.add_argument("names", nargs="?", help="PolyU only: a file listing the *_real.JPG names to run")
    args = parser.parse_args()
    names = set(open(args.names).read().split()) if args.names else None
    pipe = RestorePipeline(device="cpu")
    shipped = check.DEBLUR_INPUT_NIQE_MARGIN
    for row, img, path, score in _cases(args.dataset, names):
        check.DEBLUR_INPUT_NIQE_MARGIN = shipped
        result = pipe.restore(img, path=path)
        row.update(auto=score(result.image), hit=_dropped_by_input(result))
        if row["hit"]:
            check.DEBLUR_INPUT_NIQE_MARGIN = args.margin
            wider = pipe.restore(img, path=path)
            row["relaxed"] = score(wider.image)
            row["relaxed_steps"] = [s.name + (f"(dropped: {s.dropped})" if s.dropped else "") for s in wider.plan.steps]
        check.DEBLUR_INPUT_NIQE_MARGIN = shipped
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
