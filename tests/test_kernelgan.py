"""KernelGAN kernel estimation, ZSSR and the DIV2KRK-like bench tasks (issue 20, part 1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from conftest import synthetic_image
from restora.classical.kernelgan import (
    bicubic_kernel,
    center_kernel,
    compose_x4,
    downscale_with_kernel,
    estimate_sr_kernel,
    kernel_error,
)
from restora.degrade.resize import imresize
from restora.errors import InvalidParameterError

TINY_GAN = dict(iterations=6, g_channels=8, d_channels=8, d_layers=3, batch=2, crop=40)


def _com(k: np.ndarray) -> np.ndarray:
    return np.array(ndimage.center_of_mass(k))


def _shapes(n: int = 96, seed: int = 0) -> np.ndarray:
    """Many small flat discs and boxes on gray: edges at every scale (what ZSSR feeds on)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((n, n, 3), 0.5, np.float32)
    for _ in range(120):
        colour = rng.random(3).tolist()
        x, y = (int(v) for v in rng.integers(0, n, 2))
        r = int(rng.integers(2, 9))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), r, colour, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + int(r * 0.7)), colour, -1)
    return img


def _ypsnr(a: np.ndarray, b: np.ndarray, crop: int) -> float:
    from restora.metrics import psnr

    return psnr(np.clip(a, 0, 1), b, crop=crop, y_channel=True)


