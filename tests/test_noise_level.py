"""Noise level function estimator (restora.classical.noise_level): properties that can fail."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_image

from restora.classical.estimate import estimate_noise_sigma
from restora.classical.noise_level import NoiseLevel, estimate_noise_level_function
from restora.degrade.isp import camera_sensor_noise
from restora.degrade.jpeg import jpeg
from restora.degrade.noise import gaussian_noise, poisson_noise
from restora.errors import InvalidParameterError


def clean_image(h: int = 128, w: int = 128, channels: int = 3) -> np.ndarray:
    """Noise-free smooth shading plus sharp-edged squares (no grain, unlike synthetic_image)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [
        0.45 + 0.25 * np.sin(x / (9 + 2 * c)) * np.cos(y / (11 + c)) + 0.15 * ((x // 24 + y // 24) % 2)
        for c in range(channels)
    ]
    return np.clip(np.stack(planes, axis=2), 0, 1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sigma", [10.0, 30.0])
def test_gaussian_sigma_recovered(channels: int, sigma: float) -> None:
    img = clean_image(channels=channels)
    for seed in range(2):
        nl = estimate_noise_level_function(gaussian_noise(img, sigma, rng=seed).image)
        assert isinstance(nl, NoiseLevel)
        assert abs(nl.sigma_mean / sigma - 1) < 0.15, (seed, nl.sigma_mean)
        assert nl.kind == "gaussian"
        assert not nl.correlated and not nl.signal_dependent
        assert len(nl.a) == channels
        # white noise: flat noise level function
        assert nl.sigma_at(50.0) == pytest.approx(nl.sigma_at(200.0), rel=0.25)


def test_grainy_synthetic_image_reads_its_grain() -> None:
    # synthetic_image adds white noise of std 0.02 (5.1 levels)
    nl = estimate_noise_level_function(synthetic_image(128, 128, 3, seed=1))
    assert nl.sigma_mean == pytest.approx(5.1, rel=0.2)


def test_poisson_with_clipped_blacks_is_signal_dependent() -> None:
    img = clean_image()
    crushed = np.clip((img - 0.35) / 0.65, 0.0, 1.0)  # large areas exactly 0
    assert (crushed == 0).mean() > 0.1
    noisy = poisson_noise(crushed, 30.0, rng=0, clip=True).image
    true = float(np.std(noisy - crushed) * 255)
    nl = estimate_noise_level_function(noisy)
    assert nl.sigma_mean > 5.0  # the old white-noise estimator's failure mode was ~0
    assert nl.sigma_mean == pytest.approx(true, rel=0.35)
    assert nl.signal_dependent and nl.kind == "poisson"
    # sigma^2 = a I + b with a = 255 / peak for Poisson noise
    assert np.mean(nl.a) == pytest.approx(255.0 / 30.0, rel=0.4)
    assert nl.sigma_at(200.0) > 1.5 * nl.sigma_at(40.0)
    m = nl.sigma_map(noisy)
    assert m.shape == noisy.shape and m.dtype == np.float32
    bright = crushed[:, :, 0] > 0.6
    dark = (crushed[:, :, 0] > 0.05) & (crushed[:, :, 0] < 0.25)
    assert m[bright].mean() > 1.5 * m[dark].mean()


def test_camera_noise_flagged_correlated_and_white_noise_not() -> None:
    img = clean_image()
    noisy = camera_sensor_noise(img, rng=3, shot=3e-3).image
    noise_free = camera_sensor_noise(img, rng=3, shot=0.0, read=0.0).image  # same camera
    true = float(np.std(noisy - noise_free) * 255)
    nl = estimate_noise_level_function(noisy)
    assert nl.correlated and nl.kind == "camera"
    assert nl.neighbour_correlation > 0.25
    assert nl.sigma_mean == pytest.approx(true, rel=0.3)
    # the fine-scale part is what white-noise estimators see: far below the real std
    assert nl.sigma_highpass < 0.5 * nl.sigma_mean
    assert estimate_noise_sigma(noisy) < 0.5 * true
    white = estimate_noise_level_function(gaussian_noise(img, true, rng=3).image)
    assert not white.correlated and white.kind == "gaussian"
    assert abs(white.neighbour_correlation) < 0.15


def test_clean_and_jpeg_images_read_low() -> None:
    img = clean_image()
    nl = estimate_noise_level_function(img)
    assert nl.sigma_mean < 2.0 and nl.kind == "none"
    comp = jpeg(img, 40).image
    assert estimate_noise_level_function(comp).sigma_mean < 3.0


def test_deterministic_and_input_checks() -> None:
    noisy = gaussian_noise(clean_image(96, 96, 3), 15.0, rng=0).image
    a, b = estimate_noise_level_function(noisy), estimate_noise_level_function(noisy)
    assert a.sigma_mean == b.sigma_mean and np.array_equal(a.a, b.a)
    assert isinstance(a.sigma_at(100.0), float)
    assert a.sigma_at(np.array([10.0, 100.0])).shape == (2,)
    gray2d = estimate_noise_level_function(noisy[:, :, 0])
    assert gray2d.sigma_map(noisy[:, :, 0]).shape == (96, 96, 1)
    with pytest.raises(InvalidParameterError):
        estimate_noise_level_function(np.zeros((10, 10, 3), np.float32))


def test_noise_under_jpeg_is_read_from_the_coarse_luma():
    """JPEG removes the fine part of noise: the fine-scale estimate reads a fraction of it,
    the half-resolution luma keeps it (issue 15: noise under JPEG was under-read)."""
    from restora.classical.noise_level import estimate_noise_under_jpeg
    from restora.io import read_image
    from pathlib import Path

    clean = read_image(Path(__file__).resolve().parents[1] / "src" / "restora" / "samples" / "sample_clean.png")
    rng = np.random.default_rng(1)
    noisy = np.round(np.clip(clean + rng.normal(0, 30 / 255, clean.shape), 0, 1) * 255) / 255
    x = np.asarray(jpeg(noisy.astype(np.float32), 40).image, np.float32)
    assert estimate_noise_level_function(x).sigma_mean < 10  # what the fine scale sees
    assert 21 < estimate_noise_under_jpeg(x) < 36
    assert 24 < estimate_noise_under_jpeg(noisy) < 36  # without JPEG as well
    assert estimate_noise_under_jpeg(np.asarray(jpeg(clean, 40).image, np.float32)) < 3
    gray = x[..., :1]
    assert estimate_noise_under_jpeg(gray) > 10
    with pytest.raises(InvalidParameterError, match="16 x 16|32"):
        estimate_noise_under_jpeg(x[:20, :20])
