"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint ``step_0001000`` is two files in ``<output>/checkpoints/``:

* ``step_0001000.safetensors``: every tensor (model, EMA, discriminator, optimiser moments,
  torch/CUDA RNG states), under dotted keys;
* ``step_0001000.json``: the rest (step, optimiser hyper-parameters, scheduler and
  GradScaler states, python/numpy RNG states, log accumulators, the resolved recipe), with
  each tensor replaced by ``{"__tensor__": key}``.

:func:`pack` / :func:`unpack` turn nested state (dicts with any keys, lists, tuples,
tensors, numpy arrays, numbers) into that pair and back, exactly.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restora.atomic import atomic_write
from restora.errors import ConfigError, MissingResourceError

__all__ = ["pack", "unpack", "save_checkpoint", "load_checkpoint", "list_checkpoints", "latest_checkpoint", "rng_state", "set_rng_state", "checkpoint_path", "resume_checkpoint"]

_NAME = re.compile(r"^step_(\d+)\.json$")


def pack(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able form of ``obj``; tensors go to ``tensors`` under keys starting ``prefix``."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: pack(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[pack(k, f"{prefix}.k{i}", tensors), pack(v, f"{prefix}.{i}", tensors)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [pack(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {prefix}")


def unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        if "__tuple__" in obj:
            return tuple(unpack(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_hashable(unpack(k, tensors)): unpack(v, tensors) for k, v in obj["__items__"]}
        return {k: unpack(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    return obj


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def rng_state() -> dict[str, Any]:
    """Python, numpy (legacy global), torch CPU and CUDA RNG states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (after :func:`unpack`)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), int(np_state[2]), int(np_state[3]), float(np_state[4])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def checkpoint_path(folder: str | os.PathLike[str], step: int) -> Path:
    return Path(folder) / f"step_{step:07d}.json"


def save_checkpoint(folder: str | os.PathLike[str], step: int, state: dict[str, Any], keep: int | None = None) -> Path:
    """Write ``state`` as ``step_<step>.safetensors`` + ``.json`` (tensors first, JSON last, both
    atomically, so a JSON file always has its tensors); drop all but the newest ``keep``."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    meta = pack(state, "s", tensors)
    meta = {"format": "restora-train-checkpoint", "version": 1, "step": step, "state": meta}
    json_path = checkpoint_path(folder, step)
    st_path = json_path.with_suffix(".safetensors")
    atomic_write(st_path, lambda tmp: save_file(tensors, tmp))
    text = json.dumps(meta)
    atomic_write(json_path, lambda tmp: Path(tmp).write_text(text))
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)
    return json_path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[int, dict[str, Any]]:
    """``(step, state)`` of a checkpoint (its ``.json`` or ``.safetensors`` path)."""
    from safetensors.torch import load_file

    p = Path(path)
    if p.suffix == ".safetensors":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise MissingResourceError(f"checkpoint {p} does not exist")
    try:
        meta = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"checkpoint {p} is unreadable: {exc}") from None
    if meta.get("format") != "restora-train-checkpoint":
        raise ConfigError(f"{p} is not a restora training checkpoint")
    tensors = load_file(str(p.with_suffix(".safetensors")))
    return int(meta["step"]), unpack(meta["state"], tensors)


def list_checkpoints(folder: str | os.PathLike[str]) -> list[Path]:
    """Checkpoint ``.json`` files in ``folder``, oldest first."""
    f = Path(folder)
    if not f.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in f.iterdir() if (m := _NAME.match(p.name)) and p.with_suffix(".safetensors").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint in ``folder`` (None if there is none)."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def resume_checkpoint(
    folder: str | os.PathLike[str], config: dict[str, Any], resumable: Any = (), *, resume: bool = True
) -> tuple[int, dict[str, Any] | None]:
    """``(step, state)`` of the newest checkpoint in ``folder`` (``(0, None)`` when there is
    none or ``resume`` is False), refusing with :class:`ConfigError` when ``config`` differs
    from the saved ``state["config"]`` in a key not listed in ``resumable``."""
    found = latest_checkpoint(folder) if resume else None
    if found is None:
        return 0, None
    step, saved = load_checkpoint(found)
    old = dict(saved["config"])
    diff = sorted(k for k in config if k not in resumable and json.dumps(config[k]) != json.dumps(old.get(k)))
    if diff:
        raise ConfigError(f"{found}: cannot resume with changed settings {', '.join(diff)} (use another --output)")
    return step, saved
