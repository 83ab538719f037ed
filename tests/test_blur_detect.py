"""Blur kind/size detection (restora.classical.blur_detect): properties that can fail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from restora.classical.blur_detect import BlurEstimate, describe_kernel, detect_blur, kernel_extent
from restora.degrade.convolve import convolve
from restora.degrade.kernels import defocus_kernel, gaussian_kernel, motion_kernel
from restora.errors import InvalidParameterError


def shapes(h: int = 160, w: int = 160, seed: int = 0) -> np.ndarray:
    """Sharp piecewise-constant gray image: random convex polygons and discs."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w), 0.5, np.float32)
    for _ in range(40):
        pts = (rng.random((int(rng.integers(3, 6)), 2)) * [w, h]).astype(np.int32)
        cv2.fillPoly(img, [cv2.convexHull(pts)], float(rng.uniform(0.1, 0.9)))
    for _ in range(15):
        c = tuple(int(v) for v in rng.integers(0, [w, h]))
        cv2.circle(img, c, int(rng.integers(3, 20)), float(rng.uniform(0.1, 0.9)), -1)
    return img[:, :, None]


def line_kernel(length: int) -> np.ndarray:
    k = np.zeros((length, length))
    k[length // 2, :] = 1.0
    return k / k.sum()


# ------------------------------------------------------------------ describe_kernel (fast)


def test_describe_true_kernels() -> None:
    d = describe_kernel(line_kernel(15))
    assert d.kind == "motion" and d.size_px == pytest.approx(15.0, abs=0.5)
    assert min(d.angle_deg, 180 - d.angle_deg) < 2.0
    vertical = describe_kernel(line_kernel(15).T)
    assert vertical.angle_deg == pytest.approx(90.0, abs=2.0)
    curved, _ = motion_kernel(31, rng=4, length=20, intensity=0.5)
    assert describe_kernel(curved).kind == "motion"
    for diameter in (5, 9, 15):
        disk = describe_kernel(defocus_kernel(diameter / 2))
        assert disk.kind == "defocus" and disk.size_px == pytest.approx(diameter, rel=0.15)
    g = describe_kernel(gaussian_kernel(21, 2.0))
    assert g.kind == "gaussian" and g.size_px == pytest.approx(8.0, rel=0.2)  # 4 sigma
    delta = np.zeros((5, 5))
    delta[2, 2] = 1
    assert describe_kernel(delta).kind == "none" and kernel_extent(delta) == 1.0


def test_describe_real_motion_kernels(data_dir) -> None:
    files = sorted((data_dir / "kernels" / "motion32").glob("m_0*.npy"))
    assert files
    for f in files:
        k = np.load(f)
        d = describe_kernel(k)
        assert d.kind == "motion", f.name
        assert 8 <= d.size_px <= 1.42 * k.shape[0] + 1, f.name  # diagonal at most


def test_stray_blob_is_ignored() -> None:
    k = np.zeros((31, 31))
    k[10:21, 10:21] = defocus_kernel(4.5, size=11)
    k[1, 1] = 0.3 * k.max()  # far away, disconnected
    assert describe_kernel(k).kind == "defocus"
    with pytest.raises(InvalidParameterError):
        describe_kernel(np.zeros((3, 3)))


# ------------------------------------------------------------------ detect_blur (kernel estimation)


def test_motion_blur_detected_with_length_and_angle() -> None:
    img = shapes()
    est = detect_blur(convolve(img, line_kernel(15)), crop=128)
    assert isinstance(est, BlurEstimate)
    assert est.kind == "motion"
    assert est.size_px == pytest.approx(15.0, rel=0.3)
    assert min(est.angle_deg, 180 - est.angle_deg) < 15.0


def test_defocus_detected() -> None:
    est = detect_blur(convolve(shapes(seed=1), defocus_kernel(4.5)), crop=128)
    assert est.kind == "defocus"
    assert est.size_px == pytest.approx(9.0, rel=0.3)


def test_sharp_image_reads_none() -> None:
    est = detect_blur(shapes(seed=2), crop=128)
    assert est.kind == "none" and est.angle_deg is None
    tiny = detect_blur(np.full((20, 20, 3), 0.5, np.float32))
    assert tiny.kind == "none"
