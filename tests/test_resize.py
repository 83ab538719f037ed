"""MATLAB-compatible imresize and the resize family (see docs/matlab_bicubic.md)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from restora.degrade import down_up, imresize, imresize_matrix, random_resize, resize
from restora.degrade.resize import RESIZE_METHODS
from restora.errors import InvalidParameterError

from conftest import synthetic_image


# --------------------------------------------------------------------------- reference
# A deliberately naive, independent evaluation of MATLAB's imresize formula: for every
# output pixel, loop over every input position the (widened) kernel can reach, evaluate
# the kernel, mirror the position into the image, normalise the weights, and sum the
# full 2-D product. No weight matrices, no vectorisation.
def _ref_cubic(x: float) -> float:
    a = abs(x)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def _ref_mirror(j: int, n: int) -> int:  # 1-based symmetric reflection
    while j < 1 or j > n:
        j = 1 - j if j < 1 else 2 * n + 1 - j
    return j


def _ref_weights(n_in: int, i: int, scale: float) -> dict[int, float]:
    antialias = scale < 1
    width = 4 / scale if antialias else 4.0
    u = i / scale + 0.5 * (1 - 1 / scale)
    raw = {}
    for j in range(math.floor(u - width / 2), math.ceil(u + width / 2) + 1):
        v = scale * _ref_cubic(scale * (u - j)) if antialias else _ref_cubic(u - j)
        if v != 0:
            raw[j] = v
    total = sum(raw.values())
    out: dict[int, float] = {}
    for j, v in raw.items():
        m = _ref_mirror(j, n_in)
        out[m] = out.get(m, 0.0) + v / total
    return out


def _ref_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    rows = [_ref_weights(h, i, scale) for i in range(1, oh + 1)]
    cols = [_ref_weights(w, j, scale) for j in range(1, ow + 1)]
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = sum(
                wr * wc * img[r - 1, c - 1] for r, wr in rows[i].items() for c, wc in cols[j].items()
            )
    return out


def _pattern() -> np.ndarray:
    """8x8 ramp + checkerboard in [0, 1] (exactly the pattern of docs/matlab_bicubic.md)."""
    r, c = np.mgrid[0:8, 0:8]
    return (r + 2 * c) / 21 / 2 + ((r + c) % 2) / 2


@pytest.mark.parametrize("scale", [1 / 2, 1 / 4, 2, 3])
def test_imresize_matches_loop_reference(scale):
    p = _pattern()
    expected = _ref_imresize(p, scale)
    got = imresize(p, scale)
    assert got.shape == expected.shape + (1,)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], expected, atol=1e-4, rtol=0)
    assert np.max(np.abs(got[..., 0] - expected)) < 1e-6  # float32 rounding only


def test_imresize_reference_on_odd_sizes_and_non_integer_scale():
    rng = np.random.default_rng(3)
    img = rng.random((7, 11))
    for scale in (0.3, 0.55, 1.7):
        np.testing.assert_allclose(imresize(img, scale)[..., 0], _ref_imresize(img, scale), atol=1e-6)


# Exact rationals derived with fractions.Fraction (docs/matlab_bicubic.md, section 4).
HAND_VALUES = [
    (1 / 2, (0, 0), 120833 / 458752),
    (1 / 2, (1, 2), 103067 / 196608),
    (1 / 2, (3, 3), 320769 / 458752),
    (1 / 4, (0, 0), 2508193 / 7340032),
    (1 / 4, (1, 1), 4735393 / 7340032),
    (2, (0, 0), -783 / 7168),
    (2, (1, 2), 133937 / 344064),
    (2, (15, 15), 2897 / 7168),
    (3, (0, 0), -149 / 1134),
    (3, (1, 2), 29 / 162),
    (3, (23, 23), 218 / 567),
]


@pytest.mark.parametrize("scale,pos,value", HAND_VALUES)
def test_imresize_hand_derived_values(scale, pos, value):
    assert imresize(_pattern(), scale)[pos + (0,)] == pytest.approx(value, abs=1e-6)


def test_imresize_half_scale_kernel_is_the_known_8_tap_filter():
    # An impulse shows the weights: x1/2 antialiased cubic = [-3, -9, 29, 111, 111, 29, -9, -3] / 256.
    sig = np.zeros((1, 16))
    sig[0, 7] = 1.0  # 1-based position 8
    out = imresize(sig, output_shape=(1, 8))[0, :, 0]
    np.testing.assert_allclose(out, [0, 0, -9 / 256, 111 / 256, 29 / 256, -3 / 256, 0, 0], atol=1e-7)
    m = imresize_matrix(16, 8)
    np.testing.assert_allclose(m[3, 3:11], np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256, atol=1e-15)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)
    x2 = imresize_matrix(8, 16)  # upscaling x2 interior weights
    np.testing.assert_allclose(x2[7, 2:6], np.array([-9, 111, 29, -3]) / 128, atol=1e-15)


# Published MATLAB outputs (display precision 4 decimals), see docs/matlab_bicubic.md section 5.
# These came from MATLAB releases that clamped (replicated) out-of-range indices.
PUBLISHED = [
    ([0, 0, 1, 1, 0], 10, "bicubic",
     [0, -0.0234, -0.0703, 0.2031, 0.7969, 1.0938, 1.0938, 0.7969, 0.2031, -0.0703]),
    ([0, 0, 1, 1, 0], 10, "bilinear", [0, 0, 0, 0.25, 0.75, 1, 1, 0.75, 0.25, 0]),
    ([0, 0, 1, 1, 0], 10, "nearest", [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]),
    ([100, 50, 0], 5, "bilinear", [100, 80, 50, 20, 0]),
    ([0, 1, 2], 5, "bilinear", [0, 0.4, 1, 1.6, 2.0]),
]


@pytest.mark.parametrize("row,n,method,expected", PUBLISHED)
def test_imresize_matches_published_matlab_outputs(row, n, method, expected):
    row = np.asarray(row, dtype=np.float64)
    peak = max(row.max(), 1.0)
    got = imresize(row[None, :] / peak, output_shape=(1, n), method=method, boundary="replicate")
    np.testing.assert_allclose(got[0, :, 0] * peak, expected, atol=5.1e-5 * peak)


def test_symmetric_boundary_differs_from_replicate_only_at_the_border():
    row = np.array([[0, 0, 1, 1, 0]], dtype=np.float64)
    sym = imresize(row, output_shape=(1, 10))[0, :, 0]
    rep = imresize(row, output_shape=(1, 10), boundary="replicate")[0, :, 0]
    # last output: cubic(1.25)*x4 + cubic(1.75)*x7, with x7 mirrored to x4 = 1 (vs clamped to x5 = 0)
    assert sym[-1] == pytest.approx(-0.0703125 - 0.0234375)
    np.testing.assert_array_equal(sym[:-1], rep[:-1])


# --------------------------------------------------------------------------- properties
@pytest.mark.parametrize("method", ["bicubic", "bilinear", "nearest"])
@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 0.77, 1.0, 1.5, 2, 3, 4])
def test_constant_image_stays_constant(method, scale):
    img = np.full((13, 17, 3), 0.3719, np.float32)
    out = imresize(img, scale, method=method)
    np.testing.assert_allclose(out, 0.3719, atol=1e-6)


def test_constant_uint8_image_stays_constant():
    img = np.full((12, 12, 3), 77, np.uint8)
    out = imresize(img, 0.25)
    np.testing.assert_array_equal(np.round(out * 255), 77)


@pytest.mark.parametrize("shape", [(15, 17), (31, 9), (64, 80), (5, 5)])
@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 0.3, 2, 3, 4])
def test_output_size_is_matlab_ceil(shape, scale):
    out = imresize(np.zeros(shape, np.float32), scale)
    assert out.shape == (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale), 1)


def test_output_shape_argument_and_aspect_ratio():
    img = np.zeros((30, 40, 3), np.float32)
    assert imresize(img, output_shape=(7, 11)).shape == (7, 11, 3)
    assert imresize(img, output_shape=(15, None)).shape == (15, 20, 3)
    assert imresize(img, output_shape=(None, 10)).shape == (8, 10, 3)
    with pytest.raises(InvalidParameterError):
        imresize(img)
    with pytest.raises(InvalidParameterError):
        imresize(img, 0.5, output_shape=(7, 11))
    with pytest.raises(InvalidParameterError, match="scale"):
        imresize(img, -2)
    with pytest.raises(InvalidParameterError, match="method"):
        imresize(img, 2, method="lanczos9")


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_integer_factors_on_one_and_three_channels(factor, channels):
    hr = synthetic_image(24, 36, channels, seed=factor)
    lr = imresize(hr, 1 / factor)
    assert lr.shape == (24 // factor, 36 // factor, channels)
    up = imresize(lr, factor)
    assert up.shape == hr.shape and up.dtype == np.float32
    # bicubic down+up of a smooth image is close to it (and not identical)
    err = np.abs(up - hr)[factor * 2 : -factor * 2, factor * 2 : -factor * 2]
    assert 0 < err.mean() < 0.12
    if channels == 3:  # channels are independent: equal to resizing each plane alone
        for c in range(3):
            np.testing.assert_array_equal(lr[..., c], imresize(hr[..., c], 1 / factor)[..., 0])


def test_upscale_agrees_with_opencv_bicubic_in_the_interior():
    # Same pixel-centre mapping; only the kernel parameter differs (a = -0.5 vs -0.75).
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48]
    img = (0.5 + 0.4 * np.sin(x / 6.0) * np.cos(y / 7.0) + 0.01 * rng.standard_normal((40, 48))).astype(np.float32)
    ours = imresize(img, 2)[..., 0]
    ref = cv2.resize(img, (96, 80), interpolation=cv2.INTER_CUBIC)
    d = np.abs(ours - ref)[8:-8, 8:-8]
    assert d.mean() < 0.004 and d.max() < 0.03
    # Keys' a = -0.5 kernel reproduces a linear ramp exactly at the mapped pixel centres
    # (u = (x + 0.5) / 2 - 0.5, 0-based); OpenCV's a = -0.75 only approximately.
    ramp = np.tile(np.arange(20, dtype=np.float64) / 20, (6, 1))
    exact = ((np.arange(40) + 0.5) / 2 - 0.5) / 20
    np.testing.assert_allclose(imresize(ramp, 2)[2:-2, 4:-4, 0], np.tile(exact[4:-4], (8, 1)), atol=1e-6)
    cv = cv2.resize(ramp.astype(np.float32), (40, 12), interpolation=cv2.INTER_CUBIC)[2:-2, 4:-4]
    assert 1e-3 < np.abs(cv - exact[4:-4]).max() < 5e-3


def test_bilinear_and_nearest_upscale_match_opencv():
    img = synthetic_image(20, 24, 3, seed=5)
    up_lin = imresize(img, 2, method="bilinear")
    ref = cv2.resize(img, (48, 40), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(up_lin[1:-1, 1:-1], ref[1:-1, 1:-1], atol=1e-5)
    up_nn = imresize(img, 3, method="nearest")
    np.testing.assert_array_equal(up_nn, np.repeat(np.repeat(img, 3, axis=0), 3, axis=1))
    down_nn = imresize(img, 0.5, method="nearest")  # MATLAB picks 1-based pixel 2k
    np.testing.assert_array_equal(down_nn, img[1::2, 1::2])


def test_uint8_semantics_round_each_pass():
    hr = (synthetic_image(32, 40, 3, seed=2) * 255).round().astype(np.uint8)
    lr = imresize(hr, 0.5)  # uint8 input -> MATLAB uint8 behaviour
    codes = lr * 255
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
    flt = imresize(hr.astype(np.float32) / 255, 0.5)
    assert np.abs(lr - flt).max() <= 1.5 / 255
    assert np.any(lr != flt)
    np.testing.assert_array_equal(imresize(hr.astype(np.float32) / 255, 0.5, round_to_uint8=True), lr)


def test_imresize_matrix_agrees_with_imresize():
    sig = np.random.default_rng(1).random(23)
    for out_len, method in [(7, "bicubic"), (50, "bicubic"), (11, "bilinear"), (46, "nearest")]:
        m = imresize_matrix(23, out_len, method=method)
        got = imresize(sig[:, None], output_shape=(out_len, 1), method=method)[:, 0, 0]
        np.testing.assert_allclose(got, m @ sig, atol=1e-6)


# --------------------------------------------------------------------------- resize family
@pytest.mark.parametrize("method", RESIZE_METHODS)
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_methods_sizes_and_records(method, channels):
    img = synthetic_image(30, 41, channels)
    out, rec = resize(img, 0.5, method=method)
    assert out.shape == (15, 21, channels) and out.dtype == np.float32
    assert rec == json.loads(json.dumps(rec))
    assert rec["method"] == method and rec["in_size"] == [30, 41] and rec["out_size"] == [15, 21]
    out2, rec2 = resize(img, size=(50, 20), method=method)
    assert out2.shape == (50, 20, channels)
    assert rec2["scale"] == pytest.approx([50 / 30, 20 / 41])
    assert abs(float(out.mean()) - float(img.mean())) < 0.03


def test_resize_bicubic_is_matlab_imresize():
    img = synthetic_image(20, 28, 3)
    np.testing.assert_array_equal(resize(img, 0.25).image, imresize(img, 0.25))
    np.testing.assert_array_equal(resize(img, size=(9, 9)).image, imresize(img, output_shape=(9, 9)))
    with pytest.raises(InvalidParameterError, match="method"):
        resize(img, 0.5, method="cubic")
    with pytest.raises(InvalidParameterError):
        resize(img)


def test_down_up_keeps_shape_and_loses_detail():
    img = synthetic_image(48, 64, 3)
    out, rec = down_up(img, 0.25)
    assert out.shape == img.shape
    assert rec["down"]["out_size"] == [12, 16] and rec["up"]["out_size"] == [48, 64]
    mild = np.abs(down_up(img, 0.5).image - img).mean()
    strong = np.abs(out - img).mean()
    assert 0 < mild < strong
    np.testing.assert_array_equal(down_up(img, 4).image, out)  # 4 means x1/4
    json.dumps(rec)


def test_random_resize_reproducible_and_in_range():
    img = synthetic_image(40, 40, 3)
    seen = set()
    for seed in range(30):
        a, ra = random_resize(img, seed)
        b, rb = random_resize(img, np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
        assert ra == rb and ra == json.loads(json.dumps(ra))
        seen.add(ra["direction"])
        if ra["direction"] == "down":
            assert 0.15 <= ra["scale"] <= 1
        elif ra["direction"] == "up":
            assert 1 <= ra["scale"] <= 1.5
        else:
            np.testing.assert_array_equal(a, img)
        assert list(a.shape[:2]) == ra["out_size"]
    assert seen == {"up", "down", "keep"}
    only_down = random_resize(img, 1, probs=(0, 1, 0), methods=("area",))
    assert only_down.record["direction"] == "down" and only_down.record["method"] == "area"
    with pytest.raises(InvalidParameterError, match="probs"):
        random_resize(img, 1, probs=(1, 1))


# --------------------------------------------------------------------------- benchmark data
def _y_u8(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr on uint8 (returned as float): Y rounded to an integer; gray as is."""
    if img.shape[2] == 1:
        return img[..., 0].astype(np.float64)
    x = img.astype(np.float64) / 255
    y = 16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]
    return np.floor(y + 0.5)


def _bicubic_psnr_y(folder, scale: int = 4) -> float:
    from PIL import Image

    from restora.data import list_images

    values = []
    for path in list_images(folder):
        hr = np.asarray(Image.open(path))
        hr = hr[..., None] if hr.ndim == 2 else hr[..., :3]
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        lr = imresize(hr, 1 / scale)  # uint8 in -> MATLAB uint8 semantics
        sr = imresize(lr, scale, round_to_uint8=True)
        sr_u8 = np.round(sr.astype(np.float64) * 255).astype(np.uint8)
        a = _y_u8(hr)[scale:-scale, scale:-scale]
        b = _y_u8(sr_u8)[scale:-scale, scale:-scale]
        values.append(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))
    return float(np.mean(values))


@pytest.mark.data
@pytest.mark.parametrize("name,expected", [("Set5", 28.42), ("Set14", 26.00)])
def test_bicubic_x4_y_psnr_matches_published(data_dir, name, expected):
    psnr = _bicubic_psnr_y(data_dir / "test" / name)
    assert psnr == pytest.approx(expected, abs=0.02)
