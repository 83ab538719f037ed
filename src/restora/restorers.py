"""The catalogue of restoration methods that ``restora bench``, the CLI and the restore
pipeline can run by name.

A restorer is a plain callable ``f(image, **condition) -> image`` on float32 ``H x W x C``
arrays in [0, 1]. ``condition`` carries what the task knows about the degradation and a
non-blind method may use: ``sigma`` (noise std in 8-bit levels, 0..255 scale), ``scale``
(integer SR factor; the input is the low-resolution image), ``quality`` (JPEG quality),
``kernel`` (blur PSF, 2-D array summing to 1). Blind methods ignore what they do not need.

Providers are listed explicitly in :data:`PROVIDER_MODULES`; each calls :func:`register`
at import time. There is no decorator magic: ``list_restorers()`` imports the providers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from restora.errors import InvalidParameterError

TASKS = ("denoise", "sr", "jpeg", "deblur", "dehaze", "exposure")


class Restorer(Protocol):
    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class RestorerInfo:
    """A named method: its task, its family and how to build it."""

    name: str
    task: str  # one of TASKS
    kind: str  # "classical" | "neural" | "peer" (third-party, for comparison only)
    description: str
    factory: Callable[..., Restorer]  # factory(**options) -> restorer callable
    blind: bool = False  # True if it ignores the condition (estimates it itself)
    tags: tuple[str, ...] = field(default_factory=tuple)


PROVIDER_MODULES = (
    "restora.classical.denoise",
    "restora.classical.upscale",
    "restora.classical.deconvolve",
    "restora.classical.dehaze",
    "restora.classical.exposure",
    "restora.classical.zssr",
    "restora.zoo.restorers",
    "restora.zoo.pnp",
    "restora.sr3_restorer",
)

_REGISTRY: dict[str, RestorerInfo] = {}
_loaded = False


def register(info: RestorerInfo) -> RestorerInfo:
    """Add ``info`` to the catalogue (a later registration of the same name replaces it)."""
    if info.task not in TASKS:
        raise InvalidParameterError(f"task must be one of {', '.join(TASKS)}; got {info.task!r}")
    _REGISTRY[info.name] = info
    return info


def _load_providers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in PROVIDER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                continue  # provider not built (yet): skip
            raise


def list_restorers(task: str | None = None) -> list[RestorerInfo]:
    """All registered methods, optionally only those of ``task``, sorted by name."""
    _load_providers()
    return sorted(
        (i for i in _REGISTRY.values() if task is None or i.task == task), key=lambda i: i.name
    )


def get_restorer_info(name: str) -> RestorerInfo:
    """The :class:`RestorerInfo` called ``name``; raises listing valid names."""
    _load_providers()
    if name not in _REGISTRY:
        names = ", ".join(sorted(_REGISTRY)) or "(none registered)"
        raise InvalidParameterError(f"unknown method {name!r}; available: {names}")
    return _REGISTRY[name]


def get_restorer(name: str, **options: Any) -> Restorer:
    """Build the restorer called ``name`` with ``options`` passed to its factory."""
    return get_restorer_info(name).factory(**options)
