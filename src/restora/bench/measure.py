"""Peak memory of one call: GPU allocator peak on CUDA, resident-set high-water mark on CPU.

On Linux the CPU figure is exact for the whole process (numpy, OpenCV, torch and any C
library): the kernel's peak-RSS counter is reset by writing ``5`` to
``/proc/self/clear_refs`` before the call and read from ``VmHWM`` after it; the figure is
that peak minus the resident size before the call. Where that is not available, Python's
:mod:`tracemalloc` is used instead (it sees numpy buffers but not memory that C libraries
allocate themselves).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from types import TracebackType

__all__ = ["PeakMemory", "resolve_device"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def resolve_device(device: str | None) -> str:
    """``"auto"``/``None`` -> ``"cuda"`` when available else ``"cpu"``; validates the rest."""
    from restora.errors import InvalidParameterError

    if device in (None, "auto"):
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    if device == "cpu" or device.startswith("cuda") or device == "mps":
        return device
    raise InvalidParameterError(f"device must be auto, cpu, cuda, cuda:N or mps; got {device!r}")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _procfs_usable() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class PeakMemory:
    """Context manager measuring the peak extra memory (MiB) used inside the ``with`` block.

    ``method`` is ``"cuda"`` (``torch.cuda.max_memory_allocated``), ``"rss"`` (Linux
    peak-RSS reset) or ``"tracemalloc"``; read the result from :attr:`peak_mb`.
    """

    _rss_ok: bool | None = None

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        if device.startswith("cuda"):
            self.method = "cuda"
        else:
            if PeakMemory._rss_ok is None:
                PeakMemory._rss_ok = _procfs_usable()
            self.method = "rss" if PeakMemory._rss_ok else "tracemalloc"
        self.peak_mb: float | None = None
        self._base = 0
        self._started_tracemalloc = False

    def __enter__(self) -> "PeakMemory":
        if self.method == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif self.method == "rss":
            _CLEAR_REFS.write_text("5")
            self._base = _status_kb("VmRSS") or 0
        else:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started_tracemalloc = True
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.method == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self._base
            self.peak_mb = max(peak, 0) / 2**20
        elif self.method == "rss":
            hwm = _status_kb("VmHWM") or 0
            self.peak_mb = max(hwm - self._base, 0) / 1024.0
        else:
            peak = tracemalloc.get_traced_memory()[1] - self._base
            if self._started_tracemalloc:
                tracemalloc.stop()
            self.peak_mb = max(peak, 0) / 2**20
