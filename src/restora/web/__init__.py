"""``restora serve``: the REST API (``/api/v1``) and the Gradio page (``/``) over one
:class:`~restora.pipeline.RestorePipeline`. Needs the ``web`` extra
(``pip install 'restora[web]'``): FastAPI, Uvicorn, python-multipart and Gradio.

>>> from restora.web import create_app          # doctest: +SKIP
>>> app = create_app(max_concurrency=1)          # doctest: +SKIP
"""

from restora.web.app import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_QUEUE_SIZE, create_app

__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_QUEUE_SIZE", "create_app"]
