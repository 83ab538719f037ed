"""The deblurring training data: the seeded kernel bank and the motion-blur degradation."""

from __future__ import annotations

import numpy as np
import pytest

from restora.degrade.kernel_bank import load_kernel_bank, make_kernel_bank, real_training_kernels
from restora.errors import ConfigError, InvalidParameterError
from restora.train.config import DegradationConfig, DataConfig


def test_bank_is_a_pure_function_of_its_seed():
    a = make_kernel_bank(24, 15, seed=3)
    b = make_kernel_bank(24, 15, seed=3)
    c = make_kernel_bank(24, 15, seed=4)
    assert a.digest == b.digest != c.digest
    assert a.kernels.shape == (24, 15, 15) and a.kernels.dtype == np.float32
    np.testing.assert_allclose(a.kernels.sum(axis=(1, 2)), 1.0, atol=1e-5)
    assert (a.kernels >= 0).all() and set(a.families.tolist()) <= {"motion", "defocus"}
    with pytest.raises(InvalidParameterError):
        make_kernel_bank(4, 14)


def test_draw_applies_a_dihedral_transform_and_weights_real_kernels():
    real = [np.pad(np.eye(5) / 5.0, 2)]  # one 9x9 diagonal line as the "real" kernel
    bank = make_kernel_bank(40, 15, seed=1, real=real)
    assert bank.families[-1] == "real" and len(bank) == 41
    gen = np.random.default_rng(0)
    draws = [bank.draw(gen, real_fraction=0.5)[1] for _ in range(200)]
    share = np.mean([d["family"] == "real" for d in draws])
    assert 0.35 < share < 0.65  # 1 of 41 kernels, drawn half the time
    k, rec = bank.draw(np.random.default_rng(5))
    base = bank.kernels[rec["index"]]
    variants = [np.rot90(base, t % 4)[:, :: (-1 if t >= 4 else 1)] for t in range(8)]
    assert np.array_equal(k, variants[rec["dihedral"]])


def test_cached_bank_is_reused_and_a_damaged_file_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path))
    first = load_kernel_bank(16, 11, seed=2, with_real=False)
    files = list((tmp_path / "kernels").glob("*.npz"))
    assert len(files) == 1
    assert load_kernel_bank(16, 11, seed=2, with_real=False).digest == first.digest
    files[0].write_bytes(b"not an npz")
    from restora.degrade import kernel_bank

    kernel_bank._LOADED.clear()  # a new process: read the file again
    assert load_kernel_bank(16, 11, seed=2, with_real=False).digest == first.digest


def test_levin_test_kernels_are_held_out_of_training(data_dir):
    from restora.degrade.kernel_bank import _ncc, levin_kernels

    keep, dropped = real_training_kernels(data_dir)
    assert len(dropped) >= 8 and len(keep) + len(dropped) == 32
    for k in keep:
        for lv in levin_kernels(data_dir):
            assert max(_ncc(k, lv), _ncc(k[::-1, ::-1], lv)) < 0.9


def _dataset(monkeypatch, tmp_path, **deg):
    from restora.train.data import ImageSet, PatchDataset

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path))
    img = np.random.default_rng(0).random((80, 90), dtype=np.float32)
    from PIL import Image

    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / "a.png")
    options = {"bank_count": 4, "bank_size": 15, "sharp_fraction": 0.0, "real_fraction": 0.0}
    cfg = DataConfig(train=str(tmp_path), channels=1, patch_size=32, augment=False, degradation=DegradationConfig(type="motion", sigma=deg.get("sigma", 0.0), options=options))
    return PatchDataset(ImageSet([tmp_path / "a.png"], 1, preload=False), cfg)


def test_motion_pairs_are_blurred_with_real_surroundings_and_8_bit(monkeypatch, tmp_path):
    from restora.degrade.convolve import convolve
    from restora.degrade.kernel_bank import load_kernel_bank

    ds = _dataset(monkeypatch, tmp_path)
    assert ds.mode == "sample" and ds.margin == 7
    item = ds[(0, 11)]
    lq, hq = item["lq"].numpy()[0], item["hq"].numpy()[0]
    assert lq.shape == hq.shape == (32, 32)
    np.testing.assert_allclose(lq * 255, np.round(lq * 255), atol=1e-3)  # 8-bit levels
    assert float(np.abs(lq - hq).mean()) > 0.02  # blurred (random texture loses a lot)
    again = ds[(0, 11)]
    assert np.array_equal(again["lq"].numpy(), item["lq"].numpy())  # seeded
    # the blur saw the image around the patch: blur the whole image with every bank kernel
    # (in each of its 8 orientations) and find the patch in one of them
    from numpy.lib.stride_tricks import sliding_window_view

    bank = load_kernel_bank(4, 15, seed=17)
    full = ds.hq[0]
    for i in range(len(bank)):
        for t in range(8):
            k = np.ascontiguousarray(np.rot90(bank.kernels[i], t % 4)[:, :: (-1 if t >= 4 else 1)])
            blurred = np.round(np.clip(convolve(full, k), 0, 1) * 255)[..., 0] / 255
            windows = sliding_window_view(blurred, lq.shape)
            if (np.abs(windows - lq).max(axis=(2, 3)) < 1.5 / 255).any():
                return
    pytest.fail("the blurred patch is not a crop of the blurred image")


def test_motion_config_rules():
    from restora.train import load_config
    from restora.train.data import degradation_margin
    from restora.train.trainer import _task_of

    base = {"model": {"arch": "nafnet", "args": {"in_channels": 1, "width": 8}}, "data": {"channels": 1, "degradation": {"type": "motion", "sigma": [0, 3]}}}
    cfg = load_config(data=base)
    assert _task_of(cfg, "restore") == "deblur" and degradation_margin(cfg.data.degradation) == 17
    with pytest.raises(ConfigError, match="per sample"):
        load_config(data={**base, "data": {"degradation": {"type": "motion", "where": "batch"}}})
    with pytest.raises(ConfigError, match="unknown motion option"):
        degradation_margin(DegradationConfig(type="motion", options={"bank_sise": 9}))
