"""``restora serve``: the web page and REST API (needs the ``web`` extra)."""

from __future__ import annotations

import ipaddress

import typer
from rich.console import Console

from restora.errors import InvalidParameterError, MissingResourceError

console = Console(stderr=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", help="Largest upload in MiB (413 above)."),
    max_pixels: float = typer.Option(40e6, "--max-pixels", help="Largest image in pixels (413 above), e.g. 40e6."),
    max_job_memory_mb: float = typer.Option(
        2048.0, "--max-job-memory-mb", help="Working memory one restoration may need, in MiB (413 above)."
    ),
    max_concurrency: int = typer.Option(1, "--max-concurrency", help="Restorations run at once."),
    queue_size: int = typer.Option(8, "--queue-size", help="Requests that may wait; more get 503."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Serve only the REST API (no Gradio page)."),
    log_level: str = typer.Option("info", "--log-level", help="Uvicorn log level."),
) -> None:
    """Serve the restore page at / and the REST API at /api/v1 (docs at /docs)."""
    try:
        import uvicorn

        from restora.web import create_app
    except ModuleNotFoundError as exc:
        raise MissingResourceError(
            f"restora serve needs the web extra ({exc.name} is not installed): pip install 'restora[web]'"
        ) from None
    if not 1 <= port <= 65535:
        raise InvalidParameterError(f"--port must be 1-65535, got {port}")
    if max_upload_mb <= 0 or max_pixels < 1 or max_job_memory_mb <= 0:
        raise InvalidParameterError("--max-upload-mb, --max-pixels and --max-job-memory-mb must be positive")
    ui = not no_ui
    try:
        import gradio  # noqa: F401
    except ModuleNotFoundError:
        if ui:
            raise MissingResourceError(
                "the restora page needs gradio: pip install 'restora[web]' (or use --no-ui for the REST API only)"
            ) from None

    app = create_app(
        device=device,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=int(max_pixels),
        max_job_bytes=int(max_job_memory_mb * 1024 * 1024),
        max_concurrency=max_concurrency,
        queue_size=queue_size,
        ui=ui,
    )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"restora: serving on http://{shown}:{port}/ (REST API at /api/v1, docs at /docs)")
    if not _is_loopback(host):
        console.print(
            "[yellow]warning:[/] listening beyond this machine with no authentication or TLS; "
            "put a reverse proxy in front (see docs/web.md)"
        )
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
