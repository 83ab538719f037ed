"""A seeded, versioned bank of blur kernels for training deblurring networks (issue 17).

The bank mixes three families, all centred in a ``size x size`` support:

* simulated camera shake: :func:`restora.degrade.kernels.motion_kernel` trajectories
  (Boracchi & Foi style random walks; intensity uniform in [0, 1], path length uniform in
  ``[size/8, size-1]``);
* defocus: :func:`restora.degrade.kernels.defocus_kernel` disks of radius 0.5 to ``size/5``;
* real camera-shake kernels from ``kernels/motion32`` of the shared data, **minus every
  kernel that matches one of the Levin et al. test kernels** (normalised cross-correlation
  >= 0.9 against ``test/Levin/kernels``; 9 of the 32, so ``deblur-levin`` stays unseen).

The simulated part is a pure function of ``(version, seed, count, size)``; the file the
training uses is written once to ``~/.cache/restora/kernels`` and checked against the
digest of its arrays, so two runs (or two machines) train on the same kernels. Drawing from
the bank applies one of the 8 flips/rotations, so each kernel stands for 8.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator

__all__ = [
    "KERNEL_BANK_VERSION",
    "KernelBank",
    "make_kernel_bank",
    "load_kernel_bank",
    "real_training_kernels",
    "levin_kernels",
]

#: Bump when the recipe of :func:`make_kernel_bank` changes (the cache file name carries it).
KERNEL_BANK_VERSION = 1
#: Normalised cross-correlation above which a real kernel counts as one of Levin's.
_LEVIN_MATCH = 0.9


@dataclass(frozen=True)
class KernelBank:
    """Kernels ``N x S x S`` (float32, each sums to 1) and the family of each."""

    kernels: np.ndarray
    families: np.ndarray  # "motion" | "defocus" | "real", one per kernel
    version: int
    seed: int

    def __len__(self) -> int:
        return int(self.kernels.shape[0])

    @property
    def size(self) -> int:
        return int(self.kernels.shape[-1])

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the kernels' bytes (first 16 hex digits): which bank a run used."""
        return hashlib.sha256(np.ascontiguousarray(self.kernels).tobytes()).hexdigest()[:16]

    @cached_property
    def _pools(self) -> tuple[np.ndarray, np.ndarray]:
        return np.flatnonzero(self.families == "real"), np.flatnonzero(self.families != "real")

    def draw(self, rng: RngLike = None, *, real_fraction: float = 0.2) -> tuple[np.ndarray, dict[str, object]]:
        """One kernel, under a random flip/rotation, and a record of which. A real kernel is
        drawn with probability ``real_fraction`` (when the bank has any), else a simulated one."""
        gen = as_generator(rng)
        real, simulated = self._pools
        if real.size and simulated.size:
            pool = real if gen.random() < real_fraction else simulated
            i = int(pool[gen.integers(0, pool.size)])
        else:
            i = int(gen.integers(0, len(self)))
        t = int(gen.integers(0, 8))
        k = np.rot90(self.kernels[i], t % 4)
        if t >= 4:
            k = k[:, ::-1]
        return np.ascontiguousarray(k, np.float32), {"bank": self.digest, "index": i, "family": str(self.families[i]), "dihedral": t}


def _pad_center(kernel: np.ndarray, size: int) -> np.ndarray:
    from restora.degrade.kernels import pad_kernel

    if kernel.shape[0] > size:
        raise InvalidParameterError(f"kernel of {kernel.shape[0]} px does not fit the bank's size {size}")
    return pad_kernel(kernel, size)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.signal import correlate

    return float(correlate(a, b, mode="full").max() / np.sqrt((a * a).sum() * (b * b).sum()))


def levin_kernels(root: Path | None = None) -> list[np.ndarray]:
    """The 8 kernels of the Levin et al. blind-deblurring test set (normalised to sum 1)."""
    from PIL import Image

    from restora.data import data_root

    folder = (root or data_root()) / "test" / "Levin" / "kernels"
    out = []
    for f in sorted(folder.glob("*.png")):
        k = np.asarray(Image.open(f).convert("L"), np.float64)
        out.append(k / k.sum())
    return out


