"""Methods to benchmark: a catalogue name (``"nlm"``, ``"bm3d"``, zoo models), a weights
file (``path/model.safetensors`` with its JSON card beside it), a ``module:function``
string, a Python callable ``f(image, **condition) -> image``, or a ready :class:`BenchMethod`.

Parameters and FLOPs per pixel come from an optional descriptor: attributes ``params`` and
``flops_per_pixel`` on the restorer object, or on its ``descriptor`` attribute (a
:class:`restora.nn.ModelDescriptor`); a bare ``torch.nn.Module`` has its parameters counted.
Missing figures show as ``-`` in tables.
"""

from __future__ import annotations

import importlib
import inspect
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from restora.bench.tasks import BenchTask
from restora.errors import InvalidParameterError, MissingResourceError
from restora.restorers import get_restorer_info, list_restorers

__all__ = ["BenchMethod", "MethodLike", "INPUT_METHOD", "resolve_method", "resolve_methods", "available_methods"]

#: The pseudo-method that returns the degraded input unchanged (the "no restoration" row).
INPUT_METHOD = "input"


@dataclass(frozen=True)
class BenchMethod:
    """A method ready to run: a display name, the restorer callable and what is known about it."""

    name: str
    restorer: Callable[..., np.ndarray]
    kind: str = "custom"  # "classical" | "neural" | "peer" | "custom" | "baseline"
    source: str = "callable"  # "catalogue" | "weights" | "callable" | "module:function" | "builtin"
    params: int | None = None
    flops_per_pixel: float | None = None
    description: str = ""


MethodLike = Union[str, Callable[..., np.ndarray], BenchMethod]


def _identity_restorer(image: np.ndarray, **condition: Any) -> np.ndarray:
    return image


def _descriptor_figures(restorer: Any) -> tuple[int | None, float | None]:
    """``(params, flops_per_pixel)`` from the restorer or its ``descriptor``, else ``None``."""
    params = getattr(restorer, "params", None)
    flops = getattr(restorer, "flops_per_pixel", None)
    descriptor = getattr(restorer, "descriptor", None)
    if descriptor is not None:
        params = params if params is not None else getattr(descriptor, "params", None)
        flops = flops if flops is not None else getattr(descriptor, "flops_per_pixel", None)
    if params is None:
        try:
            import torch

            if isinstance(restorer, torch.nn.Module):
                params = sum(p.numel() for p in restorer.parameters())
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    params = int(params) if isinstance(params, (int, float, np.integer, np.floating)) else None
    flops = float(flops) if isinstance(flops, (int, float, np.integer, np.floating)) else None
    return params, flops


def _task_methods(task: BenchTask) -> list[str]:
    names = [i.name for i in list_restorers(task.kind)] + [m for m in task.methods if m != INPUT_METHOD]
    if task.kind != "sr":
        names.append(INPUT_METHOD)
    return names


def available_methods(task: BenchTask) -> list[str]:
    """Names :func:`resolve_method` accepts for ``task`` (catalogue methods of its kind, and
    ``input`` for tasks whose input has the output's size)."""
    return _task_methods(task)


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    return name in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def _from_callable(obj: Any, *, name: str | None = None, source: str = "callable") -> BenchMethod:
    if isinstance(obj, BenchMethod):
        return obj
    if not callable(obj):
        raise InvalidParameterError(f"method {name or obj!r} is not callable")
    display = name or getattr(obj, "bench_name", None) or getattr(obj, "__name__", None) or type(obj).__name__
    params, flops = _descriptor_figures(obj)
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    return BenchMethod(
        name=str(display),
        restorer=obj,
        kind=str(getattr(obj, "kind", "custom")),
        source=source,
        params=params,
        flops_per_pixel=flops,
        description=doc[0] if doc else "",
    )


