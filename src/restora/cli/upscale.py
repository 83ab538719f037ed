"""``restora upscale IN OUT --scale 4 --method bicubic|patch-sr``: classical upscaling of a file.

Methods: nearest, bilinear, bicubic (MATLAB-compatible), lanczos, patch-sr (example-based,
integer scales 2, 3, 4 with the shipped models). Alpha is upscaled with bicubic; the output
keeps the input's bit depth where the format allows. OUT is never replaced without
``--overwrite`` and may not be IN.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from restora.cli._paths import check_file_pair

console = Console()


def upscale_command(
    src: Path = typer.Argument(..., metavar="IN", help="Low-resolution image file."),
    dst: Path = typer.Argument(..., metavar="OUT", help="Output image file."),
    scale: float = typer.Option(4.0, "--scale", "-s", help="Upscaling factor (integer 2-4 for patch-sr)."),
    method: str = typer.Option(
        "bicubic", "--method", "-m", help="nearest | bilinear | bicubic | lanczos | patch-sr"),
    ensemble: bool = typer.Option(False, "--ensemble", help="patch-sr: average the 8 flips/rotations (8x slower)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Upscale IN by --scale into OUT."""
    from restora import io as rio
    from restora.classical.upscale import upscale
    from restora.degrade.resize import imresize

    check_file_pair(src, dst, overwrite)
    img, info = rio.read_image_info(src)
    color, alpha = rio.split_alpha(img)
    t0 = time.perf_counter()
    out = upscale(color, scale, method.replace("-", "_") if method == "patch-sr" else method, ensemble=ensemble)
    if alpha is not None:
        alpha = imresize(alpha, output_shape=out.shape[:2])
    seconds = time.perf_counter() - t0
    rio.write_image(dst, rio.merge_alpha(out, alpha), overwrite=overwrite, info=info)
    console.print(
        f"{src} ({color.shape[1]}x{color.shape[0]}) -> {dst} ({out.shape[1]}x{out.shape[0]}), "
        f"{method} x{scale:g}, {seconds:.2f} s",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("upscale")(upscale_command)