def test_bicubic_kernel_reproduces_imresize_downscaling():
    img = synthetic_image(96, 80, 3)
    for s in (2, 4):
        k = bicubic_kernel(s)
        assert k.shape == (4 * s + 3,) * 2 and k.sum() == pytest.approx(1.0)
        assert np.allclose(_com(k), k.shape[0] // 2 + (s - 1) / 2)
        ours = downscale_with_kernel(img, k, s)
        ref = imresize(img, 1.0 / s)
        assert ours.shape == ref.shape
        b = 2 * s  # borders differ (mirroring at a different place); the interior is the same filter
        assert np.abs(ours[b:-b, b:-b] - ref[b:-b, b:-b]).max() < 1e-5


def test_compose_x4_equals_two_x2_steps():
    from restora.bench.blind_sr import div2krk_kernel

    k2, _ = div2krk_kernel(2, np.random.default_rng(3))
    k4 = compose_x4(k2)
    assert k4.shape == (31, 31) and k4.sum() == pytest.approx(1.0)
    img = synthetic_image(96, 96, 1)
    once = downscale_with_kernel(img, k4, 4)
    twice = downscale_with_kernel(downscale_with_kernel(img, k2, 2), k2, 2)
    assert np.abs(once[5:-5, 5:-5] - twice[5:-5, 5:-5]).max() < 1e-5
    assert np.allclose(_com(k4), 15 + 1.5, atol=0.05)  # the x4 grid: (4 - 1) / 2 off the middle


def test_center_kernel_and_kernel_error():
    k = np.zeros((11, 11))
    k[2, 3] = 1.0
    c = center_kernel(k, 2)
    assert c.sum() == pytest.approx(1.0) and np.allclose(_com(c), 5.5)
    assert kernel_error(c, c) == 0.0
    assert kernel_error(np.zeros((13, 13)), c) == pytest.approx(1.0)


def test_estimate_sr_kernel_properties_and_reproducibility():
    img = synthetic_image(64, 72, 3)
    k, info = estimate_sr_kernel(img, 2, rng=5, **TINY_GAN)
    assert k.shape == (13, 13)
    assert k.sum() == pytest.approx(1.0) and k.min() >= 0
    assert np.allclose(_com(k), 6.5, atol=0.2)  # centred for the x2 grid (a 6-step kernel is noisy: mass at the edge)
    assert info["iterations"] == 6 and info["scale"] == 2
    k2, _ = estimate_sr_kernel(img, 2, rng=5, **TINY_GAN)
    assert np.array_equal(k, k2)
    k4, _ = estimate_sr_kernel(img, 4, rng=5, **TINY_GAN)
    assert k4.shape == (37, 37) and np.allclose(_com(k4), 18 + 1.5, atol=0.2)
    seen = []
    estimate_sr_kernel(img, 2, rng=5, progress=lambda i, n, kk: seen.append((i, n, kk.shape)), progress_every=3, **TINY_GAN)
    assert seen == [(3, 6, (13, 13)), (6, 6, (13, 13))]
    with pytest.raises(InvalidParameterError):
        estimate_sr_kernel(img, 3, **TINY_GAN)
    with pytest.raises(InvalidParameterError):
        estimate_sr_kernel(img[:20, :20], 2, **TINY_GAN)


def test_zssr_with_the_true_kernel_beats_bicubic():
    from restora.bench.blind_sr import div2krk_kernel
    from restora.classical.zssr import zssr

    hr = _shapes()
    k, _ = div2krk_kernel(2, np.random.default_rng(7))
    lr = downscale_with_kernel(hr, k, 2)
    out = zssr(lr, 2, k, iterations=300, channels=16, layers=4, crop=32, rng=0)
    assert out.shape == hr.shape and out.dtype == np.float32
    assert _ypsnr(out, hr, 2) > _ypsnr(imresize(lr, 2), hr, 2) + 0.5
    again = zssr(lr, 2, k, iterations=300, channels=16, layers=4, crop=32, rng=0)
    assert np.array_equal(out, again)
    gray = zssr(lr[:, :, :1], 2, None, iterations=3, channels=4, layers=3, crop=16)
    assert gray.shape == (96, 96, 1)
    with pytest.raises(InvalidParameterError):
        zssr(lr, 2.5)
    with pytest.raises(InvalidParameterError):
        zssr(lr, 2, np.ones((4, 4)))


def test_bench_tasks_register_and_degrade_deterministically():
    from restora.bench import get_task
    from restora.bench.methods import resolve_method
    from restora.degrade.kernels import kernel_covariance

    img = synthetic_image(50, 62, 3)
    for scale, size in ((2, 11), (4, 31)):
        task = get_task(f"sr-kernel-x{scale}")
        assert task.kind == "sr" and task.scoring.crop == scale and task.scoring.y_channel
        a = task.make_sample(img, name="x", seed=0)
        b = task.make_sample(img, name="x", seed=0)
        c = task.make_sample(img, name="y", seed=0)
        assert np.array_equal(a.degraded, b.degraded) and np.array_equal(a.condition["kernel"], b.condition["kernel"])
        assert not np.array_equal(a.condition["kernel"], c.condition["kernel"])
        k = a.condition["kernel"]
        assert k.shape == (size, size) and k.sum() == pytest.approx(1.0) and a.condition["scale"] == scale
        h, w = a.reference.shape[:2]
        assert (h % scale, w % scale) == (0, 0) and a.degraded.shape == (h // scale, w // scale, 3)
        assert np.array_equal(a.degraded, np.round(a.degraded * 255) / 255)  # 8-bit input
        for name in ("bicubic", "zssr", "kernelgan-zssr", "zssr-true-kernel"):
            assert resolve_method(name, task).name == name
    # the x2 kernels' spread lies in the DIV2KRK range (eigenvalues 0.6..5, truncated to 11 x 11)
    t2 = get_task("sr-kernel-x2")
    for n in range(6):
        ev = np.linalg.eigvalsh(kernel_covariance(t2.make_sample(img, name=f"i{n}").condition["kernel"]))
        assert 0.4 < ev.min() and ev.max() < 5.0


def test_catalogue_and_cli(tmp_path, monkeypatch):
    from restora import io as rio
    from restora.classical import zssr as zmod
    from restora.cli.main import main
    from restora.restorers import get_restorer_info

    assert get_restorer_info("kernelgan").blind and get_restorer_info("zssr").task == "sr"
    calls = []

    def quick(image, scale, **options):
        calls.append(scale)
        k, _ = estimate_sr_kernel(image, scale, **TINY_GAN)
        return zmod.zssr(image, scale, k, iterations=3, channels=4, layers=3, crop=16)

    monkeypatch.setattr(zmod, "kernelgan_zssr", quick)
    src = tmp_path / "in.png"
    rio.write_image(src, synthetic_image(48, 56, 3))
    assert main(["upscale", str(src), str(tmp_path / "o.png"), "--scale", "2", "--method", "kernelgan"]) == 0
    assert rio.read_image(tmp_path / "o.png").shape == (96, 112, 3) and calls == [2]
    monkeypatch.undo()
    assert main(["upscale", str(src), str(tmp_path / "o3.png"), "--scale", "3", "--method", "kernelgan"]) == 2
