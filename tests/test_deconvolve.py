"""Non-blind deconvolution (Wiener, Richardson-Lucy, MAP), edge handling and blind kernel estimation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from conftest import border_psnr, blocks_image, sample_shake, synthetic_image
from restora.classical.blind import blind_deconvolve, center_kernel, estimate_kernel, estimate_kernel_pair, reblur_residual
from restora.classical.deconvolve import (
    edgetaper,
    hyper_laplacian_shrink,
    map_deconvolution,
    psf2otf,
    richardson_lucy,
    wiener,
)
from restora.degrade.convolve import convolve
from restora.degrade.kernels import motion_kernel
from restora.errors import InvalidParameterError
from restora.restorers import get_restorer, get_restorer_info




@pytest.fixture(scope="module")
def blurred_case():
    x = blocks_image(64, 80, seed=3)
    k, _ = motion_kernel(11, rng=4, length=9.0)
    y = convolve(x, k) + np.random.default_rng(0).normal(0, 1.0 / 255, x.shape).astype(np.float32)
    return x, y, k


def test_psf2otf_is_circular_convolution():
    rng = np.random.default_rng(1)
    img = rng.random((20, 24))
    k = rng.random((5, 3))
    via_fft = np.fft.irfft2(np.fft.rfft2(img) * psf2otf(k, img.shape), s=img.shape)
    direct = ndimage.convolve(img, k, mode="wrap")
    np.testing.assert_allclose(via_fft, direct, atol=1e-10)


def test_edgetaper_keeps_interior_and_blends_border():
    x = synthetic_image(64, 64, 1)
    k = np.ones((1, 9)) / 9.0
    t = edgetaper(x, k)
    assert t.shape == x.shape and t.dtype == np.float32
    np.testing.assert_allclose(t[20:-20, 20:-20], x[20:-20, 20:-20], atol=1e-6)
    # at the left/right frame the image is replaced by its circular blur: the wrap is smooth
    jump_t = float(np.abs(t[:, 0] - t[:, -1]).mean())
    jump_x = float(np.abs(x[:, 0] - x[:, -1]).mean())
    assert jump_t < 0.5 * jump_x
    assert not np.allclose(t[:, 0], x[:, 0])


@pytest.mark.parametrize("alpha", [0.5, 2.0 / 3.0, 1.0])
def test_hyper_laplacian_shrink_matches_brute_force(alpha):
    beta = 7.0
    v = np.linspace(-1.5, 1.5, 61)
    w = hyper_laplacian_shrink(v, beta, alpha)
    grid = np.linspace(-2, 2, 40001)
    energy = np.abs(grid[None, :]) ** alpha + beta / 2 * (grid[None, :] - v[:, None]) ** 2
    best = grid[np.argmin(energy, axis=1)]
    e_w = np.abs(w) ** alpha + beta / 2 * (w - v) ** 2
    e_b = np.abs(best) ** alpha + beta / 2 * (best - v) ** 2
    assert np.all(e_w <= e_b + 1e-6)


def test_nonblind_methods_improve_psnr(blurred_case):
    x, y, k = blurred_case
    base = border_psnr(y, x)
    results = {
        "wiener": wiener(y, k, sigma=1.0),
        "rl": richardson_lucy(y, k, iterations=30),
        "map-hl": map_deconvolution(y, k, sigma=1.0),
        "map-tv": map_deconvolution(y, k, prior="tv", sigma=1.0),
    }
    for name, out in results.items():
        assert out.shape == x.shape and out.dtype == np.float32, name
        assert border_psnr(out, x) > base + 2.0, (name, border_psnr(out, x), base)
    assert border_psnr(results["map-hl"], x) > border_psnr(results["rl"], x)


def test_colour_channels_deconvolved_independently(blurred_case):
    x, y, k = blurred_case
    rgb = np.concatenate([y, y * 0.5, y * 0.25], axis=2)
    out = map_deconvolution(rgb, k, sigma=1.0)
    single = map_deconvolution(y, k, sigma=1.0)
    np.testing.assert_allclose(out[:, :, :1], single, atol=1e-5)
    # Wiener is linear: scaling one channel scales its result
    w = wiener(rgb, k, sigma=1.0)
    np.testing.assert_allclose(w[:, :, 1:2], w[:, :, :1] * 0.5, atol=1e-5)


def test_no_ringing_at_borders():
    # Blur with mirrored borders (as a camera sees content beyond the frame), then deconvolve:
    # the error in the frame band must stay close to the interior error.
    x = synthetic_image(96, 96, 1, seed=5)
    k, _ = motion_kernel(15, rng=2, length=13.0)
    y = convolve(x, k, boundary="reflect")
    for out in (map_deconvolution(y, k, sigma=0.5), wiener(y, k, sigma=0.5)):
        err = (out[:, :, 0].astype(np.float64) - x[:, :, 0]) ** 2
        band = np.ones_like(err, bool)
        band[8:-8, 8:-8] = False
        interior = err[20:-20, 20:-20].mean()
        assert err[band].mean() < 4.0 * interior + 1e-4, (err[band].mean(), interior)


def test_errors_name_the_parameter(blurred_case):
    x, y, k = blurred_case
    with pytest.raises(InvalidParameterError, match="prior"):
        map_deconvolution(y, k, prior="l3")
    with pytest.raises(InvalidParameterError, match="kernel"):
        wiener(y, np.zeros((3, 3)))
    with pytest.raises(InvalidParameterError, match="kernel"):
        get_restorer("wiener")(y, sigma=1.0)


def test_registered_deblur_methods(blurred_case):
    x, y, k = blurred_case
    for name in ("wiener", "richardson-lucy", "map-tv", "map-hyper-laplacian"):
        info = get_restorer_info(name)
        assert info.task == "deblur" and not info.blind
        out = get_restorer(name)(y, kernel=k, sigma=1.0)
        assert border_psnr(out, x) > border_psnr(y, x)
    assert get_restorer_info("blind-deconv").blind


def test_center_kernel_moves_mass_to_centre():
    k = np.zeros((9, 9))
    k[1, 2], k[1, 3] = 0.5, 0.5
    c = center_kernel(k)
    cy, cx = ndimage.center_of_mass(c)
    assert abs(cy - 4) < 1e-6 and abs(cx - 4) < 1e-6 and abs(c.sum() - 1) < 1e-9 and c.min() >= 0


def test_estimate_kernel_recovers_easy_motion_blur():
    x = blocks_image(112, 112, seed=1)
    k, _ = motion_kernel(9, rng=7, length=8.0, intensity=0.3)
    y = convolve(x, k) + np.random.default_rng(2).normal(0, 0.5 / 255, x.shape).astype(np.float32)
    est = estimate_kernel(y, 9)
    assert est.shape == (9, 9)
    assert est.min() >= 0 and abs(est.sum() - 1) < 1e-9
    corr = float(np.sum(est * k) / np.linalg.norm(est) / np.linalg.norm(k))
    assert corr > 0.8, corr
    # a delta (no blur) explains it far worse than the estimate
    delta = np.zeros_like(k)
    delta[4, 4] = 1
    assert corr > float(np.sum(delta * k) / np.linalg.norm(k)) + 0.2


def test_blind_kernel_options_that_thin_the_strokes():
    """A motion path is one pixel wide: the default sub-pixel (bilinear) centring smears it
    over two, and the L0 cartoon's step edges widen it; ``subpixel=False`` and ``refine``
    (re-estimation from the hyper-Laplacian latent) keep it thin, which pays on blur that is
    an exact convolution (session 33: +1.0 / +0.7 dB on 12 CBSD432 photos) though not on
    Levin's real shake, hence not the defaults. On the package's sample with a 15 px L-path."""
    from restora.metrics import psnr

    x, k, y = sample_shake()

    def score(est: np.ndarray) -> float:  # deconvolved PSNR up to a translation of 2 px
        out = np.clip(map_deconvolution(y, est, sigma=1.0), 0, 1)
        return max(psnr(x[12:-12, 12:-12], np.roll(out, (dy, dx), (0, 1))[12:-12, 12:-12])
                   for dy in range(-2, 3) for dx in range(-2, 3))

    def stroke_mass(est: np.ndarray) -> float:  # the mass on as many pixels as the path has
        return float(np.sort(est.ravel())[::-1][: int((k > 0).sum())].sum())

    sub, whole, refined = (estimate_kernel(y, 17, **o) for o in ({}, {"subpixel": False}, {"subpixel": False, "refine": 4}))
    for est in (refined, whole):
        assert est.min() >= 0 and abs(est.sum() - 1) < 1e-9
        cy, cx = ndimage.center_of_mass(est)
        assert abs(cy - 8) <= 0.5 and abs(cx - 8) <= 0.5  # centred to the nearest pixel
    assert stroke_mass(whole) > stroke_mass(sub) + 0.03
    assert score(whole) > score(sub) + 0.5
    assert score(refined) > score(whole) + 0.2


def test_kernel_pair_is_the_default_and_the_refined_estimate_of_one_pass():
    x = blocks_image(96, 96, seed=1)
    k, _ = motion_kernel(9, rng=7, length=8.0, intensity=0.3)
    y = convolve(x, k)
    default, refined = estimate_kernel_pair(y, 9, iterations=2)
    assert np.array_equal(default, estimate_kernel(y, 9, iterations=2))
    assert np.array_equal(refined, estimate_kernel(y, 9, iterations=2, refine=4, subpixel=False))
    with pytest.raises(InvalidParameterError, match="unknown kernel estimation option.*subpixel"):
        estimate_kernel_pair(y, 9, subpixel=True)


def test_reblur_residual_is_near_zero_for_the_true_kernel_and_grows_with_its_error():
    x = blocks_image(80, 80, seed=5)
    k, _ = motion_kernel(9, rng=2, length=7.0, intensity=0.3)
    y = convolve(x, k)
    assert reblur_residual(y, x, k) < 1e-3
    wider = ndimage.uniform_filter(k, 3)
    assert reblur_residual(y, x, wider / wider.sum()) > 1.0
    assert reblur_residual(y, x, np.roll(k, 2, axis=1)) > reblur_residual(y, x, wider / wider.sum())
    with pytest.raises(InvalidParameterError, match="differ in size"):
        reblur_residual(y, x[:40], k)


def test_blind_deconvolve_returns_image_and_kernel():
    x = blocks_image(96, 96, seed=2)
    k, _ = motion_kernel(7, rng=3, length=6.0, intensity=0.2)
    y = convolve(x, k)
    out, est = blind_deconvolve(y, 7, sigma=0.5)
    assert out.shape == x.shape and est.shape == (7, 7)
    assert border_psnr(out, x, border=8) > border_psnr(y, x, border=8)


def test_cli_deblur(tmp_path, blurred_case):
    from restora import io as rio
    from restora.cli.main import main

    x, y, k = blurred_case
    src, dst = tmp_path / "blurred.png", tmp_path / "out.png"
    rio.write_image(src, y)
    np.save(tmp_path / "k.npy", k)
    rio.write_image(tmp_path / "k.png", (k / k.max())[:, :, None])
    assert main(["deblur", str(src), str(dst), "--method", "map", "--kernel", str(tmp_path / "k.npy"),
                 "--sigma", "1"]) == 0
    assert border_psnr(rio.read_image(dst), x) > border_psnr(y, x) + 2
    # kernel given as an image (8-bit, renormalised) works too
    assert main(["deblur", str(src), str(dst), "--method", "wiener", "--kernel", str(tmp_path / "k.png"),
                 "--overwrite"]) == 0
    assert main(["deblur", str(src), str(tmp_path / "o2.png"), "--method", "rl"]) == 2  # needs --kernel
    assert main(["deblur", str(src), str(dst), "--method", "map", "--kernel", str(tmp_path / "k.npy")]) == 2
