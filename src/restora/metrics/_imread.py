"""Image reading for the metric helpers that take folders (FID, the CLI).

Uses :func:`restora.io.read_image` when the io module is present; until then a minimal
Pillow reader (8/16-bit, EXIF orientation not applied) stands in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from restora.errors import ImageReadError

__all__: list[str] = []


def read_rgb_or_gray(path: str | os.PathLike[str]) -> np.ndarray:
    """A float32 ``H x W x C`` image in [0, 1], C = 1 or 3 (alpha dropped)."""
    try:
        from restora.io import read_image  # type: ignore[attr-defined]
    except ImportError:
        read_image = None
    if read_image is not None:
        img = np.asarray(read_image(path))
    else:
        img = _pil_read(Path(path))
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] == 2:
        img = img[:, :, :1]
    return np.ascontiguousarray(img, dtype=np.float32)


def _pil_read(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64) / 65535.0
            else:
                if im.mode not in ("L", "RGB"):
                    im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
                arr = np.asarray(im, dtype=np.float64) / 255.0
    except FileNotFoundError:
        raise ImageReadError(f"image file {path} does not exist") from None
    except Exception as exc:
        raise ImageReadError(f"cannot read {path} as an image: {exc}") from None
    return arr.astype(np.float32)
