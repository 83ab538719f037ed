"""Run an image-to-image function tile by tile, in bounded memory.

Classical restorers work on whole arrays and many make several float64 copies; on a
20-megapixel photo that is gigabytes. :func:`apply_tiled` feeds them overlapping tiles and
blends the outputs with the same feathered windows as the neural engine
(:mod:`restora.engine.tiling`), so peak memory is the input, the output and a few tiles.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from restora.engine.tiling import blend_window, layout
from restora.errors import InvalidParameterError

__all__ = ["apply_tiled"]


def apply_tiled(
    func: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``func(image)`` computed on ``tile x tile`` tiles overlapping by ``overlap`` pixels.

    ``func`` maps an ``h x w x C`` tile to ``(scale h) x (scale w) x C'``. Images that fit
    in one tile are passed whole. ``progress(done, total)`` is called after each tile.
    """
    h, w = image.shape[:2]
    if tile < 16:
        raise InvalidParameterError(f"tile must be >= 16 pixels, got {tile}")
    overlap = max(0, min(int(overlap), tile // 2))
    if h <= tile and w <= tile:
        out = func(image)
        if progress:
            progress(1, 1)
        return out
    tiles = layout(h, w, tile, overlap)
    out: np.ndarray | None = None
    weight = np.zeros((h * scale, w * scale, 1), np.float32)
    for i, t in enumerate(tiles):
        y = func(np.ascontiguousarray(image[t.y0 : t.y1, t.x0 : t.x1]))
        th, tw = (t.y1 - t.y0) * scale, (t.x1 - t.x0) * scale
        if y.shape[0] != th or y.shape[1] != tw:
            raise InvalidParameterError(f"tiled function returned {y.shape[:2]} for a {th // scale}x{tw // scale} tile at scale {scale}")
        if out is None:
            out = np.zeros((h * scale, w * scale, y.shape[2]), np.float32)
        win = blend_window(t, h, w, overlap, scale)[:, :, None]
        out[t.y0 * scale : t.y1 * scale, t.x0 * scale : t.x1 * scale] += y * win
        weight[t.y0 * scale : t.y1 * scale, t.x0 * scale : t.x1 * scale] += win
        if progress:
            progress(i + 1, len(tiles))
    assert out is not None
    out /= weight
    return out
