"""Degradation estimators: noise sigma, JPEG quality (tables and pixels), blur, analyse()."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from restora.classical import estimate as E
from restora.errors import ImageReadError, InvalidParameterError


def _clean(h: int = 160, w: int = 200, seed: int = 0) -> np.ndarray:
    """A noise-free test picture: smooth shading, a few sharp-edged shapes and some texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.45 + 0.2 * np.sin(x / 17.0) * np.cos(y / 23.0)
    img += 0.2 * (((x - 60) ** 2 + (y - 70) ** 2) < 35**2)
    img -= 0.15 * ((x > 120) & (x < 180) & (y > 30) & (y < 120))
    tex = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.5)
    img += 0.05 * tex / tex.std()
    return np.clip(img, 0.02, 0.98).astype(np.float32)[:, :, None]


def _jpeg_bytes(img: np.ndarray, quality: int) -> bytes:
    arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# ------------------------------------------------------------------------------ noise sigma


@pytest.mark.parametrize("sigma", [5, 10, 25, 50])
def test_noise_sigma_on_synthetic(sigma: float) -> None:
    clean = _clean()
    noisy = clean + np.random.default_rng(sigma).standard_normal(clean.shape).astype(np.float32) * sigma / 255
    est = E.estimate_noise_sigma(noisy)
    assert abs(est - sigma) / sigma < 0.10, est


def test_noise_sigma_pure_noise_colour_and_clean() -> None:
    rng = np.random.default_rng(0)
    noise = 0.5 + rng.standard_normal((120, 150, 3)).astype(np.float32) * 20 / 255
    assert abs(E.estimate_noise_sigma(noise) - 20) < 1.0
    assert E.estimate_noise_sigma(_clean()) < 2.0  # fine texture of the clean picture reads ~1.7
    assert E.estimate_noise_sigma(np.full((50, 50), 0.3, np.float32)) == 0.0
    tiny = 0.5 + rng.standard_normal((8, 9)).astype(np.float32) * 30 / 255  # falls back to MAD
    assert 15 < E.estimate_noise_sigma(tiny) < 45


@pytest.mark.data
def test_noise_sigma_bsd68_sweep(data_dir) -> None:
    from restora.data import dataset_images

    x = np.asarray(Image.open(dataset_images("BSD68")[10]), np.float32) / 255
    for i, sigma in enumerate([5, 15, 30, 50]):
        y = x + np.random.default_rng(100 + i).standard_normal(x.shape).astype(np.float32) * sigma / 255
        assert abs(E.estimate_noise_sigma(y) / sigma - 1) < 0.10


# ----------------------------------------------------------------------------- JPEG quality


def test_quant_table_formula() -> None:
    np.testing.assert_array_equal(E.jpeg_quant_table(50), E._STD_LUMA)
    assert (E.jpeg_quant_table(100) == 1).all()
    assert E.jpeg_quant_table(1).max() == 255
    assert E.jpeg_quant_table(75)[0, 0] == 8  # (16 * 50 + 50) // 100
    with pytest.raises(InvalidParameterError, match="quality"):
        E.jpeg_quant_table(0)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_quality_from_file_tables_is_exact(tmp_path, channels: int) -> None:
    img = np.repeat(_clean(64, 64), channels, axis=2)
    for q in range(10, 96, 5):
        data = _jpeg_bytes(img, q)
        assert E.estimate_jpeg_quality(data) == q
    path = tmp_path / "x.jpg"
    path.write_bytes(_jpeg_bytes(img, 37))
    assert E.estimate_jpeg_quality(path) == 37
    assert E.estimate_jpeg_quality(str(path)) == 37


def test_jpeg_quality_from_foreign_tables() -> None:
    # Not an IJG table: a uniform scaling by 0.5 of the standard table is quality 75.
    table = np.clip(np.round(E._STD_LUMA * 0.5), 1, 255).astype(int).ravel().tolist()
    assert abs(E.jpeg_quality_from_tables({0: table}) - 75) < 1.0
    with pytest.raises(InvalidParameterError):
        E.jpeg_quality_from_tables({})


