"""Losses: finite, minimal at equality, gradients flow; WGAN-GP penalty on known critics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restora.errors import ConfigError, MissingResourceError
from restora.train.features import ModelFeatures, RandomFeatures, VGG19Features
from restora.train.losses import (
    CharbonnierLoss,
    FFTLoss,
    GANLoss,
    L1Loss,
    L2Loss,
    PerceptualLoss,
    SSIMLoss,
    build_losses,
    gradient_penalty,
)


def pair(c: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, c, 24, 24, generator=g)
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).requires_grad_(True)
    return pred, target


PIXEL = [L1Loss(), L2Loss(), CharbonnierLoss(eps=1e-3), SSIMLoss(), FFTLoss(), PerceptualLoss("random")]


@pytest.mark.parametrize("loss", PIXEL, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("channels", [1, 3])
def test_losses_finite_minimal_at_equality_with_gradients(loss, channels):
    pred, target = pair(channels)
    value = loss(pred, target)
    assert value.ndim == 0 and torch.isfinite(value) and value > 0
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    same = loss(target.clone(), target).detach()
    value = value.detach()
    floor = 1e-3 if isinstance(loss, CharbonnierLoss) else 0.0
    assert float(same) == pytest.approx(floor, abs=1e-5)
    assert float(same) < float(value)


def test_losses_are_float32_under_bf16_autocast():
    pred, target = pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for loss in PIXEL:
            v = loss(pred, target)
            assert v.dtype == torch.float32 and torch.isfinite(v)


def test_fft_loss_value_by_parseval():
    # the orthonormal FFT preserves energy: a constant offset lands in the DC term only
    a = torch.zeros(1, 1, 8, 8)
    b = torch.full((1, 1, 8, 8), 0.5)
    # DC coefficient = 0.5 * 8 (ortho) = 4; real+imag parts of 8x5 coefficients = 80 values
    assert float(FFTLoss()(b, a)) == pytest.approx(4.0 / 80.0)


def test_ssim_loss_matches_metric():
    from restora.metrics.torch_metrics import ssim_torch

    pred, target = pair(1)
    expected = 1.0 - ssim_torch(pred.detach().double(), target.double()).mean()
    assert float(SSIMLoss()(pred.detach(), target)) == pytest.approx(float(expected), abs=1e-5)


def test_random_features_are_fixed_and_multi_scale():
    a, b = RandomFeatures(), RandomFeatures()
    x = torch.rand(1, 1, 32, 32)
    fa, fb = a(x, a.layer_names), b(x, b.layer_names)
    assert [f.shape[-1] for f in fa.values()] == [32, 16, 8, 4]
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training


def test_vgg19_layout_matches_torchvision_names_and_needs_weights(tmp_path):
    net = VGG19Features(weights=False)
    keys = set(net.features.state_dict())
    assert "0.weight" in keys and "34.weight" in keys and len([k for k in keys if k.endswith("weight")]) == 16
    assert net.layer_names.index("conv5_4") == 34
    feats = net(torch.rand(1, 1, 32, 32), ["conv1_2", "conv5_4"])
    assert feats["conv1_2"].shape[1] == 64 and feats["conv5_4"].shape[1] == 512
    # a torchvision-style file loads (keys "features.N.*")
    from safetensors.torch import save_file

    state = {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
    save_file(state, str(tmp_path / "vgg19.safetensors"))
    loaded = VGG19Features(weights=str(tmp_path / "vgg19.safetensors"))
    assert torch.equal(loaded.features[0].weight, net.features[0].weight)
    with pytest.raises(MissingResourceError, match="vgg19-dcbb9e9d.pth"):
        PerceptualLoss("vgg19", weights_dir=str(tmp_path / "empty"))


def test_model_features_from_a_restora_network():
    from restora.nn import create_model

    feats = ModelFeatures(create_model("dncnn", in_channels=1, depth=5, features=8), in_channels=1)
    assert len(feats.layer_names) == 4 and len(feats.default_layers) == 3
    loss = PerceptualLoss(feats)
    pred, target = pair(3)
    value = loss(pred, target)
    value.backward()
    assert torch.isfinite(value) and pred.grad.abs().sum() > 0


def test_perceptual_bad_layer():
    with pytest.raises(ConfigError, match="stage1"):
        PerceptualLoss("random", layers=["conv9"])


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge", "wgan-gp"])
def test_gan_losses_push_the_right_way(kind):
    gan = GANLoss(kind)
    # logits where every formulation still has a gradient (LSGAN targets are 1 and 0)
    real = torch.tensor([0.2, 0.4], requires_grad=True)
    fake = torch.tensor([0.3, 0.6], requires_grad=True)
    d = gan.discriminator_loss(real, fake)
    d.backward()
    assert torch.isfinite(d)
    # the discriminator lowers its loss by raising real logits and lowering fake ones
    assert (real.grad <= 0).all() and (fake.grad >= 0).all() and (real.grad.abs() + fake.grad.abs()).sum() > 0
    fake2 = torch.tensor([0.3, 0.6], requires_grad=True)
    g = gan.generator_loss(fake2)
    g.backward()
    assert torch.isfinite(g) and (fake2.grad < 0).all()  # the generator wants fakes to look real


def test_gan_loss_known_values():
    z = torch.zeros(4)
    assert float(GANLoss("vanilla").discriminator_loss(z, z)) == pytest.approx(2 * 0.6931471805599453)
    assert float(GANLoss("lsgan").discriminator_loss(z, z)) == pytest.approx(1.0)
    assert float(GANLoss("hinge").discriminator_loss(torch.full((4,), 2.0), torch.full((4,), -2.0))) == 0.0
    assert float(GANLoss("wgan-gp").discriminator_loss(torch.full((4,), 1.5), torch.full((4,), -0.5))) == pytest.approx(-2.0)


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_wgan_gp_penalty_known_cases():
    real, fake = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    # ||w|| = 3 -> penalty (3 - 1)^2 = 4, whatever the interpolation
    w = torch.zeros(1, 1, 4, 4)
    w[0, 0, 0, 0] = 3.0
    gp = gradient_penalty(Linear(w), real, fake)
    assert float(gp.detach()) == pytest.approx(4.0)
    # unit-norm gradient: no penalty
    w = torch.full((1, 1, 4, 4), 0.25)
    assert float(gradient_penalty(Linear(w), real, fake).detach()) == pytest.approx(0.0, abs=1e-10)
    # D(x) = ||x||^2 / 2 has gradient x; with real == fake the penalty is (||x|| - 1)^2 exactly
    quad = lambda x: 0.5 * (x**2).flatten(1).sum(1)  # noqa: E731
    quad_module = type("Q", (nn.Module,), {"forward": lambda self, x: quad(x)})()
    x = torch.rand(2, 1, 3, 3)
    expected = ((x.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert float(gradient_penalty(quad_module, x, x).detach()) == pytest.approx(float(expected), rel=1e-5)
    # and the penalty is differentiable w.r.t. the critic's weights: d/dw (||w|| - 1)^2
    lin = Linear(torch.full((1, 1, 4, 4), 0.5))
    gradient_penalty(lin, real, fake).backward()
    norm = 0.5 * 4  # ||w|| = sqrt(16 * 0.25) = 2
    assert torch.allclose(lin.w.grad, 2 * (norm - 1) * lin.w.detach() / norm)


def test_build_losses_weights_and_options():
    terms = build_losses({"l1": 1.0, "charbonnier": {"weight": 0.5, "eps": 1e-2}, "fft": 0, "gan": {"weight": 0.1, "kind": "hinge"}})
    assert [(t.name, t.weight) for t in terms] == [("l1", 1.0), ("charbonnier", 0.5), ("gan", 0.1)]
    assert terms[1].module.eps == 1e-2 and terms[2].module.kind == "hinge"
    with pytest.raises(ConfigError, match="loss.gan.kind"):
        build_losses({"l1": 1, "gan": {"kind": "wgan"}})


def test_auto_network_takes_vgg19_when_its_weights_are_present(tmp_path, monkeypatch):
    import restora.metrics.weights as w
    from restora.train.features import VGG19_FILE, build_feature_network

    monkeypatch.setattr(w, "weights_search_dirs", lambda weights_dir=None: [tmp_path])
    net = build_feature_network("auto")
    assert isinstance(net, RandomFeatures) and net.network == "random"
    assert PerceptualLoss().net.network == "random"  # the default is auto
    state = {f"features.{k}": v for k, v in VGG19Features(weights=False).features.state_dict().items()}
    torch.save(state, tmp_path / VGG19_FILE)
    net = build_feature_network("auto")
    assert isinstance(net, VGG19Features) and net.network == "vgg19"
    assert torch.equal(net.features[0].weight, state["features.0.weight"])
