"""PSNR / SSIM / MS-SSIM / Y channel: agreement with scikit-image, closed forms, MATLAB conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from conftest import synthetic_image
from restora.errors import InvalidParameterError
from restora.metrics import MS_SSIM_WEIGHTS, ms_ssim, psnr, rgb_to_y, ssim, ssim_map
from restora.metrics.ms_ssim import _downsample2, ms_ssim_min_size


def noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + sigma * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- Y channel
def test_rgb_to_y_matlab_values():
    img = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], np.float32)
    y = rgb_to_y(img)
    assert y.shape == (1, 5, 1) and y.dtype == np.float32
    expected = np.array([16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966]) / 255
    np.testing.assert_allclose(y[0, :, 0], expected, atol=1e-6)
    assert rgb_to_y(img.astype(np.float64)).dtype == np.float64


def test_rgb_to_y_gray_passthrough(gray):
    np.testing.assert_array_equal(rgb_to_y(gray), gray)
    with pytest.raises(InvalidParameterError):
        rgb_to_y(np.zeros((4, 4, 2)))


# --------------------------------------------------------------------------- PSNR
def test_psnr_matches_skimage(rgb, gray):
    for img in (rgb, gray):
        b = noisy(img, 0.05)
        ref = sk_psnr(img.astype(np.float64), b.astype(np.float64), data_range=1.0)
        assert abs(psnr(img, b) - ref) < 1e-4
    ref255 = sk_psnr(rgb.astype(np.float64) * 255, noisy(rgb, 0.05).astype(np.float64) * 255, data_range=255)
    assert abs(psnr(rgb * 255, noisy(rgb, 0.05) * 255, data_range=255) - ref255) < 1e-4


def test_psnr_of_known_mse():
    a = np.full((8, 9, 3), 0.5, np.float32)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-5)  # MSE = 0.01
    assert psnr(a, a + 0.01) == pytest.approx(40.0, abs=1e-4)
    assert psnr(a * 255, a * 255 + 2.55, data_range=255) == pytest.approx(40.0, abs=1e-4)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1) == psnr(a + 0.1, a)  # symmetric


def test_psnr_round_to_uint8_matlab_rounding():
    a = np.full((4, 4, 1), 100 / 255, np.float32)
    # below half a level: identical after rounding
    assert psnr(a, a + 0.49 / 255, round_to_uint8=True) == math.inf
    # half a level rounds away from zero (MATLAB uint8), i.e. up: one level of error
    b = np.full((4, 4, 1), 100.5 / 255, np.float64)
    assert psnr(a, b, round_to_uint8=True) == pytest.approx(20 * math.log10(255), abs=1e-9)
    # saturation: values beyond [0, 1] clip before rounding
    assert psnr(np.zeros((4, 4, 1)), np.full((4, 4, 1), -0.3), round_to_uint8=True) == math.inf
    # uint8 arrays are read as k/255
    u = (a * 255).round().astype(np.uint8)
    assert psnr(u, u.astype(np.float64) / 255) == math.inf


def test_psnr_y_channel_and_crop(rgb, gray):
    b = noisy(rgb, 0.05)
    ya, yb = rgb_to_y(rgb.astype(np.float64)), rgb_to_y(b.astype(np.float64))
    assert psnr(rgb, b, y_channel=True) == pytest.approx(psnr(ya, yb), abs=1e-9)
    assert psnr(rgb, b, crop=4) == pytest.approx(psnr(rgb[4:-4, 4:-4], b[4:-4, 4:-4]), abs=1e-9)
    # gray images are measured as stored with y_channel
    g2 = noisy(gray, 0.05)
    assert psnr(gray, g2, y_channel=True) == psnr(gray, g2)


def test_psnr_round_and_y_is_matlab_uint8_pipeline(rgb):
    """round_to_uint8 + y_channel = MATLAB: uint8 RGB -> rgb2ycbcr -> uint8 Y -> double."""
    b = noisy(rgb, 0.05)

    def matlab_y(img):
        u8 = np.floor(np.clip(img.astype(np.float64), 0, 1) * 255 + 0.5)
        y = 16 + (65.481 * u8[..., 0] + 128.553 * u8[..., 1] + 24.966 * u8[..., 2]) / 255
        return np.floor(y + 0.5)

    ya, yb = matlab_y(rgb)[3:-3, 3:-3], matlab_y(b)[3:-3, 3:-3]
    expected = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert psnr(rgb, b, crop=3, y_channel=True, round_to_uint8=True) == pytest.approx(expected, abs=1e-9)


def test_metric_input_errors(rgb):
    with pytest.raises(InvalidParameterError, match="same shape"):
        psnr(rgb, rgb[:-1])
    with pytest.raises(InvalidParameterError, match="crop"):
        psnr(rgb, rgb, crop=40)
    with pytest.raises(InvalidParameterError, match="crop"):
        psnr(rgb, rgb, crop=-1)
    with pytest.raises(InvalidParameterError, match="data_range"):
        psnr(rgb, rgb, data_range=0)
    u = (rgb * 255).astype(np.uint8)
    with pytest.raises(InvalidParameterError, match="data_range"):
        psnr(u, u, data_range=255)
    with pytest.raises(InvalidParameterError, match="NaN"):
        psnr(rgb, np.full_like(rgb, np.nan))
    with pytest.raises(InvalidParameterError, match="SSIM needs at least 11x11"):
        ssim(rgb[:10, :10], rgb[:10, :10])


# --------------------------------------------------------------------------- SSIM
def _sk(a, b, **kw):
    return sk_ssim(a.astype(np.float64), b.astype(np.float64), gaussian_weights=True, sigma=1.5,
                   use_sample_covariance=False, data_range=1.0, **kw)


def test_ssim_matches_skimage(rgb, gray):
    """skimage pads (reflect) and then crops (win-1)/2 = 5 pixels before averaging: its mean
    is over exactly our 'valid' region, so the values agree."""
    b = noisy(rgb, 0.08)
    assert abs(ssim(rgb, b) - _sk(rgb, b, channel_axis=2)) < 1e-4
    g2 = noisy(gray, 0.08)
    assert abs(ssim(gray, g2) - _sk(gray[..., 0], g2[..., 0])) < 1e-4
    _, full = _sk(gray[..., 0], g2[..., 0], full=True)
    np.testing.assert_allclose(ssim_map(gray, g2)[..., 0], full[5:-5, 5:-5], atol=1e-6)


def test_ssim_map_shape_and_valid_window(rgb):
    assert ssim_map(rgb, noisy(rgb, 0.1)).shape == (64 - 10, 80 - 10, 3)
    assert ssim_map(rgb, rgb, crop=2).shape == (64 - 14, 80 - 14, 3)


def test_ssim_single_window_against_formula():
    """An 11x11 pair has one 'valid' window: SSIM is Wang's formula with Gaussian-weighted
    (sigma 1.5, population) statistics, written out here independently."""
    rng = np.random.default_rng(3)
    a, b = rng.random((11, 11)), rng.random((11, 11))
    t = np.arange(11) - 5.0
    w = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.5**2))
    w /= w.sum()
    ma, mb = (w * a).sum(), (w * b).sum()
    va, vb = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2
    cab = (w * a * b).sum() - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    expected = (2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    m = ssim_map(a, b)
    assert m.shape == (1, 1, 1)
    assert m[0, 0, 0] == pytest.approx(expected, abs=1e-12)


def test_ssim_identities(rgb):
    assert ssim(rgb, rgb) == pytest.approx(1.0, abs=1e-12)
    # constant images: sigma = 0, so SSIM = luminance term (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    m1, m2 = 0.3, 0.5
    a, b = np.full((16, 16, 1), m1), np.full((16, 16, 1), m2)
    c1 = 0.01**2
    assert ssim(a, b) == pytest.approx((2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1), abs=1e-12)
    # same constant shift in 8-bit units with data_range = 255 (MATLAB's L = 255)
    assert ssim(a * 255, b * 255, data_range=255) == pytest.approx(ssim(a, b), abs=1e-12)
    b2 = noisy(rgb, 0.05)
    assert ssim(rgb, b2) == pytest.approx(ssim(b2, rgb), abs=1e-12)
    assert ssim(rgb, noisy(rgb, 0.2)) < ssim(rgb, b2) < 1.0


def test_ssim_rgb_is_channel_mean(rgb):
    b = noisy(rgb, 0.08)
    per_channel = [ssim(rgb[..., c : c + 1], b[..., c : c + 1]) for c in range(3)]
    assert ssim(rgb, b) == pytest.approx(np.mean(per_channel), abs=1e-12)
    assert ssim(rgb, b, y_channel=True) == pytest.approx(ssim(rgb_to_y(rgb.astype(np.float64)), rgb_to_y(b.astype(np.float64))), abs=1e-12)


# --------------------------------------------------------------------------- MS-SSIM
def test_ms_ssim_properties():
    a = synthetic_image(170, 181, 3, seed=2)  # odd sizes exercise the symmetric padding
    b = noisy(a, 0.05)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    v = ms_ssim(a, b)
    assert 0 < v < 1 and ms_ssim(a, noisy(a, 0.2)) < v
    assert v == pytest.approx(ms_ssim(b, a), abs=1e-12)
    # one scale with weight 1 is plain SSIM
    assert ms_ssim(a, b, weights=(1.0,)) == pytest.approx(ssim(a, b), abs=1e-12)
    assert ms_ssim_min_size() == 161 and len(MS_SSIM_WEIGHTS) == 5
    with pytest.raises(InvalidParameterError, match="MS-SSIM"):
        ms_ssim(a[:160], b[:160])


def test_ms_ssim_downsample_is_msssim_m():
    x = np.arange(15, dtype=np.float64).reshape(3, 5, 1)
    d = _downsample2(x)
    assert d.shape == (2, 3, 1)
    assert d[0, 0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4)
    # last (odd) column/row: symmetric padding repeats it
    assert d[0, 2, 0] == pytest.approx((4 + 4 + 9 + 9) / 4)
    assert d[1, 2, 0] == pytest.approx(14.0)


# --------------------------------------------------------------------------- acceptance figure
def test_set5_bicubic_x4_y_psnr_matches_published(data_dir):
    """Bicubic x4 on Set5, Y channel, crop 4, MATLAB uint8 conventions: 28.42 dB / 0.8104
    (the figure of SRCNN/VDSR/EDSR/RCAN tables)."""
    resize = pytest.importorskip("restora.degrade.resize")
    if not hasattr(resize, "imresize"):
        pytest.skip("restora.degrade.resize.imresize not available")
    from restora.data import dataset_images
    from restora.metrics._imread import read_rgb_or_gray

    ps, ss = [], []
    for p in dataset_images("Set5"):
        hr = np.round(read_rgb_or_gray(p) * 255).astype(np.uint8)
        h, w = hr.shape[:2]
        hr = hr[: h - h % 4, : w - w % 4]
        sr = resize.imresize(resize.imresize(hr, 0.25), 4.0, round_to_uint8=True)
        ps.append(psnr(hr, sr, crop=4, y_channel=True, round_to_uint8=True))
        ss.append(ssim(hr, sr, crop=4, y_channel=True, round_to_uint8=True))
    assert len(ps) == 5
    assert abs(np.mean(ps) - 28.42) < 0.02
    assert abs(np.mean(ss) - 0.8104) < 0.001
