"""``restora upscale IN OUT --scale 4 [--method auto|NAME]``: super-resolve a file.

``auto`` (the default) uses the shipped super-resolution model for the scale (x2, x3, x4;
other factors chain passes and resize to the exact size), else classical patch-SR, through
:class:`restora.pipeline.RestorePipeline`. A zoo model name (``restora models list``) forces
that model. Classical methods: nearest, bilinear, bicubic (MATLAB-compatible), lanczos,
patch-sr (example-based, integer scales 2, 3, 4). Trained on IN itself: zssr (bicubic kernel
assumed) and kernelgan (KernelGAN estimates IN's kernel, then ZSSR with it; x2/x4). Alpha is upscaled with bicubic; the output
keeps the input's bit depth where the format allows. OUT is never replaced without
``--overwrite`` and may not be IN. ``--ensemble`` averages the method over the 8
flips/rotations of the input (EDSR+ style; 8x the time).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import typer
from rich.console import Console

from restora.cli._paths import check_file_pair
from restora.errors import InvalidParameterError

console = Console()

#: Methods run directly by :func:`restora.classical.upscale.upscale` (no planner).
CLASSICAL = ("nearest", "bilinear", "bicubic", "lanczos", "patch-sr")
#: Methods trained on the input itself (:mod:`restora.classical.zssr`; minutes per image on a CPU).
PER_IMAGE = ("kernelgan", "zssr")


def _upscale_planned(color: np.ndarray, scale: float, method: str, device: str, ensemble: bool) -> tuple[np.ndarray, str]:
    """``auto`` or a catalogue model through the restore pipeline's upscale step
    (``ensemble``: averaged over the 8 flips/rotations of the input)."""
    from restora.pipeline import RestorePipeline
    from restora.restorers import list_restorers

    models = [i.name for i in list_restorers("sr") if i.kind == "neural"]
    if method != "auto" and method not in models:
        valid = ", ".join(["auto", *models, *CLASSICAL])
        raise InvalidParameterError(f"--method {method!r} is not an upscaler; valid: {valid}")
    pipe = RestorePipeline(device=device)
    plan = pipe.plan(color, scale=scale, steps=["upscale" if method == "auto" else f"upscale:{method}"])
    (step,) = plan.steps
    if ensemble:  # the chosen method for every orientation (only the upscale step, no analysis)
        from restora.ensemble import self_ensemble

        out = self_ensemble(lambda im: pipe.restore(im, scale=scale, steps=[f"upscale:{step.method}"]).image, color)
        return out, step.method + "+x8"
    passes = step.params.get("passes") or []
    label = step.method + (f" ({' x '.join(f'x{p}' for p in passes)})" if len(passes) > 1 else "")
    return pipe.run(color, plan).image, label


def upscale_command(
    src: Path = typer.Argument(..., metavar="IN", help="Low-resolution image file."),
    dst: Path = typer.Argument(..., metavar="OUT", help="Output image file."),
    scale: float = typer.Option(4.0, "--scale", "-s", help="Upscaling factor (shipped models: 2, 3, 4)."),
    method: str = typer.Option(
        "auto", "--method", "-m", help="auto (shipped model for the scale) | a zoo model | nearest | bilinear | bicubic | lanczos | patch-sr "
        "| zssr | kernelgan (blind: KernelGAN kernel estimate + ZSSR, x2/x4, minutes on a CPU)"),
    ensemble: bool = typer.Option(False, "--ensemble", help="Average over the 8 flips/rotations of IN (8x slower, sharper)."),
    device: str = typer.Option("auto", "--device", help="Models: auto, cpu, cuda, cuda:N."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Upscale IN by --scale into OUT."""
    from restora import io as rio
    from restora.classical.upscale import upscale
    from restora.degrade.resize import imresize

    check_file_pair(src, dst, overwrite)
    if ensemble and method in CLASSICAL and method != "patch-sr":
        raise InvalidParameterError(f"--ensemble does nothing for {method} interpolation; use it with a model or patch-sr")
    img, info = rio.read_image_info(src)
    color, alpha = rio.split_alpha(img)
    t0 = time.perf_counter()
    if method in CLASSICAL:
        out = upscale(color, scale, method.replace("-", "_") if method == "patch-sr" else method, ensemble=ensemble)
        label = method
    elif method in PER_IMAGE:
        from restora.classical import zssr  # noqa: F401  (registers zssr and kernelgan)
        from restora.restorers import get_restorer

        out = get_restorer(method, ensemble=ensemble)(color, scale=scale)
        label = method + ("+x8" if ensemble else "")
    else:
        out, label = _upscale_planned(color, scale, method, device, ensemble)
    if alpha is not None:
        alpha = imresize(alpha, output_shape=out.shape[:2])
    seconds = time.perf_counter() - t0
    rio.write_image(dst, rio.merge_alpha(out, alpha), overwrite=overwrite, info=info)
    console.print(
        f"{src} ({color.shape[1]}x{color.shape[0]}) -> {dst} ({out.shape[1]}x{out.shape[0]}), "
        f"{label} x{scale:g}, {seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("upscale")(upscale_command)
