"""The researcher-workflow friction points of issue 21: each one reproduced on a tiny case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import synthetic_image

from restora.cli.main import main
from restora.io import write_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(folder: Path, n: int, h: int = 40, w: int = 48) -> Path:
    if folder.is_dir():
        return folder
    folder.mkdir(parents=True)
    for i in range(n):
        write_image(folder / f"img_{i:02d}.png", synthetic_image(h, w, 1, seed=i))
    return folder


def _recipe(tmp: Path, **train) -> dict:
    return {
        "name": "tiny",
        "model": {"arch": "dncnn", "args": {"in_channels": 1, "depth": 3, "features": 4}},
        "data": {"train": str(_images(tmp / "train", 3)), "channels": 1, "patch_size": 16, "batch_size": 2, "workers": 0,
                 "degradation": {"type": "gaussian", "sigma": [5, 50]}},
        "loss": {"l1": 1.0},
        "train": {"steps": 4, "log_every": 100, "checkpoint_every": 0, "ema": 0, "tensorboard": False, **train},
    }


# 1 ------------------------------------------------------------------ CPU recipes pointer
def test_train_on_cpu_points_to_cpu_recipes(tmp_path, capsys):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "small-denoise.yaml").write_text(yaml.safe_dump({"data": {"degradation": {"type": "gaussian", "sigma": 25}}}))
    (tmp_path / "cpu" / "small-sr.yaml").write_text(yaml.safe_dump({"data": {"degradation": {"type": "bicubic", "scale": 2}}}))
    gpu = tmp_path / "big.yaml"
    gpu.write_text(yaml.safe_dump(_recipe(tmp_path, steps=1)))
    assert main(["train", str(gpu), "--device", "cpu", "-o", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    note = [line for line in err.splitlines() if "CPU recipes" in line]
    assert len(note) == 1 and "small-denoise.yaml" in note[0] and "small-sr.yaml" not in note[0]
    # a recipe under cpu/ gets no note
    small = tmp_path / "cpu" / "tiny.yaml"
    small.write_text(yaml.safe_dump(_recipe(tmp_path, steps=1)))
    assert main(["train", str(small), "--device", "cpu", "-o", str(tmp_path / "run2")]) == 0
    assert "CPU recipes" not in capsys.readouterr().err


def test_repo_gpu_recipe_lists_cpu_recipes_and_readme_row_is_cpu():
    from restora.cli.train import cpu_recipes_for
    from restora.train.config import load_raw

    gpu = REPO / "configs" / "dncnn-gray-blind.yaml"
    names = {p.name for p in cpu_recipes_for(gpu, load_raw(gpu))}
    assert "ffdnet-gray.yaml" in names and "edsr-x4.yaml" not in names
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| train a network"))
    assert "`restora train configs/cpu/" in row and "dncnn-gray-blind.yaml" in row


# 2 ------------------------------------------------------------------ DataLoader workers
def test_workers_default_to_the_cores(monkeypatch, tmp_path):
    import os

    from restora.train import load_config
    from restora.train.config import resolve_workers
    from restora.train.data import build_train_loader

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert resolve_workers("auto") == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)), raising=False)
    assert resolve_workers("auto") == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert resolve_workers("auto") == 0
    assert resolve_workers(3) == 3 and resolve_workers(0) == 0
    recipe = _recipe(tmp_path)
    del recipe["data"]["workers"]
    cfg = load_config(data=recipe)
    assert cfg.data.workers == "auto"
    loader, _ = build_train_loader(cfg, scale=1, start_step=0)
    assert loader.num_workers == 0  # one core (patched above): load in the main process
    cfg = load_config(data=recipe, overrides=["data.workers=1"])
    assert build_train_loader(cfg, scale=1, start_step=0)[0].num_workers == 1
    with pytest.raises(Exception, match="data.workers"):
        load_config(data=recipe, overrides=["data.workers=-1"])


# 3 ------------------------------------------------------------------ Ctrl-C and first-step log
def _tiny_run(tmp_path):
    """The tiny recipe written under a ``cpu/`` folder, and the run's output folder."""
    path = tmp_path / "cpu" / "tiny.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(_recipe(tmp_path)))
    return path, tmp_path / "run"


