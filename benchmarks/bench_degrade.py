"""Degradation throughput in megapixels per second: numpy (one image at a time) vs torch
batched on the CPU vs torch on the GPU (when CUDA is present; skipped otherwise).

Also prints the agreement of the torch JPEG with libjpeg on LIVE1 (when the dataset is
present). Operations: blur with 21x21 kernels (a different Real-ESRGAN kernel per image), Gaussian
noise, MATLAB bicubic downscaling x1/4, JPEG quality 50, and the whole Real-ESRGAN and
BSRGAN x4 pipelines. Throughput counts input pixels: batch x size² / seconds, best of
``--repeats`` timed runs after one warm-up run (best-of is the least disturbed by other
load on a shared machine). torch uses ``--threads`` intra-op threads (default: all cores)
and, unless the environment says otherwise, ``OMP_WAIT_POLICY=PASSIVE``.

    python benchmarks/bench_degrade.py [--batch 16] [--size 256] [--repeats 3] [--threads N]
                                       [--out results/bench_degrade.json] [--no-jpeg-agreement]
                                       [--realesrgan-match N [--only-match]]
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting collapse when the machine is oversubscribed (on a
# shared 2-core machine at load ~10: 2-6x slower torch ops at batch 16 x 256², up to 30x at
# batch 4 x 128², than with passive waiting or one thread). Passive
# waiting costs little on an idle machine. An OMP_WAIT_POLICY set by the caller wins.
# Must be set before torch (and its OpenMP runtime) is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from restora import degrade as D  # noqa: E402
from restora.degrade import torch_ops as T  # noqa: E402


def _images(batch: int, size: int) -> tuple[list[np.ndarray], str]:
    """``batch`` colour crops of ``size x size``: from CBSD68 when present, else synthetic."""
    try:
        from restora.data import dataset_images
        from restora.io import read_image

        files = dataset_images("CBSD68")
        out = []
        for i in range(batch):
            img = read_image(files[i % len(files)])
            if img.shape[0] < size or img.shape[1] < size or img.shape[2] != 3:
                raise ValueError("too small")
            out.append(np.ascontiguousarray(img[:size, :size]))
        return out, "CBSD68 crops"
    except Exception:
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        imgs = []
        for i in range(batch):
            base = 0.5 + 0.3 * np.sin(x / (6 + i)) * np.cos(y / (9 + i)) + 0.15 * ((x // 32 + y // 32) % 2)
            img = np.stack([base, np.roll(base, i, 0), np.roll(base, i, 1)], 2)
            imgs.append(np.clip(img + 0.02 * rng.standard_normal(img.shape), 0, 1).astype(np.float32))
        return imgs, "synthetic"


def jpeg_agreement(qualities: tuple[int, ...] = (10, 30, 50, 75, 90)) -> dict[str, Any] | None:
    """PSNR between torch JPEG and libjpeg (OpenCV) outputs on LIVE1, per quality (None if absent)."""
    try:
        from restora.data import dataset_images
        from restora.io import read_image

        files = dataset_images("LIVE1")
    except Exception:
        return None
    out: dict[str, Any] = {}
    imgs = [read_image(f) for f in files]
    for q in qualities:
        vals = []
        for img in imgs:
            codec = D.jpeg(img, q).image.astype(np.float64)
            ours = T.to_numpy(T.jpeg(T.to_tensor(img), q))[0].astype(np.float64)
            vals.append(10 * np.log10(1.0 / np.mean((codec - ours) ** 2)))
        out[str(q)] = {"mean_psnr_db": float(np.mean(vals)), "min_psnr_db": float(np.min(vals)), "images": len(vals)}
    return out


def realesrgan_match(repetitions: int, batches: int = 8, batch: int = 4, size: int = 48) -> list[dict[str, float]]:
    """numpy vs torch Real-ESRGAN, as in tests/test_torch_degrade.py (repetition 0 = the test's
    seeds): mean PSNR of the LR against the MATLAB-bicubic LR, and the residual std ratio."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    hrs = []
    for i in range(batch):  # the test's synthetic_image(size, size, 3, seed=i)
        rng = np.random.default_rng(i)
        planes = []
        for c in range(3):
            f = 0.5 + 0.3 * np.sin(x / (5 + 2 * c)) * np.cos(y / (7 + c)) + 0.15 * ((x // 16 + y // 16) % 2)
            planes.append(f + 0.02 * rng.standard_normal((size, size)).astype(np.float32))
        hrs.append(np.clip(np.stack(planes, axis=2), 0, 1).astype(np.float32))
    refs = [D.imresize(h, 0.25) for h in hrs]
    xt = T.to_tensor(hrs)

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))

    out = []
    for rep in range(repetitions):
        p_np, p_t, s_np, s_t = [], [], [], []
        for b in range(batches):
            seed = 100 * rep + b
            for i, (h, r) in enumerate(zip(hrs, refs)):
                o = D.realesrgan_degradation(h, 4, 1000 * seed + i).image
                p_np.append(psnr(o, r))
                s_np.append(float(np.std(o - r)))
            lr, _ = T.realesrgan_degradation_torch(xt, 4, seed)
            for o, r in zip(T.to_numpy(lr), refs):
                p_t.append(psnr(o, r))
                s_t.append(float(np.std(o - r)))
        out.append({"psnr_numpy": float(np.mean(p_np)), "psnr_torch": float(np.mean(p_t)),
                    "residual_std_ratio": float(np.mean(s_np) / np.mean(s_t))})
    return out


