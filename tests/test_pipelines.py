"""Degradation pipelines: classical, BSRGAN, Real-ESRGAN, YAML step lists, records, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_image

from restora.degrade import (
    BSRGAN_DEFAULTS,
    bsrgan_degradation,
    classical_degradation,
    convolve,
    gaussian_kernel,
    imresize,
    kernel_center,
    load_pipeline,
    motion_kernel,
    realesrgan_degradation,
    replay,
    run_pipeline,
    to_json,
    validate_pipeline,
)
from restora.degrade.pipelines import _correlated_noise, _shifted_gaussian
from restora.degrade.presets import PRESETS, apply_preset, get_preset, list_presets
from restora.errors import ConfigError, InvalidParameterError


def _roundtrip(record: dict) -> dict:
    return json.loads(to_json(record))


# --------------------------------------------------------------------------- classical
def test_classical_direct_is_blur_then_decimate_then_noise(rgb):
    k = motion_kernel(15, rng=3)[0]
    out, rec = classical_degradation(rgb, kernel=k, scale=2, sigma=0.0, downsample="direct")
    expected = convolve(rgb, k)[0::2, 0::2]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.shape == (32, 40, 3)
    assert [s["op"] for s in rec["steps"]] == ["modcrop", "blur", "decimate"]


def test_classical_bicubic_is_matlab_imresize_and_noise_is_unclipped(rgb):
    img = rgb[:63, :78]  # not a multiple of 3: cropped to 63 x 78
    out, rec = classical_degradation(img, scale=3, sigma=0.0)
    np.testing.assert_array_equal(out, imresize(img[:63, :78], 1 / 3))
    noisy, rec = classical_degradation(img, scale=3, sigma=25.0, rng=5)
    resid = noisy - out
    assert abs(resid.std() * 255 - 25.0) < 1.5 and abs(resid.mean()) < 0.01
    assert noisy.min() < 0 or noisy.max() > 1  # not clipped (API convention)
    assert rec["steps"][-1]["op"] == "noise" and rec["steps"][-1]["sigma"] == 25.0


def test_classical_rejects_bad_arguments(rgb):
    with pytest.raises(InvalidParameterError, match="scale"):
        classical_degradation(rgb, scale=0)
    with pytest.raises(InvalidParameterError, match="downsample"):
        classical_degradation(rgb, scale=2, downsample="nearest")
    with pytest.raises(InvalidParameterError, match="sigma"):
        classical_degradation(rgb, sigma=-1)


# --------------------------------------------------------------------------- Real-ESRGAN / BSRGAN
@pytest.mark.parametrize("shape,scale", [((64, 80), 4), ((67, 81), 4), ((50, 46), 2)])
def test_realesrgan_output_size_is_hr_over_scale(shape, scale):
    img = synthetic_image(*shape, 3, seed=1)
    for seed in range(3):
        out, rec = realesrgan_degradation(img, scale, seed)
        assert out.shape == (shape[0] // scale, shape[1] // scale, 3)
        assert rec["output_shape"] == list(out.shape)
        # final 8-bit rounding, in [0, 1]
        assert out.min() >= 0 and out.max() <= 1
        np.testing.assert_array_equal(out, np.round(out * 255) / 255)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bsrgan_output_size_is_exactly_hr_over_scale(scale):
    img = synthetic_image(61, 75, 3, seed=2)
    for seed in range(6):
        out, rec = bsrgan_degradation(img, scale, seed)
        assert out.shape == (61 // scale, 75 // scale, 3), rec["steps"]
        assert 0 <= out.min() and out.max() <= 1


def test_pipelines_are_seeded_and_vary(rgb):
    for fn in (realesrgan_degradation, bsrgan_degradation):
        a, ra = fn(rgb, 4, 11)
        b, rb = fn(rgb, 4, 11)
        c, _ = fn(rgb, 4, 12)
        np.testing.assert_array_equal(a, b)
        assert ra == rb
        assert not np.array_equal(a, c)
        gen_a, _ = fn(rgb, 4, np.random.default_rng(11))
        np.testing.assert_array_equal(gen_a, a)  # a seed and a Generator seeded alike agree


def test_realesrgan_structure_and_gray_images(gray):
    out, rec = realesrgan_degradation(gray, 4, 3)
    assert out.shape == (16, 20, 1)
    ops = [s["op"] for s in rec["steps"]]
    assert ops[0] == "blur" and ops[-1] == "quantize"
    assert ops.count("jpeg") == 2 and ops.count("noise") == 2
    assert rec["steps"][0]["kernel"] == "realesrgan"
    assert "family" in rec["steps"][0]["drawn"]


def test_bsrgan_order_keeps_first_downsample_before_second(rgb):
    for seed in range(20):
        _, rec = bsrgan_degradation(rgb, 4, seed)
        order = rec["order"]
        assert sorted(order) == list(range(7))
        assert order.index(2) < order.index(3)


def test_options_override_and_unknown_options(rgb):
    out, rec = realesrgan_degradation(rgb, 4, 0, second_blur_prob=0.0, final_sinc_prob=0.0)
    kinds = [s.get("kernel") for s in rec["steps"] if s["op"] == "blur"]
    assert kinds == ["realesrgan"]
    assert rec["options"] == {"second_blur_prob": 0.0, "final_sinc_prob": 0.0}
    with pytest.raises(InvalidParameterError, match="unknown realesrgan option"):
        realesrgan_degradation(rgb, 4, 0, blur_prob=0.5)
    with pytest.raises(InvalidParameterError, match="jpeg_range"):
        bsrgan_degradation(rgb, 4, 0, jpeg_range=(90, 30))
    assert set(BSRGAN_DEFAULTS) >= {"jpeg_prob", "isp_prob", "scale2_prob"}


# --------------------------------------------------------------------------- records
@pytest.mark.parametrize("which", ["realesrgan", "bsrgan", "classical", "custom"])
def test_record_json_roundtrip_replays_bit_identically(rgb, which):
    if which == "realesrgan":
        out, rec = realesrgan_degradation(rgb, 4, 21)
    elif which == "bsrgan":
        out, rec = bsrgan_degradation(rgb, 4, 21)
    elif which == "classical":
        out, rec = classical_degradation(rgb, kernel=gaussian_kernel(9, 1.5), scale=2, sigma=10, rng=21)
    else:
        out, rec = run_pipeline(rgb, [{"shuffle": [{"blur": {"kernel": "motion"}}, {"noise": {"sigma": [5, 20]}},
                                                   {"jpeg": {"quality": [20, 60]}}]}], rng=21)
    text = to_json(rec)
    back = json.loads(text)
    assert back == _roundtrip(back)  # a fixed point: the record is plain JSON
    assert back["output_shape"] == list(out.shape)
    again, rec2 = replay(rgb, back)
    np.testing.assert_array_equal(again, out)
    assert [s["op"] for s in rec2["steps"]] == [s["op"] for s in back["steps"]]


# --------------------------------------------------------------------------- YAML pipelines
YAML_TEXT = """
- blur: {kernel: gaussian, size: 21, sigma: 2.0}
- shuffle:
    - noise: {type: gaussian, sigma: [5, 25], gray: 0.5}
    - resize: {scale: 0.5, method: [bicubic, bilinear, area]}
