"""JPEG (real codec), haze (scattering model) and exposure (linear-light EV) degradations."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from restora.degrade import (
    exposure,
    gamma_correction,
    haze,
    jpeg,
    jpeg_bytes,
    linear_to_srgb,
    random_exposure,
    random_jpeg,
    srgb_to_linear,
    synthetic_depth,
    transmission,
)
from restora.errors import InvalidParameterError


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _roundtrip(record: dict) -> None:
    assert json.loads(json.dumps(record)) == record


# --------------------------------------------------------------------------- JPEG
@pytest.mark.parametrize("bad", [0, 101, -5, 50.5, "high", True, None])
def test_jpeg_quality_validated(rgb, bad):
    with pytest.raises(InvalidParameterError, match="quality") as info:
        jpeg(rgb, bad)
    assert "\n" not in str(info.value) and "[1, 100]" in str(info.value)


def test_jpeg_chroma_subsampling_validated(rgb):
    with pytest.raises(InvalidParameterError, match="chroma_subsampling"):
        jpeg(rgb, 50, chroma_subsampling="4:2:1")


def test_jpeg_error_is_plausible_and_grows_as_quality_drops(rgb):
    psnrs, sizes = [], []
    for q in (10, 30, 50, 75, 95):
        out, rec = jpeg(rgb, q)
        assert out.shape == rgb.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_allclose(out * 255, np.round(out * 255), atol=1e-4)  # 8-bit decode
        _roundtrip(rec)
        assert rec["quality"] == q and rec["chroma_subsampling"] == "4:2:0"
        psnrs.append(_psnr(out, rgb))
        sizes.append(rec["bytes"])
    assert psnrs == sorted(psnrs) and sizes == sorted(sizes)
    assert 20 < psnrs[0] < 32  # q=10: visibly damaged
    assert psnrs[-1] > 32  # q=95: close
    assert psnrs[-1] - psnrs[0] > 5


def test_jpeg_gray_stays_gray_and_is_deterministic(gray, rgb):
    out, rec = jpeg(gray, 40)
    assert out.shape == gray.shape
    assert rec["chroma_subsampling"] is None
    np.testing.assert_array_equal(out, jpeg(gray, 40).image)
    np.testing.assert_array_equal(jpeg(rgb, 40).image, jpeg(rgb, 40).image)
    assert Image.open(io.BytesIO(jpeg_bytes(gray, 40))).mode == "L"
    assert jpeg(gray[..., 0], 40).image.shape == gray.shape  # 2-D input


def test_jpeg_is_a_real_file_with_the_requested_subsampling(rgb):
    expect = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}  # Pillow's codes
    for mode, code in expect.items():
        data = jpeg_bytes(rgb, 90, chroma_subsampling=mode)
        assert data[:2] == b"\xff\xd8"
        im = Image.open(io.BytesIO(data))
        assert im.mode == "RGB" and JpegImagePlugin.get_sampling(im) == code
        # Pillow's decoder (same libjpeg family) sees the same picture
        ours = jpeg(rgb, 90, chroma_subsampling=mode).image
        assert np.abs(np.asarray(im, np.float32) / 255 - ours).max() <= 3 / 255
    full = _psnr(jpeg(rgb, 95, chroma_subsampling="4:4:4").image, rgb)
    sub = _psnr(jpeg(rgb, 95, chroma_subsampling="4:2:0").image, rgb)
    assert full > sub


def test_jpeg_channels_are_not_swapped():
    img = np.zeros((32, 32, 3), np.float32)
    img[..., 0] = 0.9  # pure red stays red
    out = jpeg(img, 90).image
    assert out[..., 0].mean() > 0.8 and out[..., 2].mean() < 0.1


def test_random_jpeg_reproducible_and_in_range(rgb):
    qs = set()
    for seed in range(20):
        a, ra = random_jpeg(rgb, seed, quality_range=(30, 40))
        b, rb = random_jpeg(rgb, np.random.default_rng(seed), quality_range=(30, 40))
        np.testing.assert_array_equal(a, b)
        assert ra == rb and 30 <= ra["quality"] <= 40 and ra["quality_range"] == [30, 40]
        _roundtrip(ra)
        qs.add(ra["quality"])
    assert len(qs) > 3
    with pytest.raises(InvalidParameterError):
        random_jpeg(rgb, 0, quality_range=(60, 20))


# --------------------------------------------------------------------------- haze
def test_transmission_in_unit_interval():
    d = np.array([0.0, 0.5, 1.0, 10.0, 1e3])
    for beta in (0.0, 0.3, 1.0, 5.0):
        t = transmission(d, beta)
        assert np.all(t > 0) and np.all(t <= 1)
        assert t[0] == 1.0
    np.testing.assert_allclose(transmission(d[:3], 2.0), np.exp(-2.0 * d[:3]), rtol=1e-6)
    with pytest.raises(InvalidParameterError, match="beta"):
        transmission(d, -1)


def test_haze_output_between_image_and_airlight(rgb):
    for airlight in (0.9, (0.8, 0.85, 0.95), 0.1):
        out, rec = haze(rgb, 1.5, airlight=airlight, rng=3)
        a = np.broadcast_to(np.asarray(airlight, np.float32), rgb.shape)
        lo, hi = np.minimum(rgb, a), np.maximum(rgb, a)
        assert np.all(out >= lo - 1e-6) and np.all(out <= hi + 1e-6)
        assert 0 < rec["transmission_range"][0] <= rec["transmission_range"][1] <= 1
        _roundtrip(rec)


def test_haze_beta_zero_is_identity_and_stronger_beta_is_hazier(rgb):
    np.testing.assert_array_equal(haze(rgb, 0.0, rng=1).image, rgb)
    dist = [np.abs(haze(rgb, b, airlight=0.9, rng=1).image - 0.9).mean() for b in (0.5, 1.0, 2.0, 4.0)]
    assert dist == sorted(dist, reverse=True)


def test_haze_with_given_depth_follows_the_model(rgb):
    h, w = rgb.shape[:2]
    depth = np.linspace(0, 2, w, dtype=np.float32)[None, :].repeat(h, 0)
    out, rec = haze(rgb, 0.7, airlight=0.8, depth=depth)
    t = np.exp(-0.7 * depth)[..., None]
    np.testing.assert_allclose(out, rgb * t + 0.8 * (1 - t), atol=1e-6)
    assert rec["depth"] == {"source": "given", "min": 0.0, "max": 2.0}
    with pytest.raises(InvalidParameterError, match="depth"):
        haze(rgb, 1.0, depth=depth[:, :-1])
    with pytest.raises(InvalidParameterError, match="depth"):
        haze(rgb, 1.0, depth=-depth)


def test_haze_synthetic_depth_is_smooth_reproducible_and_recorded(rgb):
    out1, rec1 = haze(rgb, 1.0, rng=7)
    out2, rec2 = haze(rgb, 1.0, rng=7)
    np.testing.assert_array_equal(out1, out2)
    assert rec1 == rec2 and rec1["depth"]["source"] == "synthetic"
    assert "map" not in rec1["depth"]
    depth, params = synthetic_depth(*rgb.shape[:2], rng=rec1["depth"]["seed"])
    assert params.items() <= rec1["depth"].items()
    t = np.exp(-depth)[..., None]  # the record re-creates the exact map
    np.testing.assert_allclose(out1, rgb * t + 0.9 * (1 - t), atol=1e-6)
    assert depth.min() >= 0 and depth.max() <= 1 and depth.max() - depth.min() > 0.3
    assert np.abs(np.diff(depth, axis=0)).max() < 0.1 and np.abs(np.diff(depth, axis=1)).max() < 0.1
    assert depth[:8].mean() > depth[-8:].mean()  # far at the top
    assert not np.array_equal(haze(rgb, 1.0, rng=8).image, out1)


def test_haze_airlight_validated(gray, rgb):
    out = haze(gray, 1.0, airlight=0.7, rng=0).image
    assert out.shape == gray.shape
    with pytest.raises(InvalidParameterError, match="airlight"):
        haze(gray, 1.0, airlight=(0.7, 0.8, 0.9), rng=0)
    with pytest.raises(InvalidParameterError, match="airlight"):
        haze(rgb, 1.0, airlight=1.5, rng=0)


# --------------------------------------------------------------------------- exposure
def test_srgb_transfer_functions():
    assert float(srgb_to_linear(np.float64(0.5))) == pytest.approx(0.214041140, abs=1e-8)
    assert float(linear_to_srgb(np.float64(0.18))) == pytest.approx(0.461356129, abs=1e-8)
    assert float(srgb_to_linear(np.float64(0.04))) == pytest.approx(0.04 / 12.92)
    x = np.linspace(-0.5, 1.5, 101)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    assert srgb_to_linear(np.zeros(3, np.float32)).dtype == np.float32


def test_exposure_identity(rgb):
    out, rec = exposure(rgb, 0.0, gamma=1.0, clip=False)
    np.testing.assert_allclose(out, rgb, atol=2e-7)
    _roundtrip(rec)
    wild = rgb * 1.6 - 0.3  # out-of-range values survive without clipping
    np.testing.assert_allclose(exposure(wild, 0.0, clip=False).image, wild, atol=1e-6)


def test_plus_one_ev_doubles_linear_light(rgb):
    lin = srgb_to_linear(rgb.astype(np.float64))
    out, rec = exposure(rgb, 1.0, clip=False)
    np.testing.assert_allclose(srgb_to_linear(out.astype(np.float64)), 2 * lin, rtol=1e-5, atol=1e-6)
    assert rec["gain"] == 2.0
    clipped, rec_c = exposure(rgb, 1.0, clip=True)
    assert clipped.max() <= 1.0
    keep = 2 * lin <= 1
    np.testing.assert_allclose(clipped[keep], out[keep], atol=1e-6)
    np.testing.assert_allclose(clipped[~keep], 1.0, atol=1e-6)
    assert rec_c["clipped_fraction"] == pytest.approx(float(np.mean(~keep)))
    half = exposure(rgb, -1.0).image
    np.testing.assert_allclose(srgb_to_linear(half.astype(np.float64)), lin / 2, rtol=1e-5, atol=1e-6)


def test_gamma(rgb):
    out, rec = gamma_correction(rgb, 2.0)
    np.testing.assert_allclose(out, rgb.astype(np.float64) ** 2, atol=1e-6)
    assert out.mean() < rgb.mean() and gamma_correction(rgb, 0.5).image.mean() > rgb.mean()
    _roundtrip(rec)
    np.testing.assert_allclose(exposure(rgb, 0.0, gamma=2.0, clip=False).image, out, atol=1e-6)
    with pytest.raises(InvalidParameterError, match="gamma"):
        gamma_correction(rgb, 0)
    with pytest.raises(InvalidParameterError, match="ev"):
        exposure(rgb, float("nan"))


def test_random_exposure_reproducible_and_in_range(rgb):
    for seed in range(10):
        a, ra = random_exposure(rgb, seed)
        b, rb = random_exposure(rgb, np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
        assert ra == rb and -2 <= ra["ev"] <= 2 and 0.7 <= ra["gamma"] <= 1.4
        _roundtrip(ra)
        np.testing.assert_array_equal(a, exposure(rgb, ra["ev"], gamma=ra["gamma"]).image)
    with pytest.raises(InvalidParameterError):
        random_exposure(rgb, 0, ev_range=(1, -1))
