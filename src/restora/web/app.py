"""The ``restora serve`` application: FastAPI with the REST API and the Gradio UI at ``/``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from restora.errors import InvalidParameterError
from restora.validation import check_range

log = logging.getLogger("restora.web")

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_QUEUE_SIZE",
    "create_app",
]

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_QUEUE_SIZE = 8


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be a positive whole number, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a positive whole number, got {value!r}") from None
    if number < 1 or number != value:
        raise InvalidParameterError(f"{name} must be a positive whole number, got {value!r}")
    return number


def create_app(
    pipeline: Any = None,
    *,
    device: str = "auto",
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_output_pixels: int | None = None,
    max_job_bytes: int | None = None,
    max_concurrency: int = 1,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    ui: bool = True,
) -> Any:
    """Build the FastAPI app: the REST API under ``/api/v1`` and (``ui``) the Gradio page at ``/``.

    ``pipeline`` is the one :class:`~restora.pipeline.RestorePipeline` (or an object with its
    ``plan``/``run`` methods, e.g. a test double) used for every request; None creates
    ``RestorePipeline(device=device)``. Limits: uploads over ``max_upload_bytes`` or over
    ``max_pixels`` pixels get 413, as do results over ``max_output_pixels`` (default
    ``4 * max_pixels``) or whose working memory would be over ``max_job_bytes`` (default
    2 GiB, see :func:`restora.web.service.estimate_job_bytes`). At most ``max_concurrency`` restorations run at once and at most
    ``queue_size`` wait; further requests get 503.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from fastapi import FastAPI

    from restora import __version__
    from restora.web.api import BodyLimitMiddleware, CatchAllMiddleware, build_router, install_error_handlers
    from restora.web.docs import install_offline_docs
    from restora.web.jobs import WorkQueue
    from restora.web.service import RestoreService

    max_upload_bytes = _positive("max_upload_bytes", max_upload_bytes)
    max_pixels = _positive("max_pixels", max_pixels)
    max_output_pixels = _positive("max_output_pixels", max_output_pixels or 4 * max_pixels)
    from restora.web.service import DEFAULT_MAX_JOB_BYTES

    max_job_bytes = _positive("max_job_bytes", max_job_bytes or DEFAULT_MAX_JOB_BYTES)
    check_range("max_concurrency", max_concurrency, 1, 64)
    check_range("queue_size", queue_size, 0, 10_000)
    if pipeline is None:
        from restora.pipeline import RestorePipeline

        pipeline = RestorePipeline(device=device)
    queue = WorkQueue(int(max_concurrency), int(queue_size))
    service = RestoreService(
        pipeline, max_pixels=max_pixels, max_output_pixels=max_output_pixels, queue=queue, max_job_bytes=max_job_bytes
    )

    from restora.restorers import list_restorers

    list_restorers()  # import the providers now, not during the first request

    store = None
    if ui:
        from restora.web.ui import ResultStore

        store = ResultStore()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        queue.shutdown(wait=False)
        if store is not None:
            store.close()

    app = FastAPI(
        title="restora",
        version=__version__,
        description="Image restoration: upload a damaged image, get the restored one. See docs/web.md.",
        lifespan=lifespan,
        docs_url=None,  # the default pages load Swagger UI / ReDoc from a CDN: see offline_docs
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=max_upload_bytes)
    app.add_middleware(CatchAllMiddleware)  # added last: outermost of ours, inside Starlette's
    app.include_router(build_router(service, max_upload_bytes=max_upload_bytes))
    install_offline_docs(app)
    if ui:
        import gradio as gr

        from restora.web.ui import build_ui, theme

        blocks = build_ui(service, max_upload_bytes=max_upload_bytes, store=store)
        app = gr.mount_gradio_app(
            app,
            blocks,
            path="",
            max_file_size=max_upload_bytes,
            ssr_mode=False,
            mcp_server=False,
            enable_monitoring=False,
            footer_links=[],
            theme=theme(),
            favicon_path=None,
            show_error=False,  # only our one-line gr.Error messages reach the page
        )
        lock_gradio_paths(blocks)
    return app


def lock_gradio_paths(blocks: Any) -> None:
    """Make Gradio check every file reference a request names, as a launched app does.

    Gradio (6.x) checks that a ``FileData`` path sent to an event handler lies in its upload
    folder only when the Blocks counts as launched; ``gr.mount_gradio_app`` never sets that,
    so a crafted ``/gradio_api/queue/join`` could name any server file (``/etc/passwd``,
    ``/proc/self/environ``, ``/dev/zero``) and have it copied into the cache and served.
    This sets the flag and then verifies, with Gradio's own check, that a path outside the
    upload folder is refused; if a future Gradio changes the mechanism, the page refuses to
    start rather than serve files (the REST API does not depend on it).
    """
    from gradio import processing_utils
    from gradio.context import LocalContext

    blocks.has_launched = True
    token = LocalContext.blocks.set(blocks)
    try:
        try:
            processing_utils._check_allowed("/etc/passwd", True)
        except Exception as exc:  # InvalidPathError: the check is active
            if type(exc).__name__ != "InvalidPathError":
                raise
            return
    finally:
        LocalContext.blocks.reset(token)
    raise RuntimeError(
        "this Gradio version does not refuse file paths that were not uploaded; "
        "the page cannot be served safely (use --no-ui for the REST API alone)"
    )
