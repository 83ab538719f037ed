"""Issue 17's deblurring table and figures, from ``restora bench`` runs of ``deblur-levin``
and ``deblur-motion``.

1. Run the two tasks (any methods; trained weights as ``path.safetensors``)::

       restora bench deblur-levin  -m none,wiener,map-hyper-laplacian,blind-deconv,blind-vb,nafnet-deblur -o OUT/levin
       restora bench deblur-motion -m input,wiener,map-hyper-laplacian,blind-deconv,blind-vb,nafnet-deblur \\
           -d Kodak24 -n 8 --metrics psnr,ssim,niqe -o OUT/motion

2. Merge them into one ranking and draw the figures::

       python benchmarks/deblur_report.py OUT/levin OUT/motion --md benchmarks/results/deblur.md
       python benchmarks/deblur_report.py --figure docs/images/deblur_levin.png

The table gives, per task, PSNR / SSIM (and NIQE when measured, lower is more natural) and
seconds per image, the gain over the blurred input and how many images a method made worse
than its input (the "never worse" count the issue asks of ``restora deblur``). Rows are
ranked by the Levin PSNR. ``+blind`` / non-blind is read from the catalogue: a non-blind
method was given the true kernel, so its row is an upper bound, not a competitor.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

INPUT_NAMES = ("none", "input")


def _rows(folder: Path) -> tuple[str, dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """``(task, summary per method, per-image PSNR per method)`` of one bench result folder."""
    result = json.loads((folder / "result.json").read_text())
    summary: dict[str, dict[str, float]] = {}
    with open(folder / "summary.csv") as fh:
        for r in csv.DictReader(fh):
            if r.get("source") != "measured" or r.get("error"):
                continue
            summary[r["method"]] = r
    images: dict[str, dict[str, float]] = {}
    with open(folder / "images.csv") as fh:
        for r in csv.DictReader(fh):
            images.setdefault(r["method"], {})[f"{r['dataset']}/{r['image']}"] = r
    return result["task"], summary, images


def _blindness(method: str) -> str:
    if method in INPUT_NAMES:
        return "-"
    if method.endswith(".safetensors"):
        return "blind (learned)"
    if method in ("auto", "deblur-command", "fixed-deblur"):
        return "blind"
    try:
        from restora.restorers import get_restorer_info

        info = get_restorer_info(method.removesuffix("+blind"))
    except Exception:  # noqa: BLE001 - an unknown name: say nothing about it
        return "?"
    how = "blind" if info.blind or method.endswith("+blind") else "true kernel"
    return how + (" (learned)" if info.kind == "neural" else "")


def merge(folders: list[Path]) -> str:
    """The markdown ranking of every method over the given bench result folders."""
    tasks = [_rows(f) for f in folders]
    methods: list[str] = []
    for _, summary, _ in tasks:
        methods += [m for m in summary if m not in methods]
    head = ["method", "kernel"]
    for task, summary, _ in tasks:
        has_niqe = any(r.get("niqe") not in (None, "") for r in summary.values())
        head += [f"{task} PSNR", "SSIM"] + (["NIQE"] if has_niqe else []) + ["gain dB", "worse", "s/img"]

    def cells(method: str) -> list[str]:
        out = [f"`{Path(method).stem if method.endswith('.safetensors') else method}`", _blindness(method)]
        for task, summary, images in tasks:
            has_niqe = any(r.get("niqe") not in (None, "") for r in summary.values())
            r = summary.get(method)
            if r is None:
                out += ["-"] * (5 + has_niqe)
                continue
            base = next((images[m] for m in INPUT_NAMES if m in images), None)
            mine = images.get(method, {})
            gains = [float(mine[k]["psnr"]) - float(base[k]["psnr"]) for k in mine if base and k in base]
            worse = sum(g < -0.05 for g in gains)
            secs = np.mean([float(v["seconds"]) for v in mine.values()]) if mine else float("nan")
            out += [f"{float(r['psnr']):.2f}", f"{float(r['ssim']):.4f}"]
            if has_niqe:
                out.append(f"{float(r['niqe']):.2f}" if r.get("niqe") else "-")
            out += [f"{np.mean(gains):+.2f}" if gains else "-", f"{worse}/{len(gains)}" if gains else "-", f"{secs:.2f}"]
        return out

    first_task = tasks[0][1]
    methods.sort(key=lambda m: -float(first_task[m]["psnr"]) if m in first_task else 0.0)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells(m)) + " |" for m in methods]
    return "\n".join(lines) + "\n"


def figure(out: Path, *, images: tuple[str, ...] = ("im1_kernel4_img", "im3_kernel8_img", "im4_kernel7_img"), crop_side: int = 128) -> None:
    """Levin crops: blurred / ``restora deblur`` with no options (blind: estimate + MAP) /
    plug-and-play with the true kernel / sharp, then the true and the estimated kernel."""
    from restora.bench.figures import crop, crop_grid, detail_box
    from restora.bench.runner import align_to
    from restora.data import data_root
    from restora.io import read_image, write_image
    from restora.pipeline.deblur import deblur_image

    root = data_root() / "test" / "Levin"
    rows = []
    for name in images:
        blurred = read_image(root / "blurred" / f"{name}.png")
        i, k = name.split("_")[0], name.split("_")[1].replace("kernel", "")
        sharp = read_image(root / "sharp" / f"{i}.png")
        true_k = read_image(root / "kernels" / f"kernel{k}.png")[:, :, 0]
        blind = deblur_image(blurred)
        known = deblur_image(blurred, kernel=true_k / true_k.sum(), method="pnp")
        box = detail_box(sharp, crop_side)
        shift = max(true_k.shape) // 2  # blind results are scored (and shown) up to a translation
        cells = [crop(blurred, box, sharp.shape)]
        cells += [crop(align_to(np.clip(r.image, 0, 1), sharp, shift), box, sharp.shape) for r in (blind, known)]
        cells.append(crop(sharp, box, sharp.shape))
        side = max(true_k.shape[0], blind.kernel.shape[0])
        for kern in (true_k, blind.kernel):
            pad = (side - kern.shape[0]) // 2
            cells.append(np.pad(kern / kern.max(), pad)[:, :, None])
        rows.append(cells)
    grid = crop_grid(rows, ["blurred", "restora deblur", "pnp, true kernel", "sharp", "true kernel", "estimated"], cell=160)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, grid, overwrite=True)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="*", type=Path, help="restora bench output folders (deblur-levin first)")
    p.add_argument("--md", type=Path, help="write the merged table here (else print it)")
    p.add_argument("--figure", type=Path, help="write the Levin crop and kernel figure here")
    a = p.parse_args(argv)
    if a.folders:
        table = merge(a.folders)
        if a.md:
            a.md.parent.mkdir(parents=True, exist_ok=True)
            a.md.write_text(table)
            print(f"wrote {a.md}")
        else:
            print(table)
    if a.figure:
        figure(a.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
