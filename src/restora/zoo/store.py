"""Saving and loading weights (safetensors + model card), the offline-first model cache,
and checksums. Never unpickles user files: safetensors only; third-party ``.pth`` files go
through :func:`load_third_party_state` with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from restora.atomic import atomic_write
from restora.errors import ConfigError, MissingResourceError, RestoraError
from restora.nn.registry import create_model, describe
from restora.nn.spec import ModelDescriptor
from restora.zoo.cards import ModelCard

PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"


def cache_dir() -> Path:
    """User model cache: ``$RESTORA_CACHE`` or ``~/.cache/restora/models``."""
    env = os.environ.get("RESTORA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "restora" / "models"


def search_dirs() -> list[Path]:
    """Where named models are looked up, in order: the package, then the cache."""
    return [PACKAGE_WEIGHTS, cache_dir()]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LoadedModel:
    """A ready model: the module (eval mode, CPU, fp32), its descriptor and card."""

    model: nn.Module
    descriptor: ModelDescriptor
    card: ModelCard


def save_model(model: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``path`` (``.safetensors``) and its card (``.json`` beside it) atomically; the
    card's ``sha256``, ``arch`` and ``args`` are filled from the file and the model."""
    from safetensors.torch import save_file

    p = Path(path).with_suffix(".safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(p, lambda tmp: save_file(state, tmp, metadata={"arch": getattr(model, "arch_name", card.arch)}))
    args = getattr(model, "arch_args", card.args)
    card = replace(card, arch=getattr(model, "arch_name", card.arch), args=_jsonable_args(args), sha256=sha256_file(p))
    text = card.to_json()
    atomic_write(p.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
    return p


def _jsonable_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


def _args_for_build(args: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def load_file(path: str | os.PathLike[str], *, verify: bool = True) -> LoadedModel:
    """Load a ``.safetensors`` file and the ``.json`` card beside it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file as st_load

    p = Path(path)
    if p.suffix != ".safetensors":
        raise RestoraError(f"{p}: restora weights must be .safetensors (other projects' .pth: use --model with the thirdparty extra)")
    if not p.is_file():
        raise MissingResourceError(f"weights file {p} does not exist")
    card_path = p.with_suffix(".json")
    if not card_path.is_file():
        raise MissingResourceError(f"model card {card_path} is missing (it must sit beside {p.name})")
    card = ModelCard.load(card_path)
    if verify and card.sha256:
        digest = sha256_file(p)
        if digest != card.sha256:
            raise RestoraError(f"{p}: checksum mismatch (file {digest[:12]}..., card {card.sha256[:12]}...); the file is corrupt or was replaced")
    try:
        state = st_load(str(p))
    except (SafetensorError, OSError) as exc:
        raise RestoraError(f"{p}: not a readable safetensors file ({exc})") from None
    model = create_model(card.arch, **_args_for_build(card.args))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{p}: weights do not fit architecture {card.arch!r} with the card's args ({first})") from None
    model.eval()
    return LoadedModel(model, describe(model, measure_flops=False), card)


def find_model(name: str) -> Path:
    """Path of the named model's weights in the package or the cache."""
    for d in search_dirs():
        p = d / f"{name}.safetensors"
        if p.is_file():
            return p
    available = ", ".join(c.name for c in list_models()) or "(none)"
    raise MissingResourceError(f"model {name!r} not found in {', '.join(map(str, search_dirs()))}; available: {available}")


def load(name_or_path: str | os.PathLike[str], *, verify: bool = True) -> LoadedModel:
    """Load a shipped/cached model by name, or a ``.safetensors`` path with its card."""
    s = str(name_or_path)
    if s.endswith(".safetensors") or os.sep in s:
        return load_file(s, verify=verify)
    return load_file(find_model(s), verify=verify)


def list_models() -> list[ModelCard]:
    """Cards of every model in the package and the cache (package wins on name clashes)."""
    seen: dict[str, ModelCard] = {}
    for d in search_dirs():
        if not d.is_dir():
            continue
        for card_path in sorted(d.glob("*.json")):
            if card_path.with_suffix(".safetensors").is_file():
                try:
                    card = ModelCard.load(card_path)
                except ConfigError:
                    continue
                seen.setdefault(card.name, card)
    return sorted(seen.values(), key=lambda c: c.name)


def install(path: str | os.PathLike[str], *, name: str | None = None) -> Path:
    """Copy a weights file and its card into the cache after verifying them.

    ``name``: install under this name (the cached card is renamed). A name of a shipped
    model is refused: the package's copy is found first, so the cached one would never load.
    """
    loaded = load_file(path)
    target = loaded.card.name if name is None else name
    if not target or os.sep in target or "/" in target or target.endswith(".safetensors") or target.startswith("."):
        raise ConfigError(f"model name {target!r} must be a plain name (no path separators or suffix)")
    if (PACKAGE_WEIGHTS / f"{target}.safetensors").is_file():
        how = "choose another --name" if name is not None else "install it under another name with --name NEW"
        raise ConfigError(f"model name {target!r} is a shipped model's, which would still be used instead; {how}")
    dest = cache_dir() / f"{target}.safetensors"
    src = Path(path)
    atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))
    card_text = replace(loaded.card, name=target).to_json() if target != loaded.card.name else None
    if card_text is None:
        atomic_write(dest.with_suffix(".json"), lambda tmp: shutil.copyfile(src.with_suffix(".json"), tmp))
    else:
        atomic_write(dest.with_suffix(".json"), lambda tmp: Path(tmp).write_text(card_text))
    return dest


def load_third_party_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from another project's checkpoint (``.pth``/``.pt``/``.safetensors``),
    loaded without unpickling arbitrary objects (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise MissingResourceError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file as st_load

        return st_load(str(p))
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors
        raise RestoraError(f"{p}: cannot be loaded safely as a weights-only checkpoint ({str(exc).splitlines()[0]})") from None
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise RestoraError(f"{p}: expected a state dict, found {type(obj).__name__}")
    return obj
