"""Pictures of benchmark results: grids of matching crops, one column per method.

>>> box = detail_box(hr, 96)                                   # doctest: +SKIP
>>> grid = crop_grid([[crop(img, box, hr.shape) for img in (lr, bicubic, sr, hr)]],
...                  ["LR", "bicubic", "model", "HR"])        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from restora.errors import InvalidParameterError

__all__ = ["detail_box", "crop", "crop_grid"]


def detail_box(image: np.ndarray, size: int, *, step: int = 8, multiple: int = 4) -> tuple[int, int, int, int]:
    """``(y, x, size, size)``: the ``size`` square of ``image`` with the most gradient energy
    (where restorers differ most), its corner on a ``multiple`` grid so LR crops line up."""
    img = np.asarray(image, np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    h, w = img.shape
    if size > min(h, w):
        raise InvalidParameterError(f"crop size {size} exceeds the image ({w}x{h})")
    gy, gx = np.gradient(img)
    energy = np.pad((gy * gy + gx * gx).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(multiple, step - step % multiple)
    best, where = -1.0, (0, 0)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            e = energy[y + size, x + size] - energy[y, x + size] - energy[y + size, x] + energy[y, x]
            if e > best:
                best, where = float(e), (y, x)
    return where[0], where[1], size, size


def crop(image: np.ndarray, box: tuple[int, int, int, int], full_shape: Sequence[int]) -> np.ndarray:
    """The ``box`` (in ``full_shape`` pixels) of ``image``, which may be a smaller (LR) version
    of the full image: then the matching LR region is taken and enlarged by pixel repetition."""
    img = np.asarray(image, np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    fy = full_shape[0] / img.shape[0]
    fx = full_shape[1] / img.shape[1]
    y, x, h, w = box
    if fy == 1 and fx == 1:
        return img[y : y + h, x : x + w]
    r = img[int(y / fy) : int(np.ceil((y + h) / fy)), int(x / fx) : int(np.ceil((x + w) / fx))]
    r = np.repeat(np.repeat(r, int(round(fy)), axis=0), int(round(fx)), axis=1)
    return r[:h, :w]


def crop_grid(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str], *, cell: int = 192, gap: int = 4) -> np.ndarray:
    """Crops in a grid (``rows[i][j]``: image i, method j), each shown at ``cell`` pixels
    (nearest neighbour, so pixels stay visible), a label above each column; float32 RGB."""
    import cv2

    if not rows or any(len(r) != len(labels) for r in rows):
        raise InvalidParameterError("every row needs one crop per label")
    header = max(18, cell // 8)
    n = len(labels)
    canvas = np.ones((header + len(rows) * (cell + gap), n * (cell + gap) - gap, 3), np.float32)
    for i, row in enumerate(rows):
        for j, c in enumerate(row):
            c = np.clip(np.asarray(c, np.float32), 0, 1)
            if c.ndim == 2:
                c = c[:, :, None]
            if c.shape[2] == 1:
                c = np.repeat(c, 3, axis=2)
            c = cv2.resize(np.ascontiguousarray(c[:, :, :3]), (cell, cell), interpolation=cv2.INTER_NEAREST)
            y0 = header + i * (cell + gap)
            canvas[y0 : y0 + cell, j * (cell + gap) : j * (cell + gap) + cell] = c
    out = np.round(canvas * 255).astype(np.uint8)
    font = max(0.35, header / 40)
    for j, text in enumerate(labels):
        cv2.putText(out, str(text), (j * (cell + gap) + 4, header - 5), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 1, cv2.LINE_AA)
    return out.astype(np.float32) / 255.0