- jpeg: {quality: [30, 90]}
- prob: 0.5
  steps:
    - exposure: {ev: [-1, 1]}
- haze: {beta: 0.5, p: 0.0}
"""


def test_yaml_pipeline_runs_and_is_reproducible(rgb, tmp_path):
    steps = load_pipeline(YAML_TEXT)
    path = tmp_path / "p.yaml"
    path.write_text(YAML_TEXT)
    assert load_pipeline(path) == steps == load_pipeline(str(path))
    out, rec = run_pipeline(rgb, steps, rng=4)
    again, _ = run_pipeline(rgb, steps, rng=4)
    np.testing.assert_array_equal(out, again)
    assert out.shape == (32, 40, 3)
    ops = [s["op"] for s in rec["steps"]]
    assert ops[0] == "blur" and set(ops[1:3]) == {"noise", "resize"} and ops[3] == "jpeg"
    assert "haze" not in ops  # p: 0
    noise = next(s for s in rec["steps"] if s["op"] == "noise")
    assert 5 <= noise["sigma"] <= 25 and isinstance(noise["gray"], bool)
    jpeg = next(s for s in rec["steps"] if s["op"] == "jpeg")
    assert 30 <= jpeg["quality"] <= 90 and isinstance(jpeg["quality"], int)
    assert next(s for s in rec["steps"] if s["op"] == "resize")["method"] in ("bicubic", "bilinear", "area")


def test_shuffle_one_of_and_prob_draw_differently_across_seeds(rgb):
    steps = [{"shuffle": [{"clip": {}}, {"quantize": {"bits": 6}}, {"exposure": {"ev": 0.5}}]},
             {"one_of": {"steps": [{"jpeg": 90}, {"noise": 5}], "weights": [1, 3]}},
             {"prob": 0.5, "steps": [{"modcrop": 8}]}]
    orders, chosen, cropped = set(), [], []
    for seed in range(40):
        _, rec = run_pipeline(rgb[:60], steps, rng=seed)
        ops = [s["op"] for s in rec["steps"]]
        orders.add(tuple(ops[:3]))
        chosen.append(ops[3])
        cropped.append("modcrop" in ops)
    assert len(orders) >= 4
    assert 0.5 < chosen.count("noise") / len(chosen) < 0.95  # weight 3 of 4
    assert 0.2 < np.mean(cropped) < 0.8


def test_explicit_seeds_and_shorthands(rgb):
    a, rec = run_pipeline(rgb, [{"noise": 25}, {"jpeg": 40}, {"resize": 0.5}])
    assert [s["op"] for s in rec["steps"]] == ["noise", "jpeg", "resize"]
    assert rec["steps"][0]["sigma"] == 25.0 and rec["steps"][1]["quality"] == 40
    b, _ = run_pipeline(rgb, [{"noise": {"sigma": 10, "seed": 3}}])
    c, _ = run_pipeline(rgb, [{"noise": {"sigma": 10, "seed": 3}}], rng=99)
    np.testing.assert_array_equal(b, c)  # a step's own seed wins over the pipeline rng


def test_record_form_steps_are_accepted(rgb):
    out, rec = run_pipeline(rgb, [{"op": "blur", "kernel": "sinc", "size": 11, "cutoff": 1.5},
                                  {"op": "resize", "size": [20, 30], "method": "area"}])
    assert out.shape == (20, 30, 3)


BAD = [
    ("- blurr: {sigma: 1}", "step 1: unknown operation 'blurr'"),
    ("- noise: {type: gaussian, sigmaa: 3}", "step 1 (noise): key 'sigmaa'"),
    ("- jpeg: {quality: 20}\n- noise: {sigma: [25, 5]}", "step 2 (noise): key 'sigma'"),
    ("- jpeg: {quality: 101}", "step 1 (jpeg): key 'quality' must be in [1, 100]"),
    ("- shuffle:\n    - jpeg: 50\n    - resize: {method: bicubic}", "step 1.2 (resize): give exactly one of"),
    ("- blur: {kernel: gaussian}", "step 1 (blur): key 'sigma_x' is required"),
    ("- noise: {type: poisson}", "step 1 (noise): poisson noise needs exactly one"),
    ("- resize: {scale: 0.5, method: cubic}", "step 1 (resize): key 'method' must be one of"),
    ("- jpeg: {quality: 50, p: 2}", "step 1 (jpeg): key 'p' must be a probability"),
    ("- blur: 1.0\n  noise: 3", "step 1: expected one operation per step"),
    ("blur: 1", "the pipeline must be a list of steps"),
    ("- [unclosed", "not valid YAML at line"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_yaml_gives_one_line_error_naming_the_step(text, message):
    with pytest.raises(ConfigError) as info:
        load_pipeline(text)
    msg = str(info.value)
    assert message in msg
    assert "\n" not in msg


def test_errors_are_raised_before_any_work_and_missing_file(rgb, tmp_path):
    with pytest.raises(ConfigError, match="step 3"):
        run_pipeline(rgb, [{"noise": 5}, {"jpeg": 30}, {"exposure": {"ev": 99}}])
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(tmp_path / "missing.yaml")
    validate_pipeline([{"noise": 5}])  # fine


def test_runtime_errors_name_the_step(rgb):
    with pytest.raises(InvalidParameterError, match=r"step 2 \(modcrop\)"):
        run_pipeline(rgb, [{"noise": 1}, {"modcrop": 500}])


# --------------------------------------------------------------------------- building blocks
def test_shifted_gaussian_centre():
    k = _shifted_gaussian(25, 1.2, (-1.5, -1.5))
    np.testing.assert_allclose(kernel_center(k), [12 - 1.5, 12 - 1.5], atol=1e-6)
    np.testing.assert_allclose(k.sum(), 1.0)


def test_direct_downsample_samples_block_centres():
    # a linear ramp: blur with a kernel shifted by -(s-1)/2 then decimate = value at block centres
    s = 4
    ramp = np.tile(np.arange(64, dtype=np.float32)[None, :, None], (64, 1, 1)) / 64
    out, _ = run_pipeline(ramp, [{"blur": {"kernel": "gaussian", "size": 9, "sigma": 1.0, "shift": [-1.5, -1.5],
                                           "boundary": "replicate"}}, {"decimate": s}])
    centres = (np.arange(0, 64, s) + (s - 1) / 2) / 64
    np.testing.assert_allclose(out[8, 2:-2, 0], centres[2:-2], atol=1e-4)  # kernel truncation: ~5e-5
    plain, _ = run_pipeline(ramp, [{"blur": {"kernel": "gaussian", "size": 9, "sigma": 1.0}}, {"decimate": s}])
    assert np.abs(plain[8, 2:-2, 0] - centres[2:-2]).min() > 0.02  # unshifted: top-left samples


def test_correlated_noise_has_the_drawn_covariance():
    img = np.full((256, 256, 3), 0.5, np.float32)
    out, info = _correlated_noise(img, 25.0, seed=3, clip=False)
    cov = np.cov((out - 0.5).reshape(-1, 3).T)
    np.testing.assert_allclose(cov, info["covariance"], atol=3e-5)


def test_realesrgan_poisson_scale_has_the_stated_variance():
    img = np.full((200, 200, 3), 0.4, np.float32)
    out, rec = run_pipeline(img, [{"noise": {"type": "poisson", "scale": 2.0, "seed": 1}}])
    var = float((out - img).var())
    assert abs(var / (4.0 * 0.4 / 255) - 1) < 0.05
    assert rec["steps"][0]["drawn"]["equivalent_peak"] == pytest.approx(255 / 4)


# --------------------------------------------------------------------------- presets
def test_presets_list_and_errors():
    names = [n for n, _ in list_presets()]
    for required in ("noise-s15", "noise-s25", "noise-s50", "jpeg-q10", "jpeg-q40", "sr-bicubic-x2",
                     "sr-bicubic-x3", "sr-bicubic-x4", "blur-gauss", "motion-blur", "camera-noise", "haze",
                     "underexposed", "overexposed", "bsrgan-x4", "realesrgan-x4", "realesrgan-x2"):
        assert required in names
    with pytest.raises(InvalidParameterError, match="unknown preset"):
        get_preset("noise-s99")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs(name, rgb):
    out, rec = apply_preset(rgb, name, rng=0)
    s = PRESETS[name].scale
    assert out.shape == (64 // s, 80 // s, 3)
    assert rec["preset"] == name
    again, _ = replay(rgb, json.loads(to_json(rec)))
    np.testing.assert_array_equal(again, out)


def test_preset_values(rgb):
    out, _ = apply_preset(rgb, "noise-s25", rng=1)
    assert abs((out - rgb).std() * 255 - 25) < 1.0
    out, _ = apply_preset(rgb, "sr-bicubic-x4", rng=1)
    np.testing.assert_array_equal(out, imresize(rgb, 0.25))
    dark, _ = apply_preset(rgb, "underexposed", rng=1)
    assert dark.mean() < rgb.mean() * 0.7
