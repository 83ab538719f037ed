"""``restora deblur IN OUT [--method auto|wiener|rl|map|blind] [--kernel K] [--sigma S]``: deconvolution.

With no options it is blind: ``auto`` is ``map`` when ``--kernel`` is given and ``blind``
otherwise, with the kernel support fitted to the blur that
:func:`restora.classical.blur_detect.detect_blur` measures (31 px when none is found).

Non-blind methods (wiener, rl = Richardson-Lucy, map = MAP with a hyper-Laplacian prior,
map-tv) need the blur kernel: ``--kernel`` a ``.npy`` array or an image (gray; it is
normalised to sum 1). ``blind`` estimates the kernel (support ``--kernel-size``) and can save
it with ``--save-kernel`` (``.npy``, or an image scaled to its peak). ``--sigma`` is the noise
level in 8-bit levels (estimated from the image when omitted). Alpha is carried through.
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

METHODS = ("auto", "wiener", "rl", "map", "map-tv", "blind")


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
    method: str = typer.Option("auto", "--method", "-m", help="auto (map with --kernel, else blind) | wiener | rl | map | map-tv | blind"),
    kernel: Optional[Path] = typer.Option(None, "--kernel", "-k", help="Blur kernel (.npy or image); non-blind methods."),
    sigma: Optional[float] = typer.Option(
        None, "--sigma", min=0, max=255, help="Noise std in 8-bit levels (estimated when omitted)."),
    kernel_size: Optional[int] = typer.Option(None, "--kernel-size", min=3, help="blind: kernel support (odd, pixels; default: fitted to the measured blur)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", min=1, help="rl: iterations (default 30)."),
    save_kernel_to: Optional[Path] = typer.Option(None, "--save-kernel", help="blind: write the estimated kernel."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Deblur IN into OUT by deconvolution (known kernel) or blind deconvolution."""
    from restora import io as rio
    from restora.classical.blind import blind_deconvolve
    from restora.classical.deconvolve import map_deconvolution, richardson_lucy, wiener

    if method not in METHODS:
        raise InvalidParameterError(f"--method must be one of {', '.join(METHODS)}; got {method!r}")
    if method == "auto":
        method = "map" if kernel is not None else "blind"
    check_file_pair(src, dst, overwrite)
    if save_kernel_to is not None:
        if method != "blind":
            raise ConfigError("--save-kernel saves the kernel that --method blind estimates; use it with --method blind")
        check_kernel_path(save_kernel_to, src, dst, overwrite)
    if method != "blind" and kernel is None:
        raise ConfigError(f"--method {method} needs --kernel (or use --method blind)")
    k = load_kernel(kernel) if kernel is not None and method != "blind" else None
    img, info = rio.read_image_info(src)
    color, alpha = rio.split_alpha(img)
    if sigma is None:
        from restora.classical.estimate import estimate_noise_sigma

        sigma = float(estimate_noise_sigma(color))
        how = "estimated"
    else:
        how = "given"
    t0 = time.perf_counter()
    if method == "wiener":
        out = wiener(color, k, sigma=sigma)
    elif method == "rl":
        out = richardson_lucy(color, k, iterations=iterations or 30)
    elif method in ("map", "map-tv"):
        out = map_deconvolution(color, k, prior="tv" if method == "map-tv" else "hyper-laplacian", sigma=sigma)
    else:
        if kernel_size is None:
            from restora.classical.blur_detect import detect_blur, kernel_support

            found = detect_blur(color)
            kernel_size = kernel_support(found.size_px, cap=61) if found.kind != "none" and found.size_px > 0 else 31
        if how == "estimated":  # an estimated kernel needs firmer regularisation (see BLIND_DECONV_SIGMA)
            from restora.pipeline.plan import BLIND_DECONV_SIGMA

            sigma = max(sigma, BLIND_DECONV_SIGMA)
            how = f"estimated, at least {BLIND_DECONV_SIGMA:g} for a blind kernel"
        out, k = blind_deconvolve(color, kernel_size, sigma=sigma)
        if save_kernel_to is not None:
            save_kernel(save_kernel_to, k, overwrite)
    seconds = time.perf_counter() - t0
    rio.write_image(dst, rio.merge_alpha(out, alpha), overwrite=overwrite, info=info)
    console.print(
        f"{src} -> {dst} ({method}, kernel {k.shape[0]}x{k.shape[1]}, sigma {sigma:.2f} {how}, {seconds:.2f} s)",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("deblur")(deblur_command)
