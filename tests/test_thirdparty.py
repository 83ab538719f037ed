"""Other projects' checkpoints through spandrel (the ``thirdparty`` extra), loaded without
unpickling and run with restora's tiled engine. Checkpoints are made here from spandrel's
own architecture classes (no downloads). Skipped when spandrel is not installed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from restora.errors import ConfigError, MissingResourceError, RestoraError
from restora.thirdparty import import_spandrel, is_weights_path, load_third_party

try:
    spandrel = import_spandrel()
except MissingResourceError:  # pragma: no cover - depends on the extra
    pytest.skip("spandrel (thirdparty extra) not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def esrgan_x2(tmp_path_factory):
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)
    path = tmp_path_factory.mktemp("w") / "tiny_esrgan_x2.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def dncnn_gray(tmp_path_factory):
    from safetensors.torch import save_file
    from spandrel.architectures.DnCNN import DnCNN

    torch.manual_seed(1)
    net = DnCNN(in_nc=1, out_nc=1, nc=8, nb=4)
    path = tmp_path_factory.mktemp("w") / "tiny_dncnn.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_esrgan_checkpoint_is_detected_and_matches_spandrels_own_inference(esrgan_x2):
    r = load_third_party(esrgan_x2, device="cpu", tile=None)
    d = r.descriptor
    assert r.arch == "ESRGAN" and d.task == "sr" and d.scale == 2
    assert (d.in_channels, d.out_channels) == (3, 3) and "float32" in d.dtypes and d.params > 0
    x = np.random.default_rng(0).random((30, 22, 3), dtype=np.float32)
    y = r(x)
    assert y.shape == (60, 44, 3)
    ref_model = spandrel.ModelLoader().load_from_state_dict(torch.load(esrgan_x2, weights_only=True))
    ref = ref_model(torch.from_numpy(x.transpose(2, 0, 1))[None]).numpy()[0].transpose(1, 2, 0)
    assert np.abs(np.clip(y, 0, 1) - ref).max() < 1e-5  # spandrel clamps its output; we clip on write
    x2 = np.random.default_rng(5).random((40, 40, 3), dtype=np.float32)
    whole = r(x2)
    tiled = load_third_party(esrgan_x2, device="cpu", tile=32, overlap=16)(x2)  # 4 tiles, blended
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).mean() < 1e-3 and np.abs(tiled - whole).max() < 0.03
    with pytest.raises(RestoraError, match="x2"):
        r(x, scale=4)


def test_gray_denoiser_from_safetensors_runs_per_channel(dncnn_gray):
    r = load_third_party(dncnn_gray, device="cpu")
    assert r.arch == "DnCNN" and r.descriptor.task == "denoise" and r.descriptor.in_channels == 1
    x = np.random.default_rng(1).random((16, 18, 3), dtype=np.float32)
    y = r(x)
    assert y.shape == x.shape
    assert np.allclose(y[..., 1:2], r(x[..., 1:2]), atol=1e-6)


def test_pipeline_uses_forced_third_party_model(esrgan_x2, tmp_path):
    from restora.io import read_image_info, write_image
    from restora.pipeline import RestorePipeline, restore_file

    pipe = RestorePipeline(model=str(esrgan_x2), device="cpu")
    img = np.random.default_rng(2).random((12, 16, 3), dtype=np.float32)
    plan = pipe.plan(img, steps=["upscale"])  # the model's scale is used when none is given
    assert plan.steps[0].method == str(esrgan_x2) and plan.steps[0].params["passes"] == [2]
    assert "third-party ESRGAN" in plan.steps[0].reason
    src = tmp_path / "in.png"
    write_image(src, img)
    restore_file(src, tmp_path / "out.png", pipeline=pipe, steps=["upscale"], scale=4)
    assert read_image_info(tmp_path / "out.png")[1].width == 64  # two x2 passes


def test_unknown_architecture_and_unsafe_pickles_are_refused(tmp_path):
    from restora.nn import create_model

    # restora's own RRDBNet uses other key names than ESRGAN checkpoints: not recognised
    ours = tmp_path / "ours.pth"
    torch.save(create_model("rrdb", scale=2, features=8, blocks=1, growth=4).state_dict(), ours)
    with pytest.raises(ConfigError, match="does not recognise"):
        load_third_party(ours)

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as fh:
        pickle.dump({"state_dict": Evil()}, fh)
    with pytest.raises(RestoraError, match="weights-only"):
        load_third_party(evil)
    with pytest.raises(MissingResourceError):
        load_third_party(tmp_path / "missing.pth")


def test_is_weights_path():
    assert is_weights_path("a/b/RealESRGAN_x4plus.pth") and is_weights_path("m.safetensors")
    assert not is_weights_path("denoise-color")
