"""Run logs: JSON lines (one per log step and per validation), optional TensorBoard, and a
loss-curve plot (PNG, matplotlib Agg)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["RunLog", "read_log", "plot_log", "loss_figure", "log_ticks", "set_log_ticks"]


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` file (unparsable trailing lines are skipped)."""
    p = Path(path)
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class RunLog:
    """Appends records to ``log.jsonl`` (and TensorBoard scalars when available).

    ``resume_step``: on resume, records after that step (written after the checkpoint by the
    interrupted run) are dropped first, so the log reads as one uninterrupted run.
    """

    def __init__(self, folder: str | os.PathLike[str], *, resume_step: int | None = None, tensorboard: bool = True) -> None:
        self.path = Path(folder) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        else:
            kept = [r for r in read_log(self.path) if int(r.get("step", 0)) <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(folder) / "tensorboard"), purge_step=resume_step)
            except Exception:  # tensorboard not installed: optional
                self.tb = None

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tb is not None:
            step = int(record["step"])
            for key, value in _flatten(record).items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(key.replace(".", "/"), value, step)

    def records(self) -> list[dict[str, Any]]:
        return read_log(self.path)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def log_ticks(lo: float, hi: float, max_ticks: int = 8) -> list[float]:
    """Tick values for a log axis over ``[lo, hi]`` (both > 0) that read as distinct labels:
    powers of ten, else 1-2-5 steps, else every digit, else (a range inside a decade with
    too few of those) evenly spaced round numbers."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    lo, hi = (float(lo), float(hi)) if lo <= hi else (float(hi), float(lo))
    if not (lo > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return []
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = sorted({float(f"{s * 10.0 ** d:.6g}") for d in decades for s in subs if lo <= s * 10.0 ** d <= hi})
        if len(ticks) > max_ticks:
            ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
        if len(ticks) >= 3:
            return ticks
    ticks = [float(f"{t:.6g}") for t in MaxNLocator(nbins=5).tick_values(lo, hi) if lo <= t <= hi and t > 0]
    return ticks if len(ticks) >= 2 else [float(f"{np.sqrt(lo * hi):.3g}")]


def _tick_label(value: float, _pos: Any = None) -> str:
    return f"{value:.4g}"


def set_log_ticks(axis: Any, max_ticks: int = 8) -> None:
    """Readable ticks on a log-scaled matplotlib ``axis`` (``ax.xaxis`` / ``ax.yaxis``) for its
    current limits: :func:`log_ticks` labelled in plain numbers, minor ticks unlabelled."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = axis.get_view_interval()
    axis.set_major_locator(FixedLocator(log_ticks(lo, hi, max_ticks)))
    axis.set_major_formatter(FuncFormatter(_tick_label))
    axis.set_minor_formatter(NullFormatter())


def loss_figure(records: list[dict[str, Any]], title: str = "") -> Any:
    """The matplotlib Figure of :func:`plot_log` (None when there is nothing to plot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train = [r for r in records if "losses" in r]
    val = [r for r in records if "val" in r]
    if not train and not val:
        return None
    fig = Figure(figsize=(11, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    ax = axes[0]
    names = sorted({k for r in train for k in r["losses"]})
    for name in ["loss", *names]:
        xs = [r["step"] for r in train if (name == "loss" or name in r["losses"])]
        ys = [r["loss"] if name == "loss" else r["losses"][name] for r in train if (name == "loss" or name in r["losses"])]
        if xs and (name == "loss" or len(names) > 1):
            ax.plot(xs, ys, label=name, lw=1.5 if name == "loss" else 1.0, marker="." if len(xs) < 3 else None)
    if train and all(r["loss"] > 0 for r in train):
        ax.set_yscale("log")
        set_log_ticks(ax.yaxis)  # matplotlib's own labels within a decade all read e.g. "1e-01"
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    if val:
        xs = [r["step"] for r in val]
        out_psnr = [r["val"].get("psnr", float("nan")) for r in val]
        ax.plot(xs, out_psnr, "o-", label="output")
        shown = [v for v in out_psnr if math.isfinite(v)]
        if any("input_psnr" in r["val"] for r in val):
            in_psnr = [r["val"].get("input_psnr", float("nan")) for r in val]
            ax.plot(xs, in_psnr, "x--", color="gray", label="input")
            shown += [v for v in in_psnr if math.isfinite(v)]
        if shown:  # both lines inside the axis, with a margin
            lo, hi = min(shown), max(shown)
            pad = max(0.08 * (hi - lo), 0.25)
            ax.set_ylim(lo - pad, hi + pad)
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("step")
    ax.set_ylabel("validation PSNR (dB)")
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.88 if title else 0.95, wspace=0.25)
    return fig


def plot_log(records: list[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> Path | None:
    """Loss curves (log scale, one line per term) and validation PSNR (output and input),
    written as a PNG."""
    fig = loss_figure(records, title)
    if fig is None:
        return None
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, out)
    return out
