"""Inference throughput (MP/s) of a DnCNN-size and an RRDB-size network, or of shipped zoo
models, per execution path, each against the roofline (device matmul rate / model FLOPs per
pixel) and as a ratio to fp32 eager in the same run.

CPU paths: fp32 eager (baseline), channels_last, torch.compile (inductor), ONNX Runtime.
GPU paths (when CUDA is present): fp32 eager, bf16/fp16 channels_last, + torch.compile.
Each CPU path's output is compared with eager's on the same input (``max |diff|``, in
units of the [0, 1] image range): a path is only a candidate default when it agrees.

    python benchmarks/bench_inference.py [--size 256] [--batch 1] [--seconds 3] [--out results/bench_inference.json]
    python benchmarks/bench_inference.py --zoo drunet-gray,ffdnet-color,jpeg-gray-unet,edsr-x2 --out F.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from restora.engine.throughput import matmul_rate, measure_throughput, prepare
from restora.nn import create_model, describe

MODELS = {
    # DnCNN-17 colour as in the reference figure; RRDB-size: Real-ESRGAN x4 generator (23 blocks).
    "dncnn-17": ("dncnn", dict(in_channels=3, depth=17, features=64)),
    "rrdb-23-x4": ("rrdb", dict(in_channels=3, blocks=23, features=64, growth=32, scale=4)),
}


class WithNoiseLevel(torch.nn.Module):
    """A noise-map model as a one-input module: the level map (sigma 25) is built inside, so
    compile and ONNX export see a plain image-to-image network."""

    def __init__(self, model: torch.nn.Module, sigma: float = 25.0) -> None:
        super().__init__()
        self.model, self.level = model, sigma / 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, torch.full_like(x[:, :1], self.level))


def zoo_model(name: str):
    """``(module, descriptor)`` of a shipped model, condition folded in (``WithNoiseLevel``)."""
    from restora.zoo import load

    loaded = load(name)
    d = describe(loaded.model)  # measures the FLOPs per pixel (the card's descriptor does not)
    if d.condition == "noise_map":
        return WithNoiseLevel(loaded.model).eval(), dataclasses.replace(d, condition=None)
    return loaded.model.eval(), d


def _agreement(forward, x, reference) -> float:
    with torch.inference_mode():
        out = forward(x)
    out = torch.as_tensor(out[0] if isinstance(out, list) else out).float().contiguous()
    return float((out - reference).abs().max())


def cpu_paths(model, x, seconds, descriptor=None):
    """``(Throughput, max |diff| against eager)`` per CPU path."""
    results = []
    base = prepare(model, torch.device("cpu"), torch.float32, False)
    with torch.inference_mode():
        reference = base(x).float()
    results.append((measure_throughput(base, x, label="cpu fp32 eager (baseline)", min_seconds=seconds), 0.0))
    cl = prepare(model, torch.device("cpu"), torch.float32, True)
    xc = x.contiguous(memory_format=torch.channels_last)
    results.append((measure_throughput(cl, xc, label="cpu fp32 channels_last", min_seconds=seconds), _agreement(cl, xc, reference)))
    try:
        compiled = torch.compile(prepare(model, torch.device("cpu"), torch.float32, True))
        run = measure_throughput(compiled, xc, label="cpu fp32 channels_last + compile", min_seconds=seconds, warmup=2)
        results.append((run, _agreement(compiled, xc, reference)))
    except Exception as exc:  # inductor needs a C++ compiler
        print(f"torch.compile unavailable: {str(exc).splitlines()[0]}")
    try:
        import onnxruntime as ort

        from restora.engine.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model.float().cpu(), Path(tmp) / "m.onnx", descriptor, verify=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            xn = x.numpy()

            def run_onnx(t):
                return sess.run(None, {name: xn})

            results.append((measure_throughput(run_onnx, x, label="cpu onnxruntime fp32", min_seconds=seconds), _agreement(run_onnx, x, reference)))
    except ImportError:
        print("onnxruntime not installed: skipping the ONNX path")
    return results


def gpu_paths(model, x, seconds):
    dev = torch.device("cuda")
    low = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    results = []
    xg = x.to(dev)
    results.append(measure_throughput(prepare(model, dev, torch.float32, False), xg, label="gpu fp32 eager (baseline)", min_seconds=seconds))
    xl = xg.to(low).contiguous(memory_format=torch.channels_last)
    m_low = prepare(model, dev, low, True)
    results.append(measure_throughput(m_low, xl, label=f"gpu {str(low)[6:]} channels_last", min_seconds=seconds))
    results.append(measure_throughput(torch.compile(m_low, mode="max-autotune"), xl, label=f"gpu {str(low)[6:]} channels_last + compile", min_seconds=seconds, warmup=3))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="input tile side")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window per path")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--zoo", default="", help="shipped models to measure instead (comma-separated zoo names)")
    ap.add_argument("--out", default="results/bench_inference.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    console = Console(width=150)
    threads = torch.get_num_threads()
    cpu_rate = matmul_rate(torch.device("cpu"), torch.float32, n=1024)
    gpu_rate = None
    if torch.cuda.is_available():
        low = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        gpu_rate = {"float32": matmul_rate(torch.device("cuda"), torch.float32, n=8192), "low": matmul_rate(torch.device("cuda"), low, n=8192)}
    rows = []
    for key in (args.zoo or args.models).split(","):
        if args.zoo:
            model, d = zoo_model(key)
        else:
            arch, kw = MODELS[key]
            model = create_model(arch, **kw)
            d = describe(model)
        x = torch.rand(args.batch, d.in_channels, args.size, args.size, generator=torch.Generator().manual_seed(0))
        for r, diff in cpu_paths(model, x, args.seconds, d):
            rows.append({"model": key, "path": r.label, "mp_s": r.megapixels_per_second, "max_abs_diff": diff, "flops_px": d.flops_per_pixel, "roofline_mp_s": cpu_rate / d.flops_per_pixel / 1e6})
        if gpu_rate:
            for r in gpu_paths(model, x, args.seconds):
                rate = gpu_rate["float32"] if "fp32" in r.label else gpu_rate["low"]
                rows.append({"model": key, "path": r.label, "mp_s": r.megapixels_per_second, "flops_px": d.flops_per_pixel, "roofline_mp_s": rate / d.flops_per_pixel / 1e6})
    table = Table(title=f"inference throughput ({args.batch}x{args.size}x{args.size} input; CPU {threads} threads, sgemm {cpu_rate / 1e9:.0f} GFLOP/s)")
    for col in ("model", "path", "MFLOP/px", "MP/s", "vs baseline", "max |diff|", "roofline MP/s", "% of roofline"):
        table.add_column(col, justify="right" if col not in ("model", "path") else "left")
    baselines = {}
    for r in rows:
        if "baseline" in r["path"]:
            baselines[(r["model"], r["path"][:3])] = r["mp_s"]
        base = baselines.get((r["model"], r["path"][:3]), r["mp_s"])
        table.add_row(r["model"], r["path"], f"{r['flops_px'] / 1e6:.2f}", f"{r['mp_s']:.3f}", f"{r['mp_s'] / base:.2f}x", f"{r.get('max_abs_diff', float('nan')):.1e}", f"{r['roofline_mp_s']:.2f}", f"{100 * r['mp_s'] / r['roofline_mp_s']:.0f}%")
    console.print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "threads": threads, "cpu_sgemm_flops": cpu_rate, "gpu_matmul_flops": gpu_rate, "rows": rows}, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
