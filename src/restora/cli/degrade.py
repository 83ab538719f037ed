"""``restora degrade IN OUT``: synthesise degraded images from clean ones, with a JSON record.

Files or folders (folder -> folder, same file names, non-recursive). Each output gets a
sidecar ``OUT.json`` (the output's full name plus ``.json``, e.g. ``lr.png.json``) holding
the pipeline record: every applied step with its drawn parameters, enough to replay it.

Per-image seeds: image ``NAME`` (the file name, without folder) is degraded with the seed
``numpy.random.SeedSequence([SEED, crc32(NAME)]).generate_state(1, uint64)[0]``, so an
image gets the same degradation whether it is processed alone or in a folder, and adding
files to a folder changes nothing for the others.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from restora.atomic import check_output_folder, create_temp
from restora.cli._failures import exit_if_failed
from restora.cli._paths import check_output_folder_exists, same_file
from restora.errors import ConfigError, ImageWriteError, InvalidParameterError, OutputExistsError, RestoraError

console = Console()
err_console = Console(stderr=True)

NAMED_PIPELINES = ("realesrgan", "bsrgan", "classical")
_LOSSY = (".jpg", ".jpeg", ".webp")
#: Largest --blur sigma (pixels): its 6-sigma kernel (601 taps) stays within the kernel limit.
MAX_BLUR = 100.0


def image_seed(seed: int, name: str) -> int:
    """The per-image seed for file ``name`` under the command's ``--seed`` (see module doc)."""
    crc = zlib.crc32(name.encode("utf-8"))
    return int(np.random.SeedSequence([int(seed), crc]).generate_state(1, np.uint64)[0])


def _print_presets() -> None:
    from restora.degrade.presets import PRESETS

    table = Table(title="Degradation presets (restora degrade IN OUT --preset NAME)")
    table.add_column("preset")
    table.add_column("scale")
    table.add_column("description")
    for p in PRESETS.values():
        table.add_row(p.name, f"x{p.scale}" if p.scale > 1 else "-", p.description)
    console.print(table)


Degrader = Callable[[np.ndarray, int], tuple[np.ndarray, dict[str, Any]]]


def _build(pipeline: str | None, preset: str | None, scale: int | None, sigma: float | None,
           quality: int | None, blur: float | None, downsample: str) -> tuple[str, Degrader]:
    """Check the options and return (description, function(image, seed) -> (out, record))."""
    from restora import degrade as D
    from restora.degrade.presets import apply_preset, get_preset

    simple = {"--sigma": sigma, "--quality": quality, "--blur": blur}
    given_simple = [k for k, v in simple.items() if v is not None]
    if preset is not None:
        if pipeline is not None:
            raise ConfigError("give either --preset or --pipeline, not both")
        clash = given_simple + (["--scale"] if scale is not None else [])
        if clash:
            raise ConfigError(f"{clash[0]} cannot be combined with --preset (a preset fixes its parameters)")
        get_preset(preset)
        return f"preset {preset}", lambda img, s: apply_preset(img, preset, s)
    if pipeline is None:
        if not given_simple and scale is None:
            raise ConfigError("nothing to do: give --pipeline, --preset, or any of --scale, --blur, --sigma, --quality")
        pipeline = "classical"
    if pipeline in ("realesrgan", "bsrgan"):
        if given_simple:
            raise ConfigError(f"{given_simple[0]} applies to --pipeline classical only")
        fn = D.realesrgan_degradation if pipeline == "realesrgan" else D.bsrgan_degradation
        sc = 4 if scale is None else scale
        if pipeline == "bsrgan" and sc not in (2, 3, 4):
            raise InvalidParameterError(f"--scale must be 2, 3 or 4 for --pipeline bsrgan; got {sc}")
        return f"{pipeline} x{sc}", lambda img, s: fn(img, sc, s)
    if pipeline == "classical":
        sc = 1 if scale is None else scale
        blurred = blur is not None and blur > 0
        full_size = 2 * int(np.ceil(3 * blur)) + 1 if blurred else 1
        kernels: dict[int, np.ndarray] = {}

        def classical(img: np.ndarray, s: int) -> tuple[np.ndarray, dict[str, Any]]:
            if sc > min(img.shape[:2]):
                raise InvalidParameterError(
                    f"--scale {sc} is larger than the image ({img.shape[1]} x {img.shape[0]} pixels)")
            kernel = None
            if blurred:  # 6 sigma wide, but never wider than the image needs
                size = D.fit_kernel_size(full_size, img.shape)
                kernel = kernels.get(size)
                if kernel is None:
                    kernel = kernels[size] = D.gaussian_kernel(size, blur)
            out, rec = D.classical_degradation(img, kernel=kernel, scale=sc, sigma=sigma or 0.0, rng=s,
                                               downsample=downsample)
            if quality is not None:
                out, jrec = D.run_pipeline(out, [{"jpeg": {"quality": quality}}])
                rec["steps"].extend(jrec["steps"])
                rec["output_shape"] = list(out.shape)
                rec["quality"] = quality
            return out, rec

        parts = [f"x{sc} ({downsample})" if sc > 1 else None, f"blur sigma {blur}" if blurred else None,
                 f"noise sigma {sigma}" if sigma else None, f"JPEG q{quality}" if quality is not None else None]
        return "classical " + ", ".join(p for p in parts if p), classical
    # a YAML pipeline file
    if scale is not None or given_simple:
        flag = "--scale" if scale is not None else given_simple[0]
        raise ConfigError(f"{flag} cannot be combined with a YAML pipeline (put it in the file)")
    path = Path(pipeline)
    if not path.is_file():
        raise ConfigError(f"--pipeline must be one of {', '.join(NAMED_PIPELINES)} or a YAML file; {pipeline!r} is neither")
    steps = D.load_pipeline(path)
    return f"pipeline {path.name}", lambda img, s: D.run_pipeline(img, steps, s)


