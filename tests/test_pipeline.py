"""Restore pipeline: analysis -> plan rules, method choice (zoo vs classical), running steps,
tiling, alpha/16-bit/metadata through restore_file, the restore CLI and the bundled sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_image
from restora import zoo
from restora.degrade.noise import gaussian_noise
from restora.errors import InvalidParameterError, MissingResourceError, OutputExistsError
from restora.io import read_image, read_image_info, write_image
from restora.metrics import psnr
from restora.pipeline import (
    JPEG_QUALITY_THRESHOLD,
    Plan,
    RestorePipeline,
    Step,
    compare_image,
    jpeg_equivalent_sigma,
    restore_file,
)
from restora.pipeline.methods import upscale_passes
from restora.pipeline.tiled import apply_tiled
from restora.restorers import RestorerInfo, _REGISTRY, register

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "restora" / "samples"


def clean_image(h: int | None = None, w: int | None = None) -> np.ndarray:
    """The bundled clean sample (a CC0 photo, 256 x 384), or its top-left ``h x w`` crop:
    a natural image with no noise, blocking or blur above the planner's thresholds."""
    img = read_image(SAMPLES / "sample_clean.png")
    return img if h is None else np.ascontiguousarray(img[:h, :w])


@pytest.fixture(scope="module")
def pipe() -> RestorePipeline:
    return RestorePipeline(prefer="classical", device="cpu")


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    clean = clean_image()
    return clean, gaussian_noise(clean, 20, rng=0).image


@pytest.fixture(scope="module")
def noisy_analysis(pipe, noisy) -> dict:
    """The noisy sample's analysis, measured once (the noise estimator is the slow part)."""
    return pipe.analyse(noisy[1])


# ------------------------------------------------------------------------------ planning
def test_noisy_image_gets_denoise_step_with_estimated_sigma(pipe, noisy, noisy_analysis):
    _, img = noisy
    plan = pipe.plan(img, analysis=noisy_analysis)
    assert [s.name for s in plan.steps] == ["denoise"]
    step = plan.steps[0]
    assert 16 < step.params["sigma"] < 24
    assert "noise sigma" in step.reason and "> 3" in step.reason
    assert plan.analysis["noise_sigma"] == pytest.approx(step.params["sigma"], abs=0.01)
    text = plan.describe()
    assert "denoise" in text and step.method in text and "why:" in text


def test_clean_image_gets_no_steps_and_upscale_only_when_asked(pipe):
    img = clean_image()
    plan = pipe.plan(img)
    assert plan.steps == []
    assert "nothing to do" in plan.describe()
    up = pipe.plan(img, scale=2, analysis=plan.analysis)
    assert [s.name for s in up.steps] == ["upscale"]
    assert up.steps[0].params["target_size"] == [768, 512]


def test_jpeg_file_quality_from_tables_gives_jpeg_step(pipe, tmp_path):
    img = clean_image(64, 96)
    path = tmp_path / "q30.jpg"
    write_image(path, img, quality=30)
    arr = read_image(path)
    plan = pipe.plan(arr, path=path)
    assert plan.steps and plan.steps[0].name == "jpeg"
    step = plan.steps[0]
    assert step.params["quality"] == 30
    assert plan.analysis["jpeg_source"] == "tables"
    # classical fallback: a denoiser run with the sigma equivalent of the quality
    assert step.params["sigma"] == pytest.approx(jpeg_equivalent_sigma(30), abs=0.01)
    assert "quantisation tables" in step.reason and f"< {JPEG_QUALITY_THRESHOLD}" in step.reason
    # a high-quality JPEG is left alone
    write_image(tmp_path / "q95.jpg", img, quality=95)
    assert "jpeg" not in [s.name for s in pipe.plan(read_image(tmp_path / "q95.jpg"), path=tmp_path / "q95.jpg").steps]


def test_jpeg_equivalent_sigma_falls_with_quality():
    s = [jpeg_equivalent_sigma(q) for q in (10, 30, 50, 90)]
    assert s == sorted(s, reverse=True) and s[-1] > 0


