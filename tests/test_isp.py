"""Camera pipeline (unprocess / process) and camera sensor noise (restora.degrade.isp)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from restora.degrade.isp import (
    DEMOSAIC_METHODS,
    camera_sensor_noise,
    demosaic,
    mosaic,
    process,
    random_ccm,
    random_noise_levels,
    unprocess,
)
from restora.errors import InvalidParameterError


def smooth_image(h: int = 96, w: int = 128) -> np.ndarray:
    """Slowly varying colours in [0.15, 0.8] (no highlights, moderate saturation)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [
        0.45 + 0.3 * np.sin(x / 17 + 0.3) * np.cos(y / 23),
        0.4 + 0.25 * np.cos(x / 19 - y / 29),
        0.5 + 0.3 * np.sin((x + y) / 31),
    ]
    return np.stack(planes, axis=2).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / float(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method", DEMOSAIC_METHODS)
def test_noiseless_round_trip(seed, method):
    img = smooth_image()
    raw, meta = unprocess(img, rng=seed)
    out = process(raw, meta, demosaic_method=method)
    assert out.shape == img.shape and out.dtype == np.float32
    # interior (4-pixel border excluded): measured about 73 dB; whole image about 57-61 dB
    assert psnr(out[4:-4, 4:-4], img[4:-4, 4:-4]) > 60
    assert psnr(out, img) > 50


def test_raw_layout_and_white_balance():
    gray = np.full((8, 10, 3), 0.5, np.float32)
    raw, meta = unprocess(gray, rng=3)
    assert raw.shape == (4, 5, 4) and raw.dtype == np.float32
    assert 0 <= raw.min() and raw.max() <= 1
    # a neutral pixel stays neutral through the CCM (rows sum to 1); only the gains tint it
    r, gr, gb, b = raw[0, 0]
    assert gr == pytest.approx(gb)
    assert r / gr == pytest.approx(1 / meta["red_gain"], rel=1e-5)
    assert b / gr == pytest.approx(1 / meta["blue_gain"], rel=1e-5)
    lin = ((0.5 - math.sin(math.asin(0.0) / 3)) ** 2.2) / meta["rgb_gain"]  # inverse tone map + gamma
    assert gr == pytest.approx(lin, rel=1e-5)
    bayer, _ = unprocess(gray, rng=3, packed=False)
    assert bayer.shape == (8, 10)
    np.testing.assert_array_equal(bayer[0::2, 0::2], raw[:, :, 0])
    np.testing.assert_array_equal(bayer[1::2, 1::2], raw[:, :, 3])
    np.testing.assert_allclose(process(bayer, meta), process(raw, meta))


def test_highlights_are_safely_inverted():
    white = np.ones((4, 4, 3), np.float32)
    raw, _ = unprocess(white, rng=0)
    np.testing.assert_allclose(raw, 1.0, atol=1e-5)  # white stays unsaturated-in-colour white


def test_metadata_is_json_and_reusable():
    img = smooth_image(32, 40)
    raw, meta = unprocess(img, rng=5)
    back = json.loads(json.dumps(meta))
    raw2, meta2 = unprocess(img, metadata=back)
    np.testing.assert_allclose(raw2, raw, atol=1e-6)
    np.testing.assert_allclose(process(raw, back), process(raw, meta), atol=1e-6)
    np.testing.assert_allclose(np.asarray(meta["rgb2cam"]).sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(meta["cam2rgb"]) @ np.asarray(meta["rgb2cam"]), np.eye(3), atol=1e-9)
    assert meta2["shape"] == [32, 40] and meta["pattern"] == "RGGB"
    with pytest.raises(InvalidParameterError, match="metadata"):
        process(raw, {"rgb_gain": 1.0})


def test_odd_sizes_and_gray():
    img = smooth_image(33, 45)
    raw, meta = unprocess(img, rng=1)
    assert raw.shape == (17, 23, 4)
    out = process(raw, meta)
    assert out.shape == (33, 45, 3) and psnr(out, img) > 50
    g = img[:, :, 1:2]
    raw, meta = unprocess(g, rng=1)
    out = process(raw, meta)
    assert out.shape == g.shape and psnr(out, g) > 50


def test_bilinear_demosaic_is_exact_on_linear_ramps():
    h, w = 16, 20
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.01 * x + 0.02 * y, 0.5 - 0.01 * x, 0.2 + 0.015 * y], axis=2)
    out = demosaic(mosaic(rgb))
    np.testing.assert_allclose(out[1:-1, 1:-1], rgb[1:-1, 1:-1], atol=1e-6)
    # known samples are returned untouched everywhere, borders included
    np.testing.assert_allclose(out[0::2, 0::2, 0], rgb[0::2, 0::2, 0], atol=1e-7)
    np.testing.assert_allclose(out[1::2, 1::2, 2], rgb[1::2, 1::2, 2], atol=1e-7)
    # OpenCV's demosaicing uses the same RGGB convention
    cv = demosaic(mosaic(rgb), "opencv")
    np.testing.assert_allclose(cv[2:-2, 2:-2], rgb[2:-2, 2:-2], atol=1e-4)


