"""The model zoo: shipped weights (safetensors) with JSON model cards, a user cache, loading.

>>> from restora import zoo
>>> [c.name for c in zoo.list_models()]      # doctest: +SKIP
>>> loaded = zoo.load("denoise-gray")         # doctest: +SKIP
"""

from restora.zoo.cards import ModelCard
from restora.zoo.store import (
    LoadedModel,
    cache_dir,
    find_model,
    install,
    list_models,
    load,
    load_file,
    load_third_party_state,
    save_model,
    sha256_file,
)

__all__ = [
    "LoadedModel",
    "ModelCard",
    "cache_dir",
    "find_model",
    "install",
    "list_models",
    "load",
    "load_file",
    "load_third_party_state",
    "save_model",
    "sha256_file",
]
