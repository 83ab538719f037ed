"""Zoo: safetensors + card round trip, checksums, cache, restorer wrapper, safe loading."""

import json

import numpy as np
import pytest
import torch

from restora import zoo
from restora.errors import ConfigError, MissingResourceError, RestoraError
from restora.nn import create_model
from restora.zoo.restorers import NeuralRestorer


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = create_model("dncnn", in_channels=1, depth=3, features=4)
    card = zoo.ModelCard(name="tiny-dn", arch="dncnn", args={}, task="denoise", channels=1, noise_range=[0, 75],
                         training={"data": "synthetic", "steps": 0})
    path = zoo.save_model(model, tmp_path / "tiny-dn.safetensors", card)
    return model, path


def test_round_trip_is_exact_and_card_filled(saved):
    model, path = saved
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["arch"] == "dncnn" and card["args"]["depth"] == 3 and len(card["sha256"]) == 64
    loaded = zoo.load(path)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model.eval()(x))
    assert loaded.descriptor.in_channels == 1


def test_float16_weights_load_as_float32(saved, tmp_path):
    """Large shipped files (face-fusion) are stored as float16 to stay small; they load into
    the float32 model (the card's checksum is of the float16 file)."""
    from safetensors.torch import load_file, save_file

    from restora.zoo.store import sha256_file

    model, path = saved
    half = tmp_path / "half.safetensors"
    save_file({k: v.half() for k, v in load_file(str(path)).items()}, str(half))
    card = json.loads(path.with_suffix(".json").read_text())
    half.with_suffix(".json").write_text(json.dumps({**card, "sha256": sha256_file(half)}))
    loaded = zoo.load(half)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), model.eval()(x), atol=1e-2)


def test_checksum_mismatch_and_missing_card(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RestoraError, match="checksum mismatch"):
        zoo.load(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(MissingResourceError, match="model card"):
        zoo.load(path)


def test_bad_card_is_config_error(tmp_path, saved):
    _, path = saved
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        zoo.load(path)


def test_cache_install_and_list(saved, tmp_path, monkeypatch):
    _, path = saved
    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    dest = zoo.install(path)
    assert dest.exists() and "tiny-dn" in [c.name for c in zoo.list_models()]
    assert zoo.load("tiny-dn").card.name == "tiny-dn"
    with pytest.raises(MissingResourceError, match="model 'nope' not found"):
        zoo.load("nope")


def test_neural_restorer_handles_channels(saved):
    restorer = NeuralRestorer(zoo.load(saved[1]), tile=None)
    rgb = np.random.default_rng(0).random((12, 14, 3), dtype=np.float32)
    assert restorer(rgb).shape == (12, 14, 3)  # gray model per channel
    assert restorer.params > 0 and restorer.flops_per_pixel > 0


def test_third_party_loading_is_weights_only(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"params_ema": {"w": torch.ones(2)}}, good)
    assert torch.equal(zoo.load_third_party_state(good)["w"], torch.ones(2))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "bad.pth"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(RestoraError, match="cannot be loaded safely"):
        zoo.load_third_party_state(bad)


def test_noise_map_model_estimates_sigma_when_not_given(tmp_path):
    torch.manual_seed(0)
    model = create_model("ffdnet", in_channels=1, depth=3, features=8, residual=True)
    path = zoo.save_model(model, tmp_path / "ff.safetensors", zoo.ModelCard(name="ff", arch="ffdnet", args={}, task="denoise", channels=1))
    restorer = NeuralRestorer(zoo.load(path), tile=None)
    rng = np.random.default_rng(0)
    clean = np.full((64, 64, 1), 0.5, np.float32)
    noisy = clean + rng.normal(0, 30 / 255, clean.shape).astype(np.float32)
    blind = restorer(noisy)
    assert abs(restorer.estimated_sigma - 30) < 3
    np.testing.assert_allclose(blind, restorer(noisy, sigma=restorer.estimated_sigma), atol=1e-6)


