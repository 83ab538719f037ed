"""Noise-free camera shake: the coarse-to-fine blind kernel against its full-resolution
refinement (issue 15, session 36; tuning data of ``restora.pipeline.plan.REFINED_KERNEL_RESIDUAL``).

Training photos (CBSD432, every STEP-th, N of them), each blurred by a seeded random
``kernels/motion32`` kernel (exact convolution, reflect boundary), 8-bit. Per photo: the
kernel support the blur detector gives, then ``estimate_kernel`` (``def``) and
``estimate_kernel(refine=4, subpixel=False)`` (``ref4w``), each deconvolved (hyper-Laplacian
MAP) at floors 1.5 / 2 / 3, PSNR up to the kernel's half-width translation, and the re-blur
residual of each deconvolution (``_rb``, 8-bit levels)::

    OMP_NUM_THREADS=1 python benchmarks/blind_refine_study.py 16 25 > cbsd432_tuning.jsonl
"""
import json, sys, time
from pathlib import Path
import numpy as np
from restora.bench.runner import _read, align_to
from restora.classical.blind import estimate_kernel
from restora.classical.deconvolve import map_deconvolution
from restora.classical.blur_detect import detect_blur, kernel_support
from restora.degrade.convolve import blur
from restora.metrics import psnr
from scipy.signal import fftconvolve
def gray(x): return x.mean(2) if x.ndim == 3 else x
# The study's own residual (channel mean, FFT convolution, a kernel-size margin) produced the
# recorded data; restore measures the same quantity with restora.classical.blind.reblur_residual
# (BT.601 luma, reflect border, half-kernel margin): the rule's picks on the benches were
# checked with that one (docs/restore.md, session 36).
def reblur(x, k, b):
    g = gray(x); r = fftconvolve(g, k, mode="same") - gray(b); m = k.shape[0]
    r = r[m:-m, m:-m]; return float(np.sqrt((r**2).mean()) * 255)
root = Path("/work/shared/data")
kernels = sorted((root / "kernels/motion32").glob("*.npy"))
files = sorted((root / "train/CBSD432").glob("*.*"))[::int(sys.argv[2])][: int(sys.argv[1])]
rng = np.random.default_rng(36)
for f in files:
    ref = _read(f)
    kp = kernels[rng.integers(len(kernels))]
    kt = np.load(kp).astype(np.float64); kt /= kt.sum()
    img = np.round(np.clip(blur(ref, kt).image, 0, 1) * 255) / 255
    img = img.astype(np.float32)
    a = int(max(kt.shape) // 2)
    sc = lambda out: float(psnr(ref, align_to(np.clip(out, 0, 1).astype(np.float32), ref, a), crop=a, data_range=1.0, round_to_uint8=True))
    b = detect_blur(img)
    if b.kind != "motion":
        print(json.dumps({"image": f.stem, "kernel": kp.stem, "skip": b.kind}), flush=True); continue
    ks = int(min(kernel_support(b.size_px), (min(img.shape[:2]) // 2 - 1) | 1))
    row = {"image": f.stem, "kernel": kp.stem, "input": round(sc(img), 2), "ks": ks, "true_px": int(max(kt.shape)),
           "oracle": round(sc(map_deconvolution(img, kt, prior="hyper-laplacian", sigma=1.0)), 2)}
    for vn, opts in {"def": {}, "ref4w": {"refine": 4, "subpixel": False}}.items():
        k = estimate_kernel(img, ks, **opts)
        for fl in (1.5, 2.0, 3.0):
            out = np.clip(map_deconvolution(img, k, prior="hyper-laplacian", sigma=fl), 0, 1)
            row[f"{vn}_s{fl:g}"] = round(sc(out), 2); row[f"{vn}_s{fl:g}_rb"] = round(reblur(out, k, img), 3)
    print(json.dumps(row), flush=True)