def test_strong_blur_gets_deblur_with_estimated_kernel(pipe):
    import cv2

    clean = clean_image(96, 128)
    blurred = cv2.GaussianBlur(clean, (0, 0), 2.0)
    analysis = {"noise_sigma": 0.3, "jpeg_quality": None, "blur": {"sigma": 1.9}}
    plan = pipe.plan(blurred, analysis=analysis)
    assert [s.name for s in plan.steps] == ["deblur"]
    step = plan.steps[0]
    assert "strong blur" in step.reason and step.params["kernel_size"] == 13
    assert psnr(np.clip(pipe.run(blurred, plan).image, 0, 1), clean) > psnr(blurred, clean) + 1
    # sharp images are left alone; a blind method chooses its own kernel
    assert pipe.plan(blurred, analysis=dict(analysis, blur={"sigma": 0.8})).steps == []
    blind = pipe.plan(blurred, analysis=analysis, steps=["deblur:blind-deconv"]).steps[0]
    assert "kernel_size" not in blind.params


def test_explicit_steps_run_in_canonical_order_with_methods(pipe, noisy, noisy_analysis):
    _, img = noisy
    plan = pipe.plan(img, steps=["upscale:bicubic", "denoise:gaussian", "jpeg"], scale=2, analysis=noisy_analysis)
    assert [s.name for s in plan.steps] == ["jpeg", "denoise", "upscale"]
    assert plan.step("denoise").method == "gaussian"
    assert plan.step("upscale").method == "bicubic"
    assert "requested" in plan.step("denoise").reason


@pytest.mark.parametrize(
    "steps, match",
    [
        (["sharpen"], "unknown step"),
        (["denoise", "denoise"], "twice"),
        (["denoise:no-such-method"], "unknown method"),
        (["denoise:bicubic"], "not usable for step 'denoise'"),
    ],
)
def test_bad_steps_are_rejected(pipe, steps, match):
    with pytest.raises(InvalidParameterError, match=match):
        pipe.plan(clean_image(32, 32), steps=steps)


def test_upscale_needs_a_size_and_scale_and_target_exclusive(pipe):
    img = clean_image(32, 32)
    with pytest.raises(InvalidParameterError, match="needs scale"):
        pipe.plan(img, steps=["upscale"])
    with pytest.raises(InvalidParameterError, match="not both"):
        pipe.plan(img, scale=2, target_size=(10, 10))


