"""Run methods on a task's test sets and collect per-image scores, speed and memory.

For every image of every dataset the task makes one :class:`~restora.bench.tasks.Sample`
(seeded per image), every method restores it, and the output is scored with the task's
convention. Speed is the wall time of the restorer call alone (degradation, scoring and
I/O excluded), after one untimed warm-up call per method on a small crop of the first
input, reported as seconds per megapixel of *output*. Peak memory is the extra memory the
call needed (see :mod:`restora.bench.measure`).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from restora.bench.datasets import BenchDataset, resolve_dataset
from restora.bench.measure import PeakMemory, resolve_device
from restora.bench.methods import BenchMethod, MethodLike, resolve_methods
from restora.bench.published import published_results
from restora.bench.tasks import BenchTask, Sample, get_task
from restora.errors import InvalidParameterError, RestoraError
from restora.validation import as_image

__all__ = ["ImageScore", "ResultRow", "BenchResult", "run_benchmark", "score_output", "align_to", "METRICS"]

#: Metrics the harness can compute: name -> needs a reference.
METRICS: dict[str, bool] = {"psnr": True, "ssim": True, "lpips": True, "niqe": False, "id_sim": True, "id_dist": True, "niqe_x2": False}  # id_*: restora.metrics.identity (dlib); niqe_x2: metrics.niqe_x2
WARMUP_SIZE = 64


@dataclass(frozen=True)
class ImageScore:
    """The scores of one method on one image."""

    method: str
    dataset: str
    image: str
    height: int
    width: int
    scores: dict[str, float]
    seconds: float
    peak_mb: float | None


@dataclass(frozen=True)
class ResultRow:
    """Mean scores of one method on one dataset (measured here, or published)."""

    method: str
    dataset: str
    scores: dict[str, float | None]
    n_images: int | None  # None for published rows
    seconds_per_mp: float | None = None
    peak_mb: float | None = None
    params: int | None = None
    flops_per_pixel: float | None = None
    kind: str = ""
    published: bool = False
    citation: str | None = None
    error: str | None = None


@dataclass
class BenchResult:
    """Everything one benchmark run produced; see :mod:`restora.bench.report` for output."""

    task: str
    description: str
    datasets: list[str]
    methods: list[str]
    seed: int
    limit: int | None
    device: str
    metrics: tuple[str, ...]
    rows: list[ResultRow]  # measured rows (method x dataset), then published rows
    images: list[ImageScore]
    conventions: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def measured_rows(self) -> list[ResultRow]:
        return [r for r in self.rows if not r.published]

    @property
    def published_rows(self) -> list[ResultRow]:
        return [r for r in self.rows if r.published]

    def row(self, method: str, dataset: str) -> ResultRow:
        """The measured row of ``method`` on ``dataset``."""
        for r in self.measured_rows:
            if r.method == method and r.dataset == dataset:
                return r
        raise KeyError((method, dataset))

    def method_speed(self, method: str) -> tuple[float | None, float | None]:
        """``(seconds per output megapixel, peak MiB)`` of ``method`` over all its images."""
        imgs = [s for s in self.images if s.method == method]
        if not imgs:
            return None, None
        mp = sum(s.height * s.width for s in imgs) / 1e6
        peaks = [s.peak_mb for s in imgs if s.peak_mb is not None]
        return sum(s.seconds for s in imgs) / mp, (max(peaks) if peaks else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchResult":
        """Rebuild a result from :meth:`to_dict` output (e.g. a ``result.json``), to re-render it."""
        return cls(
            task=data["task"],
            description=data["description"],
            datasets=list(data["datasets"]),
            methods=list(data["methods"]),
            seed=int(data["seed"]),
            limit=data.get("limit"),
            device=data["device"],
            metrics=tuple(data["metrics"]),
            rows=[ResultRow(**r) for r in data["rows"]],
            images=[ImageScore(**s) for s in data["images"]],
            conventions=dict(data.get("conventions", {})),
            environment=dict(data.get("environment", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the whole result."""
        return {
            "task": self.task,
            "description": self.description,
            "datasets": self.datasets,
            "methods": self.methods,
            "seed": self.seed,
            "limit": self.limit,
            "device": self.device,
            "metrics": list(self.metrics),
            "conventions": self.conventions,
            "environment": self.environment,
            "rows": [asdict(r) for r in self.rows],
            "images": [asdict(s) for s in self.images],
        }


def _metric_functions(names: Sequence[str]) -> dict[str, Callable[..., float]]:
    import restora.metrics as m

    out: dict[str, Callable[..., float]] = {}
    for name in names:
        if name not in METRICS:
            raise InvalidParameterError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
        fn = getattr(m, name, None)
        if fn is None:
            have = ", ".join(k for k in METRICS if hasattr(m, k))
            raise InvalidParameterError(f"metric {name!r} is not available in restora.metrics; available: {have}")
        out[name] = fn
    return out


