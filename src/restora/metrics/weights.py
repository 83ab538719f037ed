"""Where third-party network weights (LPIPS, FID Inception) are looked for. Nothing is downloaded.

Search order (first hit wins), unless a function is given an explicit ``weights_dir``, in
which case only that folder is searched:

1. ``$RESTORA_WEIGHTS`` (if set)
2. ``~/.cache/restora/weights``
3. ``$TORCH_HOME/hub/checkpoints`` (torchvision's and ``torch.hub``'s cache; ``TORCH_HOME``
   defaults to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import torch

from restora.errors import MissingResourceError

__all__ = ["weights_search_dirs", "find_weights", "load_checkpoint"]


def _torch_home() -> Path:
    env = os.environ.get("TORCH_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "torch"


def weights_search_dirs(weights_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for weights files, in order (see the module docstring)."""
    if weights_dir is not None:
        return [Path(weights_dir).expanduser()]
    dirs: list[Path] = []
    env = os.environ.get("RESTORA_WEIGHTS")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path.home() / ".cache" / "restora" / "weights")
    dirs.append(_torch_home() / "hub" / "checkpoints")
    return dirs


def find_weights(
    files: Sequence[str],
    *,
    what: str,
    weights_dir: str | os.PathLike[str] | None = None,
    sources: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Paths of the named weights files, or :class:`MissingResourceError` naming every missing
    file, where it can be obtained (``sources``) and the folders searched."""
    dirs = weights_search_dirs(weights_dir)
    found: dict[str, Path] = {}
    for name in files:
        for d in dirs:
            p = d / name
            if p.is_file():
                found[name] = p
                break
    missing = [f for f in files if f not in found]
    if missing:
        srcs = sources or {}
        listed = ", ".join(f"{m} ({srcs[m]})" if m in srcs else m for m in missing)
        raise MissingResourceError(
            f"{what} needs weights file(s) not found: {listed}; put them in {dirs[0]} "
            f"(searched: {', '.join(str(d) for d in dirs)}; set RESTORA_WEIGHTS to use another folder)"
        )
    return found


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A third-party ``.pth`` state dict, loaded safely (``weights_only=True``) onto the CPU."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt/truncated/unsafe pickle
        raise MissingResourceError(f"weights file {path} could not be loaded: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise MissingResourceError(f"weights file {path} does not hold a state dict")
    return state
