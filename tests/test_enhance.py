"""Dehazing (dark channel prior + guided filter), exposure correction (LIME-style, CLAHE),
their catalogue entries and the dehaze-synthetic / exposure-synthetic bench tasks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from conftest import synthetic_image
from restora.classical.dehaze import dark_channel, dehaze_dark_channel, estimate_airlight, guided_filter
from restora.classical.exposure import correct_exposure_clahe, correct_exposure_lime, refine_illumination
from restora.degrade.exposure import exposure
from restora.degrade.haze import haze, transmission
from restora.errors import InvalidParameterError
from restora.metrics import psnr
from restora.restorers import TASKS as RESTORER_TASKS
from restora.restorers import get_restorer, list_restorers


def _colourful(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    """Blocks of saturated colours (one channel near 0 in every pixel: the dark channel prior
    holds) with mild texture."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0.3, 0.9, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    dark = rng.integers(0, 3, blocks.shape[:2])
    blocks[np.arange(blocks.shape[0])[:, None], np.arange(blocks.shape[1])[None, :], dark] = 0.02
    img = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:h, :w]
    img = img * (1 + 0.05 * rng.standard_normal((h, w, 1)).astype(np.float32))
    return np.clip(img, 0, 1).astype(np.float32)


def _depth(h: int, w: int) -> np.ndarray:
    return np.repeat(np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None], w, axis=1)


# ----------------------------------------------------------------------------- dehaze


def test_dark_channel_is_a_min_filter_of_the_channel_minimum() -> None:
    img = _colourful(40, 40)
    d = dark_channel(img, 5)
    ref = sliding_window_view(np.pad(img.min(axis=2), 2, mode="edge"), (5, 5)).min(axis=(2, 3))
    np.testing.assert_allclose(d, ref, atol=1e-7)


def test_dehaze_recovers_airlight_and_improves_psnr() -> None:
    clean = _colourful(96, 96)
    a_true = np.array([0.8, 0.85, 0.9])
    depth = _depth(96, 96)
    depth[:12] = 4.0  # a band of dense haze ("sky"): the airlight shows there
    hazy = haze(clean, 1.5, airlight=tuple(a_true), depth=depth).image
    restored, info = dehaze_dark_channel(hazy, patch=7, guided_radius=8)
    np.testing.assert_allclose(info["airlight"], a_true, atol=0.02)
    t_true = transmission(depth, 1.5)
    t_est = info["transmission"]
    assert t_est.shape == (96, 96)
    # omega 0.95 leaves a little haze: t slightly above the truth, following it
    rows_true, rows_est = t_true[12:].mean(axis=1), t_est[12:].mean(axis=1)
    assert np.corrcoef(rows_true, rows_est)[0, 1] > 0.95
    assert float(np.abs(rows_est - rows_true).mean()) < 0.06
    # scored below the dense band (t = 0.0025 there: nothing left to recover)
    before = psnr(hazy[12:], clean[12:])
    after = psnr(np.clip(restored, 0, 1)[12:], clean[12:])
    assert after > before + 10, (before, after)
    # the known airlight is used when given
    _, info_known = dehaze_dark_channel(hazy, patch=7, guided_radius=8, airlight=tuple(a_true))
    np.testing.assert_allclose(info_known["airlight"], a_true, atol=1e-6)


def test_dehaze_on_a_haze_free_image_changes_little_and_gray_works() -> None:
    clean = _colourful(64, 64, seed=3)
    restored, _ = dehaze_dark_channel(clean, patch=7, guided_radius=8)
    assert psnr(np.clip(restored, 0, 1), clean) > 25
    gray = haze(synthetic_image(48, 48, 1), 1.0, depth=_depth(48, 48)).image
    out, info = dehaze_dark_channel(gray, patch=5, guided_radius=4)
    assert out.shape == (48, 48, 1) and len(info["airlight"]) == 1
    with pytest.raises(InvalidParameterError):
        dehaze_dark_channel(gray, omega=1.5)
    with pytest.raises(InvalidParameterError):
        dehaze_dark_channel(_colourful(16, 16), airlight=(0.9, 0.9))


def test_estimate_airlight_takes_the_brightest_dark_channel_pixels() -> None:
    img = np.full((50, 50, 3), 0.1, np.float32)
    img[10:12, 20:22] = (0.7, 0.8, 0.9)  # 4 pixels of 2500: the brightest 0.1 % (3 pixels) lie there
    a = estimate_airlight(img, dark_channel(img, 1))
    np.testing.assert_allclose(a, [0.7, 0.8, 0.9], atol=1e-6)


