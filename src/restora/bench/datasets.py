"""Test sets for the benchmark: the named shared sets (``Set5``, ``BSD68``, ...) or any folder
of images given by path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from restora.bench.tasks import BenchTask, TASKS
from restora.data import dataset_dir, list_images
from restora.errors import InvalidParameterError, MissingResourceError

__all__ = ["KNOWN_DATASETS", "BenchDataset", "resolve_dataset", "dataset_status"]

#: The named test sets restora knows: name -> (colour, use).
KNOWN_DATASETS: dict[str, tuple[str, str]] = {
    "Set5": ("RGB", "SR"),
    "Set14": ("RGB + 2 gray", "SR"),
    "BSD68": ("gray", "gray denoising"),
    "Set12": ("gray", "gray denoising"),
    "CBSD68": ("RGB", "colour denoising"),
    "LIVE1": ("RGB (scored on Y)", "JPEG"),
    "classic5": ("gray", "JPEG"),
    "Kodak24": ("RGB", "colour denoising, restore-auto"),
    "PolyU": ("RGB pairs (real/mean)", "real-noise denoising"),
    "Levin": ("gray, 4 images x 8 kernels", "blind deblurring"),
    "Faces": ("RGB, aligned faces 256x256 (research-only)", "portrait and face restoration"),
    "FacesLQ": ("RGB, real low-quality faces, no clean original", "no-reference views (deblur-real)"),
    "RealSRSet": ("RGB, real low-quality photos, no clean original", "no-reference views (deblur-real)"),
}


@dataclass(frozen=True)
class BenchDataset:
    """A resolved test set: display name, folder and sorted image files."""

    name: str
    folder: Path
    images: tuple[Path, ...]


def resolve_dataset(spec: str | os.PathLike[str], task: BenchTask, *, limit: int | None = None) -> BenchDataset:
    """Resolve ``spec`` (a named set valid for ``task``, or a folder of images) for ``task``.

    A named set that ``task`` is not defined on, or a name that is neither a known set nor
    a folder, raises :class:`InvalidParameterError` listing the valid names. ``limit`` keeps
    the first ``limit`` images (sorted by file name).
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidParameterError(f"limit must be a positive integer, got {limit!r}")
    text = os.fspath(spec)
    valid = ", ".join(task.datasets)
    if text in KNOWN_DATASETS:
        if text not in task.datasets:
            raise InvalidParameterError(
                f"dataset {text!r} is not a {task.name} test set; valid for {task.name}: {valid} (or a folder of images)"
            )
        folder = dataset_dir(text)
        name = text
    else:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise InvalidParameterError(
                f"unknown dataset {text!r} (not a known set nor a folder); valid for {task.name}: {valid} (or a folder of images)"
            )
        name = folder.name or text
    if task.pairing is not None:  # stored pairs: the task lists its files and remembers their partners
        collected = task.pairing.collect(folder)
        task.pairing.infos.update({Path(p).stem: info for p, info in collected})
        images = [Path(p) for p, _ in collected]
    else:
        images = list_images(folder)
    if not images:
        raise MissingResourceError(f"dataset {name!r}: no images in {folder}")
    if limit is not None:
        images = images[:limit]
    return BenchDataset(name=name, folder=folder, images=tuple(images))


def dataset_status() -> list[dict[str, object]]:
    """For each known set: name, colour, use, the tasks defined on it, whether it is present
    under the data root and how many images it has (for ``restora bench --list``)."""
    rows: list[dict[str, object]] = []
    for name, (colour, use) in KNOWN_DATASETS.items():
        paired = next((t.pairing for t in TASKS.values() if name in t.datasets and t.pairing is not None), None)
        try:
            folder = dataset_dir(name)
            n: int | None = len(paired.collect(folder)) if paired is not None else len(list_images(folder))
        except MissingResourceError:
            n = None
        tasks = [t.name for t in TASKS.values() if name in t.datasets]
        rows.append({"name": name, "colour": colour, "use": use, "images": n, "tasks": tasks})
    return rows