def test_gray_noise_map_model_on_rgb_runs_on_opponent_channels(tmp_path, monkeypatch):
    from restora.zoo.restorers import OPPONENT

    rows = OPPONENT.astype(np.float64)
    gram = rows @ rows.T
    assert np.allclose(gram, np.diag(np.diag(gram)))  # orthogonal rows: the noise stays white and independent
    model = create_model("ffdnet", in_channels=1, depth=3, features=8, residual=True)  # starts as the identity
    path = zoo.save_model(model, tmp_path / "ff.safetensors", zoo.ModelCard(name="ff", arch="ffdnet", args={}, task="denoise", channels=1))
    restorer = NeuralRestorer(zoo.load(path), tile=None)
    seen = []
    engine = restorer.engine
    monkeypatch.setattr(restorer, "engine", lambda x, **kw: (seen.append(kw["sigma"]), engine(x, **kw))[1])
    rgb = np.random.default_rng(1).random((20, 24, 3), dtype=np.float32)
    out = restorer(rgb, sigma=30.0)
    np.testing.assert_allclose(out, rgb, atol=1e-5)  # identity model: exact round trip
    np.testing.assert_allclose(seen, 30.0 * np.sqrt(np.diag(gram)), rtol=1e-6)


def test_card_says_its_training_degradation():
    card = zoo.ModelCard(name="m", arch="edsr", args={}, task="sr", scale=4,
                         training={"recipe": {"data": {"degradation": {"type": "realesrgan", "scale": 4}}}})
    assert card.degradation == "realesrgan" and card.real_world
    plain = zoo.ModelCard(name="p", arch="edsr", args={}, task="sr", training={"recipe": {"data": {"degradation": {"type": "bicubic"}}}})
    assert plain.degradation == "bicubic" and not plain.real_world
    assert zoo.ModelCard(name="q", arch="dncnn", args={}, task="denoise").degradation is None


def test_shipped_upscalers_are_planned_by_scale_and_clean_input_first():
    from restora.pipeline.methods import neural_choice

    cards = {c.name: c for c in zoo.list_models() if c.task == "sr"}
    if not cards:
        pytest.skip("no shipped super-resolution model")
    for factor in (2, 3, 4):
        choice = neural_choice("upscale", channels=3, factor=factor)
        card = cards[choice.method]
        fitting = [c for c in cards.values() if c.scale >= factor]
        if not fitting:  # the largest model, in passes
            assert card.scale == max(c.scale for c in cards.values())
            continue
        assert card.scale == min(c.scale for c in fitting)
        if any(not c.real_world and c.scale == card.scale for c in fitting):
            assert not card.real_world
        # the lecture's pre-upsampling classics (SRCNN, VDSR) never displace a stronger model,
        # not even on gray images, where their 1-channel layout would otherwise match best
        if any(not c.input_upsampled for c in fitting):
            assert not card.input_upsampled
            assert not cards[neural_choice("upscale", channels=1, factor=factor).method].input_upsampled


