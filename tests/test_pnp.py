"""Plug-and-play deblurring with the shipped denoiser as prior (restora.zoo.pnp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restora.degrade.convolve import convolve
from restora.degrade.kernels import motion_kernel
from restora.errors import InvalidParameterError
from restora.io import read_image
from restora.metrics import psnr
from restora.zoo.pnp import pnp_blind_deconvolve, pnp_deconvolve


SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "samples" / "sample_clean.png"


@pytest.fixture(scope="module")
def blurred():
    clean = read_image(SAMPLE)[:, :256].mean(axis=2, keepdims=True)  # a 256 x 256 gray crop
    kernel, _ = motion_kernel(13, 5, length=11)
    y = convolve(clean, kernel.astype(np.float32), boundary="reflect")
    y = np.round(np.clip(y + np.random.default_rng(0).normal(0, 1 / 255, y.shape), 0, 1) * 255) / 255
    return clean, y.astype(np.float32), kernel


def _score(x, y):
    from restora.bench.runner import align_to

    c = slice(8, -8)  # blind: up to a translation, as deblur-levin scores
    return psnr(x[c, c], align_to(np.clip(y, 0, 1), x, 6)[c, c])


def test_the_denoiser_prior_deblurs_and_its_schedule_is_followed(blurred):
    clean, y, kernel = blurred
    levels = []

    def identity(img, sigma):  # records the noise levels the prior is asked for
        levels.append(sigma)
        return img

    out = pnp_deconvolve(y, kernel, sigma=1.0, denoiser=identity, iterations=5, sigma_start=40.0, min_sigma=2.0)
    assert out.shape == y.shape and out.dtype == np.float32
    np.testing.assert_allclose(levels, np.geomspace(40.0, 2.0, 5), rtol=1e-6)
    restored = pnp_deconvolve(y, kernel, sigma=2.0)  # the shipped drunet-gray as prior
    assert _score(clean, restored) > _score(clean, y) + 3.0
    # the prior matters: a real denoiser beats no prior (plain regularised inverse filtering)
    assert _score(clean, restored) > _score(clean, out) + 0.5


def test_blind_estimates_the_kernel(blurred):
    clean, y, kernel = blurred
    out, k = pnp_blind_deconvolve(y, 17)
    assert out.shape == y.shape and k.shape == (17, 17) and abs(float(k.sum()) - 1) < 1e-4
    assert _score(clean, out) > _score(clean, y) + 2.0


def test_bad_parameters_are_named(blurred):
    _, y, kernel = blurred
    with pytest.raises(InvalidParameterError, match="iterations"):
        pnp_deconvolve(y, kernel, iterations=0, denoiser=lambda x, s: x)
    with pytest.raises(InvalidParameterError, match="kernel"):
        pnp_deconvolve(y, np.zeros((3, 3)), denoiser=lambda x, s: x)


def test_catalogue_methods_need_or_ignore_the_kernel(blurred):
    from restora.restorers import get_restorer_info

    _, y, kernel = blurred
    run = get_restorer_info("pnp-drunet").factory(iterations=3)
    with pytest.raises(InvalidParameterError, match="needs the blur kernel"):
        run(y)
    rgb = np.repeat(y, 3, axis=2)  # colour: the gray prior on opponent channels
    out = run(rgb, kernel=kernel, sigma=1.0)
    assert out.shape == rgb.shape and _score(np.repeat(blurred[0], 3, axis=2), out) > _score(np.repeat(blurred[0], 3, axis=2), rgb) + 2.0
    assert get_restorer_info("pnp-drunet-blind").blind
