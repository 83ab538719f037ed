"""Atomic file replacement: write to a temporary file in the target folder, then rename."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Callable


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import (``os.umask`` can only be read by setting it, which is not thread-safe).
_UMASK = _process_umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it over
    ``path``; the temporary file is removed if ``write`` fails. Returns ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give it: those of the
    file it replaces, else ``0o666`` less the umask (not the ``0o600`` of a temporary file).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
