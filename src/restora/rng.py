"""Seeded randomness. Every random function takes ``rng``: a seed (int), a
:class:`numpy.random.Generator`, or ``None`` (fresh entropy; not reproducible)."""

from __future__ import annotations

from typing import Union

import numpy as np

from restora.errors import InvalidParameterError

RngLike = Union[int, np.random.Generator, None]


def as_generator(rng: RngLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng`` (PCG64 for integer seeds)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(int(rng))
    raise InvalidParameterError(f"rng must be an int seed, a numpy Generator or None; got {type(rng).__name__}")


def child_seed(rng: np.random.Generator) -> int:
    """Draw a 63-bit seed from ``rng`` (for handing to torch or to a sub-process)."""
    return int(rng.integers(0, 2**63 - 1))
