"""The Gradio page at ``/``: upload, choose task/method/scale, see before/after, download.

The page calls the same :class:`~restora.web.service.RestoreService` as the REST API (no HTTP
to itself), through the same work queue and limits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from restora.errors import RestoraError
from restora.web.service import SCALES, STEP_TASKS, TASKS, RestoreService, parse_options

__all__ = ["PREVIEW_MAX_SIDE", "ResultStore", "build_ui", "method_choices", "preview", "read_uploaded", "theme"]

#: Long side (pixels) of the before/after preview; the download is full size.
PREVIEW_MAX_SIDE = 2048

_INTRO = (
    "Upload a damaged photo (noise, JPEG blocks, blur, low resolution). **auto** measures the "
    "image and plans the steps; or pick a task and a method. The same engine serves the REST "
    "API at `/api/v1` (see `/docs`)."
)


def theme() -> Any:
    """A Gradio theme with system fonts only, so the page loads nothing from other hosts."""
    import gradio as gr

    return gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def method_choices(task: str) -> list[tuple[str, str]]:
    """Dropdown ``(label, value)`` pairs for ``task``: ``auto`` first, then its methods."""
    from restora.restorers import list_restorers

    choices = [("auto (best available)", "auto")]
    if task == "auto":
        for step, rtask in STEP_TASKS.items():
            choices += [(f"{i.name} ({step}, {i.kind})", i.name) for i in list_restorers(rtask) if i.kind != "peer"]
    elif task in STEP_TASKS:
        choices += [(f"{i.name} ({i.kind})", i.name) for i in list_restorers(STEP_TASKS[task]) if i.kind != "peer"]
    return choices


def _to_uint8(image: np.ndarray) -> np.ndarray:
    img = image[:, :, :3] if image.shape[2] in (3, 4) else image[:, :, :1]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def preview(before: np.ndarray, after: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """8-bit RGB before/after images of the same size for the comparison slider.

    ``before`` is enlarged to ``after``'s size with nearest-neighbour (so the comparison shows
    the input's real pixels), and both are shrunk (area average) to ``max_side`` at most.
    """
    import cv2

    h, w = after.shape[:2]
    b = _to_uint8(before)
    a = _to_uint8(after)
    if b.shape[:2] != (h, w):
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_NEAREST)
    f = max_side / max(h, w)
    if f < 1:
        size = (max(1, round(w * f)), max(1, round(h * f)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    return b, a


def read_uploaded(path: str, max_bytes: int, upload_folder: str | None = None) -> bytes:
    """The bytes of a file the page received, after checking that it really is an upload.

    A request can name any path in a Gradio file reference; Gradio checks it (see
    :func:`restora.web.app.lock_gradio_paths`) and this checks again, independently: the
    path must resolve (symlinks followed) inside Gradio's upload folder, be a regular file
    (not a device, FIFO or folder) and be at most ``max_bytes`` long. Anything else raises
    :class:`~restora.errors.ImageReadError` without reading a byte of it.
    """
    import stat

    from restora.errors import ImageReadError, ImageTooLargeError

    if upload_folder is None:
        from gradio.utils import get_upload_folder

        upload_folder = get_upload_folder()
    root = os.path.realpath(upload_folder)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root or real == root:
        raise ImageReadError("the page accepts only images uploaded through it")
    try:
        st = os.stat(real)
    except OSError:
        raise ImageReadError("the uploaded file is gone; upload it again") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError("the page accepts only images uploaded through it")
    if st.st_size > max_bytes:
        raise ImageTooLargeError(f"The image is larger than this server's limit of {max_bytes:,} bytes.")
    with open(real, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"The image is larger than this server's limit of {max_bytes:,} bytes.")
    return data


class ResultStore:
    """Result files for the page's download button, in one private temporary folder that is
    made on the first save, pruned as it goes (older than ``max_age_s`` or beyond
    ``max_files``) and removed by :meth:`close`, or when the store is garbage-collected or
    the process exits (an app that was built but never served leaves nothing behind)."""

    def __init__(self, max_age_s: float = 3600.0, max_files: int = 64) -> None:
        self._folder: Path | None = None
        self._finalizer: Any = None
        self.max_age_s = max_age_s
        self.max_files = max_files
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        """The private folder (made now if it does not exist yet)."""
        if self._folder is None:
            import weakref

            self._folder = Path(tempfile.mkdtemp(prefix="restora-web-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._folder), True)
        return self._folder

    def save(self, data: bytes, filename: str) -> Path:
        """Write ``data`` as ``filename`` (already a safe name) in a fresh sub-folder."""
        with self._lock:
            self._prune()
            sub = self.folder / uuid.uuid4().hex
            sub.mkdir()
            path = sub / filename
            path.write_bytes(data)
            return path

    def _prune(self) -> None:
        subs = sorted((p for p in self.folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        now = time.time()
        excess = len(subs) - (self.max_files - 1)
        for i, sub in enumerate(subs):
            if i < excess or now - sub.stat().st_mtime > self.max_age_s:
                shutil.rmtree(sub, ignore_errors=True)

    def close(self) -> None:
        """Remove the folder and everything in it."""
        if self._finalizer is not None:
            self._finalizer()


def build_ui(service: RestoreService, *, max_upload_bytes: int, store: ResultStore | None = None) -> Any:
    """The Gradio :class:`~gradio.Blocks` for ``service``; result files go to ``store``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    store = store if store is not None else ResultStore()
    slider_cls = getattr(gr, "ImageSlider", None)

    async def restore(path: str | None, task: str, method: str, scale: str, fmt: str) -> tuple[Any, ...]:
        if not path:
            raise gr.Error("Upload an image first.")
        try:
            options = parse_options(task, None, scale, method, fmt, None)
            data = read_uploaded(path, max_upload_bytes)  # only Gradio's upload folder, bounded
            done = await service.queue.run(service.restore_upload, data, os.path.basename(path), options)
        except RestoraError as exc:
            raise gr.Error(str(exc)) from None
        saved = store.save(done.data, done.filename)
        b, a = preview(done.source if done.source is not None else done.image, done.image)
        (iw, ih), (ow, oh) = done.input_size, done.output_size
        text = done.plan.describe() if hasattr(done.plan, "describe") else str(done.plan)
        times = ", ".join(f"{k} {v:.2f}s" for k, v in done.timings.items() if "." not in k)
        text += f"\n\n{iw}x{ih} -> {ow}x{oh}; {times}"
        if slider_cls is not None:
            return (b, a), text, str(saved)
        return b, a, text, str(saved)

    def task_changed(task: str, scale: str) -> tuple[Any, Any]:
        new_scale = "2" if task == "upscale" and scale == "1" else scale
        return gr.update(choices=method_choices(task), value="auto"), gr.update(value=new_scale)

    # delete_cache: Gradio's copies of uploads and results older than an hour go, hourly.
    with gr.Blocks(title="restora", analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown("# restora\n" + _INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                inp = gr.Image(
                    type="filepath",
                    image_mode=None,
                    label="Damaged image",
                    sources=["upload", "clipboard"],
                    elem_id="restora-input",
                )
                task = gr.Dropdown(choices=list(TASKS), value="auto", label="Task", elem_id="restora-task")
                method = gr.Dropdown(
                    choices=method_choices("auto"), value="auto", label="Method / model", elem_id="restora-method"
                )
                scale = gr.Radio(
                    choices=[str(s) for s in SCALES], value="1", label="Upscale factor", elem_id="restora-scale"
                )
                fmt = gr.Radio(
                    choices=["png", "jpeg", "webp"], value="png", label="Download format", elem_id="restora-format"
                )
                run = gr.Button("Restore", variant="primary", elem_id="restora-run")
            with gr.Column(scale=2):
                if slider_cls is not None:
                    result = [slider_cls(label="Before / after", type="numpy", elem_id="restora-result")]
                else:
                    with gr.Row():
                        result = [
                            gr.Image(label="Before", type="numpy", elem_id="restora-before"),
                            gr.Image(label="After", type="numpy", elem_id="restora-result"),
                        ]
                plan = gr.Textbox(label="Plan", lines=8, interactive=False, elem_id="restora-plan")
                download = gr.File(label="Download result", interactive=False, elem_id="restora-download")
        task.change(task_changed, [task, scale], [method, scale], queue=False)
        run.click(
            restore,
            [inp, task, method, scale, fmt],
            [*result, plan, download],
            concurrency_limit=service.queue.max_concurrency,
            api_visibility="private",
        )
    blocks.queue(max_size=max(1, service.queue.queue_size))
    return blocks
