"""Classical denoising and degradation estimation: quality, speed, estimator accuracy.

Modes (one per run; every mode takes ``--limit N`` to use the first N images only)::

    python benchmarks/bench_classical_denoise.py quality [--dataset BSD68 --sigma 25 --methods all]
    python benchmarks/bench_classical_denoise.py speed [--limit 4]
    python benchmarks/bench_classical_denoise.py noise-sweep [--datasets BSD68,Set12]
    python benchmarks/bench_classical_denoise.py jpeg [--datasets LIVE1,CBSD68]

``quality``
    PSNR (dB) and seconds per image of every registered denoiser (``--methods`` to choose) on
    a test set with white Gaussian noise of std ``sigma/255``. The conventions are those of
    ``restora bench denoise-gray-s25``: the noise for image ``NAME`` comes from
    ``np.random.default_rng([seed, crc32(NAME)])`` (:func:`restora.bench.tasks.image_rng`,
    ``NAME`` = file stem), is added in float and not clipped; the output is clipped to [0, 1]
    and rounded to 8 bits, and PSNR is taken over the full image (data range 1) and averaged
    over the images. Gray sets (BSD68, Set12) are used as stored; colour sets (CBSD68) in RGB.
``speed``
    Each of our filters against the OpenCV / scikit-image call it competes with, on the same
    noisy images in one run (best of ``--repeat`` wall-clock timings per image, summed); the
    ratio is ours / theirs (target: within 2x). The PSNR of both is printed too, since the
    library calls run at their usual settings (uint8 for OpenCV's median and NLM).
``noise-sweep``
    Relative error of :func:`restora.classical.estimate.estimate_noise_sigma` for sigma
    5..50 (seeded as above) on gray test sets.
``jpeg``
    JPEG quality from decoded pixels (quantisation-step detection): error per quality on
    images encoded with Pillow, the rate of false detections on the originals, and the
    median blockiness per quality (the calibration of the blockiness fallback).

Results: a table on stdout and JSON in ``results/classical_denoise/`` (gitignored).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.bench.tasks import image_rng
from restora.data import dataset_images
from restora.degrade.noise import gaussian_noise
from restora.io import read_image
from restora.metrics import psnr

OUT_DIR = Path(__file__).resolve().parents[1] / "results" / "classical_denoise"


def environment() -> dict[str, Any]:
    import cv2
    import torch

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
    }


def load_set(name: str, limit: int | None) -> list[tuple[str, np.ndarray]]:
    paths = dataset_images(name)[:limit]
    return [(p.stem, read_image(p)) for p in paths]


def noisy_copy(ref: np.ndarray, sigma: float, name: str, seed: int) -> np.ndarray:
    return gaussian_noise(ref, sigma, image_rng(seed, name), clip=False).image


def score(out: np.ndarray, ref: np.ndarray) -> float:
    return float(psnr(np.asarray(out, np.float32).reshape(ref.shape), ref, round_to_uint8=True))


def save(name: str, data: dict[str, Any]) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


# --------------------------------------------------------------------------------- quality


def run_quality(args: argparse.Namespace) -> None:
    from restora.classical import denoise as D
    from restora.errors import MissingResourceError

    names = list(D.DENOISERS) if args.methods == "all" else args.methods.split(",")
    images = load_set(args.dataset, args.limit)
    samples = [(n, ref, noisy_copy(ref, args.sigma, n, args.seed)) for n, ref in images]
    noisy_psnr = float(np.mean([score(y, ref) for _, ref, y in samples]))
    print(f"{args.dataset}: {len(samples)} images, sigma {args.sigma:g}, noisy input {noisy_psnr:.2f} dB", flush=True)
    results: dict[str, Any] = {}
    for name in names:
        fn = D.DENOISERS[name]
        ps, wall, cpu = [], [], []
        try:
            for img_name, ref, y in samples:
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn(y, args.sigma)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                ps.append(score(out, ref))
        except MissingResourceError as exc:
            print(f"{name}: skipped ({exc})", flush=True)
            continue
        results[name] = {
            "psnr": float(np.mean(ps)),
            "seconds_per_image": float(np.mean(wall)),
            "cpu_seconds_per_image": float(np.mean(cpu)),
            "per_image_psnr": dict(zip([s[0] for s in samples], map(float, ps))),
        }
        print(f"{name:22s} {np.mean(ps):7.3f} dB  {np.mean(wall):7.3f} s/image (cpu {np.mean(cpu):.3f} s)", flush=True)
    rows = [[n, f"{r['psnr']:.3f}", f"{r['seconds_per_image']:.3f}", f"{r['cpu_seconds_per_image']:.3f}"]
            for n, r in sorted(results.items(), key=lambda kv: kv[1]["psnr"])]
    print()
    print_table(["method", f"PSNR (dB) {args.dataset} sigma {args.sigma:g}", "s/image (wall)", "s/image (cpu)"], rows)
    path = save(f"quality_{args.dataset}_s{args.sigma:g}.json", {
        "dataset": args.dataset, "sigma": args.sigma, "seed": args.seed, "images": len(samples),
        "noisy_psnr": noisy_psnr, "results": results, "environment": environment(),
        "command": " ".join(sys.argv),
    })
    print(f"\nwrote {path}")


# ----------------------------------------------------------------------------------- speed


def _competitors(sigma: float) -> list[tuple[str, Callable[[np.ndarray], np.ndarray], str, Callable[[np.ndarray], np.ndarray]]]:
    """(our method, our call, their name, their call) at matching settings for ``sigma``."""
    import cv2
    from scipy import ndimage
    from skimage import restoration as skr

    from restora.classical import denoise as D

    s = sigma / 255.0
    blur = 0.25 + 0.028 * sigma
    k = 2 * int(np.ceil(3 * blur)) + 1
    med = 1 if sigma < 11 else (3 if sigma < 22 else (5 if sigma < 40 else 7))
    box = 1 if sigma < 11 else (3 if sigma < 30 else (5 if sigma < 48 else 7))
    sc, ss = (1.6 + 0.05 * sigma) * s, 1.0 + 0.03 * sigma
    diam = 2 * int(np.ceil(2 * ss)) + 1
    h = (0.7 - 0.003 * sigma) * s
    ps = 5 if sigma <= 30 else 7
    tvw = (0.55 + 0.007 * sigma) * s

    def u8(x: np.ndarray) -> np.ndarray:
        return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)

    def f32(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32) / 255.0

    def g(x: np.ndarray) -> np.ndarray:
        return x[:, :, 0]

    out: list[tuple[str, Callable[[np.ndarray], np.ndarray], str, Callable[[np.ndarray], np.ndarray]]] = [
        ("box", lambda x: D.box(x, sigma), "cv2.blur", lambda x: cv2.blur(g(x), (box, box))),
        ("gaussian", lambda x: D.gaussian(x, sigma), "cv2.GaussianBlur",
         lambda x: cv2.GaussianBlur(g(x), (k, k), blur)),
        ("gaussian", lambda x: D.gaussian(x, sigma), "scipy.ndimage.gaussian_filter",
         lambda x: ndimage.gaussian_filter(g(x), blur, truncate=3.0)),
        ("median", lambda x: D.median(x, sigma), "cv2.medianBlur (uint8)", lambda x: f32(cv2.medianBlur(u8(g(x)), med))),
        ("median", lambda x: D.median(x, sigma), "scipy.ndimage.median_filter",
         lambda x: ndimage.median_filter(g(x), size=med)),
        ("bilateral", lambda x: D.bilateral(x, sigma), "cv2.bilateralFilter",
         lambda x: cv2.bilateralFilter(g(x), diam, sc, ss)),
        ("bilateral", lambda x: D.bilateral(x, sigma), "skimage denoise_bilateral",
         lambda x: skr.denoise_bilateral(g(x), win_size=diam, sigma_color=sc, sigma_spatial=ss)),
        ("guided", lambda x: D.guided(x, sigma), "cv2.bilateralFilter (edge-aware peer)",
         lambda x: cv2.bilateralFilter(g(x), diam, sc, ss)),
        ("tv", lambda x: D.tv(x, sigma), "skimage denoise_tv_chambolle",
         lambda x: skr.denoise_tv_chambolle(g(x), weight=tvw)),
        ("wavelet", lambda x: D.wavelet(x, sigma, shifts=0), "skimage denoise_wavelet",
         lambda x: skr.denoise_wavelet(g(x), sigma=s, wavelet="db2", method="BayesShrink", rescale_sigma=True)),
        ("nlm", lambda x: D.nlm(x, sigma), "skimage denoise_nl_means",
         lambda x: skr.denoise_nl_means(g(x), h=h, sigma=s, patch_size=ps, patch_distance=6, fast_mode=True)),
        ("nlm", lambda x: D.nlm(x, sigma), "cv2.fastNlMeansDenoising (uint8)",
         lambda x: f32(cv2.fastNlMeansDenoising(u8(g(x)), None, float(sigma), 7, 21))),
    ]
    try:
        import bm3d  # noqa: F401

        out.append(("collaborative-wiener", lambda x: D.collaborative_wiener(x, sigma), "bm3d package",
                    lambda x: D.bm3d_reference(x, sigma)))
    except ImportError:
        pass
    return out


def _time(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, repeat: int) -> tuple[float, np.ndarray]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(x)
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return best, np.asarray(out, np.float32)


def run_speed(args: argparse.Namespace) -> None:
    images = load_set(args.dataset, args.limit)
    samples = [(ref, noisy_copy(ref, args.sigma, n, args.seed)) for n, ref in images]
    rows, records = [], []
    for ours_name, ours, theirs_name, theirs in _competitors(args.sigma):
        t_ours = t_theirs = 0.0
        p_ours, p_theirs = [], []
        slow = ours_name == "collaborative-wiener"
        for ref, y in samples:
            t, o = _time(ours, y, 1 if slow else args.repeat)
            t_ours += t
            p_ours.append(score(o, ref))
            t, o = _time(theirs, y, 1 if slow else args.repeat)
            t_theirs += t
            p_theirs.append(score(o, ref))
        n = len(samples)
        ratio = t_ours / t_theirs
        rec = {"ours": ours_name, "theirs": theirs_name, "ours_s": t_ours / n, "theirs_s": t_theirs / n,
               "ratio": ratio, "ours_psnr": float(np.mean(p_ours)), "theirs_psnr": float(np.mean(p_theirs))}
        records.append(rec)
        rows.append([ours_name, theirs_name, f"{1000 * t_ours / n:.1f}", f"{1000 * t_theirs / n:.1f}", f"{ratio:.2f}",
                     f"{rec['ours_psnr']:.2f}", f"{rec['theirs_psnr']:.2f}"])
        print(f"{ours_name} vs {theirs_name}: {ratio:.2f}x", flush=True)
    print()
    print_table(["ours", "competitor", "ours ms/img", "theirs ms/img", "ratio", "ours dB", "theirs dB"], rows)
    path = save(f"speed_{args.dataset}_s{args.sigma:g}.json", {
        "dataset": args.dataset, "sigma": args.sigma, "images": len(samples), "repeat": args.repeat,
        "results": records, "environment": environment(), "command": " ".join(sys.argv)})
    print(f"\nwrote {path}")


# ----------------------------------------------------------------------------- noise sweep


def run_noise_sweep(args: argparse.Namespace) -> None:
    from restora.classical.estimate import estimate_noise_sigma

    sigmas = [float(s) for s in args.sigmas.split(",")]
    rows: list[list[str]] = []
    allerr: list[float] = []
    out: dict[str, Any] = {}
    for ds in args.datasets.split(","):
        images = load_set(ds, args.limit)
        for sigma in sigmas:
            errs = []
            for n, ref in images:
                y = noisy_copy(ref, sigma, n, args.seed)
                errs.append(estimate_noise_sigma(y) / sigma - 1.0)
            e = np.array(errs)
            allerr += list(e)
            out[f"{ds}/{sigma:g}"] = {"mean": float(e.mean()), "mean_abs": float(np.abs(e).mean()),
                                      "max_abs": float(np.abs(e).max())}
            rows.append([ds, f"{sigma:g}", f"{100 * e.mean():+.2f}", f"{100 * np.abs(e).mean():.2f}",
                         f"{100 * np.abs(e).max():.2f}"])
            print(f"{ds} sigma {sigma:g}: mean {100 * e.mean():+.2f}%  max |e| {100 * np.abs(e).max():.2f}%", flush=True)
    a = np.abs(allerr)
    rows.append(["all", "5-50", "", f"{100 * a.mean():.2f}", f"{100 * a.max():.2f}"])
    print()
    print_table(["dataset", "sigma", "mean err %", "mean |err| %", "max |err| %"], rows)
    path = save("noise_sweep.json", {"sigmas": sigmas, "datasets": args.datasets, "limit": args.limit,
                                     "results": out, "overall_mean_abs": float(a.mean()),
                                     "overall_max_abs": float(a.max()), "command": " ".join(sys.argv)})
    print(f"\nwrote {path}")


# ------------------------------------------------------------------------------------ jpeg


def run_jpeg(args: argparse.Namespace) -> None:
    from PIL import Image

    from restora.classical.estimate import blockiness, estimate_jpeg_quality

    qualities = [int(q) for q in args.qualities.split(",")]
    images: list[np.ndarray] = []
    for ds in args.datasets.split(","):
        images += [np.clip(img, 0, 1) for _, img in load_set(ds, args.limit)]
    rows = []
    out: dict[str, Any] = {}
    for q in qualities:
        errs, missed, blocks = [], 0, []
        for img in images:
            arr = (img * 255 + 0.5).astype(np.uint8)
            pil = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
            buf = io.BytesIO()
            pil.save(buf, "JPEG", quality=q)
            decoded = np.asarray(Image.open(buf))
            est = estimate_jpeg_quality(decoded)
            blocks.append(blockiness(decoded)[0])
            if est is None:
                missed += 1
            else:
                errs.append(est - q)
        e = np.array(errs) if errs else np.zeros(0)
        out[str(q)] = {"missed": missed, "mean_abs_err": float(np.abs(e).mean()) if e.size else None,
                       "max_abs_err": float(np.abs(e).max()) if e.size else None,
                       "median_blockiness": float(np.median(blocks))}
        rows.append([str(q), f"{len(images) - missed}/{len(images)}",
                     f"{np.abs(e).mean():.2f}" if e.size else "-", f"{np.abs(e).max():.0f}" if e.size else "-",
                     f"{np.median(blocks):.3f}"])
        print(f"q {q}: detected {len(images) - missed}/{len(images)}", flush=True)
    false = sum(estimate_jpeg_quality(np.asarray(img)) is not None for img in images)
    print()
    print_table(["quality", "detected", "mean |err|", "max |err|", "median blockiness"], rows)
    print(f"originals with a quality reported: {false}/{len(images)} "
          "(CBSD68 originals are BSDS JPEGs, so a detection there can be right)")
    path = save("jpeg_pixels.json", {"qualities": out, "originals_detected": false, "images": len(images),
                                     "datasets": args.datasets, "command": " ".join(sys.argv)})
    print(f"\nwrote {path}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("quality", "speed", "noise-sweep", "jpeg"))
    ap.add_argument("--dataset", default="BSD68")
    ap.add_argument("--datasets", default=None, help="noise-sweep: BSD68,Set12; jpeg: LIVE1,CBSD68")
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--sigmas", default="5,10,15,20,25,30,35,40,50")
    ap.add_argument("--qualities", default="5,10,20,30,40,50,60,70,80,90,95")
    ap.add_argument("--methods", default="all", help="comma-separated registered names, or 'all'")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images of each set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="speed: best of this many timings per image")
    args = ap.parse_args(argv)
    if args.datasets is None:
        args.datasets = "LIVE1,CBSD68" if args.mode == "jpeg" else "BSD68,Set12"
    {"quality": run_quality, "speed": run_speed, "noise-sweep": run_noise_sweep, "jpeg": run_jpeg}[args.mode](args)


if __name__ == "__main__":
    main()
