"""Function-preserving widening of a trained network (restora.train.grow, model.init_grow)."""

from __future__ import annotations

import pytest
import torch

from restora.errors import ConfigError
from restora.nn import create_model
from restora.train.grow import grow_model, grow_state


def _trained(arch: str, **args) -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model(arch, **args)
    with torch.no_grad():  # zero-initialised tails would hide a wrong copy: randomise everything
        for p in m.parameters():
            p.normal_(0, 0.1)
    return m


@pytest.mark.parametrize("arch, small, wide, example", [
    ("drunet", {"in_channels": 1, "features": 4, "levels": 3, "blocks": 1}, {"features": 6},
     (torch.rand(1, 1, 16, 16), torch.full((1, 1, 16, 16), 0.1))),
    ("edsr", {"in_channels": 3, "features": 4, "blocks": 2, "scale": 2}, {"features": 8}, (torch.rand(1, 3, 8, 8),)),
    ("edsr", {"in_channels": 3, "features": 4, "blocks": 1, "scale": 4}, {"features": 6}, (torch.rand(1, 3, 8, 8),)),
    ("edsr", {"in_channels": 3, "features": 4, "blocks": 1, "scale": 3}, {"features": 5}, (torch.rand(1, 3, 8, 8),)),
])
def test_a_widened_network_computes_the_trained_function_and_every_new_weight_learns(arch, small, wide, example):
    trained = _trained(arch, **small)
    grown = create_model(arch, **{**small, **wide})
    grow_model(grown, trained, example)
    with torch.no_grad():
        assert torch.allclose(grown(*example), trained(*example), atol=1e-5)
    # not a saddle: one backward pass reaches the weights that connect new channels to old ones
    grown.zero_grad()
    grown(*example).square().mean().backward()
    body = [m for m in grown.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[0] == m.weight.shape[1]]
    w0 = small["features"]
    assert any(float(m.weight.grad[:w0, w0:].abs().sum()) > 0 for m in body)


def test_a_concatenating_unet_is_refused_and_shrinking_or_new_layers_are_named():
    small = {"in_channels": 1, "features": 4, "levels": 2, "skips": True}
    trained = _trained("unet", **small)
    with pytest.raises(ConfigError, match="cannot be grown by appending channels"):
        grow_model(create_model("unet", **{**small, "features": 6}), trained, (torch.rand(1, 1, 16, 16),))
    edsr = _trained("edsr", in_channels=3, features=6, blocks=1, scale=2)
    with pytest.raises(ConfigError, match="only channel counts may grow"):
        grow_state(create_model("edsr", in_channels=3, features=4, blocks=1, scale=2), edsr.state_dict())
    with pytest.raises(ConfigError, match="differ in tensor"):
        grow_state(create_model("edsr", in_channels=3, features=6, blocks=2, scale=2), edsr.state_dict())


def test_init_grow_trains_from_an_export_and_refuses_mixed_init_keys(tmp_path):
    from test_train_run import tiny_recipe

    from restora import zoo
    from restora.train import load_config, train

    small = tiny_recipe(tmp_path, model={"arch": "drunet", "args": {"in_channels": 1, "features": 4, "levels": 2, "blocks": 1}},
                        train={"steps": 2, "checkpoint_every": 0}, val={"every": 0})
    first = train(load_config(data={**small, "output": str(tmp_path / "small")}))
    wide = {**small, "model": {"arch": "drunet", "args": {"in_channels": 1, "features": 6, "levels": 2, "blocks": 1},
                               "init": str(first.export_path), "init_grow": True}}
    run = train(load_config(data={**wide, "output": str(tmp_path / "wide")}))
    assert zoo.load(run.export_path).model.head.weight.shape[0] == 6
    mixed = {**wide, "model": {**wide["model"], "init_partial": True}}
    with pytest.raises(ConfigError, match="init_grow"):
        train(load_config(data={**mixed, "output": str(tmp_path / "mixed")}))
