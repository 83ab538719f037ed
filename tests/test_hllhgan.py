"""HLLHGAN: architectures, the held-out camera chain and the resumable trainer (tiny sizes)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from restora.nn.hllhgan import HighToLow, LowToHigh, SNDiscriminator, hinge_d_loss, hinge_g_loss
from restora.train.hllhgan import HLLHConfig, HLLHTrainer, camera_degrade, load_h2l, split_faces


def _faces(n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 8, 8, generator=g)
    return F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)


def test_shapes_and_noise_changes_output() -> None:
    h2l = HighToLow(features=8, blocks=1, z_dim=4)
    x = torch.rand(2, 3, 64, 64)
    y0 = h2l(x, torch.zeros(2, 4))
    assert y0.shape == (2, 3, 16, 16)
    # freshly built: a plain 4x box downscale (zero-initialised tail)
    assert torch.allclose(y0, F.avg_pool2d(x, 4), atol=1e-6)
    assert LowToHigh(features=8, blocks=1)(torch.rand(2, 3, 16, 16)).shape == (2, 3, 64, 64)
    for r in (16, 64):
        d = SNDiscriminator(r, 8)
        assert d(torch.rand(3, 3, r, r)).shape == (3,)
        convs = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    with torch.no_grad():
        h2l.tail.weight.normal_(0, 0.1)
    z = torch.randn(2, 4)
    assert not torch.allclose(h2l(x, z), h2l(x, -z))


def test_hinge_losses() -> None:
    assert float(hinge_d_loss(torch.tensor([2.0]), torch.tensor([-2.0]))) == 0.0
    assert float(hinge_d_loss(torch.tensor([0.0]), torch.tensor([0.0]))) == 2.0
    assert float(hinge_g_loss(torch.tensor([1.0, 3.0]))) == -2.0


def test_camera_chain_deterministic_and_degrading() -> None:
    rng = np.random.default_rng(0)
    hr = np.kron(rng.random((8, 8, 3)), np.ones((8, 8, 1))).astype(np.float32)
    a, b, c = camera_degrade(hr, 3), camera_degrade(hr, 3), camera_degrade(hr, 4)
    assert a.shape == (16, 16, 3) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_split_is_disjoint() -> None:
    x = torch.arange(10.0).view(10, 1, 1, 1)
    hr, lr = split_faces(x)
    assert set(hr.flatten().tolist()).isdisjoint(lr.flatten().tolist())
    assert hr.shape[0] + lr.shape[0] == 10


def test_l2h_steps_reduce_loss_on_fixed_batch() -> None:
    torch.manual_seed(0)
    net = LowToHigh(features=8, blocks=1)
    hr = _faces(4)
    lr = F.avg_pool2d(hr, 4)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = None
    for _ in range(25):
        loss = F.mse_loss(net(lr), hr)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(F.mse_loss(net(lr), hr)) < 0.8 * first


def _cfg(out, **kw) -> HLLHConfig:
    base = dict(output=str(out), features=8, batch=2, steps=4, log_every=1, checkpoint_every=100, z_dim=4)
    base.update(kw)
    return HLLHConfig(**base)


def test_resume_equals_uninterrupted_and_l2h_gan_runs(tmp_path) -> None:
    faces = _faces(8)
    full = HLLHTrainer(_cfg(tmp_path / "a"), images=faces, resume=False)
    full.train()
    part = HLLHTrainer(_cfg(tmp_path / "b"), images=faces, resume=False)
    part.train(2)
    again = HLLHTrainer(_cfg(tmp_path / "b"), images=faces)
    assert again.step_count == 2
    again.train()
    for k, v in full.G.state_dict().items():
        assert torch.equal(v, again.G.state_dict()[k]), k
    assert (tmp_path / "b" / "log.jsonl").read_text().count("\n") == 4
    h2l = load_h2l(tmp_path / "a")
    l2h = HLLHTrainer(_cfg(tmp_path / "c", stage="l2h", variant="gan", steps=2, beta=0.001), images=faces,
                      h2l_model=h2l, resume=False)
    recs = l2h.train()
    assert "loss_d" in recs[-1] and np.isfinite(recs[-1]["loss"])
