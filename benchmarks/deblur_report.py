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


def _rows(folder: Path) -> list[tuple[str, dict[str, dict[str, str]], dict[str, dict[str, dict[str, str]]], dict[str, str]]]:
    """One ``(column group "task (dataset)", summary per method, per-image rows per method,
    row kind per method)`` per dataset of one bench result folder."""
    result = json.loads((folder / "result.json").read_text())
    kinds = {r["method"]: r.get("kind") or "" for r in result.get("rows", []) if not r.get("published")}
    out = []
    for dataset in result["datasets"]:
        summary: dict[str, dict[str, str]] = {}
        with open(folder / "summary.csv") as fh:
            for r in csv.DictReader(fh):
                if r.get("source") != "measured" or r.get("error") or r["dataset"] != dataset:
                    continue
                summary[r["method"]] = r
        images: dict[str, dict[str, dict[str, str]]] = {}
        with open(folder / "images.csv") as fh:
            for r in csv.DictReader(fh):
                if r["dataset"] == dataset:
                    images.setdefault(r["method"], {})[r["image"]] = r
        out.append((f"{result['task']} ({dataset})", summary, images, kinds))
    return out


def _blindness(method: str, kind: str = "") -> str:
    if method in INPUT_NAMES:
        return "-"
    if method.endswith(".safetensors"):
        return "blind (learned)"
    if method in ("auto", "deblur-command", "fixed-deblur"):
        return "blind"
    try:
        from restora.restorers import get_restorer_info

        info = get_restorer_info(method.removesuffix("+blind"))
    except Exception:  # noqa: BLE001 - not in the catalogue: a trained weights file (its row's kind says so)
        return "blind (learned)" if kind == "neural" else "?"
    how = "blind" if info.blind or method.endswith("+blind") else "true kernel"
    return how + (" (learned)" if info.kind == "neural" else "")


def merge(folders: list[Path]) -> str:
    """The markdown ranking of every method over the given bench result folders; folders of
    the same task share one group of columns (a method measured twice keeps its first run)."""
    tasks: dict[str, tuple[dict, dict, dict]] = {}
    for folder in folders:
        for group, summary, images, kinds in _rows(folder):
            s, im, k = tasks.setdefault(group, ({}, {}, {}))
            for m in summary:
                if m not in s:
                    s[m], im[m], k[m] = summary[m], images.get(m, {}), kinds.get(m, "")
    methods: list[str] = []
    kind_of: dict[str, str] = {}
    for summary, _, kinds in tasks.values():
        methods += [m for m in summary if m not in methods]
        kind_of.update({m: v for m, v in kinds.items() if v})

    def has_niqe(summary: dict) -> bool:
        return any(r.get("niqe") not in (None, "") for r in summary.values())

    def has_psnr(summary: dict) -> bool:
        return any(r.get("psnr") not in (None, "") for r in summary.values())

    head = ["method", "kernel"]
    for task, (summary, _, _) in tasks.items():
        head += ([f"{task} PSNR", "SSIM"] if has_psnr(summary) else []) + (["NIQE" if has_psnr(summary) else f"{task} NIQE"] if has_niqe(summary) else [])
        head += ["gain dB", "worse"] if has_psnr(summary) else []
        head += ["s/img"]

    def cells(method: str) -> list[str]:
        name = Path(method).stem if method.endswith(".safetensors") else method
        out = [f"`{name}`", _blindness(method, kind_of.get(method, ""))]
        for summary, images, _ in tasks.values():
            psnr, niqe = has_psnr(summary), has_niqe(summary)
            width = (4 if psnr else 0) + niqe + 1
            r = summary.get(method)
            if r is None:
                out += ["-"] * width
                continue
            mine = images.get(method, {})
            secs = np.mean([float(v["seconds"]) for v in mine.values()]) if mine else float("nan")
            if psnr:
                out += [f"{float(r['psnr']):.2f}", f"{float(r['ssim']):.4f}"]
            if niqe:
                out.append(f"{float(r['niqe']):.2f}" if r.get("niqe") else "-")
            if psnr:
                base = next((images[m] for m in INPUT_NAMES if m in images), None)
                gains = [float(mine[k]["psnr"]) - float(base[k]["psnr"]) for k in mine if base and k in base]
                worse = sum(g < -0.05 for g in gains)
                out += [f"{np.mean(gains):+.2f}" if gains else "-", f"{worse}/{len(gains)}" if gains else "-"]
            out.append(f"{secs:.2f}")
        return out

    first = next(iter(tasks.values()))[0]
    methods.sort(key=lambda m: -float(first[m]["psnr"]) if m in first and first[m].get("psnr") else 0.0)
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
