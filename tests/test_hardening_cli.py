"""Hardening of the write paths and of bad input across the CLI (issue 14, non-web items).

Every failure a user can cause must end in a one-line error and a non-zero exit, never a
traceback, and no command may lose or overwrite a user's file.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from restora.cli.main import main
from restora.errors import ImageReadError, ImageWriteError, InvalidParameterError, RestoraError
from restora.io import ImageWarning, read_image, write_image
from restora.validation import ValueRangeWarning, as_image

CHEAP = ["--steps", "upscale:bicubic", "--scale", "2"]


def tiny(seed: int = 0, h: int = 12, w: int = 16, c: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; an uncaught exception (a traceback for the user) fails the test."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    """The error line of a failed command (and proof that there is no traceback)."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        write_image(src / f"im{i}.png", tiny(i))
    return src


def float_tiff(path: Path, arr: np.ndarray) -> Path:
    tifffile.imwrite(path, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
    return path


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


# ------------------------------------------------------------------ 1. non-finite / out of range
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_nan_or_inf_is_refused_at_read(tmp_path, bad):
    img = tiny()
    img[2, 3, 1] = bad
    path = tmp_path / "bad.tif"
    float_tiff(path, img)
    with pytest.raises(ImageReadError, match="bad.tif.*NaN or infinite"):
        read_image(path)
    float_tiff(tmp_path / "gray.tif", img[:, :, 1])  # gray float: Pillow's mode F path
    with pytest.raises(ImageReadError, match="gray.tif.*NaN or infinite"):
        read_image(tmp_path / "gray.tif")


def test_nan_tiff_gives_one_line_error_in_restore_denoise_and_batch(tmp_path, capsys):
    img = tiny()
    img[0, 0, 0] = np.nan
    src = tmp_path / "in"
    src.mkdir()
    float_tiff(src / "nan.tif", img)
    for cmd in (["restore", src / "nan.tif", tmp_path / "r.png"], ["denoise", src / "nan.tif", tmp_path / "d.png"]):
        code, _, err = run(capsys, *cmd)
        assert code == 2 and "nan.tif" in one_line_error(err) and "NaN" in err
    code, _, err = run(capsys, "batch", src, tmp_path / "out", *CHEAP, "--report", tmp_path / "r.json")
    assert code == 1
    item = json.loads((tmp_path / "r.json").read_text())["items"][0]
    assert item["status"] == "failed" and "NaN or infinite" in item["error"] and "Error:" not in item["error"]


@pytest.mark.parametrize("top, divisor", [(255.0, 255.0), (65535.0, 65535.0), (1e6, None)])
def test_float_tiff_beyond_one_is_rescaled_with_a_warning(tmp_path, top, divisor):
    img = tiny()
    img[0, 0, 0] = 1.0
    path = tmp_path / "f.tif"
    float_tiff(path, img * top)
    with pytest.warns(ImageWarning, match="f.tif.*divided by"):
        back = read_image(path)
    np.testing.assert_allclose(back, img * top / (divisor or top), rtol=1e-6)
    assert back.max() <= 1.0


def test_float_tiff_slightly_out_of_range_is_kept_with_a_warning(tmp_path):
    img = tiny() * 1.5 - 0.2  # [-0.2, 1.3]: overshoot, not 0-255 data
    float_tiff(tmp_path / "o.tif", img)
    with pytest.warns(ImageWarning) as rec:
        back = read_image(tmp_path / "o.tif")
    text = " ".join(str(w.message) for w in rec)
    assert "above 1" in text and "below 0" in text
    np.testing.assert_array_equal(back, img)  # not clipped, not rescaled
    float_tiff(tmp_path / "ok.tif", tiny())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_image(tmp_path / "ok.tif"), tiny())


def test_api_refuses_non_finite_arrays_naming_the_parameter():
    from restora.pipeline import RestorePipeline
    from restora.restorers import get_restorer

    img = tiny()
    img[1, 1, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="lr_image contains NaN"):
        as_image(img, "lr_image")
    with pytest.raises(InvalidParameterError, match="image contains NaN or infinite"):
        get_restorer("nlm")(img, sigma=10)
    with pytest.raises(InvalidParameterError, match="NaN or infinite"):
        RestorePipeline(prefer="classical").restore(img)
    with pytest.raises(InvalidParameterError, match="infinite"):
        as_image(np.full((4, 4), 1e300))  # float64 overflowing float32


def test_api_warns_about_0_255_floats_but_not_overshoot():
    with pytest.warns(ValueRangeWarning, match="up to 255"):
        out = as_image(np.full((4, 4, 3), 255.0))
    assert out.max() == 255.0  # the caller's values are used as given
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_image(np.full((4, 4, 3), 1.8, np.float32))  # noise overshoot is legal
        as_image(np.full((4, 4, 3), 255, np.uint8))


