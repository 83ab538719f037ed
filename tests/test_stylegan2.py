"""StyleGAN2 generator/discriminator, GAN losses, DiffAugment and the face-prior trainer."""

import json

import numpy as np
import pytest
import torch

from restora.errors import ConfigError, InvalidParameterError
from restora.nn import create_model, describe
from restora.nn.stylegan2 import (
    ModulatedConv2d,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    channels_for,
    d_logistic_loss,
    g_nonsaturating_loss,
    minibatch_stddev,
    num_ws_for,
    r1_penalty,
)
from restora.train.augment import diff_augment, rand_cutout, rand_translation

TINY_G = dict(resolution=32, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
TINY_D = dict(resolution=32, channel_base=256, channel_max=16)


def _g(**kw):
    torch.manual_seed(0)
    return StyleGAN2Generator(**{**TINY_G, **kw})


# -- generator ----------------------------------------------------------------------------


def test_generator_shapes_from_z_and_w_plus():
    g = _g()
    assert g.num_ws == num_ws_for(32) == 8
    assert g.channels == {4: 16, 8: 16, 16: 16, 32: 8} == channels_for(32, 256, 16)
    z = torch.randn(3, 16)
    assert g(z).shape == (3, 3, 32, 32)
    ws = torch.randn(3, g.num_ws, 16)
    img, feat = g(ws, return_feature=True)
    assert img.shape == (3, 3, 32, 32) and feat.shape == (3, g.feature_channels, 16, 16)
    with pytest.raises(InvalidParameterError, match="w\\+ must be"):
        g(torch.randn(3, 5, 16))
    with pytest.raises(InvalidParameterError, match="z must be"):
        g(torch.randn(3, 7))
    with pytest.raises(InvalidParameterError, match="resolution must be a power of two"):
        StyleGAN2Generator(resolution=48)


def test_w_plus_layers_act_separately():
    g = _g().eval()
    ws = g.map(torch.randn(2, 16))
    base = g(ws, noise_mode="none")
    ws2 = ws.clone()
    ws2[:, -1] += 1.0  # the last toRGB only
    out = g(ws2, noise_mode="none")
    assert not torch.allclose(out, base)
    ws3 = ws.clone()
    ws3[:, 0] += 1.0
    assert not torch.allclose(g(ws3, noise_mode="none"), base)


def test_demodulation_keeps_unit_variance_and_ignores_style_scale():
    torch.manual_seed(1)
    conv = ModulatedConv2d(64, 32, 3, 16)
    x = torch.randn(4, 64, 24, 24)
    w = torch.randn(4, 16)
    with torch.no_grad():
        y = conv(x, w)
        assert abs(float(y[..., 1:-1, 1:-1].std()) - 1.0) < 0.1
        # demodulated output is invariant to a global scale of the style
        conv.affine.bias.mul_(5.0)
        conv.affine.weight.mul_(5.0)
        y5 = conv(x, w)
        assert torch.allclose(y, y5, atol=1e-4)
        plain = ModulatedConv2d(64, 32, 3, 16, demodulate=False)
        plain.load_state_dict(conv.state_dict())
        assert float(plain(x, w).std()) > 3.0  # without demodulation the scale passes through


def test_noise_matters_only_with_nonzero_strength():
    g = _g().eval()
    ws = g.map(torch.randn(2, 16))
    a = g(ws, noise_mode="random")
    b = g(ws, noise_mode="random")
    c = g(ws, noise_mode="none")
    assert torch.equal(a, b) and torch.equal(a, c)  # strengths start at 0
    with torch.no_grad():
        g.convs[1].noise.strength.fill_(0.5)
    a = g(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
    a2 = g(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
    b = g(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, a2) and not torch.allclose(a, b)
    assert torch.equal(g(ws, noise_mode="const"), g(ws, noise_mode="const"))
    noise = g.make_noise(2)
    assert [n.shape[-1] for n in noise] == g.noise_sizes == [4, 8, 8, 16, 16, 32, 32]
    zero = [torch.zeros_like(n) for n in noise]
    assert torch.allclose(g(ws, noise=zero), g(ws, noise_mode="none"))
    with pytest.raises(InvalidParameterError, match="noise must list 7"):
        g(ws, noise=noise[:3])


def test_feature_injection_replaces_the_16x16_activation():
    g = _g().eval()
    ws = g.map(torch.randn(2, 16))
    img, feat = g(ws, noise_mode="const", return_feature=True)
    assert torch.allclose(g(ws, noise_mode="const", feature=feat), img, atol=1e-6)
    other = g(ws, noise_mode="const", feature=feat + torch.randn_like(feat))
    assert (other - img).abs().mean() > 1e-3
    with pytest.raises(InvalidParameterError, match="feature must be B x 16 x 16 x 16"):
        g(ws, feature=torch.randn(2, 8, 16, 16))


def test_mapping_pixel_norm_truncation_and_w_avg():
    g = _g()
    z = torch.randn(4, 16)
    assert torch.allclose(g.mapping(z), g.mapping(3.0 * z), atol=1e-5)  # pixel norm
    g.train()
    before = g.w_avg.clone()
    g(z)
    assert not torch.equal(g.w_avg, before)  # tracked in training
    g.eval()
    after = g.w_avg.clone()
    g(z)
    assert torch.equal(g.w_avg, after)  # frozen in eval
    ws = g.map(z)
    assert ws.shape == (4, g.num_ws, 16) and torch.equal(ws[:, 0], ws[:, -1])
    ws0 = g.map(z, truncation_psi=0.0)
    assert torch.allclose(ws0, g.w_avg.expand_as(ws0))
    half = g.map(z, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.allclose(half[:, :3], g.w_avg + 0.5 * (ws[:, :3] - g.w_avg), atol=1e-6)
    assert torch.equal(half[:, 3:], ws[:, 3:])
    assert g.mean_latent(256).shape == (16,)


# -- discriminator and losses --------------------------------------------------------------


def test_discriminator_shape_and_registry():
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(**TINY_D)
    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    y = d(x)
    assert y.shape == (4, 1)
    y.sum().backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is not None for p in d.parameters())
    with pytest.raises(InvalidParameterError, match="32x32"):
        d(torch.randn(2, 3, 16, 16))
    dd = create_model("stylegan2-discriminator", **TINY_D)
    assert describe(dd, measure_flops=False).task == "discriminator"
    gg = create_model("stylegan2-generator", **TINY_G)
    assert describe(gg, measure_flops=False).task == "generate"
    assert gg(torch.randn(1, 16)).shape == (1, 3, 32, 32)


def test_minibatch_stddev_values_and_groups():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 4, 4)
    y = minibatch_stddev(x, group_size=2)
    assert y.shape == (4, 7, 4, 4)
    assert torch.equal(y[:, :6], x)
    # batch 4, groups of 2: samples (0, 2) and (1, 3) share a statistic
    expect0 = x[[0, 2]].std(dim=0, unbiased=False).mean()
    expect1 = x[[1, 3]].std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[0, 6], expect0.expand(4, 4), atol=1e-5)
    assert torch.allclose(y[2, 6], expect0.expand(4, 4), atol=1e-5)
    assert torch.allclose(y[1, 6], expect1.expand(4, 4), atol=1e-5)
    # a shared shift leaves it unchanged; identical samples give (almost) zero
    assert torch.allclose(minibatch_stddev(x + 3.0, 2)[:, 6], y[:, 6], atol=1e-5)
    same = x[:1].expand(4, -1, -1, -1)
    assert float(minibatch_stddev(same, 4)[:, 6].max()) < 1e-3
    # group size falls back to a divisor of the batch
    assert minibatch_stddev(torch.randn(3, 2, 4, 4), 4).shape == (3, 3, 4, 4)


def test_logistic_losses_signs_and_gradients():
    zero = torch.zeros(5, 1)
    assert float(g_nonsaturating_loss(zero)) == pytest.approx(np.log(2))
    assert float(d_logistic_loss(zero, zero)) == pytest.approx(2 * np.log(2))
    # a better discriminator has a lower loss; a better generator too
    assert d_logistic_loss(zero + 3, zero - 3) < d_logistic_loss(zero, zero) < d_logistic_loss(zero - 3, zero + 3)
    fake = torch.zeros(5, 1, requires_grad=True)
    g_nonsaturating_loss(fake).backward()
    assert (fake.grad < 0).all()  # G wants D(fake) up
    real, fake = torch.zeros(5, 1, requires_grad=True), torch.zeros(5, 1, requires_grad=True)
    d_logistic_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()


def test_r1_penalty_exact_for_a_linear_critic_and_positive_for_d():
    a = torch.randn(3, 8, 8)
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    logits = (x * a).flatten(1).sum(1, keepdim=True)
    assert float(r1_penalty(logits, x)) == pytest.approx(float(a.square().sum()), rel=1e-5)
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(**TINY_D)
    real = torch.randn(4, 3, 32, 32, requires_grad=True)
    pen = r1_penalty(d(real), real)
    assert float(pen.detach()) > 0
    pen.backward()
    # every weight shapes dD/dx except the logit's bias, which is constant in x
    missing = [n for n, p in d.named_parameters() if p.grad is None]
    assert missing == ["out.bias"]


def test_detached_fakes_and_frozen_d_give_no_cross_gradients():
    g = _g()
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(**TINY_D)
    z = torch.randn(4, 16)
    with torch.no_grad():
        fake = g(z)
    d_logistic_loss(d(torch.randn(4, 3, 32, 32)), d(fake)).backward()
    assert all(p.grad is None for p in g.parameters())
    d.zero_grad(set_to_none=True)
    d.requires_grad_(False)
    g_nonsaturating_loss(d(g(z))).backward()
    assert all(p.grad is None for p in d.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


# -- DiffAugment ---------------------------------------------------------------------------


def test_diffaugment_is_seeded_and_differentiable():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    a = diff_augment(x, generator=torch.Generator().manual_seed(5))
    b = diff_augment(x, generator=torch.Generator().manual_seed(5))
    c = diff_augment(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(diff_augment(x, ""), x)
    xg = x.clone().requires_grad_(True)
    out = diff_augment(xg, generator=torch.Generator().manual_seed(5))
    (out * torch.randn_like(out)).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    with pytest.raises(InvalidParameterError, match="policy 'blur'"):
        diff_augment(x, "color,blur")


def test_translation_shifts_and_cutout_zeros_a_square():
    x = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16) + 1
    t = rand_translation(x, 0.125, torch.Generator().manual_seed(0))
    for i in range(2):
        kept = t[i][t[i] != 0]
        assert kept.numel() >= 14 * 14
        vals = set(x[i].flatten().tolist())
        assert set(kept.tolist()) <= vals  # pixels only move (no interpolation)
    ones = torch.ones(8, 3, 16, 16)
    cut = rand_cutout(ones, 0.5, torch.Generator().manual_seed(0))
    zeros_per_sample = (cut[:, 0] == 0).flatten(1).sum(1)
    assert (zeros_per_sample <= 64).all() and (zeros_per_sample > 0).all()
    assert torch.equal(cut[:, 0], cut[:, 2])  # same mask on every channel


# -- trainer -------------------------------------------------------------------------------


@pytest.fixture
def face_folder(tmp_path):
    from restora.io import write_image

    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        write_image(folder / f"f{i}.png", rng.random((24, 24, 3)).astype(np.float32))
    return folder


def _tiny_cfg(out, data):
    from restora.train.gan_prior import GANPriorConfig

    return GANPriorConfig(
        output=str(out), data=str(data), resolution=16, batch=4, steps=3, r1_interval=2, log_every=1,
        checkpoint_every=2, sample_every=0,
        generator=dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
        discriminator=dict(channel_base=64, channel_max=8),
    )


def test_trainer_resumes_bit_exactly(tmp_path, face_folder):
    from restora.train.gan_prior import GANPriorTrainer, load_generator, write_sample_grid

    full = GANPriorTrainer(_tiny_cfg(tmp_path / "full", face_folder))
    assert full.images.shape == (6, 3, 16, 16) and full.images.min() >= -1 and full.images.max() <= 1
    rec_full = full.train()
    assert [r["step"] for r in rec_full] == [1, 2, 3]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) and r["r1"] > 0 for r in rec_full)

    part = GANPriorTrainer(_tiny_cfg(tmp_path / "part", face_folder))
    part.train(2)  # checkpoint at step 2
    del part
    resumed = GANPriorTrainer(_tiny_cfg(tmp_path / "part", face_folder))
    assert resumed.step_count == 2
    rec = resumed.train()
    assert rec[-1]["step"] == 3
    for key in ("loss_d", "loss_g", "r1", "d_real", "d_fake"):
        assert rec[-1][key] == rec_full[-1][key], key
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
    log = [json.loads(line) for line in (tmp_path / "part" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]

    g = load_generator(tmp_path / "part")
    for a, b in zip(g.state_dict().values(), resumed.ema.module.state_dict().values()):
        assert torch.equal(a, b)
    png = write_sample_grid(g, tmp_path / "grid.png", n=6, nrow=3)
    from restora.io import read_image

    assert read_image(png).shape == (2 * 18 + 2, 3 * 18 + 2, 3)

    changed = _tiny_cfg(tmp_path / "part", face_folder)
    changed.batch = 2
    with pytest.raises(ConfigError, match="changed settings batch"):
        GANPriorTrainer(changed)
