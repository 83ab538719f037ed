"""Classical denoisers: each one denoises, parameters are checked, the catalogue lists them,
block matching finds the true nearest patches, and the CLI round-trips a file."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from conftest import synthetic_image
from restora.classical import denoise as D
from restora.classical import denoise_collaborative as DC
from restora.errors import InvalidParameterError, MissingResourceError
from restora.restorers import get_restorer, get_restorer_info, list_restorers

OURS = ["box", "gaussian", "median", "bilateral", "guided", "tv", "wavelet", "nlm", "collaborative-wiener"]


def _noisy(clean: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (clean + rng.standard_normal(clean.shape) * sigma / 255).astype(np.float32)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def clean_rgb() -> np.ndarray:
    return synthetic_image(64, 80, 3, seed=3)


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("channels", [1, 3])
def test_each_denoiser_reduces_mse(name: str, channels: int, clean_rgb: np.ndarray) -> None:
    clean = clean_rgb if channels == 3 else clean_rgb[:, :, :1].copy()
    noisy = _noisy(clean, 25)
    out = D.DENOISERS[name](noisy, 25)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    # Every method must remove a good part of the noise on this smooth-with-edges image.
    assert _mse(out, clean) < 0.6 * _mse(noisy, clean), name


def test_strong_methods_beat_linear_filters(clean_rgb: np.ndarray) -> None:
    clean = clean_rgb[:, :, :1].copy()
    noisy = _noisy(clean, 25)
    err = {n: _mse(D.DENOISERS[n](noisy, 25), clean) for n in ("gaussian", "tv", "nlm", "collaborative-wiener")}
    assert err["collaborative-wiener"] < min(err["nlm"], err["tv"], err["gaussian"])


def test_sigma_none_estimates_noise(clean_rgb: np.ndarray) -> None:
    noisy = _noisy(clean_rgb, 20)
    given = D.gaussian(noisy, 20)
    est = D.gaussian(noisy)  # estimated sigma: synthetic image has ~5 levels of its own texture
    assert _mse(est, clean_rgb) < 0.6 * _mse(noisy, clean_rgb)
    assert abs(D.resolve_sigma(noisy, None) - 20) < 5
    assert given.shape == est.shape


def test_two_dimensional_input_and_uint8(clean_rgb: np.ndarray) -> None:
    gray = _noisy(clean_rgb[:, :, 0], 25)
    assert D.median(gray, 25).shape == (64, 80, 1)
    u8 = (np.clip(clean_rgb, 0, 1) * 255).astype(np.uint8)
    out = D.bilateral(u8, 10)
    assert out.dtype == np.float32 and out.max() <= 1.0 + 1e-6


def test_sigma_zero_is_identity(clean_rgb: np.ndarray) -> None:
    for name in ("box", "gaussian", "median", "tv", "nlm", "collaborative-wiener"):
        np.testing.assert_array_equal(D.DENOISERS[name](clean_rgb, 0), clean_rgb)


def test_no_clipping_inside_api(clean_rgb: np.ndarray) -> None:
    noisy = _noisy(clean_rgb, 50)
    assert noisy.min() < 0 and noisy.max() > 1
    out = D.gaussian(noisy, 50, blur_sigma=0.3)
    assert out.min() < 0 or out.max() > 1  # values are not clipped to [0, 1]


def test_invalid_parameters(clean_rgb: np.ndarray) -> None:
    with pytest.raises(InvalidParameterError, match="sigma"):
        D.gaussian(clean_rgb, -1)
    with pytest.raises(InvalidParameterError, match="sigma"):
        D.nlm(clean_rgb, float("nan"))
    with pytest.raises(InvalidParameterError, match="size"):
        D.median(clean_rgb, 25, size=4)
    with pytest.raises(InvalidParameterError, match="method"):
        D.wavelet(clean_rgb, 25, method="SureShrink")
    with pytest.raises(InvalidParameterError, match="collaborative_wiener"):
        D.collaborative_wiener(clean_rgb, 25, no_such_param=3)
    with pytest.raises(InvalidParameterError, match="image"):
        D.box(np.zeros((4, 4, 2), np.float32), 10)


def test_explicit_parameters_change_the_result(clean_rgb: np.ndarray) -> None:
    noisy = _noisy(clean_rgb, 25)
    a = D.box(noisy, 25, size=3)
    b = D.box(noisy, 25, size=7)
    assert not np.allclose(a, b)
    np.testing.assert_allclose(D.median(noisy, 25, size=7)[..., 0], D.median(noisy[..., :1], 25, size=7)[..., 0])


def test_catalogue_registration(clean_rgb: np.ndarray) -> None:
    infos = {i.name: i for i in list_restorers("denoise")}
    for name in OURS + ["bm3d"]:
        assert name in infos
        assert infos[name].task == "denoise"
    assert infos["bm3d"].kind == "peer"
    assert all(infos[n].kind == "classical" for n in OURS)
    noisy = _noisy(clean_rgb, 25)
    f = get_restorer("gaussian")
    np.testing.assert_array_equal(f(noisy, sigma=25), D.gaussian(noisy, 25))
    fixed = get_restorer("box", sigma=40)  # a factory option: used when the condition lacks sigma
    np.testing.assert_array_equal(fixed(noisy), D.box(noisy, 40))
    np.testing.assert_array_equal(fixed(noisy, sigma=12), D.box(noisy, 12))
    opts = get_restorer("median", size=3)
    np.testing.assert_array_equal(opts(noisy, sigma=50), D.median(noisy, 50, size=3))
    assert "collaborative" in get_restorer_info("collaborative-wiener").description


def test_bm3d_peer_missing_package(monkeypatch: pytest.MonkeyPatch, clean_rgb: np.ndarray) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)  # import bm3d now raises ImportError
    with pytest.raises(MissingResourceError, match="bm3d"):
        D.bm3d_reference(clean_rgb, 25)


def test_block_match_finds_nearest_patches() -> None:
    torch.manual_seed(0)
    g = torch.rand(29, 41)
    p, step, radius, k = 4, 3, 5, 6
    refs, members = DC._block_match(g, p, step, radius, k, tile=3, batch=5)
    nh, nw = 29 - p + 1, 41 - p + 1
    patches = torch.nn.functional.unfold(g[None, None], p)[0].T
    for i, ref in enumerate(refs.tolist()):
        assert members[i, 0] == ref
        ry, rx = divmod(ref, nw)
        cand = [y * nw + x for y in range(max(0, ry - radius), min(nh, ry + radius + 1))
                for x in range(max(0, rx - radius), min(nw, rx + radius + 1))]
        best = torch.sort(((patches[cand] - patches[ref]) ** 2).sum(1)).values[:k]
        got = ((patches[members[i]] - patches[ref]) ** 2).sum(1)
        torch.testing.assert_close(torch.sort(got).values, best, atol=1e-4, rtol=1e-4)
        for m in members[i].tolist():
            my, mx = divmod(m, nw)
            assert abs(my - ry) <= radius and abs(mx - rx) <= radius
    assert len(set(refs.tolist())) == len(refs)


def test_collaborative_transforms_are_orthonormal() -> None:
    for n in (8, 16, 32, 12):
        m = DC._haar_matrix(n) if n != 12 else DC._dct_matrix(n)
        torch.testing.assert_close(m @ m.T, torch.eye(n), atol=1e-5, rtol=0)


def test_collaborative_constant_and_tiny_images() -> None:
    const = np.full((20, 30, 1), 0.4, np.float32)
    np.testing.assert_allclose(D.collaborative_wiener(const, 25), const, atol=1e-4)
    tiny = _noisy(np.full((5, 7, 3), 0.5, np.float32), 25)
    out = D.collaborative_wiener(tiny, 25)
    assert out.shape == tiny.shape and np.isfinite(out).all()


@pytest.mark.data
def test_bsd68_crop_smoke(data_dir) -> None:
    from PIL import Image

    from restora.data import dataset_images

    x = np.asarray(Image.open(dataset_images("BSD68")[0]), np.float32)[:128, :128, None] / 255
    y = _noisy(x, 25, seed=0)
    psnr = {n: 10 * np.log10(1 / _mse(D.DENOISERS[n](y, 25), x)) for n in ("gaussian", "nlm", "collaborative-wiener")}
    assert psnr["collaborative-wiener"] > psnr["nlm"] > psnr["gaussian"] > 20.2  # noisy input: 20.2 dB
    assert psnr["collaborative-wiener"] > 25.0


def test_cli_round_trip(tmp_path, clean_rgb: np.ndarray) -> None:
    io = pytest.importorskip("restora.io")
    from restora.cli.main import main

    clean = np.clip(clean_rgb, 0, 1)
    noisy = np.clip(_noisy(clean, 25), 0, 1)
    src = tmp_path / "noisy.png"
    io.write_image(src, noisy)
    dst = tmp_path / "out.png"
    assert main(["denoise", str(src), str(dst), "--method", "nlm", "--sigma", "25"]) == 0
    out = io.read_image(dst)
    assert out.shape == clean.shape
    assert _mse(out, clean) < 0.6 * _mse(io.read_image(src), clean)
    assert main(["denoise", str(src), str(dst), "--method", "nlm"]) == 2  # exists, no --overwrite
    assert main(["denoise", str(src), str(dst), "--method", "nope"]) == 2
    folder = tmp_path / "outs"
    assert main(["denoise", str(tmp_path), str(folder), "-m", "gaussian"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["noisy.png", "out.png"]


def test_cli_ensemble_averages_the_denoiser_over_the_8_orientations(tmp_path, clean_rgb: np.ndarray, capsys) -> None:
    from restora import io
    from restora.cli.main import main
    from restora.ensemble import self_ensemble
    from restora.restorers import get_restorer

    noisy = np.clip(_noisy(np.clip(clean_rgb, 0, 1)[:40, :56], 20), 0, 1)  # not square: rotations change the shape
    src, dst = tmp_path / "noisy.png", tmp_path / "e8.png"
    io.write_image(src, noisy)
    assert main(["denoise", str(src), str(dst), "-m", "tv", "--sigma", "20", "--ensemble"]) == 0
    assert "tv+x8" in capsys.readouterr().out
    want = self_ensemble(get_restorer("tv"), io.read_image(src), sigma=20.0)
    plain = get_restorer("tv")(io.read_image(src), sigma=20.0)
    out = io.read_image(dst)
    assert np.abs(out - want).max() <= 1 / 255 + 1e-6
    assert np.abs(out - plain).max() > 2 / 255  # tv is not rotation-equivariant: the average differs


def test_cli_auto_uses_the_shipped_model_for_the_channels(tmp_path, clean_rgb: np.ndarray, capsys) -> None:
    from restora import io
    from restora.cli.denoise import FALLBACK_METHOD
    from restora.cli.main import main
    from restora.zoo import list_models

    clean = np.clip(clean_rgb, 0, 1)
    src = tmp_path / "noisy.png"
    io.write_image(src, np.clip(_noisy(clean, 25), 0, 1))
    dst = tmp_path / "out.png"
    assert main(["denoise", str(src), str(dst)]) == 0  # --method auto
    # a Gaussian model made for colour (3 channels, trained or measured on opponent channels),
    # the best measured score first, else a gray one per channel
    from restora.pipeline.methods import _measured_quality

    def made_for_colour(c):
        return c.channels == 3 or c.color_split == "opponent" or _measured_quality(c, "denoise", 3) > -np.inf

    cards = sorted((c for c in list_models() if c.task == "denoise"),
                   key=lambda c: (c.real_world, not made_for_colour(c), -_measured_quality(c, "denoise", 3), c.name))
    expected = cards[0].name if cards else FALLBACK_METHOD
    assert f"({expected}, sigma" in capsys.readouterr().out.replace("\n", "")
    assert _mse(io.read_image(dst), clean) < 0.5 * _mse(io.read_image(src), clean)