# ------------------------------------------------------------------ 2. outputs checked before work
def test_batch_unwritable_report_fails_before_any_work(folder, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file, so nothing can be created under it")
    out = tmp_path / "out"
    for bad in (blocker / "r.json", blocker / "sub" / "r.csv"):
        code, _, err = run(capsys, "batch", folder, out, *CHEAP, "--report", tmp_path / "ok.json", "--report", bad)
        assert code == 2 and str(blocker) in one_line_error(err)
        assert not out.exists() and not (tmp_path / "ok.json").exists()  # nothing was done
    code, _, err = run(capsys, "batch", folder, out, *CHEAP, "--report", tmp_path)  # a folder
    assert code == 2 and "report" in one_line_error(err)
    assert temp_files(tmp_path) == []


def test_batch_report_write_failure_is_one_line_and_leaves_no_temp(folder, tmp_path, monkeypatch):
    from restora.batch import run_batch

    report = run_batch(folder, tmp_path / "out", workers=1, steps=["upscale:bicubic"], scale=2)

    def disk_full(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(ImageWriteError, match=r"r\.json: No space left on device"):
        report.write(tmp_path / "r.json")
    monkeypatch.undo()
    assert temp_files(tmp_path) == [] and not (tmp_path / "r.json").exists()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ImageWriteError, match="file.txt exists and is not a folder"):
        report.write(tmp_path / "file.txt" / "r.json")


def test_batch_output_folder_under_a_file_is_one_line(folder, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    code, _, err = run(capsys, "batch", folder, tmp_path / "file.txt" / "new", *CHEAP)
    assert code == 2 and "file.txt" in one_line_error(err)
    code, _, err = run(capsys, "batch", folder, tmp_path / "file.txt", *CHEAP)  # OUT is a file
    assert code == 2 and "not a folder" in one_line_error(err)
    code, _, err = run(capsys, "restore", folder / "im0.png", tmp_path / "file.txt" / "o.png", *CHEAP)
    assert code == 2 and "file.txt" in one_line_error(err)


def test_metrics_csv_checked_before_work_and_written_atomically(folder, tmp_path, capsys):
    a, b = folder / "im0.png", folder / "im1.png"
    (tmp_path / "file.txt").write_text("x")
    code, _, err = run(capsys, "metrics", a, b, "--csv", tmp_path / "file.txt" / "x.csv")
    assert code == 2 and "file.txt" in one_line_error(err)
    code, out, err = run(capsys, "metrics", a, b, "--csv", tmp_path / "m.csv")
    assert code == 0 and "PSNR" in out
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0].startswith("image,psnr,ssim") and len(rows) == 3
    code, _, err = run(capsys, "metrics", a, b, "--csv", tmp_path / "m.csv")  # exists
    assert code == 2 and "--overwrite" in one_line_error(err)
    code, _, err = run(capsys, "metrics", a, b, "--csv", tmp_path, "--overwrite")  # a folder
    assert code == 2 and "folder" in one_line_error(err)
    code, _, err = run(capsys, "metrics", a, b, "--csv", b, "--overwrite")  # the reference image
    assert code == 2 and "image suffix" in one_line_error(err)
    assert temp_files(tmp_path) == []


# ------------------------------------------------------------------ 3. never write over an input
def test_restore_refuses_to_overwrite_its_input(folder, tmp_path, capsys):
    src = folder / "im0.png"
    before = src.read_bytes()
    for dst in (src, folder, tmp_path / ".." / tmp_path.name / "in" / "im0.png"):
        code, _, err = run(capsys, "restore", src, dst, *CHEAP, "--overwrite")
        assert code == 2 and "never writes over its input" in one_line_error(err)
    os.link(src, tmp_path / "hard.png")  # a hard link is the same file
    code, _, err = run(capsys, "restore", src, tmp_path / "hard.png", *CHEAP, "--overwrite")
    assert code == 2 and "never writes over" in one_line_error(err)
    code, _, err = run(capsys, "restore", src, tmp_path / "o.png", *CHEAP, "--compare", src, "--overwrite")
    assert code == 2 and "--compare" in one_line_error(err)
    assert src.read_bytes() == before and not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_batch_into_its_own_folder_is_an_error(folder, capsys, overwrite):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    args = ["--overwrite"] if overwrite else []
    for cmd in ("batch", "restore"):
        code, _, err = run(capsys, cmd, folder, folder, *CHEAP, *args)
        assert code == 2 and "input folder" in one_line_error(err)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_batch_output_inside_input_skips_earlier_outputs_and_input_inside_output_is_refused(folder, capsys):
    out = folder / "restored"
    for _ in range(2):  # the second run must not restore the first run's outputs
        code, _, err = run(capsys, "batch", folder, out, *CHEAP, "--overwrite")
        assert code == 0, err
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == [
        "im0.png", "im1.png", "restored/im0.png", "restored/im1.png"]
    # IN inside OUT: IN/sub/x.png (IN = OUT/sub) becomes OUT/sub/x.png, which is the input
    # IN/x.png: the job is refused before any work
    inner = folder / "sub"
    (inner / "sub").mkdir(parents=True)
    write_image(inner / "x.png", tiny(3))
    write_image(inner / "sub" / "x.png", tiny(4))
    before = (inner / "x.png").read_bytes()
    code, _, err = run(capsys, "batch", inner, folder, *CHEAP, "--overwrite")
    assert code == 2 and "one of the inputs" in one_line_error(err)
    assert (inner / "x.png").read_bytes() == before


def test_other_commands_refuse_their_input_via_a_link(folder, tmp_path, capsys):
    src = folder / "im0.png"
    os.link(src, tmp_path / "hard.png")
    before = src.read_bytes()
    for cmd in (["denoise", src, tmp_path / "hard.png", "--sigma", "5"],
                ["upscale", src, tmp_path / "hard.png", "-m", "bicubic", "--scale", "2"],
                ["deblur", src, tmp_path / "hard.png", "-m", "blind", "--kernel-size", "5"],
                ["degrade", src, tmp_path / "hard.png", "--sigma", "5"]):
        code, _, err = run(capsys, *cmd, "--overwrite")
        assert code == 2 and "never writes over its input" in one_line_error(err), cmd
    assert src.read_bytes() == before


# ------------------------------------------------------------------ 4. absurd numbers, stale temps
def test_degrade_huge_blur_is_refused_and_kernels_are_capped(folder, tmp_path, capsys):
    from restora.degrade import MAX_KERNEL_SIZE, defocus_kernel, gaussian_kernel, motion_kernel

    code, _, err = run(capsys, "degrade", folder / "im0.png", tmp_path / "o.png", "--blur", "1e9")
    assert code == 2 and "--blur" in err and "Traceback" not in err
    code, _, err = run(capsys, "degrade", folder / "im0.png", tmp_path / "o.png", "--blur", "100")
    assert code == 0, err
    record = json.loads((tmp_path / "o.png.json").read_text())
    side = len(next(s for s in record["steps"] if s["op"] == "blur")["kernel"])
    assert side == 2 * 16 + 1  # capped by the 12 x 16 image, not 601 taps
    for make in (lambda: gaussian_kernel(2 * 10**9 + 1, 1e9), lambda: defocus_kernel(1e9),
                 lambda: motion_kernel(size=10**7 + 1, rng=0)):
        with pytest.raises(InvalidParameterError, match=f"at most {MAX_KERNEL_SIZE}"):
            make()
    k = defocus_kernel(400.0)  # a coarser sub-pixel grid keeps big disks cheap
    assert k.shape == (801, 801) and abs(k.sum() - 1) < 1e-9
    code, _, err = run(capsys, "degrade", folder / "im0.png", tmp_path / "s.png", "--scale", "1000")
    assert code == 2 and "--scale 1000" in one_line_error(err)


@pytest.mark.parametrize("sigma", [0, 1, 100, 233, 240, 255])
def test_nlm_works_over_the_whole_sigma_range(sigma):
    from restora.classical.denoise import nlm

    img = tiny(c=1)
    out = nlm(img, sigma=sigma)
    assert out.shape == img.shape and np.isfinite(out).all()
    if sigma >= 100:
        assert out.std() < img.std()  # it still smooths
    with pytest.raises(InvalidParameterError, match="sigma"):
        nlm(img, sigma=256)


def test_denoise_cli_nlm_sigma_255(folder, tmp_path, capsys):
    code, out, err = run(capsys, "denoise", folder / "im0.png", tmp_path / "d.png", "-m", "nlm", "--sigma", "255")
    assert code == 0 and "nlm" in out, err


def test_batch_removes_only_stale_temp_files_of_the_atomic_writer(folder, tmp_path, capsys):
    from restora.atomic import temp_path

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    old = time.time() - 2 * 3600
    dead_pid = 2**22 + 12345  # above the usual pid_max: no such process
    stale = {
        out / f".im0.png.{dead_pid}.0123abcd.tmp": 120,  # writer gone, 2 minutes old
        out / "sub" / ".x.png.{}.89abcdef.tmp".format(os.getpid()): None,  # 2 hours old
        out / ".y.png.deadbeef.tmp": None,  # the older io pattern, 2 hours old
    }
    keep = {
        out / f".fresh.png.{dead_pid}.0123abcd.tmp": 0,  # writer gone but just written
        temp_path(out / "live.png"): 120,  # this process is alive and the file is recent
        out / ".notes.txt.tmp": None,  # not the writer's pattern
        out / ".a.png.dead.tmp": None,
        out / "user.tmp": None,
        out / ".im1.png.12.0123ABCD.tmp": None,  # upper-case hex: not ours
    }
    for p, age in {**stale, **keep}.items():
        p.write_bytes(b"partial")
        t = old if age is None else time.time() - age
        os.utime(p, (t, t))
    (out / ".dir.png.1.0123abcd.tmp").mkdir()  # a folder is never removed
    code, _, err = run(capsys, "batch", folder, out, *CHEAP)
    assert code == 0, err
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep) and (out / ".dir.png.1.0123abcd.tmp").is_dir()
    assert (out / "im0.png").is_file() and (out / "im1.png").is_file()


