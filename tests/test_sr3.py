"""SR3 (restora.nn.sr3, restora.train.sr3, restora.sr3_restorer): tiny and fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restora.errors import InvalidParameterError, MissingResourceError
from restora.nn.sr3 import Diffusion, SR3UNet, make_betas, noise_level_embedding, respace, upsample_condition
from restora.train.sr3 import SR3Config, SR3Trainer, load_sr3

TINY = {"base": 8, "mults": [1, 2], "num_res": 1, "attention": True, "emb_dim": 16}


def _images(n: int = 6, r: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, r // 4, r // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(r, r), mode="bilinear", align_corners=False) * 2 - 1


def _cfg(tmp_path, **kw) -> SR3Config:
    base = dict(output=str(tmp_path / "run"), resolution=16, model=dict(TINY), batch=4, steps=4,
                train_steps=100, log_every=1, checkpoint_every=2, lr=1e-3)
    base.update(kw)
    return SR3Config(**base)


def test_unet_shapes_and_size_check():
    torch.manual_seed(0)
    m = SR3UNet(**{**TINY, "mults": (1, 2)})
    y = torch.randn(2, 3, 16, 24)
    out = m(y, y, torch.tensor([0.3, 0.9]))
    assert out.shape == y.shape
    with pytest.raises(InvalidParameterError):
        m(torch.randn(1, 3, 15, 16), torch.randn(1, 3, 15, 16), torch.tensor([0.5]))


def test_embedding_distinguishes_levels():
    e = noise_level_embedding(torch.tensor([0.5, 0.5001, 0.9]), 32)
    assert e.shape == (3, 32)
    assert torch.all(torch.isfinite(e))
    assert (e[0] - e[1]).abs().max() > 1e-3


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedule_monotone(schedule):
    b = make_betas(schedule, 1000)
    ab = np.cumprod(1 - b)
    assert np.all(b > 0) and np.all(b < 1)
    assert np.all(np.diff(ab) < 0)
    assert ab[0] > 0.99 and ab[-1] < 0.01


@pytest.mark.parametrize("k", [1, 10, 25, 250, 1000])
def test_respacing_keeps_endpoints(k):
    ab = np.cumprod(1 - make_betas("linear", 1000))
    idx, betas = respace(ab, k)
    assert len(idx) == k and idx[-1] == 999
    if k > 1:
        assert idx[0] == 0
    # the respaced betas reproduce alpha_bar at the kept steps
    np.testing.assert_allclose(np.cumprod(1 - betas), ab[idx], rtol=1e-10)
    with pytest.raises(InvalidParameterError):
        respace(ab, 1001)


def test_continuous_levels_between_steps():
    d = Diffusion("linear", 100)
    lv = d.sample_levels(5000, torch.Generator().manual_seed(0)).double().numpy()
    assert lv.min() >= d.sqrt_ab[-1] - 1e-6 and lv.max() <= 1.0
    assert len(np.unique(lv)) > 4900  # continuous (float32 ties aside), not the 100 discrete levels


def test_training_reduces_loss_on_fixed_batch():
    torch.manual_seed(0)
    m = SR3UNet(**{**TINY, "mults": (1, 2)})
    d = Diffusion("linear", 100)
    hr = _images(4)
    cond = upsample_condition(torch.nn.functional.avg_pool2d(hr, 4), 4)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)

    def fixed_loss():
        return d.loss(m, hr, cond, torch.Generator().manual_seed(7))

    with torch.no_grad():
        before = float(fixed_loss())
    for _ in range(15):
        loss = fixed_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(fixed_loss())
    assert after < before * 0.9


def test_sampling_deterministic_for_seed():
    torch.manual_seed(0)
    m = SR3UNet(**{**TINY, "mults": (1, 2)}).eval()
    for p in m.parameters():  # non-zero output layer so the network matters
        p.data.add_(0.01 * torch.randn_like(p))
    d = Diffusion("linear", 100)
    cond = torch.rand(1, 3, 16, 16) * 2 - 1
    calls = []
    a = d.sample(m, cond, 5, rng=3, progress=lambda i, n: calls.append((i, n)))
    b = d.sample(m, cond, 5, rng=3)
    c = d.sample(m, cond, 5, rng=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert calls == [(i, 5) for i in range(1, 6)]
    assert a.shape == cond.shape and torch.all(a.abs() <= 1.0 + 1e-5)


def test_resume_is_bit_exact(tmp_path):
    imgs = _images(6)
    full = SR3Trainer(_cfg(tmp_path / "a"), resume=False, images=imgs)
    rec_full = full.train()
    half = SR3Trainer(_cfg(tmp_path / "b", steps=2), resume=False, images=imgs)
    half.train()
    resumed = SR3Trainer(_cfg(tmp_path / "b"), resume=True, images=imgs)
    assert resumed.step_count == 2
    rec_res = resumed.train()
    assert [r["loss"] for r in rec_full[2:]] == [r["loss"] for r in rec_res]
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for k, v in full.ema.module.state_dict().items():
        assert torch.equal(v, resumed.ema.module.state_dict()[k]), k
    log = (tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()
    assert [eval(line)["step"] for line in log] == [1, 2, 3, 4]
    # the export loads back into an identical network
    model, diff, card = load_sr3(tmp_path / "a" / "run" / "sr3-faces-x4.safetensors")
    assert card["trained_steps"] == 4 and "research only" in card["license_note"]
    for k, v in full.ema.module.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])


def test_restorer_missing_weights_and_run(tmp_path, monkeypatch):
    from restora import sr3_restorer
    from restora.restorers import get_restorer_info

    assert get_restorer_info("sr3").task == "sr"
    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("RESTORA_SR3", raising=False)
    monkeypatch.setattr("restora.zoo.store.PACKAGE_WEIGHTS", tmp_path / "no-package")
    with pytest.raises(MissingResourceError) as err:
        sr3_restorer.SR3Restorer()
    assert "\n" not in str(err.value) and "RESTORA_SR3" in str(err.value)
    monkeypatch.setenv("RESTORA_SR3", str(tmp_path / "missing.safetensors"))
    with pytest.raises(MissingResourceError):
        sr3_restorer.find_sr3_weights()
    # a trained (tiny) export runs through the restorer, deterministically
    tr = SR3Trainer(_cfg(tmp_path, steps=1), resume=False, images=_images(4))
    tr.train()
    monkeypatch.setenv("RESTORA_SR3", str(tmp_path / "run" / "sr3-faces-x4.safetensors"))
    seen = []
    r = sr3_restorer.SR3Restorer(steps=3, progress=lambda i, n: seen.append(i))
    lr = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
    out = r(lr, scale=4)
    assert out.shape == (16, 20, 3) and out.dtype == np.float32 and seen == [1, 2, 3]
    np.testing.assert_array_equal(out, r(lr, scale=4))
    assert r(lr[..., :1], scale=4).shape == (16, 20, 1)
    with pytest.raises(InvalidParameterError):
        r(lr, scale=2)
