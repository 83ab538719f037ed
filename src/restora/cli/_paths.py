"""Checks shared by the file-to-file commands, each failing with a one-line error."""

from __future__ import annotations

import os
from pathlib import Path

from restora.atomic import check_output_file, same_file
from restora.errors import ConfigError, ImageWriteError, OutputExistsError

__all__ = ["check_file_pair", "check_output_folder_exists", "make_parent", "same_file"]


def check_file_pair(src: Path, dst: Path, overwrite: bool) -> None:
    """IN must be a file, OUT must not be IN, OUT must not exist unless ``overwrite``, and
    OUT's folder must exist and be writable (all checked before any work)."""
    if not src.is_file():
        raise ConfigError(f"input {src} does not exist or is not a file")
    if same_file(src, dst):
        raise ConfigError(f"OUT must differ from IN ({src}); restora never writes over its input")
    if dst.is_dir():
        raise ImageWriteError(f"cannot write {dst}: it is a folder")
    if not overwrite and os.path.lexists(dst):
        raise OutputExistsError(f"{dst} already exists; pass --overwrite to replace it")
    check_output_folder_exists(dst)


def check_output_folder_exists(dst: Path) -> None:
    """OUT's folder must exist (it is not created) and be writable."""
    folder = dst.parent
    if not folder.is_dir():
        raise ImageWriteError(f"cannot write {dst}: folder {folder} does not exist")
    check_output_file(dst, "output")


def make_parent(path: Path, what: str = "output") -> None:
    """Create ``path``'s folder (after checking it can be), with a one-line error if not."""
    check_output_file(path, what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageWriteError(f"cannot create the folder of {what} {path}: {e.strerror or e}") from None