def test_ctrl_c_saves_a_checkpoint_and_says_so(tmp_path, monkeypatch, capsys):
    from restora.train.checkpoint import latest_checkpoint
    from restora.train.logs import read_log
    from restora.train.trainer import Trainer

    real = Trainer._train_step

    def interrupted(self, batch, step):
        if step == 3:
            raise KeyboardInterrupt
        return real(self, batch, step)

    monkeypatch.setattr(Trainer, "_train_step", interrupted)
    path, out = _tiny_run(tmp_path)
    assert main(["train", str(path), "--device", "cpu", "-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted at step 2; checkpoint saved; continue with --resume latest" in err
    ckpt = latest_checkpoint(out / "checkpoints")
    assert ckpt is not None and "0000002" in ckpt.name
    # log_every is 100, yet the log has the first step's record
    steps = [r["step"] for r in read_log(out / "log.jsonl") if "losses" in r]
    assert steps == [1]
    monkeypatch.setattr(Trainer, "_train_step", real)
    assert main(["train", str(path), "--device", "cpu", "-o", str(out), "--resume", "latest"]) == 0
    assert json.loads((out / "summary.json").read_text())["finished"]


def test_sigterm_stops_training_like_ctrl_c(tmp_path, monkeypatch, capsys):
    """A background campaign run (started with `&`, which ignores SIGINT) is stopped with
    `kill`: SIGTERM must save a checkpoint too, and the handler is restored afterwards."""
    import os
    import signal

    from restora.train.checkpoint import latest_checkpoint
    from restora.train.trainer import Trainer

    real = Trainer._train_step

    def terminated(self, batch, step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, batch, step)

    monkeypatch.setattr(Trainer, "_train_step", terminated)
    path, out = _tiny_run(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["train", str(path), "--device", "cpu", "-o", str(out)]) == 130
    assert "checkpoint saved; continue with --resume latest" in capsys.readouterr().err
    assert latest_checkpoint(out / "checkpoints") is not None
    assert signal.getsignal(signal.SIGTERM) == before


# 4 ------------------------------------------------------------------ plots
def _overlaps(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_loss_plot_ticks_are_distinct_and_input_line_is_inside(tmp_path):
    from restora.train.logs import loss_figure, plot_log

    records = [{"step": s, "loss": 0.19 - 0.01 * s, "losses": {"l1": 0.19 - 0.01 * s}} for s in range(1, 8)]
    records.append({"step": 7, "val": {"psnr": 28.4, "input_psnr": 20.2}})  # one validation: input far below
    fig = loss_figure(records, "t")
    fig.canvas.draw()
    loss_ax, val_ax = fig.axes[:2]
    lo, hi = loss_ax.get_ylim()
    labels = [t.get_text() for t in loss_ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    labels += [t.get_text() for t in loss_ax.get_yticklabels(minor=True) if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert all("e-" not in s for s in labels)
    ylo, yhi = val_ax.get_ylim()
    assert ylo < 20.2 and yhi > 28.4
    input_line = next(line for line in val_ax.get_lines() if line.get_label() == "input")
    assert input_line.get_marker() not in (None, "", "None")  # one point is visible
    assert plot_log(records, tmp_path / "loss.png", "t").is_file()


def test_speed_plot_legend_beside_points_and_x_labels_apart(tmp_path):
    from restora.bench.report import plot_quality_speed, quality_speed_figure
    from restora.bench.runner import BenchResult, ResultRow

    rows = [ResultRow(f"method-{i}", "Set12", {"psnr": 28 + 0.3 * i}, 12, seconds_per_mp=0.3 * 1.25 ** i) for i in range(6)]
    rows += [ResultRow(f"paper-{i}", "Set12", {"psnr": 28.2 + 0.3 * i}, None, published=True) for i in range(4)]
    result = BenchResult("denoise-gray-s25", "", ["Set12"], [r.method for r in rows[:6]], 0, None, "cpu", ("psnr",), rows, [], {})
    fig = quality_speed_figure(result)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    xlo, xhi = ax.get_xlim()
    ticks = [t for t in ax.get_xticklabels() if t.get_text() and xlo <= t.get_position()[0] <= xhi]
    ticks += [t for t in ax.get_xticklabels(minor=True) if t.get_text() and xlo <= t.get_position()[0] <= xhi]
    assert len(ticks) >= 2
    assert not _overlaps([t.get_window_extent(renderer) for t in ticks])
    block = next(t for t in ax.texts if t.get_text().startswith("published"))
    box = block.get_window_extent(renderer)
    points = ax.transData.transform([(r.seconds_per_mp, r.scores["psnr"]) for r in rows[:6]])
    assert not any(box.contains(x, y) for x, y in points)
    assert box.x0 >= ax.get_window_extent(renderer).x1  # beside the panel
    assert box.x1 <= fig.bbox.x1 + 1  # and inside the figure
    assert plot_quality_speed(result, tmp_path / "q.png").is_file()


# 5 ------------------------------------------------------------------ install hints keep [extra]
def test_bench_missing_package_hint_keeps_the_extra(tmp_path, capsys, monkeypatch):
    import restora.bench
    from restora.errors import MissingResourceError

    folder = tmp_path / "set"
    folder.mkdir()
    write_image(folder / "a.png", synthetic_image(24, 24, 1, seed=0))
    assert main(["bench", "denoise-gray-s25", "-m", "bm3d", "-d", str(folder), "-n", "1", "--no-progress", "-o", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    try:
        import bm3d  # noqa: F401
    except ImportError:
        assert "'restora[bench]'" in out.replace("\n", " ")

    def missing(*args, **kwargs):
        raise MissingResourceError("method 'bm3d' needs an optional package: pip install 'restora[bench]'")

    monkeypatch.setattr(restora.bench, "run_benchmark", missing)
    assert main(["bench", "denoise-gray-s25", "-m", "bm3d", "-d", str(folder), "--no-progress", "-o", str(tmp_path / "c")]) == 2
    assert "pip install 'restora[bench]'" in capsys.readouterr().err.replace("\n", " ")
    readme = (REPO / "README.md").read_text()
    assert "pip install 'restora[bench]'" in readme


def test_failure_table_keeps_brackets():
    from rich.console import Console

    from restora.cli._failures import exit_if_failed

    console = Console(record=True, width=200)
    with pytest.raises(Exception):
        exit_if_failed([("scan[1].png", "needs pip install 'restora[bench]'")], console)
    text = console.export_text()
    assert "scan[1].png" in text and "restora[bench]" in text


# 6 ------------------------------------------------------------------ metrics sizes, degrade cut
def test_metrics_with_different_sizes_exits_non_zero_with_a_hint(tmp_path, capsys):
    for side, h in (("r", 32), ("g", 64)):
        (tmp_path / side).mkdir()
        write_image(tmp_path / side / "x.png", synthetic_image(32, 32, 3, seed=1))
        write_image(tmp_path / side / "y.png", synthetic_image(h, h, 3, seed=2))
    assert main(["metrics", str(tmp_path / "r"), str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "1 of 2 image(s) could not be measured" in err and "restored 32x32, reference 64x64" in err and "x2" in err
    write_image(tmp_path / "a.png", synthetic_image(32, 32, 3, seed=1))
    write_image(tmp_path / "b.png", synthetic_image(30, 32, 3, seed=1))
    assert main(["metrics", str(tmp_path / "a.png"), str(tmp_path / "b.png")]) == 2
    assert "--crop" in capsys.readouterr().err.replace("\n", " ")
    assert main(["metrics", str(tmp_path / "r" / "x.png"), str(tmp_path / "g" / "x.png")]) == 0


def test_degrade_says_when_it_cuts_to_a_multiple_of_the_scale(tmp_path, capsys):
    write_image(tmp_path / "odd.png", synthetic_image(66, 71, 3, seed=0))
    assert main(["degrade", str(tmp_path / "odd.png"), str(tmp_path / "lr.png"), "--scale", "4"]) == 0
    err = capsys.readouterr().err.replace("\n", " ")
    assert "was cut to 68 x 64" in err
    rec = json.loads((tmp_path / "lr.png.json").read_text())
    assert rec["cropped_to"] == [64, 68] and rec["cropped_from"] == [66, 71]
    write_image(tmp_path / "even.png", synthetic_image(64, 68, 3, seed=0))
    assert main(["degrade", str(tmp_path / "even.png"), str(tmp_path / "lr2.png"), "--scale", "4"]) == 0
    assert "cut to" not in capsys.readouterr().err
    assert "cropped_to" not in json.loads((tmp_path / "lr2.png.json").read_text())


# 7 ------------------------------------------------------------------ models install / info / list
def _tiny_model(folder: Path, name: str) -> Path:
    from restora import zoo
    from restora.nn.registry import create_model

    torch.manual_seed(0)
    model = create_model("dncnn", in_channels=1, depth=3, features=4)
    card = zoo.ModelCard(name=name, arch="dncnn", args={}, task="denoise", channels=1, noise_range=[0, 50])
    return zoo.save_model(model, folder / f"{name}.safetensors", card)


def test_install_refuses_a_shipped_name_or_renames(tmp_path, monkeypatch, capsys):
    from restora import zoo

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    shipped = zoo.list_models()[0].name
    path = _tiny_model(tmp_path, shipped)
    assert main(["models", "install", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shipped" in err and "--name" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache" / f"{shipped}.safetensors").exists()
    assert main(["models", "install", str(path), "--name", "my-tiny"]) == 0
    loaded = zoo.load("my-tiny")
    assert loaded.card.name == "my-tiny" and loaded.descriptor.params > 0
    assert main(["models", "install", str(path), "--name", shipped]) == 2


def test_models_info_is_a_summary_with_json_behind_a_flag(capsys):
    assert main(["models", "info", "ffdnet-color"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 40 and "{" not in out
    for word in ("task", "architecture", "parameters", "channels", "noise sigma", "training", "score"):
        assert word in out
    assert "opponent" in out  # a gray network run on colour images: says how
    assert main(["models", "info", "ffdnet-color", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "ffdnet-color" and "descriptor" in info


def test_models_list_says_how_gray_models_run_on_colour(capsys):
    from rich.console import Console

    import restora.cli.models as models_cli

    wide = Console(width=250, record=True)
    models_cli.console, before = wide, models_cli.console
    try:
        assert main(["models", "list"]) == 0
    finally:
        models_cli.console = before
    rows = {line.split("│")[1].strip(): line for line in wide.export_text().splitlines() if line.count("│") > 3}
    assert "opponent" in rows["ffdnet-color"] and "YCbCr" in rows["jpeg-gray-unet"]
    assert "3 (RGB)" in rows["edsr-x4"]


# 8 ------------------------------------------------------------------ --help: flags take no value
@pytest.mark.parametrize("command", [["train"], ["degrade"], ["bench"], ["models", "info"], ["metrics"]])
def test_help_shows_no_type_after_flags(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--help" in out and "<bool>" not in out
    assert "<" in out  # options that take a value still show its type


# 9 ------------------------------------------------------------------ Ray: quiet on success
def test_ray_batch_success_prints_no_ray_errors(tmp_path, capfd):
    pytest.importorskip("ray.data")
    from restora.distributed import run_ray_batch

    (tmp_path / "in").mkdir()
    for i in range(2):
        write_image(tmp_path / "in" / f"im{i}.png", synthetic_image(20, 24, 3, seed=i))
    report = run_ray_batch(tmp_path / "in", tmp_path / "out", concurrency=1, progress=lambda done, total, item: None,
                           pipeline_options={"prefer": "classical", "device": "cpu"}, steps=["denoise:gaussian"])
    assert all(item.status == "done" for item in report.items)
    err = capfd.readouterr().err
    assert "core_worker" not in err and " E " not in err and "Deprecat" not in err, err
