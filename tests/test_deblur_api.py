"""``restora.pipeline.deblur.deblur_image`` and the ``restora deblur`` command over it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from restora.cli.main import app
from restora.degrade.convolve import convolve
from restora.degrade.kernels import motion_kernel
from restora.errors import ConfigError, InvalidParameterError
from restora.io import read_image, write_image
from restora.metrics import psnr
from restora.pipeline import deblur as deblur_mod
from restora.pipeline.deblur import deblur_image, resolve_method

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "samples" / "sample_clean.png"


@pytest.fixture(scope="module")
def pair():
    clean = read_image(SAMPLE)[:192, :192].mean(axis=2, keepdims=True)
    kernel, _ = motion_kernel(13, 2, length=11)
    y = convolve(clean, kernel.astype(np.float32), boundary="reflect")
    return clean, (np.round(np.clip(y, 0, 1) * 255) / 255).astype(np.float32), kernel


def test_auto_is_plug_and_play_when_the_prior_is_shipped_else_classical(monkeypatch):
    assert resolve_method("auto", True) == "pnp" and resolve_method("auto", False) == "blind"
    monkeypatch.setattr(deblur_mod, "_has_prior", lambda: False)
    assert resolve_method("auto", True) == "map" and resolve_method("auto", False) == "blind"
    with pytest.raises(ConfigError, match="needs the blur kernel"):
        resolve_method("wiener", False)
    with pytest.raises(InvalidParameterError, match="method must be one of"):
        resolve_method("sharpen", False)


def test_known_kernel_methods_restore_and_report(pair):
    clean, y, kernel = pair
    c = slice(8, -8)
    base = psnr(clean[c, c], y[c, c])
    for method in ("pnp", "map", "wiener"):
        r = deblur_image(y, method=method, kernel=kernel, sigma=1.0)
        assert r.method == method and r.sigma_source == "given" and r.image.shape == y.shape
        assert psnr(clean[c, c], np.clip(r.image, 0, 1)[c, c]) > base + 2.0, method
        np.testing.assert_allclose(r.kernel.sum(), 1.0, atol=1e-6)


def test_blind_estimates_and_raises_its_noise_floor(pair):
    _, y, _ = pair
    r = deblur_image(y, method="blind", kernel_size=15)
    assert r.kernel.shape == (15, 15) and r.sigma >= 3.0 and "blind kernel" in r.sigma_source


def test_cli_uses_the_api_and_saves_the_kernel(tmp_path, pair):
    _, y, kernel = pair
    src, dst, kfile = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "k.npy"
    write_image(src, y)
    r = CliRunner().invoke(app, ["deblur", str(src), str(dst), "-m", "blind", "--kernel-size", "15", "--save-kernel", str(kfile)])
    assert r.exit_code == 0, r.output
    assert "(blind, kernel 15x15" in r.output and np.load(kfile).shape == (15, 15) and dst.is_file()
    np.save(tmp_path / "true.npy", kernel)
    r = CliRunner().invoke(app, ["deblur", str(src), str(tmp_path / "o2.png"), "-m", "map", "-k", str(tmp_path / "true.npy"), "--save-kernel", str(tmp_path / "x.npy")])
    assert isinstance(r.exception, ConfigError) and "--save-kernel" in str(r.exception)


def test_the_automatic_kernel_support_fits_a_small_image():
    from restora.classical.blur_detect import blind_kernel_size

    blurred = convolve(read_image(SAMPLE)[:64, :64], np.full((1, 21), 1 / 21, np.float32), boundary="reflect")
    size = blind_kernel_size(blurred)
    assert size <= 31 and size % 2 == 1  # 64 px: at most 31, whatever the blur measures
    assert deblur_image(blurred).kernel.shape == (size, size)


def test_blind_vb_runs_through_the_api(pair):
    _, y, _ = pair
    r = deblur_image(y[:96, :96], method="blind-vb", kernel_size=11)
    assert r.method == "blind-vb" and r.kernel.shape == (11, 11) and abs(float(r.kernel.sum()) - 1) < 1e-4
    assert np.isfinite(r.image).all() and r.sigma >= 3.0


def _tiny_deblur_weights(tmp_path: Path, task: str = "deblur") -> Path:
    import torch

    from restora.nn.registry import create_model
    from restora.zoo import ModelCard, save_model

    torch.manual_seed(0)
    model = create_model("deepdeblur", in_channels=1, features=8, blocks=1)
    return save_model(model, tmp_path / f"tiny-{task}.safetensors",
                      ModelCard(name=f"tiny-{task}", arch="deepdeblur", args={"in_channels": 1, "features": 8, "blocks": 1}, task=task, channels=1))


def test_learned_runs_the_given_network_and_reports_no_kernel(tmp_path, pair):
    from restora.zoo import load
    from restora.zoo.restorers import NeuralRestorer

    _, y, _ = pair
    path = _tiny_deblur_weights(tmp_path)
    r = deblur_image(y, method="learned", model=str(path))
    expected = np.clip(NeuralRestorer(load(path))(y), 0, 1)
    assert r.method == "learned" and r.kernel is None and r.image.shape == y.shape
    np.testing.assert_allclose(r.image, expected, atol=1e-6)
    with pytest.raises(ConfigError, match="needs a model"):
        deblur_image(y, method="learned")
    with pytest.raises(InvalidParameterError, match="is a denoise model"):
        deblur_image(y, method="learned", model=str(_tiny_deblur_weights(tmp_path, "denoise")))
    with pytest.raises(InvalidParameterError, match="model= is for method learned"):
        deblur_image(y, method="blind", model=str(path))


def test_cli_learned_needs_model_and_model_needs_learned(tmp_path, pair):
    _, y, _ = pair
    src = tmp_path / "in.png"
    write_image(src, y)
    path = _tiny_deblur_weights(tmp_path)
    r = CliRunner().invoke(app, ["deblur", str(src), str(tmp_path / "o.png"), "-m", "learned", "--model", str(path)])
    assert r.exit_code == 0, r.output
    assert "(learned, " in r.output and (tmp_path / "o.png").is_file()
    for args in (["-m", "learned"], ["--model", str(path)]):
        r = CliRunner().invoke(app, ["deblur", str(src), str(tmp_path / "o2.png"), *args])
        assert isinstance(r.exception, ConfigError) and "--model" in str(r.exception)
    assert not (tmp_path / "o2.png").exists()
