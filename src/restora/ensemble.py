"""Geometric self-ensemble: run a restorer on the 8 flips/rotations of an image and average.

The 8 dihedral transforms map the pixel grid onto itself, so any restorer (classical or
neural, any scale) can be run on each and its output transformed back. Averaging the 8
outputs is the "+" of EDSR+/RCAN+ (usually +0.1 to +0.2 dB for SR, 8 times the run time).

>>> out = self_ensemble(restorer, image, scale=2)        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["dihedral", "undihedral", "self_ensemble"]


def dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """The k-th (0..7; 0 = identity) of the 8 flips/rotations of an ``H x W (x C)`` array (a view)."""
    out = np.rot90(img, k % 4, axes=(0, 1))
    return out[:, ::-1] if k >= 4 else out


def undihedral(img: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`dihedral` ``k`` (a view)."""
    out = img[:, ::-1] if k >= 4 else img
    return np.rot90(out, -(k % 4), axes=(0, 1))


def self_ensemble(restorer: Callable[..., np.ndarray], image: np.ndarray, **condition: Any) -> np.ndarray:
    """Mean of ``undihedral(restorer(dihedral(image, k), **condition), k)`` over k = 0..7, float32.

    ``condition`` must not depend on orientation (sigma, scale, quality are fine; a blur
    kernel is not, and is rejected).
    """
    if "kernel" in condition:
        from restora.errors import InvalidParameterError

        raise InvalidParameterError("self-ensemble cannot rotate a blur kernel condition; run without it")
    acc: np.ndarray | None = None
    for k in range(8):
        out = undihedral(np.asarray(restorer(np.ascontiguousarray(dihedral(image, k)), **condition), np.float32), k)
        acc = out.copy() if acc is None else acc + out
    assert acc is not None
    return acc / 8.0