def _from_import_path(spec: str) -> BenchMethod:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidParameterError(f"method {spec!r}: a module:function string needs both parts")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidParameterError(f"method {spec!r}: cannot import module {module_name!r} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidParameterError(f"method {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return _from_callable(obj, name=spec, source="module:function")


def _from_weights(path: str, task: BenchTask, device: str | None) -> BenchMethod:
    from restora.zoo import load_file
    from restora.zoo.restorers import NeuralRestorer

    loaded = load_file(path)
    card = loaded.card
    if card.task != task.kind:
        raise InvalidParameterError(
            f"weights {path}: model {card.name!r} is a {card.task} model, {task.name} needs a {task.kind} model"
        )
    restorer = NeuralRestorer(loaded, device=device or "auto")
    params, flops = _descriptor_figures(restorer)
    return BenchMethod(
        name=card.name or Path(path).stem,
        restorer=restorer,
        kind="neural",
        source="weights",
        params=params,
        flops_per_pixel=flops,
        description=card.description or card.arch,
    )


#: Method-name suffix that withholds the degradation's parameters from the restorer.
BLIND_SUFFIX = "+blind"


def _variant(method: BenchMethod, restorer: Callable[..., Any], suffix: str, note: str, cost: int = 1) -> BenchMethod:
    """``method`` under another name whose restorer wraps the original one."""
    return dataclasses.replace(
        method,
        name=method.name + suffix,
        restorer=restorer,
        flops_per_pixel=None if method.flops_per_pixel is None else cost * method.flops_per_pixel,
        description=f"{method.description} ({note})",
    )


def _blind(method: BenchMethod) -> BenchMethod:
    """``method`` called with only the output scale of the condition (it must estimate the rest)."""
    inner = method.restorer

    def blind(image: np.ndarray, **condition: Any) -> np.ndarray:
        return inner(image, **{k: v for k, v in condition.items() if k == "scale"})

    return _variant(method, blind, BLIND_SUFFIX, "blind: degradation parameters withheld")


#: Method-name suffix: average the method over the 8 flips/rotations (EDSR+ style).
ENSEMBLE_SUFFIX = "+x8"


def _ensembled(method: BenchMethod) -> BenchMethod:
    """``method`` run through :func:`restora.ensemble.self_ensemble` (8 times the cost)."""
    from restora.ensemble import self_ensemble

    inner = method.restorer

    def ensembled(image: np.ndarray, **condition: Any) -> np.ndarray:
        return self_ensemble(inner, image, **condition)

    return _variant(method, ensembled, ENSEMBLE_SUFFIX, "self-ensemble of the 8 flips/rotations", cost=8)


def resolve_method(spec: MethodLike, task: BenchTask, *, device: str | None = None) -> BenchMethod:
    """Turn ``spec`` into a :class:`BenchMethod` for ``task``.

    Strings are looked up in the restorer catalogue (the method must be of the task's
    kind; neural factories that take ``device`` get it); a ``+blind`` suffix (``"ffdnet-gray+blind"``)
    withholds the task's condition (sigma, quality, kernel; the scale is kept), so the method
    must estimate it itself; a ``+x8`` suffix averages the method over the 8 flips/rotations
    of the input (self-ensemble; ``"edsr-x2+x8"``). ``"input"`` is the no-restoration
    baseline, ``"path/to/model.safetensors"`` loads a weights file with its card (run on
    ``device``), and ``"package.module:function"`` imports a callable. Unknown names raise
    :class:`InvalidParameterError` listing the valid ones.
    """
    if isinstance(spec, BenchMethod):
        return spec
    if not isinstance(spec, str):
        return _from_callable(spec)
    name = spec.strip()
    if name.endswith(ENSEMBLE_SUFFIX):
        return _ensembled(resolve_method(name[: -len(ENSEMBLE_SUFFIX)], task, device=device))
    if name.endswith(BLIND_SUFFIX):
        return _blind(resolve_method(name[: -len(BLIND_SUFFIX)], task, device=device))
    if name in task.methods:  # the task's own methods (restore-auto's auto, oracle, ...)
        return task.methods[name](device)
    if name == INPUT_METHOD and task.kind != "sr":
        return BenchMethod(
            name=INPUT_METHOD,
            restorer=_identity_restorer,
            kind="baseline",
            source="builtin",
            params=0,
            flops_per_pixel=0.0,
            description="the degraded input itself (no restoration)",
        )
    if name.endswith(".safetensors"):
        return _from_weights(name, task, device)
    valid = _task_methods(task)
    try:
        info = get_restorer_info(name)
    except InvalidParameterError:
        if ":" in name:
            return _from_import_path(name)
        raise InvalidParameterError(
            f"unknown method {name!r} for {task.name}; available: {', '.join(valid) or '(none registered)'} "
            "(or module:function, or a .safetensors weights file)"
        ) from None
    if info.task != task.kind:
        raise InvalidParameterError(
            f"method {name!r} is a {info.task} method, {task.name} needs a {task.kind} method; "
            f"available: {', '.join(valid) or '(none registered)'}"
        )
    options: dict[str, Any] = {}
    if device is not None and info.kind == "neural" and _accepts(info.factory, "device"):
        options["device"] = device
    try:
        restorer = info.factory(**options)
    except ImportError as exc:
        raise MissingResourceError(
            f"method {name!r} needs an optional package that is not installed ({exc}); "
            "install the extra: pip install 'restora[bench]'"
        ) from None
    params, flops = _descriptor_figures(restorer)
    return BenchMethod(
        name=info.name,
        restorer=restorer,
        kind=info.kind,
        source="catalogue",
        params=params,
        flops_per_pixel=flops,
        description=info.description,
    )


def resolve_methods(specs: list[MethodLike] | tuple[MethodLike, ...], task: BenchTask, *, device: str | None = None) -> list[BenchMethod]:
    """:func:`resolve_method` for each spec; duplicate display names are an error."""
    if not specs:
        raise InvalidParameterError(f"no methods given; available for {task.name}: {', '.join(_task_methods(task))}")
    methods = [resolve_method(s, task, device=device) for s in specs]
    seen: set[str] = set()
    for m in methods:
        if m.name in seen:
            raise InvalidParameterError(f"method {m.name!r} is given twice")
        seen.add(m.name)
    return methods
