"""Faces in scenes: an aligned face crop pasted into a background photograph (CBSD432
scenes, say), so that a portrait restorer is trained and tested on images where the face
must be found, and augmentation for the few identities of the face sets.

:func:`paste_face` scales the face (a fraction of the scene's shorter side), applies a
small random rotation, places it at a random position and blends it in through a soft
elliptical mask (the aligned crop's corners, mostly background of its own, fade out).
:func:`augment_face` applies a horizontal flip, a small affine change (scale, rotation,
shift), a colour change (per-channel gain, brightness, saturation) and a random crop.
Both are seeded (``rng``) and return a record of what they drew.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from restora.degrade.record import jsonable
from restora.errors import InvalidParameterError
from restora.rng import RngLike, as_generator
from restora.validation import as_image

__all__ = ["paste_face", "augment_face", "random_scene_crop"]


def _ellipse_mask(size: int, feather: float) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2
    r = np.sqrt(((x - c) / (0.46 * size)) ** 2 + ((y - c) / (0.50 * size)) ** 2)
    return np.clip((1.0 - r) / max(feather, 1e-3), 0.0, 1.0).astype(np.float32)


def random_scene_crop(background: np.ndarray, size: int, rng: RngLike = None) -> np.ndarray:
    """A random ``size x size`` crop of ``background`` (resized up first when it is smaller)."""
    bg = as_image(background, "background")
    gen = as_generator(rng)
    h, w = bg.shape[:2]
    if min(h, w) < size:
        f = size / min(h, w)
        bg = cv2.resize(bg, (max(size, int(np.ceil(w * f))), max(size, int(np.ceil(h * f)))), interpolation=cv2.INTER_CUBIC)
        bg = bg[:, :, None] if bg.ndim == 2 else bg
        h, w = bg.shape[:2]
    y = int(gen.integers(0, h - size + 1))
    x = int(gen.integers(0, w - size + 1))
    return np.ascontiguousarray(bg[y : y + size, x : x + size])


def paste_face(
    face: np.ndarray,
    background: np.ndarray,
    rng: RngLike = None,
    *,
    size: int = 256,
    scale: tuple[float, float] = (0.45, 0.8),
    max_rotation: float = 10.0,
    feather: float = 0.25,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Paste the aligned ``face`` crop into a random ``size x size`` crop of ``background``.

    The face's side is a fraction in ``scale`` of ``size``; it is rotated by up to
    ``max_rotation`` degrees and blended through a soft elliptical mask (``feather``: the
    fraction of the radius over which it fades). Returns ``(scene, record)`` with
    ``record["face_region"]`` = ``[x1, y1, x2, y2]`` of the pasted crop in the scene (the
    aligned crop's square, not a detector box) and the draws.
    """
    f = as_image(face, "face")
    bg = as_image(background, "background")
    if f.shape[2] != bg.shape[2]:
        raise InvalidParameterError(f"face has {f.shape[2]} channels, background {bg.shape[2]}; give both RGB or both gray")
    lo, hi = float(scale[0]), float(scale[1])
    if not 0 < lo <= hi <= 1:
        raise InvalidParameterError(f"scale must be (lo, hi) with 0 < lo <= hi <= 1, got {scale!r}")
    gen = as_generator(rng)
    scene = random_scene_crop(bg, size, gen).copy()
    side = max(8, int(round(size * gen.uniform(lo, hi))))
    angle = float(gen.uniform(-max_rotation, max_rotation))
    x0 = int(gen.integers(0, size - side + 1))
    y0 = int(gen.integers(0, size - side + 1))
    patch = cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA if side < f.shape[0] else cv2.INTER_CUBIC)
    patch = patch[:, :, None] if patch.ndim == 2 else patch
    mask = _ellipse_mask(side, feather)
    if angle:
        rot = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), angle, 1.0)
        patch = cv2.warpAffine(patch, rot, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        patch = patch[:, :, None] if patch.ndim == 2 else patch
        mask = cv2.warpAffine(mask, rot, (side, side), flags=cv2.INTER_LINEAR, borderValue=0.0)
    m = mask[:, :, None]
    region = scene[y0 : y0 + side, x0 : x0 + side]
    scene[y0 : y0 + side, x0 : x0 + side] = region * (1 - m) + patch * m
    record = {"op": "paste_face", "size": int(size), "face_region": [x0, y0, x0 + side, y0 + side],
              "angle": angle, "feather": float(feather)}
    return scene.astype(np.float32), jsonable(record)


def augment_face(face: np.ndarray, rng: RngLike = None, *, crop: float = 0.9, max_rotation: float = 8.0,
                 max_shift: float = 0.04, scale: tuple[float, float] = (0.95, 1.08),
                 color: float = 0.08) -> tuple[np.ndarray, dict[str, Any]]:
    """A randomly changed copy of an aligned ``face`` (same size): flip (p = 0.5), affine
    (rotation up to ``max_rotation`` degrees, zoom in ``scale``, shift up to ``max_shift``
    of the side; mirrored borders), per-channel gains and brightness within ``color``, a
    saturation change, then a random crop of ``crop`` of the side resized back. Returns
    ``(image, record)``."""
    img = as_image(face, "face")
    gen = as_generator(rng)
    h, w, c = img.shape
    flip = bool(gen.random() < 0.5)
    out = img[:, ::-1] if flip else img
    angle = float(gen.uniform(-max_rotation, max_rotation))
    zoom = float(gen.uniform(*scale))
    tx, ty = (float(v) for v in gen.uniform(-max_shift, max_shift, 2))
    mat = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom)
    mat[:, 2] += (tx * w, ty * h)
    out = cv2.warpAffine(np.ascontiguousarray(out), mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = out[:, :, None] if out.ndim == 2 else out
    gains = 1.0 + gen.uniform(-color, color, c).astype(np.float32)
    bright = float(gen.uniform(-color, color))
    sat = float(gen.uniform(1 - 2 * color, 1 + 2 * color)) if c == 3 else 1.0
    out = out * gains[None, None, :] + np.float32(bright)
    if c == 3:
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * np.float32(sat)
    side_h, side_w = max(11, int(round(h * crop))), max(11, int(round(w * crop)))
    y = int(gen.integers(0, h - side_h + 1))
    x = int(gen.integers(0, w - side_w + 1))
    out = cv2.resize(np.ascontiguousarray(out[y : y + side_h, x : x + side_w]), (w, h), interpolation=cv2.INTER_CUBIC)
    out = out[:, :, None] if out.ndim == 2 else out
    record = {"op": "augment_face", "flip": flip, "angle": angle, "zoom": zoom, "shift": [tx, ty],
              "gains": gains, "brightness": bright, "saturation": sat, "crop": [x, y, side_w, side_h]}
    return np.clip(out, 0.0, 1.0).astype(np.float32), jsonable(record)