def real_training_kernels(root: Path | None = None) -> tuple[list[np.ndarray], list[str]]:
    """The ``motion32`` kernels that are not Levin test kernels (either orientation), and the
    names of those left out."""
    from restora.data import data_root

    base = root or data_root()
    folder = base / "kernels" / "motion32"
    if not folder.is_dir():
        return [], []
    levin = levin_kernels(base)
    keep, dropped = [], []
    for f in sorted(folder.glob("*.npy")):
        k = np.load(f).astype(np.float64)
        k = np.clip(k, 0, None)
        k /= k.sum()
        if any(_ncc(kk, lv) >= _LEVIN_MATCH for lv in levin for kk in (k, k[::-1, ::-1])):
            dropped.append(f.name)
        else:
            keep.append(k)
    return keep, dropped


def make_kernel_bank(
    count: int = 2048,
    size: int = 35,
    *,
    seed: int = 17,
    defocus_fraction: float = 0.15,
    real: list[np.ndarray] | None = None,
) -> KernelBank:
    """Generate the bank: ``count`` simulated kernels (motion, and ``defocus_fraction`` of
    defocus disks) drawn from ``seed``, followed by the ``real`` kernels (default: none; pass
    :func:`real_training_kernels`) that fit in ``size``, each padded to ``size``."""
    from restora.degrade.kernels import defocus_kernel, motion_kernel

    if count < 1 or size < 5 or size % 2 == 0:
        raise InvalidParameterError(f"count must be >= 1 and size odd >= 5; got count={count}, size={size}")
    gen = np.random.default_rng([KERNEL_BANK_VERSION, seed])
    kernels, families = [], []
    for _ in range(count):
        if gen.random() < defocus_fraction:
            k = defocus_kernel(float(gen.uniform(0.5, size / 5.0)))
            kernels.append(_pad_center(k, size))
            families.append("defocus")
        else:
            length = float(gen.uniform(size / 8.0, size - 1.0))
            k, _ = motion_kernel(size, gen, length=length, intensity=float(gen.random()))
            kernels.append(k)
            families.append("motion")
    for k in real or []:
        if k.shape[0] > size:  # a real kernel larger than the support cannot be represented
            continue
        kernels.append(_pad_center(k, size))
        families.append("real")
    stack = np.stack(kernels).astype(np.float32)
    stack /= stack.sum(axis=(1, 2), keepdims=True)
    return KernelBank(stack, np.asarray(families), KERNEL_BANK_VERSION, seed)


def _cache_dir() -> Path:
    return Path(os.environ.get("RESTORA_CACHE", Path.home() / ".cache" / "restora")) / "kernels"


_LOADED: dict[Path, KernelBank] = {}


def load_kernel_bank(count: int = 2048, size: int = 35, *, seed: int = 17, with_real: bool = True) -> KernelBank:
    """The training bank, from the cache file when it exists (else generated and written);
    kept in memory after the first call (the training loop draws from it every sample)."""
    path = _cache_dir() / f"bank-v{KERNEL_BANK_VERSION}-n{count}-s{size}-seed{seed}{'-real' if with_real else ''}.npz"
    if path not in _LOADED:
        _LOADED[path] = _load_or_make(path, count, size, seed, with_real)
    return _LOADED[path]


def _load_or_make(path: Path, count: int, size: int, seed: int, with_real: bool) -> KernelBank:
    from restora.atomic import atomic_write

    if path.is_file():
        try:
            with np.load(path) as z:
                bank = KernelBank(z["kernels"], z["families"], int(z["version"]), int(z["seed"]))
                stored = str(z["digest"])
            if bank.digest == stored:
                return bank
        except (OSError, ValueError, KeyError):
            pass  # a stale or damaged file: rebuild it
    real = real_training_kernels()[0] if with_real else None
    bank = make_kernel_bank(count, size, seed=seed, real=real)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, kernels=bank.kernels, families=bank.families, version=bank.version, seed=bank.seed, digest=bank.digest)

    atomic_write(path, write)
    return bank
