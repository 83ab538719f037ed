"""Tiny runs of the three face-fusion stages (restora.train.face_fusion) on synthetic faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from restora.errors import ConfigError
from restora.train.face_fusion import FaceFusionConfig, FaceFusionTrainer, degrade_faces, export_face_model, load_best
from restora.train.gan_prior import GANPriorConfig, GANPriorTrainer
from restora.train.logs import read_log

R = 32
NAF = {"width": 4, "enc_blocks": [1, 1], "middle_blocks": 1, "dec_blocks": [1, 1]}
GEN = dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=128, channel_max=8)


def _faces(n: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, R), torch.linspace(-1, 1, R), indexing="ij")
    base = (((xx**2 + yy**2) < 0.6).float() * 0.5 + 0.2)[None, None].repeat(n, 3, 1, 1)
    return (base + 0.2 * torch.rand(n, 3, R, R, generator=g)).clamp(0, 1)


def _cfg(out, stage="regression", **kw) -> FaceFusionConfig:
    base = dict(output=str(out), stage=stage, resolution=R, val_faces=4, batch=2, steps=4, kernels=10, nafnet=NAF,
                encoder={"width": 4, "max_width": 8}, fusion={"features": 4, "blocks": 1}, log_every=1, val_every=2,
                checkpoint_every=2)
    base.update(kw)
    return FaceFusionConfig(**base)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A regression run, a tiny face prior, an encoder run and a fusion run (shared)."""
    root = tmp_path_factory.mktemp("ff")
    faces = _faces()
    FaceFusionTrainer(_cfg(root / "reg"), images=faces).train()
    GANPriorTrainer(
        GANPriorConfig(output=str(root / "prior"), resolution=R, batch=2, steps=1, log_every=1, checkpoint_every=1,
                       sample_every=0, generator=GEN, discriminator=dict(channel_base=128, channel_max=8)),
        images=faces * 2 - 1,
    ).train()
    FaceFusionTrainer(_cfg(root / "enc", "encoder", steps=2, prior=str(root / "prior"), init=str(root / "reg")), images=faces).train()
    FaceFusionTrainer(_cfg(root / "fus", "fusion", steps=2, init=str(root / "enc")), images=faces).train()
    return root, faces


def test_degrade_faces_is_seeded_and_blurs():
    faces = _faces(4)
    k = torch.zeros(3, 5, 5)
    k[:, 2, :] = 0.2  # horizontal box blur
    a = degrade_faces(faces, k, torch.Generator().manual_seed(0))
    b = degrade_faces(faces, k, torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    y, x = a
    assert y.shape == x.shape == faces.shape
    # blur lowers horizontal gradients of the (augmented) sharp target
    assert (y.diff(dim=-1).abs().mean() < x.diff(dim=-1).abs().mean())


def test_regression_logs_validates_and_keeps_best(chain):
    root, _ = chain
    log = read_log(root / "reg" / "log.jsonl")
    assert log[0]["step"] == 1 and [r["step"] for r in log] == [1, 2, 3, 4]
    vals = [r for r in log if "val_psnr" in r]
    assert [r["step"] for r in vals] == [2, 4]
    best = max(vals, key=lambda r: r["val_psnr"])
    meta, states = load_best(root / "reg")
    assert meta["step"] == best["step"] and meta["val_psnr"] == pytest.approx(best["val_psnr"])
    assert set(states) == {"nafnet"}
    assert all(np.isfinite(r["loss"]) for r in log)


def test_best_checkpoint_only_replaced_on_improvement(tmp_path):
    t = FaceFusionTrainer(_cfg(tmp_path, steps=1, val_every=1), images=_faces())
    t.train()
    first = (tmp_path / "best.json").read_text()
    seq = iter([{"val_psnr": 1.0, "val_input_psnr": 5.0}, {"val_psnr": 99.0, "val_input_psnr": 5.0}])
    t.validate = lambda: next(seq)  # type: ignore[method-assign]
    t.train(2)  # worse than the real first value: best untouched
    assert (tmp_path / "best.json").read_text() == first
    t.train(3)
    assert json.loads((tmp_path / "best.json").read_text())["step"] == 3 and t.best_psnr == 99.0


def test_resume_is_bit_exact(tmp_path):
    faces = _faces()
    full = FaceFusionTrainer(_cfg(tmp_path / "a"), images=faces).train()
    FaceFusionTrainer(_cfg(tmp_path / "b"), images=faces).train(2)  # same schedule, stopped at step 2
    resumed = FaceFusionTrainer(_cfg(tmp_path / "b"), images=faces)
    assert resumed.step_count == 2
    resumed.train()
    assert [r["loss"] for r in read_log(tmp_path / "b" / "log.jsonl")] == [r["loss"] for r in full]
    with pytest.raises(ConfigError):
        FaceFusionTrainer(_cfg(tmp_path / "b", batch=3), images=faces)


def test_sigterm_flag_saves_checkpoint(tmp_path):
    t = FaceFusionTrainer(_cfg(tmp_path, steps=100, checkpoint_every=50), images=_faces())
    orig = t.step

    def step():
        out = orig()
        if t.step_count == 3:
            t._stop = True
        return out

    t.step = step  # type: ignore[method-assign]
    t.train()
    assert t.step_count == 3
    assert FaceFusionTrainer(_cfg(tmp_path, steps=100, checkpoint_every=50), images=_faces()).step_count == 3


def test_encoder_and_fusion_stages(chain):
    root, _ = chain
    enc = read_log(root / "enc" / "log.jsonl")
    assert {"l1", "perceptual", "gan_g", "loss_d"} <= set(enc[-1]) and np.isfinite(enc[-1]["loss"])
    fus = read_log(root / "fus" / "log.jsonl")
    assert {"cx_r", "cx_g", "perceptual"} <= set(fus[-1])
    meta, states = load_best(root / "fus")
    assert set(states) == {"nafnet", "encoder", "generator", "fusion"}
    # frozen networks stay what the earlier stages wrote
    _, enc_states = load_best(root / "enc")
    assert all(torch.equal(enc_states["generator"][k], v) for k, v in states["generator"].items())
    _, reg_states = load_best(root / "reg")
    assert all(torch.equal(reg_states["nafnet"][k], v) for k, v in states["nafnet"].items())


def test_fusion_lr_drops_at_20_percent(chain, tmp_path):
    root, faces = chain
    t = FaceFusionTrainer(_cfg(tmp_path, "fusion", steps=10, init=str(root / "enc")), images=faces)
    assert [t.lr_at(s) for s in (0, 1, 2, 9)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])