# ----------------------------------------------------------------------------- guided filter


def _box_mean_ref(x: np.ndarray, r: int) -> np.ndarray:
    """Window means with symmetric (edge-duplicating) mirroring: OpenCV's BORDER_REFLECT."""
    return sliding_window_view(np.pad(x.astype(np.float64), r, mode="symmetric"), (2 * r + 1, 2 * r + 1)).mean(axis=(2, 3))


def _guided_ref(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al. 2010, Algorithm 1 (gray guide) / eq. 14 (colour guide), with explicit per-pixel solves."""
    p = src.astype(np.float64)
    if guide.ndim == 2:
        i = guide.astype(np.float64)
        mi, mp = _box_mean_ref(i, r), _box_mean_ref(p, r)
        a = (_box_mean_ref(i * p, r) - mi * mp) / (_box_mean_ref(i * i, r) - mi * mi + eps)
        b = mp - a * mi
        return _box_mean_ref(a, r) * i + _box_mean_ref(b, r)
    g = guide.astype(np.float64)
    mu = np.stack([_box_mean_ref(g[:, :, k], r) for k in range(3)], axis=-1)
    cov = np.empty(g.shape[:2] + (3, 3))
    for k in range(3):
        for m in range(3):
            cov[:, :, k, m] = _box_mean_ref(g[:, :, k] * g[:, :, m], r) - mu[:, :, k] * mu[:, :, m]
    mp = _box_mean_ref(p, r)
    cip = np.stack([_box_mean_ref(g[:, :, k] * p, r) - mu[:, :, k] * mp for k in range(3)], axis=-1)
    a = np.linalg.solve(cov + eps * np.eye(3), cip[..., None])[..., 0]
    b = mp - (a * mu).sum(axis=-1)
    return sum(_box_mean_ref(a[:, :, k], r) * g[:, :, k] for k in range(3)) + _box_mean_ref(b, r)


@pytest.mark.parametrize("channels", [1, 3])
def test_guided_filter_matches_a_reference_computation(channels: int) -> None:
    guide = synthetic_image(30, 34, channels, seed=1)
    src = synthetic_image(30, 34, 1, seed=2)[:, :, 0]
    for r, eps in ((2, 1e-3), (4, 1e-2)):
        ours = guided_filter(guide[:, :, 0] if channels == 1 else guide, src, r, eps)
        ref = _guided_ref(guide[:, :, 0] if channels == 1 else guide, src, r, eps)
        np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_guided_filter_preserves_edges_better_than_a_box_blur() -> None:
    rng = np.random.default_rng(0)
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    noisy = step + 0.05 * rng.standard_normal(step.shape).astype(np.float32)
    r = 6
    out = guided_filter(noisy, noisy, r, 1e-2)
    box = _box_mean_ref(noisy, r)
    band = slice(32 - r, 32 + r)  # the pixels whose window straddles the edge
    err_guided = float(np.abs(out[:, band] - step[:, band]).mean())
    err_box = float(np.abs(box[:, band] - step[:, band]).mean())
    assert err_guided < 0.3 * err_box, (err_guided, err_box)
    # and it still smooths the flat parts
    assert float(out[:, :20].std()) < 0.5 * float(noisy[:, :20].std())
    # a 3-channel src is filtered per channel; shapes kept
    assert guided_filter(noisy, np.dstack([noisy] * 3), r, 1e-2).shape == (64, 64, 3)
    with pytest.raises(InvalidParameterError):
        guided_filter(noisy, noisy[:10], r, 1e-2)


# ----------------------------------------------------------------------------- exposure


def _natural(seed: int = 0) -> np.ndarray:
    """Test image with a mean luminance of about 0.42 (inside the default band)."""
    return (0.75 * synthetic_image(64, 80, 3, seed=seed)).astype(np.float32)


def test_lime_brightens_an_underexposed_image_and_improves_psnr() -> None:
    clean = _natural()
    dark = exposure(clean, -2.0).image
    out, info = correct_exposure_lime(dark)
    assert info["mode"] == "under" and 0 < info["gamma"] <= 0.5
    assert float(out.mean()) > float(dark.mean()) + 0.05
    assert psnr(np.clip(out, 0, 1), clean) > psnr(dark, clean) + 3
    # the WLS refinement works too
    out_wls, _ = correct_exposure_lime(dark, smoothing="wls")
    assert psnr(np.clip(out_wls, 0, 1), clean) > psnr(dark, clean) + 3


def test_lime_darkens_an_overexposed_image_and_leaves_a_good_one() -> None:
    clean = _natural(1)
    bright = exposure(clean, 1.0, gamma=0.8).image
    out, info = correct_exposure_lime(bright)
    assert info["mode"] == "over"
    assert float(out.mean()) < float(bright.mean())
    assert psnr(np.clip(out, 0, 1), clean) > psnr(bright, clean) + 1
    same, info_ok = correct_exposure_lime(clean)
    assert info_ok["mode"] == "none"
    np.testing.assert_array_equal(same, clean)
    # mode "under" never darkens
    up, _ = correct_exposure_lime(bright, mode="under")
    assert float(up.mean()) >= float(bright.mean()) - 1e-6
    with pytest.raises(InvalidParameterError):
        correct_exposure_lime(clean, target=(0.6, 0.4))


def test_wls_refinement_smooths_texture_and_keeps_a_step() -> None:
    rng = np.random.default_rng(0)
    t = np.full((40, 40), 0.2, np.float32)
    t[:, 20:] = 0.8
    noisy = np.clip(t + 0.02 * rng.standard_normal(t.shape).astype(np.float32), 0, 1)
    ref = refine_illumination(noisy, smoothing="wls")
    # texture inside the flat parts is smoothed away, the step stays sharp (within 2 px)
    for cols in (slice(2, 17), slice(23, 38)):  # noise (variation down the columns) removed
        assert float(ref[:, cols].std(axis=0).mean()) < 0.3 * float(noisy[:, cols].std(axis=0).mean())
    assert float(ref[:, 21].mean() - ref[:, 18].mean()) > 0.4
    # the guided variant too
    gref = refine_illumination(noisy, smoothing="guided", radius=4, eps=1e-2)
    assert float(gref[:, 21].mean() - gref[:, 18].mean()) > 0.4


def test_clahe_raises_contrast_of_a_flat_dark_image() -> None:
    clean = _natural()
    low = (0.3 * clean + 0.05).astype(np.float32)
    out, info = correct_exposure_clahe(low)
    assert out.shape == low.shape and info["tile_grid"] == 8
    assert float(out.std()) > 1.5 * float(low.std())
    gray, _ = correct_exposure_clahe(low[:, :, :1])
    assert gray.shape == (64, 80, 1)


# ----------------------------------------------------------------------------- catalogue and bench


def test_registered_in_the_catalogue() -> None:
    assert "dehaze" in RESTORER_TASKS and "exposure" in RESTORER_TASKS
    assert "dark-channel" in {i.name for i in list_restorers("dehaze")}
    assert {"lime", "clahe"} <= {i.name for i in list_restorers("exposure")}
    img = _natural()
    for name in ("dark-channel", "lime", "clahe"):
        out = get_restorer(name)(img)
        assert out.shape == img.shape and out.dtype == np.float32


def _save(folder: Path, name: str, image: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.floor(np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(folder / f"{name}.png")


def test_bench_tasks_smoke(tmp_path: Path) -> None:
    from restora.bench import run_benchmark
    from restora.bench.tasks import get_task

    folder = tmp_path / "tiny"
    _save(folder, "a", _colourful(48, 48, seed=1))
    _save(folder, "b", _natural(2)[:48, :48])
    haze_result = run_benchmark(["input", "dark-channel"], "dehaze-synthetic", [folder], progress=False, warmup=False)
    assert haze_result.row("dark-channel", "tiny").error is None
    assert haze_result.row("dark-channel", "tiny").n_images == 2
    exp_result = run_benchmark(["input", "lime", "clahe"], "exposure-synthetic", [folder], progress=False, warmup=False)
    for m in ("input", "lime", "clahe"):
        row = exp_result.row(m, "tiny")
        assert row.error is None and row.scores["psnr"] > 5
    # seeded, JSON-able records; the descriptions say the degradations are synthetic
    for name in ("dehaze-synthetic", "exposure-synthetic"):
        task = get_task(name)
        assert "synthetic" in task.description and task.default_datasets == ("Kodak24",)
        s1 = task.make_sample(_natural(), name="x", seed=0)
        s2 = task.make_sample(_natural(), name="x", seed=0)
        np.testing.assert_array_equal(s1.degraded, s2.degraded)
        json.dumps(s1.record)
    assert "depth proxy" in get_task("dehaze-synthetic").description
