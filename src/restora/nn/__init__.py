"""Network architectures, each with a typed descriptor (:class:`ArchSpec`)."""

from restora.nn.registry import create_model, describe, get_arch, list_archs
from restora.nn.spec import ArchSpec, ModelDescriptor, count_params, flops_per_pixel

__all__ = [
    "ArchSpec",
    "ModelDescriptor",
    "count_params",
    "create_model",
    "describe",
    "flops_per_pixel",
    "get_arch",
    "list_archs",
]
