"""JPEG compression with a real codec (libjpeg-turbo through OpenCV).

The [0, 1] image is quantised to uint8 (clip, round half up) before encoding, as every
8-bit JPEG encoder requires; the decoded image is returned as float32 ``k / 255``.
Colour images are encoded as YCbCr with the requested chroma subsampling (default
4:2:0, libjpeg's and MATLAB ``imwrite``'s default); gray images are encoded as
one-channel JPEG and stay gray. Standard IJG quantisation tables scaled by ``quality``.
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.record import Degraded, jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image, check_choice

__all__ = ["jpeg", "jpeg_bytes", "random_jpeg", "CHROMA_SUBSAMPLING"]

#: Chroma subsampling modes accepted by :func:`jpeg` (J:a:b notation).
CHROMA_SUBSAMPLING = {
    "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "4:4:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
    "4:1:1": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411,
}


def _check_quality(quality: int) -> int:
    ok = isinstance(quality, (int, np.integer)) and not isinstance(quality, bool)
    if not ok and isinstance(quality, (float, np.floating)) and float(quality).is_integer():
        ok = True
    if not ok or not 1 <= int(quality) <= 100:
        raise InvalidParameterError(f"quality must be an integer in [1, 100], got {quality!r}")
    return int(quality)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def jpeg_bytes(image: np.ndarray, quality: int, *, chroma_subsampling: str = "4:2:0") -> bytes:
    """Encode ``image`` (H x W x C in [0, 1]) as a baseline JPEG file and return its bytes."""
    img = as_image(image)
    q = _check_quality(quality)
    check_choice("chroma_subsampling", chroma_subsampling, tuple(CHROMA_SUBSAMPLING))
    u8 = _to_uint8(img)
    params = [cv2.IMWRITE_JPEG_QUALITY, q]
    if u8.shape[2] == 3:
        u8 = np.ascontiguousarray(u8[:, :, ::-1])  # OpenCV encodes BGR
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, CHROMA_SUBSAMPLING[chroma_subsampling]]
    else:
        u8 = u8[:, :, 0]
    ok, buf = cv2.imencode(".jpg", u8, params)
    if not ok:  # pragma: no cover - libjpeg does not fail on valid uint8 arrays
        raise InvalidParameterError(f"JPEG encoding failed for an image of shape {img.shape}")
    return buf.tobytes()


def _decode(data: bytes, channels: int) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif channels == 3:
        arr = arr[:, :, ::-1]
    return arr.astype(np.float32) / 255.0


def jpeg(image: np.ndarray, quality: int, *, chroma_subsampling: str = "4:2:0") -> Degraded:
    """Compress with JPEG at ``quality`` (1..100) and decode; returns float32 ``k / 255``.

    Colour images use ``chroma_subsampling`` (``"4:2:0"`` default, ``"4:2:2"``,
    ``"4:4:4"``, ...); gray images stay one-channel. Deterministic.
    """
    img = as_image(image)
    data = jpeg_bytes(img, quality, chroma_subsampling=chroma_subsampling)
    out = _decode(data, img.shape[2])
    record = {
        "op": "jpeg",
        "quality": int(quality),
        "chroma_subsampling": chroma_subsampling if img.shape[2] == 3 else None,
        "bytes": len(data),
        "codec": "libjpeg (OpenCV)",
    }
    return Degraded(out, jsonable(record))


def random_jpeg(
    image: np.ndarray,
    rng: RngLike = None,
    *,
    quality_range: tuple[int, int] = (30, 95),
    chroma_subsampling: str = "4:2:0",
) -> Degraded:
    """JPEG with a quality drawn uniformly from the integers in ``quality_range`` (inclusive)."""
    lo, hi = (_check_quality(v) for v in quality_range)
    if lo > hi:
        raise InvalidParameterError(f"quality_range must be (low, high) with low <= high, got {quality_range!r}")
    gen = as_generator(rng)
    q = int(gen.integers(lo, hi + 1))
    out, record = jpeg(image, q, chroma_subsampling=chroma_subsampling)
    record["quality_range"] = [lo, hi]
    return Degraded(out, record)
