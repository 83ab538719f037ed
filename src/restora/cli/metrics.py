"""``restora metrics RESTORED [REFERENCE]``: measure images with the field's metrics.

Files or folders (pairs matched by file name stem). Prints a table with one row per image
and the mean; ``--csv`` writes the same rows. Conventions: docs/metrics.md.
"""

from __future__ import annotations

import csv as csv_module
import io
import math
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from restora.atomic import atomic_write, check_output_file
from restora.cli._paths import same_file
from restora.errors import InvalidParameterError, MissingResourceError, RestoraError
from restora.io import FORMATS

console = Console()
err_console = Console(stderr=True)

_LABEL = {"psnr": "PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "lpips": "LPIPS", "niqe": "NIQE", "fid": "FID"}


def _fmt(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.4f}"


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InvalidParameterError(f"--device must be cpu, cuda, cuda:N or auto; got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
    return device


def metrics_command(
    restored: Path = typer.Argument(..., help="Restored image, or folder of images."),
    reference: Optional[Path] = typer.Argument(
        None, help="Reference (ground-truth) image or folder; may be left out for NIQE only."
    ),
    y_channel: bool = typer.Option(False, "--y-channel", help="PSNR/SSIM on the BT.601 Y channel (MATLAB rgb2ycbcr)."),
    crop: int = typer.Option(0, "--crop", min=0, help="Pixels removed from every border (SR: the scale)."),
    round_u8: bool = typer.Option(
        False, "--round/--no-round", help="Measure as MATLAB on 8-bit images: round RGB (and Y) to 8 bit first."
    ),
    metrics: str = typer.Option("psnr,ssim", "--metrics", "-m", help="Comma-separated: psnr, ssim, ms_ssim, lpips, niqe, fid."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the per-image rows and the mean to this CSV file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow replacing an existing --csv file."),
    lpips_net: str = typer.Option("alex", "--lpips-net", help="LPIPS trunk: alex or vgg."),
    weights_dir: Optional[Path] = typer.Option(None, "--weights-dir", help="Folder holding LPIPS/FID weights files."),
    device: str = typer.Option("cpu", "--device", help="Device for LPIPS/FID: cpu, cuda, cuda:N or auto."),
) -> None:
    """Measure RESTORED against REFERENCE (files or folders matched by name)."""
    from restora.metrics import compute_metrics, fid_from_folders, pair_files, parse_metric_names
    from restora.metrics._imread import read_rgb_or_gray

    names = parse_metric_names(metrics)
    if csv is not None:  # before any work: an unwritable CSV must not fail the run at its end
        if csv.suffix.lower() in FORMATS:
            raise InvalidParameterError(f"--csv {csv} has an image suffix; give a .csv file name")
        for image_path in (restored, reference):
            if image_path is not None and same_file(csv, image_path):
                raise InvalidParameterError(f"--csv {csv} is one of the inputs; restora never writes over its input")
        check_output_file(csv, "--csv file", overwrite=overwrite)
    if any(n in ("lpips", "fid") for n in names):
        device = _resolve_device(device)
    per_image = [n for n in names if n != "fid"]
    if reference is None and any(n in ("psnr", "ssim", "ms_ssim", "lpips", "fid") for n in names):
        raise InvalidParameterError("REFERENCE is needed for psnr, ssim, ms_ssim, lpips and fid (only niqe works without)")
    pairs, only_r, only_g = pair_files(restored, reference) if per_image else ([], [], [])
    for label, missing in (("restored", only_r), ("reference", only_g)):
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            err_console.print(f"[yellow]warning:[/] {len(missing)} image(s) only in the {label} folder skipped: {shown}")

    rows: list[tuple[str, dict[str, float] | str]] = []
    mismatched: list[tuple[str, tuple[int, int], tuple[int, int]]] = []  # (image, restored HxW, reference HxW)
    for name, rp, gp in pairs:
        try:
            a = read_rgb_or_gray(rp)
            b = read_rgb_or_gray(gp) if gp is not None else None
            if b is not None and a.shape[:2] != b.shape[:2]:
                mismatched.append((name, a.shape[:2], b.shape[:2]))
            values = compute_metrics(a, b, metrics=per_image, crop=crop, y_channel=y_channel, round_to_uint8=round_u8,
                                     lpips_net=lpips_net, weights_dir=weights_dir, device=device)
            rows.append((name, values))
        except RestoraError as exc:
            if isinstance(exc, MissingResourceError):
                raise  # a missing weights file fails every image alike: stop with its message
            rows.append((name, str(exc)))

    good = [v for _, v in rows if isinstance(v, dict)]
    means = {n: float(sum(v[n] for v in good) / len(good)) for n in per_image} if good else {}
    fid_value = None
    if "fid" in names:
        if reference is None or not (restored.is_dir() and reference.is_dir()):
            raise InvalidParameterError("fid compares two folders of images: give RESTORED and REFERENCE folders")
        fid_value = fid_from_folders(restored, reference, weights_dir=weights_dir, device=device)

    conv = ["Y channel (BT.601)" if y_channel else "RGB", f"crop {crop}", "8-bit rounding" if round_u8 else "no rounding"]
    if per_image:
        table = Table(title=f"restora metrics: {restored}" + (f" vs {reference}" if reference else ""),
                      caption=", ".join(conv))
        table.add_column("image")
        for n in per_image:
            table.add_column(_LABEL[n], justify="right")
        for name, v in rows:
            if isinstance(v, dict):
                table.add_row(escape(name), *(_fmt(v[n]) for n in per_image))
            else:
                table.add_row(escape(name), f"[red]error: {escape(v)}[/]", *([""] * (len(per_image) - 1)))
        if means:
            table.add_section()
            table.add_row(f"mean ({len(good)})", *(_fmt(means[n]) for n in per_image), style="bold")
        console.print(table)
    if fid_value is not None:
        console.print(f"FID: {_fmt(fid_value)}  ({restored} vs {reference})")

    if csv is not None:
        header = ["image"] + per_image + (["fid"] if fid_value is not None else []) + ["error"]
        fh = io.StringIO()
        # the rows go to memory, then to the file atomically
        w = csv_module.writer(fh)
        w.writerow(header)
        for name, v in rows:
            if isinstance(v, dict):
                w.writerow([name] + [repr(v[n]) for n in per_image] + ([""] if fid_value is not None else []) + [""])
            else:
                w.writerow([name] + [""] * len(per_image) + ([""] if fid_value is not None else []) + [v])
        w.writerow([f"mean ({len(good)})"] + [repr(means[n]) if means else "" for n in per_image]
                   + ([repr(fid_value)] if fid_value is not None else []) + [""])
        text = fh.getvalue()
        atomic_write(csv, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""))
        err_console.print(f"wrote {csv}")
    failed = [name for name, v in rows if not isinstance(v, dict)]
    if failed:  # exit non-zero: a mean over the images that could be measured is not the set's score
        what = "no image could be measured" if not good else f"{len(failed)} of {len(rows)} image(s) could not be measured"
        hint = _size_hint(mismatched)
        raise InvalidParameterError(f"{what} (see the errors above){'; ' + hint if hint else ''}")


def _size_hint(mismatched: list[tuple[str, tuple[int, int], tuple[int, int]]]) -> str:
    """One sentence on images whose sizes differ: which, and what to do about it."""
    if not mismatched:
        return ""
    name, (ha, wa), (hb, wb) = mismatched[0]
    more = f" and {len(mismatched) - 1} more" if len(mismatched) > 1 else ""
    text = f"sizes differ ({name}: restored {ha}x{wa}, reference {hb}x{wb}{more})"
    big, small = max((ha, wa), (hb, wb)), min((ha, wa), (hb, wb))
    ratio = big[0] / max(small[0], 1)
    if ratio >= 1.5:
        text += f": about x{round(ratio)} apart, so one side is not at the other's scale (upscale the input, or compare with the HR image)"
    elif max(abs(ha - hb), abs(wa - wb)) < 8:
        text += (": a few pixels apart, as when the reference was not cut to a multiple of the SR scale; "
                 "crop the larger image to the smaller size (restora degrade cuts HR sizes to a multiple of --scale), "
                 "and use --crop SCALE to leave out the borders")
    else:
        text += ": PSNR/SSIM compare images of one size; resize or crop one to the other's size (--crop only trims borders)"
    return text


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_command)
