"""Score a trained model on its task's standard benchmarks and (optionally) ship it.

The model is a weights file exported by ``restora train`` (``NAME.safetensors`` with its
``NAME.json`` card beside it). Its card's task picks the benchmarks:

- ``denoise``: ``denoise-{gray,color}-s{15,25,50}`` on BSD68 / CBSD68, run twice: with the
  true sigma and blind (``+blind``: the noise level is estimated from the image); gray
  models are also scored on the colour tasks (they run on opponent-colour channels); models
  trained on opponent channels of colour images (``data.color_split``) only on those; models
  trained on camera-sensor noise on ``denoise-camera`` (CBSD68, blind);
- ``jpeg``: ``jpeg-q{10,20,30,40}`` on LIVE1 and classic5 (Y channel), and
  ``jpeg-color-q{10,20,30,40}`` on LIVE1 (RGB);
- ``sr``: ``sr-bicubic-x{scale}`` on Set5 and Set14 (Y channel, crop = scale); models
  trained on the Real-ESRGAN / BSRGAN pipelines (blind): ``sr-realesrgan-x{scale}`` on Set14
  with NIQE beside PSNR/SSIM (compare with ``--methods bicubic,edsr-x4``).

The scores go into the card (``scores``: ``"task/dataset" -> {psnr, ssim}``, plus the CPU
throughput in MP/s measured by :func:`restora.engine.throughput.measure_throughput`), a
markdown table with the published rows is printed, and ``--ship`` copies weights + card into
``src/restora/zoo/weights`` (the card is written atomically; the weights' checksum is
checked first); ``--throughput-only --ship`` re-measures the MP/s and ships the scored card.

    python benchmarks/score_model.py runs/ffdnet-gray/ffdnet-gray.safetensors [--limit N] [--ship] [--tasks T1,T2]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from restora.atomic import atomic_write
from restora.bench import markdown_table, run_benchmark
from restora.bench.methods import BLIND_SUFFIX
from restora.engine.throughput import measure_throughput, prepare
from restora.zoo import load_file

ZOO = Path(__file__).resolve().parents[1] / "src" / "restora" / "zoo" / "weights"


def bench_plan(card) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """``(task, datasets, method suffixes)`` for the card's task (``""``: condition given)."""
    if card.task == "denoise" and card.real_world:  # camera-noise models: blind, real-noise task
        return [("denoise-camera", ["CBSD68"], ("",))]
    if card.task == "denoise" and card.color_split == "opponent":  # a gray net made for colour images
        return [(f"denoise-color-s{s}", ["CBSD68"], ("", BLIND_SUFFIX)) for s in (15, 25, 50)]
    if card.task == "denoise":
        kind, sets = ("gray", ["BSD68"]) if card.channels == 1 else ("color", ["CBSD68"])
        plan = [(f"denoise-{kind}-s{s}", sets, ("", BLIND_SUFFIX)) for s in (15, 25, 50)]
        if card.channels == 1:  # gray models also denoise colour images (opponent channels)
            plan += [(f"denoise-color-s{s}", ["CBSD68"], (BLIND_SUFFIX,)) for s in (15, 25, 50)]
        return plan
    if card.task == "jpeg":
        plan = [(f"jpeg-q{q}", ["LIVE1", "classic5"], ("",)) for q in (10, 20, 30, 40)]
        # colour JPEGs: gray models run on the JFIF Y/Cb/Cr planes, colour ones directly
        return plan + [(f"jpeg-color-q{q}", ["LIVE1"], ("",)) for q in (10, 20, 30, 40)]
    if card.task == "sr" and card.real_world:
        return [(f"sr-realesrgan-x{card.scale}", ["Set14"], ("",))]
    if card.task == "sr":
        return [(f"sr-bicubic-x{card.scale}", ["Set5", "Set14"], ("",))]
    raise SystemExit(f"no standard benchmark for task {card.task!r}")


