"""Learned deblurring architectures: SRN-DeblurNet (scale-recurrent, shared weights), the
DeblurGAN generator and the PatchGAN critic; short runs through the real trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_image
from scipy.ndimage import gaussian_filter

from restora.errors import ConfigError, InvalidParameterError
from restora.nn import count_params, create_model, describe, get_arch
from restora.train.losses import GANLoss, build_losses

SRN_TINY = dict(features=4, blocks=1, kernel_size=3)
GAN_TINY = dict(features=4, blocks=1)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randomise_output_conv(model: torch.nn.Module, conv: torch.nn.Conv2d) -> None:
    # the residual models start as the identity (zero output conv); give it weights
    with torch.no_grad():
        conv.weight.normal_(0, 0.05)
        conv.bias.normal_(0, 0.05)


# ---------------------------------------------------------------- registry
def test_specs_are_registered():
    assert get_arch("srn").task == "deblur"
    assert get_arch("deblurgan").task == "deblur"
    assert get_arch("patchgan").task == "discriminator"
    d = describe(create_model("srn", **SRN_TINY))
    assert d.size_multiple == 1 and d.in_channels == d.out_channels == 3 and d.flops_per_pixel > 0
    assert describe(create_model("patchgan", features=4)).size_multiple == 8


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(InvalidParameterError, match="srn recurrent must be one of lstm, none"):
        create_model("srn", recurrent="gru")
    with pytest.raises(InvalidParameterError, match="patchgan norm must be one of instance, none"):
        create_model("patchgan", norm="batch")
    with pytest.raises(InvalidParameterError, match="deblurgan dropout"):
        create_model("deblurgan", dropout=1.0)
    with pytest.raises(InvalidParameterError, match="bad arguments for architecture 'srn'"):
        create_model("srn", levels=3)


# ---------------------------------------------------------------- SRN
@pytest.mark.parametrize("hw", [(33, 37), (5, 7), (64, 48)])
def test_srn_odd_sizes_and_scales(hw):
    h, w = hw
    model = create_model("srn", **SRN_TINY)
    x = torch.rand(2, 3, h, w)
    outs = model.forward_scales(x)
    assert len(outs) == 3
    assert [tuple(o.shape[-2:]) for o in outs] == [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
    assert model(x).shape == x.shape
    two = create_model("srn", **SRN_TINY, scales=2)
    assert [tuple(o.shape[-2:]) for o in two.forward_scales(x)] == [(-(-h // 2), -(-w // 2)), (h, w)]


def test_srn_untrained_residual_is_identity_at_every_scale():
    x = torch.rand(1, 3, 32, 40)
    outs = create_model("srn", **SRN_TINY).forward_scales(x)
    assert torch.equal(outs[-1], x)
    assert torch.allclose(outs[0], torch.nn.functional.avg_pool2d(x, 4), atol=1e-6)


def test_srn_weights_are_shared_across_scales():
    models = {s: create_model("srn", **SRN_TINY, scales=s) for s in (1, 2, 3, 4)}
    counts = {s: count_params(m) for s, m in models.items()}
    assert len(set(counts.values())) == 1, counts
    # one set of weights runs at every scale: a 3-scale state dict loads strictly into 1..4 scales
    state = models[3].state_dict()
    for m in models.values():
        m.load_state_dict(state, strict=True)
    # more scales, more compute, same weights
    assert describe(models[3]).flops_per_pixel > describe(models[1]).flops_per_pixel


def test_srn_lstm_ablation_changes_params_and_output():
    torch.manual_seed(0)
    lstm = create_model("srn", **SRN_TINY, residual=False)
    none = create_model("srn", **SRN_TINY, residual=False, recurrent="none")
    c = 4 * SRN_TINY["features"]
    gates = 2 * c * 4 * c * 9 + 4 * c  # the ConvLSTM's 3x3 gate conv
    assert count_params(lstm) - count_params(none) == gates
    # identical shared weights except the LSTM: the outputs still differ
    missing, unexpected = none.load_state_dict(lstm.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("net.lstm.") for k in unexpected)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = lstm.forward_scales(x), none.forward_scales(x)
    assert all((p - q).abs().max() > 1e-4 for p, q in zip(a, b))


def test_srn_lstm_state_is_carried_from_scale_to_scale():
    model = create_model("srn", **SRN_TINY)
    seen: list = []
    model.net.lstm.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    model(torch.rand(1, 3, 32, 48))
    assert seen[0] is None  # coarsest scale starts from zeros
    assert [tuple(s[0].shape[-2:]) for s in seen[1:]] == [(4, 6), (8, 12)]  # upsampled to the next bottleneck
    assert all(s[0].abs().sum() > 0 and s[1].abs().sum() > 0 for s in seen[1:])


def test_srn_gradients_reach_every_parameter_and_the_input():
    torch.manual_seed(0)
    model = create_model("srn", **SRN_TINY)
    _randomise_output_conv(model, model.net.dec1[-1])
    x = torch.rand(1, 3, 20, 28, requires_grad=True)
    sum(o.square().mean() for o in model.forward_scales(x)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


# ---------------------------------------------------------------- DeblurGAN
@pytest.mark.parametrize("hw", [(33, 37), (6, 10), (32, 32)])
def test_deblurgan_odd_sizes_and_identity_start(hw):
    model = create_model("deblurgan", **GAN_TINY).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)  # global residual, zero output conv: starts as the identity


def test_deblurgan_is_a_global_residual_with_dropout_in_training_only():
    torch.manual_seed(0)
    model = create_model("deblurgan", **GAN_TINY)
    _randomise_output_conv(model, model.body[-2])
    x = torch.rand(1, 3, 24, 24)
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x), model(x)
        r = e1 - x
    assert torch.equal(e1, e2) and r.abs().max() > 1e-3 and r.abs().max() <= 1.0  # tanh residual, no clamp
    model.train()
    with torch.no_grad():
        t1, t2 = model(x), model(x)
    assert not torch.equal(t1, t2)  # dropout
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in model.modules()) == 2 * 1 + 5
    nodrop = create_model("deblurgan", **GAN_TINY, dropout=0.0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in nodrop.modules())


def test_deblurgan_paper_size_and_gradients():
    big = create_model("deblurgan", features=64, blocks=9)
    assert 11_000_000 < count_params(big) < 11_800_000  # the ResNet-9 generator of the paper
    torch.manual_seed(0)
    model = create_model("deblurgan", **GAN_TINY)
    _randomise_output_conv(model, model.body[-2])
    x = torch.rand(2, 3, 17, 23, requires_grad=True)
    model(x).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


# ---------------------------------------------------------------- PatchGAN
@pytest.mark.parametrize("side", [32, 64, 70, 256])
def test_patchgan_gives_a_patch_map(side):
    d = create_model("patchgan", features=4)
    y = d(torch.rand(2, 3, side, side + 8))
    assert y.shape == (2, 1, side // 8 - 2, (side + 8) // 8 - 2)


def test_patchgan_receptive_field_is_70_pixels():
    d = create_model("patchgan", features=4, norm="none")
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    d(x)[0, 0, 8, 8].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    cols = torch.nonzero(x.grad.abs().sum((0, 1)).sum(0)).flatten()
    assert int(rows[-1] - rows[0]) + 1 == 70 and int(cols[-1] - cols[0]) + 1 == 70


def test_patchgan_instance_norm_keeps_samples_independent():
    # the WGAN-GP penalty needs per-sample gradients: no batch statistics
    torch.manual_seed(0)
    d = create_model("patchgan", features=4)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules())
    a = torch.rand(2, 3, 32, 32)
    b = a.clone()
    b[1] = torch.rand(3, 32, 32)
    assert torch.equal(d(a)[0], d(b)[0])


def test_gan_n_critic_option():
    (gan,) = [t for t in build_losses({"l1": 1.0, "gan": {"kind": "wgan-gp", "weight": 0.1, "n_critic": 5}}) if t.name == "gan"]
    assert gan.module.n_critic == 5 and GANLoss().n_critic == 1
    with pytest.raises(ConfigError, match="n_critic"):
        GANLoss("wgan-gp", n_critic=0)


# ---------------------------------------------------------------- training runs
@pytest.fixture(scope="module")
def blur_pairs(tmp_path_factory) -> dict[str, str]:
    from restora.io import write_image

    root = tmp_path_factory.mktemp("blur")
    folders = {k: root / k for k in ("hq", "lq", "vhq", "vlq")}
    for f in folders.values():
        f.mkdir()
    for i in range(4):
        img = synthetic_image(40, 48, 3, seed=i)
        write_image(folders["hq"] / f"im{i}.png", img)
        write_image(folders["lq"] / f"im{i}.png", gaussian_filter(img, (1.5, 1.5, 0)))
    img = synthetic_image(40, 40, 3, seed=9)
    write_image(folders["vhq"] / "v.png", img)
    write_image(folders["vlq"] / "v.png", gaussian_filter(img, (1.5, 1.5, 0)))
    return {k: str(v) for k, v in folders.items()}


def _recipe(pairs: dict[str, str], out: Path, **extra) -> dict:
    recipe = {
        "name": "deblur-smoke",
        "output": str(out),
        "data": {"train": pairs["hq"], "lq": pairs["lq"], "patch_size": 32, "batch_size": 2, "workers": 0,
                 "degradation": {"type": "none"}},
        "val": {"data": pairs["vhq"], "lq": pairs["vlq"], "images": 1, "crop": 32, "every": 0},
        "optim": {"lr": 1e-3, "warmup_steps": 0},
        "train": {"steps": 3, "log_every": 1, "checkpoint_every": 0, "ema": 0},
    }
    recipe.update(extra)
    return recipe


def test_srn_trains_with_multiscale_supervision(blur_pairs, tmp_path):
    from restora import zoo
    from restora.train import load_config, train
    from restora.train.logs import read_log

    recipe = _recipe(blur_pairs, tmp_path / "srn", model={"arch": "srn", "args": SRN_TINY}, loss={"l1": 1.0})
    res = train(load_config(data=recipe))
    assert res.finished and res.step == 3 and res.export_path is not None
    assert res.model.net.dec1[-1].weight.abs().sum() > 0  # the zero-initialised output conv has learned
    log = [r for r in read_log(tmp_path / "srn" / "log.jsonl") if "losses" in r]
    assert len(log) == 3 and all(np.isfinite(r["loss"]) for r in log)
    loaded = zoo.load(str(res.export_path))
    assert loaded.card.arch == "srn" and loaded.card.args["recurrent"] == "lstm"
    x = torch.rand(1, 3, 21, 27)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), res.model.eval()(x))


def test_deblurgan_trains_against_a_patchgan_critic_with_wgan_gp(blur_pairs, tmp_path):
    from restora.train import load_config, train
    from restora.train.checkpoint import latest_checkpoint, load_checkpoint
    from restora.train.logs import read_log

    recipe = _recipe(
        blur_pairs, tmp_path / "gan",
        model={"arch": "deblurgan", "args": GAN_TINY},
        loss={"l1": 1.0, "gan": {"kind": "wgan-gp", "weight": 0.01, "n_critic": 2}},
        discriminator={"arch": "patchgan", "args": {"features": 4}, "optim": {"lr": 1e-4, "schedule": "constant"}},
    )
    res = train(load_config(data=recipe))
    assert res.finished and res.export_path is not None
    log = [r for r in read_log(tmp_path / "gan" / "log.jsonl") if "losses" in r]
    assert len(log) == 3
    assert all("gan" in r["losses"] and np.isfinite(r["d_loss"]) and r["gp"] >= 0 for r in log)
    _, state = load_checkpoint(latest_checkpoint(tmp_path / "gan" / "checkpoints"))
    d_steps = {int(s["step"]) for s in state["d_optimizer"]["state"].values()}
    g_steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert d_steps == {6} and g_steps == {3}  # n_critic=2 critic updates per generator update
