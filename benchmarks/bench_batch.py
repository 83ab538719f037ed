"""Product-layer benchmarks: batch throughput, big-image memory, method costs, JPEG sigma.

Modes (one per run):

``python benchmarks/bench_batch.py [--n 200 --size 256 --workers 1 2 --steps upscale:bicubic --scale 2]``
    Batch throughput (images/s) of ``restora.batch.run_batch`` on ``--n`` generated PNGs at
    each worker count (``--engine ray`` for the Ray engine), same job, fresh output folder.

``python benchmarks/bench_batch.py --big [--width 5000 --height 4000 --method bilateral --tile 1024]``
    Restores a generated noisy ``width x height`` PNG with ``restore_file`` in a fresh
    subprocess and reports its peak RSS (``resource.getrusage``), for the tiled pipeline and,
    with ``--compare-untiled``, for ``tile=None`` (whole image at once).

``python benchmarks/bench_batch.py --costs``
    CPU seconds per megapixel of each classical method (the planner's ``CLASSICAL_COST``).

``python benchmarks/bench_batch.py --jpeg-sigma``
    RMS error of JPEG at each quality on LIVE1/CBSD68 crops and the PSNR-best sigma multiple
    for a denoiser used as a deblocker (the planner's ``jpeg_equivalent_sigma``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    from restora.degrade.noise import gaussian_noise
    from restora.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(n):
        phase = rng.random(3) * 6
        base = np.stack([0.5 + 0.35 * np.sin(6 * x + phase[c]) * np.cos(5 * y + phase[c]) for c in range(3)], axis=2)
        write_image(folder / f"img_{i:05d}.png", gaussian_noise(base, 15, rng=rng).image)


def throughput(args: argparse.Namespace) -> None:
    from restora.batch import run_batch
    from restora.pipeline import RestorePipeline

    plan = {"steps": args.steps.split(",")}
    if args.scale:
        plan["scale"] = args.scale
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        t0 = time.perf_counter()
        make_images(src, args.n, args.size)
        print(f"made {args.n} images of {args.size}x{args.size} in {time.perf_counter() - t0:.1f}s; plan {plan}")
        results = {}
        for w in args.workers:
            out = Path(tmp) / f"out{w}"
            if args.engine == "ray":
                from restora.distributed import run_ray_batch

                rep = run_ray_batch(src, out, concurrency=w, pipeline_options={"prefer": "classical", "device": args.device}, **plan)
            else:
                pipe = RestorePipeline(prefer="classical", device=args.device)
                rep = run_batch(src, out, pipeline=pipe, workers=w, **plan)
            results[w] = rep.images_per_second
            print(f"engine {args.engine} workers {w}: {rep.done} images in {rep.elapsed:.2f}s = {rep.images_per_second:.1f} images/s (failed {rep.failed})")
            shutil.rmtree(out)
        if len(results) > 1:
            base = results[args.workers[0]]
            for w, v in results.items():
                print(f"  workers {w}: x{v / base:.2f} vs workers {args.workers[0]}")
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


_CHILD = r"""
import json, resource, sys, time
from restora.pipeline import RestorePipeline, restore_file
src, dst, method, tile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
tile = None if tile == "none" else int(tile)
t0 = time.perf_counter()
res = restore_file(src, dst, pipeline=RestorePipeline(prefer="classical", tile=tile, device="cpu"), steps=[f"denoise:{method}"], overwrite=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak_rss": peak, "seconds": time.perf_counter() - t0, "timings": res.timings, "shape": list(res.image.shape),
                  "sigma": res.plan.steps[0].params.get("sigma")}))
"""

_BASELINE = r"""
import json, resource, sys
import numpy as np
from restora.io import read_image_info, write_image
img, info = read_image_info(sys.argv[1])
write_image(sys.argv[2], img, info=info, overwrite=True)
print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def big(args: argparse.Namespace) -> None:
    from restora.io import write_image

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.png"
        rng = np.random.default_rng(0)
        h, w = args.height, args.width
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        xx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            img[:, :, c] = 0.5 + 0.3 * np.sin(20 * xx + c) * np.cos(15 * yy)
            img[:, :, c] += rng.standard_normal((h, w), dtype=np.float32) * (15 / 255)
        t0 = time.perf_counter()
        write_image(src, img)
        del img
        image_mb = h * w * 3 * 4 / 2**20
        print(f"input {w}x{h} PNG ({src.stat().st_size / 2**20:.0f} MB file, {image_mb:.0f} MB as float32) written in {time.perf_counter() - t0:.1f}s")
        base = json.loads(subprocess.run([sys.executable, "-c", _BASELINE, str(src), str(Path(tmp) / "copy.png")], capture_output=True, text=True, check=True).stdout)
        print(f"read + write only (no restoration): peak RSS {base['peak_rss'] / 2**20:.0f} MB")
        tiles = [str(args.tile)] + (["none"] if args.compare_untiled else [])
        for tile in tiles:
            r = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(Path(tmp) / "out.png"), args.method, tile], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"tile {tile}: failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
                continue
            out = json.loads(r.stdout.strip().splitlines()[-1])
            t = out["timings"]
            print(
                f"restore denoise:{args.method} tile={tile}: peak RSS {out['peak_rss'] / 2**20:.0f} MB "
                f"({out['peak_rss'] / 2**20 / image_mb:.1f}x the float32 image), {out['seconds']:.1f}s "
                f"(read {t['read']:.1f}, analyse {t['analyse']:.1f}, denoise {t['denoise']:.1f}, write {t['write']:.1f}); sigma {out['sigma']}"
            )


