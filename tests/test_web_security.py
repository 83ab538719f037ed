"""Attacks on a live ``restora serve`` (Uvicorn on a free port of 127.0.0.1, in a thread).

The page's restore handler is reachable through Gradio's queue (``POST
/gradio_api/queue/join``) with a hand-made file reference. Before the fix, a reference whose
``path`` named any server file (``/etc/passwd``, ``/proc/self/environ``) was copied into
Gradio's cache, the error message named the copy, and ``GET /gradio_api/file=<copy>``
returned it; ``/dev/zero`` pinned a core and hung the whole server. These tests perform
exactly those attacks and fail if any byte of a file that was not uploaded comes back, or
if ``/api/v1/health`` stops answering within a second. Loopback only; every loop and wait
is bounded.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("gradio")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from PIL import Image  # noqa: E402

from restora.web import create_app  # noqa: E402

from test_web_api import FakePipeline  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A private Gradio cache, so the leak check below sees only what this server copied.
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-cache"))
    app = create_app(FakePipeline(), max_concurrency=1, queue_size=4)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started, "server did not start in 30 s"
    base = f"http://127.0.0.1:{port}"
    cfg = httpx.get(base + "/config", timeout=10).json()
    deps = cfg["dependencies"]
    fn = next(i for i, d in enumerate(deps) if len(d["inputs"]) == 5)  # image, task, method, scale, format
    yield {"base": base, "fn": fn, "trigger": deps[fn]["targets"][0][0]}
    srv.should_exit = True
    thread.join(10)
    if old is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old


def _call_restore(server: dict[str, Any], file_ref: dict[str, Any], session: str, timeout: float = 20.0) -> list[str]:
    """Join the restore event with ``file_ref`` as the image; the raw event-stream lines."""
    base = server["base"]
    payload = {
        "data": [file_ref, "auto", "auto", "1", "png"],
        "fn_index": server["fn"],
        "session_hash": session,
        "event_data": None,
        "trigger_id": server["trigger"],
    }
    r = httpx.post(base + "/gradio_api/queue/join", json=payload, timeout=10)
    lines = [r.text]
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", base + "/gradio_api/queue/data", params={"session_hash": session}, timeout=timeout) as s:
        for line in s.iter_lines():
            lines.append(line)
            if '"process_completed"' in line or time.monotonic() > deadline:
                break
    return lines


def _file_urls(text: str) -> set[str]:
    """Every path or ``/gradio_api/file=`` URL mentioned in the responses."""
    found = set(re.findall(r"/gradio_api/file=[^\s\"'\\]+", text))
    found |= {"/gradio_api/file=" + p for p in re.findall(r"(/(?:tmp|proc|etc|root|dev|work)[^\s\"'\\,)]*)", text)}
    return found


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _leaks(server: dict[str, Any], lines: list[str], secret: bytes) -> list[str]:
    text = "\n".join(lines)
    leaks = []
    probe = secret[:64]
    if probe.decode("latin-1") in text:
        leaks.append("secret bytes in the event stream")
    for url in sorted(_file_urls(text)):
        r = httpx.get(server["base"] + url, timeout=10)
        if r.status_code == 200 and (probe in r.content or len(r.content) > 0 and r.content in secret):
            leaks.append(f"served by {url}")
    # Also whatever Gradio may have copied into its cache, by content.
    from gradio.utils import get_upload_folder

    for p in Path(get_upload_folder()).rglob("*"):
        try:
            if p.is_file() and p.stat().st_size == len(secret) and p.read_bytes() == secret:
                leaks.append(f"copied into the cache as {p}")
        except OSError:
            continue
    return leaks


@pytest.mark.parametrize("kind", ["text", "image", "passwd", "environ", "dotdot"])
def test_page_does_not_hand_out_server_files(server, tmp_path, kind):
    if kind == "text":
        secret = b"restora-secret-" + os.urandom(16).hex().encode() + b"\n" * 3
        target = tmp_path / "secret.txt"
        target.write_bytes(secret)
    elif kind == "image":  # an image on the server must not be restored and offered either
        secret = _png(7)
        target = tmp_path / "secret.png"
        target.write_bytes(secret)
    elif kind == "passwd":
        target = Path("/etc/passwd")
        secret = target.read_bytes()
    elif kind == "environ":
        target = Path("/proc/self/environ")
        secret = b"\0".join(f"{k}={v}".encode() for k, v in list(os.environ.items())[:3])
    else:
        secret = b"restora-secret-" + os.urandom(16).hex().encode()
        target = tmp_path / "secret2.txt"
        target.write_bytes(secret)
        from gradio.utils import get_upload_folder

        target = Path(get_upload_folder()) / ".." / os.path.relpath(target, Path(get_upload_folder()).parent)
    ref = {"path": str(target), "meta": {"_type": "gradio.FileData"}, "orig_name": target.name}
    lines = _call_restore(server, ref, f"attack-{kind}")
    done = [json.loads(ln[5:]) for ln in lines if ln.startswith("data:") and "process_completed" in ln]
    assert done, f"no completion event: {lines[-3:]}"
    assert done[0]["success"] is False, "the handler accepted a path that was not uploaded"
    assert not _leaks(server, lines, secret)


def test_dev_zero_is_refused_and_health_keeps_answering(server):
    worst = 0.0
    box: dict[str, Any] = {}

    def attack() -> None:
        box["lines"] = _call_restore(server, {"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}, "attack-zero")

    t = threading.Thread(target=attack, daemon=True)
    t.start()
    for _ in range(8):
        t0 = time.monotonic()
        r = httpx.get(server["base"] + "/api/v1/health", timeout=5)
        worst = max(worst, time.monotonic() - t0)
        assert r.status_code == 200
        time.sleep(0.1)
    t.join(20)
    assert not t.is_alive(), "the /dev/zero request did not finish in 20 s"
    assert worst < 1.0, f"health took {worst:.2f} s while the attack ran"
    done = [json.loads(ln[5:]) for ln in box["lines"] if ln.startswith("data:") and "process_completed" in ln]
    assert done and done[0]["success"] is False


def test_real_upload_still_restores(server):
    data = _png(3)
    r = httpx.post(server["base"] + "/gradio_api/upload", files={"files": ("photo.png", data, "image/png")}, timeout=10)
    assert r.status_code == 200, r.text
    path = r.json()[0]
    lines = _call_restore(server, {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "photo.png"}, "legit")
    done = [json.loads(ln[5:]) for ln in lines if ln.startswith("data:") and "process_completed" in ln]
    assert done and done[0]["success"] is True, lines[-2:]
    text = json.dumps(done[0])
    urls = [u for u in _file_urls(text) if u.endswith(".png")]
    assert urls
    got = httpx.get(server["base"] + urls[-1], timeout=10)
    assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_read_uploaded_refuses_outside_and_special_files(tmp_path):
    from restora.errors import ImageReadError, ImageTooLargeError
    from restora.web.ui import read_uploaded

    up = tmp_path / "up"
    (up / "a").mkdir(parents=True)
    good = up / "a" / "x.png"
    good.write_bytes(b"1234")
    assert read_uploaded(str(good), 10, str(up)) == b"1234"
    with pytest.raises(ImageTooLargeError):
        read_uploaded(str(good), 3, str(up))
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"s")
    for bad in (str(outside), str(up / ".." / "secret.txt"), "/dev/zero", "/etc/passwd", str(up)):
        with pytest.raises(ImageReadError):
            read_uploaded(bad, 10, str(up))
    link = up / "a" / "link.png"
    link.symlink_to(outside)
    with pytest.raises(ImageReadError):
        read_uploaded(str(link), 10, str(up))
    fifo = up / "a" / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError):
        read_uploaded(str(fifo), 10, str(up))  # must not block


def test_lock_gradio_paths_refuses_unsafe_gradio(monkeypatch):
    import gradio as gr
    from gradio import processing_utils

    from restora.web.app import lock_gradio_paths

    with gr.Blocks() as blocks:
        gr.Markdown("x")
    lock_gradio_paths(blocks)
    assert blocks.has_launched
    monkeypatch.setattr(processing_utils, "_check_allowed", lambda path, check: None)
    with pytest.raises(RuntimeError, match="cannot be served safely"):
        lock_gradio_paths(blocks)


# --------------------------------------------------------------------------- REST on a live server
@pytest.fixture(scope="module")
def failing_server():
    app = create_app(FakePipeline(fail=True), ui=False)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _multipart_request(host: str, body_png: bytes) -> bytes:
    boundary = "restoraboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + body_png + f"\r\n--{boundary}--\r\n".encode()
    head = (
        f"POST /api/v1/restore HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_keep_alive_connection_survives_a_500(failing_server):
    """Three requests pipelined on one keep-alive connection all get their (500) answer;
    before the fix the server closed the connection after the first one."""
    host = failing_server.split("//")[1]
    ip, port = host.split(":")
    with socket.create_connection((ip, int(port)), timeout=10) as sock:
        sock.sendall(b"".join(_multipart_request(host, _png(i)) for i in range(3)))
        got = b""
        end = time.monotonic() + 15
        while got.count(b"HTTP/1.1 ") < 3 and time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            got += chunk
    assert got.count(b"HTTP/1.1 500") == 3, got[:300]
    assert b"internal error (RuntimeError)" in got and b"Traceback" not in got and b"boom" not in got


def test_unknown_fields_are_422(failing_server):
    with httpx.Client(base_url=failing_server, timeout=10) as c:
        r = c.post("/api/v1/restore", files={"image": ("x.png", _png(1), "image/png")}, data={"sigma": "25", "tile": "64"})
        assert r.status_code == 422 and "'sigma'" in r.json()["error"] and "'tile'" in r.json()["error"]
        r = c.post("/api/v1/plan?scal=2", files={"image": ("x.png", _png(1), "image/png")})
        assert r.status_code == 422 and "'scal'" in r.json()["error"]


def test_docs_page_loads_nothing_from_other_hosts(failing_server):
    r = httpx.get(failing_server + "/docs", timeout=10)
    from restora.web.docs import swagger_assets

    if swagger_assets() is None:
        assert r.status_code == 404 and "swagger-ui-bundle" in r.json()["error"]
        return
    assert r.status_code == 200
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *["']([^"']+)["']""", r.text)
    urls = [a or b for a, b in refs]
    assert urls and all(u.startswith("/") for u in urls), urls
    for u in urls:
        assert httpx.get(failing_server + u, timeout=10).status_code == 200, u


