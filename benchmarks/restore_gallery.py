"""Before / after gallery of `restore` with no options on real photos (issue 15).

Each row: a centre crop of the input and of the output at the same place, the plan's steps
(dropped ones marked) and seconds. The photos are real, not synthetic: PolyU camera JPEGs
(with the PSNR against the averaged reference), RNI6 noisy gray photos, RealSRSet and
FacesLQ images, a Levin blurred image (with its PSNR against the sharp one). Nothing here
is tuned on them. Crops are the most textured window of the input; blurred inputs are
scored up to a translation of 10 px, as the deblurring bench does.

    python benchmarks/restore_gallery.py --out docs/images/restore_gallery.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from restora.bench.runner import align_to
from restora.data import data_root
from restora.io import read_image
from restora.metrics import psnr
from restora.pipeline import RestorePipeline

#: (path under the data root, reference under the data root or None)
PHOTOS = (
    ("test/PolyU/Canon80D_8_8_12800_printer_14_real.JPG", "test/PolyU/Canon80D_8_8_12800_printer_14_mean.JPG"),
    ("test/PolyU/Sony_4-5_125_1600_toy_10_real.JPG", "test/PolyU/Sony_4-5_125_1600_toy_10_mean.JPG"),
    ("test/RNI6/Marilyn.png", None),
    ("test/RNI6/Building.png", None),
    ("test/RealSRSet/oldphoto2.webp", None),
    ("test/RealSRSet/dog.webp", None),
    ("test/FacesLQ/CodeFormer__inputs_gray_faces__067_David_Beckham_00.webp", None),
    ("test/Levin/blurred/im2_kernel3_img.png", "test/Levin/sharp/im2.png"),
)
#: Blurred inputs are scored up to a translation (Levin et al.'s convention, as the bench does).
MAX_SHIFT = 10


def textured_corner(img: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` x ``side`` window of ``img`` with the most gradient
    energy (a crop where damage and repair show; centre crops of photos are often flat)."""
    import cv2

    y = np.clip(img[:, :, :3], 0, 1).mean(2).astype(np.float32)
    h, w = y.shape
    s = min(side, h, w)
    e = np.abs(cv2.Sobel(y, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(y, cv2.CV_32F, 0, 1))
    box = cv2.boxFilter(e, -1, (s, s), normalize=True, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[: h - s + 1, : w - s + 1]
    i, j = np.unravel_index(int(np.argmax(box)), box.shape)
    return int(i), int(j)


def crop(img: np.ndarray, side: int, corner: tuple[int, int]) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(side, h, w)
    y, x = corner
    out = np.clip(img[y : y + s, x : x + s, :3], 0, 1)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/restore_gallery.png"))
    ap.add_argument("--side", type=int, default=192, help="crop side in pixels")
    args = ap.parse_args()
    root = data_root()
    pipe = RestorePipeline(device="cpu")
    rows = []
    for rel, ref_rel in PHOTOS:
        path = root / rel
        if not path.is_file():
            print(f"skipped (missing): {rel}")
            continue
        image = read_image(path)
        t0 = time.perf_counter()
        result = pipe.restore(image, path=path)
        seconds = time.perf_counter() - t0
        steps = [f"{s.name}:{s.method}" + (" (dropped)" if s.dropped else "") for s in result.plan.steps] or ["nothing to do"]
        row = {"image": rel, "steps": steps, "seconds": round(seconds, 1)}
        if ref_rel is not None:
            ref = read_image(root / ref_rel)
            if ref.shape == image.shape:
                shift = MAX_SHIFT if "Levin" in rel else 0
                scored = [align_to(np.clip(x, 0, 1), ref, shift) if shift else np.clip(x, 0, 1) for x in (image, result.image)]
                row["psnr_in"], row["psnr_out"] = (round(psnr(x, ref, crop=shift), 2) for x in scored)
        corner = textured_corner(image, args.side)
        rows.append((row, crop(image, args.side, corner), crop(result.image, args.side, corner)))
        print(json.dumps(row), flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(7.0, 3.4 * len(rows)))
    for (row, before, after), (ax_b, ax_a) in zip(rows, np.atleast_2d(axes)):
        ax_b.imshow(before, interpolation="nearest")
        ax_a.imshow(after, interpolation="nearest")
        score = f"  {row['psnr_in']:.2f} -> {row['psnr_out']:.2f} dB" if "psnr_in" in row else ""
        ax_b.set_title(Path(row["image"]).name, fontsize=8)
        ax_a.set_title("; ".join(row["steps"]) + f"  ({row['seconds']:.0f} s){score}", fontsize=7)
        ax_b.axis("off")
        ax_a.axis("off")
    fig.suptitle("restora restore IN OUT (no options): input | output, most textured crops", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    (args.out.with_suffix(".json")).write_text(json.dumps([r for r, _, _ in rows], indent=1))
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
