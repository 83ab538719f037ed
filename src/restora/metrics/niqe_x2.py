"""NIQE of small images (64 px faces): NIQE of the 2x bicubic upsample.

NIQE (:func:`restora.metrics.niqe.niqe`) needs at least one 96 x 96 patch, which a 64 px face
lacks. :func:`niqe_x2` upsamples by 2 (OpenCV bicubic), clips and rounds to 8 bits, and scores
that. The value is comparable between methods on the same images, **not** with NIQE published
at native resolution (upsampling smooths the statistics NIQE measures). Images already at least
96 px on both sides are upsampled all the same, so a column stays one measure.
"""

from __future__ import annotations

import numpy as np

from restora.validation import as_image

__all__ = ["niqe_upsampled", "niqe_x2"]


def niqe_upsampled(image: np.ndarray, factor: int = 2) -> float:
    """NIQE of ``image`` (H x W x C in [0, 1]) upsampled ``factor`` x (bicubic, clipped, 8-bit)."""
    import cv2

    from restora.metrics.niqe import niqe

    img = as_image(image, "image")
    f = int(factor)
    up = img if f == 1 else cv2.resize(img, (img.shape[1] * f, img.shape[0] * f), interpolation=cv2.INTER_CUBIC)
    if up.ndim == 2:
        up = up[:, :, None]
    up = np.floor(np.clip(up, 0.0, 1.0) * 255.0 + 0.5) / 255.0
    return float(niqe(up.astype(np.float32)))


def niqe_x2(image: np.ndarray) -> float:
    """No-reference bench metric ``niqe_x2``: :func:`niqe_upsampled` with factor 2 (lower is better)."""
    return niqe_upsampled(image, 2)
