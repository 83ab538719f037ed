"""The training campaign's time-to-quality: validation PSNR against CPU-hours, per run.

Reads ``log.jsonl`` of each run folder (default: every run under ``~/.cache/restora/runs``,
where ``scripts/campaign.sh`` keeps them) and writes a figure plus a markdown table:

    python benchmarks/campaign_report.py [RUN_DIR ...] [--png docs/images/campaign.png] [--md out.md]
    python benchmarks/campaign_report.py --cards drunet-gray edsr-x2 [--png docs/images/campaign_history.png]

``--cards`` reads the shipped models' cards instead (``training.campaign`` in
``src/restora/zoo/weights/NAME.json``): the validation curve of every shipped session laid end
to end over cumulative CPU-hours, i.e. the whole campaign's curve across sessions (runs that
were never shipped are not in a card). Sessions recorded without hours are left out.

CPU-hours = wall-clock training seconds (the log's ``time``, which survives resumes) x the
run's torch threads / 3600; on a shared machine this overstates the work, so the table also
gives steps, which do not depend on the load.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def read_run(folder: Path) -> dict:
    """Validation points ``(step, cpu_hours, psnr, input_psnr)`` and the last step of one run."""
    import yaml

    cfg = yaml.safe_load((folder / "config.yaml").read_text()) if (folder / "config.yaml").exists() else {}
    threads = int(((cfg.get("train") or {}).get("threads")) or 1)
    vals, last_step, last_time = [], 0, 0.0
    for line in (folder / "log.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        last_step = max(last_step, int(rec.get("step", 0)))
        last_time = max(last_time, float(rec.get("time", 0.0)))
        if "val" in rec:
            v = rec["val"]
            vals.append((int(rec["step"]), float(rec["time"]) * threads / 3600.0, float(v["psnr"]), float(v.get("input_psnr", float("nan")))))
    return {"name": folder.name, "threads": threads, "vals": vals, "steps": last_step, "cpu_hours": last_time * threads / 3600.0, "config": cfg}


def read_card_lineage(name: str) -> dict:
    """The shipped lineage of model ``name``: ``(cumulative CPU-hours, validation PSNR, session)``
    points from its card's ``training.campaign`` entries, in the order they were recorded."""
    from restora.zoo.store import PACKAGE_WEIGHTS

    card = json.loads((PACKAGE_WEIGHTS / f"{name}.json").read_text())
    campaign = (card.get("training") or {}).get("campaign") or {}
    points, hours, steps, metric = [], 0.0, 0, ""
    for session, entry in campaign.items():
        if not isinstance(entry, dict):
            continue
        spent = entry.get("cpu_hours_wall_x_threads", entry.get("wall_hours_1_thread"))
        curve_key = next((k for k in entry if k.startswith("validation_curve")), None)
        if spent is None or curve_key is None:
            continue
        n = int(entry.get("steps") or max(int(k) for k in entry[curve_key]))
        for step, value in sorted(entry[curve_key].items(), key=lambda kv: int(kv[0])):
            points.append((hours + float(spent) * int(step) / n, float(value), session))
        hours, steps, metric = hours + float(spent), steps + n, curve_key.removeprefix("validation_curve_")
    return {"name": name, "points": points, "cpu_hours": hours, "steps": steps, "metric": metric}


def cards_report(names: list[str], png: Path | None) -> str:
    """Markdown table (and optionally a figure, one panel per model) of the shipped lineages."""
    data = [read_card_lineage(n) for n in names]
    lines = ["| model | sessions | steps | CPU-hours | validation | first -> last |", "|---|---:|---:|---:|---|---|"]
    for d in data:
        pts = d["points"]
        span = f"{pts[0][1]:.2f} -> {pts[-1][1]:.2f}" if pts else "-"
        lines.append(f"| {d['name']} | {len({p[2] for p in pts})} | {d['steps']} | {d['cpu_hours']:.2f} | {d['metric']} | {span} |")
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = min(3, len(data))
        rows = -(-len(data) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), dpi=110, squeeze=False)
        for ax in axes.flat[len(data):]:
            ax.set_visible(False)
        for ax, d in zip(axes.flat, data):
            for session in dict.fromkeys(p[2] for p in d["points"]):
                seg = [p for p in d["points"] if p[2] == session]
                ax.plot([p[0] for p in seg], [p[1] for p in seg], marker="o", ms=3, label=session.replace("_", " "))
            ax.set_title(f"{d['name']}: shipped sessions", fontsize=9)
            ax.set_xlabel("cumulative CPU-hours (wall x threads)", fontsize=8)
            ax.set_ylabel(f"validation PSNR (dB), {d['metric']}", fontsize=7)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    ap.add_argument("--cards", nargs="+", default=None, metavar="MODEL", help="shipped models' campaign lineages instead of run folders")
    args = ap.parse_args()
    if args.cards:
        text = cards_report(args.cards, args.png)
        print(text)
        if args.md:
            args.md.write_text(text + "\n")
        return
    runs = args.runs or sorted(p for p in (Path(os.path.expanduser("~/.cache/restora/runs"))).glob("*") if (p / "log.jsonl").exists())
    data = [read_run(r) for r in runs]
    lines = ["| run | steps | CPU-hours | validation | PSNR at each validation (step: dB) |", "|---|---:|---:|---|---|"]
    for d in data:
        val = (d["config"].get("val") or {})
        what = f"{val.get('data')} sigma {val.get('sigma')}, {val.get('images')} x {val.get('crop')}^2" if val else "-"
        pts = ", ".join(f"{s}: {p:.2f}" for s, _, p, _ in d["vals"])
        lines.append(f"| {d['name']} | {d['steps']} | {d['cpu_hours']:.2f} | {what} | {pts} |")
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.write_text(text + "\n")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
        for d in data:
            if d["vals"]:
                ax.plot([v[1] for v in d["vals"]], [v[2] for v in d["vals"]], marker="o", label=f"{d['name']} ({d['steps']} steps)")
        ax.set_xlabel("CPU-hours (wall time x threads, shared 2-core machine)")
        ax.set_ylabel("validation PSNR (dB)")
        ax.set_title("time to quality")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png)
        print(f"figure: {args.png}")


if __name__ == "__main__":
    main()