def score_output(
    sample: Sample,
    output: np.ndarray,
    task: BenchTask,
    metric_fns: dict[str, Callable[..., float]],
) -> dict[str, float]:
    """Score ``output`` against ``sample.reference`` with ``task``'s convention.

    The output is clipped to [0, 1] first; PSNR/SSIM get the task's crop, Y-channel and
    8-bit rounding settings (Y only for colour images). Other full-reference metrics get the
    cropped images; no-reference ones the cropped output.
    """
    ref = sample.reference
    if output.shape != ref.shape:
        raise InvalidParameterError(
            f"output of shape {output.shape} does not match the reference {ref.shape} for image {sample.name!r}"
        )
    out = np.clip(output, 0.0, 1.0).astype(np.float32, copy=False)
    sc = task.scoring
    y = sc.y_channel and ref.shape[2] == 3
    c = sample.crop
    if sample.align > 0:
        out = align_to(out, ref, sample.align)
        c = max(c, sample.align)
    scores: dict[str, float] = {}
    for name, fn in metric_fns.items():
        if name in ("psnr", "ssim"):
            scores[name] = float(fn(ref, out, crop=c, y_channel=y, data_range=1.0, round_to_uint8=sc.round_to_uint8))
            continue
        o = out[c : out.shape[0] - c, c : out.shape[1] - c] if c else out
        if sc.round_to_uint8:
            o = np.floor(o * 255.0 + 0.5) / 255.0
        if METRICS[name]:
            r = ref[c : ref.shape[0] - c, c : ref.shape[1] - c] if c else ref
            scores[name] = float(fn(r, o))
        else:
            scores[name] = float(fn(o))
    return scores


def align_to(output: np.ndarray, reference: np.ndarray, max_shift: int) -> np.ndarray:
    """``output`` moved by the integer shift (at most ``max_shift`` pixels each way) that best
    matches ``reference`` (least mean squared error on the interior); borders wrap, so score
    with a crop of at least ``max_shift``. Levin et al. (2009) score blind deblurring this way:
    a blind method recovers the kernel up to a translation."""
    s = int(max_shift)
    h, w = reference.shape[:2]
    if s <= 0 or h <= 2 * s or w <= 2 * s:
        return output
    r = reference[s : h - s, s : w - s]
    best, arg = np.inf, (0, 0)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            o = output[s + dy : h - s + dy, s + dx : w - s + dx]
            err = float(np.mean((o - r) ** 2))
            if err < best:
                best, arg = err, (dy, dx)
    return np.roll(output, (-arg[0], -arg[1]), axis=(0, 1))


def _center_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    t, l = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return np.ascontiguousarray(image[t : t + size, l : l + size])


