"""``restora restore`` and ``restora batch``: the product's front door.

``restora restore IN OUT``: analyse, plan and restore one file (or every image of a folder),
printing what was done, why and how long it took. ``--plan`` only prints the plan;
``--compare`` writes a before/after PNG.

``restora batch IN_DIR OUT_DIR``: folders of thousands, with a progress bar, parallel
decode/encode, resumable (existing outputs are skipped), JSON/CSV reports, and
``--engine ray`` to run the same job on Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from restora.errors import InvalidParameterError, MissingResourceError

console = Console()
err_console = Console(stderr=True)


# --------------------------------------------------------------------------- option parsing
def parse_target_size(text: str | None) -> tuple[int, int] | None:
    """``"1920x1080"`` -> ``(1920, 1080)`` (width, height)."""
    if text is None:
        return None
    parts = text.lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise InvalidParameterError(f"--target-size must be WIDTHxHEIGHT, e.g. 1920x1080; got {text!r}") from None
    if w < 1 or h < 1:
        raise InvalidParameterError(f"--target-size must be positive, e.g. 1920x1080; got {text!r}")
    return w, h


def parse_steps(text: str | None) -> list[str] | None:
    """``"denoise,upscale:bicubic"`` -> ``["denoise", "upscale:bicubic"]``."""
    if text is None:
        return None
    steps = [s.strip() for s in text.split(",") if s.strip()]
    if not steps:
        raise InvalidParameterError("--steps is empty; e.g. --steps denoise,upscale or --steps denoise:nlm")
    return steps


def parse_scale(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def parse_tile(text: str) -> int | str | None:
    t = text.strip().lower()
    if t in ("auto", ""):
        return "auto"
    if t in ("none", "0", "off"):
        return None
    try:
        return int(t)
    except ValueError:
        raise InvalidParameterError(f"--tile must be a number of pixels, 'auto' or 'none'; got {text!r}") from None


def face_model(face: bool, portrait: bool, model: str | None) -> str | None:
    """The model ``--face`` / ``--portrait`` ask for (``--model`` names a file of that kind),
    or ``model`` when neither is given; a one-line error when the zoo lacks it."""
    if face and portrait:
        raise InvalidParameterError("--face and --portrait are two different face systems; give one")
    if not (face or portrait) or model is not None:
        return model
    from restora.faces.restorer import face_system_model

    system = "face" if face else "portrait"
    try:
        return face_system_model(system, asked_by=f"--{system}")
    except MissingResourceError as exc:
        raise MissingResourceError(f"{exc}, or give its weights with --model PATH") from None


def _pipeline_options(device: str, model: str | None, prefer: str, tile: str, time_budget: float, aligned: bool = False) -> dict[str, Any]:
    return {
        "device": device,
        "model": model,
        "prefer": prefer,
        "tile": parse_tile(tile),
        "time_budget": time_budget if time_budget > 0 else None,
        "aligned_face": aligned,
    }


def _plan_options(scale: float | None, target_size: str | None, steps: str | None, enhance: bool = False) -> dict[str, Any]:
    opts: dict[str, Any] = {"enhance": True} if enhance else {}
    if scale is not None:
        opts["scale"] = parse_scale(scale)
    ts = parse_target_size(target_size)
    if ts is not None:
        opts["target_size"] = ts
    st = parse_steps(steps)
    if st is not None:
        opts["steps"] = st
    return opts


def _fmt_params(params: dict[str, Any]) -> str:
    from restora.pipeline.plan import _fmt

    return ", ".join(f"{k}={_fmt(v, k)}" for k, v in params.items())


def print_result(src: Path, dst: Path | None, result: Any, *, show_times: bool = True, plan_shown: bool = False, out: Console | None = None) -> None:
    """Print the analysis, a table of steps (method, parameters, reason, seconds) and totals;
    with ``plan_shown`` (the plan was printed before the work) only what the run adds:
    seconds per step, steps the never-worse check dropped, totals."""
    from restora.pipeline.plan import describe_analysis

    con = out if out is not None else console
    plan = result.plan if hasattr(result, "plan") else result
    if plan_shown:
        timings = getattr(result, "timings", {})
        for s in plan.steps:
            note = f" [yellow]dropped[/]: {s.dropped}; its input was kept" if s.dropped else ""
            if s.fell_back:
                note = f" (instead of {escape(s.fell_back)})" + note
            con.print(f"  {s.name}: {s.method} {timings.get(s.name, 0.0):.2f}s{note}", highlight=False)
        if not plan.steps:
            con.print("  unchanged: nothing to do; the image was copied through", highlight=False)
        t = timings
        parts = [f"{k} {t[k]:.2f}s" for k in ("read", "analyse", "write") if k in t]
        con.print(f"[bold]{dst}[/] written; total {t.get('total', 0.0):.2f}s ({', '.join(parts)})", highlight=False)
        return
    con.print(f"[bold]{src}[/]" + (f" -> [bold]{dst}[/]" if dst else ""), highlight=False)
    con.print(f"  analysis: {describe_analysis(plan.analysis)}", highlight=False)
    if not plan.steps:
        con.print("  nothing to do: no degradation above the thresholds (use --steps to force one); the image is copied through")
    else:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("step", "method", "parameters", "why"):
            table.add_column(col, overflow="fold")
        if show_times:
            table.add_column("seconds", justify="right")
        timings = getattr(result, "timings", {})
        for s in plan.steps:
            params = {k: v for k, v in s.params.items() if not str(k).startswith("_")}
            why = s.reason + (f"; ran {s.method}: {s.fell_back}" if s.fell_back else "") + (f" [DROPPED: {s.dropped}; input kept]" if s.dropped else "")
            row = [s.name, s.method, _fmt_params(params), why]
            if show_times:
                row.append(f"{timings.get(s.name, 0.0):.2f}")
            table.add_row(*row)
        con.print(table)
    if show_times and getattr(result, "timings", None):
        t = result.timings
        parts = [f"{k} {t[k]:.2f}s" for k in ("read", "analyse", "write") if k in t]
        con.print(f"  total {t.get('total', 0.0):.2f}s ({', '.join(parts)})", highlight=False)


# --------------------------------------------------------------------------- restore
def restore_cmd(
    src: Path = typer.Argument(..., help="Input image file or folder."),
    dst: Path = typer.Argument(..., help="Output file, or folder (for a folder input, or to keep the input's name)."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Upscale by this factor (e.g. 2 or 4)."),
    target_size: Optional[str] = typer.Option(None, "--target-size", help="Upscale/resize to exactly WIDTHxHEIGHT."),
    steps: Optional[str] = typer.Option(None, "--steps", help="Steps to run instead of the automatic plan: jpeg,denoise,deblur,dehaze,exposure,upscale (optionally step:method, e.g. denoise:nlm)."),
    plan_only: bool = typer.Option(False, "--plan", help="Only print the plan (what would be done and why)."),
    enhance: bool = typer.Option(False, "--enhance", help="Also dehaze / correct exposure when the detectors find haze or an exposure error."),
    model: Optional[str] = typer.Option(None, "--model", help="Force a model for its step: a zoo name, a restora .safetensors, or another project's .pth/.safetensors (thirdparty extra)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    prefer: str = typer.Option("auto", "--prefer", help="auto (zoo model if one fits, else classical), neural or classical."),
    tile: str = typer.Option("auto", "--tile", help="Tile side in pixels for bounded memory, 'auto' or 'none'."),
    time_budget: float = typer.Option(60.0, "--time-budget", help="Seconds per image the classical method choice should fit (0: always the strongest)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="Also write a before/after side-by-side PNG here (single file input)."),
    format: Optional[str] = typer.Option(None, "--format", help="Output format: png, jpg, tif, webp, bmp (default: the output's suffix, or the input's)."),
    quality: int = typer.Option(95, "--quality", help="JPEG/WebP output quality (1-100)."),
    face: bool = typer.Option(False, "--face", help="Deblur faces with the face-fusion system (regression + generative face prior): every face found is aligned, restored and blended back."),
    portrait: bool = typer.Option(False, "--portrait", help="Portraits under heavy pattern noise: the three-stage portrait restorer on the whole image."),
    aligned: bool = typer.Option(False, "--aligned", help="With --face/--portrait: the input is already an aligned face crop (no face detection)."),
) -> None:
    """Restore an image (or a folder of images): analyse it, plan the steps, run them."""
    from restora.io import FORMATS, read_image_info
    from restora.pipeline import RestorePipeline, restore_file, write_compare

    if aligned and not (face or portrait):
        raise InvalidParameterError("--aligned only applies with --face or --portrait")
    model = face_model(face, portrait, model)
    plan_options = _plan_options(scale, target_size, steps, enhance)
    if not src.exists():
        raise InvalidParameterError(f"input {src} does not exist")
    if src.is_dir():
        if compare is not None:
            raise InvalidParameterError("--compare needs a single input file (use it on one image of the folder)")
        if dst.exists() and not dst.is_dir():
            raise InvalidParameterError(f"input {src} is a folder, so the output must be a folder; {dst} is a file")
        pipe = _face_checked(RestorePipeline(**_pipeline_options(device, model, prefer, tile, time_budget, aligned)), face, portrait, model)
        _restore_folder(src, dst, plan_only, plan_options, pipe, format, quality, overwrite)
        return
    if dst.is_dir() or (not dst.suffix and not dst.exists()):
        out = dst / src.name
    else:
        out = dst
    if format is None and out.suffix.lower() not in FORMATS:
        raise InvalidParameterError(f"cannot tell the output format of {out}; give a suffix ({', '.join(FORMATS)}) or --format")
    pipe = _face_checked(RestorePipeline(**_pipeline_options(device, model, prefer, tile, time_budget, aligned)), face, portrait, model)
    if plan_only:
        image, _info = read_image_info(src)
        plan = pipe.plan(image, path=src, **plan_options)
        print_result(src, None, plan, show_times=False)
        return
    from restora.cli._paths import make_parent, same_file
    from restora.pipeline.files import output_path

    make_parent(output_path(out, format))
    if compare is not None:
        if same_file(compare, src) or same_file(compare, output_path(out, format)):
            raise InvalidParameterError(f"--compare {compare} must differ from IN and OUT; restora never writes over its input")
        if compare.suffix.lower() != ".png":
            raise InvalidParameterError(f"--compare must be a .png file; got {compare}")
        make_parent(compare, "comparison image")
        if not overwrite and compare.exists():
            raise InvalidParameterError(f"{compare} already exists; pass --overwrite to replace it")
    written = output_path(out, format)
    result = _restore_with_progress(src, out, written, pipe, overwrite=overwrite, format=format, quality=quality, plan_options=plan_options)
    print_result(src, written, result, plan_shown=True)
    if compare is not None:
        before, _ = read_image_info(src)
        write_compare(compare, before, result.image, overwrite=overwrite)
        console.print(f"  comparison: {compare}", highlight=False)


def _restore_with_progress(src: Path, out: Path, written: Path, pipe: Any, *, overwrite: bool, format: str | None, quality: int, plan_options: dict[str, Any]) -> Any:
    """restore_file with the plan printed as soon as it is made (before the work) and a
    progress bar per step (tiles done, elapsed, ETA); a spinner from the first second."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from restora.pipeline import restore_file

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        reading = bar.add_task(f"reading and analysing {src.name}", total=None)
        tasks: dict[str, Any] = {}

        def on_plan(plan: Any) -> None:
            bar.update(reading, total=1, completed=1)
            print_result(src, written, plan, show_times=False, out=bar.console)

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(1, total))
            bar.update(tasks[stage], completed=done, total=max(1, total))

        return restore_file(src, out, pipeline=pipe, overwrite=overwrite, format=format, quality=quality, on_plan=on_plan, progress=progress, **plan_options)


