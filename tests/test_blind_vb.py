"""Variational-Bayes blind deconvolution (restora.classical.blind_vb)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage
from scipy.signal import correlate

from conftest import blocks_image, border_psnr

from restora.classical.blind_vb import (
    _kernel_system,
    _ValidConv,
    vb_blind_deconvolve,
    vb_estimate_kernel,
)
from restora.degrade.convolve import convolve
from restora.degrade.kernels import motion_kernel
from restora.errors import InvalidParameterError
from restora.restorers import get_restorer, get_restorer_info




def _similarity(est: np.ndarray, true: np.ndarray) -> float:
    """Normalised cross-correlation of two kernels, maximised over shifts."""
    c = correlate(est, true, mode="full")
    return float(c.max() / np.linalg.norm(est) / np.linalg.norm(true))


@pytest.fixture(scope="module")
def case():
    x = blocks_image(112, 112, seed=1)
    k, _ = motion_kernel(9, rng=7, length=8.0, intensity=0.3)
    y = convolve(x, k) + np.random.default_rng(2).normal(0, 0.5 / 255, x.shape).astype(np.float32)
    return x, y.astype(np.float32), k


def test_valid_convolution_and_adjoint_agree():
    rng = np.random.default_rng(0)
    k = rng.random((5, 5))
    op = _ValidConv(k, (20, 24))
    x = rng.standard_normal((2, 24, 28))
    y = op.forward(x)
    assert y.shape == (2, 20, 24)
    # valid convolution in the convolution (flipped-kernel) sense
    direct = ndimage.convolve(x[0], k, mode="constant")[2:-2, 2:-2]
    np.testing.assert_allclose(y[0], direct, atol=1e-10)
    r = rng.standard_normal((2, 20, 24))
    assert abs(np.sum(y * r) - np.sum(x * op.adjoint(r))) < 1e-8 * np.sum(np.abs(y * r))
    # diag(K^T K): column norms of the operator, checked on a few latent pixels
    d = op.diag_normal()
    for p in [(0, 0), (3, 5), (12, 14), (23, 27)]:
        e = np.zeros((24, 28))
        e[p] = 1.0
        assert abs(np.sum(op.forward(e) ** 2) - d[p]) < 1e-9


def test_kernel_system_matches_design_matrix():
    rng = np.random.default_rng(1)
    s, n = 5, (30, 34)
    mu = rng.standard_normal((2, n[0] + s - 1, n[1] + s - 1))
    var = rng.random(mu.shape)
    k = rng.random((s, s))
    y = _ValidConv(k, n).forward(mu)
    A, b, v = _kernel_system(mu, var, y, s)
    cols, vcols = [], []
    for c in range(2):
        win = sliding_window_view(mu[c], n)
        vwin = sliding_window_view(var[c], n)
        cols.append(np.stack([win[s - 1 - i, s - 1 - j].ravel() for i in range(s) for j in range(s)], 1))
        vcols.append(np.array([vwin[s - 1 - i, s - 1 - j].sum() for i in range(s) for j in range(s)]))
    P = np.concatenate(cols, 0)
    np.testing.assert_allclose(P @ k.ravel(), y.ravel(), atol=1e-10)  # tap order
    np.testing.assert_allclose(b, P.T @ y.ravel(), rtol=1e-9, atol=1e-9)  # exact
    np.testing.assert_allclose(v, vcols[0] + vcols[1], rtol=1e-9)  # exact variance term
    exact = P.T @ P
    assert np.linalg.norm(A - exact) < 0.1 * np.linalg.norm(exact)  # Toeplitz approximation
    assert np.linalg.eigvalsh(A).min() > -1e-8 * np.abs(A).max()  # positive semi-definite


def test_vb_estimate_kernel_recovers_motion_blur(case):
    x, y, k = case
    est, record = vb_estimate_kernel(y, 9)
    assert est.shape == (9, 9) and est.min() >= 0 and abs(est.sum() - 1) < 1e-9
    cy, cx = ndimage.center_of_mass(est)
    assert abs(cy - 4) < 0.5 and abs(cx - 4) < 0.5
    corr = _similarity(est, k)
    assert corr > 0.8, corr
    delta = np.zeros_like(k)
    delta[4, 4] = 1
    assert corr > _similarity(delta, k) + 0.2
    assert record["sizes"][-1] == 9 and len(record["eta"]) == len(record["sizes"])
    assert all(e > 0 for e in record["eta"])


def test_variance_term_is_what_avoids_the_no_blur_solution(case):
    """Without the posterior variance in the kernel step (MAP-like) the estimate is worse."""
    x, y, k = case
    vb, _ = vb_estimate_kernel(y, 9)
    map_like, _ = vb_estimate_kernel(y, 9, variance_term=False)
    assert _similarity(vb, k) > _similarity(map_like, k) + 0.05
    assert np.sum(map_like**2) > np.sum(vb**2)  # more peaked (closer to a delta)


def test_vb_blind_deconvolve_improves_psnr_and_is_deterministic(case):
    x, y, k = case
    out, info = vb_blind_deconvolve(y, 9, sigma=0.5)
    assert out.shape == x.shape and out.dtype == np.float32
    assert info["kernel"].shape == (9, 9)
    assert border_psnr(out, x, border=10) > border_psnr(y, x, border=10) + 1.0
    out2, info2 = vb_blind_deconvolve(y, 9, sigma=0.5, rng=3)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(info["kernel"], info2["kernel"])


def test_colour_input_and_default_kernel_size():
    x = blocks_image(64, 64, seed=4)
    k, _ = motion_kernel(7, rng=3, length=6.0, intensity=0.2)
    rgb = np.concatenate([x, x * 0.8, x * 0.6 + 0.2], axis=2)
    y = convolve(rgb, k)
    out, info = vb_blind_deconvolve(y, iterations=3, sigma=1.0)
    assert out.shape == rgb.shape
    assert info["kernel"].shape == (31, 31)  # the default, which fits in a 64 x 64 image
    small = y[:30, :30]
    _, info = vb_blind_deconvolve(small, iterations=2, sigma=1.0)
    assert info["kernel"].shape[0] <= 15 and info["kernel"].shape[0] % 2 == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 7.5},
        {"kernel_size": 61},  # larger than half the image
        {"kernel_size": 9, "iterations": 0},
        {"kernel_size": 9, "sigma": -1.0},
        {"kernel_size": 9, "levels": 0},
        {"kernel_size": 9, "eta_min": 0.0},
        {"kernel_size": 9, "rng": "seed"},
    ],
)
def test_bad_parameters(kwargs):
    y = blocks_image(64, 64)
    with pytest.raises(InvalidParameterError):
        vb_estimate_kernel(y, **kwargs)


def test_bad_parameters_of_the_deconvolution():
    y = blocks_image(64, 64)
    with pytest.raises(InvalidParameterError):
        vb_blind_deconvolve(y, 9, lam_scale=0.0, iterations=1)
    with pytest.raises(InvalidParameterError):
        vb_blind_deconvolve(y, 9, sigma=300.0)
    with pytest.raises(InvalidParameterError):
        vb_blind_deconvolve(np.zeros((4, 4, 2)), 3)


def test_catalogue_entry():
    info = get_restorer_info("blind-vb")
    assert info.task == "deblur" and info.kind == "classical" and info.blind
    x = blocks_image(64, 64, seed=5)
    k, _ = motion_kernel(7, rng=5, length=5.0, intensity=0.2)
    y = convolve(x, k)
    out = get_restorer("blind-vb", kernel_size=7, iterations=3)(y)
    assert out.shape == y.shape and np.all(np.isfinite(out))
