"""The REST API under ``/api/v1``: restore, plan, models, health.

Every error is JSON ``{"error": "<one line>"}`` with a 4xx/5xx status; nothing takes a path
from the request. See ``docs/web.md`` for the fields and curl examples.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from restora import __version__
from restora.errors import (
    ImageReadError,
    ImageTooLargeError,
    InvalidParameterError,
    MissingResourceError,
    RestoraError,
)
from restora.web.jobs import QueueFullError
from restora.web.service import RestoreService, parse_options
from restora.web.uploads import peek_upload, safe_name

__all__ = ["ApiError", "BodyLimitMiddleware", "CatchAllMiddleware", "build_router", "install_error_handlers", "models_catalogue", "run_job"]

log = logging.getLogger("restora.web")

_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small text fields


class ApiError(Exception):
    """An error with its HTTP status, rendered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": message}`` as JSON with ``status``."""
    return JSONResponse({"error": _one_line(message)}, status_code=status, headers=headers)


def status_of(exc: BaseException) -> int:
    """The HTTP status for a restora error."""
    if isinstance(exc, QueueFullError):
        return 503
    if isinstance(exc, ImageTooLargeError):
        return 413
    if isinstance(exc, ImageReadError):
        return 415
    if isinstance(exc, InvalidParameterError):
        return 422
    if isinstance(exc, MissingResourceError):
        return 422  # a method whose package or weights are not installed: the client chose it
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """JSON one-line errors for restora errors, HTTP errors, validation errors and the rest."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RestoraError)
    async def _restora_error(_request: Request, exc: RestoraError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        if status >= 500 and not isinstance(exc, QueueFullError):
            log.error("restora error: %s", exc)
        return error_response(status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:3]:
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
            field = ".".join(loc) or "request"
            msg = "required field is missing" if err.get("type") == "missing" else err.get("msg", "invalid")
            parts.append(f"{field}: {msg}")
        return error_response(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")


class CatchAllMiddleware:
    """The last line of defence: no exception escapes a request.

    Starlette's outermost error middleware answers 500 through the ``Exception`` handler and
    then re-raises, and Uvicorn closes the connection on an exception that escapes the app:
    the next request on the same keep-alive connection was reset. This ASGI middleware sits
    inside it: an exception before the response started becomes the one-line JSON 500; one
    after the response started (nothing more can be sent) is logged and swallowed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, f"internal error ({type(exc).__name__}); see the server log")(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies under ``prefix`` that are over ``max_upload_bytes`` (plus a
    little for the form's other fields) with 413, before and while they are read: a
    Content-Length over the limit is refused without reading a byte."""

    def __init__(self, app: Any, max_upload_bytes: int, prefix: str = "/api/") -> None:
        self.app = app
        self.max_upload_bytes = int(max_upload_bytes)
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes + _FORM_OVERHEAD
        message = f"upload is larger than this server's limit of {self.max_upload_bytes:,} bytes"
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await error_response(413, message, {"Connection": "close"})(scope, receive, send)
                    return
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, message)
            return msg

        await self.app(scope, limited_receive, send)


def models_catalogue() -> dict[str, Any]:
    """Tasks with their methods (from :mod:`restora.restorers`) and the zoo's models."""
    from restora.restorers import list_restorers
    from restora.faces.restorer import FACE_SYSTEMS
    from restora.web.service import FACE_TASKS, STEP_TASKS

    methods: dict[str, list[dict[str, Any]]] = {}
    for step, task in STEP_TASKS.items():
        methods[step] = [
            {"name": i.name, "kind": i.kind, "blind": i.blind, "description": i.description}
            for i in list_restorers(task)
            if i.kind != "peer"
        ]
    models = []
    try:
        from restora import zoo

        for card in zoo.list_models():
            models.append(
                {
                    "name": card.name,
                    "task": card.task,
                    "arch": card.arch,
                    "scale": card.scale,
                    "channels": card.channels,
                    "description": card.description,
                }
            )
    except RestoraError as exc:  # a broken cache should not take the listing down
        log.warning("model zoo listing failed: %s", exc)
    installed = {m["name"] for m in models}
    systems = {t: {"model": FACE_SYSTEMS[t][0], "installed": FACE_SYSTEMS[t][0] in installed} for t in FACE_TASKS}
    return {
        "tasks": ["auto", *STEP_TASKS, *FACE_TASKS],
        "face_systems": systems,
        "methods": methods,
        "models": models,
        "scales": [1, 2, 3, 4],
        "formats": ["png", "jpeg", "webp"],
    }


async def _read_upload(image: UploadFile | None, max_bytes: int) -> tuple[bytes, str]:
    if image is None or not hasattr(image, "read"):
        raise ApiError(422, "image: required file field is missing (multipart form field 'image')")
    name = safe_name(getattr(image, "filename", None), keep_suffix=True)
    data = await image.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"upload {name!r} is larger than this server's limit of {max_bytes:,} bytes")
    return data, name


async def run_job(request: Request, service: RestoreService, fn: Any, *args: Any, poll_s: float = 0.5) -> Any:
    """Run ``fn(*args)`` through the service's queue, watching the client: if it goes away
    while the job waits, the job is dropped and its place given back (a job already running
    finishes and its result is discarded)."""
    future = service.queue.submit(fn, *args)
    waiter = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiter}, timeout=poll_s)
        if done:
            return waiter.result()
        if await request.is_disconnected():
            future.cancel()  # no effect once running
            waiter.cancel()
            raise ApiError(499, "client closed the request")


