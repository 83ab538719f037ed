"""``restora metrics``: files and folders, CSV output, errors as one-line messages."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_image
from restora.cli.main import main
from restora.metrics import psnr, ssim


def _save(path, img):
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8).squeeze()).save(path)


@pytest.fixture
def folders(tmp_path):
    ref, res = tmp_path / "ref", tmp_path / "res"
    ref.mkdir()
    res.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = synthetic_image(100, 110, 3, seed=i)
        _save(ref / f"img{i}.png", img)
        _save(res / f"img{i}.png", img + rng.normal(0, 0.03, img.shape))
    _save(res / "extra.png", synthetic_image(100, 110, 3, seed=9))  # no reference: skipped with a warning
    _save(res / "img3.png", synthetic_image(50, 50, 3, seed=3))
    _save(ref / "img3.bmp", synthetic_image(60, 60, 3, seed=3))  # size mismatch: an error row
    return res, ref


def _u8(path):
    return np.asarray(Image.open(path), dtype=np.float64) / 255


def test_cli_folders_csv(folders, tmp_path, capsys):
    res, ref = folders
    out = tmp_path / "m.csv"
    rc = main(["metrics", str(res), str(ref), "--y-channel", "--crop", "4", "--round", "-m", "psnr,ssim", "--csv", str(out)])
    assert rc == 2  # one image of the folder could not be measured (another size): the run says so
    text = capsys.readouterr()
    assert "img0" in text.out and "mean (3)" in text.out and "Y channel" in text.out
    assert "extra" in text.err and "same shape" in text.out
    rows = list(csv.DictReader(open(out)))
    assert [r["image"] for r in rows] == ["img0", "img1", "img2", "img3", "mean (3)"]
    expected = [psnr(_u8(res / f"img{i}.png"), _u8(ref / f"img{i}.png"), crop=4, y_channel=True, round_to_uint8=True)
                for i in range(3)]
    for i in range(3):
        assert float(rows[i]["psnr"]) == pytest.approx(expected[i], abs=1e-9)
    assert float(rows[-1]["psnr"]) == pytest.approx(np.mean(expected), abs=1e-9)
    assert rows[3]["error"] and not rows[3]["psnr"]
    # an existing CSV is not replaced without --overwrite
    assert main(["metrics", str(res), str(ref), "--csv", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["metrics", str(res), str(ref), "--csv", str(out), "--overwrite", "-m", "ssim"]) == 2  # img3 still has another size


def test_cli_single_files_and_niqe_without_reference(folders, capsys):
    res, ref = folders
    rc = main(["metrics", str(res / "img1.png"), str(ref / "img1.png"), "-m", "ssim"])
    assert rc == 0
    expected = ssim(_u8(res / "img1.png"), _u8(ref / "img1.png"))
    assert f"{expected:.4f}" in capsys.readouterr().out
    assert main(["metrics", str(res / "img1.png"), "-m", "niqe"]) == 0
    assert "NIQE" in capsys.readouterr().out


def test_cli_errors_are_one_line(folders, capsys):
    res, ref = folders
    assert main(["metrics", str(res), "-m", "psnr"]) == 2
    assert "REFERENCE is needed" in capsys.readouterr().err
    assert main(["metrics", str(res), str(ref), "-m", "psnr,bogus"]) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert main(["metrics", str(res / "img0.png"), str(ref)]) == 2
    assert "two files or two folders" in capsys.readouterr().err
    assert main(["metrics", str(res), str(ref), "-m", "fid", "--weights-dir", str(res)]) == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in capsys.readouterr().err
    assert main(["metrics", str(res), str(ref), "-m", "lpips", "--device", "nonsense"]) == 2
    assert "--device" in capsys.readouterr().err


def test_compute_metrics_api(rgb):
    from restora.errors import InvalidParameterError
    from restora.metrics import LPIPS, compute_metrics, lpips, niqe, parse_metric_names

    assert parse_metric_names("PSNR, ms-ssim,psnr") == ["psnr", "ms_ssim"]
    a = synthetic_image(100, 100, 3, seed=1)
    b = np.clip(a + 0.05, 0, 1)
    net = LPIPS.untrained("alex")
    got = compute_metrics(b, a, metrics="psnr,ssim,lpips,niqe", crop=2, y_channel=True, round_to_uint8=True, lpips_net=net)
    assert list(got) == ["psnr", "ssim", "lpips", "niqe"]
    assert got["psnr"] == psnr(b, a, crop=2, y_channel=True, round_to_uint8=True)
    assert got["ssim"] == ssim(b, a, crop=2, y_channel=True, round_to_uint8=True)
    assert got["lpips"] == pytest.approx(lpips(b[2:-2, 2:-2], a[2:-2, 2:-2], net=net))
    assert got["niqe"] == niqe(b, crop=2)
    with pytest.raises(InvalidParameterError, match="need a reference"):
        compute_metrics(b, metrics="psnr,niqe")
    with pytest.raises(InvalidParameterError, match="set metric"):
        compute_metrics(b, a, metrics="fid")
