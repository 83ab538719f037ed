"""The architecture catalogue: an explicit list of modules, each defining ``SPEC``."""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from restora.errors import InvalidParameterError
from restora.nn.spec import ArchSpec, ModelDescriptor, count_params, flops_per_pixel

ARCH_MODULES = (
    "dncnn",
    "ffdnet",
    "drunet",
    "nlrn",
    "unet",
    "srcnn",
    "vdsr",
    "srresnet",
    "edsr",
    "rrdb",
    "discriminators",
    "nafnet",
    "mprnet",
    "deepdeblur",
    "srn",
    "deblurgan",
    "portrait",
    "stylegan2",
    "face_prior",
)


def list_archs() -> list[ArchSpec]:
    """Every available architecture spec (modules not yet written are skipped)."""
    specs: list[ArchSpec] = []
    for name in ARCH_MODULES:
        try:
            module = importlib.import_module(f"restora.nn.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"restora.nn.{name}":
                continue
            raise
        found = getattr(module, "SPECS", None) or [module.SPEC]
        specs.extend(found)
    return specs


def get_arch(name: str) -> ArchSpec:
    """The spec called ``name``; raises listing the valid names."""
    specs = {s.name: s for s in list_archs()}
    if name not in specs:
        raise InvalidParameterError(f"unknown architecture {name!r}; available: {', '.join(sorted(specs))}")
    return specs[name]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` with ``kwargs`` over its defaults; the model remembers both."""
    spec = get_arch(name)
    args = spec.resolve(**kwargs)
    try:
        model = spec.build(**args)
    except TypeError as exc:
        raise InvalidParameterError(f"bad arguments for architecture {name!r}: {exc}") from None
    model.arch_name = name  # type: ignore[assignment]
    model.arch_args = args  # type: ignore[assignment]
    return model


def describe(model: nn.Module, *, measure_flops: bool = True) -> ModelDescriptor:
    """The :class:`ModelDescriptor` of a model built by :func:`create_model`."""
    name = getattr(model, "arch_name", None)
    if name is None:
        raise InvalidParameterError("model was not built by restora.nn.create_model (no arch_name)")
    spec = get_arch(name)
    args = dict(model.arch_args)  # type: ignore[arg-type]
    in_ch = spec.in_channels_of(args)
    multiple = spec.size_multiple_of(args)
    extra = None
    if spec.condition == "noise_map":
        extra = lambda x: (torch.zeros(x.shape[0], 1, x.shape[2], x.shape[3]),)  # noqa: E731
    size = max(64, multiple * max(1, 64 // multiple))
    flops = flops_per_pixel(model, in_ch, size=size, extra_inputs=extra) if measure_flops else float("nan")
    return ModelDescriptor(
        arch=name,
        args=args,
        task=spec.task,
        scale=spec.scale_of(args),
        in_channels=in_ch,
        out_channels=spec.out_channels_of(args),
        size_multiple=multiple,
        dtypes=spec.dtypes,
        params=count_params(model),
        flops_per_pixel=flops,
        condition=spec.condition,
    )
