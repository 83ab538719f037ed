"""Haze and exposure detectors and the restore planner's dehaze / exposure steps (issue 21)."""

from importlib import resources

import numpy as np
import pytest

from restora.classical.enhance_detect import DETECTORS, FEATURE_NAMES, detect_enhancements, enhance_features
from restora.degrade.exposure import exposure
from restora.degrade.haze import haze
from restora.io import read_image
from restora.metrics import psnr
from restora.pipeline import RestorePipeline


@pytest.fixture(scope="module")
def photo():
    return read_image(str(resources.files("restora.samples") / "sample_clean.png"))[..., :3]


@pytest.fixture(scope="module")
def small(photo):
    import cv2

    return cv2.resize(photo, (192, 128), interpolation=cv2.INTER_AREA)  # the analysis is the slow part


@pytest.fixture(scope="module")
def pipe():
    return RestorePipeline(device="cpu")


def fired(d):
    return {k for k in ("haze", "under", "over") if d[k]}


def test_features_and_detectors_are_consistent(photo):
    f = enhance_features(photo)
    assert set(f) == set(FEATURE_NAMES)
    assert all(len(d.weights) == len(FEATURE_NAMES) for d in DETECTORS.values())
    assert 0 <= f["dark_p10"] <= f["dark_median"] <= 1 and 0 <= f["luma_p05"] <= f["luma_mean"] <= f["luma_p95"] <= 1
    gray = photo.mean(axis=2, keepdims=True)
    assert enhance_features(gray)["saturation"] == 0.0
    assert detect_enhancements(np.clip(haze(gray, 3.0, airlight=0.9, rng=0).image, 0, 1))["haze"] is False


def test_clean_photo_fires_nothing_and_clear_cases_fire(photo):
    assert fired(detect_enhancements(photo)) == set()
    assert fired(detect_enhancements(np.clip(haze(photo, 2.5, airlight=0.9, rng=0).image, 0, 1))) == {"haze"}
    assert fired(detect_enhancements(exposure(photo, -3.0).image)) == {"under"}
    assert fired(detect_enhancements(exposure(photo, 2.0).image)) == {"over"}
    # a mild error is left alone: the detectors are tuned for no false alarm
    assert fired(detect_enhancements(exposure(photo, -1.0).image)) == set()


def test_restore_plans_and_runs_dehaze(small, pipe):
    photo = small
    hazy = np.clip(haze(photo, 2.5, airlight=0.9, rng=0).image, 0, 1)
    result = pipe.restore(hazy, enhance=True)
    names = [s.name for s in result.plan.steps]
    assert names == ["dehaze"], result.plan.describe()
    assert "haze" in result.plan.describe()
    assert psnr(np.clip(result.image, 0, 1), photo) > psnr(hazy, photo) + 3


def test_restore_corrects_under_exposure_and_forced_steps(small, pipe):
    photo = small
    dark = exposure(photo, -3.0).image
    analysis = pipe.analyse(dark)
    plan = pipe.plan(dark, analysis=analysis, enhance=True)
    assert [s.name for s in plan.steps] == ["exposure"]
    result = pipe.run(dark, plan)
    assert psnr(np.clip(result.image, 0, 1), photo) > psnr(dark, photo) + 3
    forced = pipe.plan(photo, steps=["exposure:clahe", "dehaze"])
    assert [(s.name, s.method, s.checked) for s in forced.steps] == [("dehaze", "dark-channel", False), ("exposure", "clahe", False)]
    assert pipe.plan(photo, enhance=True).steps == []
    # opt-in: without enhance the detectors only report
    plan = pipe.plan(dark, analysis=analysis)
    assert plan.steps == [] and "under-exposed?" in plan.describe()
