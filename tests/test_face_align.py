"""Aligned face crops out of and back into a photo (restora.faces.align)."""

import numpy as np
import pytest

from restora.errors import InvalidParameterError
from restora.faces.align import ALIGNED_FACE_TEMPLATE, align_face, unalign_face, restore_faces
from restora.faces.detect import FaceBox


def _smooth(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    a, b, c = rng.uniform(1, 4, 3)
    img = np.stack([0.5 + 0.4 * np.sin(a * xx * 6 + c * yy), 0.5 + 0.4 * np.cos(b * yy * 5), 0.5 + 0.3 * np.sin((xx + yy) * c * 4)], -1)
    return img.astype(np.float32)


def _landmarks(x0, y0, side, angle=0.0):
    pts = ALIGNED_FACE_TEMPLATE * side
    c, s = np.cos(angle), np.sin(angle)
    centre = np.array([side / 2, side / 2])
    return (pts - centre) @ np.array([[c, s], [-s, c]]) + centre + [x0, y0]


def test_align_maps_landmarks_onto_template():
    img = _smooth(120, 160)
    lm = _landmarks(40, 20, 80, angle=0.2)
    aligned = align_face(img, lm, 64)
    assert aligned.crop.shape == (64, 64, 3)
    mapped = np.c_[lm, np.ones(5)] @ aligned.matrix.T
    np.testing.assert_allclose(mapped, ALIGNED_FACE_TEMPLATE * 64, atol=0.05)


def test_identity_round_trip_keeps_the_photo_and_changes_only_the_face():
    img = _smooth(120, 160, seed=1)
    face = FaceBox((40, 20, 120, 100), 0.99, _landmarks(40, 20, 80, angle=0.1))
    same = restore_faces(img, lambda x: x, size=64, faces=[face])
    assert len(same.faces) == 1
    # an identity model resamples the face twice (80 -> 64 -> 80 px): close, not exact
    assert np.abs(same.image - img).mean() < 0.01
    dark = restore_faces(img, lambda x: np.zeros_like(x), size=64, faces=[face]).image
    assert dark[60, 80].max() < 0.05  # the face centre is replaced
    np.testing.assert_array_equal(dark[:10, :10], img[:10, :10])  # far from the face: untouched
    np.testing.assert_array_equal(dark[-5:, :], img[-5:, :])


def test_aligned_mode_and_errors():
    img = _smooth(96, 96, seed=2)
    out = restore_faces(img, lambda x: x * 0.5, size=64, mode="aligned")
    assert out.image.shape == img.shape and out.faces == []
    np.testing.assert_allclose(out.image.mean(), img.mean() * 0.5, rtol=0.02)
    with pytest.raises(InvalidParameterError, match="mode"):
        restore_faces(img, lambda x: x, size=64, mode="nope")
    with pytest.raises(InvalidParameterError, match="face model returned"):
        restore_faces(img, lambda x: x[:32], size=64, mode="aligned")
    with pytest.raises(InvalidParameterError, match="landmarks"):
        align_face(img, np.zeros((4, 2)), 64)
    with pytest.raises(InvalidParameterError, match="channels"):
        unalign_face(img, np.zeros((64, 64, 1), np.float32), np.eye(2, 3))


def test_detect_mode_finds_and_restores_a_real_face(data_dir):
    from restora.data import dataset_images
    from restora.io import read_image

    from restora.errors import MissingResourceError
    from restora.faces.detect import mtcnn_weights_dir

    try:
        mtcnn_weights_dir()
    except MissingResourceError:
        pytest.skip("MTCNN weights (the faces extra) are not installed")
    face = read_image(dataset_images("Faces")[0])[:, :, :3]
    canvas = np.pad(face, ((40, 40), (80, 80), (0, 0)), mode="reflect")
    out = restore_faces(canvas, lambda x: x, size=64)
    assert len(out.faces) >= 1
    x1, y1, x2, y2 = out.faces[0].box
    assert 60 < x1 < 160 and 20 < y1 < 120  # the pasted face, not the mirrored copies
    assert np.abs(out.image - canvas).mean() < 0.02