def _environment(device: str) -> dict[str, Any]:
    import restora

    env: dict[str, Any] = {
        "restora": getattr(restora, "__version__", "?"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "device": device,
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(device)
    except ImportError:  # pragma: no cover
        pass
    return env


def _read(path: os.PathLike[str]) -> np.ndarray:
    from restora.io import read_image

    return np.asarray(read_image(path), dtype=np.float32)


def run_benchmark(
    methods: Sequence[MethodLike],
    task: str | BenchTask,
    datasets: Sequence[str | os.PathLike[str]] | None = None,
    *,
    seed: int = 0,
    limit: int | None = None,
    device: str | None = "cpu",
    metrics: Sequence[str] | None = None,
    published: bool = True,
    warmup: bool = True,
    progress: bool = True,
    strict: bool = False,
) -> BenchResult:
    """Benchmark ``methods`` on ``task`` over ``datasets`` (names or folders; default: the
    task's default sets) and return a :class:`BenchResult`.

    ``seed`` seeds each image's degradation (see :func:`restora.bench.tasks.image_rng`);
    ``limit`` keeps the first N images of each set; ``metrics`` defaults to the task's
    (PSNR and SSIM, NIQE on reference-free tasks); ``device`` is handed to neural
    restorers and selects how memory is measured. A restorer that raises on an image gets
    an ``error`` in its row for that dataset and is skipped for the rest of it (with
    ``strict=True`` the exception propagates). ``published`` appends the published
    reference rows for the task and datasets, marked as such.
    """
    bench_task = get_task(task)
    dev = resolve_device(device)
    names = list(datasets) if datasets else list(bench_task.default_datasets)
    sets: list[BenchDataset] = [resolve_dataset(d, bench_task, limit=limit) for d in names]
    if len({s.name for s in sets}) != len(sets):
        raise InvalidParameterError(f"datasets must have distinct names; got {', '.join(s.name for s in sets)}")
    metrics = tuple(metrics) if metrics else bench_task.default_metrics
    if bench_task.reference_free:
        needs_ref = [m for m in metrics if METRICS.get(m, True)]
        if needs_ref:
            raise InvalidParameterError(
                f"{bench_task.name} has no clean references: metric(s) {', '.join(needs_ref)} need one; "
                f"use no-reference metrics ({', '.join(m for m, ref in METRICS.items() if not ref)})"
            )
    metric_fns = _metric_functions(metrics)
    resolved: list[BenchMethod] = resolve_methods(list(methods), bench_task, device=dev)

    images: list[ImageScore] = []
    errors: dict[tuple[str, str], str] = {}
    warmed: set[str] = set()
    total = sum(len(s.images) for s in sets) * len(resolved)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    # Not a terminal (nohup, CI, a log file): a plain line per image instead of a live bar.
    plain = progress and not console.is_terminal
    prog = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress or plain,
        transient=False,
    )
    n_images = sum(len(s.images) for s in sets)
    done = 0
    t_start = time.perf_counter()
    with prog:
        bar = prog.add_task(bench_task.name, total=total)
        for ds in sets:
            for path in ds.images:
                done += 1
                sample = bench_task.make_sample(_read(path), name=path.stem, seed=seed)
                for method in resolved:
                    prog.update(bar, description=f"{bench_task.name}: {method.name} on {ds.name}/{sample.name}")
                    key = (method.name, ds.name)
                    if key in errors:
                        prog.advance(bar)
                        continue
                    try:
                        if warmup and method.name not in warmed:
                            method.restorer(_center_crop(sample.degraded, WARMUP_SIZE), **sample.condition)
                            warmed.add(method.name)
                        with PeakMemory(dev) as mem:
                            t0 = time.perf_counter()
                            raw = method.restorer(sample.degraded, **sample.condition)
                            seconds = time.perf_counter() - t0
                        output = as_image(np.asarray(raw), f"output of {method.name}")
                        scores = score_output(sample, output, bench_task, metric_fns)
                    except Exception as exc:  # a failing method must not end the run
                        if strict:
                            raise
                        kind = "" if isinstance(exc, RestoraError) else f"{type(exc).__name__}: "
                        errors[key] = f"{sample.name}: {kind}{exc}"
                        prog.advance(bar)
                        continue
                    images.append(
                        ImageScore(
                            method=method.name,
                            dataset=ds.name,
                            image=sample.name,
                            height=int(sample.reference.shape[0]),
                            width=int(sample.reference.shape[1]),
                            scores=scores,
                            seconds=seconds,
                            peak_mb=mem.peak_mb,
                        )
                    )
                    prog.advance(bar)
                if plain:
                    console.print(
                        f"{bench_task.name}: [{done}/{n_images}] {ds.name}/{sample.name} "
                        f"({time.perf_counter() - t_start:.0f} s)",
                        highlight=False,
                        soft_wrap=True,
                    )

    rows: list[ResultRow] = []
    for method in resolved:
        for ds in sets:
            imgs = [s for s in images if s.method == method.name and s.dataset == ds.name]
            err = errors.get((method.name, ds.name))
            if err is not None:
                imgs = []
            means: dict[str, float | None] = {
                m: (float(np.mean([s.scores[m] for s in imgs])) if imgs else None) for m in metric_fns
            }
            mp = sum(s.height * s.width for s in imgs) / 1e6
            peaks = [s.peak_mb for s in imgs if s.peak_mb is not None]
            rows.append(
                ResultRow(
                    method=method.name,
                    dataset=ds.name,
                    scores=means,
                    n_images=len(imgs),
                    seconds_per_mp=(sum(s.seconds for s in imgs) / mp) if imgs else None,
                    peak_mb=max(peaks) if peaks else None,
                    params=method.params,
                    flops_per_pixel=method.flops_per_pixel,
                    kind=method.kind,
                    error=err,
                )
            )
    if errors:
        images = [s for s in images if (s.method, s.dataset) not in errors]
    if published:
        for p in published_results(bench_task.name, [s.name for s in sets]):
            rows.append(
                ResultRow(
                    method=p.method,
                    dataset=p.dataset,
                    scores={m: (p.psnr if m == "psnr" else p.ssim if m == "ssim" else None) for m in metric_fns},
                    n_images=None,
                    kind="published",
                    published=True,
                    citation=p.citation,
                )
            )

    conventions = {
        "task": bench_task.name,
        "kind": bench_task.kind,
        "parameters": bench_task.parameters,
        "channels": bench_task.channels,
        "scoring": asdict(bench_task.scoring),
        "seeding": "np.random.default_rng([seed, zlib.crc32(image_stem.encode('utf-8'))]) per image",
        "timing": "wall time of the restorer call only, after one warm-up call on a "
        f"{WARMUP_SIZE}x{WARMUP_SIZE} crop; seconds per output megapixel",
        "memory": f"peak extra memory of the call, method {PeakMemory(dev).method}",
        "datasets": {s.name: {"folder": str(s.folder), "images": [p.name for p in s.images]} for s in sets},
    }
    return BenchResult(
        task=bench_task.name,
        description=bench_task.description,
        datasets=[s.name for s in sets],
        methods=[m.name for m in resolved],
        seed=seed,
        limit=limit,
        device=dev,
        metrics=tuple(metric_fns),
        rows=rows,
        images=images,
        conventions=conventions,
        environment=_environment(dev),
    )
