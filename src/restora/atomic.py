"""Atomic file replacement, output-path checks and clean-up of temporary files.

Every file restora writes goes first to a hidden temporary file beside the target, named
``.<target name>.<writer pid>.<8 hex digits>.tmp`` (:func:`temp_path`), and is then renamed
over the target, so a reader never sees half a file and a failed write leaves the old file
as it was. A killed process can leave such temporary files behind; :func:`remove_stale_temps`
deletes the ones whose writer is gone or that are old, and nothing else.

:func:`check_output_file` and :func:`check_output_folder` check a path before any work is
done, so a long job does not fail at its very end on an unwritable report or folder.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Callable

from restora.errors import ImageWriteError, OutputExistsError

__all__ = [
    "AtomicWriteError",
    "STALE_TEMP_SECONDS",
    "atomic_write",
    "check_output_file",
    "check_output_folder",
    "create_temp",
    "is_stale_temp",
    "remove_stale_temps",
    "same_file",
    "temp_path",
]

PathLike = str | os.PathLike[str]

#: A temporary file older than this (seconds since its last change) is stale whatever its writer.
STALE_TEMP_SECONDS = 3600.0
#: A temporary file whose writer process is gone is stale once it is this old (a grace period
#: for writers on other machines sharing the folder, whose pids mean nothing here).
_DEAD_WRITER_GRACE_SECONDS = 60.0

# .<name>.<pid>.<8 hex>.tmp (current writers) and .<name>.<8 hex>.tmp (restora.io before the
# pid was added; removed by age only).
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]{1,10})\.(?P<token>[0-9a-f]{8})\.tmp$")
_OLD_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<token>[0-9a-f]{8})\.tmp$")


class AtomicWriteError(ImageWriteError, OSError):
    """An atomic write failed at the file-system level (also an :class:`OSError`, whose
    ``errno`` it keeps); ``str()`` is the one-line message."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.errno = code

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import (``os.umask`` can only be read by setting it, which is not thread-safe).
_UMASK = _process_umask()


def _reason(e: OSError) -> str:
    return e.strerror or " ".join(str(e).split()) or type(e).__name__