# ------------------------------------------------------------------ 5. a careless user
def test_deblur_save_kernel_checked_before_work(folder, tmp_path, capsys):
    src = folder / "im0.png"
    (tmp_path / "file.txt").write_text("x")
    blind = ["deblur", src, tmp_path / "o.png", "-m", "blind", "--kernel-size", "5", "--sigma", "1"]
    for bad, words in ((tmp_path / "file.txt" / "k.npy", "file.txt"), (tmp_path / "k.xyz", ".npy or image"),
                       (src, "differ from IN")):
        code, _, err = run(capsys, *blind, "--save-kernel", bad, "--overwrite")
        assert code == 2 and words in one_line_error(err)
        assert not (tmp_path / "o.png").exists()  # refused before the deconvolution ran
    code, _, err = run(capsys, *blind, "--save-kernel", tmp_path / "k.npy")
    assert code == 0, err
    k = np.load(tmp_path / "k.npy")
    assert k.shape == (5, 5) and abs(k.sum() - 1) < 1e-6 and temp_files(tmp_path) == []


def test_restore_compare_checked_before_work(folder, tmp_path, capsys):
    code, _, err = run(capsys, "restore", folder / "im0.png", tmp_path / "o.png", *CHEAP, "--compare", tmp_path / "c.jpg")
    assert code == 2 and "--compare" in one_line_error(err) and not (tmp_path / "o.png").exists()


