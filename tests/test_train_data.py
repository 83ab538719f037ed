"""The data pipeline: seeded positions, epochs over ranks, crops/augmentation, workers,
batch degradations, validation pairs, checkpoint packing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_train_run import make_images

from restora.train import load_config
from restora.train.checkpoint import pack, unpack
from restora.train.data import BatchDegrader, PositionSampler, build_train_loader, build_val_set, dihedral


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_positions_cover_each_image_once_per_epoch_over_ranks():
    n, batch, world = 10, 3, 2
    ranks = [PositionSampler(n, batch, seed=5, rank=r, world=world) for r in range(world)]
    steps = 5  # 5 steps x 2 ranks x 3 = 30 samples = 3 epochs
    streams = [take(s, steps * batch) for s in ranks]
    by_position = {}
    for r, stream in enumerate(streams):
        for k, (index, seed) in enumerate(stream):
            step, slot = divmod(k, batch)
            by_position[ranks[r].position(step + 1, slot)] = (index, seed)
    assert sorted(by_position) == list(range(30))
    for epoch in range(3):
        assert sorted(by_position[p][0] for p in range(epoch * n, (epoch + 1) * n)) == list(range(n))
    assert len({s for _, s in by_position.values()}) == 30  # one seed per sample
    # a sampler started at step k continues the same stream; another seed gives another one
    resumed = take(PositionSampler(n, batch, seed=5, start_step=2, rank=1, world=world), 3 * batch)
    assert resumed == streams[1][2 * batch : 5 * batch]
    assert take(PositionSampler(n, batch, seed=6), 6) != take(PositionSampler(n, batch, seed=5), 6)


def test_dihedral_gives_eight_distinct_transforms():
    a = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    outs = {dihedral(a, k).tobytes() + bytes(dihedral(a, k).shape) for k in range(8)}
    assert len(outs) == 8 and np.array_equal(dihedral(a, 0), a)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("data") / "img", 5, 40, 48, 3)


def test_loader_is_the_same_with_and_without_workers(images):
    cfg = load_config(data={"data": {"train": str(images), "channels": 3, "patch_size": 16, "batch_size": 4, "workers": 0,
                                     "degradation": {"type": "jpeg", "quality": [10, 30]}}})
    batches = []
    for workers in (0, 1):
        cfg.data.workers = workers
        loader, dataset = build_train_loader(cfg, scale=1, start_step=0)
        assert dataset.hq.preloaded and dataset.hq._cache[0].dtype == np.uint8  # 8-bit images kept as uint8
        batches.append([b for b, _ in zip(loader, range(3))])
    for a, b in zip(*batches):
        assert torch.equal(a["hq"], b["hq"]) and torch.equal(a["lq"], b["lq"])
    first = batches[0][0]
    assert first["hq"].shape == (4, 3, 16, 16) and first["lq"].shape == (4, 3, 16, 16)
    assert not torch.equal(first["hq"], first["lq"])  # JPEG applied per sample in the loader
    # the loader started at step 2 yields the third batch first
    loader, _ = build_train_loader(cfg, scale=1, start_step=2)
    assert torch.equal(next(iter(loader))["hq"], batches[0][2]["hq"])


def test_batch_noise_is_seeded_per_step_and_blind_sigma_in_range():
    from restora.train.config import DegradationConfig

    hq = torch.rand(64, 1, 8, 8)
    deg = BatchDegrader(DegradationConfig(type="gaussian", sigma=[10.0, 30.0]), seed=1)
    lq1, s1 = deg(hq, step=3)
    lq2, s2 = deg(hq, step=3)
    lq3, _ = deg(hq, step=4)
    assert torch.equal(lq1, lq2) and torch.equal(s1, s2) and not torch.equal(lq1, lq3)
    assert (s1 >= 10).all() and (s1 <= 30).all() and s1.std() > 2
    # the noise has the drawn standard deviation per sample
    std = ((lq1 - hq) * 255).flatten(1).std(dim=1)
    assert torch.allclose(std, s1, rtol=0.35)
    fixed, sigma = BatchDegrader(DegradationConfig(type="gaussian", sigma=25.0), seed=1)(hq, 1)
    assert (sigma == 25).all() and abs(float(((fixed - hq) * 255).std()) - 25) < 1.0


def test_sigma_power_spends_more_of_the_batch_on_low_noise_levels_in_both_samplers():
    from restora.train.config import DegradationConfig
    from restora.train.data import degrade_sample

    hq = torch.rand(4000, 1, 2, 2)
    flat = BatchDegrader(DegradationConfig(type="gaussian", sigma=[0.0, 60.0]), seed=2)(hq, 1)[1]
    low = BatchDegrader(DegradationConfig(type="gaussian", sigma=[0.0, 60.0], sigma_power=2.0), seed=2)(hq, 1)[1]
    assert (low >= 0).all() and (low <= 60).all()
    # u**2 < 1/4 for half the draws: median 15 instead of 30
    assert abs(float(flat.median()) - 30) < 3 and abs(float(low.median()) - 15) < 3
    gen = np.random.default_rng(0)
    deg = DegradationConfig(type="gaussian", sigma=[0.0, 60.0], sigma_power=2.0, where="sample")
    drawn = [degrade_sample(np.zeros((2, 2, 1), np.float32), deg, gen)[1] for _ in range(2000)]
    assert abs(float(np.median(drawn)) - 15) < 3
    with pytest.raises(Exception, match="sigma_power"):
        load_config(data={"data": {"degradation": {"sigma_power": 0}}})


def test_bicubic_batch_matches_numpy_imresize():
    from restora.degrade import imresize
    from restora.train.config import DegradationConfig

    hq = torch.rand(2, 3, 16, 16, dtype=torch.float32)
    lq, _ = BatchDegrader(DegradationConfig(type="bicubic", scale=4), seed=0)(hq, 1)
    ref = imresize(hq[0].permute(1, 2, 0).numpy(), 0.25)
    assert lq.shape == (2, 3, 4, 4) and np.allclose(lq[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_validation_pairs_are_fixed(images):
    cfg = load_config(data={"model": {"arch": "dncnn", "args": {"in_channels": 3}},
                            "data": {"channels": 3, "degradation": {"sigma": [0, 50]}},
                            "val": {"data": str(images), "images": 2, "crop": 32}})
    a, b = build_val_set(cfg, 1), build_val_set(cfg, 1)
    assert len(a) == 2 and a[0].hq.shape == (32, 32, 3) and a[0].sigma == 25.0
    assert np.array_equal(a[0].lq, b[0].lq) and not np.array_equal(a[0].lq, a[1].lq - a[1].hq + a[0].hq)
    assert abs(float((a[0].lq - a[0].hq).std()) * 255 - 25) < 2.5


def test_checkpoint_pack_round_trip():
    import random

    state = {"opt": {"state": {0: {"step": torch.tensor(3.0), "m": torch.ones(2)}}, "param_groups": [{"betas": (0.9, 0.99), "params": [0]}]},
             "np": np.random.get_state(), "py": random.getstate(), "__odd": 1}
    tensors = {}
    meta = pack(state, "s", tensors)
    import json

    back = unpack(json.loads(json.dumps(meta)), tensors)
    assert torch.equal(back["opt"]["state"][0]["m"], torch.ones(2)) and back["opt"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert back["py"] == state["py"] and back["np"][0] == "MT19937" and np.array_equal(back["np"][1], state["np"][1])
    assert back["__odd"] == 1


def test_opponent_split_gives_one_opponent_channel_with_its_noise_gain():
    from restora.opponent import OPPONENT_GAINS, to_opponent
    from restora.train.config import DegradationConfig
    from restora.train.data import degrade_pair

    rgb = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    deg = DegradationConfig(type="gaussian", sigma=20.0)
    seen = set()
    for seed in range(12):
        lq, hq, sigma = degrade_pair(rgb, deg, np.random.default_rng(seed), color_split="opponent")
        channel = [c for c in range(3) if np.allclose(hq, to_opponent(rgb, c))]
        assert len(channel) == 1 and hq.shape == (16, 16, 1) and lq.shape == (16, 16, 1)
        c = channel[0]
        seen.add(c)
        assert sigma == pytest.approx(20.0 * OPPONENT_GAINS[c])
        # the opponent channel of the noisy RGB: its noise has the scaled level
        assert 0.6 < float((lq - hq).std()) * 255 / sigma < 1.4
        again = degrade_pair(rgb, deg, np.random.default_rng(seed), color_split="opponent")
        assert np.array_equal(again[0], lq)  # seeded
    assert seen == {0, 1, 2}
    # batch-noise mode: only the split target comes back, the batch degrader adds the noise
    lq, hq, sigma = degrade_pair(rgb, deg, np.random.default_rng(0), sample=False, color_split="opponent")
    assert lq is None and hq.shape == (16, 16, 1) and sigma == 0.0


def test_camera_pair_differs_by_the_sensor_noise_alone():
    from restora.degrade import isp
    from restora.train.data import camera_pair

    rgb = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32) * 0.8 + 0.1
    clean_only, clean = camera_pair(rgb, np.random.default_rng(3), shot=0.0, read=0.0)
    np.testing.assert_array_equal(clean_only, clean)  # no noise: the two sides are the same image
    raw, meta = isp.unprocess(rgb, np.random.default_rng(3))
    np.testing.assert_allclose(clean, isp.process(raw, meta), atol=1e-6)  # the target is the noise-free ISP output
    noisy, clean = camera_pair(rgb, np.random.default_rng(3), shot=1e-2, read=1e-2)
    low, _ = camera_pair(rgb, np.random.default_rng(3), shot=1e-4, read=1e-3)
    assert float(np.abs(noisy - clean).mean()) > 3 * float(np.abs(low - clean).mean()) > 0


def test_camera_pair_can_save_a_camera_jpeg_and_unknown_options_fail():
    from restora.classical.estimate import jpeg_quality_from_pixels
    from restora.degrade import jpeg
    from restora.errors import ConfigError
    from restora.train.config import DegradationConfig
    from restora.train.data import camera_jpeg_quality, camera_pair

    rgb = np.random.default_rng(1).random((64, 64, 3), dtype=np.float32) * 0.8 + 0.1
    noisy, clean = camera_pair(rgb, np.random.default_rng(3), shot=1e-3, read=1e-3)
    saved, clean_too = camera_pair(rgb, np.random.default_rng(3), shot=1e-3, read=1e-3, jpeg_quality=70)
    np.testing.assert_array_equal(clean, clean_too)  # the target stays the noise-free ISP output
    # the JPEG of the very same noisy rendering (8-bit values, quality readable from the pixels)
    np.testing.assert_array_equal(saved, jpeg(np.clip(noisy, 0, 1), 70).image)
    assert np.array_equal(saved * 255, np.round(saved * 255))
    quality, evidence = jpeg_quality_from_pixels(saved)
    assert evidence == "dct" and quality == pytest.approx(70, abs=6)
    # clean_fraction: some patches carry the JPEG alone, target the patch itself
    plain = [camera_pair(rgb, np.random.default_rng(seed), jpeg_quality=70, clean_fraction=0.5) for seed in range(8)]
    alone = [p for p in plain if np.array_equal(p[1], rgb)]
    assert 0 < len(alone) < 8 and all(np.array_equal(p[0], jpeg(rgb, 70).image) for p in alone)
    with pytest.raises(ConfigError, match="unknown camera option.*'iso'"):
        camera_pair(rgb, np.random.default_rng(3), iso=800)
    assert camera_jpeg_quality(DegradationConfig(type="camera", options={"jpeg_quality": [60, 95]})) == [60, 95]
    assert camera_jpeg_quality(DegradationConfig(type="camera", options={"jpeg_quality": 80})) == [80, 80]
    assert camera_jpeg_quality(DegradationConfig(type="camera")) is None
    assert camera_jpeg_quality(DegradationConfig(type="jpeg")) is None


def test_luma_split_gives_the_jfif_y_of_a_pair_damaged_in_colour():
    from restora.train.config import DegradationConfig
    from restora.train.data import degrade_pair, to_channels

    rgb = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32) * 0.8 + 0.1
    deg = DegradationConfig(type="camera", clip=True, options={"jpeg_quality": 75})
    lq, hq, sigma = degrade_pair(rgb, deg, np.random.default_rng(4), color_split="luma")
    full_lq, full_hq, _ = degrade_pair(rgb, deg, np.random.default_rng(4))
    assert lq.shape == hq.shape == (32, 32, 1) and sigma == 0.0
    np.testing.assert_allclose(lq, to_channels(full_lq, 1), atol=1e-6)
    np.testing.assert_allclose(hq, to_channels(full_hq, 1), atol=1e-6)


def test_color_split_and_camera_configs_are_checked(images):
    from restora.errors import ConfigError

    with pytest.raises(ConfigError, match="color_split"):
        load_config(data={"data": {"train": str(images), "channels": 3, "color_split": "opponent"}})
    with pytest.raises(ConfigError, match="camera degradation runs per sample"):
        load_config(data={"data": {"train": str(images), "degradation": {"type": "camera", "where": "batch"}}})
    cfg = load_config(data={"data": {"train": str(images), "channels": 1, "color_split": "opponent", "patch_size": 16, "batch_size": 2,
                                     "workers": 0, "degradation": {"type": "camera"}}})
    loader, dataset = build_train_loader(cfg, scale=1, start_step=0)
    assert dataset.hq[0].shape[2] == 3  # colour images read, split per sample
    batch = next(iter(loader))
    assert batch["hq"].shape == (2, 1, 16, 16) and batch["lq"].shape == (2, 1, 16, 16)
    assert torch.equal(batch["sigma"], torch.zeros(2))  # camera-noise models are blind
