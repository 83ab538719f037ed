"""``restora degrade``: files and folders, sidecar records, seeds, overwrite safety, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_image

from restora.cli.degrade import image_seed
from restora.cli.main import main
from restora.degrade import realesrgan_degradation, replay
from restora.io import read_image, write_image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        write_image(src / f"im{i}.png", synthetic_image(48, 64, 3, seed=i))
    return src


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_same_seed_gives_identical_bytes(folder, tmp_path, capsys):
    src = folder / "im0.png"
    for name in ("a.png", "b.png"):
        code, _, err = _run(capsys, "degrade", src, tmp_path / name, "--pipeline", "realesrgan", "--seed", 7)
        assert code == 0, err
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    a = json.loads((tmp_path / "a.png.json").read_text())
    b = json.loads((tmp_path / "b.png.json").read_text())
    assert {**a, "output": None} == {**b, "output": None}
    code, _, _ = _run(capsys, "degrade", src, tmp_path / "c.png", "--pipeline", "realesrgan", "--seed", 8)
    assert (tmp_path / "c.png").read_bytes() != (tmp_path / "a.png").read_bytes()


def test_sidecar_record_replays_and_lr_size(folder, tmp_path, capsys):
    src = folder / "im1.png"
    out = tmp_path / "lr.png"
    code, text, _ = _run(capsys, "degrade", src, out, "-p", "bsrgan", "--scale", "4", "--seed", "3")
    assert code == 0
    rec = json.loads((tmp_path / "lr.png.json").read_text())
    assert rec["pipeline"] == "bsrgan" and rec["cli_seed"] == 3
    assert rec["image_seed"] == image_seed(3, "im1.png") == rec["seed"]
    lr = read_image(out)
    assert lr.shape == (12, 16, 3) and rec["output_shape"] == [12, 16, 3]
    again = replay(read_image(src), rec).image
    np.testing.assert_array_equal(np.round(np.clip(again, 0, 1) * 255), np.round(lr * 255))
    # the API with the recorded seed gives the same image as the CLI
    hr = read_image(src)
    api = realesrgan_degradation(hr, 4, image_seed(3, "im1.png")).image
    _run(capsys, "degrade", src, tmp_path / "r.png", "-p", "realesrgan", "--seed", "3")
    np.testing.assert_array_equal(np.round(api * 255), np.round(read_image(tmp_path / "r.png") * 255))


def test_folder_with_corrupt_file_continues_and_reports(folder, tmp_path, capsys):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    dst = tmp_path / "out"
    code, out, err = _run(capsys, "degrade", folder, dst, "--preset", "noise-s25", "--seed", "1")
    assert code == 1
    assert "broken.png" in err and "1 file(s) failed" in err
    assert "degraded 3/4" in out
    assert sorted(p.name for p in dst.iterdir()) == sorted(
        [f"im{i}.png" for i in range(3)] + [f"im{i}.png.json" for i in range(3)])


def test_folder_seeds_match_single_file_runs(folder, tmp_path, capsys):
    dst = tmp_path / "out"
    assert _run(capsys, "degrade", folder, dst, "--sigma", "15", "--quality", "40", "--seed", "5")[0] == 0
    assert _run(capsys, "degrade", folder / "im2.png", tmp_path / "single.png", "--sigma", "15", "--quality", "40",
                "--seed", "5")[0] == 0
    assert (dst / "im2.png").read_bytes() == (tmp_path / "single.png").read_bytes()
    assert (dst / "im0.png").read_bytes() != (dst / "im1.png").read_bytes()
    rec = json.loads((dst / "im2.png.json").read_text())
    assert [s["op"] for s in rec["steps"]] == ["noise", "jpeg"]


def test_never_overwrites_without_flag(folder, tmp_path, capsys):
    dst = tmp_path / "x.png"
    assert _run(capsys, "degrade", folder / "im0.png", dst, "--preset", "jpeg-q10")[0] == 0
    before = dst.read_bytes()
    code, _, err = _run(capsys, "degrade", folder / "im1.png", dst, "--preset", "jpeg-q10")
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert dst.read_bytes() == before
    assert _run(capsys, "degrade", folder / "im1.png", dst, "--preset", "jpeg-q10", "--overwrite")[0] == 0
    assert dst.read_bytes() != before
    # folders: checked before any work is done
    out = tmp_path / "out"
    assert _run(capsys, "degrade", folder, out, "--preset", "jpeg-q20")[0] == 0
    stamp = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = _run(capsys, "degrade", folder, out, "--preset", "jpeg-q40")
    assert code == 2 and "already exist" in err
    assert stamp == {p.name: p.read_bytes() for p in out.iterdir()}
    # never into the input itself
    code, _, err = _run(capsys, "degrade", folder, folder, "--preset", "jpeg-q20", "--overwrite")
    assert code == 2 and "must differ" in err


def test_yaml_pipeline_file_and_bad_yaml(folder, tmp_path, capsys):
    good = tmp_path / "p.yaml"
    good.write_text("- blur: {kernel: gaussian, sigma: 1.5}\n- resize: {scale: 0.5, method: bicubic}\n"
                    "- noise: {sigma: [5, 15]}\n")
    code, _, err = _run(capsys, "degrade", folder / "im0.png", tmp_path / "y.png", "--pipeline", good)
    assert code == 0, err
    assert read_image(tmp_path / "y.png").shape == (24, 32, 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- blur: {kernel: gaussian, sigma: 1.5}\n- jpeg: {qualty: 40}\n")
    code, _, err = _run(capsys, "degrade", folder / "im0.png", tmp_path / "z.png", "--pipeline", bad)
    assert code == 2
    assert "step 2 (jpeg)" in err and "qualty" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "z.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--pipeline", "realesrgan", "--sigma", "5"], "--sigma applies to --pipeline classical only"),
    (["--preset", "noise-s15", "--scale", "2"], "--scale cannot be combined with --preset"),
    (["--preset", "noise-s15", "--pipeline", "bsrgan"], "either --preset or --pipeline"),
    (["--preset", "nope"], "unknown preset"),
    (["--pipeline", "esrgan"], "is neither"),
    ([], "nothing to do"),
])
def test_option_errors_are_one_line(folder, tmp_path, capsys, args, message):
    code, _, err = _run(capsys, "degrade", folder / "im0.png", tmp_path / "o.png", *args)
    assert code == 2
    assert message in err
    assert not (tmp_path / "o.png").exists()


def test_list_presets(capsys):
    code, out, _ = _run(capsys, "degrade", "--list-presets")
    assert code == 0
    for name in ("noise-s25", "jpeg-q10", "sr-bicubic-x4", "realesrgan-x4", "bsrgan-x4", "haze"):
        assert name in out


def test_alpha_is_carried_and_resized(tmp_path, capsys):
    rgba = np.concatenate([synthetic_image(48, 64, 3), np.ones((48, 64, 1), np.float32)], axis=2)
    rgba[:, :32, 3] = 0.0
    write_image(tmp_path / "a.png", rgba)
    code, _, err = _run(capsys, "degrade", tmp_path / "a.png", tmp_path / "b.png", "--preset", "sr-bicubic-x4")
    assert code == 0, err
    out = read_image(tmp_path / "b.png")
    assert out.shape == (12, 16, 4)
    np.testing.assert_allclose(out[:, :8, 3], 0.0)
    np.testing.assert_allclose(out[:, 8:, 3], 1.0)
    assert json.loads((tmp_path / "b.png.json").read_text())["alpha"] == "carried"
