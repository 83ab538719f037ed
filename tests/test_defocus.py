"""The spectral defocus estimate (restora.classical.defocus) and how restore uses it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import convolve

from restora.classical.defocus import estimate_defocus
from restora.degrade.kernels import defocus_kernel


def natural(size: int = 256, seed: int = 0) -> np.ndarray:
    """A gray image with a natural 1/f amplitude spectrum, in [0, 1]."""
    rng = np.random.default_rng(seed)
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2)
    spec = np.fft.fft2(rng.normal(size=(size, size))) / np.maximum(f, 1.0 / size)
    img = np.real(np.fft.ifft2(spec))
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float64)


def camera(img: np.ndarray, kernel: np.ndarray | None, seed: int = 1) -> np.ndarray:
    out = convolve(img, kernel, mode="mirror") if kernel is not None else img
    out = out + np.random.default_rng(seed).normal(0, 1.0 / 255, out.shape)
    return (np.round(np.clip(out, 0, 1) * 255) / 255).astype(np.float32)[:, :, None]


@pytest.mark.parametrize("radius", [1.5, 2.5, 4.0])
def test_radius_is_recovered(radius):
    fit = estimate_defocus(camera(natural(), defocus_kernel(radius)))
    assert abs(fit.radius - radius) <= 0.15
    assert fit.evidence > 20


def test_sharp_and_motion_give_little_evidence_of_a_disk():
    sharp = estimate_defocus(camera(natural(), None))
    assert sharp.evidence < 2
    for length in (7, 15, 25):  # straight camera shake: a disk explains none of it
        moved = estimate_defocus(camera(natural(), _line(length)))
        assert moved.evidence < 2


def _line(length: int) -> np.ndarray:
    k = np.zeros((length, length))
    k[length // 2, :] = 1.0
    return k / k.sum()


def test_tiny_or_flat_images_are_no_blur():
    assert estimate_defocus(np.zeros((16, 16, 1), np.float32)).radius == 0.0
    assert estimate_defocus(np.full((64, 64, 3), 0.5, np.float32)).radius == 0.0


def test_restore_deblurs_a_defocused_photo_with_the_fitted_disk():
    from restora.pipeline import RestorePipeline

    blurred = camera(natural(256, seed=2), defocus_kernel(2.5))
    pipe = RestorePipeline(device="cpu", prefer="classical")
    plan = pipe.plan(blurred)
    step = plan.step("deblur")
    assert step is not None and abs(step.params["defocus_radius"] - 2.5) <= 0.15
    assert "fits the power spectrum" in step.reason
    assert plan.analysis["blur"]["defocus_uniform"] is True
    sharp_plan = pipe.plan(camera(natural(256, seed=2), None))
    assert sharp_plan.step("deblur") is None


def test_deblur_command_default_uses_the_fitted_disk():
    from restora.metrics import psnr
    from restora.pipeline.deblur import deblur_image

    clean = natural(256, seed=4)
    blurred = camera(clean, defocus_kernel(3.0))
    res = deblur_image(blurred)
    assert res.method == "blind-defocus" and res.kernel.shape == defocus_kernel(3.0).shape
    assert res.sigma == 1.0
    ref = clean[:, :, None].astype(np.float32)
    assert psnr(res.image[8:-8, 8:-8], ref[8:-8, 8:-8]) > psnr(blurred[8:-8, 8:-8], ref[8:-8, 8:-8]) + 2
    moved = camera(clean, _line(11))
    assert deblur_image(moved, method="blind", kernel_size=15).method == "blind"
