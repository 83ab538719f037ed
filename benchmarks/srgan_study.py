"""The SRGAN study of the lecture (issue 21): perception against distortion at x4.

SRGAN (Ledig et al. 2017) showed that a generator trained with a feature (content) loss and an
adversarial loss looks sharper than the same network trained for PSNR (SRResNet), while its
PSNR is lower. This script scores, on the same seeded bicubic x4 task (``sr-bicubic-x4``: MATLAB
bicubic, Y-PSNR cropped by the scale), the PSNR-oriented and the perceptual models side by
side with a no-reference naturalness score, NIQE (lower = more natural; no ImageNet weights
are needed, so it is honest on this machine where LPIPS' backbone cannot be installed), and
draws the PSNR-vs-NIQE scatter: the perception-distortion trade-off.

    python benchmarks/srgan_study.py --srresnet RUNS/srresnet-x4/srresnet-x4.safetensors \\
        --srgan RUNS/srgan-x4/srgan-x4.safetensors --out benchmarks/results/srgan-study \\
        --figure docs/images/srgan_scatter.png

Methods: ``bicubic``; the study's ``srresnet-x4`` and ``srgan-x4`` (configs/cpu/); the
shipped ``edsr-x4`` (bicubic-trained, L1), ``edsr-blind-x4`` (L1 on Real-ESRGAN
degradations) and ``edsr-gan-x4`` (its perceptual + GAN fine-tune). The last two were trained
for real-world inputs, so a clean bicubic input is outside their training distribution: they
are drawn for context, marked as such.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from restora.bench import run_benchmark

#: Methods trained for bicubic (clean) input, the study proper.
STUDY = ("bicubic", "srresnet-x4", "srgan-x4", "edsr-x4")
#: Real-world models, drawn for context.
CONTEXT = ("edsr-blind-x4", "edsr-gan-x4")


def _label(spec: str) -> str:
    return Path(spec).stem if spec.endswith(".safetensors") else spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--srresnet", required=True, help="srresnet-x4 weights (.safetensors with its card)")
    ap.add_argument("--srgan", required=True, help="srgan-x4 weights (.safetensors with its card)")
    ap.add_argument("--datasets", default="Set5,Set14,BSD100")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/srgan-study"))
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args()

    specs = ["bicubic", args.srresnet, args.srgan, "edsr-x4", *CONTEXT]
    datasets = [d for d in args.datasets.split(",") if d]
    result = run_benchmark(specs, "sr-bicubic-x4", datasets, limit=args.limit, metrics=("psnr", "ssim", "niqe"), published=False)
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in result.measured_rows:
        table.setdefault(_label(row.method), {})[row.dataset] = {k: (None if v is None else round(float(v), 4)) for k, v in row.scores.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scores.json").write_text(json.dumps({"task": "sr-bicubic-x4", "seed": result.seed, "limit": args.limit, "scores": table}, indent=1))
    lines = ["| method | " + " | ".join(f"{d} PSNR / SSIM / NIQE" for d in datasets) + " |", "|---|" + "---|" * len(datasets)]
    for name, per in table.items():
        cells = [f"{s['psnr']:.2f} / {s['ssim']:.4f} / {s['niqe']:.2f}" if (s := per.get(d)) and s.get("psnr") is not None else "-" for d in datasets]
        lines.append(f"| {name}{' (real-world model)' if name in CONTEXT else ''} | " + " | ".join(cells) + " |")
    (args.out / "scores.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.figure:
        _scatter(table, datasets, args.figure)


def _scatter(table: dict[str, dict[str, dict[str, float | None]]], datasets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = dict(zip(datasets, "os^Dv"))
    colours = dict(zip([*STUDY, *CONTEXT], ("0.5", "tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange")))
    fig, ax = plt.subplots(figsize=(7.0, 4.6), dpi=120)
    for name, per in table.items():
        for d in datasets:
            s = per.get(d)
            if not s or s.get("psnr") is None:
                continue
            ax.scatter(s["psnr"], s["niqe"], marker=markers[d], s=60, color=colours.get(name, "k"),
                       facecolors="none" if name in CONTEXT else None, label=name if d == datasets[0] else None)
    for d, m in markers.items():
        ax.scatter([], [], marker=m, color="k", label=d)
    ax.set_xlabel("Y-PSNR (dB), higher = closer to the original")
    ax.set_ylabel("NIQE, lower = more natural")
    ax.set_title("x4 SR: perception against distortion (open: real-world models)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
