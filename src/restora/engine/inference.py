"""Tiled, batched inference of image-to-image networks on any device and precision.

The image stays in host memory as a float32 ``H x W x C`` array; tiles stream through the
device in batches, are padded to the model's size multiple, and their outputs are blended
with feathered weights (see :mod:`restora.engine.tiling`). On CUDA the default precision is
bf16 (fp16 where bf16 is unsupported); a tile whose low-precision output is non-finite, or
an op that lacks a low-precision kernel, falls back to fp32 automatically. Tensors are
channels_last on every device by default: on the CPU it made every shipped model 1.02x to
1.52x faster than the default layout in the same idle run, with outputs equal within 2e-6
(``benchmarks/bench_inference.py --zoo``, session 39; docs/models.md, "Speed").
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restora.engine.tiling import Tile, blend_window, layout
from restora.errors import InvalidParameterError
from restora.nn.spec import ModelDescriptor
from restora.validation import as_image, check_choice

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None: CUDA if available, else MPS if available, else CPU."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidParameterError(f"device must be auto, cpu, cuda, cuda:N or mps; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError("device 'cuda' requested but no CUDA GPU is available (use --device cpu)")
    return dev


def pick_dtype(device: torch.device, supported: tuple[str, ...], dtype: str | None = "auto") -> torch.dtype:
    """fp32 on CPU; bf16 (else fp16) on CUDA when the model supports it; or the named dtype."""
    if dtype not in (None, "auto"):
        check_choice("dtype", dtype, ["auto", *DTYPES])
        return DTYPES[dtype]
    if device.type == "cuda":
        if "bfloat16" in supported and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if "float16" in supported:
            return torch.float16
    return torch.float32


def available_memory(device: torch.device) -> int:
    """Bytes free for activations: CUDA free memory, else the host's MemAvailable."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def activation_bytes_per_pixel(model: nn.Module, in_channels: int, extra: Callable[[torch.Tensor], tuple], dtype: torch.dtype, device: torch.device) -> float:
    """Peak activation bytes per input pixel, measured on a 64x64 probe.

    CUDA: the allocator's peak. Elsewhere: the largest module output plus its input
    (forward hooks), times 3 for workspace; a conservative estimate.
    """
    size = 64
    x = torch.zeros(1, in_channels, size, size, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            model(x, *extra(x))
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / (size * size)
    largest = 0

    def hook(_m: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal largest
        n = output.numel() if torch.is_tensor(output) else 0
        n_in = inputs[0].numel() if inputs and torch.is_tensor(inputs[0]) else 0
        largest = max(largest, n + n_in)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            model(x, *extra(x))
    finally:
        for h in handles:
            h.remove()
    return 3.0 * largest * x.element_size() / (size * size)


@dataclass
class TileStats:
    """What the last run did (for logs and benchmarks)."""

    tiles: int = 0
    tile_size: int = 0
    batches: int = 0
    dtype: str = "float32"
    fell_back_to_fp32: bool = False


class TiledEngine:
    """Run ``model`` on images of any size in bounded memory.

    Parameters
    ----------
    model : an image-to-image ``nn.Module`` (B x C x H x W in, B x C' x sH x sW out).
    descriptor : its :class:`ModelDescriptor` (scale, size multiple, dtypes, condition);
        taken from :func:`restora.nn.describe` when the model was built by restora.
    tile : input tile side in pixels, ``"auto"`` (from free device memory) or ``None``
        (whole image in one pass).
    overlap : overlap between neighbouring tiles in input pixels (context + blending).
    batch_size : tiles per forward pass.
    channels_last : NHWC memory layout (default ``None``: on, on every device).
    compile : run the model through ``torch.compile``.
    """

    def __init__(
        self,
        model: nn.Module,
        descriptor: ModelDescriptor | None = None,
        *,
        device: str | torch.device | None = "auto",
        dtype: str | None = "auto",
        tile: int | str | None = "auto",
        overlap: int = 32,
        batch_size: int = 4,
        channels_last: bool | None = None,
        compile: bool = False,
        max_tile: int = 1024,
    ) -> None:
        if descriptor is None:
            from restora.nn.registry import describe

            descriptor = describe(model, measure_flops=False)
        self.descriptor = descriptor
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, descriptor.dtypes, dtype)
        if overlap < 0:
            raise InvalidParameterError(f"overlap must be >= 0, got {overlap}")
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(tile, int) and tile < 16:
            raise InvalidParameterError(f"tile must be >= 16 pixels, 'auto' or None; got {tile}")
        if isinstance(tile, str) and tile != "auto":
            raise InvalidParameterError(f"tile must be an int, 'auto' or None; got {tile!r}")
        self.overlap = overlap
        self.batch_size = batch_size
        self.max_tile = max_tile
        self.channels_last = True if channels_last is None else channels_last
        from restora.engine.fuse import fold_batchnorm

        self.model = fold_batchnorm(model.eval()).to(self.device, self.dtype)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._forward: Callable[..., torch.Tensor] = self.model
        if compile:
            self._forward = torch.compile(self.model)  # type: ignore[assignment]
        self._tile_request = tile
        self._tile: int | None = None
        self.stats = TileStats()

    # -- helpers -----------------------------------------------------------------
    def _extra(self, x: torch.Tensor, sigma: float | None = None) -> tuple[torch.Tensor, ...]:
        if self.descriptor.condition == "noise_map":
            level = (25.0 if sigma is None else sigma) / 255.0
            return (torch.full_like(x[:, :1], level),)  # keeps x's memory format (channels_last)
        return ()

    def tile_size(self) -> int | None:
        """The input tile side this engine uses (resolving ``"auto"`` once)."""
        if self._tile_request is None:
            return None
        if isinstance(self._tile_request, int):
            return self._tile_request
        if self._tile is None:
            bpp = activation_bytes_per_pixel(
                self.model, self.descriptor.in_channels, self._extra, self.dtype, self.device
            )
            budget = available_memory(self.device) * (0.5 if self.device.type == "cuda" else 0.25)
            if self.device.type != "cuda":
                budget = min(budget, 2 << 30)
            pixels = budget / max(bpp, 1.0) / self.batch_size
            side = int(math.sqrt(pixels)) // 32 * 32
            self._tile = int(min(self.max_tile, max(128, side)))
        return self._tile

    def _pad(self, arr: np.ndarray) -> np.ndarray:
        m = self.descriptor.size_multiple
        h, w = arr.shape[:2]
        ph, pw = (-h) % m, (-w) % m
        if ph == 0 and pw == 0:
            return arr
        mode = "reflect" if ph < h and pw < w else "edge"
        return np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode=mode)

    def _run_batch(self, batch: np.ndarray, sigma: float | None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        out = self._forward_checked(x, sigma)
        return out.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def _forward_checked(self, x: torch.Tensor, sigma: float | None) -> torch.Tensor:
        low = x.to(self.dtype)
        if self.channels_last:
            low = low.contiguous(memory_format=torch.channels_last)
        try:
            with torch.inference_mode():
                y = self._forward(low, *self._extra(low, sigma)).float()
            if self.dtype == torch.float32 or torch.isfinite(y).all():
                return y
            reason = "non-finite values"
        except (RuntimeError, NotImplementedError) as exc:
            if self.dtype == torch.float32:
                raise
            reason = str(exc).splitlines()[0]
        warnings.warn(f"{str(self.dtype).removeprefix('torch.')} inference failed ({reason}); falling back to float32", RuntimeWarning, stacklevel=3)
        self.dtype = torch.float32
        self.model = self.model.float()
        self._forward = self.model
        self.stats.fell_back_to_fp32 = True
        with torch.inference_mode():
            return self._forward(x.float(), *self._extra(x.float(), sigma)).float()

    def _batches(self, tiles: list[Tile]) -> Iterator[list[Tile]]:
        for i in range(0, len(tiles), self.batch_size):
            yield tiles[i : i + self.batch_size]

    # -- public ------------------------------------------------------------------
    def run(self, image: np.ndarray, *, sigma: float | None = None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Restore ``image`` (H x W x C float32); returns (sH) x (sW) x C' float32 (not clipped).

        ``sigma`` (8-bit levels) feeds noise-map-conditioned models; ``progress(done, total)``
        is called after each batch of tiles.
        """
        img = as_image(image, channels=(self.descriptor.in_channels,))
        h, w, _ = img.shape
        s = self.descriptor.scale
        tile = self.tile_size()
        tiles = [Tile(0, h, 0, w)] if tile is None or (h <= tile and w <= tile) else layout(h, w, tile, self.overlap, self.descriptor.size_multiple)
        self.stats = TileStats(tiles=len(tiles), tile_size=tile or max(h, w), dtype=str(self.dtype).removeprefix("torch."))
        if len(tiles) == 1:
            out = self._run_batch(self._pad(img)[None], sigma)[0]
            self.stats.batches = 1
            if progress:
                progress(1, 1)
            return out[: h * s, : w * s]
        out = np.zeros((h * s, w * s, self.descriptor.out_channels), np.float32)
        weight = np.zeros((h * s, w * s, 1), np.float32)
        done = 0
        for group in self._batches(tiles):
            batch = np.stack([self._pad(img[t.y0 : t.y1, t.x0 : t.x1]) for t in group])
            result = self._run_batch(batch, sigma)
            for t, y in zip(group, result):
                th, tw = (t.y1 - t.y0) * s, (t.x1 - t.x0) * s
                win = blend_window(t, h, w, self.overlap, s)[:, :, None]
                out[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s] += y[:th, :tw] * win
                weight[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s] += win
            self.stats.batches += 1
            done += len(group)
            if progress:
                progress(done, len(tiles))
        out /= weight
        return out

    __call__ = run
