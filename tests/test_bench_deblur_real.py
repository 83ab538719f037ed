"""The reference-free deblurring view ``deblur-real`` (restora.bench.deblur_real)."""

from __future__ import annotations

import numpy as np
import pytest

from restora.bench import run_benchmark
from restora.bench.deblur_real import CROP, centre_crop
from restora.bench.tasks import get_task
from restora.errors import InvalidParameterError
from restora.io import write_image


def test_centre_crop_keeps_short_sides():
    img = np.arange(300 * 200 * 3, dtype=np.float32).reshape(300, 200, 3)
    out = centre_crop(img, 256)
    assert out.shape == (256, 200, 3)
    np.testing.assert_array_equal(out, img[22:278])
    assert centre_crop(img[:100, :100]).shape == (100, 100, 3)


def test_task_is_reference_free_and_blind():
    task = get_task("deblur-real")
    assert task.reference_free and task.default_metrics == ("niqe",)
    assert task.kind == "deblur" and task.parameters["crop"] == CROP
    img = np.random.default_rng(0).random((300, 280, 3)).astype(np.float32)
    sample = task.make_sample(img, name="x")
    assert sample.condition == {}  # no kernel, no sigma
    np.testing.assert_array_equal(sample.degraded, sample.reference)
    assert sample.degraded.shape == (256, 256, 3)


@pytest.fixture()
def folder(tmp_path, rgb):
    for i in range(2):
        img = np.clip(np.kron(rgb, np.ones((2, 2, 1))) + 0.01 * i, 0, 1)  # 128 px: NIQE needs room
        write_image(tmp_path / f"p{i}.png", img.astype(np.float32))
    return tmp_path


def test_refuses_full_reference_metrics(folder):
    with pytest.raises(InvalidParameterError, match="no clean references: metric\\(s\\) psnr"):
        run_benchmark(["input"], "deblur-real", [folder], metrics=("psnr", "niqe"), progress=False, published=False)


def test_scores_niqe_by_default(folder):
    res = run_benchmark(["input"], "deblur-real", [folder], progress=False, published=False, warmup=False)
    assert res.metrics == ("niqe",)
    scores = [s.scores["niqe"] for s in res.images]
    assert len(scores) == 2 and all(np.isfinite(scores))