def test_gray_ffdnet_widens_to_a_colour_one_that_starts_as_the_gray():
    from restora.nn.ffdnet import color_from_gray

    torch.manual_seed(0)
    gray = create_model("ffdnet", in_channels=1, depth=4, features=8).eval()
    for p in gray.parameters():
        torch.nn.init.normal_(p, std=0.1)
    color = create_model("ffdnet", in_channels=3, depth=4, features=8).eval()
    color.load_state_dict(color_from_gray(gray.state_dict()))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        a = gray(x, torch.full_like(x, 25 / 255))
        b = color(x.repeat(1, 3, 1, 1), torch.full_like(x, 25 / 255 * 3**0.5))  # the mean of 3 noisy planes: sigma/sqrt(3)
    torch.testing.assert_close(b, a.repeat(1, 3, 1, 1), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not a gray FFDNet"):
        color_from_gray(color.state_dict())


def test_opponent_trained_gray_model_is_the_colour_choice_and_camera_models_are_blind(tmp_path, monkeypatch):
    from restora.pipeline import methods

    def card(name, split="none", deg="gaussian", rng=(0.0, 75.0)):
        return zoo.ModelCard(name=name, arch="ffdnet", args={}, task="denoise", channels=1, noise_range=list(rng) if rng else None,
                             training={"recipe": {"data": {"color_split": split, "degradation": {"type": deg}}}})

    cards = [card("a-gray"), card("b-color", split="opponent"), card("c-camera", split="opponent", deg="camera", rng=None)]
    assert cards[1].color_split == "opponent" and cards[0].color_split == "none" and cards[2].real_world
    monkeypatch.setattr(methods, "_neural_cards", lambda tasks: cards)
    assert methods.neural_choice("denoise", channels=3, sigma=25).method == "b-color"
    assert methods.neural_choice("denoise", channels=1, sigma=25).method == "a-gray"
    assert methods.neural_choice("denoise", channels=3, sigma=90).method == "c-camera"  # only the blind one is left
    model = create_model("ffdnet", in_channels=1, depth=3, features=8, residual=True)
    path = zoo.save_model(model, tmp_path / "cam.safetensors", card("cam", split="opponent", deg="camera", rng=None))
    restorer = NeuralRestorer(zoo.load(path), tile=None)
    seen = []
    engine = restorer.engine
    monkeypatch.setattr(restorer, "engine", lambda x, **kw: (seen.append(kw["sigma"]), engine(x, **kw))[1])
    restorer(np.random.default_rng(0).random((16, 16, 3), dtype=np.float32), sigma=30.0)
    assert seen == [0.0, 0.0, 0.0]  # zero noise map per opponent channel, whatever sigma is given


def test_gray_jpeg_model_on_rgb_runs_on_the_jfif_planes(tmp_path, monkeypatch):
    from restora.degrade.jpeg import jpeg

    model = create_model("dncnn", in_channels=1, depth=3, features=8)
    path = zoo.save_model(model, tmp_path / "jp.safetensors", zoo.ModelCard(name="jp", arch="dncnn", args={"in_channels": 1, "depth": 3, "features": 8},
                                                                           task="jpeg", channels=1, quality_range=[10, 90]))
    restorer = NeuralRestorer(zoo.load(path), tile=None)
    planes = []
    monkeypatch.setattr(restorer, "engine", lambda x, **kw: (planes.append(x.copy()), x)[1])
    rgb = np.asarray(jpeg(np.random.default_rng(2).random((24, 32, 3), dtype=np.float32), 20).image, np.float32)
    out = restorer(rgb, subsampling="4:4:4")
    np.testing.assert_allclose(out, rgb, atol=1e-5)  # identity planes: an exact YCbCr round trip
    assert len(planes) == 3 and all(p.shape == (24, 32, 1) for p in planes)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(planes[0][..., 0], y, atol=1e-5)  # the first plane is JFIF luma
    # 4:2:0 (the default): chroma is deblocked at the stored half resolution, 2x2 area means
    planes.clear()
    out = restorer(rgb)
    assert [p.shape for p in planes] == [(24, 32, 1), (12, 16, 1), (12, 16, 1)]
    cb = 128 / 255 - 0.168736 * rgb[..., 0] - 0.331264 * rgb[..., 1] + 0.5 * rgb[..., 2]
    np.testing.assert_allclose(planes[1][..., 0], cb.reshape(12, 2, 16, 2).mean(axis=(1, 3)), atol=1e-5)
    y_out = 0.299 * out[..., 0] + 0.587 * out[..., 1] + 0.114 * out[..., 2]
    np.testing.assert_allclose(y_out, y, atol=1e-5)  # luma untouched by the chroma path


def test_opponent_denoising_runs_chroma_at_half_resolution_for_strong_noise(monkeypatch):
    restorer = NeuralRestorer(zoo.load("ffdnet-color"), tile=None)
    calls = []
    monkeypatch.setattr(restorer, "engine", lambda x, **kw: (calls.append((x.shape, round(kw["sigma"], 3))), x)[1])
    rgb = np.random.default_rng(0).random((32, 40, 3)).astype(np.float32)
    out = restorer(rgb, sigma=30.0)
    assert [c[0] for c in calls] == [(32, 40, 1), (16, 20, 1), (16, 20, 1)]
    assert calls[1][1] == pytest.approx(30.0 * 0.5 ** 0.5 / 2, abs=1e-3)  # chroma gain, then 2x2 mean
    assert out.shape == rgb.shape
    calls.clear()
    restorer(rgb, sigma=10.0)  # weak noise on a small image: full resolution
    assert [c[0] for c in calls] == [(32, 40, 1)] * 3


def test_equally_fitting_denoisers_are_ranked_by_their_measured_score(monkeypatch):
    from restora.pipeline import methods

    def card(name, score=None, split="opponent"):
        scores = {"denoise-color-s25+blind/CBSD68": {"psnr": score}} if score is not None else {}
        return zoo.ModelCard(name=name, arch="drunet", args={}, task="denoise", channels=1, noise_range=[0.0, 75.0], scores=scores,
                             training={"recipe": {"data": {"color_split": split, "degradation": {"type": "gaussian"}}}})

    # name order alone would pick "a-..."; the better measured model wins, unscored ones last
    cards = [card("a-unscored"), card("b-weaker", 30.35), card("c-better", 30.9)]
    monkeypatch.setattr(methods, "_neural_cards", lambda tasks: cards)
    assert methods.neural_choice("denoise", channels=3, sigma=25).method == "c-better"
    assert methods._measured_quality(cards[0], "denoise", 3) == float("-inf")
    # a plain gray model measured on colour (opponent channels) competes by its score ...
    cards = [card("z-gray", 30.95, split="none"), card("b-weaker", 30.35)]
    monkeypatch.setattr(methods, "_neural_cards", lambda tasks: cards)
    assert methods.neural_choice("denoise", channels=3, sigma=25).method == "z-gray"
    # ... one never measured on colour stays behind the colour-trained one, whatever its gray score
    gray_only = zoo.ModelCard(name="y-gray", arch="drunet", args={}, task="denoise", channels=1, noise_range=[0.0, 75.0],
                              scores={"denoise-gray-s25+blind/BSD68": {"psnr": 40.0}})
    cards = [gray_only, card("b-weaker", 30.35)]
    monkeypatch.setattr(methods, "_neural_cards", lambda tasks: cards)
    assert methods.neural_choice("denoise", channels=3, sigma=25).method == "b-weaker"
    assert methods.neural_choice("denoise", channels=1, sigma=25).method == "y-gray"


def test_jpeg_choice_prefers_the_camera_trained_remover_on_camera_jpegs_only(monkeypatch):
    from restora.pipeline import methods

    def card(name, deg, rng):
        return zoo.ModelCard(name=name, arch="unet", args={}, task="jpeg", channels=1, quality_range=list(rng),
                             training={"recipe": {"data": {"degradation": {"type": deg}}}})

    cards = [card("a-libjpeg", "jpeg", (10, 90)), card("b-camera", "camera", (60, 95))]
    monkeypatch.setattr(methods, "_neural_cards", lambda task: cards)
    camera = methods.neural_choice("jpeg", channels=3, quality=75, real_world=True)
    assert camera.method == "b-camera" and camera.runner_up == "a-libjpeg" and "camera noise" in camera.why
    clean = methods.neural_choice("jpeg", channels=3, quality=75, real_world=False)
    assert clean.method == "a-libjpeg" and clean.runner_up == "b-camera"
    # a quality only one covers decides first
    assert methods.neural_choice("jpeg", channels=3, quality=20, real_world=True).method == "a-libjpeg"
