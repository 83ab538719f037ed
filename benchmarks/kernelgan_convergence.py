"""KernelGAN kernel error against iterations on the ``sr-kernel-x2`` inputs (issue 20).

For each image of a test set (default Set5) the LR input of ``restora bench sr-kernel-x2``
is rebuilt (same seeded DIV2KRK-like kernel, same 8-bit LR), KernelGAN runs with the
seed ``kernelgan-zssr`` uses in the bench (so the kernels are the ones the bench's ZSSR
got, on the same machine and thread count), and the relative L2 error of the cleaned
kernel against the true one is recorded every ``--every`` iterations, next to the error of
the bicubic kernel (what plain ZSSR assumes).

Writes ``benchmarks/results/kernelgan_convergence.json``,
``docs/images/kernelgan_convergence.png`` and ``docs/images/kernelgan_kernels.png``
(true / estimated / bicubic kernel per image).

    OMP_NUM_THREADS=1 python benchmarks/kernelgan_convergence.py --dataset Set5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    from restora import io as rio
    from restora.bench import get_task
    from restora.bench.datasets import resolve_dataset
    from restora.classical.kernelgan import KERNELGAN_ITERATIONS, bicubic_kernel, estimate_sr_kernel, kernel_error
    from restora.degrade.kernels import kernel_covariance
    from restora.rng import as_generator, child_seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="Set5")
    ap.add_argument("--scale", type=int, default=2, choices=(2, 4))
    ap.add_argument("--iterations", type=int, default=KERNELGAN_ITERATIONS)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)

    task = get_task(f"sr-kernel-x{args.scale}")
    ds = resolve_dataset(args.dataset, task, limit=args.limit)
    rows = []
    for path in ds.images:
        sample = task.make_sample(rio.read_image(path), name=path.stem, seed=0)
        truth = sample.condition["kernel"]
        curve: list[tuple[int, float]] = []
        seed = child_seed(as_generator(0))  # the seed kernelgan_zssr(rng=0) hands to KernelGAN
        t0 = time.process_time()
        est, info = estimate_sr_kernel(
            sample.degraded, args.scale, iterations=args.iterations, rng=seed, progress_every=args.every,
            progress=lambda i, n, k: curve.append((i, kernel_error(k, truth))),
        )
        cpu = time.process_time() - t0
        bic = bicubic_kernel(args.scale, truth.shape[0])
        row = {
            "image": path.stem,
            "lr_shape": list(sample.degraded.shape[:2]),
            "true_kernel_record": sample.record["kernel"],
            "bicubic_error": kernel_error(bic, truth),
            "final_error": kernel_error(est, truth),
            "curve": curve,
            "cpu_seconds": cpu,
            "true_cov": kernel_covariance(truth).tolist(),
            "est_cov": kernel_covariance(est).tolist(),
            "estimate": est.tolist(),
            "truth": truth.tolist(),
        }
        rows.append(row)
        print(f"{path.stem}: bicubic {row['bicubic_error']:.3f}  KernelGAN {row['final_error']:.3f}  ({cpu:.1f} s CPU)", flush=True)
    summary = {
        "task": task.name,
        "dataset": args.dataset,
        "iterations": args.iterations,
        "mean_bicubic_error": float(np.mean([r["bicubic_error"] for r in rows])),
        "mean_final_error": float(np.mean([r["final_error"] for r in rows])),
        "closer_than_bicubic": int(sum(r["final_error"] < r["bicubic_error"] for r in rows)),
        "images": rows,
        "metric": "relative L2 error ||k_est - k_true|| / ||k_true|| on a common grid",
        "threads": 1,
    }
    tag = f"-x{args.scale}{args.tag}" if (args.scale != 2 or args.tag) else ""
    out_json = ROOT / "benchmarks" / "results" / f"kernelgan_convergence{tag}.json"
    out_json.write_text(json.dumps(summary, indent=1))
    print(f"mean error: bicubic {summary['mean_bicubic_error']:.3f}, KernelGAN {summary['mean_final_error']:.3f}; "
          f"closer than bicubic on {summary['closer_than_bicubic']}/{len(rows)}; wrote {out_json}")
    _figures(rows, args, tag)


def _figures(rows: list[dict], args: argparse.Namespace, tag: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from restora.classical.kernelgan import bicubic_kernel

    images = ROOT / "docs" / "images"
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, r in enumerate(rows):
        it, err = zip(*r["curve"])
        line, = ax.plot(it, err, label=r["image"])
        ax.axhline(r["bicubic_error"], color=line.get_color(), ls=":", lw=0.8)
    ax.set_xlabel("KernelGAN iteration")
    ax.set_ylabel("relative kernel error")
    ax.set_title(f"KernelGAN x{args.scale} on {args.dataset} (dotted: bicubic kernel's error)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(images / f"kernelgan_convergence{tag}.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(rows), 3, figsize=(5.4, 1.8 * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        truth, est = np.array(r["truth"]), np.array(r["estimate"])
        n = max(truth.shape[0], est.shape[0])
        from restora.classical.kernelgan import match_kernel_size

        panels = [(match_kernel_size(truth, n), "true"),
                  (match_kernel_size(est, n), f"KernelGAN ({r['final_error']:.2f})"),
                  (match_kernel_size(bicubic_kernel(args.scale, truth.shape[0]), n), f"bicubic ({r['bicubic_error']:.2f})")]
        vmax = max(p.max() for p, _ in panels)
        for j, (k, title) in enumerate(panels):
            axes[i, j].imshow(k, cmap="magma", vmin=0, vmax=vmax)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].set_title(title, fontsize=7)
        axes[i, 0].set_ylabel(r["image"], fontsize=8)
    fig.suptitle(f"x{args.scale} kernels, {args.dataset} (relative error in brackets)", fontsize=9)
    fig.tight_layout()
    fig.savefig(images / f"kernelgan_kernels{tag}.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