RESTORE_FIELDS = ("image", "task", "steps", "scale", "model", "format", "quality")
PLAN_FIELDS = ("image", "task", "steps", "scale", "model", "format")


async def reject_unknown_fields(request: Request, allowed: tuple[str, ...]) -> None:
    """422 naming any form field or query parameter that the endpoint does not take (a
    misspelt or unsupported option, e.g. ``sigma``, must not be silently ignored)."""
    form = await request.form()  # already parsed (and cached) for the declared fields
    unknown = sorted({*form.keys(), *request.query_params.keys()} - set(allowed))
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ApiError(422, f"unknown field {names}; this endpoint takes {', '.join(allowed)}")


def build_router(service: RestoreService, *, max_upload_bytes: int) -> APIRouter:
    """The ``/api/v1`` routes bound to ``service``."""
    router = APIRouter(prefix="/api/v1")

    async def _checked(image: UploadFile | None, scale: int | None = None) -> tuple[bytes, str]:
        data, name = await _read_upload(image, max_upload_bytes)
        # Cheap checks (type, header size, memory) before the request takes a place in the queue.
        _fmt, width, height = peek_upload(data, max_pixels=service.max_pixels, name=name)
        if width and height:
            service.check_size(width, height, 3, scale, name)  # alpha is checked after decoding
        return data, name

    @router.post(
        "/restore",
        response_class=Response,
        responses={
            200: {
                "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                "description": "The restored image; X-Restora-Plan/-Timings headers",
            }
        },
        summary="Restore an uploaded image",
    )
    async def restore(
        request: Request,
        image: UploadFile | None = File(None, description="The image (PNG, JPEG, TIFF, WebP or BMP)"),
        task: str | None = Form(None, description="auto | denoise | jpeg | deblur | dehaze | exposure | upscale | face | portrait"),
        steps: str | None = Form(None, description="Comma list, e.g. 'denoise:nlm,upscale:bicubic'"),
        scale: str | None = Form(None, description="1, 2, 3 or 4"),
        model: str | None = Form(None, description="A method/model name from /api/v1/models"),
        format: str | None = Form(None, description="png | jpeg | webp (default png)"),
        quality: str | None = Form(None, description="JPEG/WebP quality 1-100 (default 95)"),
    ) -> Response:
        await reject_unknown_fields(request, RESTORE_FIELDS)
        options = parse_options(task, steps, scale, model, format, quality)
        data, name = await _checked(image, options.scale)
        done = await run_job(request, service, service.restore_upload, data, name, options)
        return Response(content=done.data, media_type=done.content_type, headers=done.headers())

    @router.post("/plan", summary="Plan the restoration of an uploaded image without running it")
    async def plan(
        request: Request,
        image: UploadFile | None = File(None),
        task: str | None = Form(None),
        steps: str | None = Form(None),
        scale: str | None = Form(None),
        model: str | None = Form(None),
        format: str | None = Form(None),
    ) -> JSONResponse:
        await reject_unknown_fields(request, PLAN_FIELDS)
        options = parse_options(task, steps, scale, model, format, None)
        data, name = await _checked(image)
        result = await run_job(request, service, service.plan_upload, data, name, options)
        return JSONResponse(result)

    @router.get("/plan", include_in_schema=False)
    async def plan_get() -> JSONResponse:
        return error_response(405, "POST an image to /api/v1/plan (multipart field 'image') to get its plan")

    @router.get("/models", summary="Tasks, methods and shipped models")
    async def models() -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(models_catalogue))

    @router.get("/health", summary="Liveness, version and queue state")
    async def health() -> JSONResponse:
        pipe = service.pipeline
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "device": str(getattr(pipe, "device_type", None) or getattr(pipe, "device", "unknown")),
                "queue": service.queue.stats(),
                "limits": {
                    "max_upload_bytes": max_upload_bytes,
                    "max_pixels": service.max_pixels,
                    "max_output_pixels": service.max_output_pixels,
                    "max_job_bytes": service.max_job_bytes,
                },
            }
        )

    return router
