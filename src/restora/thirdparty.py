"""Other projects' weights (ESRGAN/Real-ESRGAN, SwinIR, NAFNet, DnCNN, ...) through spandrel.

`spandrel <https://github.com/chaiNNer-org/spandrel>`_ (the ``thirdparty`` extra) detects the
architecture and hyper-parameters of a checkpoint from its state dict. restora reads the
file itself, never unpickling arbitrary objects (:func:`restora.zoo.load_third_party_state`:
safetensors, or ``torch.load(weights_only=True)``), hands the state dict to spandrel's
``ModelLoader().load_from_state_dict`` and runs the network with restora's
:class:`~restora.engine.TiledEngine` (tiling, device, bf16/fp16 when the architecture
supports it), so a third-party model behaves like a zoo model:

>>> from restora.thirdparty import load_third_party
>>> sr = load_third_party("RealESRGAN_x4plus.pth")   # doctest: +SKIP
>>> big = sr(image)                                  # doctest: +SKIP

Spandrel's package imports torchvision for two architectures (LaMa inpainting and
RestoreFormer faces). Where torchvision is missing or cannot be imported (as with some CPU
torch builds), a stand-in module is registered first so that the other architectures load;
using one of those two then fails with a clear message.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from restora.errors import ConfigError, InvalidParameterError, MissingResourceError

__all__ = ["WEIGHT_SUFFIXES", "ThirdPartyRestorer", "import_spandrel", "is_weights_path", "load_third_party", "spandrel_descriptor"]

#: File suffixes accepted as third-party checkpoints.
WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")


def is_weights_path(value: str | os.PathLike[str]) -> bool:
    """True if ``value`` names a weights file (by suffix), whether or not it exists."""
    return Path(str(value)).suffix.lower() in WEIGHT_SUFFIXES


def _torchvision_stub() -> types.ModuleType:
    def unavailable(*_a: Any, **_k: Any) -> Any:
        raise MissingResourceError("this architecture needs torchvision, which cannot be imported here")

    from enum import Enum

    class InterpolationMode(Enum):  # the names spandrel's LaMa module refers to at import time
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    tv = types.ModuleType("torchvision")
    tv.__restora_stub__ = True  # type: ignore[attr-defined]
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = unavailable  # type: ignore[attr-defined]
    functional.normalize = unavailable  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    tv.transforms = transforms  # type: ignore[attr-defined]
    tv.__path__ = []  # a package, so "import torchvision.transforms.functional" resolves
    transforms.__path__ = []  # type: ignore[attr-defined]
    return tv


def import_spandrel() -> types.ModuleType:
    """Import spandrel (installing the torchvision stand-in first if torchvision is unusable).

    Raises :class:`MissingResourceError` with the install command when spandrel is absent.
    """
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing, or built for another torch
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        tv = _torchvision_stub()
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tv.transforms  # type: ignore[attr-defined]
        sys.modules["torchvision.transforms.functional"] = tv.transforms.functional  # type: ignore[attr-defined]
    try:
        import spandrel
    except ModuleNotFoundError as exc:
        if exc.name in ("spandrel", "einops"):
            raise MissingResourceError(
                "loading other projects' weights needs spandrel: pip install 'restora[thirdparty]' "
                "(on a CPU-only torch: pip install --no-deps spandrel && pip install einops)"
            ) from None
        raise
    return spandrel


def spandrel_descriptor(spandrel_model: Any, *, arch: str | None = None) -> Any:
    """A restora :class:`~restora.nn.spec.ModelDescriptor` for a spandrel model descriptor:
    scale, input/output channels, size multiple, supported dtypes and the task."""
    from restora.nn.spec import ModelDescriptor, count_params

    req = spandrel_model.size_requirements
    dtypes = ("float32",) + (("bfloat16",) if spandrel_model.supports_bfloat16 else ()) + (("float16",) if spandrel_model.supports_half else ())
    scale = int(spandrel_model.scale)
    arch_id = arch or str(spandrel_model.architecture.id)
    return ModelDescriptor(
        arch=arch_id,
        args={"tags": list(spandrel_model.tags), "minimum": int(req.minimum), "square": bool(req.square)},
        task=_task_of(spandrel_model, arch_id),
        scale=scale,
        in_channels=int(spandrel_model.input_channels),
        out_channels=int(spandrel_model.output_channels),
        size_multiple=int(req.multiple_of),
        dtypes=dtypes,
        params=count_params(spandrel_model.model),
        flops_per_pixel=float("nan"),
    )


_JPEG_ARCHS = ("FBCNN",)
_DEBLUR_ARCHS = ("FFTformer", "MPRNet", "DeepDeblur")


def _task_of(d: Any, arch_id: str) -> str:
    if int(d.scale) > 1 or d.purpose in ("SR", "FaceSR"):
        return "sr"
    if arch_id in _JPEG_ARCHS:
        return "jpeg"
    if arch_id in _DEBLUR_ARCHS:
        return "deblur"
    return "denoise"  # scale-1 "Restoration" models: denoisers and general restorers


def _as_module(spandrel_model: Any) -> Any:
    import torch

    call_fn = getattr(spandrel_model, "_call_fn", None)
    inner = spandrel_model.model
    if call_fn is None:
        return inner

    class SpandrelModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return call_fn(self.inner, x)

    return SpandrelModule()


class ThirdPartyRestorer:
    """Another project's network behind restora's :class:`~restora.engine.TiledEngine`, as a
    restorer callable ``f(image, **condition) -> image`` (like a zoo model).

    Gray models run per channel on colour images; colour models see gray images replicated
    to RGB and return their mean. ``arch``, ``descriptor`` (restora's) and ``spandrel`` (the
    spandrel descriptor) describe the model; ``path`` is the file it came from.
    """

    def __init__(self, spandrel_model: Any, *, path: str | os.PathLike[str] | None = None, device: str = "auto", dtype: str = "auto", tile: int | str | None = "auto", overlap: int = 32, batch_size: int = 4) -> None:
        from restora.engine import TiledEngine

        self.spandrel = spandrel_model
        self.arch = str(spandrel_model.architecture.id)
        self.path = Path(path) if path is not None else None
        self.descriptor = spandrel_descriptor(spandrel_model)
        self.params = self.descriptor.params
        req = spandrel_model.size_requirements
        self._minimum = int(req.minimum)
        self._square = bool(req.square)
        if isinstance(tile, int) and tile < self._minimum:
            tile = self._minimum
        self.engine = TiledEngine(_as_module(spandrel_model), self.descriptor, device=device, dtype=dtype, tile=tile, overlap=overlap, batch_size=batch_size)

    def _fit(self, img: np.ndarray) -> np.ndarray:
        """Pad so a whole-image pass meets the model's minimum size and squareness."""
        h, w = img.shape[:2]
        tile = self.engine.tile_size()
        need_h, need_w = max(h, self._minimum), max(w, self._minimum)
        if self._square:
            side = max(need_h, need_w) if tile is None or max(h, w) <= tile else max(tile, self._minimum)
            need_h, need_w = max(need_h, side), max(need_w, side)
        if (need_h, need_w) == (h, w):
            return img
        mode = "reflect" if need_h - h < h and need_w - w < w else "edge"
        return np.pad(img, ((0, need_h - h), (0, need_w - w), (0, 0)), mode=mode)

    def _run(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = self.descriptor.scale
        out = self.engine(self._fit(img))
        return out[: h * s, : w * s]

    def __call__(self, image: np.ndarray, **condition: Any) -> np.ndarray:
        scale = condition.get("scale")
        if scale is not None and self.descriptor.scale != 1 and int(scale) != self.descriptor.scale:
            raise InvalidParameterError(f"{self.arch} model upscales x{self.descriptor.scale}, but scale={scale} was asked")
        img = np.asarray(image, np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        c = img.shape[2]
        want = self.descriptor.in_channels
        if c == want:
            return self._run(img)
        if want == 1:
            return np.concatenate([self._run(img[:, :, i : i + 1]) for i in range(c)], axis=2)
        if want == 3 and c == 1:
            return self._run(np.repeat(img, 3, axis=2)).mean(axis=2, keepdims=True)
        raise InvalidParameterError(f"{self.arch} model takes {want}-channel images, got {c} channels")


def load_third_party(path: str | os.PathLike[str], *, device: str = "auto", dtype: str = "auto", tile: int | str | None = "auto", overlap: int = 32, batch_size: int = 4) -> ThirdPartyRestorer:
    """Load another project's checkpoint (``.pth``/``.pt``/``.ckpt``/``.safetensors``) as a
    :class:`ThirdPartyRestorer`.

    The state dict is read without unpickling arbitrary objects, spandrel detects the
    architecture; :class:`ConfigError` names the file when spandrel does not recognise it,
    :class:`MissingResourceError` when the file or spandrel is missing.
    """
    from restora.zoo import load_third_party_state

    p = Path(path)
    if not p.is_file():
        raise MissingResourceError(f"weights file {p} does not exist")
    if p.suffix.lower() not in WEIGHT_SUFFIXES:
        raise InvalidParameterError(f"{p}: weights must be one of {', '.join(WEIGHT_SUFFIXES)}")
    spandrel = import_spandrel()
    state = load_third_party_state(p)
    state = spandrel.canonicalize_state_dict(state)
    try:
        model = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise ConfigError(f"{p}: spandrel does not recognise this checkpoint's architecture (supported: ESRGAN/Real-ESRGAN, SwinIR, HAT, NAFNet, DnCNN, SCUNet, ... see spandrel's list)") from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ConfigError(f"{p}: the weights do not fit the detected architecture ({str(exc).splitlines()[0]})") from None
    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise ConfigError(f"{p}: a {model.purpose} model ({model.architecture.id}); only image-to-image restoration models are supported")
    return ThirdPartyRestorer(model, path=p, device=device, dtype=dtype, tile=tile, overlap=overlap, batch_size=batch_size)
