"""Server memory under load: peak RSS of a real ``restora serve`` process.

Starts ``python -m restora serve`` on a free port of 127.0.0.1 (the real pipeline, page
included), then measures its resident memory (``/proc/PID/status`` VmRSS, sampled every
20 ms) while it serves:

1. ``--concurrent N`` (default 60) simultaneous ``POST /api/v1/restore`` of a small noisy
   photo (``--size`` px, auto plan), counting answers by status;
2. one 6000 x 6000 PNG (smooth, ~0.4 MB) with ``steps=upscale:nearest`` and ``scale=2``:
   the request that took a server from 0.8 to 4.9 GB before requests were bounded by memory.

Every request goes to loopback only; the loops are bounded. Usage::

    python benchmarks/bench_web_memory.py [--concurrent 60] [--src PATH_TO_SRC] [--out results.json]

``--src`` runs another checkout's ``src`` (e.g. a ``git worktree`` of an older commit) for a
before/after comparison in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Sampler:
    """Peak RSS of ``pid`` between :meth:`start` and :meth:`stop`."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._run = pid, 0.0, False

    def start(self) -> "Sampler":
        self.peak, self._run = _rss_mb(self.pid), True
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while self._run:
            try:
                self.peak = max(self.peak, _rss_mb(self.pid))
            except OSError:
                return
            time.sleep(0.02)

    def stop(self) -> float:
        self._run = False
        self._t.join(2)
        return self.peak


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def noisy_photo(size: int) -> bytes:
    y, x = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), 0.5 + 0.3 * np.sin(4 * (x + y))], -1)
    noisy = clean + np.random.default_rng(0).normal(0, 20 / 255, clean.shape)
    return _png((np.clip(noisy, 0, 1) * 255 + 0.5).astype(np.uint8))


def big_smooth(side: int = 6000) -> bytes:
    ramp = (np.arange(side, dtype=np.uint32) * 255 // side).astype(np.uint8)
    arr = np.empty((side, side, 3), np.uint8)
    arr[:] = ramp[None, :, None]
    return _png(arr)


async def _fire(base: str, n: int, data: bytes) -> dict[str, int]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:

        async def one() -> str:
            try:
                r = await client.post("/api/v1/restore", files={"image": ("p.png", data, "image/png")})
                return str(r.status_code)
            except httpx.HTTPError as exc:
                return type(exc).__name__

        results = await asyncio.gather(*(one() for _ in range(n)))
    counts: dict[str, int] = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrent", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--queue-size", type=int, default=64)
    ap.add_argument("--src", default=None, help="the src folder of the checkout to run (default: this one)")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    import httpx

    port = _free_port()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "restora", "serve", "--port", str(port), "--device", "cpu",
           "--queue-size", str(args.queue_size), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, object] = {"src": args.src or "this checkout"}
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise SystemExit("server did not start in 120 s")
        figures["idle_mb"] = round(_rss_mb(proc.pid), 1)
        # warm-up: load the model once
        asyncio.run(_fire(base, 1, noisy_photo(args.size)))
        figures["warm_mb"] = round(_rss_mb(proc.pid), 1)

        s = Sampler(proc.pid).start()
        t0 = time.perf_counter()
        counts = asyncio.run(_fire(base, args.concurrent, noisy_photo(args.size)))
        figures["concurrent"] = {"n": args.concurrent, "statuses": counts, "peak_mb": round(s.stop(), 1),
                                 "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{args.concurrent} concurrent {args.size}px restores: {counts}, peak RSS {figures['concurrent']['peak_mb']} MB")

        big = big_smooth()
        s = Sampler(proc.pid).start()
        t0 = time.perf_counter()
        r = httpx.post(base + "/api/v1/restore", files={"image": ("big.png", big, "image/png")},
                       data={"steps": "upscale:nearest", "scale": "2"}, timeout=600)
        figures["big_nearest_x2"] = {"upload_mb": round(len(big) / 2**20, 2), "status": r.status_code,
                                     "answer": r.text[:200] if r.status_code != 200 else f"{len(r.content)} bytes",
                                     "peak_mb": round(s.stop(), 1), "seconds": round(time.perf_counter() - t0, 1)}
        print(f"6000x6000 nearest x2: {figures['big_nearest_x2']}")
        figures["health_after"] = httpx.get(base + "/api/v1/health", timeout=5).status_code
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(json.dumps(figures, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
