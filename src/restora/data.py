"""Where the benchmark and training datasets live: ``RESTORA_DATA`` or ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from restora.errors import MissingResourceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def data_root() -> Path:
    """The dataset root: ``$RESTORA_DATA`` if set, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("RESTORA_DATA")
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve()
    # src/restora/data.py -> checkout root is parents[2]; shared/ sits beside the checkout.
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


def dataset_dir(name: str) -> Path:
    """Folder of a named dataset, e.g. ``"test/Set5"`` or ``"Set5"`` (test/ then train/ searched)."""
    root = data_root()
    candidates = [root / name] if "/" in name else [root / "test" / name, root / "train" / name]
    for c in candidates:
        if c.is_dir():
            return c
    raise MissingResourceError(
        f"dataset {name!r} not found under {root} (set RESTORA_DATA to the folder holding test/ and train/)"
    )


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    p = Path(folder)
    if not p.is_dir():
        raise MissingResourceError(f"folder {p} does not exist")
    return sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())


def dataset_images(name: str) -> list[Path]:
    """Sorted image paths of a named dataset (see :func:`dataset_dir`)."""
    return list_images(dataset_dir(name))
