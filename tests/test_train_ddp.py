"""Multi-process training: torchrun with 2 CPU processes (gloo), both ranks end identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist
import yaml
from test_train_run import make_images


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo needed")
def test_torchrun_two_processes_gloo(tmp_path):
    images = make_images(tmp_path / "train", 6, 40, 40)
    recipe = {
        "name": "ddp",
        "output": str(tmp_path / "run"),
        "model": {"arch": "dncnn", "args": {"in_channels": 1, "depth": 3, "features": 8}},
        "data": {"train": str(images), "channels": 1, "patch_size": 16, "batch_size": 2, "workers": 0},
        # a GAN term too: the discriminator's gradients are all-reduced by hand
        "loss": {"l1": 1.0, "gan": {"weight": 0.01, "kind": "lsgan"}},
        "discriminator": {"args": {"features": 4}},
        "train": {"steps": 4, "log_every": 2, "checkpoint_every": 2, "ema": 0.9, "threads": 1},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "restora.train", str(path), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["finished"] and summary["step"] == 4
    # rank 0 and rank 1 hold bit-identical generator, EMA and discriminator weights
    digests = summary["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1] and summary["ranks_identical"]
    # only rank 0 wrote: one log line per log step, one export
    records = [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "losses" in r]
    assert [r["step"] for r in records] == [1, 2, 4]  # step 1 is always logged
    assert "gan" in records[-1]["losses"] and "d_loss" in records[-1]
    assert records[-1]["epoch"] == pytest.approx(4 * 2 * 2 / 6, abs=1e-3)  # 2 ranks x batch 2 per step
    assert (out / "ddp.safetensors").is_file()
