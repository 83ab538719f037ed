"""Which plans the camera-shake halves rule moves (issue 15, session 34).

Each image's ``restore`` plan with the halves rule of session 33 (the two halves' blur sizes
within 2x only: :data:`restora.classical.estimate.SHAKE_ANGLE_TOLERANCE_DEG` set to -1) and
with the shipped rule (also: both halves motion along one direction). One JSON line per
image, ``changed`` when the step lists differ. ``levin``: Levin et al.'s blurred photos as
they are; otherwise a test folder with the restore-auto bench's seeded damage (seed 0)::

    OMP_NUM_THREADS=1 python benchmarks/shake_plan_diff.py levin > plans-levin.jsonl
    OMP_NUM_THREADS=1 python benchmarks/shake_plan_diff.py CBSD68 > plans-cbsd68.jsonl
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Iterator

import numpy as np


def _steps(plan: Any) -> list[list[Any]]:
    keep = ("kernel_size", "sigma", "quality")
    return [[st.name, {k: v for k, v in st.params.items() if k in keep}] for st in plan.steps]


def _images(which: str) -> Iterator[tuple[str, Any, np.ndarray]]:
    from restora.bench.runner import _read
    from restora.bench.tasks import get_task
    from restora.data import data_root
    from restora.io import read_image

    if which == "levin":
        for path in sorted((data_root() / "test" / "Levin" / "blurred").glob("*.png")):
            img = np.asarray(read_image(path), np.float32)
            yield path.stem, "levin", img[:, :, None] if img.ndim == 2 else img
        return
    task = get_task("restore-auto")
    for path in sorted((data_root() / "test" / which).glob("*.*")):
        sample = task.make_sample(_read(path), name=path.stem, seed=0)
        yield path.stem, sample.record.get("kinds"), sample.degraded


def main() -> None:
    import restora.classical.estimate as estimate
    from restora.bench.restore_auto import _pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="'levin' or a test folder name (e.g. CBSD68, Kodak24)")
    args = parser.parse_args()
    pipe = _pipeline("cpu")
    shipped = estimate.SHAKE_ANGLE_TOLERANCE_DEG
    for name, kinds, img in _images(args.dataset):
        plans = []
        for tolerance in (-1.0, shipped):
            estimate.SHAKE_ANGLE_TOLERANCE_DEG = tolerance
            plans.append(_steps(pipe.plan(img)))
        estimate.SHAKE_ANGLE_TOLERANCE_DEG = shipped
        print(json.dumps({"image": name, "kinds": kinds, "changed": plans[0] != plans[1], "old": plans[0], "new": plans[1]}), flush=True)


if __name__ == "__main__":
    main()