def test_only_upscale_skips_the_analysis(pipe, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("analyse must not run")

    monkeypatch.setattr(pipe, "analyse", boom)
    plan = pipe.plan(clean_image(32, 32), steps=["upscale"], scale=2)
    assert plan.analysis["skipped"]


@pytest.mark.parametrize(
    "factor, scales, passes",
    [(2, (2, 4), [2]), (3, (2, 4), [4]), (4, (2, 4), [4]), (8, (2, 4), [4, 2]), (16, (4,), [4, 4]), (1.5, (2, 3, 4), [2]), (3, None, []), (0.5, (2,), [])],
)
def test_upscale_passes(factor, scales, passes):
    assert upscale_passes(factor, scales) == passes


def test_target_size_gives_exact_output_size(pipe):
    img = clean_image(40, 60)
    res = pipe.restore(img, target_size=(100, 70), steps=["upscale:bicubic"])
    assert res.image.shape == (70, 100, 3)
    step = res.plan.steps[0]
    assert step.params["target_size"] == [100, 70] and step.params["final_resize"] == "cubic"
    res = pipe.restore(img, scale=2, steps=["upscale:bicubic"])
    assert res.image.shape == (80, 120, 3) and res.plan.steps[0].params["passes"] == [2]


# ------------------------------------------------------------------------------ running
def test_restore_improves_a_noisy_image_and_times_steps(pipe, noisy, noisy_analysis):
    clean, img = noisy
    res = pipe.restore(img, steps=["denoise:bilateral"], analysis=noisy_analysis)
    assert res.image.shape == img.shape and res.image.dtype == np.float32
    assert psnr(np.clip(res.image, 0, 1), clean) > psnr(np.clip(img, 0, 1), clean) + 3
    assert set(res.timings) >= {"analyse", "denoise", "total"}
    assert res.timings["total"] >= res.timings["denoise"]


def test_classical_steps_are_tiled_seamlessly(noisy, noisy_analysis):
    _, img = noisy
    whole = RestorePipeline(prefer="classical", tile=None).restore(img, steps=["denoise:gaussian"], analysis=noisy_analysis)
    tiled = RestorePipeline(prefer="classical", tile=32).restore(img, steps=["denoise:gaussian"], analysis=noisy_analysis)
    assert np.abs(whole.image - tiled.image).max() < 5e-4


def test_apply_tiled_matches_whole_for_local_filters_and_scales():
    import cv2

    img = synthetic_image(150, 170, 3, seed=1)
    blur = lambda t: cv2.GaussianBlur(t, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    ref = blur(img)
    seen = []
    out = apply_tiled(blur, img, tile=48, overlap=24, progress=lambda d, t: seen.append((d, t)))
    assert np.abs(out - ref).max() < 2e-4  # float32 blending round-off
    assert seen[-1][0] == seen[-1][1] > 1
    near = lambda t: np.repeat(np.repeat(t, 2, axis=0), 2, axis=1)  # noqa: E731
    assert np.allclose(apply_tiled(near, img, tile=40, overlap=8, scale=2), near(img), atol=1e-6)


def test_tiling_bounds_memory_of_a_hungry_method():
    """A method that needs 16 bytes of scratch per input byte, on a 1500 x 2000 image: with
    256-pixel tiles the pipeline's peak allocation stays under 3x the image, not 17x."""
    import tracemalloc

    def hungry(**options):
        def run(image, **condition):
            scratch = [image.astype(np.float64) for _ in range(8)]  # 16 x the tile's bytes
            return (sum(scratch) / len(scratch)).astype(np.float32)

        return run

    register(RestorerInfo(name="test-hungry", task="denoise", kind="classical", description="test", factory=hungry))
    try:
        img = np.random.default_rng(0).random((1500, 2000, 3), dtype=np.float32)
        pipe = RestorePipeline(prefer="classical", tile=256)
        analysis = {"noise_sigma": 10.0, "jpeg_quality": None}
        tracemalloc.start()
        out = pipe.restore(img, steps=["denoise:test-hungry"], analysis=analysis).image
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert np.allclose(out, img, atol=1e-5)
        assert peak < 3 * img.nbytes, f"peak {peak / 2**20:.0f} MB for a {img.nbytes / 2**20:.0f} MB image"
    finally:
        _REGISTRY.pop("test-hungry", None)


def test_alpha_is_kept_and_resized(pipe):
    rgba = np.concatenate([clean_image(30, 40), np.linspace(0, 1, 30 * 40, dtype=np.float32).reshape(30, 40, 1)], axis=2)
    res = pipe.restore(rgba, scale=2, steps=["upscale:bicubic"])
    assert res.image.shape == (60, 80, 4)
    assert 0 <= res.image[..., 3].min() and res.image[..., 3].max() <= 1
    assert abs(res.image[..., 3].mean() - rgba[..., 3].mean()) < 0.01


def test_restorers_are_built_once(noisy, noisy_analysis):
    calls = []

    def factory(**options):
        calls.append(options)
        return lambda image, **condition: image * 0.5

    register(RestorerInfo(name="test-counting", task="denoise", kind="classical", description="test", factory=factory))
    try:
        p = RestorePipeline(prefer="classical")
        _, img = noisy
        for _ in range(3):
            out = p.restore(img, steps=["denoise:test-counting"], analysis=noisy_analysis).image
        assert np.allclose(out, img * 0.5)
        assert len(calls) == 1
    finally:
        _REGISTRY.pop("test-counting", None)


# ------------------------------------------------------------------------------ zoo models
@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A tiny colour denoiser installed in a temporary model cache and registered."""
    from restora.nn import create_model
    from restora.zoo.restorers import _factory

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("restora.zoo.store.PACKAGE_WEIGHTS", tmp_path / "no-shipped-weights")  # only this model
    torch.manual_seed(0)
    model = create_model("dncnn", in_channels=3, depth=3, features=4)
    card = zoo.ModelCard(name="test-dn-color", arch="dncnn", args={}, task="denoise", channels=3, noise_range=[0, 30])
    path = zoo.save_model(model, tmp_path / "cache" / "test-dn-color.safetensors", card)
    card = zoo.ModelCard.load(path.with_suffix(".json"))
    register(RestorerInfo(name=card.name, task="denoise", kind="neural", description="test", factory=_factory(card)))
    yield path
    _REGISTRY.pop(card.name, None)


def test_zoo_model_preferred_when_its_range_covers_sigma(tiny_zoo, noisy, noisy_analysis):
    _, img = noisy
    analysis = noisy_analysis
    auto = RestorePipeline(device="cpu").plan(img, analysis=analysis)
    assert auto.steps[0].method == "test-dn-color"
    assert "zoo model test-dn-color" in auto.steps[0].reason and "sigma 0-30" in auto.steps[0].reason
    classical = RestorePipeline(prefer="classical").plan(img, analysis=analysis)
    assert classical.steps[0].method != "test-dn-color"
    # sigma outside the model's range: classical, and prefer="neural" says it fell back
    out_of_range = dict(analysis, noise_sigma=60.0)
    fallback = RestorePipeline(prefer="neural").plan(img, analysis=out_of_range)
    assert fallback.steps[0].method != "test-dn-color"
    assert "falling back to classical" in fallback.steps[0].reason
    res = RestorePipeline(device="cpu").run(img, auto)
    assert res.image.shape == img.shape


def test_forced_model_by_path_runs_its_step(tiny_zoo):
    img = clean_image(32, 32)
    p = RestorePipeline(model=str(tiny_zoo), device="cpu")
    plan = p.plan(img, analysis={"noise_sigma": 0.5, "jpeg_quality": None})
    assert [s.name for s in plan.steps] == ["denoise"]
    assert plan.steps[0].method == str(tiny_zoo) and "forced" in plan.steps[0].reason
    assert p.run(img, plan).image.shape == img.shape
    with pytest.raises(MissingResourceError, match="no such zoo model"):
        RestorePipeline(model="no-such-model")


# ------------------------------------------------------------------------------ files
def test_restore_file_keeps_16_bit_alpha_icc_exif(tmp_path, pipe):
    from PIL import ImageCms

    rgba = np.concatenate([clean_image(24, 32), np.full((24, 32, 1), 0.5, np.float32)], axis=2)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "restora-test-camera"
    src = tmp_path / "in.png"
    write_image(src, rgba, bit_depth=16, icc_profile=icc, exif=exif.tobytes())
    dst = tmp_path / "out.png"
    res = restore_file(src, dst, pipeline=pipe, scale=2, steps=["upscale:bicubic"])
    arr, info = read_image_info(dst)
    assert info.bit_depth == 16 and info.has_alpha and arr.shape == (48, 64, 4)
    assert info.icc_profile == icc
    assert info.exif is not None and b"restora-test-camera" in info.exif
    assert set(res.timings) >= {"read", "upscale", "write", "total"}
    # never overwritten, and no work done, unless asked
    with pytest.raises(OutputExistsError):
        restore_file(src, dst, pipeline=pipe, scale=2, steps=["upscale:bicubic"])
    restore_file(src, dst, pipeline=pipe, overwrite=True, format="jpg", steps=["upscale:bicubic"], scale=2)
    assert (tmp_path / "out.jpg").is_file()


def test_compare_image_is_side_by_side():
    a = np.zeros((10, 12, 3), np.float32)
    b = np.ones((20, 24, 1), np.float32)
    c = compare_image(a, b, labels=False)
    assert c.shape[0] == 20 and c.shape[1] > 48 and c.shape[2] == 3
    assert c[:, :24].max() == 0 and c[:, -24:].min() == 1


def test_plan_round_trips_to_json(pipe, noisy, noisy_analysis):
    import json

    _, img = noisy
    plan = pipe.plan(img, scale=2, analysis=noisy_analysis)
    data = json.loads(plan.to_json())
    assert [s["name"] for s in data["steps"]] == [s.name for s in plan.steps]
    assert isinstance(Plan([Step("denoise", "nlm", {"sigma": 5.0}, "x")]).describe(), str)


# ------------------------------------------------------------------------------ CLI + sample
def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``restora`` CLI in-process; returns (exit code, stdout, stderr)."""
    from restora.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_restore_plan_compare_and_overwrite(tmp_path, capsys):
    clean = clean_image(48, 64)
    src = tmp_path / "noisy.png"
    write_image(src, gaussian_noise(clean, 15, rng=1).image)
    out = tmp_path / "out.png"
    code, stdout, stderr = run_cli(capsys, "restore", str(src), str(out), "--plan")
    assert code == 0, stderr
    assert "denoise" in stdout and not out.exists()
    code, stdout, stderr = run_cli(capsys, "restore", str(src), str(out), "--steps", "denoise:bilateral", "--compare", str(tmp_path / "cmp.png"), "--device", "cpu")
    assert code == 0, stderr
    assert out.is_file() and (tmp_path / "cmp.png").is_file()
    assert "bilateral" in stdout and "total" in stdout
    code, _, stderr = run_cli(capsys, "restore", str(src), str(out), "--steps", "denoise:bilateral")
    assert code == 2 and "exists" in stderr
    code, _, stderr = run_cli(capsys, "restore", str(src), str(tmp_path / "x.png"), "--target-size", "12by7")
    assert code == 2 and "WIDTHxHEIGHT" in stderr


def test_sample_images_are_small_and_match_their_description():
    noisy, clean = read_image(SAMPLES / "sample_noisy.png"), read_image(SAMPLES / "sample_clean.png")
    assert noisy.shape == clean.shape == (256, 384, 3)
    for name in ("sample_noisy.png", "sample_clean.png"):
        assert (SAMPLES / name).stat().st_size < 400_000
    # sigma 20 noise (clipped at 0/1): PSNR about 20*log10(255/20) = 22.1 dB, a bit higher after clipping
    assert 21.5 < psnr(noisy, clean) < 23.5
    assert "CC0" in (SAMPLES / "README.md").read_text()


def test_decoded_jpeg_pixels_on_the_dct_lattice_are_trusted_like_tables(pipe, tmp_path):
    img = clean_image(256, 256)
    write_image(tmp_path / "q65.jpg", img, quality=65)
    arr = read_image(tmp_path / "q65.jpg")  # the pixels alone, as a PNG saved from the JPEG
    plan = pipe.plan(arr)
    assert plan.analysis["jpeg_source"] == "dct"
    step = plan.step("jpeg")
    assert step is not None and abs(step.params["quality"] - 65) <= 1
    assert "quantisation lattice" in step.reason
    res = pipe.run(arr, plan)
    assert not getattr(res.plan.step("jpeg"), "dropped", None)  # judged by its removal budget, not NIQE


def test_colour_jpeg_gets_the_camera_trained_remover_gray_jpeg_the_libjpeg_one(monkeypatch):
    from restora import zoo
    from restora.pipeline import methods

    def card(name, deg, rng):
        return zoo.ModelCard(name=name, arch="unet", args={}, task="jpeg", channels=1, quality_range=list(rng),
                             training={"recipe": {"data": {"degradation": {"type": deg}}}})

    monkeypatch.setattr(methods, "_neural_cards", lambda task: [card("jpeg-gray-unet", "jpeg", (10, 90)), card("cam-jpeg", "camera", (60, 95))])
    analysis = {"noise_sigma": 0.0, "jpeg_quality": 75.0, "jpeg_source": "tables", "blur": {"sigma": 0.5}}
    pipe = RestorePipeline(device="cpu")
    colour = pipe.plan(np.zeros((64, 64, 3), np.float32), analysis=analysis).steps
    assert [(s.name, s.method, s.fallback) for s in colour] == [("jpeg", "cam-jpeg", "jpeg-gray-unet")]
    gray = pipe.plan(np.zeros((64, 64, 1), np.float32), analysis=analysis).steps
    assert [(s.name, s.method) for s in gray] == [("jpeg", "jpeg-gray-unet")]
    low = pipe.plan(np.zeros((64, 64, 3), np.float32), analysis=dict(analysis, jpeg_quality=30.0)).steps
    assert [(s.name, s.method) for s in low] == [("jpeg", "jpeg-gray-unet")]  # outside the camera remover's range
    poisson = dict(analysis, noise={"kind": "poisson", "sigma": 2.0})  # not a camera's noise
    assert pipe.plan(np.zeros((64, 64, 3), np.float32), analysis=poisson).steps[0].method == "jpeg-gray-unet"


def test_noise_free_shake_is_deconvolved_with_the_refined_kernel_where_it_fits_better(pipe):
    """Issue 15: a noise-free exact motion blur (the package sample, 15 px L-path, 8-bit).
    The run refines the blind kernel and keeps it because it explains the blur better; the
    plan's coarse-to-fine kernel alone (the previous behaviour) scores lower. A swapped pair
    (the true kernel as the estimate, a widened one as the refinement) keeps the estimate."""
    from scipy import ndimage

    from conftest import sample_shake
    from restora.pipeline.deblur import choose_clean_kernel

    x, k, y = sample_shake()

    def score(out: np.ndarray) -> float:  # up to a translation of 2 px, as the bench
        out = np.clip(out, 0, 1)
        return max(psnr(x[12:-12, 12:-12], np.roll(out, (dy, dx), (0, 1))[12:-12, 12:-12]) for dy in range(-2, 3) for dx in range(-2, 3))

    plan = pipe.plan(y)
    step = plan.step("deblur")
    assert step is not None and step.params.get("_refine") and step.params["sigma"] == 3.0
    refined = pipe.run(y, plan)
    assert "run: refined kernel kept" in step.reason
    step.params.pop("_refine")
    step.reason = step.reason.split("; run: ")[0]
    assert score(refined.image) > score(pipe.run(y, plan).image) + 1.0 > score(y) + 1.0
    wide = ndimage.uniform_filter(k, 3)
    swapped = choose_clean_kernel(y, k, wide / wide.sum(), 3.0)
    assert not swapped.refined and np.array_equal(swapped.kernel, k)
    assert "not kept" in swapped.why
