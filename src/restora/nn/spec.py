"""Typed architecture descriptors: what a network does and how to feed it.

Every architecture module in :mod:`restora.nn` defines ``SPEC = ArchSpec(...)``; the
catalogue in :mod:`restora.nn.registry` lists those modules explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

DTYPES_ALL = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: its name, task and a builder taking keyword arguments.

    ``scale`` / ``size_multiple`` / channel counts may depend on the arguments; they are
    resolved per instance by :func:`describe`, which calls the ``*_of`` hooks.
    """

    name: str
    task: str  # "denoise" | "sr" | "jpeg" | "deblur" | "restore" | "discriminator"
    build: Callable[..., nn.Module]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    dtypes: tuple[str, ...] = DTYPES_ALL
    # hooks taking the resolved argument dict:
    scale_of: Callable[[dict[str, Any]], int] = lambda a: int(a.get("scale", 1))
    size_multiple_of: Callable[[dict[str, Any]], int] = lambda a: 1
    in_channels_of: Callable[[dict[str, Any]], int] = lambda a: int(a.get("in_channels", 3))
    out_channels_of: Callable[[dict[str, Any]], int] = lambda a: int(
        a.get("out_channels", a.get("in_channels", 3))
    )
    # extra input planes the forward expects besides the image (e.g. a noise-level map)
    condition: str | None = None  # None | "noise_map"
    # maps a trained 1-channel state dict to the 3-channel layout (starts a colour run)
    color_from_gray: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def resolve(self, **kwargs: Any) -> dict[str, Any]:
        """Defaults updated with ``kwargs`` (unknown keys are left for the builder to reject)."""
        args = dict(self.defaults)
        args.update(kwargs)
        return args


@dataclass(frozen=True)
class ModelDescriptor:
    """What one built model is: used by the engine (padding, dtype) and by tables."""

    arch: str
    args: dict[str, Any]
    task: str
    scale: int
    in_channels: int
    out_channels: int
    size_multiple: int
    dtypes: tuple[str, ...]
    params: int
    flops_per_pixel: float  # FLOPs (2 x MACs) per *input* pixel
    condition: str | None = None


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def flops_per_pixel(
    model: nn.Module,
    in_channels: int,
    *,
    size: int = 64,
    extra_inputs: Callable[[torch.Tensor], tuple[Any, ...]] | None = None,
) -> float:
    """FLOPs per input pixel (2 x multiply-accumulates), measured with torch's FlopCounterMode
    on a ``size x size`` input. Fully-convolutional models scale linearly with pixels."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, in_channels, size, size)
    extra = extra_inputs(x) if extra_inputs else ()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x, *extra)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / float(size * size)
