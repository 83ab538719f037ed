"""Restore folders of images: resumable, parallel I/O, a per-image report.

One model lives in the calling process (the model is the bottleneck); a thread pool of
``workers`` decodes the next images and encodes finished ones meanwhile. Outputs that already
exist are skipped, so a killed job resumes where it stopped; every write is atomic, so it
never leaves half a file. A file that cannot be read or restored is recorded with its error
and the job goes on.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import traceback
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.atomic import atomic_write, same_file
from restora.errors import ImageWriteError, InvalidParameterError, RestoraError
from restora.validation import check_range

__all__ = [
    "BatchItem",
    "BatchReport",
    "BatchTask",
    "check_report_path",
    "find_images",
    "plan_tasks",
    "read_task",
    "restore_one",
    "run_batch",
    "write_task",
]

PathLike = str | os.PathLike[str]
#: ``progress(done, total, item)`` after each image (done counts skipped and failed ones too).
BatchProgress = Callable[[int, int, "BatchItem"], None]


@dataclass(frozen=True)
class BatchTask:
    """One input file and the output it becomes."""

    src: str
    dst: str


@dataclass
class BatchItem:
    """What happened to one image: ``status`` is ``"done"``, ``"skipped"`` (output existed)
    or ``"failed"`` (``error`` says why); ``steps`` the plan's steps as dicts; ``timings``
    seconds per stage (read, analyse, steps, write); ``seconds`` the image's wall time."""

    src: str
    dst: str
    status: str
    error: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchReport:
    """All items of a batch job plus totals; :meth:`write` saves it as JSON or CSV."""

    items: list[BatchItem]
    elapsed: float = 0.0
    engine: str = "local"
    workers: int = 1

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def done(self) -> int:
        return self.count("done")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return self.failed == 0

    @property
    def images_per_second(self) -> float:
        """Restored images per second of wall time (skipped ones excluded)."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def restored(self) -> int:
        """Images written with at least one step that ran (not dropped by the never-worse check)."""
        return sum(1 for i in self.items if i.status == "done" and any(not s.get("dropped") for s in i.steps))

    @property
    def unchanged(self) -> int:
        """Images written as they came: nothing was needed (or every step was dropped)."""
        return self.done - self.restored

    def summary(self) -> dict[str, Any]:
        return {
            "total": len(self.items),
            "done": self.done,
            "restored": self.restored,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "elapsed_s": round(self.elapsed, 3),
            "images_per_s": round(self.images_per_second, 3),
            "engine": self.engine,
            "workers": self.workers,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "items": [i.to_dict() for i in self.items]}

    def to_csv(self) -> str:
        """One row per image: src, dst, status, steps (``name:method`` joined by ``+``),
        seconds, error, and each timing as ``t_<stage>``."""
        stages: list[str] = []
        for it in self.items:
            for k in it.timings:
                if k not in stages:
                    stages.append(k)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["src", "dst", "status", "steps", "seconds", "error", *(f"t_{s}" for s in stages)])
        for it in self.items:
            steps = "+".join(f"{s['name']}:{s['method']}" for s in it.steps)
            times = [f"{it.timings[s]:.4f}" if s in it.timings else "" for s in stages]
            w.writerow([it.src, it.dst, it.status, steps, f"{it.seconds:.4f}", it.error or "", *times])
        return buf.getvalue()

    def write(self, path: PathLike) -> Path:
        """Write the report atomically: ``.json`` (summary + items) or ``.csv`` (items).

        An existing report is replaced. Raises :class:`InvalidParameterError` for another
        suffix and :class:`~restora.errors.ImageWriteError` (one line, naming the file) when
        it cannot be written; no temporary file is left behind.
        """
        p = check_report_path(path)
        text = json.dumps(self.to_dict(), indent=2) if p.suffix.lower() == ".json" else self.to_csv()
        return atomic_write(p, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def check_report_path(path: PathLike) -> Path:
    """Check a report path before the job starts: a ``.json`` or ``.csv`` file name whose
    folder exists or can be created and is writable. Raises :class:`InvalidParameterError`
    (suffix) or :class:`~restora.errors.ImageWriteError`; returns the path."""
    from restora.atomic import check_output_file

    p = Path(path)
    if p.suffix.lower() not in (".json", ".csv"):
        raise InvalidParameterError(f"report must be a .json or .csv file; got {p}")
    return check_output_file(p, "report")


def find_images(in_dir: PathLike, *, recursive: bool = True, exclude: PathLike | None = None) -> list[Path]:
    """Image files under ``in_dir`` (suffixes of :data:`restora.io.FORMATS`), sorted;
    hidden files and folders (names starting with ``.``, e.g. temporary files) are ignored,
    and so is the folder ``exclude`` (e.g. the job's output folder inside ``in_dir``)."""
    from restora.io import FORMATS

    root = Path(in_dir)
    if not root.is_dir():
        raise InvalidParameterError(f"{root} is not a folder")
    skip = _inside(Path(exclude), root) if exclude is not None else None
    pattern = root.rglob("*") if recursive else root.glob("*")
    out = []
    for p in pattern:
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if skip is not None and rel.parts[: len(skip.parts)] == skip.parts:
            continue
        if p.suffix.lower() in FORMATS and p.is_file():
            out.append(p)
    return sorted(out)


def _inside(path: Path, root: Path) -> Path | None:
    """``path`` relative to ``root`` if it lies strictly inside it (resolved), else None."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return rel if rel.parts else None


def plan_tasks(in_dir: PathLike, out_dir: PathLike, *, format: str | None = None, recursive: bool = True) -> tuple[list[BatchTask], list[BatchItem]]:
    """The (input, output) pairs of a folder job, keeping sub-folders, and the inputs that
    cannot be done because two of them map to the same output name (as failed items).

    Outputs never land on inputs: ``out_dir`` may not be ``in_dir``
    (:class:`InvalidParameterError`); an ``out_dir`` inside ``in_dir`` is left out of the
    inputs (earlier outputs are not restored again), and a job in which an output would
    replace an input file (e.g. ``in_dir`` inside ``out_dir``) is refused as a whole.
    """
    from restora.pipeline.files import output_path

    root, out_root = Path(in_dir), Path(out_dir)
    if root.is_dir() and same_file(root, out_root):
        raise InvalidParameterError(
            f"the output folder {out_root} is the input folder {root}; restora never writes over its inputs, "
            "give another output folder"
        )
    tasks: list[BatchTask] = []
    clashes: list[BatchItem] = []
    seen: dict[str, str] = {}
    sources = find_images(root, recursive=recursive, exclude=out_root)
    inputs = {os.path.normcase(str(s.resolve())) for s in sources}
    for src in sources:
        dst = output_path(out_root / src.relative_to(root), format)
        if os.path.normcase(str(dst.resolve())) in inputs:
            raise InvalidParameterError(
                f"the output for {src} would be {dst}, which is one of the inputs; restora never writes over "
                "its inputs, give an output folder outside the input folder"
            )
        key = str(dst).lower()
        if key in seen:
            clashes.append(BatchItem(str(src), str(dst), "failed", f"output name clash: {seen[key]} also becomes {dst.name}"))
            continue
        seen[key] = str(src)
        tasks.append(BatchTask(str(src), str(dst)))
    return tasks, clashes


# ----------------------------------------------------------------------------- one image
def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RestoraError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}{where}"


def read_task(task: BatchTask) -> tuple[np.ndarray, Any, float]:
    """Decode ``task.src``: ``(image, info, seconds)``."""
    from restora.io import read_image_info

    t0 = time.perf_counter()
    image, info = read_image_info(task.src)
    return image, info, time.perf_counter() - t0


def write_task(task: BatchTask, image: np.ndarray, info: Any, *, quality: int, overwrite: bool) -> float:
    """Encode and write atomically; returns seconds."""
    from restora.io import write_image

    t0 = time.perf_counter()
    _make_folder(Path(task.dst).parent)
    write_image(task.dst, image, info=info, quality=quality, overwrite=overwrite)
    return time.perf_counter() - t0


def restore_one(pipeline: Any, task: BatchTask, *, quality: int = 95, overwrite: bool = False, **plan_options: Any) -> BatchItem:
    """Read, restore and write one image, never raising: failures become a ``"failed"`` item.

    This is what each Ray worker runs; the local engine runs the same three stages with the
    read and write overlapped in threads, so both produce the same bytes.
    """
    t0 = time.perf_counter()
    item = BatchItem(task.src, task.dst, "failed")
    try:
        image, info, t_read = read_task(task)
        result = pipeline.restore(image, path=task.src, **plan_options)
        t_write = write_task(task, result.image, info, quality=quality, overwrite=overwrite)
        item.status = "done"
        item.steps = [s.to_dict() for s in result.plan.steps]
        item.timings = {"read": t_read, **{k: v for k, v in result.timings.items() if k != "total"}, "write": t_write}
    except Exception as exc:  # a batch records every failure and goes on
        item.error = _error_text(exc)
    item.seconds = time.perf_counter() - t0
    return item


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageWriteError(f"cannot create the output folder {folder}: {e.strerror or e}") from None


# ----------------------------------------------------------------------------- the job
class Ledger:
    """The finished items of a batch, each reported to ``progress`` as it finishes."""

    def __init__(self, tasks: list[BatchTask], total: int, progress: BatchProgress | None) -> None:
        self.items: list[BatchItem] = []
        self._order = {t.src: i for i, t in enumerate(tasks)}
        self._total = total
        self._progress = progress

    def finish(self, item: BatchItem) -> None:
        self.items.append(item)
        if self._progress:
            self._progress(len(self.items), self._total, item)

    def ordered(self) -> list[BatchItem]:
        """The items in input order (clashes first)."""
        return sorted(self.items, key=lambda it: self._order.get(it.src, -1))


def start_ledger(
    in_dir: PathLike, out_root: Path, *, format: str | None, recursive: bool, overwrite: bool, progress: BatchProgress | None
) -> tuple[Ledger, list[BatchTask]]:
    """List the job (:func:`plan_tasks`), create ``out_root``, record name clashes and (unless
    ``overwrite``) existing outputs as finished, and return the ledger and the tasks left to run.

    Before any work: ``out_root`` must be creatable and writable (:class:`ImageWriteError`),
    must not be ``in_dir`` nor put an output on an input, and ``in_dir`` must hold at least
    one image (:class:`InvalidParameterError`). Stale temporary files of restora's atomic
    writer left in ``out_root`` by a killed run are removed
    (:func:`restora.atomic.remove_stale_temps`; nothing else is touched)."""
    from restora.atomic import check_output_folder, remove_stale_temps

    check_output_folder(out_root)
    tasks, clashes = plan_tasks(in_dir, out_root, format=format, recursive=recursive)
    if not tasks and not clashes:
        from restora.io import FORMATS

        where = "" if recursive else " (sub-folders not searched)"
        raise InvalidParameterError(f"no images ({', '.join(FORMATS)}) found in {in_dir}{where}")
    _make_folder(out_root)
    remove_stale_temps(out_root)  # left by a killed run: only restora's own, stale ones
    ledger = Ledger(tasks, len(tasks) + len(clashes), progress)
    for c in clashes:
        ledger.finish(c)
    todo: list[BatchTask] = []
    for t in tasks:
        if not overwrite and os.path.lexists(t.dst):
            ledger.finish(BatchItem(t.src, t.dst, "skipped"))
        else:
            todo.append(t)
    return ledger, todo


def run_batch(
    in_dir: PathLike,
    out_dir: PathLike,
    *,
    pipeline: Any | None = None,
    workers: int = 2,
    format: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
    recursive: bool = True,
    progress: BatchProgress | None = None,
    **plan_options: Any,
) -> BatchReport:
    """Restore every image under ``in_dir`` into ``out_dir`` (same relative paths; suffix
    replaced by ``format`` if given) and return a :class:`BatchReport`.

    ``workers`` threads decode upcoming images and encode finished ones while the main
    thread runs ``pipeline`` (a :class:`~restora.pipeline.RestorePipeline`, built with
    defaults if None). Existing outputs are skipped unless ``overwrite``; writes are atomic.
    ``plan_options`` (``scale``, ``target_size``, ``steps``) go to every image's plan.
    The output folder, ``quality`` and ``format`` are checked before any image is read, and
    outputs never land on inputs (see :func:`start_ledger`).
    """
    from restora.pipeline import RestorePipeline

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(f"workers must be an integer >= 1; got {workers!r}")
    check_range("quality", quality, 1, 100)  # before any work, not at the first write
    if plan_options.get("scale") is not None:  # the planner checks the upper limit per image
        check_range("scale", plan_options["scale"], 0, None, lo_open=True)
    out_root = Path(out_dir)
    if out_root.exists() and not out_root.is_dir():
        raise InvalidParameterError(f"{out_root} exists and is not a folder")
    if not Path(in_dir).is_dir():
        raise InvalidParameterError(f"input {in_dir} is not a folder")
    t_start = time.perf_counter()
    ledger, todo = start_ledger(in_dir, out_root, format=format, recursive=recursive, overwrite=overwrite, progress=progress)
    finish = ledger.finish
    pipe = pipeline if pipeline is not None else RestorePipeline()

    ahead = 2 * workers  # images decoded ahead / waiting to be written (bounds memory)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restora-io") as pool:
        reads: deque[tuple[BatchTask, Future]] = deque()
        writes: deque[tuple[BatchItem, Future, float]] = deque()
        queue = iter(todo)

        def top_up() -> None:
            while len(reads) < ahead:
                t = next(queue, None)
                if t is None:
                    return
                reads.append((t, pool.submit(read_task, t)))

        def drain_writes(limit: int) -> None:
            while len(writes) > limit:
                item, fut, started = writes.popleft()
                try:
                    item.timings["write"] = fut.result()
                    item.status = "done"
                except Exception as exc:
                    item.status, item.error = "failed", _error_text(exc)
                item.seconds += time.perf_counter() - started
                finish(item)

        top_up()
        while reads:
            task, fut = reads.popleft()
            top_up()
            t0 = time.perf_counter()
            item = BatchItem(task.src, task.dst, "failed")
            try:
                image, info, t_read = fut.result()
                result = pipe.restore(image, path=task.src, **plan_options)
            except Exception as exc:
                item.error = _error_text(exc)
                item.seconds = time.perf_counter() - t0
                finish(item)
                continue
            item.steps = [s.to_dict() for s in result.plan.steps]
            item.timings = {"read": t_read, **{k: v for k, v in result.timings.items() if k != "total"}}
            item.seconds = time.perf_counter() - t0 + t_read
            writes.append((item, pool.submit(write_task, task, result.image, info, quality=quality, overwrite=overwrite), time.perf_counter()))
            del image, result
            drain_writes(ahead)
        drain_writes(0)

    return BatchReport(ledger.ordered(), time.perf_counter() - t_start, "local", workers)