def _face_checked(pipe: Any, face: bool, portrait: bool, model: str | None) -> Any:
    """``pipe``, after checking that a ``--model`` given with ``--face``/``--portrait`` is that system."""
    if face or portrait:
        from restora.faces.restorer import FACE_SYSTEMS, AlignedFaceRestorer, PortraitRestorer

        want = AlignedFaceRestorer if face else PortraitRestorer
        if not isinstance(pipe.restorer(str(model)), want):
            raise InvalidParameterError(f"--model {model} is not a {FACE_SYSTEMS['face' if face else 'portrait'][0]} model")
    return pipe


def _restore_folder(src: Path, dst: Path, plan_only: bool, plan_options: dict[str, Any], pipe: Any, format: str | None, quality: int, overwrite: bool) -> None:
    from restora.batch import find_images, run_batch
    from restora.io import read_image_info

    if plan_only:
        for p in find_images(src):
            image, _ = read_image_info(p)
            print_result(p, None, pipe.plan(image, path=p, **plan_options), show_times=False)
        return
    report = run_batch(src, dst, pipeline=pipe, workers=2, format=format, quality=quality, overwrite=overwrite, **plan_options)
    for it in report.items:
        if it.status == "failed":
            err_console.print(f"[red]failed[/] {it.src}: {it.error}", highlight=False)
        elif it.status == "skipped":
            console.print(f"skipped {it.src}: {it.dst} exists (--overwrite to replace)", highlight=False)
        else:
            steps = ", ".join(f"{s['name']}:{s['method']}" + (" (dropped)" if s.get("dropped") else "") for s in it.steps) or "nothing to do"
            console.print(f"{it.src} -> {it.dst}: {steps} ({it.seconds:.2f}s)", highlight=False)
    _print_summary(report)
    if not report.ok:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- batch
