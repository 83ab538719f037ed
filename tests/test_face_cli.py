"""``restora restore --face / --portrait``: face models run whole (never tiled), through the
forced-model path of the restore pipeline (restora.faces.restorer, restora.cli.restore)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restora import zoo
from restora.cli.main import main
from restora.faces.restorer import AlignedFaceRestorer, PortraitRestorer, face_restorer
from restora.io import read_image, write_image
from restora.nn.registry import create_model
from restora.pipeline import RestorePipeline

TINY_FUSION = dict(resolution=32, nafnet=dict(width=4, enc_blocks=(1, 1, 1, 1), dec_blocks=(1, 1, 1, 1)),
                   generator=dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8),
                   encoder=dict(width=4), fusion=dict(features=4, blocks=1))
TINY_PORTRAIT = dict(features=8, growth=4, face_size=16, face_features=4, latent_channels=4, bridge_features=8, bridge_blocks=1, orb_cabs=2)


@pytest.fixture(scope="module")
def face_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("face-models")
    torch.manual_seed(0)
    fusion = zoo.save_model(create_model("face-fusion", **TINY_FUSION), folder / "ff.safetensors",
                            zoo.ModelCard(name="ff", arch="face-fusion", args={}, task="face-deblur"))
    portrait = zoo.save_model(create_model("portrait-3stage", **TINY_PORTRAIT), folder / "pt.safetensors",
                              zoo.ModelCard(name="pt", arch="portrait-3stage", args={}, task="restore"))
    return fusion, portrait


@pytest.fixture()
def no_shipped_face_systems(tmp_path, monkeypatch):
    """The package's weights without the face systems (the package may ship portrait-3stage):
    what a user without them installed sees."""
    from restora.zoo.store import PACKAGE_WEIGHTS

    folder = tmp_path / "package-weights"
    folder.mkdir()
    for f in PACKAGE_WEIGHTS.iterdir():
        if f.stem not in ("portrait-3stage", "face-fusion"):
            (folder / f.name).symlink_to(f)
    monkeypatch.setattr("restora.zoo.store.PACKAGE_WEIGHTS", folder)
    return folder


@pytest.fixture()
def face_png(tmp_path):
    yy, xx = np.mgrid[0:48, 0:48] / 48.0
    img = np.stack([0.5 + 0.3 * np.sin(6 * xx), 0.4 + 0.3 * yy, 0.5 + 0.2 * np.cos(5 * (xx + yy))], -1).astype(np.float32)
    path = tmp_path / "face.png"
    write_image(path, img)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def test_face_restorer_wraps_each_arch(face_models):
    fusion, portrait = face_models
    assert isinstance(face_restorer(zoo.load_file(fusion)), AlignedFaceRestorer)
    assert isinstance(face_restorer(zoo.load_file(portrait), aligned=True), PortraitRestorer)
    with pytest.raises(Exception, match="not a face model"):
        face_restorer(zoo.load("ffdnet-gray"))


def test_forced_face_model_runs_the_whole_image_untiled(face_models, face_png):
    fusion, _ = face_models
    img = read_image(face_png)
    pipe = RestorePipeline(device="cpu", model=str(fusion), tile=16, aligned_face=True)
    restorer = pipe.restorer(str(fusion))
    calls = []
    inner = restorer._face
    restorer._face = lambda face: calls.append(face.shape) or inner(face)
    res = pipe.restore(img, steps=["deblur"])
    assert [s.name for s in res.plan.steps] == ["deblur"] and res.plan.steps[0].method == str(fusion)
    assert calls == [(32, 32, 3)]  # one aligned face at the model's size, not 16 px tiles
    assert res.image.shape == img.shape and not np.allclose(res.image, img)


def test_cli_face_and_portrait(face_models, face_png, tmp_path, capsys):
    fusion, portrait = face_models
    out = tmp_path / "out.png"
    code, text, err = run(capsys, "restore", face_png, out, "--face", "--aligned", "--model", fusion, "--steps", "deblur")
    assert code == 0, err
    assert read_image(out).shape == (48, 48, 3) and "deblur" in text
    out2 = tmp_path / "out2.png"
    code, _, err = run(capsys, "restore", face_png, out2, "--portrait", "--aligned", "--model", portrait, "--steps", "denoise")
    assert code == 0, err
    assert read_image(out2).shape == (48, 48, 3)


@pytest.mark.parametrize("args, message", [
    (["--face", "--portrait"], "two different face systems"),
    (["--aligned"], "--aligned only applies"),
    (["--face"], "needs the face-fusion model, which is not installed"),
    (["--portrait"], "needs the portrait-3stage model"),
    (["--face", "--model", "ffdnet-gray"], "is not a face-fusion model"),
])
def test_cli_face_errors(args, message, face_png, tmp_path, capsys, monkeypatch, no_shipped_face_systems):
    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "empty-cache"))
    code, _, err = run(capsys, "restore", face_png, tmp_path / "o.png", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


# --------------------------------------------------------------------------- the web page's face / portrait tasks
def test_web_parse_options_face_tasks():
    from restora.errors import InvalidParameterError
    from restora.web.service import parse_options

    assert parse_options("face").system == "face" and parse_options("portrait", scale="1").steps is None
    for kwargs, message in [({"steps": "denoise"}, "give no steps or model"), ({"model": "nlm"}, "give no steps or model"),
                            ({"scale": "2"}, "does not upscale")]:
        with pytest.raises(InvalidParameterError, match=message):
            parse_options("portrait", **kwargs)


def test_web_face_tasks_run_the_installed_system(face_models, face_png, tmp_path, monkeypatch, no_shipped_face_systems):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from restora.web import create_app

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    fusion, portrait = face_models
    c = TestClient(create_app(RestorePipeline(device="cpu"), ui=False), raise_server_exceptions=False)
    data = face_png.read_bytes()
    r = c.post("/api/v1/restore", files={"image": ("f.png", data, "image/png")}, data={"task": "portrait"})
    assert r.status_code == 422 and "task portrait needs the portrait-3stage model" in r.json()["error"]
    assert c.get("/api/v1/models").json()["face_systems"]["portrait"]["installed"] is False
    zoo.install(portrait, name="portrait-3stage")
    r = c.post("/api/v1/restore", files={"image": ("f.png", data, "image/png")}, data={"task": "portrait"})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (48, 48)
    plan = r.headers["x-restora-plan"]
    assert "portrait-3stage" in plan
    assert c.get("/api/v1/models").json()["face_systems"]["portrait"]["installed"] is True
