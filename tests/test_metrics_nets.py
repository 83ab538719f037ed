"""Torch metrics vs numpy, LPIPS (random trunks, weight loading), FID (closed forms, code path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import synthetic_image
from restora.errors import InvalidParameterError, MissingResourceError
from restora.metrics import (
    FID_WEIGHTS_FILE,
    LPIPS,
    InceptionV3FID,
    fid,
    fid_from_folders,
    frechet_distance,
    image_features,
    load_fid_inception,
    load_lpips,
    lpips,
    ms_ssim,
    ms_ssim_torch,
    psnr,
    psnr_torch,
    ssim,
    ssim_torch,
    weights_search_dirs,
)


def noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + sigma * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def to_t(*imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack([i.transpose(2, 0, 1) for i in imgs]).copy())


@pytest.fixture
def empty_weight_dirs(tmp_path, monkeypatch):
    """Point every default weights folder at empty temporary folders."""
    monkeypatch.setenv("RESTORA_WEIGHTS", str(tmp_path / "rw"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


# --------------------------------------------------------------------------- torch metrics
OPTIONS = [
    {},
    {"crop": 3},
    {"y_channel": True},
    {"y_channel": True, "round_to_uint8": True, "crop": 4},
    {"round_to_uint8": True},
]


@pytest.mark.parametrize("opts", OPTIONS)
def test_torch_metrics_match_numpy(opts):
    a1, a2 = synthetic_image(48, 56, 3, 0), synthetic_image(48, 56, 3, 5)
    b1, b2 = noisy(a1, 0.05, 1), noisy(a2, 0.1, 2)
    pt = psnr_torch(to_t(a1, a2), to_t(b1, b2), **opts)
    st = ssim_torch(to_t(a1, a2), to_t(b1, b2), **opts)
    assert pt.shape == (2,) and st.shape == (2,)
    for i, (a, b) in enumerate(((a1, b1), (a2, b2))):
        assert abs(float(pt[i]) - psnr(a, b, **opts)) < 1e-5
        assert abs(float(st[i]) - ssim(a, b, **opts)) < 1e-5


def test_torch_metrics_gray_ms_ssim_inf_and_grad():
    g = synthetic_image(170, 175, 1, 3)
    h = noisy(g, 0.05)
    assert abs(float(ms_ssim_torch(to_t(g), to_t(h))[0]) - ms_ssim(g, h)) < 1e-5
    assert abs(float(ssim_torch(to_t(g)[0], to_t(h)[0])[0]) - ssim(g, h)) < 1e-5  # C x H x W input
    assert math.isinf(float(psnr_torch(to_t(g), to_t(g))[0]))
    x = to_t(noisy(g[:40, :40], 0.1)).requires_grad_(True)
    ssim_torch(x, to_t(g[:40, :40])).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(InvalidParameterError, match="same shape"):
        psnr_torch(to_t(g), to_t(g[:-1]))


# --------------------------------------------------------------------------- LPIPS
ALEX_KEYS = {f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")}
VGG_KEYS = {f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) for p in ("weight", "bias")}


def test_lpips_trunk_key_names_match_torchvision():
    alex, vgg = LPIPS("alex"), LPIPS("vgg")
    assert set(alex.trunk.state_dict()) == ALEX_KEYS
    assert set(vgg.trunk.state_dict()) == VGG_KEYS
    assert alex.trunk.state_dict()["features.0.weight"].shape == (64, 3, 11, 11)
    assert vgg.trunk.state_dict()["features.28.weight"].shape == (512, 512, 3, 3)
    heads = {k for k in alex.state_dict() if k.startswith("lin")}
    assert heads == {f"lin{i}.model.1.weight" for i in range(5)}


@pytest.mark.parametrize("net,size", [("alex", 64), ("vgg", 16)])
def test_lpips_random_trunk_properties(rgb, net, size):
    model = LPIPS.untrained(net, seed=0)
    a = rgb[:size, :size]
    b1, b2 = noisy(a, 0.03), noisy(a, 0.15)
    out = model(to_t(a, a, b1), to_t(a, b1, a))  # identical, and both orders of one pair
    assert out.shape == (3,)
    assert float(out[0]) == pytest.approx(0.0, abs=1e-7)
    assert float(out[1]) == pytest.approx(float(out[2]), rel=1e-5) and float(out[1]) > 0
    assert float(out[1]) < lpips(a, b2, net=model)


def test_lpips_numpy_api_gray_and_size(rgb):
    model = LPIPS.untrained("alex", seed=1)
    a, b = rgb, noisy(rgb, 0.05)
    assert lpips(a, b, net=model) == pytest.approx(float(model(to_t(a), to_t(b))[0]), rel=1e-6)
    g = a[..., :1]
    assert lpips(g, noisy(g, 0.1), net=model) > 0  # gray is repeated to RGB
    with pytest.raises(InvalidParameterError, match="at least"):
        lpips(a[:12, :12], a[:12, :12], net=model)
    with pytest.raises(InvalidParameterError, match="same shape"):
        lpips(a, a[:-1], net=model)


def test_lpips_missing_weights_names_files(empty_weight_dirs, rgb):
    with pytest.raises(MissingResourceError) as err:
        lpips(rgb, rgb, net="alex")
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and "alex.pth" in msg and str(empty_weight_dirs / "rw") in msg
    with pytest.raises(MissingResourceError, match="vgg16-397923af.pth.*vgg.pth"):
        load_lpips("vgg", weights_dir=empty_weight_dirs / "none")
    with pytest.raises(InvalidParameterError, match="net must be one of"):
        load_lpips("squeeze")


def test_lpips_loads_torchvision_style_checkpoints(tmp_path, empty_weight_dirs, rgb):
    ref = LPIPS.untrained("alex", seed=3)
    with torch.no_grad():
        for i in range(5):  # heads that differ from the default
            getattr(ref, f"lin{i}").model[1].weight.uniform_(0, 0.1)
    trunk = {k: v.clone() for k, v in ref.trunk.state_dict().items()}
    trunk["classifier.6.bias"] = torch.zeros(1000)  # torchvision files carry the classifier too
    torch.save(trunk, tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save({k: v for k, v in ref.state_dict().items() if k.startswith("lin")}, tmp_path / "alex.pth")
    model = load_lpips("alex", weights_dir=tmp_path)
    b = noisy(rgb, 0.1)
    assert lpips(rgb, b, net="alex", weights_dir=tmp_path) == pytest.approx(lpips(rgb, b, net=ref), rel=1e-6)
    assert load_lpips("alex", weights_dir=tmp_path) is model  # cached
    # found through $RESTORA_WEIGHTS as well
    (empty_weight_dirs / "rw").mkdir()
    for f in ("alexnet-owt-7be5be79.pth", "alex.pth"):
        (empty_weight_dirs / "rw" / f).write_bytes((tmp_path / f).read_bytes())
    assert weights_search_dirs()[0] == empty_weight_dirs / "rw"
    assert lpips(rgb, b) == pytest.approx(lpips(rgb, b, net=ref), rel=1e-6)


# --------------------------------------------------------------------------- FID
def test_frechet_distance_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(
        4.0 + 1.0, abs=1e-6
    )
    # diagonal covariances: sum over dimensions
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    v1, v2 = rng.uniform(0.1, 2, 6), rng.uniform(0.1, 2, 6)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected, abs=1e-6)
    # a rotated pair (commuting covariances): invariant to the rotation
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    got = frechet_distance(q @ m1, q @ np.diag(v1) @ q.T, q @ m2, q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(expected, abs=1e-6)
    # identical Gaussians: 0; a singular covariance still gives a finite value
    s = np.cov(rng.normal(size=(3, 6)), rowvar=False)  # rank 2
    assert frechet_distance(m1, s, m1, s) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InvalidParameterError):
        frechet_distance(m1, np.eye(5), m2, np.eye(6))


def test_fid_of_feature_sets():
    rng = np.random.default_rng(1)
    fa = rng.normal(size=(4000, 3))
    fb = rng.normal(size=(4000, 3)) * 2.0 + 1.0  # N(1, 4 I) vs N(0, I): 3 * 1 + 3 * (2 - 1)^2 = 6
    assert fid(fa, fb) == pytest.approx(6.0, abs=0.3)
    assert fid(fa, fa) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InvalidParameterError):
        fid(fa[:1], fb)


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def _write_pngs(folder, images):
    from PIL import Image

    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(np.round(img * 255).astype(np.uint8).squeeze()).save(folder / f"{i:02d}.png")


def test_fid_from_folders_with_tiny_network(tmp_path, empty_weight_dirs):
    rng = np.random.default_rng(0)
    clean = [synthetic_image(32, 40 + 4 * (i % 2), 3, seed=i) for i in range(12)]
    _write_pngs(tmp_path / "a", clean)
    _write_pngs(tmp_path / "b", [np.clip(c + rng.normal(0, 0.2, c.shape), 0, 1) for c in clean])
    _write_pngs(tmp_path / "c", [c[..., :1] for c in clean])  # gray images are repeated to RGB
    net = TinyNet()
    same = fid_from_folders(tmp_path / "a", tmp_path / "a", feature_extractor=net, batch_size=4)
    diff = fid_from_folders(tmp_path / "a", tmp_path / "b", feature_extractor=net, batch_size=4)
    assert same == pytest.approx(0.0, abs=1e-9) and diff > 1e-5
    assert np.isfinite(fid_from_folders(tmp_path / "a", tmp_path / "c", feature_extractor=net))
    # batching by size does not change features
    f1 = image_features(clean, net, batch_size=1)
    f5 = image_features(clean, net, batch_size=5)
    assert f1.shape == (12, 8)
    np.testing.assert_allclose(f1, f5, atol=1e-6)
    with pytest.raises(MissingResourceError, match=FID_WEIGHTS_FILE):
        fid_from_folders(tmp_path / "a", tmp_path / "b")


def test_fid_inception_architecture_and_loading(tmp_path):
    model = InceptionV3FID()
    keys = set(model.state_dict())
    for k in ("Conv2d_1a_3x3.conv.weight", "Conv2d_4a_3x3.bn.running_var", "Mixed_5b.branch_pool.conv.weight",
              "Mixed_6e.branch7x7dbl_5.bn.bias", "Mixed_7a.branch7x7x3_4.conv.weight",
              "Mixed_7c.branch3x3dbl_3b.bn.running_mean"):
        assert k in keys
    assert model.state_dict()["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    n_params = sum(p.numel() for p in model.parameters())
    # torchvision inception_v3: 27,161,264 parameters, minus fc (2,049,000) and AuxLogits (3,326,696)
    assert n_params == 21_785_568
    # a checkpoint with the classifier (as pytorch-fid's file) loads; features are 2048-d
    state = dict(model.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, tmp_path / FID_WEIGHTS_FILE)
    loaded = load_fid_inception(weights_dir=tmp_path)
    loaded_state = loaded.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(loaded_state[k], v), k
    assert loaded.input_size == 299  # the FID convention; lowered here only to keep the test fast
    loaded.input_size = 75
    try:
        with torch.no_grad():
            out = loaded(torch.rand(1, 3, 40, 50))  # any input size: resized inside
    finally:
        loaded.input_size = 299
    assert out.shape == (1, 2048) and torch.isfinite(out).all() and (out >= 0).all()
    with pytest.raises(MissingResourceError, match="not found"):
        load_fid_inception(tmp_path / "nope.pth")
