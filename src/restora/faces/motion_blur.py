"""Motion-blurred faces for the face-prior system (issue 19).

The reference system blurs 256 px CelebA-HQ faces with 1,000 random 71 x 71 camera-shake
kernels. restora works at 64-128 px on a CPU, so each kernel is drawn on the paper's
71 x 71 support with :func:`restora.degrade.kernels.motion_kernel` (Boracchi & Foi random
walks with a random intensity) and then resized by ``resolution / 256`` (area averaging,
renormalised, odd support): a 64 px face gets a 19 x 19 kernel that covers the same share
of the face as a 71 x 71 kernel covers a 256 px face.

Training and test kernels come from disjoint seeds (:data:`TRAIN_KERNEL_SEED`,
:data:`TEST_KERNEL_SEED`), so a bench never sees a training kernel. Each array is a pure
function of ``(count, resolution, seed)``.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from restora.degrade.convolve import blur
from restora.degrade.kernels import motion_kernel
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image

__all__ = [
    "PAPER_KERNEL_SIZE",
    "PAPER_RESOLUTION",
    "TRAIN_KERNEL_SEED",
    "TEST_KERNEL_SEED",
    "face_kernel_size",
    "face_motion_kernel",
    "face_motion_kernels",
    "blur_face",
]

PAPER_KERNEL_SIZE = 71
PAPER_RESOLUTION = 256
TRAIN_KERNEL_SEED = 1019
TEST_KERNEL_SEED = 2029


def face_kernel_size(resolution: int) -> int:
    """Odd kernel support at ``resolution`` px matching 71 x 71 at 256 px (19 at 64, 37 at 128)."""
    if int(resolution) < 16:
        raise InvalidParameterError(f"resolution must be >= 16 px, got {resolution}")
    size = int(round(PAPER_KERNEL_SIZE * int(resolution) / PAPER_RESOLUTION))
    return size if size % 2 == 1 else size + 1


def face_motion_kernel(resolution: int, rng: RngLike = None) -> np.ndarray:
    """One random camera-shake kernel for a ``resolution`` px face (float64, sums to 1).

    Drawn at 71 x 71 with a random intensity in [0, 1] and a random path length, then
    resized to :func:`face_kernel_size` (area interpolation) and renormalised.
    """
    gen = as_generator(rng)
    intensity = float(gen.uniform(0.0, 1.0))
    big, _ = motion_kernel(PAPER_KERNEL_SIZE, gen, intensity=intensity)
    size = face_kernel_size(resolution)
    if size >= PAPER_KERNEL_SIZE:
        return big
    small = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
    small = np.clip(small, 0.0, None)
    return small / small.sum()


@lru_cache(maxsize=8)
def _kernels(count: int, resolution: int, seed: int) -> np.ndarray:
    ks = [face_motion_kernel(resolution, np.random.default_rng([seed, i])) for i in range(count)]
    out = np.stack(ks).astype(np.float32)
    out.setflags(write=False)
    return out


def face_motion_kernels(count: int = 1000, resolution: int = 64, seed: int = TRAIN_KERNEL_SEED) -> np.ndarray:
    """``count`` kernels (``count x k x k`` float32, read-only), a pure function of the arguments.

    Use ``seed=TRAIN_KERNEL_SEED`` (the default, 1,000 kernels as in the paper) for training
    and ``seed=TEST_KERNEL_SEED`` for benches.
    """
    if int(count) < 1:
        raise InvalidParameterError(f"count must be >= 1, got {count}")
    return _kernels(int(count), int(resolution), int(seed))


def blur_face(face: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blur an H x W x C face in [0, 1] with ``kernel`` (reflect boundary, same size)."""
    image = as_image(face, "face")
    return blur(image, np.asarray(kernel, dtype=np.float64)).image
