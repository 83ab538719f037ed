"""Bad input to the REST API, as an attacker or a careless user sends it: every answer is a
one-line JSON error with a 4xx status (or a correct 200), never a traceback or a 500."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from restora.web import create_app  # noqa: E402

from test_web_api import FakePipeline, png_bytes  # noqa: E402


def _tiff(arr: np.ndarray) -> bytes:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    return buf.getvalue()


def _bomb_png(side: int = 100_000) -> bytes:
    """A valid PNG header claiming side x side pixels, with a tiny body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


NAN = np.full((16, 16, 3), 0.5, np.float32)
NAN[3, 4, 1] = np.nan
INF = np.full((16, 16), 0.5, np.float32)
INF[0, 0] = np.inf

# (label, files, data, expected statuses)
CASES = [
    ("NaN float TIFF", {"image": ("nan.tif", _tiff(NAN), "image/tiff")}, {}, {415}),
    ("Inf float TIFF", {"image": ("inf.tif", _tiff(INF), "image/tiff")}, {}, {415}),
    ("0-255 float TIFF", {"image": ("f.tif", _tiff(np.full((16, 16, 3), 200.0, np.float32)), "image/tiff")}, {}, {200}),
    ("zero-byte file", {"image": ("empty.png", b"", "image/png")}, {}, {415}),
    ("truncated PNG", {"image": ("t.png", png_bytes()[:60], "image/png")}, {}, {415}),
    ("text named .png", {"image": ("notes.png", b"hello world\n" * 10, "image/png")}, {}, {415}),
    ("GIF", {"image": ("a.gif", _gif(), "image/gif")}, {}, {415}),
    ("SVG", {"image": ("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")}, {}, {415}),
    ("PNG header bomb 100000^2", {"image": ("bomb.png", _bomb_png(), "image/png")}, {}, {413}),
    ("1x1 image", {"image": ("one.png", png_bytes(1, 1), "image/png")}, {}, {200, 422}),
    ("scale=abc", {"image": ("a.png", png_bytes(), "image/png")}, {"scale": "abc"}, {422}),
    ("scale=1e9", {"image": ("a.png", png_bytes(), "image/png")}, {"scale": "1e9"}, {422}),
    ("quality=-1", {"image": ("a.png", png_bytes(), "image/png")}, {"quality": "-1", "format": "jpeg"}, {422}),
    ("format=gif", {"image": ("a.png", png_bytes(), "image/png")}, {"format": "gif"}, {422}),
    ("model=/etc/passwd", {"image": ("a.png", png_bytes(), "image/png")}, {"model": "/etc/passwd"}, {422}),
    ("model=../../x.safetensors", {"image": ("a.png", png_bytes(), "image/png")}, {"model": "../../x.safetensors"}, {422}),
    ("steps=denoise:/etc/passwd", {"image": ("a.png", png_bytes(), "image/png")}, {"steps": "denoise:/etc/passwd"}, {422}),
    ("steps=,,,", {"image": ("a.png", png_bytes(), "image/png")}, {"steps": ",,,"}, {422}),
    ("task=$(rm -rf)", {"image": ("a.png", png_bytes(), "image/png")}, {"task": "$(rm -rf /)"}, {422}),
    ("unknown field sigma", {"image": ("a.png", png_bytes(), "image/png")}, {"sigma": "25"}, {422}),
    ("image as a text field", {}, {"image": "not a file"}, {422}),
    ("no image", {}, {"task": "auto"}, {422}),
    ("4 KB filename with ../ and NUL", {"image": ("../" * 1000 + "a\0b.png", png_bytes(), "image/png")}, {}, {200}),
    ("16-bit gray PNG", {"image": ("g16.png", png_bytes(bits=16), "image/png")}, {}, {200}),
]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(FakePipeline(), ui=False), raise_server_exceptions=False)


@pytest.mark.parametrize("label,files,data,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clean_answer(client, label, files, data, expected):
    r = client.post("/api/v1/restore", files=files or None, data=data)
    assert r.status_code in expected, (label, r.status_code, r.text[:300])
    if r.status_code != 200:
        msg = r.json()["error"]
        assert msg and "\n" not in msg and "Traceback" not in msg and "File \"" not in msg
    assert client.get("/api/v1/health").status_code == 200
