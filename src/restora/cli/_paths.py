"""Checks shared by the file-to-file commands, each failing with a one-line error."""

from __future__ import annotations

import os
from pathlib import Path

from restora.errors import ConfigError, OutputExistsError


def check_file_pair(src: Path, dst: Path, overwrite: bool) -> None:
    """IN must be a file, OUT must not be IN, and OUT must not exist unless ``overwrite``."""
    if not src.is_file():
        raise ConfigError(f"input {src} does not exist or is not a file")
    if dst.resolve() == src.resolve():
        raise ConfigError(f"OUT must differ from IN ({src}); restora never writes over its input")
    if not overwrite and os.path.lexists(dst):
        raise OutputExistsError(f"{dst} already exists; pass --overwrite to replace it")
