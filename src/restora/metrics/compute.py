"""Several metrics at once, by name, and pairing restored/reference files by name.

``crop`` applies to every metric. ``y_channel`` and ``round_to_uint8`` apply to PSNR, SSIM
and MS-SSIM; LPIPS sees the (cropped) RGB image as it is, NIQE the (cropped) image turned
into 8-bit gray by its own MATLAB convention. FID is a set metric (see
:func:`restora.metrics.fid_from_folders`), not computed per image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from restora.data import list_images
from restora.errors import InvalidParameterError

if TYPE_CHECKING:
    from restora.metrics.lpips import LPIPS

__all__ = [
    "METRICS",
    "FULL_REFERENCE_METRICS",
    "NO_REFERENCE_METRICS",
    "SET_METRICS",
    "HIGHER_IS_BETTER",
    "parse_metric_names",
    "compute_metrics",
    "pair_files",
]

FULL_REFERENCE_METRICS = ("psnr", "ssim", "ms_ssim", "lpips")
NO_REFERENCE_METRICS = ("niqe",)
SET_METRICS = ("fid",)
METRICS = FULL_REFERENCE_METRICS + NO_REFERENCE_METRICS + SET_METRICS
#: Direction of each metric (for tables: arrows, best-value marking).
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ms_ssim": True, "lpips": False, "niqe": False, "fid": False}


def parse_metric_names(names: str | Iterable[str]) -> list[str]:
    """Validated metric names from ``"psnr,ssim"`` or a list (``ms-ssim`` = ``ms_ssim``;
    case-insensitive; duplicates dropped, order kept)."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    for raw in items:
        n = str(raw).strip().lower().replace("-", "_")
        if not n:
            continue
        if n not in METRICS:
            raise InvalidParameterError(f"unknown metric {raw!r}; valid: {', '.join(METRICS)}")
        if n not in out:
            out.append(n)
    if not out:
        raise InvalidParameterError(f"no metric given; valid: {', '.join(METRICS)}")
    return out


def compute_metrics(
    restored: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    metrics: str | Sequence[str] = ("psnr", "ssim"),
    crop: int = 0,
    y_channel: bool = False,
    round_to_uint8: bool = False,
    lpips_net: "str | LPIPS" = "alex",
    weights_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """The named per-image metrics of ``restored`` (against ``reference`` for full-reference
    ones), as ``{name: value}`` in the order asked. Set metrics (FID) are refused here.
    ``lpips_net``: ``"alex"``, ``"vgg"`` or an :class:`~restora.metrics.LPIPS` module."""
    names = parse_metric_names(metrics)
    if "fid" in names:
        raise InvalidParameterError("fid is a set metric: use fid_from_folders or fid(features_a, features_b)")
    if reference is None and any(n in FULL_REFERENCE_METRICS for n in names):
        need = [n for n in names if n in FULL_REFERENCE_METRICS]
        raise InvalidParameterError(f"{', '.join(need)} need a reference image")
    from restora.metrics.lpips import lpips
    from restora.metrics.ms_ssim import ms_ssim
    from restora.metrics.niqe import niqe
    from restora.metrics.psnr import psnr
    from restora.metrics.ssim import ssim

    opts = {"crop": crop, "y_channel": y_channel, "round_to_uint8": round_to_uint8}
    out: dict[str, float] = {}
    for n in names:
        if n == "psnr":
            out[n] = psnr(restored, reference, **opts)  # type: ignore[arg-type]
        elif n == "ssim":
            out[n] = ssim(restored, reference, **opts)  # type: ignore[arg-type]
        elif n == "ms_ssim":
            out[n] = ms_ssim(restored, reference, **opts)  # type: ignore[arg-type]
        elif n == "lpips":
            a, b = _crop(restored, crop), _crop(reference, crop)  # type: ignore[arg-type]
            out[n] = lpips(a, b, net=lpips_net, weights_dir=weights_dir, device=device)
        elif n == "niqe":
            out[n] = niqe(restored, crop=crop)
    return out


def _crop(img: np.ndarray, crop: int) -> np.ndarray:
    arr = np.asarray(img)
    if crop and crop > 0:
        if arr.shape[0] <= 2 * crop or arr.shape[1] <= 2 * crop:
            raise InvalidParameterError(f"crop={crop} leaves no pixels of a {arr.shape[0]}x{arr.shape[1]} image")
        return arr[crop:-crop, crop:-crop]
    return arr


def pair_files(
    restored: str | os.PathLike[str],
    reference: str | os.PathLike[str] | None = None,
) -> tuple[list[tuple[str, Path, Path | None]], list[str], list[str]]:
    """Pairs ``(name, restored_path, reference_path)`` to measure, and the names found only
    in ``restored`` / only in ``reference``.

    Two files: one pair. Two folders: images matched by file name stem (``x.png`` with
    ``x.bmp``), sorted by name. Without ``reference``: every restored image, unpaired.
    """
    r = Path(restored)
    if not r.exists():
        raise InvalidParameterError(f"restored path {r} does not exist")
    if reference is None:
        files = [r] if r.is_file() else list_images(r)
        if not files:
            raise InvalidParameterError(f"no images found in {r}")
        return [(p.stem, p, None) for p in files], [], []
    g = Path(reference)
    if not g.exists():
        raise InvalidParameterError(f"reference path {g} does not exist")
    if r.is_file() and g.is_file():
        return [(r.stem, r, g)], [], []
    if r.is_dir() != g.is_dir():
        raise InvalidParameterError(f"give two files or two folders; got {r} and {g}")
    rmap, gmap = _by_stem(r), _by_stem(g)
    names = sorted(set(rmap) & set(gmap))
    if not names:
        raise InvalidParameterError(f"no images with matching names in {r} and {g}")
    only_r = sorted(set(rmap) - set(gmap))
    only_g = sorted(set(gmap) - set(rmap))
    return [(n, rmap[n], gmap[n]) for n in names], only_r, only_g


def _by_stem(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in list_images(folder):
        if p.stem in out:
            raise InvalidParameterError(f"{folder} holds two images named {p.stem!r} ({out[p.stem].name}, {p.name})")
        out[p.stem] = p
    return out
