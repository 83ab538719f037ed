"""Batch jobs: corrupt files reported and skipped, resumable reruns, reports, metadata kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restora.batch import find_images, plan_tasks, run_batch
from restora.io import read_image_info, write_image
from restora.pipeline import RestorePipeline

# Upscale-only plans need no analysis, which keeps 200 images fast.
CHEAP = {"steps": ["upscale:bicubic"], "scale": 2}


def make_folder(root: Path, n_good: int, n_corrupt: int, size: int = 64) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    corrupt = []
    for i in range(n_good):
        write_image(root / f"img_{i:04d}.png", rng.random((size, size, 3), dtype=np.float32))
    kinds = [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff\xe0" + b"garbage" * 10]
    for j in range(n_corrupt):
        p = root / f"bad_{j}.{'jpg' if j == 2 else 'png'}"
        p.write_bytes(kinds[j % len(kinds)])
        corrupt.append(p)
    (root / "notes.txt").write_text("not an image; ignored")
    return corrupt


def test_200_images_with_3_corrupt_then_rerun_does_nothing(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    corrupt = make_folder(src, 197, 3)
    pipe = RestorePipeline(prefer="classical", device="cpu")
    seen = []
    report = run_batch(src, out, pipeline=pipe, workers=2, progress=lambda d, t, it: seen.append((d, t)), **CHEAP)
    assert (report.done, report.failed, report.skipped) == (197, 3, 0)
    assert len(report.items) == 200 and seen[-1] == (200, 200)
    outputs = sorted(p.name for p in out.iterdir())
    assert len(outputs) == 197 and not any(n.startswith(".") for n in outputs)  # no temp files left
    failed = {Path(i.src).name: i.error for i in report.items if i.status == "failed"}
    assert set(failed) == {p.name for p in corrupt}
    assert all(name in err for name, err in failed.items())  # each error names its file
    done = next(i for i in report.items if i.status == "done")
    assert done.steps[0]["method"] == "bicubic" and {"read", "upscale", "write"} <= set(done.timings)
    assert read_image_info(done.dst)[1].width == 128
    # reports
    report.write(tmp_path / "r.json")
    report.write(tmp_path / "r.csv")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["done"] == 197 and data["summary"]["failed"] == 3 and len(data["items"]) == 200
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert len(rows) == 200 and sum(r["status"] == "failed" for r in rows) == 3
    ok_row = next(r for r in rows if r["status"] == "done")
    assert ok_row["steps"] == "upscale:bicubic" and float(ok_row["t_upscale"]) >= 0
    assert next(r for r in rows if r["status"] == "failed")["error"]
    # rerun: nothing restored, nothing rewritten, the corrupt ones reported again
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run_batch(src, out, pipeline=pipe, workers=2, **CHEAP)
    assert (again.done, again.skipped, again.failed) == (0, 197, 3)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    assert not again.ok and report.images_per_second > 0


def test_resume_after_partial_run_does_only_the_rest(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    make_folder(src, 6, 0, size=16)
    pipe = RestorePipeline(prefer="classical")
    tasks, _ = plan_tasks(src, out)
    out.mkdir()
    # an earlier (killed) run finished two images and left a temporary file behind
    for t in tasks[:2]:
        write_image(t.dst, np.zeros((32, 32, 3), np.float32))
    (out / ".img_0002.png.dead.tmp").write_bytes(b"partial")
    report = run_batch(src, out, pipeline=pipe, workers=1, **CHEAP)
    assert (report.done, report.skipped) == (4, 2)
    assert read_image_info(tasks[0].dst)[0].max() == 0  # untouched
    report = run_batch(src, out, pipeline=pipe, workers=1, overwrite=True, **CHEAP)
    assert report.done == 6


def test_subfolders_16_bit_alpha_exif_and_format(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    rgba = np.random.default_rng(1).random((20, 24, 4)).astype(np.float32)
    exif = Image.Exif()
    exif[0x010F] = "batch-camera"
    write_image(src / "sub" / "a.png", rgba, bit_depth=16, exif=exif.tobytes())
    write_image(src / "b.jpg", rgba[..., :3], quality=90)
    report = run_batch(src, out, pipeline=RestorePipeline(prefer="classical"), workers=2, **CHEAP)
    assert report.done == 2
    arr, info = read_image_info(out / "sub" / "a.png")
    assert info.bit_depth == 16 and info.has_alpha and arr.shape == (40, 48, 4)
    assert b"batch-camera" in (info.exif or b"")
    assert (out / "b.jpg").is_file()
    # --format png: every output becomes PNG; two inputs mapping to one name are reported
    write_image(src / "b.png", rgba[..., :3])
    report = run_batch(src, tmp_path / "png", pipeline=RestorePipeline(prefer="classical"), format="png", **CHEAP)
    assert report.done == 2 and report.failed == 1
    assert "clash" in next(i.error for i in report.items if i.status == "failed")
    assert sorted(p.name for p in (tmp_path / "png").rglob("*.png")) == ["a.png", "b.png"]


def test_find_images_ignores_hidden_and_other_files(tmp_path):
    (tmp_path / ".hidden").mkdir()
    write_image(tmp_path / ".hidden" / "x.png", np.zeros((4, 4, 1), np.float32))
    write_image(tmp_path / "y.png", np.zeros((4, 4, 1), np.float32))
    (tmp_path / ".y.png.abc.tmp").write_bytes(b"")
    (tmp_path / "z.txt").write_text("")
    assert [p.name for p in find_images(tmp_path)] == ["y.png"]


def test_cli_batch_exit_code_report_and_ray_flag_checks(tmp_path, capsys):
    from restora.cli.main import main

    src, out = tmp_path / "in", tmp_path / "out"
    make_folder(src, 3, 1, size=16)
    code = main(["batch", str(src), str(out), "--steps", "upscale:bicubic", "--scale", "2", "--report", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.csv"), "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1  # one image failed; the others were done
    assert "bad_0.png" in captured.err and "3 restored" in captured.out
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["failed"] == 1
    assert (tmp_path / "r.csv").is_file() and len(list(out.iterdir())) == 3
    assert main(["batch", str(src), str(out), "--engine", "spark"]) == 2
    assert main(["batch", str(src), str(out), "--address", "auto"]) == 2
    assert main(["batch", str(src), str(out), "--report", str(tmp_path / "r.txt")]) == 2


def test_workers_must_be_positive(tmp_path):
    from restora.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="workers"):
        run_batch(tmp_path, tmp_path / "o", workers=0)