def _print_summary(report: Any) -> None:
    s = report.summary()
    console.print(
        f"[bold]{s['restored']} restored[/] (steps ran), {s['unchanged']} unchanged (nothing needed), "
        f"{s['skipped']} skipped (output existed), "
        f"[{'red' if s['failed'] else 'green'}]{s['failed']} failed[/] of {s['total']} in {s['elapsed_s']:.1f}s "
        f"({s['images_per_s']:.2f} images/s, engine {s['engine']}, workers {s['workers']})"
    )


def batch_cmd(
    in_dir: Path = typer.Argument(..., help="Folder of images (searched recursively; sub-folders are kept)."),
    out_dir: Path = typer.Argument(..., help="Output folder (created)."),
    workers: int = typer.Option(2, "--workers", "-j", help="Local engine: decode/encode threads. Ray: actors (each holds one model)."),
    engine: str = typer.Option("local", "--engine", help="local (one model here, threads for I/O) or ray (Ray Data)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join ('auto' or ray://host:10001); default: a local Ray instance."),
    report: list[Path] = typer.Option([], "--report", help="Write a report: .json (summary + per image) and/or .csv; repeatable."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Upscale by this factor."),
    target_size: Optional[str] = typer.Option(None, "--target-size", help="Upscale/resize every image to WIDTHxHEIGHT."),
    steps: Optional[str] = typer.Option(None, "--steps", help="Steps instead of the automatic plan (e.g. denoise,upscale or denoise:nlm)."),
    enhance: bool = typer.Option(False, "--enhance", help="Also dehaze / correct exposure when the detectors find haze or an exposure error."),
    model: Optional[str] = typer.Option(None, "--model", help="Force a model (zoo name or weights path)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    prefer: str = typer.Option("auto", "--prefer", help="auto, neural or classical."),
    tile: str = typer.Option("auto", "--tile", help="Tile side in pixels, 'auto' or 'none'."),
    time_budget: float = typer.Option(60.0, "--time-budget", help="Seconds per image the classical method choice should fit (0: no limit)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo images whose output exists (default: skip them, so a rerun resumes)."),
    format: Optional[str] = typer.Option(None, "--format", help="Output format for every image: png, jpg, tif, webp, bmp (default: keep each input's)."),
    quality: int = typer.Option(95, "--quality", help="JPEG/WebP output quality (1-100)."),
) -> None:
    """Restore a folder of images: progress bar, resumable, JSON/CSV report; --engine ray for a cluster.

    Exit code 1 if any image failed (all others are still done)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from restora.batch import run_batch
    from restora.pipeline import RestorePipeline

    engine = engine.lower()
    if engine not in ("local", "ray"):
        raise InvalidParameterError(f"--engine must be local or ray; got {engine!r}")
    if not in_dir.is_dir():
        raise InvalidParameterError(f"{in_dir} is not a folder")
    from restora.batch import check_report_path

    for r in report:  # before any work: an unwritable report must not fail the job at its end
        check_report_path(r)
    plan_options = _plan_options(scale, target_size, steps, enhance)
    pipeline_options = _pipeline_options(device, model, prefer, tile, time_budget)
    failures: list[Any] = []
    with Progress(
        TextColumn("[bold]restoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("batch", total=None, note="")

        def progress(done: int, total: int, item: Any) -> None:
            if item.status == "failed":
                failures.append(item)
            bar.update(task, completed=done, total=total, note=f"{len(failures)} failed" if failures else "")

        if engine == "ray":
            from restora.distributed import run_ray_batch

            result = run_ray_batch(in_dir, out_dir, address=address, concurrency=workers, pipeline_options=pipeline_options, format=format, quality=quality, overwrite=overwrite, progress=progress, **plan_options)
        else:
            if address:
                raise InvalidParameterError("--address needs --engine ray")
            pipe = RestorePipeline(**pipeline_options)
            result = run_batch(in_dir, out_dir, pipeline=pipe, workers=workers, format=format, quality=quality, overwrite=overwrite, progress=progress, **plan_options)
    for it in result.items:
        if it.status == "failed":
            err_console.print(f"[red]failed[/] {it.src}: {it.error}", highlight=False, soft_wrap=True)
    for r in report:
        result.write(r)
        console.print(f"report: {r}", highlight=False)
    _print_summary(result)
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("restore")(restore_cmd)
    app.command("batch")(batch_cmd)
