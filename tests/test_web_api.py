"""REST API of ``restora serve`` (restora.web) with FastAPI's TestClient and a fake pipeline."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from restora.web import create_app  # noqa: E402
from restora.web.jobs import QueueFullError, WorkQueue  # noqa: E402
from restora.web.service import parse_options  # noqa: E402
from restora.web.uploads import safe_name, sniff_format  # noqa: E402


# --------------------------------------------------------------------------- a fake pipeline
@dataclass
class FakeStep:
    name: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass
class FakePlan:
    steps: list[FakeStep]
    analysis: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return "\n".join(f"{i}. {s.name}: {s.method}" for i, s in enumerate(self.steps, 1))


@dataclass
class FakeResult:
    image: np.ndarray
    plan: FakePlan
    timings: dict[str, float]


class FakePipeline:
    """Upscales by pixel repetition, records calls and how many runs overlap."""

    device_type = "cpu"

    def __init__(
        self, delay: float = 0.0, gate: threading.Event | None = None, fail: bool = False, meet: int = 0
    ) -> None:
        self.delay, self.gate, self.fail, self.meet = delay, gate, fail, meet
        self.lock = threading.Lock()
        self.active = self.max_active = self.runs = 0
        self.started = threading.Event()
        self.plan_calls: list[dict[str, Any]] = []
        self.paths_existed: list[bool] = []

    def plan(self, image, *, path=None, scale=None, target_size=None, steps=None):
        self.plan_calls.append({"path": path, "scale": scale, "steps": steps, "shape": image.shape})
        self.paths_existed.append(path is not None and Path(path).is_file())
        names = list(steps) if steps else ["denoise"]
        if scale and not any(s.startswith("upscale") for s in names):
            names.append("upscale")
        out = []
        for item in names:
            name, _, method = item.partition(":")
            params = {"scale": scale} if name == "upscale" else {"sigma": 5.0, "_private": object()}
            out.append(FakeStep(name, method or "fake", params, "test"))
        return FakePlan(out, {"width": image.shape[1]})

    def run(self, image, plan):
        with self.lock:
            self.active += 1
            self.runs += 1
            self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            if self.fail:
                raise RuntimeError("boom\nsecond line")
            if self.gate is not None:
                self.gate.wait(10)
            end = time.monotonic() + 5
            while self.meet and self.active < self.meet and time.monotonic() < end:
                time.sleep(0.005)  # hold until `meet` runs overlap (bounded), so overlap is certain
            if self.delay:
                time.sleep(self.delay)
            out = image
            for s in plan.steps:
                if s.name == "upscale":
                    k = int(s.params["scale"])
                    out = np.repeat(np.repeat(out, k, axis=0), k, axis=1)
            return FakeResult(out.astype(np.float32), plan, {s.name: 0.001 for s in plan.steps} | {"total": 0.002})
        finally:
            with self.lock:
                self.active -= 1


def png_bytes(h: int = 20, w: int = 30, mode: str = "RGB", bits: int = 8, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    if bits == 16:
        arr = rng.integers(0, 65536, size=(h, w), dtype=np.uint16)
        im = Image.fromarray(arr)
    else:
        channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
        arr = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
        im = Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def client(pipe: Any = None, **kwargs: Any) -> TestClient:
    kwargs.setdefault("ui", False)
    return TestClient(create_app(pipe or FakePipeline(), **kwargs), raise_server_exceptions=False)


def assert_json_error(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    msg = body["error"]
    assert isinstance(msg, str) and msg and "\n" not in msg and "Traceback" not in msg
    return msg


# --------------------------------------------------------------------------- round trips
def test_restore_round_trip_png():
    pipe = FakePipeline()
    c = client(pipe)
    data = png_bytes(20, 30)
    r = c.post(
        "/api/v1/restore", files={"image": ("photo.png", data, "image/png")}, data={"task": "upscale", "scale": "2"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(r.content))
    assert out.format == "PNG" and out.size == (60, 40) and out.mode == "RGB"
    src = np.asarray(Image.open(io.BytesIO(data)))
    assert np.array_equal(np.asarray(out)[::2, ::2], src)  # the fake's pixel repetition, losslessly
    plan = json.loads(r.headers["x-restora-plan"])
    assert plan == [{"name": "upscale", "method": "fake", "params": {"scale": 2}}]
    timings = json.loads(r.headers["x-restora-timings"])
    assert {"decode", "plan", "run", "encode", "run.upscale"} <= set(timings)
    assert r.headers["x-restora-input-size"] == "30x20" and r.headers["x-restora-output-size"] == "60x40"
    assert r.headers["content-disposition"] == 'attachment; filename="photo_restored.png"'
    assert pipe.plan_calls[-1]["steps"] == ["upscale"] and pipe.plan_calls[-1]["scale"] == 2


def test_restore_auto_passes_no_steps_and_hides_private_params():
    pipe = FakePipeline()
    r = client(pipe).post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 200
    assert pipe.plan_calls[-1]["steps"] is None and pipe.plan_calls[-1]["scale"] is None
    assert json.loads(r.headers["x-restora-plan"]) == [{"name": "denoise", "method": "fake", "params": {"sigma": 5.0}}]


@pytest.mark.parametrize(
    "fmt,ctype,pil", [("jpeg", "image/jpeg", "JPEG"), ("jpg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")]
)
def test_restore_output_formats(fmt, ctype, pil):
    r = client().post(
        "/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")}, data={"format": fmt, "quality": "80"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ctype
    assert Image.open(io.BytesIO(r.content)).format == pil


def test_quality_changes_jpeg_size():
    c = client()
    img = png_bytes(64, 64)
    sizes = [
        len(
            c.post(
                "/api/v1/restore", files={"image": ("a.png", img, "image/png")}, data={"format": "jpeg", "quality": q}
            ).content
        )
        for q in ("10", "95")
    ]
    assert sizes[0] < sizes[1]


def test_16bit_and_alpha_survive():
    c = client()
    r = c.post("/api/v1/restore", files={"image": ("g16.png", png_bytes(bits=16), "image/png")})
    assert r.status_code == 200
    out = np.asarray(Image.open(io.BytesIO(r.content)))
    src = np.asarray(Image.open(io.BytesIO(png_bytes(bits=16))))
    assert out.dtype.itemsize == 2 or Image.open(io.BytesIO(r.content)).mode.startswith("I")
    assert np.array_equal(out.astype(np.int64), src.astype(np.int64))
    r = c.post("/api/v1/restore", files={"image": ("rgba.png", png_bytes(mode="RGBA"), "image/png")})
    assert Image.open(io.BytesIO(r.content)).mode == "RGBA"


def test_steps_and_model_reach_the_pipeline():
    pipe = FakePipeline()
    c = client(pipe)
    img = png_bytes()
    r = c.post(
        "/api/v1/restore", files={"image": ("a.png", img, "image/png")}, data={"steps": "upscale:bicubic", "scale": "3"}
    )
    assert r.status_code == 200, r.text
    assert pipe.plan_calls[-1]["steps"] == ["upscale:bicubic"] and pipe.plan_calls[-1]["scale"] == 3
    assert Image.open(io.BytesIO(r.content)).size == (90, 60)
    r = c.post("/api/v1/restore", files={"image": ("a.png", img, "image/png")}, data={"model": "bicubic"})
    assert r.status_code == 200, r.text
    assert pipe.plan_calls[-1]["steps"] == ["upscale:bicubic"] and pipe.plan_calls[-1]["scale"] == 2


def test_plan_endpoint():
    pipe = FakePipeline()
    r = client(pipe).post(
        "/api/v1/plan", files={"image": ("a.png", png_bytes(20, 30), "image/png")}, data={"scale": "4"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["name"] for s in body["plan"]["steps"]] == ["denoise", "upscale"]
    assert body["input"] == {"width": 30, "height": 20, "channels": 3, "format": "PNG", "bit_depth": 8}
    assert body["output"]["width"] == 120 and body["output"]["height"] == 80
    assert "upscale" in body["description"]
    assert pipe.runs == 0  # planned, not run
    assert_json_error(client().get("/api/v1/plan"), 405)


def test_models_and_health():
    c = client(max_concurrency=2, queue_size=3)
    m = c.get("/api/v1/models").json()
    assert m["tasks"] == ["auto", "jpeg", "denoise", "deblur", "dehaze", "exposure", "upscale", "face", "portrait"]
    assert m["face_systems"]["face"]["model"] == "face-fusion"
    assert "bicubic" in [x["name"] for x in m["methods"]["upscale"]]
    assert isinstance(m["models"], list)
    h = c.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["device"] == "cpu"
    assert h["queue"] == {"running": 0, "waiting": 0, "max_concurrency": 2, "queue_size": 3}


# --------------------------------------------------------------------------- errors
def test_missing_file_is_422():
    msg = assert_json_error(client().post("/api/v1/restore", data={"scale": "2"}), 422)
    assert "image" in msg


def test_text_file_is_415():
    pipe = FakePipeline()
    msg = assert_json_error(
        client(pipe).post("/api/v1/restore", files={"image": ("notes.txt", b"hello, not an image", "text/plain")}), 415
    )
    assert "notes.txt" in msg
    assert pipe.runs == 0 and not pipe.plan_calls


def test_damaged_image_is_415():
    bad = png_bytes()[:40]  # PNG signature, truncated body
    assert_json_error(client().post("/api/v1/restore", files={"image": ("a.png", bad, "image/png")}), 415)
    assert_json_error(client().post("/api/v1/restore", files={"image": ("a.png", b"", "image/png")}), 415)


def test_too_large_upload_is_413():
    pipe = FakePipeline()
    c = client(pipe, max_upload_bytes=1000)
    big = png_bytes(200, 200)  # ~120 kB: over even the form allowance, refused from Content-Length
    assert len(big) > 70_000
    assert "1,000 bytes" in assert_json_error(
        c.post("/api/v1/restore", files={"image": ("a.png", big, "image/png")}), 413
    )
    # just over the upload limit, within the multipart allowance: refused by the endpoint's own count
    c = client(pipe, max_upload_bytes=len(png_bytes(20, 30)) - 1)
    assert_json_error(c.post("/api/v1/restore", files={"image": ("a.png", png_bytes(20, 30), "image/png")}), 413)
    assert pipe.runs == 0


def test_streamed_body_over_limit_is_413():
    c = client(max_upload_bytes=1000)

    def chunks():
        for _ in range(100):
            yield b"x" * 4096

    r = c.post("/api/v1/restore", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zz"})
    assert_json_error(r, 413)


def test_pixel_limit_is_413():
    pipe = FakePipeline()
    c = client(pipe, max_pixels=500)
    msg = assert_json_error(c.post("/api/v1/restore", files={"image": ("a.png", png_bytes(20, 30), "image/png")}), 413)
    assert "600" in msg and "500" in msg
    assert pipe.runs == 0
    # the output limit: 20x20 is allowed in, but x4 would be 6400 > 4 * 400
    c = client(pipe, max_pixels=400)
    assert_json_error(
        c.post("/api/v1/restore", files={"image": ("a.png", png_bytes(20, 20), "image/png")}, data={"scale": "4"}), 413
    )
    assert pipe.runs == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("scale", "5"),
        ("scale", "0"),
        ("scale", "two"),
        ("scale", "1.5"),
        ("format", "gif"),
        ("quality", "0"),
        ("quality", "101"),
        ("task", "colorize"),
        ("steps", "sharpen"),
        ("steps", "denoise,denoise"),
        ("model", "../../weights/evil.safetensors"),
        ("model", "/etc/passwd"),
        ("steps", "denoise:/tmp/x.pth"),
        ("steps", "upscale:nlm"),
        ("steps", " , ,"),
    ],
)
def test_bad_parameters_are_422(field, value):
    pipe = FakePipeline()
    r = client(pipe).post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")}, data={field: value})
    msg = assert_json_error(r, 422)
    assert field in msg or value in msg or "unknown" in msg
    assert not pipe.plan_calls


def test_upscale_with_scale_one_is_422():
    assert_json_error(
        client().post(
            "/api/v1/restore",
            files={"image": ("a.png", png_bytes(), "image/png")},
            data={"task": "upscale", "scale": "1"},
        ),
        422,
    )


def test_pipeline_failure_is_500_without_traceback():
    msg = assert_json_error(
        client(FakePipeline(fail=True)).post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")}),
        500,
    )
    assert "boom" not in msg  # internal details stay in the server log


def test_unknown_route_is_json_404():
    assert_json_error(client().get("/api/v1/nope"), 404)


# --------------------------------------------------------------------------- no path access
def test_filename_has_no_path_effect(tmp_path):
    pipe = FakePipeline()
    c = client(pipe)
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes(50, 70, seed=3))
    upload = png_bytes(20, 30)
    for name in ("../../etc/passwd", str(other), "..\\..\\windows\\win.ini", "/dev/zero", "a\r\nX-Evil: 1.png"):
        r = c.post("/api/v1/restore", files={"image": (name, upload, "image/png")})
        assert r.status_code == 200, (name, r.text)
        assert Image.open(io.BytesIO(r.content)).size == (30, 20)  # the uploaded bytes, not a file
        disp = r.headers["content-disposition"]
        assert (
            "/" not in disp and "\\" not in disp and ".." not in disp and "x-evil" not in {k.lower() for k in r.headers}
        )
    assert other.read_bytes() == png_bytes(50, 70, seed=3)
    # the pipeline saw a private temp file of the server's naming, gone after the request
    paths = [Path(call["path"]) for call in pipe.plan_calls]
    assert all(p.name == "upload.png" and p.parent.name.startswith("restora-job-") for p in paths)
    assert all(pipe.paths_existed) and not any(p.exists() for p in paths)


def test_safe_name():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\x\\My Photo (1).JPG") == "My_Photo_1"
    assert safe_name("..") == "image" and safe_name("") == "image" and safe_name(None) == "image"
    assert safe_name(".hidden.png") == "hidden"
    assert safe_name("a" * 300 + ".png") == "a" * 64
    assert safe_name("x/y.tar.gz", keep_suffix=True) == "y.tar.gz"


def test_sniff_format():
    assert sniff_format(png_bytes()) == "PNG"
    assert sniff_format(b"\xff\xd8\xff\xe0rest") == "JPEG"
    assert sniff_format(b"RIFF\0\0\0\0WEBPVP8 ") == "WEBP"
    assert sniff_format(b"<svg xmlns=...>") is None and sniff_format(b"") is None


def test_parse_options_defaults():
    o = parse_options()
    assert o.steps is None and o.scale is None and o.format == "png" and o.quality == 95
    o = parse_options(task="denoise", model="nlm", scale="2")
    assert o.steps == ("denoise:nlm", "upscale") and o.scale == 2
    assert parse_options(steps="jpeg:nlm, upscale").steps == ("jpeg:nlm", "upscale")
    # explicit steps replace the planner's choice, so an asked scale adds the upscale step
    assert parse_options(task="denoise", scale="3").steps == ("denoise", "upscale")
    assert parse_options(model="nlm", scale="2").steps == ("denoise:nlm", "upscale")
    assert parse_options(steps="denoise", scale="1").steps == ("denoise",)


# --------------------------------------------------------------------------- queueing
async def _post_many(app: Any, n: int) -> list[Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as ac:
        jobs = [
            ac.post("/api/v1/restore", files={"image": ("a.png", png_bytes(seed=i), "image/png")}) for i in range(n)
        ]
        return await asyncio.gather(*jobs)


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrency_limit_is_honoured(limit):
    pipe = FakePipeline(delay=0.05, meet=limit)
    app = create_app(pipe, ui=False, max_concurrency=limit, queue_size=10)
    responses = asyncio.run(_post_many(app, 6))
    assert [r.status_code for r in responses] == [200] * 6
    assert pipe.runs == 6
    assert pipe.max_active == limit  # never more than the limit, and the limit was used


def test_queue_full_is_503():
    gate = threading.Event()
    pipe = FakePipeline(gate=gate)
    app = create_app(pipe, ui=False, max_concurrency=1, queue_size=1)
    queue = app.state.service.queue

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as ac:

            def post():
                return ac.post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")})

            first = asyncio.create_task(post())
            for _ in range(200):  # bounded wait until the first one runs
                if pipe.started.is_set():
                    break
                await asyncio.sleep(0.01)
            second = asyncio.create_task(post())
            for _ in range(200):
                if queue.waiting == 1:
                    break
                await asyncio.sleep(0.01)
            third = await post()  # one running, one waiting: no room
            health = await ac.get("/api/v1/health")
            assert health.json()["queue"]["running"] == 1 and health.json()["queue"]["waiting"] == 1
            gate.set()
            return [(await first).status_code, (await second).status_code, third.status_code, third]

    try:
        s1, s2, s3, third = asyncio.run(scenario())
    finally:
        gate.set()
    assert (s1, s2, s3) == (200, 200, 503)
    assert "busy" in assert_json_error(third, 503)
    assert third.headers["retry-after"] == "5"
    assert queue.stats()["running"] == 0 and queue.stats()["waiting"] == 0


def test_client_gone_while_waiting_gives_its_place_back():
    gate = threading.Event()
    pipe = FakePipeline(gate=gate)
    app = create_app(pipe, ui=False, max_concurrency=1, queue_size=1)
    queue = app.state.service.queue
    req = httpx.Request("POST", "http://127.0.0.1/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")})
    body = req.read()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/restore",
        "raw_path": b"/api/v1/restore",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in req.headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def scenario() -> tuple[int, list[dict]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as ac:
            first = asyncio.create_task(
                ac.post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")})
            )
            for _ in range(200):
                if pipe.started.is_set():
                    break
                await asyncio.sleep(0.01)
            gone = asyncio.Event()
            sent = False
            messages: list[dict] = []

            async def receive() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await gone.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                messages.append(message)

            second = asyncio.create_task(app(scope, receive, send))
            for _ in range(200):
                if queue.waiting == 1:
                    break
                await asyncio.sleep(0.01)
            assert queue.waiting == 1
            gone.set()  # the second client hangs up while waiting
            for _ in range(300):
                if queue.waiting == 0:
                    break
                await asyncio.sleep(0.01)
            waiting_after = queue.waiting
            gate.set()
            status = (await first).status_code
            await second
            return waiting_after, status, messages

    try:
        waiting_after, status, messages = asyncio.run(scenario())
    finally:
        gate.set()
    assert waiting_after == 0 and status == 200
    assert pipe.runs == 1  # the abandoned request never ran
    assert messages[0]["status"] == 499


def test_work_queue_counts_and_refuses():
    gate = threading.Event()
    q = WorkQueue(max_concurrency=1, queue_size=1)
    try:
        f1 = q.submit(gate.wait, 5)
        f2 = q.submit(lambda: 42)
        with pytest.raises(QueueFullError):
            q.submit(lambda: 0)
        gate.set()
        assert f1.result(5) is True and f2.result(5) == 42
        for _ in range(100):
            if q.stats()["waiting"] == 0 and q.running == 0:
                break
            time.sleep(0.01)
        assert q.stats()["running"] == 0 and q.waiting == 0
        assert q.submit(lambda: 7).result(5) == 7  # room again
    finally:
        gate.set()
        q.shutdown()


def test_one_pipeline_for_the_app_lifetime():
    pipe = FakePipeline()
    app = create_app(pipe, ui=False)
    assert app.state.service.pipeline is pipe
    c = TestClient(app)
    for _ in range(3):
        assert c.post("/api/v1/restore", files={"image": ("a.png", png_bytes(), "image/png")}).status_code == 200
    assert app.state.service.pipeline is pipe and pipe.runs == 3


def test_create_app_checks_limits():
    from restora.errors import InvalidParameterError

    for kwargs in ({"max_upload_bytes": 0}, {"max_pixels": -1}, {"max_concurrency": 0}, {"queue_size": -1}):
        with pytest.raises(InvalidParameterError):
            create_app(FakePipeline(), ui=False, **kwargs)


# --------------------------------------------------------------------------- the real pipeline and the page
def test_real_pipeline_round_trip():
    pytest.importorskip("restora.pipeline")
    from restora.pipeline import RestorePipeline

    c = client(RestorePipeline(device="cpu"))
    r = c.post(
        "/api/v1/restore",
        files={"image": ("a.png", png_bytes(16, 24), "image/png")},
        data={"steps": "upscale:bicubic", "scale": "2"},
    )
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (48, 32)
    assert json.loads(r.headers["x-restora-plan"])[0]["method"] == "bicubic"


def test_gradio_page_is_mounted():
    pytest.importorskip("gradio")
    c = client(ui=True)
    r = c.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "gradio" in r.text.lower()
    assert c.get("/api/v1/health").json()["status"] == "ok"  # the API still wins over the mount
    assert c.get("/openapi.json").status_code == 200


def test_serve_cli_options_and_errors(capsys):
    from restora.cli.main import main

    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--device", "--max-upload-mb", "--max-pixels", "--queue-size"):
        assert option in out
    assert main(["serve", "--port", "70000"]) == 2  # refused before anything starts
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "--max-upload-mb", "0"]) == 2