def test_missing_package_is_a_4xx_that_says_what_to_install(monkeypatch):
    from fastapi.testclient import TestClient

    from restora.errors import MissingResourceError

    class NeedsPackage(FakePipeline):
        def run(self, image, plan):
            raise MissingResourceError("method 'bm3d' needs the bm3d package: pip install 'restora[bench]'")

    c = TestClient(create_app(NeedsPackage(), ui=False), raise_server_exceptions=False)
    r = c.post("/api/v1/restore", files={"image": ("x.png", _png(2), "image/png")})
    assert 400 <= r.status_code < 500 and "pip install 'restora[bench]'" in r.json()["error"]


def test_create_app_leaves_no_temp_folder_behind(tmp_path, monkeypatch):
    import gc
    import tempfile

    # a private temp root: other test workers build apps (and their folders) at the same time
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app = create_app(FakePipeline())
    del app
    gc.collect()
    assert not list(tmp_path.glob("restora-web-*"))


def test_memory_bound_refuses_a_huge_upscale_before_queueing():
    from fastapi.testclient import TestClient

    from restora.web.service import estimate_job_bytes

    pipe = FakePipeline()
    # 600 x 600 x2 needs 4*3*(2*0.36M + 2*1.44M) = 43 MB: refused under a 40 MB budget, allowed at 64 MB
    assert estimate_job_bytes(600, 600, 3, 2) == 4 * 3 * (2 * 360_000 + 2 * 1_440_000)
    arr = np.zeros((600, 600, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    c = TestClient(create_app(pipe, ui=False, max_job_bytes=40 * 2**20), raise_server_exceptions=False)
    r = c.post("/api/v1/restore", files={"image": ("big.png", buf.getvalue(), "image/png")},
               data={"steps": "upscale:nearest", "scale": "2"})
    assert r.status_code == 413 and "GiB of memory" in r.json()["error"]
    assert pipe.plan_calls == []  # refused from the header, before any decoding or planning
    assert c.get("/api/v1/health").json()["limits"]["max_job_bytes"] == 40 * 2**20
    ok = TestClient(create_app(pipe, ui=False, max_job_bytes=64 * 2**20), raise_server_exceptions=False)
    r = ok.post("/api/v1/restore", files={"image": ("big.png", buf.getvalue(), "image/png")},
                data={"steps": "upscale:nearest", "scale": "2"})
    assert r.status_code == 200 and r.headers["X-Restora-Output-Size"] == "1200x1200"
