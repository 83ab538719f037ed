"""Blur kernels (restora.degrade.kernels) and convolution (restora.degrade.convolve)."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
from scipy import signal

from restora.degrade.convolve import BOUNDARIES, blur, convolve
from restora.degrade.kernels import (
    KERNEL_KINDS,
    defocus_kernel,
    gaussian_kernel,
    generalized_gaussian_kernel,
    kernel_center,
    kernel_covariance,
    motion_kernel,
    pad_kernel,
    plateau_kernel,
    random_kernel,
    sinc_kernel,
)
from restora.errors import InvalidParameterError

SIGNED_FAMILIES = {"sinc", "final_sinc"}


def _check_kernel(k: np.ndarray, nonneg: bool = True) -> None:
    assert k.dtype == np.float64 and k.ndim == 2
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert np.all(np.isfinite(k))
    assert abs(k.sum() - 1.0) < 1e-6
    if nonneg:
        assert k.min() >= 0.0


# ----------------------------------------------------------------------------- families
@pytest.mark.parametrize("size", [1, 3, 7, 21, 41])
@pytest.mark.parametrize("angle", [0.0, 0.4, -1.2, 2.5])
def test_parametric_families_sum_to_one(size, angle):
    _check_kernel(gaussian_kernel(size, 1.5))
    _check_kernel(gaussian_kernel(size, 2.0, 0.7, angle))
    for beta in (0.5, 1.0, 3.0):
        _check_kernel(generalized_gaussian_kernel(size, 1.8, 0.9, angle, beta))
    for beta in (1.0, 2.0):
        _check_kernel(plateau_kernel(size, 1.8, 0.9, angle, beta))


@pytest.mark.parametrize(
    "sx,sy,angle",
    [(2.0, 2.0, 0.0), (3.0, 1.0, 0.3), (1.5, 4.0, -1.0), (2.5, 1.2, 2.0), (1.0, 3.0, math.pi / 2)],
)
def test_gaussian_covariance_matches_sigmas_and_angle(sx, sy, angle):
    size = 2 * math.ceil(4 * max(sx, sy)) + 1  # >= 8 sigma
    k = gaussian_kernel(size, sx, sy, angle)
    cov = kernel_covariance(k)
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    expected = rot @ np.diag([sx * sx, sy * sy]) @ rot.T
    np.testing.assert_allclose(cov, expected, atol=0.01 * max(sx, sy) ** 2)
    vals, vecs = np.linalg.eigh(cov)
    np.testing.assert_allclose(sorted(vals), sorted([sx * sx, sy * sy]), rtol=0.01)
    if abs(sx - sy) > 0.1:
        v = vecs[:, int(np.argmin(np.abs(vals - sx * sx)))]  # the sigma_x axis
        measured = math.atan2(v[1], v[0])
        diff = (measured - angle + math.pi / 2) % math.pi - math.pi / 2  # modulo pi
        assert abs(diff) < 0.01
    np.testing.assert_allclose(kernel_center(k), [(size - 1) / 2] * 2, atol=1e-9)


def test_angle_rotates_from_columns_towards_rows():
    # sigma_x axis along +x (columns) at angle 0, along +y (rows) at pi/2.
    k0 = gaussian_kernel(21, 3.0, 0.6, 0.0)
    k90 = gaussian_kernel(21, 3.0, 0.6, math.pi / 2)
    assert kernel_covariance(k0)[0, 0] > 8 and kernel_covariance(k0)[1, 1] < 0.5
    np.testing.assert_allclose(k90, k0.T, atol=1e-12)
    k45 = gaussian_kernel(21, 3.0, 0.6, math.pi / 4)
    assert k45[10 + 3, 10 + 3] > 10 * k45[10 - 3, 10 + 3]  # down-right diagonal


def test_isotropic_default_and_generalized_beta_one():
    np.testing.assert_allclose(gaussian_kernel(15, 2.0), gaussian_kernel(15, 2.0, 2.0, 1.0), atol=1e-12)
    np.testing.assert_allclose(generalized_gaussian_kernel(15, 2.0, 1.0, 0.3, 1.0), gaussian_kernel(15, 2.0, 1.0, 0.3))
    # beta controls the tails: heavier below 1, lighter above.
    tail = lambda b: generalized_gaussian_kernel(21, 2.0, beta=b)[10, 0]  # noqa: E731
    assert tail(0.5) > tail(1.0) > tail(2.0)


def test_plateau_shape():
    k = plateau_kernel(21, 2.0, beta=2.0)
    # k(r) proportional to 1 / (1 + (r²/sigma²)^beta): at r = sigma the value is half the peak.
    assert k[10, 12] == pytest.approx(0.5 * k[10, 10], rel=1e-9)


def test_sinc_is_circular_low_pass():
    cutoff = math.pi / 3
    k = sinc_kernel(65, cutoff)
    _check_kernel(k, nonneg=False)
    assert k.min() < 0  # ringing lobes
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    n = 256
    h = np.abs(np.fft.fft2(k, (n, n)))
    freq = 2 * math.pi * np.fft.fftfreq(n)
    fy, fx = np.meshgrid(freq, freq, indexing="ij")
    radius = np.hypot(fx, fy)
    assert h[radius < 0.7 * cutoff].min() > 0.85
    assert h[(radius > 1.3 * cutoff) & (radius < math.pi)].max() < 0.15
    _check_kernel(sinc_kernel(7, math.pi), nonneg=False)
    with pytest.raises(InvalidParameterError, match="cutoff"):
        sinc_kernel(21, 4.0)


def test_defocus_disk():
    k = defocus_kernel(6.0)
    _check_kernel(k)
    assert k.shape == (13, 13)
    assert k[6, 6] == pytest.approx(k.max()) and k[0, 0] == 0.0
    # anti-aliased: partial coverage on the rim
    assert 0 < k[6, 0] < k[6, 6]
    # a uniform disk of radius r has variance r²/4 per axis
    cov = kernel_covariance(defocus_kernel(10.0))
    np.testing.assert_allclose(np.diag(cov), [25.0 + 1 / 12] * 2, rtol=0.02)
    assert abs(cov[0, 1]) < 1e-9
    delta = defocus_kernel(0.0, 5)
    assert delta[2, 2] == 1.0 and delta.sum() == 1.0
    _check_kernel(defocus_kernel(0.3))


@pytest.mark.parametrize("size", [15, 31, 71])
@pytest.mark.parametrize("intensity", [0.0, 0.5, 1.0])
def test_motion_kernels(size, intensity):
    k, rec = motion_kernel(size, rng=size, intensity=intensity)
    _check_kernel(k)
    assert k.shape == (size, size)
    np.testing.assert_allclose(kernel_center(k), [(size - 1) / 2] * 2, atol=1e-6)
    json.dumps(rec)
    assert rec["size"] == size and rec["intensity"] == intensity
    assert (k > 0).sum() > 3  # a path, not a point
    k2, rec2 = motion_kernel(size, rng=size, intensity=intensity)
    assert np.array_equal(k, k2) and rec == rec2
    k3, _ = motion_kernel(size, rng=size + 1, intensity=intensity)
    assert not np.array_equal(k, k3)


def test_linear_motion_is_a_segment_of_the_requested_length():
    k, rec = motion_kernel(41, rng=3, length=30.0, intensity=0.0)
    assert rec["scale"] == 1.0 and rec["length"] == pytest.approx(30.0)
    vals = np.linalg.eigvalsh(kernel_covariance(k))
    # uniform segment of length L: variance L²/12 along it; bilinear splatting adds < 1/6 px²
    assert vals[1] == pytest.approx(30.0**2 / 12, rel=0.03)
    assert vals[0] < 0.3


def test_motion_path_is_shrunk_to_fit():
    k, rec = motion_kernel(15, rng=0, length=60.0, intensity=0.0)
    _check_kernel(k)
    assert rec["scale"] < 1.0 and rec["length"] == pytest.approx(60.0 * rec["scale"])
    assert rec["length"] <= 14 * math.sqrt(2)
    assert np.linalg.eigvalsh(kernel_covariance(k))[1] == pytest.approx(rec["length"] ** 2 / 12, rel=0.05)


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_random_kernel_every_kind(kind):
    for seed in range(12):
        k, rec = random_kernel(seed, kind=kind)
        assert k.shape == (21, 21)
        _check_kernel(k, nonneg=rec["family"] not in SIGNED_FAMILIES)
        text = json.dumps(rec)
        assert rec["kind"] == kind and rec["support"] <= 21
        k2, rec2 = random_kernel(seed, kind=kind)
        assert np.array_equal(k, k2) and json.dumps(rec2) == text


def test_random_kernel_realesrgan_mixture():
    gen = np.random.default_rng(0)
    fams, supports, sigmas = [], [], []
    for _ in range(2000):
        _, rec = random_kernel(gen)
        fams.append(rec["family"])
        supports.append(rec["support"])
        if "sigma_x" in rec:
            sigmas += [rec["sigma_x"], rec["sigma_y"]]
    fams = np.array(fams)
    assert set(supports) == set(range(7, 22, 2))
    assert abs(np.mean(fams == "sinc") - 0.1) < 0.025
    assert abs(np.mean(fams == "iso") - 0.9 * 0.45) < 0.04
    assert abs(np.mean(fams == "aniso") - 0.9 * 0.25) < 0.04
    assert 0.2 <= min(sigmas) and max(sigmas) <= 3.0


def test_random_kernel_bsrgan_and_options():
    seen = set()
    for seed in range(60):
        k, rec = random_kernel(seed, kind="bsrgan", size=25)
        seen.add(rec["support"])
        assert rec["sigma_x"] <= math.sqrt(8.0) + 1e-9
        _check_kernel(k)
    assert min(seen) == 7 and max(seen) == 25
    k, rec = random_kernel(1, kind="aniso", size=15, sigma_range=(1.0, 1.0))
    assert k.shape == (15, 15) and rec["sigma_x"] == 1.0 and rec["sigma_y"] == 1.0
    k, rec = random_kernel(1, kind="realesrgan2")
    assert rec.get("sigma_x", 0.2) <= 1.5
    with pytest.raises(InvalidParameterError, match="kind"):
        random_kernel(0, kind="nope")
    with pytest.raises(InvalidParameterError, match="size"):
        random_kernel(0, size=20)


def test_moments_of_a_known_kernel():
    k = np.zeros((5, 5))
    k[2, 4] = 0.5  # row 2, column 4: x = 4, y = 2
    k[0, 2] = 0.5  # x = 2, y = 0
    np.testing.assert_allclose(kernel_center(k), [3.0, 1.0])
    np.testing.assert_allclose(kernel_covariance(k), [[1.0, 1.0], [1.0, 1.0]])
    assert pad_kernel(np.ones((3, 3)) / 9, 7).shape == (7, 7)


# ----------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_delta_kernel_is_identity(rgb, boundary, method):
    for size in (1, 3, 7):
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1.0
        out = convolve(rgb, k, boundary, method=method)
        assert out.dtype == np.float32 and out.shape == rgb.shape
        np.testing.assert_allclose(out, rgb, atol=1e-6)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_shifted_delta_moves_content_the_right_way(rgb, method):
    right = np.zeros((5, 5))
    right[2, 3] = 1.0  # one column right of centre
    down = np.zeros((5, 5))
    down[4, 2] = 1.0  # two rows below centre
    np.testing.assert_allclose(convolve(rgb, right, "wrap", method=method), np.roll(rgb, 1, axis=1), atol=1e-6)
    np.testing.assert_allclose(convolve(rgb, down, "wrap", method=method), np.roll(rgb, 2, axis=0), atol=1e-6)
    out = convolve(rgb, right, "constant", method=method)
    np.testing.assert_allclose(out[:, 1:], rgb[:, :-1], atol=1e-6)
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_boundary_semantics_on_a_row(method):
    row = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], dtype=np.float32)
    k = np.zeros((1, 5))
    k[0, 4] = 1.0  # shift right by two: out[j] = x[j - 2]
    expect = {
        "reflect": [0.2, 0.1],  # half-sample symmetric: x[-1] = x[0], x[-2] = x[1]
        "replicate": [0.1, 0.1],
        "wrap": [0.5, 0.6],
        "constant": [0.0, 0.0],
    }
    for boundary, first in expect.items():
        out = convolve(row, k, boundary, method=method)[0, :, 0]
        np.testing.assert_allclose(out, np.r_[first, row[0, :4]], atol=1e-6, err_msg=boundary)


_NP_MODE = {"reflect": "symmetric", "replicate": "edge", "wrap": "wrap", "constant": "constant"}


def _reference(img: np.ndarray, k: np.ndarray, boundary: str) -> np.ndarray:
    r = k.shape[0] // 2
    padded = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode=_NP_MODE[boundary])
    return np.stack([signal.convolve2d(padded[:, :, c], k, mode="valid") for c in range(img.shape[2])], axis=2)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_fft_equals_direct_equals_reference(boundary):
    rng = np.random.default_rng(0)
    img = rng.random((48, 56, 3)).astype(np.float32)
    k_motion, _ = motion_kernel(71, rng=1, intensity=0.7)  # larger than the image
    k_aniso = gaussian_kernel(9, 2.5, 0.8, 0.6)
    k_skew = rng.random((7, 7))
    for k in (k_motion, k_aniso, k_skew / k_skew.sum()):
        direct = convolve(img, k, boundary, method="direct")
        fft = convolve(img, k, boundary, method="fft")
        auto = convolve(img, k, boundary)
        np.testing.assert_allclose(fft, direct, atol=2e-5)
        np.testing.assert_allclose(auto, direct, atol=2e-5)
        np.testing.assert_allclose(direct, _reference(img, k, boundary), atol=2e-5)


def test_auto_uses_fft_for_huge_kernels(monkeypatch, gray):
    # the package re-exports the function convolve, which shadows the module attribute
    conv_mod = importlib.import_module("restora.degrade.convolve")
    calls = []
    real = conv_mod.signal.oaconvolve
    monkeypatch.setattr(conv_mod.signal, "oaconvolve", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    convolve(gray, gaussian_kernel(21, 3.0))
    assert not calls
    convolve(gray, gaussian_kernel(161, 20.0))
    assert calls


def test_convolve_shapes_and_errors(gray):
    out = convolve(gray[:, :, 0], gaussian_kernel(5, 1.0))
    assert out.shape == gray.shape and out.dtype == np.float32
    # mean preserved away from the borders for a normalised kernel (wrap: everywhere)
    assert convolve(gray, gaussian_kernel(7, 1.5), "wrap").mean() == pytest.approx(gray.mean(), rel=1e-5)
    even = np.zeros((2, 2))
    even[1, 1] = 1.0  # centre of an even kernel is (kh // 2, kw // 2)
    np.testing.assert_allclose(convolve(gray, even), gray, atol=1e-7)
    with pytest.raises(InvalidParameterError, match="boundary"):
        convolve(gray, even, "mirror")
    with pytest.raises(InvalidParameterError, match="kernel"):
        convolve(gray, np.ones(3))


def test_blur_record(rgb):
    k = gaussian_kernel(5, 1.2)
    out, rec = blur(rgb, k, "replicate")
    np.testing.assert_array_equal(out, convolve(rgb, k, "replicate"))
    text = json.dumps(rec)
    assert rec["op"] == "blur" and rec["kernel_size"] == [5, 5] and rec["boundary"] == "replicate"
    np.testing.assert_allclose(np.array(json.loads(text)["kernel"]), k)
