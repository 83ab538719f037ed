"""Time and peak memory of ``restora restore`` on a 12 MP photo (issue 15's target: under 60 s
on 2 cores, progress visible from the first second).

The photo: a 4000 x 3000 mosaic of the Kodak24 photos at their native resolution (768 x 512,
portrait ones turned; a camera photo's detail at full resolution, which an upscaled small
image lacks: that one reads as blurred and gets a deblur step), Gaussian noise sigma 15
(seeded), 8-bit PNG. The CLI runs in a child process; the script records the wall time, the
time the first line of output appears (the plan), the child's peak RSS and the PSNR against
the noise-free photo::

    python benchmarks/bench_12mp.py [--sigma 15] [--upscaled kodim23] [--out DIR]

``--upscaled NAME`` builds the photo from one Kodak24 photo upscaled (Lanczos) to 4000 x 3000
instead: soft all over, the case where the check dropped the first denoiser and the runner-up
ran (session 36: 91 s, with a full pass of the rejected model).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sigma", type=float, default=15.0)
    ap.add_argument("--upscaled", default=None, help="one Kodak24 photo (e.g. kodim23) upscaled to 12 MP instead of the mosaic")
    ap.add_argument("--out", type=Path, default=None, help="folder for result.json (default: print only)")
    args = ap.parse_args()
    from restora.data import data_root
    from restora.metrics import psnr

    tiles = []
    for f in sorted((data_root() / "test" / "Kodak24").glob((args.upscaled or "kodim*") + ".*")):
        t = np.asarray(Image.open(f).convert("RGB"))
        tiles.append(t if t.shape[0] < t.shape[1] else t.transpose(1, 0, 2))
    if not tiles:
        raise SystemExit(f"no Kodak24 photo {args.upscaled!r}")
    if args.upscaled:  # session 36's first photo: kodim23 stretched to 4000 x 3000
        clean = np.asarray(Image.fromarray(tiles[0]).resize((4000, 3000), Image.LANCZOS), np.float32) / 255.0
    else:
        th, tw = tiles[0].shape[:2]
        rows, cols = -(-3000 // th), -(-4000 // tw)
        grid = [np.concatenate([tiles[(r * cols + c) % len(tiles)] for c in range(cols)], axis=1) for r in range(rows)]
        clean = np.concatenate(grid, axis=0)[:3000, :4000].astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    noisy = np.clip(np.round((clean + rng.normal(0, args.sigma / 255.0, clean.shape)) * 255), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = Path(tmp) / "photo12mp.png", Path(tmp) / "restored.png"
        Image.fromarray(noisy).save(inp)
        cmd = [sys.executable, "-m", "restora.cli.main", "restore", str(inp), str(outp), "--overwrite"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "100"})
        first = None
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            if first is None and line.strip():
                first = time.perf_counter() - t0
            lines.append(line.rstrip())
        rc = proc.wait()
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if rc != 0:
            print("\n".join(lines[-20:]))
            raise SystemExit(f"restore failed ({rc})")
        out = np.asarray(Image.open(outp), np.float32) / 255.0
    result = {"size": "4000x3000", "photo": f"{args.upscaled} upscaled" if args.upscaled else "Kodak24 mosaic", "sigma": args.sigma, "wall_s": round(wall, 1), "first_output_s": round(first or wall, 1),
              "peak_rss_mb": round(peak_mb), "psnr_in": round(float(psnr(clean, noisy.astype(np.float32) / 255.0)), 2),
              "psnr_out": round(float(psnr(clean, out)), 2), "threads": os.environ.get("OMP_NUM_THREADS", "default"),
              "summary": [ln for ln in lines if "total" in ln or ln.strip().startswith(("denoise", "jpeg", "deblur"))][-4:]}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
