"""Throughput measurement of networks (megapixels per second) and the device roofline.

The roofline of a model on a device is ``matmul_rate / flops_per_pixel``: the pixels per
second it would reach if every FLOP ran at the device's measured dense matrix rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.0) -> float:
    """Measured dense matmul rate in FLOP/s (``n x n`` by ``n x n``, repeated ~``seconds``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    _sync(device)
    reps, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        reps += 1
        if reps % 4 == 0:
            _sync(device)
            if time.perf_counter() - start > seconds:
                break
    _sync(device)
    return 2.0 * n**3 * reps / (time.perf_counter() - start)


@dataclass
class Throughput:
    """Result of :func:`measure_throughput`."""

    label: str
    megapixels_per_second: float
    seconds_per_batch: float
    batch_shape: tuple[int, ...]


def measure_throughput(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    label: str = "",
    warmup: int = 2,
    min_seconds: float = 2.0,
    max_iters: int = 50,
) -> Throughput:
    """Time ``forward(x)`` under inference mode; MP/s counts input pixels of the batch."""
    device = x.device
    with torch.inference_mode():
        for _ in range(warmup):
            forward(x)
        _sync(device)
        iters, start = 0, time.perf_counter()
        while iters < max_iters:
            forward(x)
            iters += 1
            _sync(device)
            if time.perf_counter() - start > min_seconds:
                break
        elapsed = (time.perf_counter() - start) / iters
    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    return Throughput(label, pixels / elapsed / 1e6, elapsed, tuple(x.shape))


def prepare(model: nn.Module, device: torch.device, dtype: torch.dtype, channels_last: bool) -> nn.Module:
    """A copy-free move of ``model`` to device/dtype/memory format, in eval mode."""
    model = model.eval().to(device, dtype)
    return model.to(memory_format=torch.channels_last) if channels_last else model
