"""NIQE: estimator pieces, shipped pristine model, MATLAB model loading, behaviour on images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.io
from scipy.special import gamma

from conftest import synthetic_image
from restora.errors import InvalidParameterError, MissingResourceError
from restora.metrics import NiqeModel, fit_niqe_model, load_niqe_model, niqe, niqe_features
from restora.metrics.niqe import DEFAULT_NIQE_MODEL, _aggd, _gray_u8, _resize_half


def test_aggd_estimator_recovers_known_shapes():
    rng = np.random.default_rng(0)
    g = rng.normal(0, 0.5, size=(1, 200_000))  # Gaussian: shape 2, beta = sigma * sqrt(2)
    alpha, bl, br = _aggd(g)
    assert alpha[0] == pytest.approx(2.0, abs=0.05)
    assert bl[0] == pytest.approx(0.5 * np.sqrt(2), rel=0.02) and br[0] == pytest.approx(0.5 * np.sqrt(2), rel=0.02)
    lap = rng.laplace(0, 1.0, size=(1, 200_000))  # Laplacian: shape 1
    assert _aggd(lap)[0][0] == pytest.approx(1.0, abs=0.05)
    # asymmetric: different left/right scales are recovered (alpha = 2 half-Gaussians)
    asym = np.where(g < 0, g * 0.5, g * 2.0)
    alpha, bl, br = _aggd(asym)
    assert br[0] / bl[0] == pytest.approx(4.0, rel=0.05)
    # a flat patch gives NaN scales (MATLAB: mean of an empty set) and the first table shape
    alpha, bl, _ = _aggd(np.zeros((1, 16)))
    assert alpha[0] == pytest.approx(0.2) and np.isnan(bl[0])


def test_gray_is_matlab_rgb2gray_uint8():
    img = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]])
    np.testing.assert_array_equal(_gray_u8(img)[0], [76, 150, 29, 255])


def test_resize_half_matches_matlab_imresize():
    resize = pytest.importorskip("restora.degrade.resize")
    if not hasattr(resize, "imresize_matrix"):
        pytest.skip("restora.degrade.resize.imresize_matrix not available")
    x = np.random.default_rng(0).random((96, 101)) * 255
    expected = resize.imresize_matrix(96, 48, 0.5) @ x @ resize.imresize_matrix(101, 51, 0.5).T
    np.testing.assert_allclose(_resize_half(x), expected, atol=1e-9)


def test_shipped_model_and_matlab_file(tmp_path):
    assert DEFAULT_NIQE_MODEL.is_file() and DEFAULT_NIQE_MODEL.stat().st_size < 64_000
    m = load_niqe_model()
    assert m.mu.shape == (36,) and m.cov.shape == (36, 36)
    np.testing.assert_allclose(m.cov, m.cov.T, atol=1e-12)
    assert np.linalg.eigvalsh(m.cov).min() > 0
    # MATLAB's modelparameters.mat layout: mu_prisparam 1 x 36, cov_prisparam 36 x 36
    scipy.io.savemat(tmp_path / "modelparameters.mat", {"mu_prisparam": m.mu[None, :] + 1, "cov_prisparam": m.cov})
    mm = load_niqe_model(tmp_path / "modelparameters.mat")
    np.testing.assert_allclose(mm.mu, m.mu + 1)
    img = synthetic_image(200, 200, 3, seed=1)
    assert niqe(img, model=tmp_path / "modelparameters.mat") != niqe(img)
    with pytest.raises(MissingResourceError, match="not found"):
        load_niqe_model(tmp_path / "missing.mat")
    scipy.io.savemat(tmp_path / "bad.mat", {"mu": np.zeros(36)})
    with pytest.raises(MissingResourceError, match="mu_prisparam"):
        load_niqe_model(tmp_path / "bad.mat")


def test_niqe_synthetic_runs_and_is_deterministic():
    img = synthetic_image(200, 290, 3, seed=4)
    feats, sharp = niqe_features(img)
    assert feats.shape == (2 * 3, 36) and sharp.shape == (6,)
    v = niqe(img)
    assert np.isfinite(v) and v > 0 and niqe(img) == v
    assert niqe(img[..., :1]) > 0  # gray works too
    with pytest.raises(InvalidParameterError, match="96x96"):
        niqe(img[:90])
    with pytest.raises(InvalidParameterError, match="crop"):
        niqe(img[:100, :100], crop=4)
    with pytest.raises(InvalidParameterError, match="flat"):
        niqe(np.full((96, 96, 1), 0.5))
    # fitting on images gives a usable model
    model = fit_niqe_model([img, synthetic_image(200, 290, 3, seed=5)], sharpness_threshold=0.0)
    assert isinstance(model, NiqeModel) and model.mu.shape == (36,)


def test_niqe_prefers_clean_dataset_images(data_dir):
    from restora.data import dataset_images
    from restora.metrics._imread import read_rgb_or_gray

    img = read_rgb_or_gray(dataset_images("CBSD68")[0])
    rng = np.random.default_rng(0)
    noisy = img + rng.normal(0, 25 / 255, img.shape).astype(np.float32)
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0).reshape(img.shape)
    clean = niqe(img)
    assert clean == niqe(img)  # deterministic
    assert niqe(noisy) > clean + 1.0
    assert niqe(blurred) > clean + 1.0


def test_gamma_table_is_monotone():
    from restora.metrics.niqe import _GAM, _R_GAM

    assert _GAM.size == 9801 and _GAM[0] == pytest.approx(0.2) and _GAM[-1] == pytest.approx(10.0)
    assert np.all(np.diff(_R_GAM) > 0)
    assert _R_GAM[1800] == pytest.approx(gamma(2 / 2.0) ** 2 / (gamma(1 / 2.0) * gamma(3 / 2.0)))
