"""Shared fixtures: small deterministic images and the optional shared datasets."""

from __future__ import annotations

import numpy as np
import pytest

from restora.data import data_root


def synthetic_image(h: int = 64, w: int = 80, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth-plus-edges float32 test image in [0, 1] (deterministic)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = []
    for c in range(channels):
        f = 0.5 + 0.3 * np.sin(x / (5 + 2 * c)) * np.cos(y / (7 + c))
        f += 0.15 * ((x // 16 + y // 16) % 2)  # edges
        f += 0.02 * rng.standard_normal((h, w)).astype(np.float32)
        planes.append(f)
    return np.clip(np.stack(planes, axis=2), 0, 1).astype(np.float32)


@pytest.fixture
def rgb() -> np.ndarray:
    return synthetic_image(64, 80, 3)


@pytest.fixture
def gray() -> np.ndarray:
    return synthetic_image(64, 80, 1)


@pytest.fixture
def data_dir():
    root = data_root()
    if not (root / "test").is_dir():
        pytest.skip(f"shared datasets not found at {root} (set RESTORA_DATA)")
    return root
