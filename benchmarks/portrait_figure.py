"""Issue 18's figure: input / multistage / 3-stage / clean on test faces, with the face box
MTCNN detected on the 3-stage system's step-1 image drawn on the input and 3-stage panels.

Needs the installed models ``portrait-multistage`` and ``portrait-3stage`` (see
configs/cpu/portrait/README.md) and ``test/Faces`` in ``RESTORA_DATA``::

    OMP_NUM_THREADS=1 python benchmarks/portrait_figure.py --faces 3 --out docs/images/portrait_3stage.png

Each face is degraded by the bench's ``pattern_noise`` (seed = 1000 + row, calibrated to
SSIM <= 0.5 and checked); PSNR / SSIM of every panel are written in its title. The faces
are research-only images (FFHQ/CelebA-HQ samples): the figure is for the docs, not a sample.
"""

from __future__ import annotations

import argparse
import numpy as np


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=3, help="how many test faces (rows), from the sorted list")
    ap.add_argument("--offset", type=int, default=0, help="skip this many faces first")
    ap.add_argument("--out", default="docs/images/portrait_3stage.png")
    args = ap.parse_args(argv)

    from restora import zoo
    from restora.bench.portrait import check_input, comparison_figure
    from restora.data import dataset_images
    from restora.degrade.pattern import pattern_noise
    from restora.faces.restorer import PortraitRestorer
    from restora.io import read_image
    from restora.metrics import psnr, ssim
    from restora.zoo.restorers import NeuralRestorer

    files = dataset_images("test/Faces")[args.offset: args.offset + args.faces]
    baseline = NeuralRestorer(zoo.load("portrait-multistage"), device="cpu", dtype="float32", tile=None)
    system = PortraitRestorer(zoo.load("portrait-3stage"), device="cpu")
    rows, boxes = [], []
    for row, path in enumerate(files):
        clean = read_image(path)[:, :, :3]
        degraded = pattern_noise(clean, np.random.default_rng(1000 + row), target_ssim=0.5).image
        check_input(degraded, clean)
        restored = [("input", degraded), ("multistage (baseline)", baseline(degraded)), ("portrait-3stage", system(degraded))]
        boxes.append([f.box for f in system.last_faces])
        panels = []
        for title, img in restored:
            q8 = np.round(np.clip(img, 0, 1) * 255) / 255
            panels.append((f"{title}\n{psnr(clean, q8):.2f} dB / SSIM {ssim(clean, q8, round_to_uint8=True):.3f}", q8))
        rows.append([*panels, ("clean", clean)])
        print(f"{path.name}: {' | '.join(t.replace(chr(10), ' ') for t, _ in panels)}; faces {[tuple(round(v) for v in b) for b in boxes[-1]]}")
    print(f"wrote {comparison_figure(rows, args.out, boxes=boxes, box_panels=(0, 2), dpi=80)}")


if __name__ == "__main__":
    main()
