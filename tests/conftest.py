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


def blocks_image(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    """Piecewise-constant gray image (rectangles and discs: edges in every orientation), the
    easy case for blind kernel estimation; ``H x W x 1`` float32."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 0.5, np.float32)
    for _ in range(40):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        hh, ww = rng.integers(6, 30), rng.integers(6, 30)
        img[y : y + hh, x : x + ww] = rng.uniform(0.05, 0.95)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(6):
        cy, cx, r = rng.integers(10, h - 10), rng.integers(10, w - 10), rng.integers(4, 12)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.05, 0.95)
    return img[:, :, None]


def sample_shake() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(clean, kernel, blurred)``: the package's sample photo under a noise-free 15 px
    L-shaped motion path (an exact convolution), saved to 8 bits."""
    from pathlib import Path

    from restora.degrade.convolve import convolve
    from restora.io import read_image

    x = read_image(Path(__file__).resolve().parents[1] / "src" / "restora" / "samples" / "sample_clean.png")
    k = np.zeros((15, 15))
    k[3, 3:11] = 1.0
    k[3:12, 10] = 1.0
    k /= k.sum()
    return x, k, (np.round(np.clip(convolve(x, k), 0, 1) * 255) / 255).astype(np.float32)


def border_psnr(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """PSNR of ``a`` (clipped to [0, 1]) against ``b`` with ``border`` pixels cropped."""
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1).astype(np.float64) - b) ** 2)))


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