def temp_path(target: PathLike) -> Path:
    """A fresh temporary-file name beside ``target`` (see the module docstring for the pattern)."""
    t = Path(target)
    return t.with_name(f".{t.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def create_temp(target: PathLike, mode: int = 0o666) -> tuple[int, Path]:
    """Create (``O_EXCL``) a new temporary file beside ``target``; returns ``(fd, path)``.

    ``mode`` is filtered by the umask as for any new file. OSErrors propagate.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = temp_path(target)
        try:
            return os.open(candidate, flags, mode), candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"could not create a temporary file beside {target}")


def atomic_write(path: PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it over
    ``path``; the temporary file is removed if ``write`` fails. Returns ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give it: those of the
    file it replaces, else ``0o666`` less the umask (not the ``0o600`` of a temporary file).
    File-system failures (unwritable or missing folder, ``path`` a folder, disk full) raise
    :class:`AtomicWriteError` (an :class:`ImageWriteError` and an :class:`OSError`) with a
    one-line message naming ``path``; errors raised by ``write`` itself propagate unchanged.
    """
    target = Path(path)
    if target.is_dir():
        raise AtomicWriteError(errno.EISDIR, f"cannot write {target}: it is a folder")
    problem = _folder_problem(target.parent)
    if problem is not None:
        code = errno.EACCES if problem.endswith("not writable") else errno.ENOTDIR
        raise AtomicWriteError(code, f"cannot write {target}: {problem}")
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_temp(target)
        os.close(fd)
    except OSError as e:
        raise AtomicWriteError(e.errno, f"cannot write {target}: {_reason(e)}") from None
    try:
        try:
            write(str(tmp))
        except OSError as e:
            raise AtomicWriteError(e.errno, f"cannot write {target}: {_reason(e)}") from None
        try:
            try:
                mode = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~_UMASK
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except OSError as e:
            raise AtomicWriteError(e.errno, f"cannot write {target}: {_reason(e)}") from None
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return target


# --------------------------------------------------------------------------- checks before work


def same_file(a: PathLike, b: PathLike) -> bool:
    """True if ``a`` and ``b`` name the same file or folder: ``os.path.samefile`` when both
    exist (hard and symbolic links count), else the resolved paths are compared."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return os.path.normcase(str(pa.resolve())) == os.path.normcase(str(pb.resolve()))



def _first_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (created if missing), or None."""
    if os.path.lexists(folder) and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    existing = _first_existing(folder.absolute())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_output_folder(folder: PathLike, what: str = "output folder") -> Path:
    """Check that ``folder`` is, or can be created as, a writable folder; returns it.

    Nothing is created. Raises :class:`ImageWriteError` naming ``what`` and the path when
    ``folder`` (or one of its parents) is a file, or the nearest existing folder is not
    writable.
    """
    f = Path(folder)
    problem = _folder_problem(f)
    if problem is not None:
        raise ImageWriteError(f"cannot write {what} {f}: {problem}")
    return f


def check_output_file(path: PathLike, what: str = "output", *, overwrite: bool = True) -> Path:
    """Check, before any work, that ``path`` can be written as a file; returns it.

    ``path`` must not be a folder, its folder must exist or be creatable and be writable,
    and without ``overwrite`` it must not exist (:class:`OutputExistsError`). Raises
    :class:`ImageWriteError` naming ``what`` and the path. Nothing is created.
    """
    p = Path(path)
    if p.is_dir():
        raise ImageWriteError(f"cannot write {what} {p}: it is a folder")
    if not overwrite and os.path.lexists(p):
        raise OutputExistsError(f"{what} {p} already exists; pass --overwrite to replace it")
    problem = _folder_problem(p.parent)
    if problem is not None:
        raise ImageWriteError(f"cannot write {what} {p}: {problem}")
    return p


# --------------------------------------------------------------------------- stale temporary files


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a real pid: do not guess, let the age decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


def is_stale_temp(path: PathLike, *, max_age: float = STALE_TEMP_SECONDS, now: float | None = None) -> bool:
    """True if ``path`` is a temporary file of restora's atomic writers that can be removed.

    Only names of the exact pattern ``.<name>.<pid>.<8 hex>.tmp`` (or the older
    ``.<name>.<8 hex>.tmp``) of regular files qualify; such a file is stale when it was last
    changed more than ``max_age`` seconds ago, or (current pattern) when its writer process is
    no longer running on this machine and the file is over a minute old.
    """
    p = Path(path)
    m = _TEMP_RE.match(p.name)
    old = None if m else _OLD_TEMP_RE.match(p.name)
    if m is None and old is None:
        return False
    try:
        st = os.lstat(p)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    age = (time.time() if now is None else now) - st.st_mtime
    if age > max_age:
        return True
    return m is not None and age > _DEAD_WRITER_GRACE_SECONDS and not _pid_alive(int(m["pid"]))


def remove_stale_temps(folder: PathLike, *, recursive: bool = True, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the stale temporary files (:func:`is_stale_temp`) in ``folder`` (and its
    sub-folders); returns the paths removed. Files that cannot be removed are left alone."""
    root = Path(folder)
    if not root.is_dir():
        return []
    now = time.time()
    removed: list[Path] = []
    walker = os.walk(root) if recursive else [(str(root), [], os.listdir(root))]
    for dirpath, _dirs, files in walker:
        for name in files:
            if not name.endswith(".tmp") or not name.startswith("."):
                continue
            p = Path(dirpath) / name
            if is_stale_temp(p, max_age=max_age, now=now):
                try:
                    p.unlink()
                except OSError:
                    continue
                removed.append(p)
    return removed
