"""The batch job on Ray Data: the same per-image work, spread over a cluster.

``ray.data.from_items(tasks).map_batches(RestoreActor, compute=ActorPoolStrategy(size=N))``
(``concurrency=N`` on Ray releases before 2.51): each actor builds one
:class:`~restora.pipeline.RestorePipeline` (so each worker loads a model once) and runs
:func:`restora.batch.restore_one` on its rows, writing outputs with restora's atomic writer
from the worker. The driver lists the folder, skips outputs that already exist (resumable)
and gathers the per-image results into the usual :class:`~restora.batch.BatchReport`.
Inputs and outputs must be on storage every worker sees (a local instance, or a shared
file system on a cluster).
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from restora.batch.job import BatchItem, BatchProgress, BatchReport, BatchTask, restore_one, start_ledger
from restora.errors import InvalidParameterError, MissingResourceError

__all__ = ["RestoreActor", "import_ray", "run_ray_batch"]


def import_ray() -> Any:
    """``import ray`` (with Ray Data), or :class:`MissingResourceError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("ray", "pyarrow", "pandas"):
            raise MissingResourceError("--engine ray needs Ray Data: pip install 'restora[distributed]' (ray[data])") from None
        raise
    return ray


class RestoreActor:
    """A Ray Data callable class: one pipeline per actor, one image per row.

    Rows carry ``src`` and ``dst``; the returned batch adds ``status``, ``error``, ``steps``
    and ``timings`` (JSON text) and ``seconds``.
    """

    def __init__(self, pipeline_options: dict[str, Any], quality: int, overwrite: bool, plan_options: dict[str, Any]) -> None:
        from restora.pipeline import RestorePipeline

        self.pipeline = RestorePipeline(**pipeline_options)
        self.quality = quality
        self.overwrite = overwrite
        self.plan_options = plan_options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[Any]] = {k: [] for k in ("src", "dst", "status", "error", "steps", "timings", "seconds")}
        for src, dst in zip(batch["src"], batch["dst"]):
            item = restore_one(self.pipeline, BatchTask(str(src), str(dst)), quality=self.quality, overwrite=self.overwrite, **self.plan_options)
            out["src"].append(item.src)
            out["dst"].append(item.dst)
            out["status"].append(item.status)
            out["error"].append(item.error or "")
            out["steps"].append(json.dumps(item.steps))
            out["timings"].append(json.dumps(item.timings))
            out["seconds"].append(item.seconds)
        return {k: np.asarray(v, dtype=np.float64 if k == "seconds" else object) for k, v in out.items()}


def _pool(ray: Any, size: int) -> dict[str, Any]:
    """A fixed pool of ``size`` actors: ``compute=ActorPoolStrategy(size=...)`` on current Ray
    (``concurrency=`` is deprecated since Ray 2.51), ``concurrency=`` on older releases."""
    strategy = getattr(ray.data, "ActorPoolStrategy", None)
    if strategy is not None:
        try:
            return {"compute": strategy(size=size)}
        except TypeError:  # Ray < 2.10 has no ``size``
            pass
    return {"concurrency": size}


def _map_restore(ds: Any, ray: Any, pipeline_options: Any, quality: int, overwrite: bool, plan_options: dict[str, Any],
                 concurrency: int, num_gpus_per_worker: float | None) -> Any:
    """``ds.map_batches`` over :class:`RestoreActor`, one image per call, a fixed actor pool.

    No actor restarts (``max_restarts=0``): with Ray Data's default (restart forever, the
    constructor arguments in the object store) Ray's core worker prints an error line on
    every successful run; a dead actor now fails the run, and the ledger resumes it."""
    return ds.map_batches(
        RestoreActor,
        fn_constructor_kwargs={
            "pipeline_options": dict(pipeline_options or {}),
            "quality": int(quality),
            "overwrite": bool(overwrite),
            "plan_options": dict(plan_options),
        },
        batch_size=1,
        num_cpus=1,
        **_pool(ray, concurrency),
        num_gpus=num_gpus_per_worker or None,
        max_restarts=0,
    )


def run_ray_batch(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    address: str | None = None,
    concurrency: int = 2,
    pipeline_options: dict[str, Any] | None = None,
    format: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
    recursive: bool = True,
    num_gpus_per_worker: float = 0.0,
    progress: BatchProgress | None = None,
    shutdown: bool = True,
    **plan_options: Any,
) -> BatchReport:
    """:func:`restora.batch.run_batch` on Ray: ``concurrency`` actors, each holding one model.

    ``address`` joins a running cluster (``"auto"`` or ``"ray://host:10001"``); without it a
    local Ray instance is started with ``concurrency`` CPUs (and shut down afterwards when
    ``shutdown`` and this call started it). ``pipeline_options`` are the
    :class:`~restora.pipeline.RestorePipeline` arguments (``device``, ``model``, ...), sent to
    each actor; ``num_gpus_per_worker`` reserves GPUs per actor on a GPU cluster.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidParameterError(f"concurrency (--workers) must be an integer >= 1; got {concurrency!r}")
    ray = import_ray()
    out_root = Path(out_dir)
    t_start = time.perf_counter()
    ledger, pending = start_ledger(in_dir, out_root, format=format, recursive=recursive, overwrite=overwrite, progress=progress)
    finish = ledger.finish
    todo = [{"src": str(Path(t.src).resolve()), "dst": str(Path(t.dst).resolve()), "task": t} for t in pending]

    started_here = False
    if todo:
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=max(concurrency, 1), **kwargs)
            started_here = True
        try:
            ctx = ray.data.DataContext.get_current()
            if progress is not None:  # the caller shows its own progress: keep Ray Data quiet
                logging.getLogger("ray.data").setLevel(logging.ERROR)  # also its "progress bars disabled" warning
                ctx.enable_progress_bars = False
            by_src = {r["src"]: r["task"] for r in todo}
            ds = ray.data.from_items([{"src": r["src"], "dst": r["dst"]} for r in todo])
            with warnings.catch_warnings():  # max_restarts has no named parameter yet (Ray 2.60)
                warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
                ds = _map_restore(ds, ray, pipeline_options, quality, overwrite, plan_options, concurrency, num_gpus_per_worker)
            for row in ds.iter_rows():
                task = by_src.get(str(row["src"]), BatchTask(str(row["src"]), str(row["dst"])))
                finish(
                    BatchItem(
                        task.src,
                        task.dst,
                        str(row["status"]),
                        str(row["error"]) or None,
                        json.loads(str(row["steps"])),
                        json.loads(str(row["timings"])),
                        float(row["seconds"]),
                    )
                )
        finally:
            if started_here and shutdown:
                ray.shutdown()
    return BatchReport(ledger.ordered(), time.perf_counter() - t_start, "ray", concurrency)
