"""Pixel noise models (restora.degrade.noise)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from restora.degrade.noise import (
    dead_hot_pixels,
    gaussian_noise,
    poisson_gaussian_noise,
    poisson_noise,
    quantize,
    salt_and_pepper_noise,
    speckle_noise,
)
from restora.errors import InvalidParameterError

LEVELS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)


def _patches(levels=LEVELS, size=128, channels=1) -> np.ndarray:
    """Constant patches side by side: shape size x (size * len(levels)) x channels."""
    row = np.repeat(np.asarray(levels, dtype=np.float32), size)
    return np.repeat(np.tile(row, (size, 1))[:, :, None], channels, axis=2)


def _patch_variances(clean: np.ndarray, noisy: np.ndarray, levels=LEVELS, size=128) -> np.ndarray:
    d = (noisy - clean).astype(np.float64)
    return np.array([d[:, i * size : (i + 1) * size].var() for i in range(len(levels))])


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_gaussian_noise_std_matches_sigma(sigma):
    clean = np.full((256, 256, 3), 0.5, np.float32)
    noisy, rec = gaussian_noise(clean, sigma, rng=sigma)
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    d = noisy - clean
    assert d.std() == pytest.approx(sigma / 255, rel=0.02)
    assert abs(d.mean()) < 0.01 * sigma / 255 * 3
    assert rec == {"op": "gaussian_noise", "sigma": sigma, "gray": False, "clip": False}
    json.dumps(rec)


def test_gaussian_noise_reproducible_and_not_clipped(rgb):
    a, _ = gaussian_noise(rgb, 50, rng=7)
    b, _ = gaussian_noise(rgb, 50, rng=7)
    c, _ = gaussian_noise(rgb, 50, rng=8)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert a.min() < 0 and a.max() > 1  # no clipping by default
    clipped, rec = gaussian_noise(rgb, 50, rng=7, clip=True)
    assert clipped.min() >= 0 and clipped.max() <= 1 and rec["clip"] is True
    np.testing.assert_array_equal(clipped, np.clip(a, 0, 1))
    g = np.random.default_rng(3)
    assert not np.array_equal(gaussian_noise(rgb, 5, g)[0], gaussian_noise(rgb, 5, g)[0])


def test_gray_noise_is_shared_across_channels(rgb):
    noisy, rec = gaussian_noise(rgb, 25, rng=1, gray=True)
    d = noisy - rgb
    np.testing.assert_allclose(d[:, :, 0], d[:, :, 1], atol=1e-6)
    np.testing.assert_allclose(d[:, :, 0], d[:, :, 2], atol=1e-6)
    assert rec["gray"] is True
    d = gaussian_noise(rgb, 25, rng=1)[0] - rgb
    assert abs(np.corrcoef(d[:, :, 0].ravel(), d[:, :, 1].ravel())[0, 1]) < 0.05


def test_poisson_variance_proportional_to_intensity():
    peak = 200.0
    clean = _patches()
    noisy, rec = poisson_noise(clean, peak, rng=0)
    var = _patch_variances(clean, noisy)
    slope, intercept = np.polyfit(LEVELS, var, 1)
    assert slope == pytest.approx(1 / peak, rel=0.03)
    assert abs(intercept) < 0.03 / peak
    np.testing.assert_allclose(var, np.asarray(LEVELS) / peak, rtol=0.06)
    assert abs((noisy - clean).mean()) < 1e-3  # unbiased
    assert rec["peak"] == peak and json.dumps(rec)
    # values land on the photon-count grid
    counts = noisy.astype(np.float64) * peak
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-3)


def test_poisson_gray_and_reproducible(rgb):
    a, _ = poisson_noise(rgb, 30, rng=4, gray=True)
    d = a - rgb
    np.testing.assert_allclose(d[:, :, 0], d[:, :, 2], atol=1e-6)
    assert poisson_noise(rgb, 30, rng=4)[0].tobytes() == poisson_noise(rgb, 30, rng=4)[0].tobytes()
    neg = np.full((4, 4, 1), -0.2, np.float32)
    np.testing.assert_array_equal(poisson_noise(neg, 10, rng=0)[0], neg)  # 0 photons, no noise
    with pytest.raises(InvalidParameterError, match="peak"):
        poisson_noise(rgb, 0)


def test_poisson_gaussian_variance():
    shot, read = 0.01, 0.02
    clean = _patches()
    noisy, rec = poisson_gaussian_noise(clean, shot, read, rng=2)
    var = _patch_variances(clean, noisy)
    expected = shot * np.asarray(LEVELS) + read**2
    np.testing.assert_allclose(var, expected, rtol=0.05)
    slope, intercept = np.polyfit(LEVELS, var, 1)
    assert slope == pytest.approx(shot, rel=0.04)
    assert intercept == pytest.approx(read**2, rel=0.1)
    assert rec == {"op": "poisson_gaussian_noise", "shot": shot, "read": read, "clip": False}
    # limits: read only is Gaussian, shot 0 allowed
    only_read, _ = poisson_gaussian_noise(clean, 0.0, read, rng=2)
    assert (only_read - clean).std() == pytest.approx(read, rel=0.02)


def test_salt_and_pepper(rgb):
    out, rec = salt_and_pepper_noise(rgb, 0.2, rng=0, salt_ratio=0.25)
    hit = np.any(out != rgb, axis=2)
    assert hit.mean() == pytest.approx(0.2, abs=0.02)
    salt = np.all(out == 1, axis=2)
    pepper = np.all(out == 0, axis=2)
    assert np.all(salt | pepper | ~hit)
    assert salt.sum() / (salt.sum() + pepper.sum()) == pytest.approx(0.25, abs=0.04)
    assert rec["n_salt"] == salt.sum() and rec["n_pepper"] == pepper.sum()
    json.dumps(rec)
    pc, _ = salt_and_pepper_noise(rgb, 0.2, rng=0, per_channel=True)
    changed = pc != rgb
    assert changed.mean() == pytest.approx(0.2, abs=0.02)
    assert np.any(changed.sum(axis=2) == 1)  # channels hit independently
    assert np.array_equal(salt_and_pepper_noise(rgb, 0.2, rng=0, salt_ratio=0.25)[0], out)


def test_dead_hot_pixels(rgb):
    img = np.clip(rgb, 0.01, 0.99)
    out, rec = dead_hot_pixels(img, 0.05, rng=1, hot_ratio=0.3)
    changed = out != img
    n = round(0.05 * img.shape[0] * img.shape[1])
    assert changed.any(axis=2).sum() == n  # exact number of defective sites
    assert changed.sum(axis=2).max() == 1  # one colour per site
    assert rec["n_hot"] + rec["n_dead"] == n
    assert (out[changed] == 1).sum() == rec["n_hot"] and (out[changed] == 0).sum() == rec["n_dead"]
    json.dumps(rec)
    assert np.array_equal(dead_hot_pixels(img, 0.05, rng=1, hot_ratio=0.3)[0], out)


def test_speckle_is_multiplicative():
    levels = (0.2, 0.8)
    clean = _patches(levels)
    out, rec = speckle_noise(clean, 25, rng=0)
    std = np.sqrt(_patch_variances(clean, out, levels))
    np.testing.assert_allclose(std, np.asarray(levels) * 25 / 255, rtol=0.03)
    assert rec["sigma"] == 25
    zero = np.zeros((8, 8, 3), np.float32)
    assert np.array_equal(speckle_noise(zero, 50, rng=0)[0], zero)


def test_quantize(rgb):
    out, rec = quantize(rgb, 8)
    np.testing.assert_array_equal(out, (np.round(rgb.astype(np.float64) * 255) / 255).astype(np.float32))
    assert np.abs(out - rgb).max() <= 0.5 / 255 + 1e-7
    assert np.array_equal(quantize(out, 8)[0], out)  # idempotent
    assert len(np.unique(quantize(rgb, 2)[0])) <= 4
    assert rec == {"op": "quantize", "bits": 8, "clip": False}
    over = np.array([[[1.2]]], np.float32)
    assert quantize(over, 4)[0].item() == pytest.approx(18 / 15)
    assert quantize(over, 4, clip=True)[0].item() == 1.0
    with pytest.raises(InvalidParameterError, match="bits"):
        quantize(rgb, 0)


@pytest.mark.parametrize(
    "fn,args",
    [
        (gaussian_noise, (10,)),
        (poisson_noise, (50,)),
        (poisson_gaussian_noise, (0.01, 0.01)),
        (salt_and_pepper_noise, (0.1,)),
        (dead_hot_pixels, (0.01,)),
        (speckle_noise, (10,)),
    ],
)
def test_every_random_noise_is_seeded_and_keeps_shape(fn, args, gray):
    a = fn(gray, *args, 11)
    b = fn(gray, *args, np.random.default_rng(11))
    assert a.image.tobytes() == b.image.tobytes()
    assert a.record == b.record
    assert a.image.shape == gray.shape and a.image.dtype == np.float32
    json.dumps(a.record)
    assert not np.array_equal(fn(gray, *args, 12).image, a.image)