def test_jpeg_quality_from_pixels() -> None:
    img = _clean(256, 256)
    ests = []
    for q in (10, 30, 50, 70, 90):
        decoded = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(img, q))))
        est = E.estimate_jpeg_quality(decoded)
        assert est is not None and abs(est - q) <= 3, (q, est)
        ests.append(est)
    assert ests == sorted(ests)
    # A crop that shifts the 8x8 grid is found too.
    decoded = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(img, 30))))[3:, 5:]
    assert abs(E.estimate_jpeg_quality(decoded) - 30) <= 3
    # Never-compressed pixels show no quantisation.
    assert E.estimate_jpeg_quality(img) is None


def test_png_of_decoded_jpeg_is_estimated_from_pixels(tmp_path) -> None:
    img = _clean(128, 128)
    decoded = Image.open(io.BytesIO(_jpeg_bytes(img, 40)))
    path = tmp_path / "was_jpeg.png"
    decoded.save(path)
    est = E.estimate_jpeg_quality(path)
    assert est is not None and abs(est - 40) <= 3
    with pytest.raises(ImageReadError):
        E.estimate_jpeg_quality(tmp_path / "missing.png")
    with pytest.raises(InvalidParameterError):
        E.estimate_jpeg_quality(12)  # type: ignore[arg-type]


def test_blockiness_grows_as_quality_drops() -> None:
    img = _clean(128, 160)
    vals = [E.blockiness(np.asarray(Image.open(io.BytesIO(_jpeg_bytes(img, q)))))[0] for q in (5, 15, 40, 90)]
    assert vals == sorted(vals, reverse=True)
    assert E.blockiness(img)[0] < vals[-1] + 0.1
    b, phase = E.blockiness(np.asarray(Image.open(io.BytesIO(_jpeg_bytes(img, 10))))[2:, 6:])
    assert phase == (6, 2)  # blocks now start at row 6, column 2


# --------------------------------------------------------------------------------------- blur


def test_blur_sigma_monotone_and_approximate() -> None:
    img = _clean(200, 240)
    sigmas = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
    est = []
    for s in sigmas:
        blurred = cv2.GaussianBlur(img, (0, 0), s, borderType=cv2.BORDER_REFLECT)[:, :, None]
        est.append(E.estimate_blur(blurred)["sigma"])
    assert all(b > a for a, b in zip(est, est[1:])), est
    for s, e in zip(sigmas[1:], est[1:]):
        assert abs(e - s) / s < 0.35, (s, e)
    sharp = E.estimate_blur(img)
    soft = E.estimate_blur(cv2.GaussianBlur(img, (0, 0), 2.0)[:, :, None])
    assert sharp["laplacian_var"] > soft["laplacian_var"]


def test_blur_without_edges() -> None:
    out = E.estimate_blur(np.full((40, 40, 1), 0.5, np.float32))
    assert np.isnan(out["sigma"]) and out["edge_fraction"] == 0.0


# ----------------------------------------------------------------------------------- analyse


def test_analyse(tmp_path) -> None:
    clean = np.repeat(_clean(), 3, axis=2)
    noisy = clean + np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32) * 15 / 255
    rep = E.analyse(noisy)
    assert (rep["height"], rep["width"], rep["channels"]) == (160, 200, 3)
    assert abs(rep["noise_sigma"] - 15) < 1.5
    assert rep["jpeg_quality"] is None and rep["jpeg_source"] is None
    assert {"sigma", "laplacian_var", "edge_fraction", "kind", "size_px", "confidence"} <= set(rep["blur"])
    assert rep["noise"]["kind"] == "gaussian" and not rep["noise"]["correlated"]
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg_bytes(clean, 60))
    decoded = np.asarray(Image.open(path), np.float32) / 255
    rep = E.analyse(decoded, path=path)
    assert rep["jpeg_quality"] == 60 and rep["jpeg_source"] == "tables"
    rgba = np.concatenate([decoded, np.ones_like(decoded[:, :, :1])], axis=2)
    rep = E.analyse(rgba)
    assert rep["channels"] == 3 and rep["jpeg_source"] == "dct" and abs(rep["jpeg_quality"] - 60) <= 3


def test_jpeg_quality_from_pixels_tells_proof_from_guess():
    clean = _clean(256, 256)
    decoded = np.asarray(Image.open(io.BytesIO(_jpeg_bytes(clean, 65))), np.float32)[:, :, None] / 255
    q, evidence = E.jpeg_quality_from_pixels(decoded)
    assert evidence == "dct" and abs(q - 65) <= 1
    assert E.jpeg_quality_from_pixels(clean) == (None, None)