def test_batch_empty_folder_and_bad_quality_are_errors_before_work(tmp_path, capsys, folder):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    for cmd in ("batch", "restore"):
        code, _, err = run(capsys, cmd, tmp_path / "empty", tmp_path / "out", *CHEAP)
        assert code == 2 and "no images" in one_line_error(err)
    code, _, err = run(capsys, "batch", folder, tmp_path / "out", *CHEAP, "--quality", "0")
    assert code == 2 and "quality" in one_line_error(err) and not (tmp_path / "out").exists()
    code, _, err = run(capsys, "batch", folder, tmp_path / "out", "--scale", "-1")
    assert code == 2 and "scale" in one_line_error(err) and not (tmp_path / "out").exists()


def test_zero_byte_and_folder_inputs(folder, tmp_path, capsys):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "dir.png").mkdir()
    for cmd in (["restore", tmp_path / "zero.png", tmp_path / "o1.png"],
                ["denoise", tmp_path / "zero.png", tmp_path / "o2.png", "--sigma", "5"],
                ["upscale", tmp_path / "zero.png", tmp_path / "o3.png", "-m", "bicubic"],
                ["deblur", tmp_path / "zero.png", tmp_path / "o4.png", "-m", "blind"],
                ["degrade", tmp_path / "zero.png", tmp_path / "o5.png", "--sigma", "5"],
                ["metrics", tmp_path / "zero.png", folder / "im0.png"],
                ["upscale", tmp_path / "dir.png", tmp_path / "o6.png"],
                ["restore", tmp_path / "dir.png", tmp_path / "o7"],
                ["upscale", folder / "im0.png", tmp_path / "dir.png", "-m", "bicubic", "--overwrite"]):
        code, _, err = run(capsys, *cmd)
        assert code == 2, cmd
        one_line_error(err)
    # in a folder job a zero-byte file is one failed item, the rest is done
    (folder / "zero.png").write_bytes(b"")
    code, _, err = run(capsys, "batch", folder, tmp_path / "out", *CHEAP)
    assert code == 1 and "zero.png" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["im0.png", "im1.png"]


def test_degrade_sidecar_uses_the_writer_temp_pattern(folder, tmp_path, monkeypatch, capsys):
    import restora.cli.degrade as cli_degrade
    from restora.atomic import is_stale_temp

    made = []
    real = cli_degrade.create_temp

    def spy(path):
        fd, tmp = real(path)
        made.append(tmp)
        return fd, tmp

    monkeypatch.setattr(cli_degrade, "create_temp", spy)
    code, _, err = run(capsys, "degrade", folder / "im0.png", tmp_path / "o.png", "--sigma", "5")
    assert code == 0, err
    assert made and made[0].name.startswith(".o.png.json.") and not made[0].exists()
    stale = tmp_path / made[0].name
    stale.write_text("{")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert is_stale_temp(stale)