def costs(args: argparse.Namespace) -> None:
    from skimage import data

    from restora.degrade.noise import gaussian_noise
    from restora.restorers import get_restorer

    img = data.astronaut().astype(np.float32)[:512, :512] / 255
    noisy = gaussian_noise(img, 20, rng=0).image
    k = np.ones((9, 9), np.float32) / 81
    cases = [(n, noisy, {"sigma": 20}) for n in ("gaussian", "bilateral", "tv", "wavelet", "nlm")]
    cases += [("collaborative-wiener", noisy[:192, :192], {"sigma": 20})]
    cases += [("wiener", img, {"kernel": k, "sigma": 2}), ("map-hyper-laplacian", img, {"kernel": k, "sigma": 2})]
    cases += [("bicubic", img[:256, :256], {"scale": 2})]
    for name, x, cond in cases:
        f = get_restorer(name)
        t0 = time.perf_counter()
        try:
            f(x, **cond)
        except Exception as exc:  # e.g. a method whose model is not shipped here
            print(f"{name:22s} unavailable: {exc}")
            continue
        dt = time.perf_counter() - t0
        print(f"{name:22s} {dt / (x.shape[0] * x.shape[1] / 1e6):8.2f} s/MP")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def jpeg_sigma(args: argparse.Namespace) -> None:
    import glob

    from restora.data import data_root
    from restora.degrade.jpeg import jpeg
    from restora.io import read_image
    from restora.metrics import psnr
    from restora.pipeline import jpeg_equivalent_sigma
    from restora.restorers import get_restorer

    root = data_root() / "test"
    files = sorted(glob.glob(str(root / "LIVE1" / "*")))[:8] + sorted(glob.glob(str(root / "CBSD68" / "*")))[:8]
    if not files:
        sys.exit(f"datasets not found under {root}")
    qs = [10, 20, 30, 50, 70, 90]
    ks = [0.5, 1.0, 1.5, 2.0]
    den = get_restorer(args.method)
    rms = {q: [] for q in qs}
    gain = {(q, k): [] for q in qs for k in ks}
    for f in files:
        im = np.clip(read_image(f), 0, 1)
        h, w = im.shape[:2]
        im = im[h // 2 - 128 : h // 2 + 128, w // 2 - 128 : w // 2 + 128]
        for q in qs:
            d = jpeg(im, q).image
            r = float(np.sqrt(np.mean((d - im) ** 2)) * 255)
            rms[q].append(r)
            base = psnr(d, im)
            for k in ks:
                gain[(q, k)].append(psnr(np.clip(den(d, sigma=k * r), 0, 1), im) - base)
    print(f"{len(files)} crops of 256x256 (LIVE1 + CBSD68), denoiser {args.method}")
    for q in qs:
        g = {k: float(np.mean(gain[(q, k)])) for k in ks}
        best = max(g, key=g.get)
        print(f"q={q:3d}: RMS error {np.median(rms[q]):5.2f} levels; PSNR gain by sigma multiple "
              + ", ".join(f"{k}: {v:+.2f}" for k, v in g.items())
              + f"; best {best} -> sigma {best * np.median(rms[q]):.2f}; jpeg_equivalent_sigma {jpeg_equivalent_sigma(q):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--costs", action="store_true")
    ap.add_argument("--jpeg-sigma", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engine", choices=("local", "ray"), default="local")
    ap.add_argument("--steps", default="upscale:bicubic")
    ap.add_argument("--scale", type=float, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=5000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--method", default="bilateral")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--compare-untiled", action="store_true")
    args = ap.parse_args()
    if args.big:
        big(args)
    elif args.costs:
        costs(args)
    elif args.jpeg_sigma:
        if args.method == "bilateral":
            args.method = "nlm"
        jpeg_sigma(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
