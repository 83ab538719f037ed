"""``restora bench``: run methods on a benchmark task and write a paper-style table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from restora.errors import InvalidParameterError

console = Console()


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _print_catalogue() -> None:
    from restora.bench import TASKS, dataset_status

    if not console.is_terminal:
        console.width = max(console.width, 160)
    tasks = Table(title="Tasks (methods: those of the task's kind, see below)")
    for col in ("task", "kind", "default datasets", "valid datasets", "convention"):
        tasks.add_column(col, no_wrap=col == "task")
    for t in TASKS.values():
        tasks.add_row(t.name, t.kind, ", ".join(t.default_datasets), ", ".join(t.datasets), t.description)
    console.print(tasks)
    sets = Table(title="Datasets (a folder of images may be given instead of a name)")
    for col in ("dataset", "colour", "use", "images", "tasks"):
        sets.add_column(col)
    for row in dataset_status():
        n = row["images"]
        sets.add_row(str(row["name"]), str(row["colour"]), str(row["use"]),
                     "missing" if n is None else str(n), ", ".join(row["tasks"]))  # type: ignore[arg-type]
    console.print(sets)

    from restora.restorers import list_restorers

    methods = Table(title="Methods (or module:function, or a .safetensors weights file)")
    for col in ("method", "task", "kind", "description"):
        methods.add_column(col, no_wrap=col == "method")
    for info in list_restorers():
        methods.add_row(info.name, info.task, info.kind, info.description)
    methods.add_row("input", "denoise/jpeg/deblur", "baseline", "the degraded input itself (no restoration)")
    console.print(methods)


def bench(
    task: Optional[str] = typer.Argument(None, help="Task name, e.g. denoise-gray-s25, sr-bicubic-x4, jpeg-q10."),
    methods: Optional[str] = typer.Option(None, "--methods", "-m", help="Comma-separated methods (catalogue names or module:function)."),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="Comma-separated test sets or folders (default: the task's)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Use only the first N images of each set."),
    seed: int = typer.Option(0, "--seed", min=0, help="Base seed of the per-image degradations."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default results/bench/<task>)."),
    published: bool = typer.Option(True, "--published/--no-published", help="Add published reference rows."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto (for neural methods)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metrics (psnr, ssim, lpips, niqe, niqe_x2, id_sim, id_dist; default: the task's, psnr,ssim or niqe)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    list_all: bool = typer.Option(False, "--list", help="List tasks, datasets and methods, then exit."),
) -> None:
    """Benchmark restoration methods on a task's standard test sets.

    Writes summary.csv, images.csv, result.json, table.md and quality_vs_speed.png.
    Example: restora bench denoise-gray-s25 --methods nlm,tv,bm3d --datasets BSD68
    """
    if list_all:
        _print_catalogue()
        return
    from restora.bench import TASKS, available_methods, get_task, render_table, run_benchmark, write_outputs

    if task is None:
        raise InvalidParameterError(f"give a task (or --list); valid tasks: {', '.join(TASKS)}")
    bench_task = get_task(task)
    method_list = _split(methods)
    if not method_list:
        raise InvalidParameterError(
            f"--methods is required; available for {bench_task.name}: {', '.join(available_methods(bench_task))}"
        )
    result = run_benchmark(
        method_list,
        bench_task,
        _split(datasets) or None,
        seed=seed,
        limit=limit,
        device=device,
        metrics=tuple(_split(metrics)) or None,
        published=published,
        progress=progress,
    )
    if not console.is_terminal:  # piped or logged: do not squeeze the table to 80 columns
        console.width = max(console.width, 200)
    console.print(render_table(result))
    paths = write_outputs(result, out)
    folder = paths["json"].parent
    console.print(f"wrote {', '.join(p.name for p in paths.values())} to {folder}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``restora bench`` to ``app``."""
    app.command("bench")(bench)
