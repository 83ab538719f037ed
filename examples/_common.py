"""Shared helpers of the example scripts: the sample image and an output folder."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from restora.io import read_image


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--image", type=Path, default=None, help="a clean image (default: restora's bundled sample)")
    p.add_argument("--size", type=int, default=0, help="crop the image to SIZE x SIZE first (0: whole image)")
    p.add_argument("--out", type=Path, default=None, help="folder for the figure (default: show nothing, print only)")
    p.add_argument("--seed", type=int, default=0)
    return p


def load_clean(path: Path | None, size: int = 0) -> np.ndarray:
    """The clean image as float32 H x W x C in [0, 1], optionally centre-cropped to ``size``."""
    if path is None:
        path = Path(str(resources.files("restora.samples") / "sample_clean.png"))
    image = read_image(path)[..., :3]
    if size:
        h, w = image.shape[:2]
        top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
        image = image[top : top + size, left : left + size]
    return image
