"""restora.degrade.realistic (seeded damage chains) and the restore-auto / denoise-polyu /
deblur-levin bench tasks (restora.bench.restore_auto)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from restora.degrade.realistic import (
    CHAIN_ORDER,
    DAMAGE_FAMILIES,
    apply_damage,
    damage_kinds,
    damage_label,
    damage_target,
    draw_damage,
    random_damage,
)


def _image(h: int = 48, w: int = 56, seed: int = 0) -> np.ndarray:
    """A smooth-ish 8-bit test image with edges (so blur, noise and JPEG all change it)."""
    gen = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(x / 5.0)[..., None] * np.cos(y / 7.0)[..., None] * np.array([1.0, 0.7, 0.4], np.float32)
    base[h // 3 : 2 * h // 3, w // 4 : w // 2] = 0.9
    base = base + 0.03 * gen.standard_normal((h, w, 3)).astype(np.float32)
    return (np.round(np.clip(base, 0, 1) * 255) / 255).astype(np.float32)


ALL_KINDS = ("motion_blur", "defocus_blur", "gaussian_noise", "poisson_noise", "camera_noise", "jpeg")


def test_chain_is_deterministic_per_seed_and_varies_across_seeds():
    img = _image()
    a, b = random_damage(img, 11), random_damage(img, 11)
    assert np.array_equal(a.image, b.image)
    assert json.dumps(a.record, sort_keys=True) == json.dumps(b.record, sort_keys=True)
    labels = {damage_label(random_damage(img, s).record) for s in range(12)}
    assert len(labels) > 6  # different seeds draw different chains


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_kind_record_is_json_and_replays_bit_for_bit(kind):
    img = _image()
    out = random_damage(img, 3, kinds=(kind,), clean_share=0.0)
    assert damage_kinds(out.record) == [kind]
    text = json.dumps(out.record)  # JSON-serialisable as is
    replay = apply_damage(img, json.loads(text))
    assert np.array_equal(replay.image, out.image)
    assert out.image.dtype == np.float32 and out.image.shape == img.shape
    assert np.array_equal(out.image, np.round(out.image * 255) / 255)  # written as an 8-bit file
    assert not np.array_equal(out.image, img)
    step = out.record["steps"][0]
    if DAMAGE_FAMILIES[kind] == "noise":
        assert step["rms_sigma"] > 1.0
    if DAMAGE_FAMILIES[kind] == "blur":
        k = np.asarray(step["kernel"])
        assert k.ndim == 2 and abs(k.sum() - 1) < 1e-6
    if kind == "motion_blur":  # a real kernel from the bank when the shared data is there
        assert step["kernel_name"] is None or step["kernel_name"].endswith(".npy")


def test_order_count_and_clean_share():
    records = [draw_damage(s) for s in range(300)]
    clean = [r for r in records if r["clean"]]
    assert 0.05 < len(clean) / len(records) < 0.16
    for r in records:
        fams = [DAMAGE_FAMILIES[k] for k in r["kinds"]]
        assert len(fams) == len(set(fams)) <= 3
        assert fams == sorted(fams, key=CHAIN_ORDER.index)  # blur -> downscale -> noise -> JPEG
        assert "downscale" not in fams  # not in the default chain
        assert r["clean"] == (not r["kinds"])
    img = _image()
    untouched = apply_damage(img, draw_damage(0, clean_share=1.0))
    assert np.array_equal(untouched.image, img) and untouched.record["clean"]


def test_downscale_option_and_target():
    img = _image(50, 58)
    out = random_damage(img, 2, downscale=True, kinds=("downscale", "gaussian_noise"), clean_share=0.0)
    s = out.record["scale"]
    assert "downscale" in out.record["kinds"] and s in (2, 4)
    target = damage_target(img, out.record)
    assert target.shape == (50 - 50 % s, 58 - 58 % s, 3)
    assert out.image.shape == (target.shape[0] // s, target.shape[1] // s, 3)


def test_camera_noise_target_is_the_noise_free_isp_output():
    img = _image()
    out = random_damage(img, 5, kinds=("camera_noise",), clean_share=0.0)
    target = damage_target(img, json.loads(json.dumps(out.record)))
    assert target.shape == img.shape and not np.array_equal(target, img)
    # the damaged image differs from that target by the noise alone: about rms_sigma
    rms = 255 * np.std(out.image - target)
    assert 0.5 * out.record["steps"][0]["rms_sigma"] < rms < 1.5 * out.record["steps"][0]["rms_sigma"] + 1
    plain = random_damage(img, 5, kinds=("gaussian_noise",), clean_share=0.0)
    assert np.array_equal(damage_target(img, plain.record), img)


def test_oracle_plan_from_record():
    from restora.bench.restore_auto import oracle_plan

    kernel = np.zeros((5, 5))
    kernel[2, 1:4] = 1 / 3
    record = {
        "steps": [
            {"kind": "motion_blur", "kernel_name": "m_01.npy", "kernel": kernel.tolist(), "seed": 1},
            {"kind": "poisson_noise", "peak": 50.0, "rms_sigma": 12.5, "seed": 2},
            {"kind": "jpeg", "quality": 35, "chroma_subsampling": "4:2:0", "seed": 3},
        ]
    }
    op = oracle_plan(record)
    assert op.steps == ["jpeg", "denoise:drunet-gray"]  # the planner's colour choice by measured score
    assert op.analysis["noise_sigma"] == 12.5 and op.analysis["jpeg_quality"] == 35.0
    assert op.analysis["jpeg_source"] == "tables"
    assert np.array_equal(op.kernel, kernel) and op.deblur_method == "map-hyper-laplacian" and op.scale is None
    assert op.deblur_sigma == 3.0  # after JPEG/denoise steps: max(3, 0.1 x 12.5)
    blur_only = oracle_plan({"steps": [record["steps"][0]]})
    assert blur_only.steps == [] and blur_only.deblur_sigma == 1.0
    loud = oracle_plan({"steps": [record["steps"][0], {"kind": "gaussian_noise", "sigma": 45.0, "rms_sigma": 45.0, "seed": 0}]})
    assert loud.deblur_sigma == pytest.approx(4.5)
    cam = oracle_plan({"steps": [{"kind": "camera_noise", "iso": 800, "rms_sigma": 4.0, "seed": 0}]})
    assert cam.steps == ["denoise:ffdnet-camera"] and cam.kernel is None
    gray = oracle_plan({"steps": [{"kind": "gaussian_noise", "sigma": 9.0, "rms_sigma": 9.0, "seed": 0}]}, channels=1)
    assert gray.steps == ["denoise:drunet-gray"]
    empty = oracle_plan({"clean": True, "steps": []})
    assert empty.steps == [] and empty.kernel is None
    with pytest.raises(Exception, match="rms_sigma"):  # an unapplied record is refused
        oracle_plan({"steps": [{"kind": "gaussian_noise", "sigma": 9.0, "seed": 0}]})
    # a real drawn record gives the matching steps
    out = random_damage(_image(), 1, kinds=("defocus_blur", "gaussian_noise"), clean_share=0.0)
    op = oracle_plan(out.record)
    assert ("denoise:drunet-gray" in op.steps) == ("gaussian_noise" in out.record["kinds"])
    assert (op.kernel is not None) == ("defocus_blur" in out.record["kinds"])


def _write(folder, name, img):
    from restora.io import write_image

    write_image(folder / name, img)


def test_restore_auto_end_to_end_on_a_tiny_folder(tmp_path):
    from restora.bench import run_benchmark
    from restora.bench.restore_auto import summarize, summary_markdown
    from restora.bench.tasks import get_task
    from restora.metrics import psnr

    folder = tmp_path / "tiny"
    folder.mkdir()
    imgs = {"a": _image(48, 56, 1), "b": _image(48, 56, 2)}
    for n, im in imgs.items():
        _write(folder, f"{n}.png", im)
    result = run_benchmark(["none", "auto", "oracle"], "restore-auto", [str(folder)], seed=3, progress=False, published=False, strict=True)
    assert {r.method for r in result.measured_rows} == {"none", "auto", "oracle"}
    task = get_task("restore-auto")
    for n, im in imgs.items():
        sample = task.make_sample(im, name=n, seed=3)
        from restora.bench.runner import align_to

        deg = np.clip(sample.degraded, 0, 1)
        if sample.align:  # blurred samples are scored up to a translation
            deg = align_to(deg, sample.reference, sample.align)
        expected = psnr(sample.reference, deg, crop=max(sample.crop, sample.align), data_range=1.0, round_to_uint8=True)
        got = next(s.scores["psnr"] for s in result.images if s.method == "none" and s.image == n)
        assert got == pytest.approx(expected, abs=1e-6)
        assert sample.condition["damage"]["kinds"] == damage_kinds(sample.record)
    summary = summarize(result.to_dict())["datasets"]["tiny"]
    assert summary["n"] == 2 and len(summary["images"]) == 2
    deltas = [r["auto"] - r["none"] for r in summary["images"]]
    assert summary["worst_delta"] == pytest.approx(min(deltas))
    gaps = [r["oracle"] - r["auto"] for r in summary["images"]]
    assert summary["mean_gap_oracle"] == pytest.approx(float(np.mean(gaps)))
    assert "auto better than none" in summary_markdown(summarize(result))

    # untouched images (infinite PSNR) are counted apart, not averaged into the deltas
    data = result.to_dict()
    data["images"] = [dict(s, scores=dict(s["scores"])) for s in data["images"]]
    from restora.bench import restore_auto as ra

    monkey = {("tiny", "a"): {"clean": True, "kinds": [], "steps": []}}
    real = ra._records
    ra._records = lambda res: {**real(res), **monkey}
    try:
        for s in data["images"]:
            if s["image"] == "a":
                s["scores"]["psnr"] = float("inf") if s["method"] != "auto" else 45.0
        summ = ra.summarize(data)["datasets"]["tiny"]
    finally:
        ra._records = real
    assert summ["n"] == 1 and summ["n_clean"] == 1 and summ["clean_unchanged"] == 0 and summ["clean_min_psnr"] == 45.0
    assert math.isfinite(summ["worst_delta"]) and math.isfinite(summ["mean_delta"])


def test_oracle_beats_input_on_known_noise():
    from restora.bench.restore_auto import run_oracle
    from restora.metrics import psnr

    img = _image(64, 64, 4)
    out = apply_damage(img, {"version": 1, "clean": False, "steps": [{"kind": "gaussian_noise", "sigma": 30.0, "seed": 1}]})
    restored = run_oracle(out.image, out.record)
    assert psnr(img, np.clip(restored, 0, 1), data_range=1.0) > psnr(img, out.image, data_range=1.0) + 1.0


def test_polyu_pairs_and_levin_calibration(tmp_path):
    from restora.bench import run_benchmark
    from restora.bench.restore_auto import levin_kernel_calibration
    from restora.degrade.convolve import convolve
    from restora.metrics import psnr

    folder = tmp_path / "pairs"
    folder.mkdir()
    clean = _image(40, 40, 7)
    noisy = (np.round(np.clip(clean + 0.05 * np.random.default_rng(0).standard_normal(clean.shape), 0, 1) * 255) / 255).astype(np.float32)
    _write(folder, "cam_1_mean.png", clean)
    _write(folder, "cam_1_real.png", noisy)
    _write(folder, "cam_2_mean.png", noisy)  # a mean without its real partner is ignored
    result = run_benchmark(["none"], "denoise-polyu", [str(folder)], progress=False, published=False, strict=True)
    assert [s.image for s in result.images] == ["cam_1_mean"]
    assert result.images[0].scores["psnr"] == pytest.approx(psnr(clean, noisy, data_range=1.0, round_to_uint8=True), abs=1e-6)

    sharp = _image(64, 64, 8)[..., :1]
    k = np.zeros((7, 7))
    k[3, 0:6] = 1.0
    k[2, 5] = 1.0
    k /= k.sum()
    stored = k[::-1, ::-1]  # the "file" holds the kernel rotated 180 degrees ...
    true = np.roll(np.pad(k, 2), (1, -2), axis=(0, 1))  # ... and the blur was off-centre
    blurred = np.asarray(convolve(sharp, true.astype(np.float32)), dtype=np.float32)
    found, cal = levin_kernel_calibration(sharp, blurred, stored, max_shift=3)
    assert cal["rotated_180"] is True and cal["shift"] == [1, -2]
    assert np.allclose(np.asarray(convolve(sharp, found.astype(np.float32)))[8:-8, 8:-8], blurred[8:-8, 8:-8], atol=1e-5)


def test_blurred_samples_are_scored_up_to_a_translation():
    """A blind deconvolution recovers the kernel up to a shift: the score aligns (Levin)."""
    from restora.bench.runner import align_to

    rng = np.random.default_rng(0)
    ref = rng.random((40, 48, 3)).astype(np.float32)
    moved = np.roll(ref, (2, -3), axis=(0, 1))
    back = align_to(moved, ref, 4)
    np.testing.assert_array_equal(back[4:-4, 4:-4], ref[4:-4, 4:-4])
    assert align_to(moved, ref, 0) is moved
