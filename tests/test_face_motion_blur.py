"""The motion-blurred face data of issue 19: kernel sizes, determinism, disjoint seeds."""

import numpy as np
import pytest

from restora.errors import InvalidParameterError
from restora.faces.motion_blur import (
    TEST_KERNEL_SEED,
    TRAIN_KERNEL_SEED,
    blur_face,
    face_kernel_size,
    face_motion_kernels,
)


def test_kernel_size_scales_with_resolution():
    assert face_kernel_size(256) == 71
    assert face_kernel_size(64) == 19
    assert face_kernel_size(128) == 37
    with pytest.raises(InvalidParameterError, match="resolution"):
        face_kernel_size(8)


def test_kernels_are_seeded_normalised_and_disjoint():
    a = face_motion_kernels(6, 64)
    assert a.shape == (6, 19, 19) and a.dtype == np.float32
    np.testing.assert_allclose(a.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert (a >= 0).all()
    np.testing.assert_array_equal(a, face_motion_kernels(6, 64, TRAIN_KERNEL_SEED))
    b = face_motion_kernels(6, 64, TEST_KERNEL_SEED)
    assert not any(np.allclose(x, y) for x in a for y in b)
    # not all kernels are a single point: they blur
    assert (a.max(axis=(1, 2)) < 0.9).sum() >= 4


def test_blur_face_keeps_shape_and_mean(rgb):
    k = face_motion_kernels(1, 64)[0]
    out = blur_face(rgb, k)
    assert out.shape == rgb.shape
    assert abs(float(out.mean()) - float(rgb.mean())) < 0.02
    assert float(np.abs(np.diff(out, axis=1)).mean()) < float(np.abs(np.diff(rgb, axis=1)).mean())
