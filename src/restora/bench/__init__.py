"""The benchmark harness: named tasks (how inputs are degraded and outputs scored), test
sets, methods (catalogue names, callables or ``module:function``), the runner and the
paper-style output (table, CSV, JSON, plot). See ``docs/bench.md``.

>>> from restora.bench import run_benchmark, write_outputs
>>> result = run_benchmark(["bicubic"], "sr-bicubic-x4", ["Set5"])  # doctest: +SKIP
>>> write_outputs(result, "results/bench/sr-bicubic-x4")  # doctest: +SKIP
"""

from restora.bench.tasks import BenchTask, Sample, Scoring, TASKS, get_task, image_rng, list_tasks
from restora.bench.datasets import KNOWN_DATASETS, BenchDataset, dataset_status, resolve_dataset
from restora.bench.methods import BenchMethod, available_methods, resolve_method, resolve_methods
from restora.bench.published import PUBLISHED, PublishedResult, published_results
from restora.bench.runner import BenchResult, ImageScore, ResultRow, run_benchmark, score_output
from restora.bench.report import markdown_table, plot_quality_speed, render_table, write_csv, write_json, write_outputs

__all__ = [
    "BenchTask",
    "Sample",
    "Scoring",
    "TASKS",
    "get_task",
    "image_rng",
    "list_tasks",
    "KNOWN_DATASETS",
    "BenchDataset",
    "dataset_status",
    "resolve_dataset",
    "BenchMethod",
    "available_methods",
    "resolve_method",
    "resolve_methods",
    "PUBLISHED",
    "PublishedResult",
    "published_results",
    "BenchResult",
    "ImageScore",
    "ResultRow",
    "run_benchmark",
    "score_output",
    "markdown_table",
    "plot_quality_speed",
    "render_table",
    "write_csv",
    "write_json",
    "write_outputs",
]