def test_export_round_trip(chain, tmp_path):
    from restora.zoo.store import load_file

    root, faces = chain
    p = export_face_model(root / "fus", tmp_path / "face-fusion.safetensors")
    loaded = load_file(p)
    assert loaded.card.arch == "face-fusion" and loaded.card.task == "face-deblur"
    assert "research-only" in loaded.card.training["data"]["note"]
    t = FaceFusionTrainer(_cfg(tmp_path / "x", "fusion", steps=0, init=str(root / "enc")), images=faces)
    _, states = load_best(root / "fus")
    t.fusion.load_state_dict(states["fusion"])  # type: ignore[union-attr]
    with torch.no_grad():
        want = t.predict(t.val_inputs)
        got = loaded.model(t.val_inputs)
    assert torch.allclose(got, want, atol=1e-6)
    q = export_face_model(root / "reg", tmp_path / "nafnet-face.safetensors")
    reg = load_file(q)
    assert reg.card.arch == "nafnet" and reg.card.name == "nafnet-face"
    with torch.no_grad():
        assert torch.allclose(reg.model(t.val_inputs), t.nafnet(t.val_inputs), atol=1e-6)


def test_partial_face_fusion_export_of_regression_run(chain, tmp_path):
    from restora.zoo.store import load_file

    root, faces = chain
    with pytest.raises(ConfigError):
        export_face_model(root / "reg", tmp_path / "f.safetensors", kind="face-fusion")
    p = export_face_model(root / "reg", tmp_path / "f.safetensors", kind="face-fusion", partial=True)
    loaded = load_file(p)
    assert loaded.card.training["trained_networks"] == ["nafnet"] and "PARTIAL" in loaded.card.description
    _, states = load_best(root / "reg")
    assert all(torch.equal(loaded.model.restorer.state_dict()[k], v) for k, v in states["nafnet"].items())


@pytest.mark.parametrize("stage", ["encoder", "fusion"])
def test_later_stages_resume_bit_exact_without_init(chain, tmp_path, stage):
    root, faces = chain
    src = {"encoder": dict(prior=str(root / "prior"), init=str(root / "reg")), "fusion": dict(init=str(root / "enc"))}[stage]
    full = FaceFusionTrainer(_cfg(tmp_path / "a", stage, steps=3, **src), images=faces).train()
    FaceFusionTrainer(_cfg(tmp_path / "b", stage, steps=3, **src), images=faces).train(2)
    # the frozen networks (and the prior's settings) travel with the checkpoint: no --init / --prior needed
    t = FaceFusionTrainer(_cfg(tmp_path / "b", stage, steps=3), images=faces)
    t.train()
    assert [r["loss"] for r in read_log(tmp_path / "b" / "log.jsonl")] == [r["loss"] for r in full]
    assert "init_states" in __import__("restora.train.checkpoint", fromlist=["x"]).load_checkpoint(
        tmp_path / "b" / "checkpoints" / "step_0000003.json")[1]


def test_encoder_stage_starts_from_exported_weights(chain, tmp_path):
    """When the run folders are gone, the committed exports (nafnet-face, the prior's EMA
    generator) start the encoder stage; the discriminator then starts untrained."""
    from restora.nn.stylegan2 import StyleGAN2Generator
    from restora.train.gan_prior import export_generator, load_generator

    root, faces = chain
    nafnet = export_face_model(root / "reg", tmp_path / "nafnet-face.safetensors")
    g = load_generator(root / "prior")
    prior = export_generator(root / "prior", tmp_path / "prior.safetensors")
    assert json.loads(prior.with_suffix(".json").read_text())["license"] == "research-only"
    t = FaceFusionTrainer(_cfg(tmp_path / "enc", "encoder", steps=1, prior=str(prior), init=str(nafnet)), images=faces)
    _, reg_states = load_best(root / "reg")
    assert all(torch.equal(t.nafnet.state_dict()[k], v) for k, v in reg_states["nafnet"].items())
    assert all(torch.equal(t.generator.state_dict()[k], v) for k, v in g.state_dict().items())  # type: ignore[union-attr]
    assert isinstance(t.generator, StyleGAN2Generator)
    t.train()
    assert np.isfinite(read_log(tmp_path / "enc" / "log.jsonl")[-1]["loss"])
    with pytest.raises(ConfigError, match="stylegan2-generator"):
        FaceFusionTrainer(_cfg(tmp_path / "bad", "encoder", steps=1, prior=str(nafnet), init=str(nafnet)), images=faces)
