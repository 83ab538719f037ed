"""2-D convolution of images with blur kernels, with explicit boundary handling."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from scipy import signal

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.validation import as_image, check_choice

__all__ = ["convolve", "blur", "BOUNDARIES"]

#: Boundary modes of :func:`convolve`.
BOUNDARIES: tuple[str, ...] = ("reflect", "replicate", "wrap", "constant")

_CV2_BORDER = {
    "reflect": cv2.BORDER_REFLECT,  # fedcba|abcdef: symmetric, half-sample (MATLAB 'symmetric')
    "replicate": cv2.BORDER_REPLICATE,  # aaaaaa|abcdef
    "wrap": cv2.BORDER_WRAP,  # cdefgh|abcdefgh (circular)
    "constant": cv2.BORDER_CONSTANT,  # 000000|abcdef
}
_NP_PAD = {"reflect": "symmetric", "replicate": "edge", "wrap": "wrap", "constant": "constant"}

# Kernels with more taps than this go through SciPy's FFT path under "auto". OpenCV's
# filter2D itself switches to a DFT for kernels of 11 x 11 and more, and measured faster
# than SciPy's overlap-add up to about 151 x 151 on 256..2048-pixel images.
_DIRECT_MAX_TAPS = 151 * 151


def _as_kernel(kernel: Any) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] < 1 or k.shape[1] < 1:
        raise InvalidParameterError(f"kernel must be a non-empty 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise InvalidParameterError("kernel must contain only finite values")
    return k


def _pad(image: np.ndarray, before: tuple[int, int], after: tuple[int, int], boundary: str) -> np.ndarray:
    (t, l), (b, r) = before, after
    h, w = image.shape[:2]
    # OpenCV pads fast; numpy handles pads wider than the image for every mode.
    if max(t, b) < h and max(l, r) < w:
        out = cv2.copyMakeBorder(image, t, b, l, r, _CV2_BORDER[boundary], value=0)
        return out.reshape(out.shape[0], out.shape[1], image.shape[2])
    return np.pad(image, ((t, b), (l, r), (0, 0)), mode=_NP_PAD[boundary])


def convolve(
    image: np.ndarray,
    kernel: np.ndarray,
    boundary: str = "reflect",
    *,
    method: str = "auto",
) -> np.ndarray:
    """Convolve each channel of ``image`` (H x W x C) with ``kernel``; same size, float32.

    This is true convolution (the kernel is flipped), so a kernel whose only non-zero entry
    lies right of centre moves image content to the right. The kernel centre is the element
    ``(kh // 2, kw // 2)`` (the middle one for odd sizes). ``boundary`` extends the image:
    ``"reflect"`` mirrors about the edge including the edge pixel (half-sample symmetric,
    MATLAB ``'symmetric'``), ``"replicate"`` repeats the edge pixel, ``"wrap"`` is circular
    (periodic) and ``"constant"`` pads with zeros. ``method``: ``"direct"`` (OpenCV
    ``filter2D``, which uses a DFT internally for kernels of 11 x 11 and larger), ``"fft"``
    (SciPy overlap-add FFT convolution) or ``"auto"`` (``"fft"`` only for kernels of more
    than 151 x 151 taps, where it is faster). Both agree to float32 rounding. Values are
    not clipped.
    """
    check_choice("boundary", boundary, BOUNDARIES)
    check_choice("method", method, ("auto", "direct", "fft"))
    img = as_image(image, channels=range(1, 1025))
    k = _as_kernel(kernel)
    kh, kw = k.shape
    ch, cw = kh // 2, kw // 2
    h, w, c = img.shape
    # out[i] = sum_j k[j] x[i + c - j]: pad kh-1-ch before, ch after; valid correlation with
    # the flipped kernel, i.e. valid convolution with k.
    padded = _pad(img, (kh - 1 - ch, kw - 1 - cw), (ch, cw), boundary)
    if method == "auto":
        method = "fft" if kh * kw > _DIRECT_MAX_TAPS else "direct"
    if method == "direct":
        flipped = np.ascontiguousarray(k[::-1, ::-1], dtype=np.float32)
        if c <= 4:
            out = cv2.filter2D(padded, cv2.CV_32F, flipped, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            out = out.reshape(out.shape[0], out.shape[1], c)[:h, :w]
        else:
            out = np.stack(
                [
                    cv2.filter2D(padded[:, :, i], cv2.CV_32F, flipped, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[:h, :w]
                    for i in range(c)
                ],
                axis=2,
            )
    else:
        out = signal.oaconvolve(padded, k.astype(np.float32)[:, :, None], mode="valid", axes=(0, 1))
    return np.ascontiguousarray(out, dtype=np.float32)


def blur(image: np.ndarray, kernel: np.ndarray, boundary: str = "reflect") -> Degraded:
    """Blur ``image`` with ``kernel`` (see :func:`convolve`).

    The record holds ``op="blur"``, ``kernel_size`` ``[kh, kw]``, the ``kernel`` as nested
    lists and ``boundary``.
    """
    k = _as_kernel(kernel)
    out = convolve(image, k, boundary)
    record = {"op": "blur", "kernel_size": list(k.shape), "kernel": k, "boundary": boundary}
    return Degraded(out, jsonable(record))
