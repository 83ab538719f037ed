"""The web layer's one entry into restora: checked options, upload in, restored bytes out.

:class:`RestoreService` holds the app's single :class:`~restora.pipeline.RestorePipeline`
(models stay cached for the app's lifetime) and the :class:`~restora.web.jobs.WorkQueue`
that the REST API and the Gradio UI share. Its blocking methods run inside a queue worker.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from restora.errors import ImageTooLargeError, InvalidParameterError
from restora.pipeline.plan import STEP_ORDER
from restora.pipeline.plan import STEP_TASKS as PIPELINE_STEP_TASKS
from restora.web.jobs import WorkQueue
from restora.web.uploads import OUTPUT_FORMATS, encode_image, read_upload

__all__ = [
    "SCALES",
    "STEP_NAMES",
    "TASKS",
    "FACE_TASKS",
    "RestoreOptions",
    "RestoreService",
    "Restored",
    "estimate_job_bytes",
    "parse_options",
]

#: Default memory budget of one running restoration (bytes): see :func:`estimate_job_bytes`.
DEFAULT_MAX_JOB_BYTES = 2 * 1024**3


def estimate_job_bytes(width: int, height: int, channels: int, scale: int | None = None) -> int:
    """Peak working memory of one restoration of a ``width x height`` image with ``channels``
    planes, upscaled by ``scale`` (bytes, roughly).

    Two float32 copies of the input (decoded and working) plus two of the output (the result
    and its 8/16-bit encoding buffers), 4 bytes per sample: ``4 C (2 P_in + 2 P_out)``. Fitted
    to the measured peak of the worst case found (a 6000 x 6000 PNG upscaled x2 by nearest
    neighbour: 4.2 GB above the idle server; this gives 4.3 GB,
    ``benchmarks/bench_web_memory.py``).
    """
    s = max(1, int(scale or 1))
    pin = int(width) * int(height)
    return 4 * max(1, int(channels)) * (2 * pin + 2 * pin * s * s)


#: Choices of the ``task`` field; ``auto`` lets the planner decide; ``face`` / ``portrait``
#: run a face system (:data:`restora.faces.restorer.FACE_SYSTEMS`) on the whole image.
TASKS = ("auto", "denoise", "jpeg", "deblur", "dehaze", "exposure", "upscale", "face", "portrait")
FACE_TASKS = ("face", "portrait")
#: Pipeline step names, in the order they run (the pipeline's own).
STEP_NAMES = STEP_ORDER
#: Step name -> restorer task in :mod:`restora.restorers`.
STEP_TASKS = dict(PIPELINE_STEP_TASKS)
SCALES = (1, 2, 3, 4)
_TASK_ALIASES = {"sr": "upscale", "": "auto"}
_FORMAT_ALIASES = {"jpg": "jpeg"}


@dataclass(frozen=True)
class RestoreOptions:
    """Checked request options: ``steps`` for the pipeline (None: plan automatically);
    ``system``: a face system (``face`` | ``portrait``) that runs instead of the planner."""

    steps: tuple[str, ...] | None = None
    scale: int | None = None
    format: str = "png"
    quality: int = 95
    system: str | None = None

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.format][1]

    @property
    def suffix(self) -> str:
        return OUTPUT_FORMATS[self.format][0]


def _restorer_names() -> dict[str, str]:
    """Registered restorer name -> its task."""
    from restora.restorers import list_restorers

    return {info.name: info.task for info in list_restorers()}


def _check_method(step: str, method: str, names: dict[str, str]) -> None:
    # An allow-list: a method is a registered restorer's name, never a path to a file.
    tasks = {STEP_TASKS[step], "denoise"} if step == "jpeg" else {STEP_TASKS[step]}
    valid = sorted(n for n, t in names.items() if t in tasks)
    if names.get(method) not in tasks:
        raise InvalidParameterError(
            f"unknown {step} method {method!r}; available: {', '.join(valid) or '(none installed)'}"
        )


def parse_options(
    task: str | None = None,
    steps: str | None = None,
    scale: int | str | None = None,
    model: str | None = None,
    format: str | None = None,
    quality: int | str | None = None,
) -> RestoreOptions:
    """Turn the request's fields into :class:`RestoreOptions`, or raise
    :class:`InvalidParameterError` with a one-line message naming the field.

    ``task`` (auto | denoise | jpeg | deblur | dehaze | exposure | upscale) and ``model`` (a method name from
    ``GET /api/v1/models``) make one step; ``face`` / ``portrait`` run that face system on the
    whole image (no ``steps``, ``model`` or upscaling with them); ``steps`` (e.g. ``"denoise:nlm,upscale:bicubic"``)
    gives the whole list and overrides ``task``. ``scale`` is 1-4 (1: no upscaling; the
    ``upscale`` task defaults to 2). ``format`` is png | jpeg | webp, ``quality`` 1-100.
    """
    task_name = _TASK_ALIASES.get((task or "").strip().lower(), (task or "").strip().lower())
    if task_name not in TASKS:
        raise InvalidParameterError(f"task must be one of {', '.join(TASKS)}; got {task!r}")

    n_scale: int | None = None
    if scale is not None and str(scale).strip() != "":
        try:
            n_scale = int(str(scale).strip())
        except ValueError:
            n_scale = -1
        if n_scale not in SCALES:
            raise InvalidParameterError(f"scale must be 1, 2, 3 or 4; got {scale!r}")

    fmt = (format or "png").strip().lower()
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in OUTPUT_FORMATS:
        raise InvalidParameterError(f"format must be one of {', '.join(OUTPUT_FORMATS)}; got {format!r}")

    q = 95
    if quality is not None and str(quality).strip() != "":
        try:
            q = int(str(quality).strip())
        except ValueError:
            q = -1
        if not 1 <= q <= 100:
            raise InvalidParameterError(f"quality must be a whole number from 1 to 100; got {quality!r}")

    method = (model or "").strip()
    if method.lower() == "auto":
        method = ""
    if task_name in FACE_TASKS:
        if (steps or "").strip() or method:
            raise InvalidParameterError(f"task {task_name} runs its own model: give no steps or model with it")
        if n_scale not in (None, 1):
            raise InvalidParameterError(f"task {task_name} does not upscale: scale must be 1; got {scale!r}")
        return RestoreOptions(format=fmt, quality=q, system=task_name)
    step_list: list[str] | None = None
    names: dict[str, str] | None = None
    if steps is not None and steps.strip():
        if method:
            raise InvalidParameterError("give either steps (with methods, e.g. 'denoise:nlm') or model, not both")
        names = _restorer_names()
        step_list = []
        for raw in steps.split(","):
            item = raw.strip()
            if not item:
                continue
            name, _, m = item.partition(":")
            name = _TASK_ALIASES.get(name.strip().lower(), name.strip().lower())
            if name not in STEP_NAMES:
                raise InvalidParameterError(f"steps: unknown step {item!r}; steps are {', '.join(STEP_NAMES)}")
            m = m.strip()
            if m and m.lower() != "auto":
                _check_method(name, m, names)
                step_list.append(f"{name}:{m}")
            else:
                step_list.append(name)
        if not step_list:
            raise InvalidParameterError(f"steps: no step given in {steps!r}; steps are {', '.join(STEP_NAMES)}")
        if len(set(s.partition(":")[0] for s in step_list)) != len(step_list):
            raise InvalidParameterError(f"steps: each step may appear once; got {steps!r}")
    elif task_name != "auto" or method:
        names = _restorer_names()
        if task_name == "auto":  # a model alone: its task decides the step
            task_of = names.get(method)
            step = next((s for s, t in STEP_TASKS.items() if t == task_of), None)
            if step is None:
                raise InvalidParameterError(
                    f"unknown model {method!r}; available: {', '.join(sorted(names)) or '(none installed)'}"
                )
        else:
            step = task_name
        if method:
            _check_method(step, method, names)
        step_list = [f"{step}:{method}" if method else step]

    if step_list is not None and any(s.startswith("upscale") for s in step_list):
        if n_scale == 1:
            raise InvalidParameterError("scale must be 2, 3 or 4 for upscaling; got 1")
        if n_scale is None:
            n_scale = 2
    elif step_list is not None and n_scale is not None and n_scale > 1:
        step_list.append("upscale")  # explicit steps replace the planner's choice: keep the asked scale
    if n_scale == 1:
        n_scale = None
    return RestoreOptions(
        steps=tuple(step_list) if step_list is not None else None, scale=n_scale, format=fmt, quality=q
    )


@dataclass
class Restored:
    """A finished restoration: encoded bytes plus what the response headers report."""

    data: bytes
    content_type: str
    filename: str
    image: np.ndarray  # float32 H x W x C result (with alpha if the upload had one)
    plan: Any  # restora.pipeline.Plan
    timings: dict[str, float] = field(default_factory=dict)
    input_size: tuple[int, int] = (0, 0)  # width, height
    source: np.ndarray | None = field(default=None, repr=False)  # the decoded upload

    @property
    def output_size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def plan_summary(self) -> list[dict[str, Any]]:
        """The steps as ``[{"name", "method", "params"}]`` (private ``_`` params left out)."""
        return plan_summary(self.plan)

    def headers(self) -> dict[str, str]:
        """``X-Restora-*`` headers (ASCII JSON) and ``Content-Disposition``."""
        summary = json.dumps(self.plan_summary(), separators=(",", ":"), ensure_ascii=True)
        if len(summary) > 6000:  # keep headers small; drop params, keep the step list
            summary = json.dumps([{k: s[k] for k in ("name", "method")} for s in self.plan_summary()])
        w, h = self.output_size
        return {
            "X-Restora-Plan": summary,
            "X-Restora-Timings": json.dumps(
                {k: round(float(v), 4) for k, v in self.timings.items()}, separators=(",", ":")
            ),
            "X-Restora-Input-Size": f"{self.input_size[0]}x{self.input_size[1]}",
            "X-Restora-Output-Size": f"{w}x{h}",
            "Content-Disposition": f'attachment; filename="{self.filename}"',
        }


def plan_summary(plan: Any) -> list[dict[str, Any]]:
    """``[{"name", "method", "params"}]`` for each step of ``plan``."""
    out = []
    for step in getattr(plan, "steps", []):
        d = (
            step.to_dict()
            if hasattr(step, "to_dict")
            else {"name": step.name, "method": step.method, "params": dict(step.params)}
        )
        params = {k: v for k, v in (d.get("params") or {}).items() if not str(k).startswith("_")}
        out.append({"name": d["name"], "method": str(d["method"]), "params": params})
    return json.loads(json.dumps(out, default=str))


def plan_dict(plan: Any) -> dict[str, Any]:
    """The plan as JSON-ready data (``Plan.to_dict`` when it has one)."""
    if hasattr(plan, "to_dict"):
        data = plan.to_dict()
    else:
        data = {"steps": plan_summary(plan), "analysis": getattr(plan, "analysis", {})}
    return json.loads(json.dumps(data, default=str))


class RestoreService:
    """One pipeline, one work queue, the limits; blocking methods run in a queue worker."""

    def __init__(
        self,
        pipeline: Any,
        *,
        max_pixels: int,
        max_output_pixels: int,
        queue: WorkQueue,
        max_job_bytes: int = DEFAULT_MAX_JOB_BYTES,
    ) -> None:
        self.pipeline = pipeline
        self.max_pixels = int(max_pixels)
        self.max_output_pixels = int(max_output_pixels)
        self.max_job_bytes = int(max_job_bytes)
        self.queue = queue
        self.started = time.time()
        self._systems: dict[str, Any] = {}  # face system -> its pipeline, built on first use

    # ----------------------------------------------------------------- internals

    def check_size(self, width: int, height: int, channels: int, scale: int | None, name: str) -> None:
        """Refuse (:class:`ImageTooLargeError`, 413) a job whose result is over
        ``max_output_pixels`` or whose working memory (:func:`estimate_job_bytes`) is over
        ``max_job_bytes``: checked from the header before the job takes a place in the queue,
        and again after decoding with the real channel count."""
        s = scale or 1
        out = width * height * s * s
        if out > self.max_output_pixels:
            raise ImageTooLargeError(
                f"upload {name!r} would be {width * s} x {height * s} = {out:,} pixels after "
                f"x{s} upscaling, over this server's output limit of {self.max_output_pixels:,}"
            )
        need = estimate_job_bytes(width, height, channels, s)
        if need > self.max_job_bytes:
            raise ImageTooLargeError(
                f"upload {name!r} ({width} x {height}{f', x{s}' if s > 1 else ''}) would need about "
                f"{need / 2**30:.1f} GiB of memory, over this server's limit of {self.max_job_bytes / 2**30:.1f} GiB "
                "per restoration; send a smaller image or a smaller scale"
            )

    def pipeline_for(self, options: RestoreOptions) -> Any:
        """The pipeline that serves ``options``: the app's own, or (``options.system``) a
        pipeline forced to that face system's zoo model, built once and kept."""
        if options.system is None:
            return self.pipeline
        if options.system not in self._systems:
            from restora.faces.restorer import face_system_model
            from restora.pipeline import RestorePipeline

            model = face_system_model(options.system, asked_by=f"task {options.system}")
            self._systems[options.system] = RestorePipeline(device=getattr(self.pipeline, "device", "cpu"), model=model)
        return self._systems[options.system]

    def _plan(self, image: np.ndarray, path: Path | None, options: RestoreOptions) -> Any:
        steps = list(options.steps) if options.steps is not None else None
        return self.pipeline_for(options).plan(image, path=path, scale=options.scale, steps=steps)

    def _with_upload(self, data: bytes, filename: str | None, work: Any) -> Any:
        """Decode ``data`` in a private temp folder and call ``work(upload, path)`` there,
        so the planner can read the file itself (e.g. JPEG quantisation tables)."""
        with tempfile.TemporaryDirectory(prefix="restora-job-") as tmp:
            t0 = time.perf_counter()
            upload = read_upload(data, max_pixels=self.max_pixels, filename=filename, folder=tmp)
            return work(upload, upload.path, time.perf_counter() - t0)

    # ----------------------------------------------------------------- public, blocking

    def plan_upload(self, data: bytes, filename: str | None, options: RestoreOptions) -> dict[str, Any]:
        """The plan for an upload, without running it (JSON-ready dict)."""

        def work(upload: Any, path: Path, _t: float) -> dict[str, Any]:
            h, w = upload.image.shape[:2]
            plan = self._plan(upload.image, path, options)
            ow, oh = _planned_size(plan, w, h)
            return {
                "plan": plan_dict(plan),
                "description": plan.describe() if hasattr(plan, "describe") else "",
                "input": {
                    "width": w,
                    "height": h,
                    "channels": int(upload.image.shape[2]),
                    "format": upload.info.format,
                    "bit_depth": upload.info.bit_depth,
                },
                "output": {"width": ow, "height": oh, "format": options.format},
            }

        return self._with_upload(data, filename, work)

    def restore_upload(self, data: bytes, filename: str | None, options: RestoreOptions) -> Restored:
        """Decode, plan, run and encode one upload."""

        def work(upload: Any, path: Path, t_decode: float) -> Restored:
            h, w = upload.image.shape[:2]
            self.check_size(w, h, int(upload.image.shape[2]), options.scale, upload.name)
            result, timings = self.restore_array(upload.image, options, path=path)
            t0 = time.perf_counter()
            data_out = encode_image(result.image, options.format, quality=options.quality, info=upload.info)
            timings = {"decode": t_decode, **timings, "encode": time.perf_counter() - t0}
            return Restored(
                data=data_out,
                content_type=options.content_type,
                filename=f"{upload.name}_restored{options.suffix}",
                image=result.image,
                plan=result.plan,
                timings=timings,
                input_size=(w, h),
                source=upload.image,
            )

        return self._with_upload(data, filename, work)

    def restore_array(
        self, image: np.ndarray, options: RestoreOptions, *, path: Path | None = None
    ) -> tuple[Any, dict[str, float]]:
        """Plan and run on a decoded image (the pipeline keeps alpha and resizes it along).

        Returns the pipeline's result and timings in seconds (``plan``, ``run`` and the
        pipeline's own per-step ``run.<step>``).
        """
        t0 = time.perf_counter()
        plan = self._plan(image, path, options)
        t1 = time.perf_counter()
        result = self.pipeline_for(options).run(image, plan)
        t2 = time.perf_counter()
        out = np.asarray(result.image, dtype=np.float32)
        result.image = out[:, :, None] if out.ndim == 2 else out
        timings: dict[str, float] = {"plan": t1 - t0}
        for k, v in (getattr(result, "timings", None) or {}).items():
            if isinstance(v, (int, float)) and k != "total":
                timings[f"run.{k}"] = float(v)
        timings["run"] = t2 - t1
        return result, timings


def _planned_size(plan: Any, width: int, height: int) -> tuple[int, int]:
    """The result's (width, height) that ``plan`` will give for a ``width x height`` input."""
    step = next((s for s in getattr(plan, "steps", []) if s.name == "upscale"), None)
    if step is None:
        return width, height
    target = step.params.get("target_size")
    if isinstance(target, (list, tuple)) and len(target) == 2:
        return int(target[0]), int(target[1])
    try:
        f = float(step.params.get("scale", 1))
    except (TypeError, ValueError):
        f = 1.0
    return round(width * f), round(height * f)
