"""Aligned face crops in and out of a photo, for face models trained on aligned faces.

restora's face models (issue 19's face deblurring, issue 18's face path) learn on the
aligned faces of ``train/Faces``: eyes, nose and mouth at nearly fixed places. A face in a
photo is brought into that frame by a similarity transform (rotation, scale, shift) fitted
from its five MTCNN landmarks to :data:`ALIGNED_FACE_TEMPLATE`, restored there, warped back
and blended in with a feathered mask, in the manner of GFPGAN-style face pipelines.

:func:`restore_faces` does the whole round trip for every detected face (or the whole image,
for a crop that is already aligned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from restora.errors import InvalidParameterError
from restora.faces.detect import FaceBox, detect_faces
from restora.validation import as_image

__all__ = [
    "ALIGNED_FACE_TEMPLATE",
    "FACE_MODES",
    "AlignedFace",
    "FaceRestoreResult",
    "align_face",
    "unalign_face",
    "restore_faces",
]

#: Mean MTCNN landmarks (x, y as fractions of the side: left eye, right eye, nose, left and
#: right mouth corner) of the first 60 faces of ``train/Faces`` (256 px; per-point standard
#: deviation 0.005-0.025): where the face models expect a face's features.
ALIGNED_FACE_TEMPLATE = np.array(
    [[0.3749, 0.4681], [0.6268, 0.4682], [0.5025, 0.6240], [0.3885, 0.7343], [0.6125, 0.7349]]
)

#: ``mode`` choices of :func:`restore_faces`: detect faces (MTCNN) and align each one, or
#: treat the whole image as one aligned face.
FACE_MODES = ("detect", "aligned")


@dataclass
class AlignedFace:
    """A face warped into the aligned frame: ``crop`` (``size x size x C``) and ``matrix``
    (2 x 3, photo -> crop)."""

    crop: np.ndarray
    matrix: np.ndarray


@dataclass
class FaceRestoreResult:
    """The photo with its faces restored and the faces used (empty for ``aligned`` mode)."""

    image: np.ndarray
    faces: list[FaceBox] = field(default_factory=list)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> AlignedFace:
    """Warp the face with these five ``landmarks`` (5 x 2, pixels) into a ``size`` px aligned crop."""
    img = as_image(image, "image")
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        raise InvalidParameterError(f"landmarks must be 5 x 2 finite (x, y) points, got shape {pts.shape}")
    if int(size) < 16:
        raise InvalidParameterError(f"size must be >= 16 px, got {size}")
    dst = ALIGNED_FACE_TEMPLATE * float(size)
    matrix, _ = cv2.estimateAffinePartial2D(pts.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    if matrix is None:
        raise InvalidParameterError("the face landmarks are degenerate (no similarity transform fits them)")
    crop = cv2.warpAffine(img, matrix, (int(size), int(size)), flags=cv2.INTER_AREA if _scale(matrix) < 1 else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT101)
    return AlignedFace(crop.reshape(int(size), int(size), img.shape[2]), matrix)


def _scale(matrix: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def unalign_face(image: np.ndarray, restored: np.ndarray, matrix: np.ndarray, *, feather: float = 0.1) -> np.ndarray:
    """Warp the restored aligned crop back into ``image`` (the inverse of ``matrix``) and blend it
    in with a mask that fades over ``feather`` x the crop side at its border."""
    img = as_image(image, "image")
    face = as_image(restored, "restored")
    if face.shape[2] != img.shape[2]:
        raise InvalidParameterError(f"restored face has {face.shape[2]} channels, the image {img.shape[2]}")
    h, w = img.shape[:2]
    side = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    back = cv2.warpAffine(face, inverse, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE).reshape(h, w, -1)
    ramp = max(1, int(round(feather * side)))
    mask = np.zeros((side, side), np.float32)
    mask[ramp:-ramp, ramp:-ramp] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), ramp / 2.0)
    mask = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)[:, :, None]
    return img * (1.0 - mask) + back * mask


def restore_faces(
    image: np.ndarray,
    restore: Callable[[np.ndarray], np.ndarray],
    *,
    size: int,
    mode: str = "detect",
    faces: Sequence[FaceBox] | None = None,
    min_score: float = 0.9,
    min_face: int = 24,
) -> FaceRestoreResult:
    """Run a face model ``restore`` (aligned ``size x size x C`` -> same) on every face of ``image``.

    ``mode="detect"``: MTCNN finds the faces (or give ``faces`` with landmarks); each is aligned,
    restored and blended back; the rest of the image is kept. ``mode="aligned"``: the image is
    one aligned face: resized to ``size``, restored, resized back. A face larger than
    ``size`` comes back with at most the model's ``size`` px of detail.
    """
    img = as_image(image, "image")
    if mode not in FACE_MODES:
        raise InvalidParameterError(f"mode must be one of {', '.join(FACE_MODES)}, got {mode!r}")
    if mode == "aligned":
        h, w = img.shape[:2]
        small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if min(h, w) > size else cv2.INTER_CUBIC)
        out = _checked(restore(small.reshape(size, size, img.shape[2])), size, img.shape[2])
        back = cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, img.shape[2])
        return FaceRestoreResult(back)
    if faces is None:
        rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        faces = [f for f in detect_faces(rgb, min_size=min_face) if f.score >= min_score]
    used = [f for f in faces if f.landmarks is not None]
    out_img = img
    for face in used:
        aligned = align_face(out_img, face.landmarks, size)
        restored = _checked(restore(aligned.crop), size, img.shape[2])
        out_img = unalign_face(out_img, restored, aligned.matrix)
    return FaceRestoreResult(out_img, list(used))


def _checked(face: np.ndarray, size: int, channels: int) -> np.ndarray:
    out = np.asarray(face, dtype=np.float32)
    if out.ndim == 2:
        out = out[:, :, None]
    if out.shape != (size, size, channels):
        raise InvalidParameterError(f"the face model returned shape {out.shape}, expected {(size, size, channels)}")
    return out