def test_ccm_is_a_random_mix():
    a, b = random_ccm(0), random_ccm(1)
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    assert np.all(np.diag(a) > 0.4)


def test_noise_levels_follow_the_log_linear_relation():
    gen = np.random.default_rng(0)
    shots, reads = np.array([random_noise_levels(gen) for _ in range(4000)]).T
    assert shots.min() >= 1e-4 and shots.max() <= 1.2e-2
    x, y = np.log(shots), np.log(reads**2)
    slope, intercept = np.polyfit(x, y, 1)
    assert slope == pytest.approx(2.18, abs=0.03)
    assert intercept == pytest.approx(1.20, abs=0.15)
    assert np.std(y - (slope * x + intercept)) == pytest.approx(0.26, abs=0.02)


def test_camera_sensor_noise_record_and_reproducibility(rgb):
    out, rec = camera_sensor_noise(rgb, rng=9)
    assert out.shape == rgb.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    text = json.dumps(rec)
    for key in ("shot", "read", "read_variance", "rgb_gain", "red_gain", "blue_gain", "ccm"):
        assert key in rec
    assert rec["read_variance"] == pytest.approx(rec["read"] ** 2)
    again, rec2 = camera_sensor_noise(rgb, rng=9)
    assert again.tobytes() == out.tobytes() and json.dumps(rec2) == text
    assert not np.array_equal(camera_sensor_noise(rgb, rng=10)[0], out)
    fixed, rec3 = camera_sensor_noise(rgb, rng=9, shot=0.004)
    assert rec3["shot"] == 0.004 and rec3["read"] > 0
    _, rec4 = camera_sensor_noise(rgb, rng=9, shot=0.004, read=0.003)
    assert rec4["read"] == 0.003


def test_camera_noise_strength_follows_shot_and_read():
    img = smooth_image(64, 64)
    clean = process(*unprocess(img, rng=2))
    errs = []
    for shot, read in [(0.0, 1e-7), (1e-4, 1e-3), (1e-3, 4e-3), (1e-2, 1.5e-2)]:
        out, _ = camera_sensor_noise(img, rng=2, shot=shot, read=read)  # same camera as `clean`
        errs.append(float(np.sqrt(np.mean((out - clean) ** 2))))
    assert errs[0] < 1e-4  # no noise: the noiseless round trip
    assert errs[0] < errs[1] < errs[2] < errs[3]
    # the model in the raw domain is exactly: raw + N(0, 1) * sqrt(shot * raw + read²)
    shot, read = 2e-3, 1e-2
    gen = np.random.default_rng(5)
    raw, meta = unprocess(img, gen)
    noisy = raw + gen.standard_normal(raw.shape, dtype=np.float32) * np.sqrt(raw * shot + read**2)
    expected = process(noisy, meta)
    np.testing.assert_allclose(camera_sensor_noise(img, rng=5, shot=shot, read=read)[0], expected, atol=1e-6)