def _sidecar(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".json")


def _write_json_atomic(path: Path, data: dict[str, Any], overwrite: bool) -> None:
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    tmp: Path | None = None
    try:
        fd, tmp = create_temp(path)  # .<name>.<pid>.<hex>.tmp, cleaned up if a run is killed
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile: never replaces
            os.unlink(tmp)
        tmp = None
    except FileExistsError:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it") from None
    except OSError as e:
        raise ImageWriteError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _cut_size(hr: tuple[int, ...], lr: tuple[int, ...], scale: Any = None) -> tuple[int, int] | None:
    """The HR size a downscaled output corresponds to, when the pipeline cut the clean image to
    a multiple of the scale (top-left kept); None when nothing was cut or the size did not shrink."""
    (h, w), (oh, ow) = hr[:2], lr[:2]
    if oh <= 0 or ow <= 0:
        return None
    k = scale if isinstance(scale, int) and scale > 1 else h // oh
    if k < 2 or h // k != oh or w // k != ow:
        return None
    cut = (oh * k, ow * k)
    return cut if cut != (h, w) else None


def _cut_note(src: str, hr: list[int], cut: list[int]) -> str:
    return (f"note: {src} ({hr[1]} x {hr[0]} px) was cut to {cut[1]} x {cut[0]}, a multiple of the scale, before downscaling "
            "(record key 'cropped_to'); compare upscaled results with the same top-left crop of the clean image")


def _degrade_file(src: Path, dst: Path, fn: Degrader, seed: int, overwrite: bool) -> dict[str, Any]:
    from restora import io as rio
    from restora.degrade import resize

    img, info = rio.read_image_info(src)
    color, alpha = rio.split_alpha(img)
    s = image_seed(seed, src.name)
    out, record = fn(color, s)
    if alpha is not None:  # carry the alpha, resized like the colour when the size changed
        if alpha.shape[:2] != out.shape[:2]:
            (h, w), (oh, ow) = alpha.shape[:2], out.shape[:2]
            k = h // oh
            if k >= 1 and w // ow == k:  # an integer shrink: crop as the pipeline did, then average
                alpha = alpha[: oh * k, : ow * k]
            alpha = np.clip(resize(alpha, size=(oh, ow), method="area").image, 0.0, 1.0)
        out = rio.merge_alpha(out, alpha)
    rio.write_image(dst, out, overwrite=overwrite, info=info)
    sidecar = {"input": str(src), "output": str(dst), "cli_seed": seed, "image_seed": s,
               "alpha": "carried" if alpha is not None else None, **record}
    cut = _cut_size(color.shape[:2], out.shape[:2], record.get("scale"))
    if cut is not None:  # the pipeline cut the clean image to a multiple of the scale: the pair is (cut HR, LR)
        sidecar["cropped_from"], sidecar["cropped_to"] = list(color.shape[:2]), list(cut)
    _write_json_atomic(_sidecar(dst), sidecar, overwrite)
    return sidecar


