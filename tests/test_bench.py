"""Tests of the benchmark harness (restora.bench, restora bench)."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_image
from restora.bench import (
    BenchMethod,
    BenchResult,
    get_task,
    image_rng,
    markdown_table,
    published_results,
    resolve_dataset,
    resolve_method,
    run_benchmark,
    write_outputs,
)
from restora.bench.tasks import TASKS, quantize
from restora.errors import RestoraError


def _save(folder: Path, name: str, image: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    u8 = np.floor(np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8).save(folder / f"{name}.png")


@pytest.fixture
def gray_set(tmp_path: Path) -> Path:
    """Three flat mid-gray 128x128 images: noise is (almost) never clipped on them."""
    folder = tmp_path / "flat"
    for i in range(3):
        _save(folder, f"img{i}", np.full((128, 128, 1), 128 / 255, np.float32))
    return folder


@pytest.fixture
def rgb_set(tmp_path: Path) -> Path:
    folder = tmp_path / "rgbset"
    for i in range(2):
        _save(folder, f"c{i}", synthetic_image(48, 60, 3, seed=i))
    return folder


def identity(image: np.ndarray, **condition: object) -> np.ndarray:
    return image


# ----------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("name", ["denoise-gray-s25", "denoise-color-s15", "jpeg-q10", "sr-bicubic-x3", "deblur-motion", "sr-realesrgan-x4", "denoise-camera"])
def test_samples_are_deterministic_per_seed_and_name(name: str) -> None:
    task = get_task(name)
    img = synthetic_image(50, 61, 3, seed=3)
    a = task.make_sample(img, name="x", seed=7)
    b = task.make_sample(img, name="x", seed=7)
    np.testing.assert_array_equal(a.degraded, b.degraded)
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.condition.keys() == b.condition.keys()
    if task.kind in ("denoise", "deblur") or "realesrgan" in name:  # random degradations: seed and name both matter
        assert not np.array_equal(a.degraded, task.make_sample(img, name="x", seed=8).degraded)
        assert not np.array_equal(a.degraded, task.make_sample(img, name="y", seed=7).degraded)


def test_image_rng_is_seed_and_name_derived() -> None:
    x = image_rng(0, "test001").standard_normal(4)
    np.testing.assert_array_equal(x, image_rng(0, "test001").standard_normal(4))
    assert not np.array_equal(x, image_rng(1, "test001").standard_normal(4))
    with pytest.raises(RestoraError):
        image_rng(-1, "a")


def test_denoise_noise_is_unclipped_with_the_right_std() -> None:
    task = get_task("denoise-gray-s50")
    clean = np.full((200, 200, 1), 0.05, np.float32)
    s = task.make_sample(clean, name="dark", seed=0)
    noise = s.degraded - s.reference
    assert s.degraded.min() < 0  # not clipped before the restorer
    assert abs(noise.std() - 50 / 255) < 0.01 * 50 / 255 * 3
    assert s.condition == {"sigma": 50.0}


def test_gray_tasks_turn_colour_into_8bit_y() -> None:
    img = synthetic_image(40, 48, 3, seed=1)
    for name in ("jpeg-q20", "denoise-gray-s15"):
        s = get_task(name).make_sample(img, name="c", seed=0)
        assert s.reference.shape == (40, 48, 1)
        np.testing.assert_allclose(s.reference * 255, np.round(s.reference * 255), atol=1e-3)
        y = 16 / 255 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255
        np.testing.assert_allclose(s.reference[..., 0], y, atol=0.5 / 255 + 1e-6)
    s = get_task("jpeg-q10").make_sample(img, name="c", seed=0)
    assert s.degraded.shape == (40, 48, 1) and s.condition == {"quality": 10}
    assert not np.array_equal(s.degraded, s.reference)


def test_sr_sample_crops_to_scale_and_rounds_lr() -> None:
    img = quantize(synthetic_image(50, 61, 3, seed=2))
    s = get_task("sr-bicubic-x4").make_sample(img, name="hr", seed=0)
    assert s.reference.shape == (48, 60, 3)
    assert s.degraded.shape == (12, 15, 3)
    np.testing.assert_allclose(s.degraded * 255, np.round(s.degraded * 255), atol=1e-3)
    assert s.condition == {"scale": 4} and s.crop == 4


def test_blind_sr_sample_is_an_8bit_quarter_size_lr() -> None:
    img = quantize(synthetic_image(70, 61, 3, seed=2))
    s = get_task("sr-realesrgan-x4").make_sample(img, name="hr", seed=0)
    assert s.reference.shape == (68, 60, 3) and s.degraded.shape == (17, 15, 3)
    np.testing.assert_allclose(s.degraded * 255, np.round(s.degraded * 255), atol=1e-3)
    assert s.condition == {"scale": 4} and s.crop == 4
    assert s.record.get("pipeline", "realesrgan") == "realesrgan"


def test_crop_grid_figures() -> None:
    from restora.bench.figures import crop, crop_grid, detail_box

    hr = np.zeros((64, 80, 3), np.float32)
    hr[24:56, 40:72] = synthetic_image(32, 32, 3, seed=1)  # the only detail
    box = detail_box(hr, 32, step=4, multiple=4)
    assert abs(box[0] - 24) <= 4 and abs(box[1] - 40) <= 4 and box[2:] == (32, 32)
    assert box[0] % 4 == 0 and box[1] % 4 == 0
    box = (24, 40, 32, 32)
    lr = hr[::4, ::4]
    c = crop(lr, box, hr.shape)  # the LR region, enlarged by pixel repetition
    assert c.shape == (32, 32, 3)
    np.testing.assert_array_equal(c[::4, ::4], lr[6:14, 10:18])
    grid = crop_grid([[c, crop(hr, box, hr.shape)]] * 2, ["LR", "HR"], cell=48)
    assert grid.shape[1] == 2 * 48 + 4 and grid.shape[0] > 2 * 48 and grid.dtype == np.float32
    with pytest.raises(RestoraError):
        crop_grid([[c]], ["LR", "HR"])
    with pytest.raises(RestoraError):
        detail_box(hr, 100)


def test_deblur_sample_gives_kernel_and_sigma() -> None:
    s = get_task("deblur-motion").make_sample(synthetic_image(40, 40, 1), name="k", seed=0)
    k = s.condition["kernel"]
    assert k.ndim == 2 and abs(float(k.sum()) - 1) < 1e-5
    assert s.condition["sigma"] == pytest.approx(2.55)
    json.dumps(s.record)


# ----------------------------------------------------------------------------- runner


def test_identity_on_known_noise_gives_the_expected_psnr(gray_set: Path) -> None:
    result = run_benchmark([identity, "input"], "denoise-gray-s25", [gray_set], seed=0, progress=False)
    # Mid-gray images: the noisy input, rounded to 8 bits, has MSE sigma^2 + 1/12 (levels^2).
    expected = 20 * math.log10(255 / math.sqrt(25**2 + 1 / 12))
    for method in ("identity", "input"):
        row = result.row(method, "flat")
        assert row.n_images == 3 and row.error is None
        assert row.scores["psnr"] == pytest.approx(expected, abs=0.1)
        per_image = [s.scores["psnr"] for s in result.images if s.method == method]
        assert row.scores["psnr"] == pytest.approx(float(np.mean(per_image)))
        assert 0 < row.scores["ssim"] < 1
        assert row.seconds_per_mp is not None and row.seconds_per_mp >= 0
    # both methods saw the same seeded inputs
    a = [s.scores["psnr"] for s in result.images if s.method == "identity"]
    b = [s.scores["psnr"] for s in result.images if s.method == "input"]
    assert a == b
    again = run_benchmark([identity], "denoise-gray-s25", [gray_set], seed=0, progress=False)
    assert again.row("identity", "flat").scores["psnr"] == result.row("identity", "flat").scores["psnr"]
    other = run_benchmark([identity], "denoise-gray-s25", [gray_set], seed=1, progress=False)
    assert other.row("identity", "flat").scores["psnr"] != result.row("identity", "flat").scores["psnr"]


def test_limit_and_perfect_restorer(rgb_set: Path) -> None:
    first = sorted(rgb_set.iterdir())[0]
    clean = np.asarray(Image.open(first), np.float32) / 255

    def oracle(image: np.ndarray, **c: object) -> np.ndarray:
        return clean.copy()

    result = run_benchmark([oracle], "denoise-color-s15", [rgb_set], limit=1, warmup=False, progress=False)
    row = result.row("oracle", "rgbset")
    assert row.n_images == 1 and [s.image for s in result.images] == [first.stem]
    assert math.isinf(row.scores["psnr"]) and row.scores["ssim"] == pytest.approx(1.0)


def test_failing_method_is_recorded_and_others_go_on(rgb_set: Path) -> None:
    def wrong_size(image: np.ndarray, **c: object) -> np.ndarray:
        return image[:-1]

    result = run_benchmark([wrong_size, identity], "denoise-color-s25", [rgb_set], progress=False)
    bad = result.row("wrong_size", "rgbset")
    assert bad.error and "does not match" in bad.error and bad.scores["psnr"] is None
    assert result.row("identity", "rgbset").error is None
    assert "error" in markdown_table(result)
    with pytest.raises(RestoraError):
        run_benchmark([wrong_size], "denoise-color-s25", [rgb_set], progress=False, strict=True)


def test_sr_runner_with_a_bicubic_callable(rgb_set: Path) -> None:
    from restora.degrade.resize import imresize

    def up(image: np.ndarray, *, scale: int, **c: object) -> np.ndarray:
        return imresize(image, scale)

    result = run_benchmark([up], "sr-bicubic-x2", [rgb_set], progress=False)
    row = result.row("up", "rgbset")
    assert row.error is None and 20 < row.scores["psnr"] < 60


def test_descriptor_figures_and_module_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Net:
        params = 1234
        flops_per_pixel = 5.5e3

        def __call__(self, image: np.ndarray, **c: object) -> np.ndarray:
            return image

    m = resolve_method(Net(), get_task("jpeg-q10"))
    assert (m.params, m.flops_per_pixel) == (1234, 5.5e3)
    (tmp_path / "my_bench_methods.py").write_text(
        "def passthrough(image, **condition):\n    return image\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    m = resolve_method("my_bench_methods:passthrough", get_task("jpeg-q10"))
    assert m.source == "module:function" and m.params is None
    with pytest.raises(RestoraError, match="no attribute"):
        resolve_method("my_bench_methods:nothing", get_task("jpeg-q10"))
    sys.modules.pop("my_bench_methods", None)


def test_outputs_are_written_and_published_rows_marked(tmp_path: Path) -> None:
    folder = tmp_path / "BSD68"  # a folder named like a known set gets that set's published rows
    for i in range(2):
        _save(folder, f"t{i}", synthetic_image(40, 44, 1, seed=i))
    net = BenchMethod(name="net", restorer=identity, kind="neural", params=556_000, flops_per_pixel=1.1e6)
    result = run_benchmark([net, "input"], "denoise-gray-s25", [folder], progress=False)
    pub = result.published_rows
    assert {r.method for r in pub} >= {"BM3D", "DnCNN-S"} and all(r.published and r.citation for r in pub)
    assert next(r for r in pub if r.method == "BM3D").scores["psnr"] == 28.57
    paths = write_outputs(result, tmp_path / "out")
    for key in ("csv", "images_csv", "json", "markdown", "png"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(paths["csv"].open()))
    assert {r["source"] for r in rows} == {"measured", "published"}
    bm3d = next(r for r in rows if r["method"] == "BM3D")
    assert "Zhang" in bm3d["citation"] and bm3d["seconds_per_mp"] == ""
    assert next(r for r in rows if r["method"] == "net")["params"] == "556000"
    data = json.loads(paths["json"].read_text())
    assert markdown_table(BenchResult.from_dict(data)) == markdown_table(result)
    assert data["task"] == "denoise-gray-s25" and len(data["images"]) == 4
    assert data["conventions"]["scoring"] == {"crop": 0, "y_channel": False, "round_to_uint8": True}
    md = paths["markdown"].read_text()
    assert "BM3D †1" in md and "published, not measured here" in md and "556K" in md


def test_published_rows_have_citations() -> None:
    rows = published_results("sr-bicubic-x4", ["Set5", "Set14"])
    bic = {r.dataset: r.psnr for r in rows if r.method == "Bicubic"}
    assert bic == {"Set5": 28.42, "Set14": 26.00}
    assert all(r.citation and r.task in TASKS for r in published_results("jpeg-q10"))


def test_kodak24_is_a_colour_denoising_set_with_the_ffdnet_papers_rows() -> None:
    task = get_task("denoise-color-s25")
    assert "Kodak24" in task.datasets and task.default_datasets == ("CBSD68",)
    rows = {r.method: r.psnr for r in published_results("denoise-color-s25", ["Kodak24"])}
    assert rows == {"CBM3D": 31.68, "CDnCNN-B": 32.03, "FFDNet": 32.13}
    assert all(r.source == "FFDNet" for r in published_results("denoise-color-s50", ["Kodak24"]))


# ----------------------------------------------------------------------------- errors and CLI


def test_unknown_names_list_valid_ones(gray_set: Path) -> None:
    with pytest.raises(RestoraError, match="denoise-gray-s25"):
        get_task("denoise-grey-s25")
    task = get_task("denoise-gray-s25")
    with pytest.raises(RestoraError, match="BSD68, Set12"):
        resolve_dataset("Set5", task)  # a known set, but not for this task
    with pytest.raises(RestoraError, match="BSD68, Set12"):
        resolve_dataset("NoSuchSet", task)
    with pytest.raises(RestoraError, match="input"):
        resolve_method("no-such-method", task)
    with pytest.raises(RestoraError, match="sr"):
        resolve_method("input", get_task("sr-bicubic-x2"))
    with pytest.raises(RestoraError, match="psnr"):
        run_benchmark([identity], task, [gray_set], metrics=("psnr", "fancy"), progress=False)


def test_cli_runs_and_reports_errors_in_one_line(gray_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restora.cli.main import main

    out = tmp_path / "cli"
    code = main(["bench", "denoise-gray-s25", "--methods", "input", "--datasets", str(gray_set),
                 "--out", str(out), "--no-progress", "--limit", "2"])
    assert code == 0
    assert (out / "summary.csv").is_file() and (out / "quality_vs_speed.png").is_file()
    assert "input" in capsys.readouterr().out
    assert main(["bench", "denoise-gray-s99", "--methods", "input"]) == 2
    err = capsys.readouterr().err.strip()
    assert "denoise-gray-s25" in err and len(err.splitlines()) == 1
    assert main(["bench", "denoise-gray-s25", "--methods", "nope", "--datasets", str(gray_set)]) == 2
    assert "available" in capsys.readouterr().err
    assert main(["bench", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "sr-bicubic-x4" in listing and "classic5" in listing


def test_bicubic_reproduces_the_published_set5_x4(data_dir: Path) -> None:
    from restora.degrade.resize import imresize

    def bicubic(image: np.ndarray, *, scale: int, **c: object) -> np.ndarray:
        return imresize(image, scale)

    result = run_benchmark([bicubic], "sr-bicubic-x4", ["Set5"], metrics=("psnr",), progress=False)
    assert result.row("bicubic", "Set5").scores["psnr"] == pytest.approx(28.42, abs=0.02)


def test_weights_file_method(tmp_path: Path, gray_set: Path) -> None:
    from restora.nn.registry import create_model
    from restora.zoo import ModelCard, save_model

    model = create_model("dncnn", in_channels=1, features=4, depth=3)
    path = save_model(model, tmp_path / "tiny.safetensors",
                      ModelCard(name="tiny-dncnn", arch="dncnn", args={}, task="denoise", channels=1))
    m = resolve_method(str(path), get_task("denoise-gray-s25"), device="cpu")
    assert m.name == "tiny-dncnn" and m.kind == "neural" and m.source == "weights"
    assert m.params == sum(p.numel() for p in model.parameters()) and m.flops_per_pixel
    result = run_benchmark([m], "denoise-gray-s25", [gray_set], limit=1, progress=False)
    assert result.row("tiny-dncnn", "flat").error is None
    with pytest.raises(RestoraError, match="denoise model"):
        resolve_method(str(path), get_task("sr-bicubic-x2"))


def test_blind_suffix_withholds_the_condition(gray_set: Path) -> None:
    seen: list[dict] = []

    def spy(image: np.ndarray, **condition: object) -> np.ndarray:
        seen.append(dict(condition))
        return image

    task = get_task("denoise-gray-s25")
    m = resolve_method(BenchMethod("spy", spy), task)
    blind = resolve_method(f"{__name__}:identity+blind", task)
    assert blind.name.endswith("+blind") and "blind" in blind.description
    from restora.bench.methods import _blind

    run_benchmark([_blind(m)], task, [gray_set], limit=1, progress=False)
    assert seen and all(c == {} for c in seen)  # sigma withheld
    run_benchmark([m], task, [gray_set], limit=1, progress=False)
    assert seen[-1] == {"sigma": 25.0}


def test_self_ensemble_averages_the_8_transforms_and_the_x8_suffix() -> None:
    from restora.ensemble import dihedral, self_ensemble, undihedral

    img = synthetic_image(9, 13, 3, seed=4)
    for k in range(8):
        np.testing.assert_array_equal(undihedral(dihedral(img, k), k), img)
    assert len({dihedral(img, k).tobytes() for k in range(8)}) == 8
    # an equivariant restorer is unchanged; a position-dependent one gets the orbit average
    np.testing.assert_allclose(self_ensemble(lambda x, scale: np.repeat(np.repeat(x, scale, 0), scale, 1), img, scale=2),
                               np.repeat(np.repeat(img, 2, 0), 2, 1), atol=1e-6)
    ramp = lambda x: x + np.arange(x.shape[0], dtype=np.float32)[:, None, None]  # noqa: E731
    out = self_ensemble(ramp, img)
    expected = np.mean([undihedral(ramp(np.ascontiguousarray(dihedral(img, k))), k) for k in range(8)], axis=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(RestoraError, match="kernel"):
        self_ensemble(ramp, img, kernel=np.ones((3, 3)))
    m = resolve_method("bicubic+x8", get_task("sr-bicubic-x2"))
    assert m.name == "bicubic+x8" and "self-ensemble" in m.description
    lr = synthetic_image(10, 12, 3, seed=5)
    assert m.restorer(lr, scale=2).shape == (20, 24, 3)


def test_camera_task_scores_against_the_noise_free_isp_output() -> None:
    from restora.degrade import isp

    task = TASKS["denoise-camera"]
    img = synthetic_image(48, 40, 3, seed=2)
    sample = task.make_sample(img, name="cam")
    assert "target" not in sample.condition and "sigma" not in sample.condition  # blind: nothing is given
    assert sample.reference.shape == sample.degraded.shape == img.shape
    assert np.array_equal(quantize(sample.degraded), sample.degraded)  # an 8-bit file
    assert not np.allclose(sample.reference, img, atol=1e-3)  # the ISP's own rendering is the target
    # the target is the ISP output of the same raw without noise: noise is the only difference
    again = task.make_sample(img, name="cam")
    assert np.array_equal(again.reference, sample.reference) and np.array_equal(again.degraded, sample.degraded)
    residual = sample.degraded - sample.reference
    assert 2 / 255 < float(residual.std()) < 60 / 255 and abs(float(residual.mean())) < 0.02
    assert sample.record["op"] == "camera_sensor_noise" and task.parameters["shot"][0] > 0
    assert callable(isp.read_noise_for_shot)


def test_speed_plot_skips_infinite_scores(gray_set: Path, tmp_path: Path) -> None:
    """A set holding an untouched image has an infinite mean PSNR: the plot leaves it out
    instead of failing after the whole run (it used to raise from matplotlib)."""
    from restora.bench.report import plot_quality_speed

    task = get_task("denoise-gray-s25")
    def halve(image: np.ndarray, **condition: object) -> np.ndarray:
        return image * 0.5

    result = run_benchmark([identity, halve], task, [gray_set], progress=False, limit=1)
    for row in result.measured_rows:
        row.scores["psnr"] = float("inf")
    assert plot_quality_speed(result, tmp_path / "q.png").is_file()
