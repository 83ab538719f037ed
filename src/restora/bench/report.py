"""Benchmark output: a paper-style table (rich and Markdown), CSV, JSON and a PNG plot of
quality against speed.

Table layout: one row per method; for each dataset a PSNR and an SSIM column; then
parameters, FLOPs per pixel, seconds per output megapixel and peak memory. Published rows
come last, marked with a dagger and a numbered citation in the caption.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from restora.bench.runner import BenchResult, ResultRow
from restora.errors import ImageWriteError

__all__ = [
    "format_si",
    "table_rows",
    "render_table",
    "markdown_table",
    "write_csv",
    "write_images_csv",
    "write_json",
    "plot_quality_speed",
    "quality_speed_figure",
    "write_outputs",
    "default_out_dir",
]

_SCORE_FORMAT = {"psnr": "{:.2f}", "ssim": "{:.4f}", "lpips": "{:.4f}", "niqe": "{:.2f}"}
_LABEL = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "niqe": "NIQE"}


def default_out_dir(task: str) -> Path:
    """``results/bench/<task>`` under the current directory (``results/`` is gitignored)."""
    return Path("results") / "bench" / task


def format_si(value: float | None, unit: str = "") -> str:
    """``1234567 -> '1.23M'``; ``None -> '-'``."""
    if value is None:
        return "-"
    if value == 0:
        return "0" + unit
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}{unit}"
    return f"{value:.3g}{unit}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else spec.format(value)


def _citation_numbers(result: BenchResult) -> dict[str, int]:
    numbers: dict[str, int] = {}
    for r in result.published_rows:
        if r.citation and r.citation not in numbers:
            numbers[r.citation] = len(numbers) + 1
    return numbers


def table_rows(result: BenchResult) -> tuple[list[str], list[list[str]], list[str]]:
    """``(header, rows, footnotes)`` of the paper-style table as strings."""
    header = ["Method"]
    for ds in result.datasets:
        header += [f"{ds} {_LABEL.get(m, m)}" for m in result.metrics]
    header += ["Params", "FLOPs/px", "s/MP", "Peak MB"]
    cites = _citation_numbers(result)
    rows: list[list[str]] = []
    footnotes: list[str] = []

    def cells(method_rows: dict[str, ResultRow]) -> list[str]:
        out: list[str] = []
        for ds in result.datasets:
            r = method_rows.get(ds)
            for m in result.metrics:
                if r is None:
                    out.append("")
                elif r.error:
                    out.append("error")
                else:
                    out.append(_fmt(r.scores.get(m), _SCORE_FORMAT.get(m, "{:.4g}")))
        return out

    for method in result.methods:
        by_ds = {r.dataset: r for r in result.measured_rows if r.method == method}
        first = next(iter(by_ds.values()))
        spmp, peak = result.method_speed(method)
        rows.append(
            [method]
            + cells(by_ds)
            + [
                format_si(first.params),
                format_si(first.flops_per_pixel),
                _fmt(spmp, "{:.3g}"),
                _fmt(peak, "{:.0f}" if peak is not None and peak >= 10 else "{:.1f}"),
            ]
        )
        for r in by_ds.values():
            if r.error:
                footnotes.append(f"{method} on {r.dataset}: error: {r.error}")
    published: dict[tuple[str, str], dict[str, ResultRow]] = {}
    for r in result.published_rows:
        published.setdefault((r.method, r.citation or ""), {})[r.dataset] = r
    for (method, citation), by_ds in published.items():
        rows.append([f"{method} †{cites[citation]}"] + cells(by_ds) + ["-", "-", "-", "-"])
    for citation, n in cites.items():
        footnotes.append(f"†{n} published, not measured here: {citation}")
    return header, rows, footnotes


def render_table(result: BenchResult) -> Any:
    """The table as a :class:`rich.table.Table` (published rows dimmed, citations in the caption)."""
    from rich.markup import escape
    from rich.table import Table

    header, rows, footnotes = table_rows(result)  # escaped below: errors hold hints like 'restora[bench]'
    footnotes = [escape(f) for f in footnotes]
    rows = [[escape(c) for c in row] for row in rows]
    limit = f", first {result.limit} images per set" if result.limit else ""
    table = Table(
        title=escape(f"{result.task}: {result.description} (seed {result.seed}{limit}, {result.device})"),
        caption="\n".join(footnotes) or None,
        caption_justify="left",
    )
    for i, h in enumerate(header):
        table.add_column(escape(h), justify="left" if i == 0 else "right", no_wrap=i == 0)
    n_measured = len(result.methods)
    for i, row in enumerate(rows):
        table.add_row(*row, style="dim italic" if i >= n_measured else None, end_section=i == n_measured - 1)
    return table


def markdown_table(result: BenchResult) -> str:
    """The table as GitHub Markdown, followed by the footnotes."""
    header, rows, footnotes = table_rows(result)
    limit = f", first {result.limit} images per set" if result.limit else ""
    lines = [
        f"**{result.task}**: {result.description} (seed {result.seed}{limit}, {result.device})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if footnotes:
        lines += [""] + [f"{f}  " for f in footnotes]
    return "\n".join(lines) + "\n"


def _open_for_write(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(f"cannot create folder {path.parent}: {exc.strerror}") from None
    return path


def write_csv(result: BenchResult, path: str | Path) -> Path:
    """One line per (method, dataset): mean scores, speed, memory, params, FLOPs, source."""
    p = _open_for_write(Path(path))
    fields = ["method", "dataset", "source", *result.metrics, "n_images", "seconds_per_mp", "peak_mb",
              "params", "flops_per_pixel", "kind", "citation", "error"]
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in result.rows:
            w.writerow(
                [r.method, r.dataset, "published" if r.published else "measured"]
                + ["" if r.scores.get(m) is None else f"{r.scores[m]:.6g}" for m in result.metrics]
                + ["" if r.n_images is None else r.n_images, "" if r.seconds_per_mp is None else f"{r.seconds_per_mp:.6g}",
                   "" if r.peak_mb is None else f"{r.peak_mb:.1f}", "" if r.params is None else r.params,
                   "" if r.flops_per_pixel is None else f"{r.flops_per_pixel:.6g}", r.kind, r.citation or "",
                   r.error or ""]
            )
    return p


def write_images_csv(result: BenchResult, path: str | Path) -> Path:
    """One line per (method, dataset, image) with its scores, time and memory."""
    p = _open_for_write(Path(path))
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "dataset", "image", "height", "width", *result.metrics, "seconds", "peak_mb"])
        for s in result.images:
            w.writerow([s.method, s.dataset, s.image, s.height, s.width]
                       + [f"{s.scores[m]:.6g}" for m in result.metrics]
                       + [f"{s.seconds:.6g}", "" if s.peak_mb is None else f"{s.peak_mb:.1f}"])
    return p


def write_json(result: BenchResult, path: str | Path) -> Path:
    """The whole result (settings, conventions, environment, rows, per-image scores)."""
    p = _open_for_write(Path(path))
    p.write_text(json.dumps(result.to_dict(), indent=2, default=float) + "\n")
    return p


def quality_speed_figure(result: BenchResult, metric: str = "psnr") -> Any:
    """The matplotlib Figure of :func:`plot_quality_speed`."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    from restora.train.logs import set_log_ticks

    n = len(result.datasets)
    fig = Figure(figsize=(7.2 * n, 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)
    cmap = matplotlib.colormaps["tab10"]
    colours = {m: cmap(i % 10) for i, m in enumerate(result.methods)}
    for ax, ds in zip(axes[0], result.datasets):
        xs: list[float] = []
        for r in result.measured_rows:
            v = r.scores.get(metric)
            if r.dataset != ds or v is None or r.seconds_per_mp is None:
                continue
            if not (math.isfinite(v) and math.isfinite(r.seconds_per_mp)):
                continue  # e.g. the mean PSNR of a set holding an untouched image is infinite
            x = max(r.seconds_per_mp, 1e-6)
            xs.append(x)
            ax.scatter([x], [v], color=colours[r.method], s=40, zorder=3)
            ax.annotate(r.method, (x, v), textcoords="offset points", xytext=(4, 4), fontsize=8)
        published = sorted(
            ((r.scores[metric], r.method) for r in result.published_rows
             if r.dataset == ds and r.scores.get(metric) is not None),
            reverse=True,
        )
        for v, _ in published:
            ax.axhline(v, color="0.5", linestyle="--", linewidth=0.8, zorder=1)
        if published:  # one text block, outside the axes: inside it covered points
            fmt = _SCORE_FORMAT.get(metric, "{:.4g}")
            text = "published (dashed):\n" + "\n".join(f"{m} {fmt.format(v)}" for v, m in published)
            ax.text(1.02, 1.0, text, transform=ax.transAxes, ha="left", va="top", fontsize=7,
                    color="0.3", bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.85})
        ax.set_xlabel("seconds per megapixel (log)")
        ax.set_ylabel(f"{_LABEL.get(metric, metric)} (dB)" if metric == "psnr" else _LABEL.get(metric, metric))
        ax.set_title(f"{result.task} on {ds}")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.15, y=0.08)
        if xs:
            ax.set_xscale("log")
            set_log_ticks(ax.xaxis, max_ticks=6)  # matplotlib's minor labels overlapped
            for label in ax.get_xticklabels():
                label.set_rotation(30)
                label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def plot_quality_speed(result: BenchResult, path: str | Path, metric: str = "psnr") -> Path:
    """PNG: one panel per dataset, ``metric`` against seconds per megapixel (log scale);
    published rows (no speed) as dashed horizontal lines, listed beside the panel."""
    p = _open_for_write(Path(path))
    fig = quality_speed_figure(result, metric)
    fig.savefig(p, dpi=110, format="png")
    return p


def write_outputs(result: BenchResult, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write ``summary.csv``, ``images.csv``, ``result.json``, ``table.md`` and
    ``quality_vs_speed.png`` to ``out_dir`` (default :func:`default_out_dir`)."""
    out = Path(out_dir) if out_dir is not None else default_out_dir(result.task)
    paths = {
        "csv": write_csv(result, out / "summary.csv"),
        "images_csv": write_images_csv(result, out / "images.csv"),
        "json": write_json(result, out / "result.json"),
    }
    md = _open_for_write(out / "table.md")
    md.write_text(markdown_table(result))
    paths["markdown"] = md
    paths["png"] = plot_quality_speed(result, out / "quality_vs_speed.png")
    return paths