def degrade(
    src: Optional[Path] = typer.Argument(None, metavar="IN", help="Clean image file or folder of images."),
    dst: Optional[Path] = typer.Argument(None, metavar="OUT", help="Output file, or folder (created) for a folder IN."),
    pipeline: Optional[str] = typer.Option(
        None, "--pipeline", "-p", help="realesrgan, bsrgan, classical, or a YAML pipeline file."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named preset (see --list-presets)."),
    scale: Optional[int] = typer.Option(
        None, "--scale", "-s", min=1, help="Downscaling factor (realesrgan/bsrgan default 4, classical 1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Base seed; each image's seed mixes in its file name."),
    sigma: Optional[float] = typer.Option(None, "--sigma", min=0, max=255, help="classical: Gaussian noise sigma (8-bit levels, 0-255)."),
    quality: Optional[int] = typer.Option(None, "--quality", min=1, max=100, help="classical: final JPEG quality."),
    blur: Optional[float] = typer.Option(None, "--blur", min=0, max=MAX_BLUR, help=f"classical: Gaussian blur kernel sigma (pixels, 0-{MAX_BLUR:g})."),
    downsample: str = typer.Option("bicubic", "--downsample", help="classical: bicubic (MATLAB) or direct (decimation)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs and sidecars."),
    list_presets: bool = typer.Option(False, "--list-presets", help="List the presets and exit."),
) -> None:
    """Degrade IN into OUT (files or folders) and write a JSON record beside each output (OUT.json)."""
    if list_presets:
        _print_presets()
        return
    if src is None or dst is None:
        raise ConfigError("give IN and OUT (or --list-presets)")
    if downsample not in ("bicubic", "direct"):
        raise InvalidParameterError(f"--downsample must be bicubic or direct; got {downsample!r}")
    what, fn = _build(pipeline, preset, scale, sigma, quality, blur, downsample)
    if not src.exists():
        raise ConfigError(f"input {src} does not exist")
    if src.is_dir():
        _run_folder(src, dst, fn, what, seed, overwrite)
        return
    if dst.is_dir():
        dst = dst / src.name
    if same_file(src, dst) or same_file(src, _sidecar(dst)):
        raise ConfigError(f"OUT must differ from IN ({src}); restora never writes over its input")
    check_output_folder_exists(dst)
    if not overwrite:
        for p in (dst, _sidecar(dst)):
            if os.path.lexists(p):
                raise OutputExistsError(f"{p} already exists; pass --overwrite to replace it")
    rec = _degrade_file(src, dst, fn, seed, overwrite)
    console.print(f"{src} -> {dst} ({what}, seed {rec['image_seed']}); record {_sidecar(dst)}", highlight=False,
                  soft_wrap=True)
    if "cropped_to" in rec:
        err_console.print(escape(_cut_note(str(src), rec["cropped_from"], rec["cropped_to"])),
                          highlight=False, soft_wrap=True)
    if dst.suffix.lower() in _LOSSY:
        err_console.print(f"note: {dst.suffix} output is re-encoded lossily on write; use .png for exact results",
                          highlight=False, soft_wrap=True)


def _run_folder(src: Path, dst: Path, fn: Degrader, what: str, seed: int, overwrite: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from restora.data import list_images

    if dst.exists() and not dst.is_dir():
        raise ConfigError(f"OUT {dst} must be a folder when IN is a folder")
    if same_file(src, dst):
        raise ConfigError(f"OUT must differ from IN ({src}); restora never writes over its input")
    check_output_folder(dst)
    files = list_images(src)
    if not files:
        raise ConfigError(f"no images found in {src}")
    if not overwrite:
        existing = [p for f in files for p in (dst / f.name, _sidecar(dst / f.name)) if os.path.lexists(p)]
        if existing:
            raise OutputExistsError(
                f"{len(existing)} output file(s) already exist in {dst} (first: {existing[0].name}); "
                "pass --overwrite to replace them")
    dst.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[str, str]] = []
    cut = 0
    with Progress(TextColumn("[bold]degrade"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), console=err_console, transient=False) as progress:
        task = progress.add_task("", total=len(files))
        for f in files:
            progress.update(task, description=f.name)
            try:
                if "cropped_to" in _degrade_file(f, dst / f.name, fn, seed, overwrite):
                    cut += 1
            except RestoraError as exc:
                failed.append((f.name, str(exc)))
            except Exception as exc:  # a batch records every failure and goes on
                failed.append((f.name, f"{type(exc).__name__}: {exc}"))
            progress.advance(task)
    done = len(files) - len(failed)
    console.print(f"degraded {done}/{len(files)} images from {src} into {dst} ({what}, seed {seed}); "
                  "records: <output>.json", highlight=False, soft_wrap=True)
    if cut:
        err_console.print(f"note: {cut} image(s) were cut to a multiple of the scale before downscaling (record key 'cropped_to'); "
                          "compare upscaled results with the same top-left crop of the clean images", highlight=False, soft_wrap=True)
    exit_if_failed(failed, err_console)


def register(app: typer.Typer) -> None:
    app.command("degrade")(degrade)
