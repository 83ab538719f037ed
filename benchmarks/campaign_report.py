"""The training campaign's time-to-quality: validation PSNR against CPU-hours, per run.

Reads ``log.jsonl`` of each run folder (default: every run under ``~/.cache/restora/runs``,
where ``scripts/campaign.sh`` keeps them) and writes a figure plus a markdown table:

    python benchmarks/campaign_report.py [RUN_DIR ...] [--png docs/images/campaign.png] [--md out.md]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()
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
