"""``/docs``: the interactive API page, served from installed packages only.

FastAPI's default ``/docs`` and ``/redoc`` load Swagger UI / ReDoc from a CDN, which breaks
offline and contradicts "nothing leaves the machine". When the ``swagger-ui-bundle``
package is installed (part of the ``web`` extra) its files are served from
``/api/v1/docs-assets`` and ``/docs`` uses them; without it ``/docs`` answers 404 with a
pointer to ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DOCS_ASSETS", "install_offline_docs", "swagger_assets"]

#: Where the Swagger UI files are mounted.
DOCS_ASSETS = "/api/v1/docs-assets"


def swagger_assets() -> str | None:
    """The folder of the installed Swagger UI files (``swagger-ui-bundle``), or None."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = str(swagger_ui_path)
    import os

    return path if os.path.isfile(os.path.join(path, "swagger-ui-bundle.js")) else None


def install_offline_docs(app: Any) -> None:
    """Add ``/docs`` (Swagger UI from local files) to the FastAPI ``app``, or a JSON 404."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import JSONResponse
    from fastapi.staticfiles import StaticFiles

    folder = swagger_assets()
    if folder is None:

        @app.get("/docs", include_in_schema=False)
        async def no_docs() -> JSONResponse:
            return JSONResponse(
                {"error": "the API page needs the swagger-ui-bundle package (pip install 'restora[web]'); "
                 "the API description is at /openapi.json"},
                status_code=404,
            )

        return
    app.mount(DOCS_ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
