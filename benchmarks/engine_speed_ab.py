"""The tiled engine's own speed with and without channels_last, and the tile layouts' seams
(issue 16, session 39). Each engine gets a freshly loaded model: ``.to(memory_format=...)``
changes a module in place, so reusing one would measure channels_last twice::

    OMP_NUM_THREADS=1 python benchmarks/engine_speed_ab.py [--seams]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import restora.engine.tiling as tiling
from restora.data import data_root
from restora.engine.inference import TiledEngine
from restora.io import read_image
from restora.metrics import psnr
from restora.zoo import load

CASES = (("drunet-gray", (1024, 1024, 1), {"sigma": 25.0}), ("ffdnet-color", (768, 768, 1), {"sigma": 25.0}),
         ("jpeg-gray-unet", (768, 768, 1), {}), ("edsr-x2", (256, 256, 3), {}))


def channels_last_ab() -> None:
    """Best of two whole-image runs per layout, outputs compared."""
    rng = np.random.default_rng(0)
    for name, shape, kw in CASES:
        img = rng.random(shape, dtype=np.float32)
        outs, times = {}, {}
        for cl in (False, True, False, True):
            m = load(name)
            engine = TiledEngine(m.model, m.descriptor, device="cpu", channels_last=cl)
            t = time.perf_counter()
            outs[cl] = engine.run(img, **kw)
            times.setdefault(cl, []).append(time.perf_counter() - t)
        a, b = min(times[False]), min(times[True])
        print(f"{name} {shape}: default layout {a:.2f} s, channels_last {b:.2f} s ({a / b:.2f}x), max |diff| {np.abs(outs[True] - outs[False]).max():.1e}", flush=True)


def seams() -> None:
    """Tiled against untiled output on a noisy 500 x 900 gray crop, old and balanced layouts."""
    img = read_image(sorted((data_root() / "test" / "Kodak24").glob("*"))[0])
    img = np.concatenate([img, img[:, ::-1]], axis=1)[:, :900].mean(axis=2, keepdims=True).astype(np.float32)
    noisy = (img + np.random.default_rng(0).normal(0, 25 / 255, img.shape)).astype(np.float32)
    balanced = tiling.balanced_tile
    layouts = (("full-size tiles", lambda length, tile, overlap, multiple=1: min(tile, length)), ("balanced", balanced))
    try:
        for name, kw in (("drunet-gray", {"sigma": 25.0}), ("jpeg-gray-unet", {})):
            m = load(name)
            whole = np.clip(TiledEngine(m.model, m.descriptor, device="cpu", tile=None).run(noisy, **kw), 0, 1)
            for label, fn in layouts:
                tiling.balanced_tile = fn
                engine = TiledEngine(m.model, m.descriptor, device="cpu", tile=384, overlap=32)
                t = time.perf_counter()
                out = np.clip(engine.run(noisy, **kw), 0, 1)
                print(f"{name} {label}: {engine.stats.tiles} tiles, {time.perf_counter() - t:.2f} s, PSNR against untiled "
                      f"{psnr(out, whole):.2f}, against clean {psnr(out, img):.3f} (untiled {psnr(whole, img):.3f})", flush=True)
    finally:
        tiling.balanced_tile = balanced


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seams", action="store_true", help="also compare the tile layouts' seams")
    args = ap.parse_args()
    channels_last_ab()
    if args.seams:
        seams()


if __name__ == "__main__":
    main()
