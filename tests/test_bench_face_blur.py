"""The face-motion-blur bench task (restora.bench.face_blur)."""

from __future__ import annotations

import numpy as np
import pytest

from restora.bench.face_blur import FACE_BLUR_TASK, FACE_FUSION_ENV, face_blur_pair, face_blur_samples
from restora.bench.tasks import TASKS
from restora.errors import MissingResourceError


def _sharpness(img: np.ndarray) -> float:
    g = img.mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_pair_is_deterministic_8bit_and_blurrier(rgb):
    img = rgb
    s1, b1, rec = face_blur_pair(img, 3, count=34)
    s2, b2, _ = face_blur_pair(img, 3, count=5)  # the kernel depends on the index only
    assert s1.shape == b1.shape == (64, 64, 3)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(s1, s2)
    assert np.allclose(b1 * 255, np.round(b1 * 255), atol=1e-3)  # 8-bit
    assert rec["kernel_index"] == 3 and rec["kernel_size"] == 19
    assert _sharpness(b1) < 0.9 * _sharpness(s1)
    _, b_other, _ = face_blur_pair(img, 4, count=34)
    assert not np.array_equal(b1, b_other)  # each face its own kernel


@pytest.fixture(scope="module")
def samples():
    from restora.data import data_root

    if not (data_root() / "test" / "Faces").is_dir():
        pytest.skip("shared datasets not found (set RESTORA_DATA)")
    return face_blur_samples(2)


def test_task_samples_are_deterministic_and_blurrier(samples):
    assert FACE_BLUR_TASK in TASKS
    again = face_blur_samples(2)
    for a, b in zip(samples, again):
        np.testing.assert_array_equal(a.degraded, b.degraded)
        assert a.reference.shape == (64, 64, 3)
        assert _sharpness(a.degraded) < _sharpness(a.reference)
    assert samples[0].record["kernel_index"] == 0 and samples[1].record["kernel_index"] == 1


def test_learned_methods_without_model_fail_in_one_line(monkeypatch, tmp_path):
    from restora.bench.face_blur import _runner, load_face_fusion

    _runner.cache_clear()
    monkeypatch.setenv(FACE_FUSION_ENV, str(tmp_path / "absent.safetensors"))
    with pytest.raises(MissingResourceError) as err:
        load_face_fusion()
    assert "\n" not in str(err.value) and FACE_FUSION_ENV in str(err.value)


def test_tiny_model_runs_through_the_task(samples, monkeypatch, tmp_path):
    import torch

    from restora.bench import run_benchmark
    from restora.bench.face_blur import _runner
    from restora.nn import create_model
    from restora.zoo import ModelCard, save_model

    torch.manual_seed(0)
    model = create_model(
        "face-fusion", resolution=64, nafnet=dict(width=4, enc_blocks=(1, 1, 1, 1), dec_blocks=(1, 1, 1, 1)),
        generator=dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
        encoder=dict(width=4), fusion=dict(features=4, blocks=1),
    )
    path = save_model(model, tmp_path / "tiny-ff.safetensors",
                      ModelCard(name="tiny-ff", arch="face-fusion", args={}, task="face-deblur"))
    monkeypatch.setenv(FACE_FUSION_ENV, str(path))
    _runner.cache_clear()
    methods = ["input", "nafnet-face", "face-inversion", "face-fusion"]
    res = run_benchmark(methods, FACE_BLUR_TASK, limit=2, metrics=("psnr", "ssim", "niqe_x2"), progress=False,
                        published=False, strict=True)
    _runner.cache_clear()
    for m in methods:
        row = res.row(m, "Faces")
        assert row.error is None and row.n_images == 2
        assert np.isfinite(row.scores["psnr"]) and 0 < row.scores["ssim"] <= 1
        assert np.isfinite(row.scores["niqe_x2"])  # NIQE of the 2x upsample scores 64 px faces
    # input row scores the blurred face itself
    from restora.metrics import psnr

    s = samples[0]
    want = psnr(s.reference, s.degraded, data_range=1.0, round_to_uint8=True)
    got = [i for i in res.images if i.method == "input" and i.image == s.name][0].scores["psnr"]
    assert got == pytest.approx(want, abs=1e-6)
    # a 64 px model refuses the 128 px task's faces in one line
    from restora.bench.face_blur import FaceFusionRunner, face_blur_samples, load_face_fusion
    from restora.errors import InvalidParameterError

    big = face_blur_samples(1, resolution=128)[0]
    assert big.reference.shape == (128, 128, 3) and big.record["kernel_size"] == 37
    with pytest.raises(InvalidParameterError, match="64 px"):
        FaceFusionRunner(load_face_fusion(path)).outputs(big.degraded)
    # each method runs its own branch; one shared forward gives the same three images
    runner = FaceFusionRunner(load_face_fusion(path))
    both = runner.outputs(s.degraded)
    for which in ("regression", "inversion", "fused"):
        np.testing.assert_allclose(runner.output(s.degraded, which), both[which], atol=1e-5)
    assert runner.branch_params("regression") < runner.branch_params("inversion") < runner.branch_params("fused") == runner.params
    # the three learned rows are three different images of one model
    by = {m: [i.scores["psnr"] for i in res.images if i.method == m] for m in methods[1:]}
    assert len({tuple(v) for v in by.values()}) == 3
