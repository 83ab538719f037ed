"""A few steps through each kind of training: GAN (WGAN-GP, hinge), AMP, SR presets,
paired data, multi-scale outputs, noise-map conditioning, per-sample degradations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_image
from test_train_run import make_images

from restora.errors import ConfigError
from restora.io import write_image
from restora.train import load_config, train
from restora.train.config import merge
from restora.train.logs import read_log


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from restora.degrade import blur, gaussian_kernel

    root = tmp_path_factory.mktemp("paths")
    gray = make_images(root / "gray", 3, 64, 64, 1)
    rgb = make_images(root / "rgb", 3, 64, 64, 3)
    (root / "sharp").mkdir()
    (root / "blurry").mkdir()
    for i in range(3):
        im = synthetic_image(64, 64, 3, seed=i)
        write_image(root / "sharp" / f"p{i}.png", im)
        write_image(root / "blurry" / f"p{i}.png", np.clip(blur(im, gaussian_kernel(9, 2.0)).image, 0, 1))
    return {"gray": gray, "rgb": rgb, "sharp": root / "sharp", "blurry": root / "blurry", "root": root}


def run(folders, name: str, recipe: dict, channels: int = 3):
    data = folders["gray" if channels == 1 else "rgb"]
    base = {
        "name": name,
        "output": str(folders["root"] / "runs" / name),
        "data": {"train": str(data), "patch_size": 32, "batch_size": 2, "workers": 0},
        "val": {"data": str(data), "images": 1, "crop": 32, "every": 0},
        "train": {"steps": 2, "log_every": 1, "checkpoint_every": 0},
    }
    result = train(load_config(data=merge(base, recipe)))
    records = read_log(Path(base["output"]) / "log.jsonl")
    train_records = [r for r in records if "losses" in r]
    assert result.finished and len(train_records) == 2
    assert all(np.isfinite(r["loss"]) for r in train_records)
    assert np.isfinite(result.val["psnr"])
    return result, train_records


def test_sr_gan_wgan_gp_perceptual_bf16(folders):
    recipe = {
        "model": {"arch": "rrdb", "args": {"features": 8, "blocks": 1, "growth": 4, "scale": 2}},
        "data": {"degradation": {"type": "bicubic", "scale": 2}},
        "loss": {"l1": 1.0, "perceptual": 0.1, "fft": 0.1, "gan": {"weight": 0.1, "kind": "wgan-gp"}},
        "discriminator": {"args": {"features": 8}, "start_step": 1},
        "train": {"amp": "bf16"},
    }
    result, records = run(folders, "sr-gan", recipe)
    # the adversarial term and the critic start after discriminator.start_step
    assert "gan" not in records[0]["losses"] and "d_loss" not in records[0]
    assert {"l1", "perceptual", "fft", "gan"} <= set(records[1]["losses"]) and records[1]["gp"] >= 0
    assert result.model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


def test_realesrgan_fp16_hinge_vgg_discriminator(folders):
    recipe = {
        "model": {"arch": "rrdb", "args": {"features": 8, "blocks": 1, "growth": 4, "scale": 4}},
        "data": {"patch_size": 64, "degradation": {"type": "realesrgan", "scale": 4}},
        "val": {"crop": 64},
        "loss": {"l1": 1.0, "gan": {"weight": 0.1, "kind": "hinge"}},
        "discriminator": {"arch": "vgg-discriminator", "args": {"features": 8}},
        "train": {"amp": "fp16", "grad_clip": 0.5},
    }
    _, records = run(folders, "realesrgan", recipe)
    assert "d_loss" in records[0] and "gan" in records[0]["losses"]


def test_paired_multi_scale_deblur(folders):
    recipe = {
        "model": {"arch": "deepdeblur", "args": {"features": 8, "blocks": 1}},
        "data": {"train": str(folders["sharp"]), "lq": str(folders["blurry"]), "degradation": {"type": "none"}},
        "val": {"data": str(folders["sharp"]), "lq": str(folders["blurry"])},
        "optim": {"name": "sgd", "schedule": "multistep", "milestones": [1], "gamma": 0.1},
    }
    _, records = run(folders, "deblur", recipe)
    assert records[1]["lr"] == pytest.approx(records[0]["lr"] * 0.1)
    # three supervised outputs (1/4, 1/2, full): weights must match their number
    with pytest.raises(ConfigError, match="3 outputs"):
        run(folders, "deblur-bad", merge(recipe, {"model": {"output_weights": [1.0, 1.0]}}))


def test_ffdnet_noise_map_with_per_sample_noise_in_workers(folders):
    recipe = {
        "model": {"arch": "ffdnet", "args": {"in_channels": 1, "features": 8, "depth": 3}},
        "data": {"workers": 1, "degradation": {"sigma": [0, 50], "where": "sample"}},
    }
    result, _ = run(folders, "ffdnet", recipe, channels=1)
    assert result.val["input_psnr"] == pytest.approx(20.1, abs=0.5)  # validated at the middle sigma, 25