def _time(fn: Callable[[], Any], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch intra-op threads (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_degrade.json"))
    parser.add_argument("--no-jpeg-agreement", action="store_true", help="skip the LIVE1 torch-JPEG agreement table")
    parser.add_argument("--realesrgan-match", type=int, default=0, metavar="N",
                        help="also compare numpy and torch Real-ESRGAN output statistics over N x 32 samples")
    parser.add_argument("--only-match", action="store_true", help="run only --realesrgan-match (no timings)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    console = Console()
    imgs, source = _images(args.batch, args.size)
    mp = args.batch * args.size * args.size / 1e6
    kernels = np.stack([D.random_kernel(i, kind="realesrgan", size=21)[0] for i in range(args.batch)])
    cuda = torch.cuda.is_available()
    devices = ["cpu"] + (["cuda"] if cuda else [])

    def numpy_ops() -> dict[str, Callable[[], Any]]:
        return {
            "blur 21x21": lambda: [D.convolve(im, k) for im, k in zip(imgs, kernels)],
            "gaussian noise": lambda: [D.gaussian_noise(im, 25.0, i) for i, im in enumerate(imgs)],
            "bicubic x1/4 (MATLAB)": lambda: [D.imresize(im, 0.25) for im in imgs],
            "JPEG q50": lambda: [D.jpeg(im, 50) for im in imgs],
            "Real-ESRGAN x4": lambda: [D.realesrgan_degradation(im, 4, i) for i, im in enumerate(imgs)],
            "BSRGAN x4": lambda: [D.bsrgan_degradation(im, 4, i) for i, im in enumerate(imgs)],
        }

    def torch_ops(device: str) -> dict[str, Callable[[], Any]]:
        x = T.to_tensor(imgs, device)
        k = torch.from_numpy(kernels).to(device=device, dtype=torch.float32)
        gen = torch.Generator(device=device).manual_seed(0)
        return {
            "blur 21x21": lambda: T.filter2d(x, k),
            "gaussian noise": lambda: T.add_gaussian_noise(x, 25.0, generator=gen),
            "bicubic x1/4 (MATLAB)": lambda: T.imresize(x, 0.25),
            "JPEG q50": lambda: T.jpeg(x, 50),
            "Real-ESRGAN x4": lambda: T.realesrgan_degradation_torch(x, 4, 0),
            "BSRGAN x4": lambda: T.bsrgan_degradation_torch(x, 4, 0),
        }

    if args.realesrgan_match:
        match = realesrgan_match(args.realesrgan_match)
        mt = Table(title="Real-ESRGAN numpy vs torch: 32 samples per repetition (8 batches of 4, 48x48)")
        for col in ("repetition", "mean PSNR numpy (dB)", "mean PSNR torch (dB)", "difference", "residual std ratio"):
            mt.add_column(col, justify="right")
        for i, m in enumerate(match):
            mt.add_row(str(i), f"{m['psnr_numpy']:.2f}", f"{m['psnr_torch']:.2f}",
                       f"{m['psnr_numpy'] - m['psnr_torch']:+.2f}", f"{m['residual_std_ratio']:.3f}")
        console.print(mt)
        if args.only_match:
            return

    rows: dict[str, dict[str, float | None]] = {}
    with torch.inference_mode():
        for name, fn in numpy_ops().items():
            rows.setdefault(name, {})["numpy"] = mp / _time(fn, args.repeats)
            console.print(f"numpy  {name}: {rows[name]['numpy']:.2f} MP/s", highlight=False)
        for device in devices:
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
            for name, fn in torch_ops(device).items():
                rows[name][f"torch_{device}"] = mp / _time(fn, args.repeats, sync)
                console.print(f"torch {device} {name}: {rows[name][f'torch_{device}']:.2f} MP/s", highlight=False)

    table = Table(title=f"Degradation throughput, MP/s (batch {args.batch} x {args.size}x{args.size}, "
                        f"{source}, best of {args.repeats}; torch threads {args.threads}, "
                        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})")
    table.add_column("operation")
    table.add_column("numpy (per image)", justify="right")
    table.add_column("torch CPU (batched)", justify="right")
    table.add_column("torch CPU / numpy", justify="right")
    table.add_column("torch GPU", justify="right")
    for name, r in rows.items():
        gpu = r.get("torch_cuda")
        table.add_row(name, f"{r['numpy']:.2f}", f"{r['torch_cpu']:.2f}", f"{r['torch_cpu'] / r['numpy']:.2f}x",
                      f"{gpu:.1f}" if gpu is not None else "skipped (no CUDA)")
    console.print(table)

    agreement = None if args.no_jpeg_agreement else jpeg_agreement()
    if agreement is not None:
        jt = Table(title="torch JPEG vs libjpeg (OpenCV): PSNR between the two decoded outputs, LIVE1")
        jt.add_column("quality")
        jt.add_column("mean PSNR (dB)", justify="right")
        jt.add_column("min PSNR (dB)", justify="right")
        for q, v in agreement.items():
            jt.add_row(q, f"{v['mean_psnr_db']:.2f}", f"{v['min_psnr_db']:.2f}")
        console.print(jt)
    else:
        console.print("LIVE1 not found: skipping the JPEG agreement table")

    result = {
        "benchmark": "degradation throughput (MP/s of input)",
        "command": "python benchmarks/bench_degrade.py " + " ".join(
            f"--{k} {v}" for k, v in (("batch", args.batch), ("size", args.size), ("repeats", args.repeats),
                                      ("threads", args.threads))),
        "batch": args.batch, "size": args.size, "repeats": args.repeats, "images": source,
        "torch_threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "numpy": np.__version__, "platform": platform.platform(), "processor": platform.processor(),
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "rows": rows,
        "jpeg_agreement_live1": agreement,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
