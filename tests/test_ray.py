"""The batch job on Ray Data: same bytes as the local engine, failures reported, resumable.

The Ray test needs the ``distributed`` extra (``ray[data]``) and is skipped without it; the
actor class itself is tested without Ray.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restora.batch import run_batch
from restora.distributed import RestoreActor
from restora.io import write_image
from restora.pipeline import RestorePipeline

OPTIONS = {"steps": ["denoise:gaussian", "upscale:bicubic"], "scale": 2}
PIPELINE = {"prefer": "classical", "device": "cpu"}


def make_inputs(root: Path, n: int = 5) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        write_image(root / f"im{i}.png", rng.random((24, 32, 3), dtype=np.float32))
    write_image(root / "gray16.png", rng.random((20, 20, 1), dtype=np.float32), bit_depth=16)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")


def test_restore_actor_runs_rows_without_ray(tmp_path):
    make_inputs(tmp_path / "in", 2)
    actor = RestoreActor(PIPELINE, 95, False, OPTIONS)
    srcs = [str(tmp_path / "in" / "im0.png"), str(tmp_path / "in" / "broken.png")]
    dsts = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    out = actor({"src": np.array(srcs, dtype=object), "dst": np.array(dsts, dtype=object)})
    assert list(out["status"]) == ["done", "failed"]
    assert "broken.png" in out["error"][1] and '"gaussian"' in out["steps"][0]
    assert Path(dsts[0]).is_file() and not Path(dsts[1]).exists()


@pytest.mark.slow
def test_ray_batch_matches_local_batch_byte_for_byte(tmp_path):
    pytest.importorskip("ray.data")
    from restora.distributed import run_ray_batch

    src = tmp_path / "in"
    make_inputs(src)
    local = run_batch(src, tmp_path / "local", pipeline=RestorePipeline(**PIPELINE), workers=2, **OPTIONS)
    seen = []
    ray_report = run_ray_batch(src, tmp_path / "ray", concurrency=2, pipeline_options=PIPELINE, progress=lambda d, t, it: seen.append(d), **OPTIONS)
    assert (ray_report.done, ray_report.failed) == (local.done, local.failed) == (6, 1)
    assert ray_report.engine == "ray" and seen[-1] == 7
    failed = next(i for i in ray_report.items if i.status == "failed")
    assert failed.src == str(src / "broken.png") and "broken.png" in failed.error
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ray").iterdir()) and len(names) == 6
    for name in names:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    # rerun (the broken file removed): every output exists, so the driver skips all of
    # them and Ray is not even started
    import ray

    (src / "broken.png").unlink()
    again = run_ray_batch(src, tmp_path / "ray", concurrency=2, pipeline_options=PIPELINE, **OPTIONS)
    assert (again.done, again.skipped, again.failed) == (0, 6, 0)
    assert not ray.is_initialized()