def cpu_megapixels_per_second(weights: Path, size: int = 256, seconds: float = 3.0) -> float:
    """Whole-image CPU fp32 eager throughput on a ``size``-pixel square input."""
    loaded = load_file(weights)
    d = loaded.descriptor
    model = prepare(loaded.model, torch.device("cpu"), torch.float32, False)
    x = torch.rand(1, d.in_channels, size, size)
    if d.condition == "noise_map":
        level = torch.full((1, 1, size, size), 25 / 255)
        return measure_throughput(lambda t: model(t, level), x, label="cpu", min_seconds=seconds).megapixels_per_second
    return measure_throughput(model, x, label="cpu", min_seconds=seconds).megapixels_per_second


def record_throughput(card, weights: Path) -> float:
    """Measure the CPU MP/s of ``weights`` into ``card.scores`` and return it."""
    mps = cpu_megapixels_per_second(weights)
    card.scores["throughput/cpu"] = {"mp_per_s": round(mps, 4), "threads": torch.get_num_threads()}
    return mps


def copy_atomically(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary file beside it (never a half-written file)."""
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def ship(weights: Path, card_path: Path) -> None:
    """Copy weights + card into the package zoo and load them back (checksum + card verified)."""
    copy_atomically(weights, ZOO / weights.name)
    copy_atomically(card_path, ZOO / card_path.name)
    card = load_file(ZOO / weights.name).card
    print(f"shipped {card.name} -> {ZOO}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set")
    ap.add_argument("--methods", default="", help="extra methods to compare (comma-separated catalogue names)")
    ap.add_argument("--ship", action="store_true", help="copy weights + scored card into the package zoo")
    ap.add_argument("--out", type=Path, default=Path("results/score_model"))
    ap.add_argument("--throughput-only", action="store_true", help="re-measure only the CPU MP/s in the card")
    ap.add_argument("--blind-only", action="store_true", help="denoisers: only the +blind runs (sigma estimated), not sigma-given")
    ap.add_argument("--tasks", default="", help="only these of the plan's tasks (comma-separated); other scores are kept")
    args = ap.parse_args()
    loaded = load_file(args.weights)
    card = loaded.card
    card_path = args.weights.with_suffix(".json")
    if args.throughput_only:
        mps = record_throughput(card, args.weights)
        atomic_write(card_path, lambda tmp: Path(tmp).write_text(card.to_json()))
        print(f"{card.name}: CPU fp32 eager {mps:.3f} MP/s ({torch.get_num_threads()} threads)")
        if args.ship:
            ship(args.weights, card_path)
        return
    extra = [m for m in args.methods.split(",") if m]
    scores: dict[str, dict[str, float]] = dict(card.scores) if args.tasks else {}
    only = [t for t in args.tasks.split(",") if t]
    tables = []
    for task, sets, variants in bench_plan(card):
        if only and task not in only:
            continue
        if args.blind_only and BLIND_SUFFIX in variants:
            variants = (BLIND_SUFFIX,)
        methods = [str(args.weights) + v for v in variants] + extra
        metrics = ("psnr", "ssim", "niqe") if task.startswith("sr-realesrgan") else ("psnr", "ssim")
        result = run_benchmark(methods, task, sets, limit=args.limit, progress=True, metrics=metrics)
        tables.append(f"### {task}\n\n{markdown_table(result)}\n")
        for row in result.rows:
            if row.published or row.error or not row.method.startswith(card.name):
                continue
            suffix = row.method[len(card.name):]  # "", "+blind" or "+x8" (self-ensemble)
            scores[f"{task}{suffix}/{row.dataset}"] = {k: round(float(v), 4) for k, v in row.scores.items() if v is not None}
    card.scores = scores
    mps = record_throughput(card, args.weights)
    if args.limit:
        card.scores["note"] = {"images_per_set": args.limit}
    args.out.mkdir(parents=True, exist_ok=True)
    report = args.out / f"{card.name}.md"
    report.write_text("\n".join(tables) + f"\nCPU fp32 eager: {mps:.3f} MP/s ({torch.get_num_threads()} threads)\n")
    print("\n".join(tables))
    print(f"CPU fp32 eager: {mps:.3f} MP/s ({torch.get_num_threads()} threads); report: {report}")
    atomic_write(card_path, lambda tmp: Path(tmp).write_text(card.to_json()))
    if args.ship:
        ship(args.weights, card_path)
    print(json.dumps(card.scores, indent=1))


if __name__ == "__main__":
    main()
