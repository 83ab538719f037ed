"""``restora deblur IN OUT [--method M] [--kernel K] [--sigma S]``: a thin wrapper over
:func:`restora.pipeline.deblur.deblur_image`.

With no options it is blind: ``auto`` is ``blind`` (kernel estimated, support fitted to the
blur :func:`restora.classical.blur_detect.detect_blur` measures, 31 px when none is found;
then hyper-Laplacian MAP deconvolution) and ``pnp`` (plug-and-play with the shipped denoiser
as prior) when ``--kernel`` is given (a ``.npy`` array or an image, normalised to sum 1).
Other known-kernel methods: wiener, rl (Richardson-Lucy), map (hyper-Laplacian MAP), map-tv;
other blind ones: blind-pnp (estimate + plug-and-play), blind-vb (variational-Bayes
estimate + MAP); ``learned`` runs a trained deblurring network given with ``--model`` (an
installed zoo name or a ``.safetensors`` file). A blind method can save
its kernel with ``--save-kernel`` (``.npy``, or an image scaled to its peak). ``--sigma`` is
the noise level in 8-bit levels (estimated when omitted). Alpha is carried through.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console

from restora.cli._paths import check_file_pair, check_output_folder_exists, same_file
from restora.errors import ConfigError, ImageReadError, InvalidParameterError, OutputExistsError

console = Console()



def load_kernel(path: Path) -> np.ndarray:
    """A blur kernel from ``.npy`` (2-D, no pickle) or an image file (gray or mean of RGB), sum 1."""
    from restora import io as rio

    if not path.is_file():
        raise ConfigError(f"kernel file {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            k = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ImageReadError(f"kernel file {path} is not a readable .npy array: {exc}") from None
    else:
        k = rio.read_image(path)
        k = k[:, :, :3].mean(axis=2) if k.shape[2] >= 3 else k[:, :, 0]
    k = np.asarray(k, dtype=np.float64)
    if k.ndim == 3 and k.shape[2] == 1:
        k = k[:, :, 0]
    if k.ndim != 2 or not np.all(np.isfinite(k)) or k.sum() <= 0:
        raise InvalidParameterError(f"kernel {path} must be a finite 2-D array with a positive sum")
    return k / k.sum()


def check_kernel_path(path: Path, src: Path, dst: Path, overwrite: bool) -> None:
    """Check ``--save-kernel`` before any work: a ``.npy`` or image file name, not IN or OUT,
    in an existing writable folder, and not existing unless ``overwrite``."""
    from restora.io import FORMATS

    if path.suffix.lower() != ".npy" and path.suffix.lower() not in FORMATS:
        raise InvalidParameterError(f"--save-kernel {path} must be a .npy or image file ({', '.join(FORMATS)})")
    if same_file(path, src) or same_file(path, dst):
        raise InvalidParameterError(f"--save-kernel {path} must differ from IN and OUT; restora never writes over its input")
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    check_output_folder_exists(path)


def save_kernel(path: Path, kernel: np.ndarray, overwrite: bool) -> None:
    """Write the kernel as ``.npy`` (atomically) or as an image scaled to its peak."""
    from restora import io as rio
    from restora.atomic import atomic_write

    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    if path.suffix.lower() == ".npy":
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, kernel.astype(np.float64), allow_pickle=False)

        atomic_write(path, write)
    else:
        rio.write_image(path, (kernel / max(kernel.max(), 1e-12))[:, :, None], overwrite=overwrite)


def deblur_command(
    src: Path = typer.Argument(..., metavar="IN", help="Blurred image file."),
    dst: Path = typer.Argument(..., metavar="OUT", help="Output image file."),
    method: str = typer.Option("auto", "--method", "-m", help="auto (pnp with --kernel, else blind) | pnp | wiener | rl | map | map-tv | blind | blind-pnp | blind-vb | learned"),
    model: Optional[str] = typer.Option(None, "--model", help="learned: the deblurring network (installed name or .safetensors file)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", "-k", help="Blur kernel (.npy or image); known-kernel methods."),
    sigma: Optional[float] = typer.Option(
        None, "--sigma", min=0, max=255, help="Noise std in 8-bit levels (estimated when omitted)."),
    kernel_size: Optional[int] = typer.Option(None, "--kernel-size", min=3, help="blind: kernel support (odd, pixels; default: fitted to the measured blur)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", min=1, help="rl: iterations (default 30)."),
    save_kernel_to: Optional[Path] = typer.Option(None, "--save-kernel", help="blind: write the estimated kernel."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Deblur IN into OUT: blind by default (kernel estimated), or with a known --kernel."""
    from restora import io as rio
    from restora.pipeline.deblur import BLIND_METHODS, LEARNED_METHOD, deblur_image, resolve_method

    name = resolve_method(method, kernel is not None)
    if (model is not None) != (name == LEARNED_METHOD):
        raise ConfigError(f"--model goes with --method {LEARNED_METHOD} (and only with it)")
    check_file_pair(src, dst, overwrite)
    if save_kernel_to is not None:
        if name not in BLIND_METHODS:
            raise ConfigError(f"--save-kernel saves the kernel a blind method estimates ({', '.join(BLIND_METHODS)}); not {name}")
        check_kernel_path(save_kernel_to, src, dst, overwrite)
    k = load_kernel(kernel) if kernel is not None and name not in BLIND_METHODS else None
    img, info = rio.read_image_info(src)
    color, alpha = rio.split_alpha(img)
    t0 = time.perf_counter()
    result = deblur_image(color, method=name, kernel=k, sigma=sigma, kernel_size=kernel_size, iterations=iterations, model=model)
    seconds = time.perf_counter() - t0
    if save_kernel_to is not None:
        save_kernel(save_kernel_to, result.kernel, overwrite)
    rio.write_image(dst, rio.merge_alpha(result.image, alpha), overwrite=overwrite, info=info)
    if result.kernel is None:
        what = f"{result.method}, {model}"
    else:
        kh, kw = result.kernel.shape
        what = f"{result.method}, kernel {kh}x{kw}, sigma {result.sigma:.2f} {result.sigma_source}"
    console.print(
        f"{src} -> {dst} ({what}, {seconds:.2f} s)",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("deblur")(deblur_command)
