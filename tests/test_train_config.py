"""Training recipes: validation errors name the key, inheritance, overrides, shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from restora.errors import ConfigError
from restora.train import Config, load_config
from restora.train.config import apply_overrides, merge

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def one_line_error(**data) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(data=data)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_defaults_and_short_recipe(tmp_path):
    p = write(tmp_path / "dn.yaml", "model: {arch: dncnn}\ndata: {channels: 1}\noptim: {lr: 1e-3}\n")
    cfg = load_config(p)
    assert isinstance(cfg, Config)
    assert cfg.name == "dn" and cfg.output_dir == Path("runs/dn")
    assert cfg.optim.lr == 1e-3  # "1e-3" is a float here (plain PyYAML reads it as a string)
    assert cfg.data.degradation.type == "gaussian" and cfg.loss == {"l1": 1.0}


@pytest.mark.parametrize(
    "data, key, hint",
    [
        ({"train": {"stpes": 5}}, "train.stpes", "steps"),
        ({"data": {"degradation": {"sigmaa": 3}}}, "data.degradation.sigmaa", "sigma"),
        ({"modle": {}}, "modle", "model"),
        ({"loss": {"l3": 1.0}}, "loss.l3", "charbonnier"),
        ({"loss": {"perceptual": {"weight": 1, "netwrok": "vgg19"}}}, "loss.perceptual.netwrok", "network"),
    ],
)
def test_unknown_keys_name_the_path_and_valid_keys(data, key, hint):
    msg = one_line_error(**data)
    assert repr(key) in msg or f"'{key}'" in msg
    assert hint in msg


@pytest.mark.parametrize(
    "data, key",
    [
        ({"train": {"steps": "many"}}, "train.steps"),
        ({"train": {"amp": "fp8"}}, "train.amp"),
        ({"data": {"channels": 2}}, "data.channels"),
        ({"optim": {"betas": [0.9, "x"]}}, "optim.betas[1]"),
        ({"data": {"augment": "yes"}}, "data.augment"),
        ({"model": {"args": [1, 2]}}, "model.args"),
        ({"train": {"ema": 1.5}}, "train.ema"),
        ({"data": {"degradation": {"sigma": [50, 10]}}}, "data.degradation.sigma"),
        ({"model": {"arch": "nonet"}}, "model.arch"),
        ({"data": {"patch_size": 30, "degradation": {"type": "bicubic", "scale": 4}}}, "data.patch_size"),
    ],
)
def test_wrong_types_and_values_name_the_key(data, key):
    assert key in one_line_error(**data)


def test_ints_accepted_for_floats_and_not_bools_for_ints():
    cfg = load_config(data={"optim": {"lr": 1}, "data": {"degradation": {"sigma": [0, 55]}}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.data.degradation.sigma == [0.0, 55.0]
    assert "train.steps" in one_line_error(train={"steps": True})


def test_inheritance_merges_recursively_and_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "images").mkdir()
    write(tmp_path / "sub" / "base.yaml", {
        "model": {"arch": "dncnn", "args": {"in_channels": 1, "depth": 17}},
        "data": {"train": "images", "channels": 1, "batch_size": 64},
        "loss": {"l1": 1.0},
        "train": {"steps": 1000, "seed": 3},
    })
    child = write(tmp_path / "child.yaml", {
        "base": "sub/base.yaml",
        "model": {"args": {"depth": 5}},
        "loss": {"ssim": 0.5},
        "train": {"steps": 20},
    })
    cfg = load_config(child, overrides=["train.seed=7", "model.args.features=16", "data.degradation.sigma=[0, 55]"])
    assert cfg.name == "child"
    assert cfg.model.args == {"in_channels": 1, "depth": 5, "features": 16}
    assert cfg.data.batch_size == 64 and cfg.train.steps == 20 and cfg.train.seed == 7
    assert cfg.loss == {"l1": 1.0, "ssim": 0.5}
    assert cfg.data.train == str((tmp_path / "sub" / "images").resolve())
    assert cfg.data.degradation.sigma == [0.0, 55.0]


def test_inheritance_errors(tmp_path):
    a = write(tmp_path / "a.yaml", {"base": "b.yaml"})
    write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match="loop"):
        load_config(a)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(write(tmp_path / "c.yaml", {"base": "missing.yaml"}))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path / "d.yaml", "model: {arch: dncnn\n"))


def test_overrides_parse_yaml_and_reject_bad_paths():
    raw = apply_overrides({"train": {"steps": 5}}, ["train.steps=100", "train.amp=bf16", "loss.gan={weight: 0.1, kind: hinge}"])
    assert raw == {"train": {"steps": 100, "amp": "bf16"}, "loss": {"gan": {"weight": 0.1, "kind": "hinge"}}}
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["train.steps"])
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"train": {"steps": 5}}, ["train.steps.x=1"])
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


def test_partial_nested_mapping_keeps_the_fields_own_defaults():
    cfg = load_config(data={"loss": {"l1": 1, "gan": 0.1}, "discriminator": {"optim": {"lr": 3e-4}}})
    assert cfg.discriminator.optim.lr == 3e-4
    assert cfg.discriminator.optim.schedule == "constant"  # DiscriminatorConfig's default, not OptimConfig's
    assert cfg.discriminator.arch == "unet-discriminator"


def test_semantic_checks():
    assert "data.lq" in one_line_error(data={"degradation": {"type": "none"}})
    assert "at least one" in one_line_error(loss={"gan": 0.1})
    assert "discriminator" in one_line_error(model={"arch": "unet-discriminator"})


@pytest.mark.parametrize("name", ["dncnn-gray-blind", "denoise-color-nafnet", "jpeg-gray", "sr-x4-psnr", "sr-x4-gan"])
def test_shipped_configs_are_valid_and_short(name):
    path = CONFIGS / f"{name}.yaml"
    cfg = load_config(path)
    assert cfg.name == name
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) <= 25, f"{name} has {len(lines)} lines"


def test_gan_config_inherits_from_psnr_config():
    psnr = load_config(CONFIGS / "sr-x4-psnr.yaml")
    gan = load_config(CONFIGS / "sr-x4-gan.yaml")
    assert gan.model.arch == psnr.model.arch and gan.model.args == psnr.model.args
    assert gan.data.degradation == psnr.data.degradation
    assert "gan" in gan.loss and "perceptual" in gan.loss and "gan" not in psnr.loss
    assert gan.model.init and gan.discriminator is not None
