"""Classical upscaling: interpolators, example-based patch SR (fit/predict/save/load), CLI."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_image
from restora.classical.patch_sr import PatchSR, default_model_path, rgb_to_ycbcr, ycbcr_to_rgb
from restora.classical.upscale import UPSCALE_METHODS, upscale
from restora.degrade.resize import imresize
from restora.errors import InvalidParameterError, MissingResourceError
from restora.restorers import get_restorer, get_restorer_info


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Images with oriented stripes and blocks at several frequencies (rich, learnable detail)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.full((h, w), 0.5, np.float32)
    for _ in range(6):
        a = rng.uniform(0, np.pi)
        f = rng.uniform(0.08, 0.35)
        img += 0.12 * np.sign(np.sin(f * (x * np.cos(a) + y * np.sin(a)) + rng.uniform(0, 6)))
    for _ in range(8):
        y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
        img[y0 : y0 + rng.integers(5, 20), x0 : x0 + rng.integers(5, 20)] = rng.uniform(0.1, 0.9)
    return np.clip(img, 0, 1)[:, :, None]


def _ypsnr(a: np.ndarray, b: np.ndarray, crop: int) -> float:
    a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1).astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def tiny_model() -> PatchSR:
    train = [_texture(72, 72, s) for s in range(6)]
    return PatchSR.fit(train, 2, max_patches=12_000, n_anchors=16, neighbours=600, kmeans_iters=8, rng=0)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("scale", [2, 3, 1.5])
def test_interpolator_output_sizes(method, scale, rgb):
    out = upscale(rgb, scale, method)
    assert out.shape == (int(np.ceil(64 * scale)), int(np.ceil(80 * scale)), 3)
    assert out.dtype == np.float32


def test_bicubic_is_matlab_imresize_and_nearest_repeats(gray):
    np.testing.assert_array_equal(upscale(gray, 2, "bicubic"), imresize(gray, 2))
    near = upscale(gray, 2, "nearest")
    np.testing.assert_allclose(near[::2, ::2], gray, atol=1e-6)
    np.testing.assert_allclose(near[1::2, 1::2], gray, atol=1e-6)


def test_bad_arguments(rgb):
    with pytest.raises(InvalidParameterError, match="method"):
        upscale(rgb, 2, "magic")
    with pytest.raises(InvalidParameterError, match="scale"):
        upscale(rgb, 0, "bicubic")
    with pytest.raises(InvalidParameterError, match="integer"):
        upscale(rgb, 2.5, "patch_sr")


def test_ycbcr_round_trip_and_matlab_y(rgb):
    ycc = rgb_to_ycbcr(rgb)
    y_ref = (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
    np.testing.assert_allclose(ycc[..., 0], y_ref, atol=1e-5)
    np.testing.assert_allclose(ycbcr_to_rgb(ycc), rgb, atol=1e-5)


def test_patch_sr_beats_bicubic_on_similar_image(tiny_model):
    hr = _texture(96, 96, 100)
    lr = imresize(hr, 0.5)
    sr = tiny_model.predict(lr)
    assert sr.shape == hr.shape
    gain = _ypsnr(sr, hr, 2) - _ypsnr(imresize(lr, 2), hr, 2)
    assert gain > 0.3, gain


def test_patch_sr_colour_keeps_bicubic_chroma(tiny_model):
    lr = synthetic_image(20, 24, 3)
    sr = tiny_model.predict(lr)
    assert sr.shape == (40, 48, 3)
    chroma_sr = rgb_to_ycbcr(sr)[..., 1:]
    chroma_bic = np.stack([imresize(rgb_to_ycbcr(lr)[..., c], 2)[..., 0] for c in (1, 2)], axis=2)
    np.testing.assert_allclose(chroma_sr, chroma_bic, atol=1e-4)


def test_patch_sr_ensemble_runs(tiny_model):
    lr = synthetic_image(17, 23, 1)
    out = tiny_model.predict(lr, ensemble=True)
    assert out.shape == (34, 46, 1) and np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype,tol", [("float32", 0.0), ("float16", 2e-3), ("int8", 5e-3)])
def test_patch_sr_save_load(tiny_model, tmp_path, dtype, tol):
    path = tiny_model.save(tmp_path / f"m_{dtype}.npz", dtype=dtype)
    loaded = PatchSR.load(path)
    assert loaded.scale == 2 and loaded.meta["n_anchors"] == 16
    lr = synthetic_image(20, 24, 1)
    np.testing.assert_allclose(loaded.predict(lr), tiny_model.predict(lr), atol=tol + 1e-6)
    # the file holds plain arrays only: loading without pickle works
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) >= {"pca", "anchors", "regressors", "meta"}


def test_patch_sr_load_rejects_non_models(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(MissingResourceError):
        PatchSR.load(bad)
    with pytest.raises(MissingResourceError):
        PatchSR.load(tmp_path / "missing.npz")


def test_registry_entries(rgb):
    for name in ("nearest", "bilinear", "bicubic", "lanczos", "patch-sr"):
        assert get_restorer_info(name).task == "sr"
    out = get_restorer("bicubic")(rgb, scale=2)
    assert out.shape == (128, 160, 3)
    with pytest.raises(InvalidParameterError, match="scale"):
        get_restorer("bicubic")(rgb)


@pytest.mark.skipif(not default_model_path(2).is_file(), reason="shipped x2 model absent")
def test_shipped_x2_model_runs_and_sharpens():
    hr = _texture(64, 64, 7)
    lr = imresize(hr, 0.5)
    sr = get_restorer("patch-sr")(lr, scale=2)
    assert sr.shape == hr.shape
    assert _ypsnr(sr, hr, 2) > _ypsnr(imresize(lr, 2), hr, 2)
    assert "patch_sr" in UPSCALE_METHODS


def test_cli_upscale(tmp_path):
    from restora import io as rio
    from restora.cli.main import main

    src = tmp_path / "in.png"
    rio.write_image(src, synthetic_image(16, 20, 3))
    dst = tmp_path / "out.png"
    assert main(["upscale", str(src), str(dst), "--scale", "3", "--method", "lanczos"]) == 0
    assert rio.read_image(dst).shape == (48, 60, 3)
    assert main(["upscale", str(src), str(dst), "--scale", "3"]) == 2  # exists, no --overwrite


def test_cli_upscale_auto_takes_the_planners_choice(tmp_path, capsys):
    from restora import io as rio
    from restora.cli.main import main
    from restora.pipeline.methods import neural_choice

    src = tmp_path / "in.png"
    rio.write_image(src, synthetic_image(16, 20, 3))
    assert main(["upscale", str(src), str(tmp_path / "x2.png"), "--scale", "2"]) == 0
    choice = neural_choice("upscale", channels=3, factor=2)
    assert f"{choice.method if choice else 'patch-sr'} x2" in capsys.readouterr().out
    assert rio.read_image(tmp_path / "x2.png").shape == (32, 40, 3)
    # a factor no pass gives exactly: passes, then a resize to the exact size
    assert main(["upscale", str(src), str(tmp_path / "x25.png"), "--scale", "2.5"]) == 0
    assert rio.read_image(tmp_path / "x25.png").shape == (40, 50, 3)
    assert main(["upscale", str(src), str(tmp_path / "e8.png"), "--scale", "2", "--ensemble"]) == 0
    assert "+x8 x2" in capsys.readouterr().out
    assert rio.read_image(tmp_path / "e8.png").shape == (32, 40, 3)
    assert main(["upscale", str(src), str(tmp_path / "e.png"), "--method", "bicubic", "--ensemble"]) == 2
    assert main(["upscale", str(src), str(tmp_path / "e.png"), "--method", "no-such-model"]) == 2
    assert not (tmp_path / "e.png").exists()
