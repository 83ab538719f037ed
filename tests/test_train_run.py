"""End-to-end training runs on CPU: exact resume, export + zoo load, the CLI, and a tiny
DnCNN that learns to denoise (Train400 when the shared datasets exist, else synthetic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import synthetic_image

from restora.io import write_image
from restora.train import load_config, train
from restora.train.checkpoint import list_checkpoints, load_checkpoint
from restora.train.logs import read_log


@pytest.fixture(autouse=True)
def _one_thread():
    # the test machine is shared: one intra-op thread is both faster and steadier
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_images(folder: Path, n: int, h: int = 48, w: int = 56, channels: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(folder / f"img_{i:02d}.png", synthetic_image(h, w, channels, seed=i))
    return folder


def tiny_recipe(tmp: Path, **extra) -> dict:
    train_dir = make_images(tmp / "train", 6)
    val_dir = make_images(tmp / "val", 2, 40, 40)
    recipe = {
        "name": "tiny",
        "model": {"arch": "dncnn", "args": {"in_channels": 1, "depth": 3, "features": 8}},
        "data": {"train": str(train_dir), "channels": 1, "patch_size": 16, "batch_size": 4, "workers": 0,
                 "degradation": {"type": "gaussian", "sigma": [5, 50]}},
        "val": {"data": str(val_dir), "images": 1, "crop": 32, "every": 3},
        "loss": {"l1": 1.0, "ssim": 0.1},
        "optim": {"lr": 1e-3, "warmup_steps": 2},
        "train": {"steps": 6, "log_every": 1, "checkpoint_every": 3, "ema": 0.9, "grad_clip": 1.0},
    }
    for key, value in extra.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


def losses_of(out: Path) -> list[tuple]:
    return [(r["step"], r["loss"], tuple(sorted(r["losses"].items())), r["lr"]) for r in read_log(out / "log.jsonl") if "losses" in r]


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_is_bit_exact(tmp_path):
    recipe = tiny_recipe(tmp_path, data={"workers": 1})
    straight = train(load_config(data={**recipe, "output": str(tmp_path / "a")}))
    assert straight.finished and straight.step == 6
    # interrupted after 3 steps, then resumed from the newest checkpoint to 6
    first = train(load_config(data={**recipe, "output": str(tmp_path / "b")}, overrides=["train.stop_after=3"]))
    assert not first.finished and first.step == 3 and first.export_path is None
    resumed = train(load_config(data={**recipe, "output": str(tmp_path / "b")}), resume="latest")
    assert resumed.finished and resumed.step == 6
    assert states_equal(straight.model.state_dict(), resumed.model.state_dict())
    assert states_equal(straight.ema.state_dict(), resumed.ema.state_dict())
    assert losses_of(tmp_path / "a") == losses_of(tmp_path / "b")
    assert len(losses_of(tmp_path / "a")) == 6
    # resuming another run's step-3 checkpoint in a fresh folder gives the same weights too
    ckpt = [p for p in list_checkpoints(tmp_path / "a" / "checkpoints") if p.name == "step_0000003.json"][0]
    again = train(load_config(data={**recipe, "output": str(tmp_path / "c")}), resume=str(ckpt))
    assert states_equal(straight.model.state_dict(), again.model.state_dict())
    # the weights did change between steps 3 and 6 (so the equalities above mean something)
    step, state = load_checkpoint(ckpt)
    assert step == 3 and not states_equal(state["model"], straight.model.state_dict())
    assert state["data"]["step"] == 3 and "torch" in state["rng"] and "python" in state["rng"]


def test_output_folder_is_not_clobbered(tmp_path):
    from restora.errors import ConfigError

    recipe = tiny_recipe(tmp_path, train={"steps": 2, "checkpoint_every": 0}, val={"data": None})
    cfg = load_config(data={**recipe, "output": str(tmp_path / "run")})
    train(cfg)
    with pytest.raises(ConfigError, match="--resume latest"):
        train(cfg)
    train(cfg, overwrite=True)
    with pytest.raises(ConfigError, match="already at train.steps"):
        train(cfg, resume="latest")


def test_export_loads_back_with_zoo_and_runs(tmp_path):
    from restora import zoo

    recipe = tiny_recipe(tmp_path, train={"steps": 3, "checkpoint_every": 0})
    recipe["export"] = {"license": "research-only"}
    result = train(load_config(data={**recipe, "output": str(tmp_path / "run")}))
    loaded = zoo.load(result.export_path)
    card = loaded.card
    assert card.license == "research-only"  # the recipe's export licence reaches the card
    assert card.arch == "dncnn" and card.task == "denoise" and card.channels == 1
    assert card.noise_range == [5.0, 50.0]
    assert card.training["steps"] == 3 and card.training["seed"] == 0 and card.training["weights"] == "ema"
    assert card.training["recipe"]["model"]["args"]["depth"] == 3
    assert "hardware" in card.training
    (key, scores), = card.scores.items()
    assert key.startswith("train-val/val-s") and np.isfinite(scores["psnr"])
    # the exported weights are the EMA weights, and the loaded model runs
    assert states_equal(loaded.model.state_dict(), result.ema.state_dict())
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        y = loaded.model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    out = result.output_dir
    assert (out / "loss.png").stat().st_size > 1000
    assert (out / "summary.json").is_file() and (out / "config.yaml").is_file()
    records = read_log(out / "log.jsonl")
    assert {"step", "loss", "losses", "lr", "time"} <= set(records[0])
    assert any("val" in r for r in records)


def test_cli_train_and_print_config(tmp_path, capsys):
    from restora.cli.main import main

    recipe = tiny_recipe(tmp_path, train={"steps": 2, "checkpoint_every": 0})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path), "--print-config", "--set", "train.steps=9"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["steps"] == 9 and printed["name"] == "tiny"
    assert main(["train", str(path), "--device", "cpu", "-o", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "tiny.safetensors").is_file()
    capsys.readouterr()
    assert main(["train", str(path), "--set", "train.stpes=3"]) == 2
    err = capsys.readouterr().err
    assert "train.stpes" in err and len(err.strip().splitlines()) == 1


def test_tiny_dncnn_learns_to_denoise(tmp_path):
    from restora.data import data_root

    root = data_root()
    if (root / "train" / "Train400").is_dir() and (root / "test" / "Set12").is_dir():
        train_data, val_data = "Train400", "Set12"
    else:  # no shared datasets: synthetic images
        train_data = str(make_images(tmp_path / "syn_train", 40, 96, 96))
        val_data = str(make_images(tmp_path / "syn_val", 4, 96, 96))
    from restora.cli.main import main

    recipe = Path(__file__).parent / "train_configs" / "dncnn-tiny.yaml"
    args = ["--set", f"data.train={train_data}", "--set", f"val.data={val_data}"]
    assert main(["train", str(recipe), "--device", "cpu", "-o", str(tmp_path / "dncnn"), *args]) == 0
    summary = json.loads((tmp_path / "dncnn" / "summary.json").read_text())
    val = summary["val"]
    # sigma 25 noise: the input is ~20.2 dB; the trained network must clearly beat it
    assert 19.5 < val["input_psnr"] < 21.0
    assert val["psnr"] > val["input_psnr"] + 2.5, val


def test_ema_averages_batchnorm_statistics_with_the_weights():
    from restora.train.optim import EMA

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    ema = EMA(model, 0.5)
    ema.updates = 100  # past the warm-up: d = 0.5
    with torch.no_grad():
        model[0].weight.add_(2.0)
        model[1].running_mean.fill_(4.0)
    before_w = ema.module[0].weight.clone()
    ema.update(model)
    assert torch.allclose(ema.module[1].running_mean, torch.full((2,), 2.0))  # halfway from 0 to 4
    assert torch.allclose(ema.module[0].weight, before_w + 1.0)
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked


def test_sr_run_exports_and_a_partial_init_carries_its_body_to_another_scale(tmp_path):
    from restora import zoo
    from restora.errors import ConfigError
    from restora.train.trainer import _load_weights

    recipe = tiny_recipe(
        tmp_path,
        model={"arch": "edsr", "args": {"in_channels": 1, "features": 8, "blocks": 1, "scale": 2}},
        data={"patch_size": 16, "degradation": {"type": "bicubic", "scale": 2}},
        loss={"l1": 1.0},
        train={"steps": 3, "checkpoint_every": 0},
    )
    x2 = train(load_config(data={**recipe, "output": str(tmp_path / "x2")}))
    card = zoo.load(x2.export_path).card
    assert card.task == "sr" and card.scale == 2
    (key, scores), = card.scores.items()
    assert np.isfinite(scores["psnr"])
    # a x3 model takes the x2 head and body; its upsampler (another shape) starts fresh
    from restora.nn.registry import create_model

    x3 = create_model("edsr", in_channels=1, features=8, blocks=1, scale=3)
    fresh = _load_weights(x3, str(x2.export_path), "model.init", partial=True)
    assert fresh == ["upsample.0.bias", "upsample.0.weight"]
    assert states_equal({k: v for k, v in x3.state_dict().items() if k not in fresh},
                        {k: v for k, v in x2.ema.state_dict().items() if not k.startswith("upsample")})
    with pytest.raises(ConfigError, match="model.init"):
        _load_weights(create_model("edsr", in_channels=1, features=8, blocks=1, scale=3), str(x2.export_path), "model.init")
    with pytest.raises(ConfigError, match="no tensor"):
        _load_weights(create_model("dncnn", in_channels=1, depth=3, features=4), str(x2.export_path), "model.init", partial=True)


def test_opponent_split_run_from_a_widened_init_and_its_card(tmp_path):
    from restora import zoo
    from restora.errors import ConfigError

    gray = tiny_recipe(tmp_path, model={"arch": "ffdnet", "args": {"in_channels": 1, "depth": 3, "features": 8, "residual": True}},
                       train={"steps": 2, "checkpoint_every": 0}, val={"every": 0})
    gray_run = train(load_config(data={**gray, "output": str(tmp_path / "gray")}))
    split = {**gray, "data": {**gray["data"], "color_split": "opponent", "degradation": {"type": "gaussian", "sigma": [0, 53]}},
             "model": {**gray["model"], "init": str(gray_run.export_path)}, "val": {**gray["val"], "every": 2}}
    run = train(load_config(data={**split, "output": str(tmp_path / "split")}))
    card = zoo.load(run.export_path).card
    assert card.color_split == "opponent" and card.channels == 1
    assert card.noise_range == pytest.approx([0, 75], abs=0.1)  # RGB levels: every channel in range
    # a 3-channel FFDNet widened from the gray export trains; a DnCNN cannot be widened
    wide = {**gray, "model": {"arch": "ffdnet", "args": {"in_channels": 3, "depth": 3, "features": 8, "residual": True},
                              "init": str(gray_run.export_path), "init_color_from_gray": True},
            "data": {**gray["data"], "channels": 3}}
    train(load_config(data={**wide, "output": str(tmp_path / "wide")}))
    bad = {**wide, "model": {"arch": "dncnn", "args": {"in_channels": 3, "depth": 3, "features": 8},
                             "init": str(gray_run.export_path), "init_color_from_gray": True}}
    with pytest.raises(ConfigError, match="init_color_from_gray"):
        train(load_config(data={**bad, "output": str(tmp_path / "bad")}))


def test_a_checkpoint_exports_without_training(tmp_path):
    """``restora train --resume latest --export F``: the model of a checkpoint mid-run, with
    its card, loadable by the zoo, and the run itself untouched (it resumes as before)."""
    from typer.testing import CliRunner

    from restora import zoo
    from restora.cli.main import app
    from restora.errors import ConfigError
    from restora.train.trainer import Trainer

    recipe = tiny_recipe(tmp_path)
    cfg = load_config(data={**recipe, "output": str(tmp_path / "run")}, overrides=["train.stop_after=3"])
    first = train(cfg)
    before = sorted(p.name for p in (tmp_path / "run").rglob("*"))
    path, val = Trainer(load_config(data={**recipe, "output": str(tmp_path / "run")}), resume="latest").export(tmp_path / "mid.safetensors")
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == before  # nothing written in the run
    loaded = zoo.load(path)
    assert loaded.card.training["steps"] == 3 and val["images"] == 1 and loaded.card.scores
    assert states_equal(loaded.model.state_dict(), first.ema.state_dict())  # the EMA weights it exports
    with pytest.raises(ConfigError, match="needs a checkpoint"):
        Trainer(load_config(data={**recipe, "output": str(tmp_path / "run")})).export(tmp_path / "x.safetensors")
    yaml_path = tmp_path / "recipe.yaml"
    yaml_path.write_text(yaml.safe_dump({**recipe, "output": str(tmp_path / "run")}))
    r = CliRunner().invoke(app, ["train", str(yaml_path), "--resume", "latest", "--export", str(tmp_path / "cli.safetensors")])
    assert r.exit_code == 0 and "exported" in r.output and (tmp_path / "cli.safetensors").is_file()


def test_pre_upsampling_model_exports_as_an_upscaler(tmp_path):
    """SRCNN/VDSR (issue 21): trained on bicubic-upscaled input, exported with the factor on
    the card, and run by the zoo restorer as an x2 upscaler (luma through the network)."""
    from restora.degrade.resize import imresize
    from restora.zoo import load_file
    from restora.zoo.restorers import NeuralRestorer

    recipe = tiny_recipe(
        tmp_path,
        model={"arch": "vdsr", "args": {"in_channels": 1, "features": 8, "depth": 3}},
        data={"degradation": {"type": "bicubic", "scale": 2}},
        loss={"l1": 1.0},
    )
    recipe["val"] = {"data": recipe["val"]["data"], "images": 1, "crop": None, "every": 6}
    result = train(load_config(data={**recipe, "output": str(tmp_path / "run")}))
    card = json.loads(result.export_path.with_suffix(".json").read_text())
    assert card["scale"] == 2 and card["input_upsampled"] is True and card["args"]["scale"] == 1
    restorer = NeuralRestorer(load_file(result.export_path), device="cpu", tile=None)
    rgb = synthetic_image(20, 24, 3, seed=3)
    out = restorer(rgb, scale=2)
    assert out.shape == (40, 48, 3)
    # chroma is the bicubic upscale's; the luma moved away from it by the (residual) network
    from restora.degrade.torch_jpeg import rgb_to_ycbcr_jpeg

    def ycc(x):
        return rgb_to_ycbcr_jpeg(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None] * 255.0)[0].numpy()

    bic = imresize(rgb, 2.0)
    assert np.allclose(ycc(out)[1:], ycc(bic)[1:], atol=0.05)
    assert out.shape == bic.shape and not np.allclose(ycc(out)[0], ycc(bic)[0], atol=1e-4)
    with pytest.raises(Exception, match="x2"):
        restorer(rgb, scale=3)


def test_a_prefixed_partial_init_loads_one_sub_module(tmp_path):
    """A trained face-vae-bridge starts portrait-3stage's face path (``model.init_prefix``)."""
    from restora.errors import ConfigError
    from restora.nn.registry import create_model
    from restora.train.trainer import _load_weights
    from restora.zoo import ModelCard, save_model

    args = {"features": 8, "latent_channels": 4, "downs": 2, "bridge_features": 8, "bridge_blocks": 1}
    bridge = create_model("face-vae-bridge", **args)
    path = save_model(bridge, tmp_path / "bridge.safetensors", ModelCard(name="bridge", arch="face-vae-bridge", args=args, task="restore", channels=3))
    system = create_model("portrait-3stage", features=8, growth=4, levels=2, face_features=8, latent_channels=4, bridge_features=8,
                          bridge_blocks=1, n_orb=2, orb_cabs=1)
    fresh = _load_weights(system, str(path), "model.init", partial=True, prefix="face.")
    assert fresh and not any(k.startswith("face.") for k in fresh)  # the whole face path came from the bridge
    assert states_equal({k[len("face."):]: v for k, v in system.state_dict().items() if k.startswith("face.")}, bridge.state_dict())
    with pytest.raises(ConfigError, match="init_partial"):
        _load_weights(system, str(path), "model.init", prefix="face.")


def test_camera_jpeg_run_makes_a_jpeg_card_with_its_quality_range(tmp_path):
    from restora import zoo

    recipe = tiny_recipe(tmp_path, data={"color_split": "luma", "degradation": {"type": "camera", "clip": True, "options": {"jpeg_quality": [60, 95]}}},
                         train={"steps": 2, "checkpoint_every": 0}, val={"every": 2})
    run = train(load_config(data={**recipe, "output": str(tmp_path / "cam")}))
    card = zoo.load(run.export_path).card
    assert card.task == "jpeg" and card.quality_range == [60, 95] and card.channels == 1
    assert card.real_world and card.degradation == "camera"  # the planner's real-world flag
